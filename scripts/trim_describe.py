"""Trim a recorded Salesforce describe into a fixture for tests/emulator/test_describe_fidelity.py.

Usage:
  python scripts/trim_describe.py SOURCE OUT.json --repo OWNER/NAME --path PATH --commit SHA --note TEXT

SOURCE is one of:
  * a vcrpy cassette (``.yaml``) whose ``response.body.string`` is a describe answer (CumulusCI's
    ``shared_cassettes``);
  * a describe answer as JSON (``GET /sobjects/X/describe``, or the VS Code Salesforce extension's
    ``.sfdx/tools/soqlMetadata/standardObjects/X.json`` cache, which keeps a subset of the keys);
  * a NetCoreForce generated model (``SfX.cs``): its doc comments carry name, label, type and nillable
    of each field, its attributes createable/updateable, as read from a real org's describe.

Only the keys the fidelity test compares are kept (``FIELD_KEYS``, ``OBJECT_KEYS``, picklist entries
as value/label/active/defaultValue). Custom fields (names ending ``__c`` or ``__pc``) are dropped: they
belong to the recording org, not to Salesforce. ``--drop-value FIELD=VALUE`` removes a picklist value
the recording org added (say why in ``--note``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

FIELD_KEYS = (
    "name",
    "label",
    "type",
    "soapType",
    "length",
    "precision",
    "scale",
    "digits",
    "nillable",
    "createable",
    "updateable",
    "defaultedOnCreate",
    "defaultValue",
    "externalId",
    "idLookup",
    "unique",
    "caseSensitive",
    "calculated",
    "autoNumber",
    "nameField",
    "filterable",
    "referenceTo",
    "relationshipName",
    "polymorphicForeignKey",
    "namePointing",
    "restrictedPicklist",
)
OBJECT_KEYS = (
    "name",
    "label",
    "labelPlural",
    "keyPrefix",
    "custom",
    "createable",
    "updateable",
    "deletable",
    "queryable",
    "retrieveable",
    "searchable",
    "layoutable",
    "triggerable",
    "mergeable",
    "replicateable",
    "undeletable",
    "feedEnabled",
    "mruEnabled",
    "activateable",
    "customSetting",
    "deprecatedAndHidden",
    "hasSubtypes",
    "isSubtype",
    "sobjectDescribeOption",
)
PICKLIST_KEYS = ("value", "label", "active", "defaultValue")


def _custom(name: str) -> bool:
    return name.endswith(("__c", "__pc"))


def _trim_field(f: dict[str, Any], drops: set[tuple[str, str]]) -> dict[str, Any]:
    out = {k: f[k] for k in FIELD_KEYS if k in f}
    if "picklistValues" in f:
        out["picklistValues"] = [
            {k: p[k] for k in PICKLIST_KEYS if k in p}
            for p in f["picklistValues"]
            if (f["name"], p["value"]) not in drops
        ]
    return out


def _from_describe(data: dict[str, Any], drops: set[tuple[str, str]]) -> dict[str, Any]:
    return {
        "object": {k: data[k] for k in OBJECT_KEYS if k in data},
        "fields": [_trim_field(f, drops) for f in data["fields"] if not _custom(f["name"])],
    }


_CS_PROPERTY = re.compile(r"///<summary>(?P<doc>.*?)public (?P<cstype>[\w?<>]+) (?P<prop>\w+) \{", re.S)


def _from_netcoreforce(text: str) -> dict[str, Any]:
    """Fields of a NetCoreForce model. Each field property is preceded by ``<para>Name: X</para>``,
    ``<para>SF Type: t</para>``, ``<para>Nillable: b</para>`` and, when the field is not both createable
    and updateable, ``[Updateable(u), Createable(c)]``. Relationship properties carry
    a ``RelationshipName`` para instead and belong to the reference field before them."""
    fields: list[dict[str, Any]] = []
    name_match = re.search(r"SObject Name: (\w+)", text)
    for m in _CS_PROPERTY.finditer(text):
        doc = m.group("doc").split("///<summary>")[-1]  # the class summary precedes the first field
        paras = dict(re.findall(r"<para>([\w ]+): ([^<]*)</para>", doc))
        if "Name" in paras:
            label = re.search(r"/// (.+?)\n", doc.strip() + "\n")
            f: dict[str, Any] = {
                "name": paras["Name"],
                "label": html.unescape(label.group(1).strip()) if label else paras["Name"],
                "type": paras["SF Type"],
                "nillable": paras["Nillable"] == "True",
                "createable": True,
                "updateable": True,
            }
            flags = re.search(r"\[Updateable\((\w+)\), Createable\((\w+)\)\]", doc)
            if flags:
                f["updateable"] = flags.group(1) == "true"
                f["createable"] = flags.group(2) == "true"
            if "<para>AutoNumber field</para>" in doc:
                f["autoNumber"] = True
            if not _custom(f["name"]):
                fields.append(f)
        elif "RelationshipName" in paras and fields:
            # the relationship property after a reference field (its ReferenceTo names only the
            # first target object, so referenceTo is not taken from here)
            fields[-1]["relationshipName"] = paras["RelationshipName"]
    return {"object": {"name": name_match.group(1) if name_match else None}, "fields": fields}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--note", default="")
    ap.add_argument("--drop-value", action="append", default=[], metavar="FIELD=VALUE")
    args = ap.parse_args(argv)
    drops = {(d.split("=", 1)[0], d.split("=", 1)[1]) for d in args.drop_value}
    text = args.source.read_text(encoding="utf-8")
    if args.source.suffix == ".cs":
        body = _from_netcoreforce(text)
    elif args.source.suffix in (".yaml", ".yml"):
        cassette = yaml.safe_load(text)
        body = _from_describe(json.loads(cassette["response"]["body"]["string"]), drops)
    else:
        body = _from_describe(json.loads(text), drops)
    fixture = {
        "_source": {
            "repository": args.repo,
            "path": args.path,
            "commit": args.commit,
            "note": args.note,
            "dropped_picklist_values": sorted(f"{f}={v}" for f, v in drops),
        },
        **body,
    }
    args.out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
