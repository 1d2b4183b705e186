"""Fingerprint checks: user agents, device snapshots, device counts and account events."""
from fraud.fingerprint import account, bots  # noqa: F401  (registers checks)
