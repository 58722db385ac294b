"""`-o html`: a correlation report as one self-contained HTML page (imported only when asked for).

page.py lays the page out from the report's JSON form; svg.py draws the charts. docs/report.md says
what the page shows and why the charts are hand-written SVG.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.render.html.page import Links


def links_for(config: Config | None) -> Links:
    """Prometheus graph and MLflow run links from the config, credentials removed."""
    from mlprom.redact import redact_url
    from mlprom.render.html.page import Links

    if config is None:
        return Links()
    prometheus = redact_url(config.prometheus.url) if config.prometheus.url else ""
    # mlflow.ui_url where the config has it (the UI behind a proxy), else an http(s) tracking server.
    ui = (
        getattr(config.mlflow, "ui_url", None)
        or config.mlflow.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
    )
    mlflow = redact_url(ui) if ui and ui.startswith(("http://", "https://")) else ""
    queries = {name: query.expr for name, query in config.queries.items()}
    units = {"prediction_time": "s", **{name: q.unit for name, q in config.queries.items() if q.unit}}
    return Links(prometheus_url=prometheus, mlflow_url=mlflow, queries=queries, units=units)


def to_html(result: Any, config: Config | None = None) -> str:
    """The whole page as text."""
    from mlprom import __version__
    from mlprom.render.document import report_document
    from mlprom.render.html.page import Page

    report = report_document(result)
    return Page(
        report.document, links_for(config), __version__, report.url, day_timeline=report.timeline
    ).render()
