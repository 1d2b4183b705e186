"""Geo checks: positions, distances, places and the location-regularity rules."""
from fraud.geo import travel  # noqa: F401  (registers checks)
from fraud.geo import profile  # noqa: F401,E402  (registers the time zone profile part)
