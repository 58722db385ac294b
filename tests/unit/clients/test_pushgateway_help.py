"""HELP texts of the heartbeat: every family a stage pushes has one, and a family several stages push names none."""

from __future__ import annotations

import re
from pathlib import Path

from mlprom.clients.pushgateway import HELP, heartbeat_body

PACKAGE = Path(__file__).resolve().parents[3] / "mlprom"
STAGES = ("capture-model", "capture-infra", "correlate", "alert", "prune", "profile", "check")
# Families named in full by the result records (reports/) and the CLI (mlprom_partial_failures).
_FAMILY = re.compile(r"""["'](mlprom_[a-z_]+)["'{]""")


def _families_in_source() -> set[str]:
    found: set[str] = set()
    for path in [*sorted((PACKAGE / "reports").glob("*.py")), PACKAGE / "cli.py"]:
        found.update(_FAMILY.findall(path.read_text(encoding="utf-8")))
    return found


def _help_line(body: bytes, family: str) -> str:
    (line,) = [ln for ln in body.decode().splitlines() if ln.startswith(f"# HELP {family} ")]
    return line


def test_every_family_named_in_full_has_its_own_help_text() -> None:
    families = _families_in_source()
    assert {"mlprom_partial_failures", "mlprom_findings", "mlprom_profile_days"} <= families
    assert families - set(HELP) == set()


def test_families_every_stage_pushes_have_the_same_help_line_from_each_stage() -> None:
    shared = (
        "mlprom_last_success_timestamp_seconds",
        "mlprom_last_run_duration_seconds",
        "mlprom_partial_failures",
    )
    for family in shared:
        lines = {
            _help_line(heartbeat_body(stage, 1.0, {"mlprom_partial_failures": 0.0}), family)
            for stage in STAGES
        }
        assert lines == {f"# HELP {family} {HELP[family]}"}
        assert not any(stage in HELP[family] for stage in STAGES)


def test_an_unknown_family_named_in_full_gets_a_help_text_naming_no_stage() -> None:
    lines = {
        _help_line(heartbeat_body(stage, 1.0, {"mlprom_new_thing": 1.0}), "mlprom_new_thing")
        for stage in STAGES
    }
    assert lines == {"# HELP mlprom_new_thing mlprom: new thing."}
    # A bare key's family carries the stage in its name, and its HELP may say so.
    body = heartbeat_body("capture-model", 1.0, {"queue_depth": 2.0})
    assert _help_line(body, "mlprom_capture_model_queue_depth").endswith("mlprom capture-model: queue depth.")
