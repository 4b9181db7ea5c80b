"""The Salesforce client: auth flows, HTTP with retries and limit tracking, describe, query, sObject
Collections and Bulk API 2.0. ``docs/salesforce-client.md`` describes settings, flows, retries and limits.

The public surface is what ``__all__`` lists; everything else is an implementation detail.
"""

from sfsync.salesforce.auth import Session
from sfsync.salesforce.automation import RuleInfo, SaveOptions
from sfsync.salesforce.bulk import BulkIngest, BulkJob, BulkQuery, IngestSpec
from sfsync.salesforce.client import SalesforceClient
from sfsync.salesforce.csvtable import read_csv_table
from sfsync.salesforce.describe import FieldInfo, GlobalDescribe, ObjectDescribe, ObjectSummary
from sfsync.salesforce.responses import Kind, Outcome, classify, parse_bulk_error
from sfsync.salesforce.results import RecordError, RecordResult
from sfsync.salesforce.settings import (
    DEFAULT_API_VERSION,
    PRODUCTION_LOGIN_URL,
    SANDBOX_LOGIN_URL,
    ConnectionSettings,
)
from sfsync.salesforce.tokens import RefreshTokenStore
from sfsync.salesforce.transport import ApiUsage, ClientStats

__all__ = [
    "DEFAULT_API_VERSION",
    "PRODUCTION_LOGIN_URL",
    "SANDBOX_LOGIN_URL",
    "ApiUsage",
    "BulkIngest",
    "BulkJob",
    "BulkQuery",
    "ClientStats",
    "ConnectionSettings",
    "FieldInfo",
    "GlobalDescribe",
    "IngestSpec",
    "Kind",
    "ObjectDescribe",
    "ObjectSummary",
    "Outcome",
    "RecordError",
    "RecordResult",
    "RefreshTokenStore",
    "RuleInfo",
    "SalesforceClient",
    "SaveOptions",
    "Session",
    "classify",
    "parse_bulk_error",
    "read_csv_table",
]
