"""The JSON Schemas in schemas/: valid draft 2020-12, one for every command's -o json, carrying SCHEMA_VERSION.

tests/integration/test_json_schemas.py validates real outputs of every command against them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from mlprom.analysis.findings import Finding
from mlprom.cli import app
from mlprom.reports.correlation import CorrelationReport, EventCounts
from mlprom.reports.results import SCHEMA_VERSION, CheckItem, CheckResult, RuleFile
from tests.fixtures.json_schemas import SCHEMAS, load_schema, validate

# Commands that print a file verbatim rather than a JSON document of their own.
NO_JSON_DOCUMENT = {"example"}
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _all() -> dict[str, dict[str, Any]]:
    return {
        path.name.removesuffix(".schema.json"): load_schema(path.name.removesuffix(".schema.json"))
        for path in sorted(SCHEMAS.glob("*.schema.json"))
    }


def _command_names() -> set[str]:
    import typer.main

    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_every_schema_is_valid_draft_2020_12() -> None:
    assert len(_all()) >= 9
    for name, schema in _all().items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        Draft202012Validator.check_schema(schema)


def test_every_command_printing_json_has_a_schema() -> None:
    covered = {command for schema in _all().values() for command in schema["x-mlprom-commands"]}
    assert covered <= _command_names()
    missing = _command_names() - NO_JSON_DOCUMENT - covered
    assert not missing, f"no schema in schemas/ names these commands in x-mlprom-commands: {sorted(missing)}"


def test_every_schema_but_the_rule_file_requires_the_current_schema_version() -> None:
    for name, schema in _all().items():
        if schema.get("x-mlprom-no-schema-version"):
            assert name == "rules" and "schema_version" not in schema["properties"]
            continue
        if schema.get("x-mlprom-list"):  # a fleet run: every element carries the version
            schema = schema["items"]
        assert schema["required"][0] == "schema_version", name
        assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION, name


def test_json_output_adds_schema_version_to_a_result() -> None:
    from mlprom.render.json import document

    checked = document(CheckResult((CheckItem("config", "mlprom.yaml", True, "ok"),)))
    assert checked["schema_version"] == SCHEMA_VERSION
    validate("check", checked)
    rules = document(RuleFile({"groups": []}, ()))
    assert rules == {"groups": []}


def test_a_stored_report_keeps_the_schema_version_it_was_written_with() -> None:
    from mlprom.render.json import document
    from mlprom.reports.correlation import StoredReport

    written = {**_report().to_dict(), "schema_version": SCHEMA_VERSION + 1}
    assert document(StoredReport(_report(), written))["schema_version"] == SCHEMA_VERSION + 1
    older = {k: v for k, v in written.items() if k != "schema_version"}
    assert document(StoredReport(_report(), older)) == {**older, "schema_version": SCHEMA_VERSION}


def _report() -> CorrelationReport:
    finding = Finding("critical", "cpu_usage", {"instance": "a"}, 0.97, 0.9, "above", 1, AT, AT)
    return CorrelationReport(date(2026, 11, 20), AT, "critical", EventCounts(3, 1), 2, (finding,), episodes=1)


def test_the_stored_report_carries_schema_version_and_one_without_it_still_reads() -> None:
    stored = _report().to_dict()
    assert stored["schema_version"] == SCHEMA_VERSION
    validate("report", stored)
    older = {k: v for k, v in stored.items() if k != "schema_version"}
    read = CorrelationReport.from_dict(older)
    assert read.findings == _report().findings and read.status == "critical"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.pop("findings"), "'findings' is a required property"),
        (lambda d: d["findings"][0].pop("first_seen"), "'first_seen' is a required property"),
        (lambda d: d.update(status="fine"), "'fine' is not one of"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "was expected"),
        (lambda d: d["findings"][0].update(first_seen="yesterday"), "is not a 'date-time'"),
        (lambda d: d.update(generated_at="2026-11-20T12:00:00+02:00"), "does not match 'Z\\$'"),
    ],
)
def test_a_report_breaking_the_contract_fails_validation(change: Any, why: str) -> None:
    document = _report().to_dict()
    change(document)
    with pytest.raises(ValidationError, match=why):
        validate("report", document)


def test_more_fields_are_allowed() -> None:
    document = {**_report().to_dict(), "something_new": {"a": 1}}
    document["findings"][0]["also_new"] = True
    validate("report", document)
