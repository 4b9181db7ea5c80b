"""Table-driven: broken project files, each reporting the exact problem (key path, line, message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.config import PasswordAuth, ProjectFileError, SlackNotification, parse_project
from sfsync.errors import ConfigError
from tests.config.helpers import ENV, edit

# (id, old text, new text, expected key path, expected message fragment, expected line or None)
CASES: list[tuple[str, str, str, str, str, int | None]] = [
    ("version-2", "version: 1", "version: 2", "version", "Input should be 1", 1),
    ("version-missing", "version: 1\n", "", "version", "required key 'version' is missing", None),
    ("unknown-top-level", "segments:", "segmentz:", "segmentz", "did you mean 'segments'", 8),
    ("source-type", "{type: duckdb, path", "{type: duckdbb, path", "sources.warehouse.type", "'duckdbb'", 3),
    (
        "source-no-path",
        "{type: duckdb, path: warehouse.duckdb}",
        "{type: duckdb}",
        "sources.warehouse.path",
        "required key 'path' is missing",
        3,
    ),
    (
        "source-unknown-key",
        "path: warehouse.duckdb}",
        "path: warehouse.duckdb, pth: x}",
        "sources.warehouse.pth",
        "unknown key 'pth'; did you mean 'path'",
        3,
    ),
    (
        "duckdb-memory-limit-not-a-size",
        "path: warehouse.duckdb}",
        "path: warehouse.duckdb, memory_limit: lots}",
        "sources.warehouse.memory_limit",
        "a DuckDB size such as 512MB, 2GB or 1.5GiB",
        3,
    ),
    (
        "duckdb-memory-limit-without-unit",
        "path: warehouse.duckdb}",
        "path: warehouse.duckdb, memory_limit: 512}",
        "sources.warehouse.memory_limit",
        "or null for DuckDB's own default",
        3,
    ),
    (
        "diff-memory-limit-not-a-size",
        "version: 1",
        "version: 1\nstate: {diff_memory_limit: 512}",
        "state.diff_memory_limit",
        "a DuckDB size such as 512MB, 2GB or 1.5GiB",
        2,
    ),
    (
        "pg-literal-password",
        "app:${PG_PASSWORD}@",
        "app:hunter2@",
        "sources.pg.url",
        "the password in this URL is written literally",
        4,
    ),
    (
        "pg-wrong-scheme",
        'url: "postgresql://app:${PG_PASSWORD}@localhost/analytics"',
        'url: "mysql://app:${PG_PASSWORD}@localhost/analytics"',
        "sources.pg.url",
        "starts with postgresql://",
        4,
    ),
    (
        "model-unknown-source",
        "customers: {source: warehouse",
        "customers: {source: warehous",
        "models.customers.source",
        "source 'warehous' does not exist (defined: pg, warehouse)",
        6,
    ),
    ("model-kind", "kind: user", "kind: person", "models.customers.kind", "'user', 'custom' or 'event'", 6),
    (
        "model-sql-and-table",
        "table: companies}",
        'table: companies, sql: "select 1"}',
        "models.companies",
        "exactly one of sql:",
        7,
    ),
    ("model-neither", ", table: companies}", "}", "models.companies", "exactly one of sql:", 7),
    (
        "model-table-name",
        "table: companies}",
        'table: "companies c join x"}',
        "models.companies.table",
        "not a plain table name",
        7,
    ),
    (
        "model-no-primary-key",
        "primary_key: company_id, ",
        "",
        "models.companies.primary_key",
        "required key 'primary_key' is missing",
        7,
    ),
    (
        "segment-unknown-model",
        "{model: customers, where",
        "{model: customer, where",
        "segments.french_vips.model",
        "model 'customer' does not exist",
        9,
    ),
    (
        "segment-no-where",
        ", where: \"country = 'FR' and lifetime_value > 1000\"",
        "",
        "segments.french_vips.where",
        "required key 'where' is missing",
        9,
    ),
    (
        "segment-shadows-model",
        "  french_vips: {model",
        "  customers: {model",
        "segments.customers",
        "both a model and a segment",
        9,
    ),
    (
        "destination-type",
        "type: salesforce",
        "type: hubspot",
        "destinations.salesforce.type",
        "Input should be 'salesforce'",
        12,
    ),
    ("auth-flow", "flow: password", "flow: oauth", "destinations.salesforce.auth.flow", "'oauth'", 14),
    (
        "auth-literal-secret",
        'client_secret: "${SF_CLIENT_SECRET}"',
        'client_secret: "abc123"',
        "destinations.salesforce.auth.client_secret",
        'write "${NAME}"',
        14,
    ),
    (
        "auth-partly-literal-secret",
        'client_secret: "${SF_CLIENT_SECRET}"',
        'client_secret: "s3cr${SF_CLIENT_SECRET}"',
        "destinations.salesforce.auth.client_secret",
        "part of this secret is written literally",
        14,
    ),
    (
        "auth-missing-password",
        ', password: "${SF_PASSWORD}"}',
        "}",
        "destinations.salesforce.auth.password",
        "required key 'password' is missing",
        14,
    ),
    (
        "auth-unset-variable",
        "${SF_PASSWORD}",
        "${SF_PASSWORD_TYPO}",
        "destinations.salesforce.auth.password",
        "${SF_PASSWORD_TYPO} is not set",
        15,
    ),
    (
        "access-token-needs-instance",
        'auth: {flow: password, client_id: "${SF_CLIENT_ID}", client_secret: '
        '"${SF_CLIENT_SECRET}",\n           username: "${SF_USERNAME}", password: "${SF_PASSWORD}"}',
        'auth: {flow: access_token, access_token: "${SF_PASSWORD}"}',
        "destinations.salesforce",
        "needs instance_url",
        11,
    ),
    (
        "login-url-not-http",
        "login_url: https://login.salesforce.com",
        "login_url: login.salesforce.com",
        "destinations.salesforce.login_url",
        "not an http(s) URL",
        13,
    ),
    (
        "login-url-plain-http-to-another-host",
        "login_url: https://login.salesforce.com",
        "login_url: http://login.salesforce.com",
        "destinations.salesforce",
        "plain http to login.salesforce.com",
        11,
    ),
    (
        "api-version",
        "    login_url: https://login.salesforce.com\n",
        '    login_url: https://login.salesforce.com\n    api_version: "62"\n',
        "destinations.salesforce.api_version",
        "not an API version",
        14,
    ),
    (
        "settings-concurrency",
        "    login_url: https://login.salesforce.com\n",
        "    login_url: https://login.salesforce.com\n    settings: {max_concurrency: 0}\n",
        "destinations.salesforce.settings.max_concurrency",
        "greater than or equal to 1",
        14,
    ),
    (
        "jwt-two-keys",
        'auth: {flow: password, client_id: "${SF_CLIENT_ID}", client_secret: '
        '"${SF_CLIENT_SECRET}",\n           username: "${SF_USERNAME}", password: "${SF_PASSWORD}"}',
        'auth: {flow: jwt, client_id: x, username: u, private_key: "${SF_PASSWORD}",'
        " private_key_file: k.pem}",
        "destinations.salesforce.auth",
        "exactly one of private_key or private_key_file",
        14,
    ),
    (
        "email-no-recipients",
        "to: [ops@example.com]",
        "to: []",
        "notifications.ops_email.to",
        "at least 1 item",
        17,
    ),
    ("smtp-tls", "port: 25}", "port: 25, tls: maybe}", "notifications.ops_email.smtp.tls", "'starttls'", 17),
    (
        "slack-literal-webhook",
        'webhook_url: "${SLACK_WEBHOOK_URL}"',
        "webhook_url: https://hooks.slack.com/T/B/x",
        "notifications.ops_slack.webhook_url",
        "written literally",
        18,
    ),
    (
        "slack-webhook-secret-part-literal",
        'webhook_url: "${SLACK_WEBHOOK_URL}"',
        'webhook_url: "https://hooks.slack.com/services/T0/${SLACK_WEBHOOK_URL}x"',
        "notifications.ops_slack.webhook_url",
        "part of this secret URL is written literally",
        18,
    ),
    (
        "webhook-literal-auth-header",
        "  ops_slack:",
        '  hook: {type: webhook, url: "https://x.example", headers: '
        '{Authorization: "Bearer abc"}}\n  ops_slack:',
        "notifications.hook.headers",
        "header Authorization",
        18,
    ),
    (
        "sync-from-missing",
        "from: french_vips",
        "from: french_vip",
        "syncs.vip_contacts.from",
        "model or segment 'french_vip' does not exist",
        21,
    ),
    (
        "sync-to-missing",
        "to: salesforce",
        "to: sf",
        "syncs.vip_contacts.to",
        "destination 'sf' does not exist",
        22,
    ),
    (
        "sync-notify-missing",
        "notify: [ops_email, ops_slack]",
        "notify: [ops_email, ops_slak]",
        "syncs.vip_contacts.warnings.notify.1",
        "notification 'ops_slak' does not exist",
        28,
    ),
    (
        "sync-mode",
        "mode: upsert",
        "mode: merge",
        "syncs.vip_contacts.mode",
        "'insert', 'update' or 'upsert'",
        24,
    ),
    (
        "sync-upsert-no-object-id",
        "    object_id: {column: customer_id, field: External_Id__c}\n",
        "",
        "syncs.vip_contacts.object_id",
        "mode upsert needs object_id",
        20,
    ),
    (
        "sync-no-mappings",
        "mappings: {email: Email, first_name: FirstName, last_name: LastName}",
        "mappings: {}",
        "syncs.vip_contacts.mappings",
        "maps at least one column",
        26,
    ),
    (
        "mapping-bad-lookup-notation",
        "first_name: FirstName,",
        "first_name: Account.,",
        "syncs.vip_contacts.mappings.first_name",
        "neither a field name (Email) nor a lookup (Account.External_Id__c",
        26,
    ),
    (
        "mapping-lookup-too-deep",
        "first_name: FirstName,",
        "first_name: Account.Owner.Email,",
        "syncs.vip_contacts.mappings.first_name",
        "neither a field name",
        26,
    ),
    (
        "mapping-unknown-owner-kind",
        "first_name: FirstName,",
        "first_name: {owner: phone},",
        "syncs.vip_contacts.mappings.first_name",
        "owner: 'phone' is not one of username, email, queue",
        26,
    ),
    (
        "mapping-constant-null",
        "first_name: FirstName,",
        "LeadSource: {value: null},",
        "syncs.vip_contacts.mappings.LeadSource",
        "a constant needs a value",
        26,
    ),
    (
        "mapping-unknown-form",
        "first_name: FirstName,",
        "first_name: {lookup: Account.External_Id__c},",
        "syncs.vip_contacts.mappings.first_name",
        "unknown mapping form ['lookup']",
        26,
    ),
    (
        "record-type-not-a-developer-name",
        "    mappings: {",
        "    record_type: Partner Account\n    mappings: {",
        "syncs.vip_contacts.record_type",
        "should match pattern",
        26,
    ),
    (
        "sync-unknown-key",
        "    mappings: {",
        "    mapping: {",
        "syncs.vip_contacts.mapping",
        "did you mean 'mappings'",
        26,
    ),
    (
        "schedule-every",
        "{every: 15m}",
        "{every: 15 minutes}",
        "syncs.vip_contacts.schedule.every",
        "not an interval",
        27,
    ),
    (
        "schedule-daily",
        "{every: 15m}",
        "{daily: 7am}",
        "syncs.vip_contacts.schedule.daily",
        "not a time of day",
        27,
    ),
    (
        "schedule-cron",
        "{every: 15m}",
        '{cron: "61 * * * *"}',
        "syncs.vip_contacts.schedule.cron",
        "not a valid cron expression",
        27,
    ),
    (
        "schedule-two-kinds",
        "{every: 15m}",
        '{every: 15m, daily: "07:00"}',
        "syncs.vip_contacts.schedule",
        "exactly one of {manual: true}",
        27,
    ),
    (
        "schedule-any-nested",
        "{every: 15m}",
        '{any: [{every: 4h}, {daily: "24:00"}]}',
        "syncs.vip_contacts.schedule.any.1.daily",
        "not a time of day",
        27,
    ),
    (
        "api",
        "    mode: upsert\n",
        "    mode: upsert\n    api: soap\n",
        "syncs.vip_contacts.api",
        "'auto', 'rest' or 'bulk'",
        25,
    ),
    (
        "warning-percent",
        "rejected_rows_percent: 10",
        "rejected_rows_percent: 150",
        "syncs.vip_contacts.warnings.rejected_rows_percent",
        "less than or equal to 100",
        28,
    ),
    (
        "warning-slower-than",
        "on_failure: true,",
        "on_failure: true, slower_than: soon,",
        "syncs.vip_contacts.warnings.slower_than",
        "not an interval",
        28,
    ),
    (
        "sync-name-not-a-file-name",
        "  vip_contacts:\n",
        "  ../vip contacts:\n",
        "syncs.../vip contacts",
        "not a valid name",
        20,
    ),
    (
        "sync-warehouse-planner-on-duckdb",
        "    schedule: {every: 15m}",
        "    schedule: {every: 15m}\n    planner: warehouse",
        "syncs.vip_contacts.planner",
        "source 'warehouse' is type duckdb: use planner: local",
        None,
    ),
    (
        "sync-planner-unknown",
        "    schedule: {every: 15m}",
        "    schedule: {every: 15m}\n    planner: cloud",
        "syncs.vip_contacts.planner",
        "'local' or 'warehouse'",
        28,
    ),
    (
        "snowflake-literal-password",
        "  pg: {type: postgres",
        "  snow: {type: snowflake, account: a, user: u, password: hunter2, database: d, schema: s}\n"
        "  pg: {type: postgres",
        "sources.snow.password",
        "written literally",
        4,
    ),
    ("yaml-duplicate-key", "  companies: {source", "  customers: {source", "", "duplicate key", 7),
    ("yaml-syntax", "mappings: {email: Email,", "mappings: {email: Email,,", "", "not valid YAML", None),
]


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_project_reports_the_exact_problem(
    tmp_path: Path, old: str, new: str, path: str, fragment: str, line: int | None
) -> None:
    with pytest.raises(ProjectFileError) as info:
        parse_project(edit(old, new), file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    details = info.value.details
    matching = [d for d in details if d.path == path and fragment in d.message]
    assert matching, f"expected {path}: …{fragment}… among:\n" + "\n".join(map(str, details))
    if line is not None:
        assert matching[0].line == line, str(matching[0])
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2
    # no secret from the environment leaks into any message
    text = "\n".join(info.value.problems) + str(info.value)
    assert not any(v in text for k, v in ENV.items() if k != "SF_USERNAME" and k != "SF_CLIENT_ID")


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_all_problems_are_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = edit("kind: user", "kind: person")
    text = edit("to: salesforce", "to: sf", text)
    text = edit("{every: 15m}", "{every: 15x}", text)
    text = edit('client_secret: "${SF_CLIENT_SECRET}"', 'client_secret: "abc"', text)
    with pytest.raises(ProjectFileError) as info:
        parse_project(text, file="proj/sfsync.yml", project_dir=tmp_path, environ=ENV)
    got = [(d.line, d.path) for d in info.value.details]
    assert got == [
        (6, "models.customers.kind"),
        (14, "destinations.salesforce.auth.client_secret"),
        (22, "syncs.vip_contacts.to"),
        (27, "syncs.vip_contacts.schedule.every"),
    ]
    assert info.value.problems[0].startswith("proj/sfsync.yml:6: models.customers.kind: ")
    assert info.value.message == "proj/sfsync.yml: 4 problems in the project file"


def test_one_problem_is_the_message_itself(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError) as info:
        parse_project(
            edit("mode: upsert", "mode: merge"), file="sfsync.yml", project_dir=tmp_path, environ=ENV
        )
    assert str(info.value).startswith("sfsync.yml:24: syncs.vip_contacts.mode: Input should be")


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError) as info:
        parse_project("- a\n- b\n", file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    assert "must be a mapping" in info.value.details[0].message


def _alias_bomb(levels: int) -> str:
    """The classic "billion laughs": each level repeats the previous one nine times."""
    lines = ['x-l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path, levels: int) -> None:
    """9 levels would expand to 3.5 billion values; the reader stops counting at MAX_NODES."""
    text = edit("version: 1", "version: 1\n" + _alias_bomb(levels).rstrip())
    with pytest.raises(ProjectFileError) as info:
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    assert "aliases" in info.value.message and "200,000" in info.value.message


def test_language_tags_are_refused_with_their_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    text = edit("version: 1", f'version: 1\nx-run: !!python/object/apply:os.system ["touch {marker}"]')
    with pytest.raises(ProjectFileError) as info:
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    [problem] = info.value.details
    assert problem.line == 2 and "'!!python/object/apply:os.system' is not allowed" in problem.message
    assert not marker.exists()
    text = edit("kind: user", "kind: !custom user")
    with pytest.raises(ProjectFileError, match="tag '!custom' is not allowed"):
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)


@pytest.mark.parametrize("depth", [100, pytest.param(20_000, marks=pytest.mark.slow)])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    text = edit("version: 1", "version: 1\nx-deep: " + "[" * depth + "]" * depth)
    with pytest.raises(ProjectFileError, match="nested"):
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = edit("version: 1", "version: 1\nx-w: &w {on_failure: false, rejected_rows_percent: 25}")
    text = edit(
        "warnings: {on_failure: true, rejected_rows_percent: 10,",
        "warnings: {<<: *w, on_failure: true,",
        text,
    )
    warnings = (
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
        .syncs["vip_contacts"]
        .warnings
    )
    assert warnings.on_failure is True and warnings.rejected_rows_percent == 25


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8642", "http://localhost:8642", "http://[::1]:8642", "https://my.salesforce.com"],
)
def test_plain_http_is_fine_to_this_machine(tmp_path: Path, url: str) -> None:
    text = edit("login_url: https://login.salesforce.com", f"login_url: {url}")
    assert parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV).destinations


def test_plain_http_elsewhere_needs_to_be_asked_for(tmp_path: Path) -> None:
    text = edit(
        "login_url: https://login.salesforce.com",
        "login_url: http://sf-proxy.internal:8080\n    allow_insecure_http: true",
    )
    project = parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
    assert project.destinations["salesforce"].login_url == "http://sf-proxy.internal:8080"


def test_a_secret_made_of_several_references_is_fine(tmp_path: Path) -> None:
    """A password and its security token, each from the environment, concatenated: nothing literal."""
    text = edit('password: "${SF_PASSWORD}"', 'password: "${SF_PASSWORD}${SF_CLIENT_ID}"')
    auth = (
        parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV)
        .destinations["salesforce"]
        .auth
    )
    assert isinstance(auth, PasswordAuth)
    assert auth.password.get_secret_value() == ENV["SF_PASSWORD"] + ENV["SF_CLIENT_ID"]


def test_a_secret_webhook_url_may_spell_out_its_host(tmp_path: Path) -> None:
    text = edit(
        'webhook_url: "${SLACK_WEBHOOK_URL}"',
        'webhook_url: "https://hooks.slack.com/services/${SLACK_WEBHOOK_URL}"',
    )
    slack = parse_project(text, file="sfsync.yml", project_dir=tmp_path, environ=ENV).notifications[
        "ops_slack"
    ]
    assert isinstance(slack, SlackNotification)
    assert slack.webhook_url.get_secret_value().startswith("https://hooks.slack.com/services/")
