"""The typed configuration: sections (model, delivery), loading, and plain error messages."""

from digest.config.delivery import DeliveryConfig, SmtpConfig
from digest.config.load import check_environment, load_config
from digest.config.model import (
    Config,
    DaemonConfig,
    FetchConfig,
    RankingConfig,
    SemanticConfig,
    SubscriberConfig,
    WebConfig,
)

__all__ = ["Config", "DaemonConfig", "DeliveryConfig", "FetchConfig", "RankingConfig",
           "SemanticConfig", "SmtpConfig", "SubscriberConfig", "WebConfig", "check_environment",
           "load_config"]
