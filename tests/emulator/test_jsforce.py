"""jsforce, unchanged, against the emulator over a real socket: relationship writes through REST,
sObject upsert and Bulk API 2.0.

jsforce is a Node package, not a Python one: ``make test`` installs the version pinned in
``tests/emulator/jsforce/package-lock.json`` into ``.cache/jsforce`` (``scripts/ensure-jsforce.sh``) and
points ``SFSYNC_JSFORCE_DIR`` at it. Without ``node`` on PATH or that directory the test is skipped and
says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JSFORCE_DIR = os.environ.get("SFSYNC_JSFORCE_DIR", "")
#: Longest a jsforce script may take (login, a few calls, one Bulk job).
SCRIPT_TIMEOUT_SECONDS = 120

SCRIPT = r"""
const jsforce = require("jsforce");
(async () => {
  const conn = new jsforce.Connection({ loginUrl: process.env.EMU_URL, version: "59.0" });
  await conn.login("admin@example.com", "sfsync-demo");
  const out = {};
  out.account = await conn.sobject("Account").create({ Name: "Acme", External_Id__c: "ACC-1" });
  const contacts = conn.sobject("Contact");
  out.created = await contacts.create({ LastName: "Doe", Account: { External_Id__c: "acc-1" } });
  out.missing = await contacts.create({ LastName: "Roe", Account: { External_Id__c: "ACC-404" } })
    .catch((e) => ({ errorCode: e.errorCode, message: e.message }));
  out.upserted = await conn.sobject("Contact").upsert(
    { External_Id__c: "K1", LastName: "Poe", Account: { External_Id__c: "ACC-1" } }, "External_Id__c");
  out.lead = await conn.sobject("Lead").create(
    { LastName: "L", Company: "Co", Owner: { attributes: { type: "User" }, Username: "admin@example.com" } });
  const csv = "LastName,External_Id__c,Account.External_Id__c\nBulk1,B1,ACC-1\nBulk2,B2,ACC-404\n";
  const res = await conn.bulk2.loadAndWaitForResults({
    object: "Contact", operation: "upsert", externalIdFieldName: "External_Id__c", input: csv,
    pollInterval: 50, pollTimeout: 60000 });
  out.bulk_ok = res.successfulResults.map((r) => r.External_Id__c);
  out.bulk_failed = res.failedResults.map((r) => [r.External_Id__c, r.sf__Error]);
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _node_ready() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not JSFORCE_DIR or not (Path(JSFORCE_DIR) / "node_modules" / "jsforce").is_dir():
        return "set SFSYNC_JSFORCE_DIR to a directory where scripts/ensure-jsforce.sh ran"
    return None


@pytest.mark.skipif(_node_ready() is not None, reason=_node_ready() or "")
def test_jsforce_relationship_writes(live_emulator: Any, tmp_path: Path) -> None:
    script = tmp_path / "relationships.js"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "EMU_URL": live_emulator.url,
        "NODE_PATH": str(Path(JSFORCE_DIR) / "node_modules"),
    }
    done = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_SECONDS
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    acc = out["account"]["id"]
    assert out["created"]["success"] and out["upserted"]["success"] and out["lead"]["success"]
    assert out["missing"]["errorCode"] == "INVALID_FIELD"
    assert "Foreign key external ID: ACC-404 not found" in out["missing"]["message"]
    assert out["bulk_ok"] == ["B1"]
    assert out["bulk_failed"] == [
        [
            "B2",
            # a Bulk error cell without a field ends in ":--" (docs/salesforce-facts.md, Bulk results)
            "INVALID_FIELD:Foreign key external ID: ACC-404 not found for field External_Id__c "
            "in entity Account:--",
        ]
    ]
    rows = live_emulator.org.query("SELECT LastName, AccountId FROM Contact ORDER BY LastName").records
    assert [(r["LastName"], r["AccountId"]) for r in rows] == [("Bulk1", acc), ("Doe", acc), ("Poe", acc)]
