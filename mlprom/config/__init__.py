"""The configuration: its shape (schema.py), how a file is read (loader.py), durations (durations.py).

`from mlprom.config import Config, load_config` is the way in for the rest of mlprom; the submodules are
the config's own rooms.
"""

from mlprom.config.durations import parse_duration, parse_timeout
from mlprom.config.loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    load_config,
    load_config_text,
    resolve_config_path,
)
from mlprom.config.schema import (
    ALERT_LABELS,
    DEFAULT_QUERIES,
    DEFAULT_THRESHOLDS,
    DRIFT_METRICS,
    MODEL_METRICS,
    AlertmanagerConfig,
    BasicAuth,
    Config,
    CorrelateConfig,
    DriftConfig,
    HTTPEndpoint,
    MLflowConfig,
    ModelConfig,
    PrometheusConfig,
    PushgatewayConfig,
    Query,
    StorageConfig,
    Threshold,
    TLSConfig,
    default_document,
)

__all__ = [
    "ALERT_LABELS",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_QUERIES",
    "DEFAULT_THRESHOLDS",
    "DRIFT_METRICS",
    "MODEL_METRICS",
    "AlertmanagerConfig",
    "BasicAuth",
    "Config",
    "CorrelateConfig",
    "DriftConfig",
    "HTTPEndpoint",
    "MLflowConfig",
    "ModelConfig",
    "PrometheusConfig",
    "PushgatewayConfig",
    "Query",
    "StorageConfig",
    "TLSConfig",
    "Threshold",
    "default_document",
    "load_config",
    "load_config_text",
    "parse_duration",
    "parse_timeout",
    "resolve_config_path",
]
