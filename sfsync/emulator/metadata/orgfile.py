"""Load an emulator org file (``sfsync emulator --org ORG.yaml``) on top of the default org.

The format is documented with a full example in ``docs/emulator-org-file.md``. Top-level sections:
``org`` (name, sandbox flag), ``objects`` (custom fields on existing objects, custom objects ``Foo__c``,
picklist restrictions, record types), ``users``, ``queues``, ``apps`` (connected apps), ``refresh_tokens``,
``assignment_rules``, ``duplicate_rules`` (``orgfile_automation``) and ``faults``.

Every problem is collected before anything is raised: ``OrgFileError`` lists them all, each with the
key path (``objects.Account.fields.Tier__c.type``) and how to fix it. Secret values (passwords, tokens,
client secrets) never appear in a message.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import zoneinfo
from pathlib import Path
from typing import Any

import yaml

from sfsync.emulator.metadata.model import (
    AppDef,
    FaultSettings,
    OrgConfig,
    PicklistValue,
    QueueDef,
    RefreshTokenDef,
    UserDef,
)
from sfsync.emulator.metadata.orgfile_automation import apply_automation
from sfsync.emulator.metadata.orgfile_objects import apply_objects
from sfsync.emulator.metadata.orgfile_reader import Section
from sfsync.emulator.metadata.schema import default_org, queue_id, user_id

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TOP_KEYS = (
    "org",
    "objects",
    "users",
    "queues",
    "apps",
    "refresh_tokens",
    "assignment_rules",
    "duplicate_rules",
    "faults",
)
_DEVELOPER_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*")


class OrgFileError(ValueError):
    """The org file is wrong. ``problems`` holds ``(key path, message)`` pairs; ``str()`` lists them all."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {key}: {msg}" if key else f"  - {msg}" for key, msg in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"org file {path} has {count}:\n{lines}")

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.problems]


