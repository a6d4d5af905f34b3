"""The stack configuration model, its cross-field checks and its loader."""

from components.config.checks import Problem
from components.config.loader import (
    PROJECT,
    SECRET_SETTINGS,
    ConfigError,
    Secrets,
    load_from_pulumi,
    validate,
)
from components.config.model import StackConfig

__all__ = [
    "PROJECT",
    "SECRET_SETTINGS",
    "ConfigError",
    "Problem",
    "Secrets",
    "StackConfig",
    "load_from_pulumi",
    "validate",
]
