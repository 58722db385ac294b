"""Stable JSON output: the result's to_dict() with its `schema_version`, keys sorted, one document on stdout.

Each document type has a JSON Schema under schemas/ in the repository (docs/report.md, "JSON documents
and their schemas").
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from mlprom.reports.results import SCHEMA_VERSION, RuleFile


def dumps(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def document(result: Any) -> Any:
    """The JSON form of `result`: its to_dict() with `schema_version`.

    A stored report (`mlprom report`) is printed as it was written, so it keeps the version it was written
    with; one stored before versions existed gets 1, the first, which describes what was written before it.
    A rule file stays exactly a Prometheus rule file: Prometheus refuses a field it does not know, and
    `mlprom rules -o json > rules.json` must pass `promtool check rules`. Its format is Prometheus' own.
    """
    out = result.to_dict()
    if isinstance(result, RuleFile) or not isinstance(out, dict) or "schema_version" in out:
        return out
    return {**out, "schema_version": SCHEMA_VERSION}


def json_text(result: Any) -> str:
    return dumps(document(result)).decode() + "\n"


def write_json(result: Any) -> None:
    from mlprom.render.literal import json_literal

    # Strings from data parse back unchanged; bidi and C1 controls in them are \u escapes on screen.
    sys.stdout.write(json_literal(dumps(document(result)).decode()) + "\n")
    sys.stdout.flush()
