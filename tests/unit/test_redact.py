"""Redaction hides credentials and nothing else: a model URI's alias is the culprit, not a secret."""

from __future__ import annotations

import pytest

from mlprom.redact import redact_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("--model-uri models:/churn@champion", "--model-uri models:/churn@champion"),
        ("cannot load models:/fraud-v2@prod: not found", "cannot load models:/fraud-v2@prod: not found"),
        ("runs:/0123abcd/model", "runs:/0123abcd/model"),
    ],
)
def test_a_model_uri_with_an_alias_is_shown_whole(text: str, shown: str) -> None:
    assert redact_text(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("user:pw@host", "***@host"),
        ("postgres user:secret@db:5432", "postgres ***@db:5432"),
        ("mysql://u:p@h/db", "mysql://***@h/db"),
    ],
)
def test_real_userinfo_is_still_hidden(text: str, shown: str) -> None:
    assert redact_text(text) == shown
