"""Views of `mlprom rules`: the rule file as YAML on a terminal, in a fenced block in Markdown."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from mlprom.render.markdown import to_markdown
from mlprom.render.table import to_table
from mlprom.reports.results import RuleFile


@to_table.register
def _rules_table(result: RuleFile) -> Any:
    # The file itself, unstyled, so `mlprom rules > mlprom.rules.yml` is the rule file.
    return Text(result.to_yaml().rstrip("\n"))


@to_markdown.register
def _rules_markdown(result: RuleFile) -> str:
    return "```yaml\n" + result.to_yaml().rstrip("\n") + "\n```"
