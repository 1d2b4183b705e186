"""Geo checks: positions, distances, places and the location-regularity rules."""
from fraud.geo import commute, profile, remote, residence, spend, travel  # noqa: F401  (register checks and parts)
