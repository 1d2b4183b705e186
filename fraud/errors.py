"""The one exception family of the toolkit: the library raises, only the CLI turns errors into exit codes."""
from __future__ import annotations


class FraudError(Exception):
    """Base class of every error the toolkit raises on purpose (bad input, bad config, bad model file)."""


class InputError(FraudError):
    """An input file is missing, unreadable, of unknown format or lacks a required column."""


class ConfigError(FraudError):
    """The config file is unreadable, or names an unknown key, rule id or a value of the wrong type."""


class DecisionError(FraudError):
    """A reviewer decision is malformed or refers to an unknown finding."""


class ModelError(FraudError):
    """A behaviour model file is missing, unreadable or not a model this version reads."""
