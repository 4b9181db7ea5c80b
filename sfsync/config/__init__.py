"""The project file (``sfsync.yml``): typed models, the loader, secrets and the ``init`` scaffold.

Entry point: :func:`load_project` → :class:`Project`. ``Project.resolve_sync(name)`` → :class:`ResolvedSync`.
"""

from __future__ import annotations

from sfsync.config.destinations import (
    AccessTokenAuth,
    AuthConfig,
    ClientCredentialsAuth,
    DestinationConfig,
    EmailNotification,
    JwtAuth,
    NotificationConfig,
    PasswordAuth,
    RefreshTokenAuth,
    SalesforceDestination,
    SalesforceSettings,
    SlackNotification,
    SmtpSettings,
    WebhookNotification,
)
from sfsync.config.env import InterpolatedStr, redact_url
from sfsync.config.loader import (
    DEFAULT_PROJECT_FILE,
    ConfigProblem,
    ProjectFileError,
    load_project,
    parse_project,
)
from sfsync.config.project import (
    Api,
    ApiChoice,
    Mode,
    Model,
    ObjectId,
    Project,
    ResolvedSync,
    Segment,
    Sync,
    Warnings,
)
from sfsync.config.schedule import (
    AnySchedule,
    CronSchedule,
    DailySchedule,
    EverySchedule,
    ManualSchedule,
    Schedule,
    parse_interval,
)
from sfsync.config.sources import (
    CsvSource,
    DuckDBSource,
    ParquetSource,
    PostgresSource,
    SourceConfig,
    SqlAlchemySource,
)

__all__ = [
    "DEFAULT_PROJECT_FILE",
    "AccessTokenAuth",
    "AnySchedule",
    "Api",
    "ApiChoice",
    "AuthConfig",
    "ClientCredentialsAuth",
    "ConfigProblem",
    "CronSchedule",
    "CsvSource",
    "DailySchedule",
    "DestinationConfig",
    "DuckDBSource",
    "EmailNotification",
    "EverySchedule",
    "InterpolatedStr",
    "JwtAuth",
    "ManualSchedule",
    "Mode",
    "Model",
    "NotificationConfig",
    "ObjectId",
    "ParquetSource",
    "PasswordAuth",
    "PostgresSource",
    "Project",
    "ProjectFileError",
    "RefreshTokenAuth",
    "ResolvedSync",
    "SalesforceDestination",
    "SalesforceSettings",
    "Schedule",
    "Segment",
    "SlackNotification",
    "SmtpSettings",
    "SourceConfig",
    "SqlAlchemySource",
    "Sync",
    "Warnings",
    "WebhookNotification",
    "load_project",
    "parse_interval",
    "parse_project",
    "redact_url",
]
