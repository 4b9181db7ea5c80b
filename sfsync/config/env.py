"""``${NAME}`` interpolation from the environment or a ``.env`` file, and the secret field type.

A value that came from interpolation is an :class:`InterpolatedStr` (a ``str`` that remembers its template),
so secret fields can tell a value written literally in the project file (refused) from one read through
``${NAME}`` (accepted). The refusal only applies when the loader asks for it through the validation
context (``{"strict_secrets": True}``); projects built in code may pass secrets directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, SecretStr, ValidationInfo

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$\{")
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")

STRICT_SECRETS = "strict_secrets"
"""Validation-context key: when true, secrets written literally are refused."""


class InterpolatedStr(str):
    """A string whose project-file text contained at least one ``${NAME}`` reference."""

    template: str

    def __new__(cls, value: str, template: str) -> InterpolatedStr:
        obj = super().__new__(cls, value)
        obj.template = template
        return obj

    @property
    def only_references(self) -> bool:
        """True when the template is nothing but ``${NAME}`` references (no literal text around them)."""
        return only_references(self.template)


def only_references(template: str) -> bool:
    """True when ``template`` holds ``${NAME}`` references and no literal text at all."""
    return "${" in template and not _REFERENCE.sub("", template)


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse ``.env`` text: ``NAME=value`` lines, optional ``export``, quotes, ``#`` comments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _DOTENV_LINE.match(line)
        if not m:
            continue
        name, value = m.group(1), m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        values[name] = value
    return values


def load_dotenv(project_dir: Path) -> dict[str, str]:
    """The variables of ``.env`` beside the project file (empty when there is none)."""
    path = project_dir / ".env"
    if not path.is_file():
        return {}
    return parse_dotenv(path.read_text(encoding="utf-8"))


def interpolate(text: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ``${NAME}`` in ``text``; ``$${`` writes a literal ``${``. Returns the text and the names
    that neither the environment nor ``.env`` defines (the caller reports them; the text is then unusable)."""
    if "${" not in text:
        return text, []
    missing: list[str] = []
    used = False

    def sub(m: re.Match[str]) -> str:
        nonlocal used
        name = m.group(1)
        if name is None:
            return "${"
        used = True
        if name not in variables:
            missing.append(name)
            return ""
        return variables[name]

    value = _REFERENCE.sub(sub, text)
    if missing:
        return value, missing
    return (InterpolatedStr(value, text) if used else value), []


def _literal_refusal(what: str) -> ValueError:
    return ValueError(
        f"{what} is written literally in the project file; secrets never sit in the file: write "
        '"${NAME}" and set NAME in the environment or in the .env file beside the project'
    )


def _check_secret(value: Any, info: ValidationInfo) -> Any:
    """From a file, a secret is made of ``${NAME}`` references only: ``"x${VAR}"`` would put part of it
    (``x``) in the file, where git and anyone reading the project see it."""
    strict = bool(info.context and info.context.get(STRICT_SECRETS))
    if strict and isinstance(value, str) and value:
        if not isinstance(value, InterpolatedStr):
            raise _literal_refusal("this secret")
        if not value.only_references:
            raise _literal_refusal("part of this secret")
    return value


def _check_secret_url(value: Any, info: ValidationInfo) -> Any:
    """A URL that is a secret as a whole (a Slack webhook): its scheme, host and leading path may be
    written out, but everything after them must come from ``${NAME}`` references
    (``https://hooks.slack.com/services/${SLACK_HOOK}``)."""
    strict = bool(info.context and info.context.get(STRICT_SECRETS))
    if not strict or not isinstance(value, str) or not value:
        return value
    if not isinstance(value, InterpolatedStr):
        raise _literal_refusal("this secret URL")
    prefix, ref, rest = value.template.partition("${")
    literal_prefix_ok = prefix == "" or prefix.endswith("/")  # scheme, host and leading path only
    if not ref or not literal_prefix_ok or not only_references(ref + rest):
        raise _literal_refusal("part of this secret URL")
    return value


def _check_url_secret(value: Any, info: ValidationInfo) -> Any:
    """A URL may be literal unless it carries a password that was not given through ``${NAME}``."""
    strict = bool(info.context and info.context.get(STRICT_SECRETS))
    if not strict or not isinstance(value, str):
        return value
    template = value.template if isinstance(value, InterpolatedStr) else value
    try:
        password = urlsplit(template).password
    except ValueError:
        password = None
    if password and not only_references(password):
        raise _literal_refusal("the password in this URL" if "${" not in password else "part of the password")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_check_secret)]
"""A secret: masked in reprs and dumps; from a file it must come through ``${NAME}``."""

SecretUrl = Annotated[SecretStr, BeforeValidator(_check_url_secret)]
"""A connection URL: masked; its password part (if any) must come through ``${NAME}``."""

SecretWebhookUrl = Annotated[SecretStr, BeforeValidator(_check_secret_url)]
"""A URL that is a secret (Slack webhook): masked; after its literal ``https://host/path/`` only
``${NAME}`` references."""


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
