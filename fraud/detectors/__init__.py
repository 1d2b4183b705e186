"""Behaviour detectors: per-user 3-sigma baselines and a PyOD ensemble."""
from fraud.detectors import outlier, sigma  # noqa: F401  (register checks)
from fraud.detectors.model import BehaviorModel
from fraud.detectors.outlier import fit_model

__all__ = ["BehaviorModel", "fit_model"]