def load_org_file(path: str | Path, base: OrgConfig | None = None) -> OrgConfig:
    """The org ``base`` (default: ``default_org()``) with the org file applied. ``base`` is not modified.

    Raises ``OrgFileError`` listing every problem (key path and fix) when the file is wrong."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise OrgFileError(
            str(file), [("", f"cannot read the file ({e.strerror}); check the --org path")]
        ) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise OrgFileError(str(file), [("", f"not valid YAML{where}: {problem}; fix the syntax")]) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OrgFileError(
            str(file), [("", f"the file must be a mapping with sections {', '.join(_TOP_KEYS)}")]
        )
    config = copy.deepcopy(base) if base is not None else default_org()
    problems: list[tuple[str, str]] = []
    root = Section(data, "", problems, _TOP_KEYS)
    _apply_org(root, config)
    apply_objects(root, config)
    _apply_users(root, config)
    _apply_queues(root, config)
    _apply_apps(root, config, file.parent)
    _apply_refresh_tokens(root, config)
    apply_automation(root, config)
    _apply_faults(root, config)
    if problems:
        raise OrgFileError(str(file), problems)
    return config


# ---- org -------------------------------------------------------------------------------------------
def _apply_org(root: Section, config: OrgConfig) -> None:
    org = root.section("org", ("name", "sandbox", "instance_name"))
    if org is None:
        return
    name = org.text("name")
    if isinstance(name, str):
        if 0 < len(name) <= 80:
            config.org_name = name
        else:
            org.fail("name", "an org name has 1 to 80 characters")
    config.is_sandbox = org.flag("sandbox", config.is_sandbox)
    instance = org.text("instance_name")
    if isinstance(instance, str):
        if re.fullmatch(r"[A-Za-z0-9]{1,5}", instance):
            config.instance_name = instance
        else:
            org.fail("instance_name", "an instance name has 1 to 5 letters or digits, like NA1 or EU42")


# ---- users, apps, refresh tokens, faults --------------------------------------------------------------
_USER_KEYS = (
    "username",
    "password",
    "security_token",
    "email",
    "first_name",
    "last_name",
    "active",
    "time_zone",
)


def _apply_users(root: Section, config: OrgConfig) -> None:
    taken = {u.id for u in config.users}
    n = 1
    for spec in root.entries("users", _USER_KEYS):
        username = spec.text("username", required=True)
        password = spec.text("password", required=True)
        if not isinstance(username, str) or not isinstance(password, str):
            continue
        if not _EMAIL.fullmatch(username):
            spec.fail("username", f"{username!r} is not a username; Salesforce usernames look like emails")
            continue
        user = config.user(username)
        if user is None:
            while user_id(n) in taken:
                n += 1
            user = UserDef(id=user_id(n), username=username, password=password)
            taken.add(user.id)
            config.users.append(user)
        user.password = password
        for key in ("security_token", "email", "first_name", "last_name", "time_zone"):
            value = spec.text(key)
            if isinstance(value, str):
                setattr(user, key, value)
        if "email" in spec.data and not _EMAIL.fullmatch(user.email):
            spec.fail("email", f"{user.email!r} is not an email address; give one like jane@example.com")
        if "time_zone" in spec.data:
            _check_time_zone(spec, config, user.time_zone)
        user.email = user.email or username
        user.last_name = user.last_name or username.split("@")[0]
        user.active = spec.flag("active", user.active)


def _apply_queues(root: Section, config: OrgConfig) -> None:
    """Queues (Group records of Type Queue) that can own Leads and Cases; an existing developer name
    changes that queue."""
    taken = {q.id for q in config.queues}
    n = 1
    for spec in root.entries("queues", ("name", "developer_name", "email")):
        name = spec.text("name", required=True)
        if not isinstance(name, str):
            continue
        if not 0 < len(name) <= 40:
            spec.fail("name", "a queue name has 1 to 40 characters")
            continue
        developer_name = spec.text("developer_name")
        if not isinstance(developer_name, str):
            developer_name = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
        if not _DEVELOPER_NAME.fullmatch(developer_name) or developer_name.endswith("_"):
            spec.fail(
                "developer_name",
                f"{developer_name!r} is not a developer name: start with a letter, use letters, digits "
                "and single underscores, like Support_Queue",
            )
            continue
        queue = config.queue(developer_name)
        if queue is None:
            while queue_id(n) in taken:
                n += 1
            queue = QueueDef(id=queue_id(n), name=name, developer_name=developer_name)
            taken.add(queue.id)
            config.queues.append(queue)
        queue.name = name
        email = spec.text("email")
        if isinstance(email, str):
            if not _EMAIL.fullmatch(email):
                spec.fail("email", f"{email!r} is not an email address; give one like support@example.com")
            queue.email = email


def _check_time_zone(spec: Section, config: OrgConfig, zone: str) -> None:
    """An IANA zone name; zones beyond the standard picklist are added to User.TimeZoneSidKey."""
    known = zoneinfo.available_timezones()
    if known and zone not in known:
        spec.fail("time_zone", f"{zone!r} is not a time zone; use an IANA name like Europe/Paris")
        return
    user_obj = config.object("User")
    picklist = user_obj.field("TimeZoneSidKey") if user_obj is not None else None
    if picklist is not None and zone not in {p.value for p in picklist.picklist_values}:
        picklist.picklist_values.append(PicklistValue(value=zone, label=zone))


def _apply_apps(root: Section, config: OrgConfig, folder: Path) -> None:
    app_keys = ("client_id", "client_secret", "certificate", "run_as", "rotate_refresh_tokens")
    for spec in root.entries("apps", app_keys):
        client_id = spec.text("client_id", required=True)
        secret = spec.text("client_secret", required=True)
        if not isinstance(client_id, str) or not isinstance(secret, str):
            continue
        cert = _certificate(spec, folder)
        run_as = spec.text("run_as")
        if isinstance(run_as, str) and config.user(run_as) is None:
            spec.fail(
                "run_as",
                f"no user {run_as!r}; add it under users or use {config.users[0].username!r}"
                if config.users
                else f"no user {run_as!r}; add it under users",
            )
            continue
        app = AppDef(
            client_id=client_id,
            client_secret=secret,
            certificate_pem=cert,
            run_as=run_as if isinstance(run_as, str) else None,
            rotate_refresh_tokens=spec.flag("rotate_refresh_tokens", False),
        )
        config.apps = [a for a in config.apps if a.client_id != client_id] + [app]


def _certificate(spec: Section, folder: Path) -> str | None:
    value = spec.text("certificate")
    if not isinstance(value, str):
        return None
    pem = value
    if "-----BEGIN" not in value:
        file = (folder / value).resolve()
        try:
            pem = file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            spec.fail(
                "certificate",
                f"cannot read {file}; give a PEM file path relative to the org file or the PEM text itself",
            )
            return None
    from cryptography import x509  # only org files with certificates pay for the import

    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        spec.fail(
            "certificate",
            "not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----); give the "
            "certificate, not the private key",
        )
        return None
    return pem


def _apply_refresh_tokens(root: Section, config: OrgConfig) -> None:
    for spec in root.entries("refresh_tokens", ("token", "username", "client_id")):
        token = spec.text("token", required=True)
        username = spec.text("username", required=True)
        client_id = spec.text("client_id", required=True)
        if not (isinstance(token, str) and isinstance(username, str) and isinstance(client_id, str)):
            continue
        if config.user(username) is None:
            spec.fail("username", f"no user {username!r}; add it under users")
        elif config.app(client_id) is None:
            spec.fail("client_id", f"no connected app {client_id!r}; add it under apps")
        else:
            config.refresh_tokens.append(RefreshTokenDef(token=token, username=username, client_id=client_id))


def _apply_faults(root: Section, config: OrgConfig) -> None:
    names = tuple(f.name for f in dataclasses.fields(FaultSettings))
    spec = root.section("faults", names)
    if spec is None:
        return
    faults = config.faults
    for f in dataclasses.fields(FaultSettings):
        if f.name not in spec.data:
            continue
        current = getattr(faults, f.name)
        kind = str(f.type)
        if "bool" in kind:
            value: Any = spec.flag(f.name, current)
        elif f.name.endswith("_rate"):
            value = spec.number(f.name, current, integer=False, low=0.0, high=1.0)
        elif "float" in kind:
            value = spec.number(f.name, current, integer=False, low=0.0)
        elif f.name == "session_seconds":
            value = spec.number(f.name, current, integer=True, low=1)
        else:
            value = spec.number(f.name, current, integer=True, low=0)
        setattr(faults, f.name, float(value) if "float" in kind and value is not None else value)
