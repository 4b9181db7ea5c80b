"""The commented example project in examples/ stays valid."""

from __future__ import annotations

from pathlib import Path

from sfsync.config import load_project
from sfsync.config.env import parse_dotenv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_project_loads_with_its_variables_set() -> None:
    names = parse_dotenv((EXAMPLES / ".env.example").read_text())
    project = load_project(EXAMPLES / "sfsync.yml", environ={k: f"value-of-{k}" for k in names})
    assert set(project.syncs) == {"accounts", "account_firmographics", "paying_contacts", "trial_leads"}
    assert project.resolve_sync("paying_contacts").where == "plan <> 'free'"
