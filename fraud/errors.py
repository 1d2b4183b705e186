"""The one exception family of the toolkit: the library raises, only the CLI turns errors into exit codes."""
from __future__ import annotations


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its class name when empty), cut to ``limit`` characters: how
    a library error (Polars, OS) is quoted inside a one-line FraudError."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else e.__class__.__name__)[:limit]


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
