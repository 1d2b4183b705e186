"""Behaviour detectors: per-user 3-sigma baselines and a PyOD ensemble."""
