"""Geo checks: positions, distances, places and the location-regularity rules."""
from fraud.geo import travel  # noqa: F401  (registers checks)
