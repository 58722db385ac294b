"""Stable JSON output: the result's to_dict(), keys sorted, one document on stdout."""

from __future__ import annotations

import sys
from typing import Any

import orjson


def dumps(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def write_json(result: Any) -> None:
    from mlprom.render.literal import json_literal

    # Strings from data parse back unchanged; bidi and C1 controls in them are \u escapes on screen.
    sys.stdout.write(json_literal(dumps(result.to_dict()).decode()) + "\n")
    sys.stdout.flush()
