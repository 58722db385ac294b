"""Rich renderables for results on a terminal; one registration per result type."""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from rich.table import Table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value, default=str).decode()
    return str(value)


@singledispatch
def to_table(result: Any) -> Any:
    """Fallback: a two-column key/value table of the result's to_dict()."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("field")
    table.add_column("value")
    for key, value in result.to_dict().items():
        table.add_row(str(key), _cell(value))
    return table
