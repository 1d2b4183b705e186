"""fraud: device and fraud risk detection into a 300-850 credit score."""

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)
