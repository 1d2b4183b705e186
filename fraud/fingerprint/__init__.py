"""Fingerprint checks: user agents, device snapshots, device counts and account events."""
from fraud.fingerprint import (  # noqa: F401  (registers checks and the main-device profile part)
    account,
    bonuses,
    bots,
    consistency,
    counts,
    integrity,
    sensitive,
)
