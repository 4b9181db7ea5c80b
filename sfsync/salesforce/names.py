"""Salesforce API names (objects and fields) as they may appear in a URL path.

An API name starts with a letter and holds letters, digits and underscores (custom names end in ``__c``,
``__r``, …; a namespace adds ``ns__``); see "Object Reference: Custom Objects" and "Field Name" rules in
Salesforce's documentation (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
object_reference/sforce_api_objects_concepts.htm). Anything else (``Account?x``, ``Account/../x``)
is refused before a request is built, so user input can never change which resource a call reaches;
names are still percent-encoded when put into a path.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from sfsync.errors import ConfigError

API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")
"""One object or field API name (255 characters at most)."""


def check_api_name(name: str, what: str = "object") -> str:
    """``name`` when it is a valid API name; ConfigError (naming it and the rule) otherwise."""
    if not isinstance(name, str) or not API_NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a Salesforce {what} API name",
            hint="API names start with a letter and hold only letters, digits and underscores "
            "(custom ones end in __c); `sfsync describe` lists them",
        )
    return name


def path_segment(name: str, what: str = "object") -> str:
    """A checked API name, percent-encoded for one URL path segment."""
    return quote(check_api_name(name, what), safe="")


__all__ = ["API_NAME", "check_api_name", "path_segment"]
