"""Config stage: the YAML file → a typed, validated ``Config`` (or one line per problem)."""

from feedhub.config.load import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    Source,
    config_path,
    load_config,
    parse_config,
)
from feedhub.config.schema import ConfigFile

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "ConfigError",
    "ConfigFile",
    "Source",
    "config_path",
    "load_config",
    "parse_config",
]
