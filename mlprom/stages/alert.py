"""alert: send a report's findings to every Alertmanager (API v2), resolve what cleared, record the run."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from mlprom import layout
from mlprom.dates import rfc3339
from mlprom.errors import NoDataError, UpstreamError
from mlprom.reports.alert_state import (
    AlertState,
    Step,
    StoredAlert,
    fingerprint,
    keep_undelivered_as_before,
    load_state_versioned,
    next_step,
    save_state_if,
)
from mlprom.reports.correlation import CorrelationReport, read_stored_report
from mlprom.reports.results import AlertOutcome, AlertRun

if TYPE_CHECKING:
    from mlprom.analysis.findings import Finding
    from mlprom.analysis.suspects import Suspect
    from mlprom.clients.alertmanager import AlertmanagerClient, Delivery
    from mlprom.config import Config
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

# alertname per finding kind: one name per kind of check, so routes and silences can pick a kind.
ALERTNAMES = {"threshold": "MlpromThreshold", "drift": "MlpromDrift"}
# Another alert run may write the model's alert state between our read and our write: we re-read, recompute
# and re-send (Alertmanager deduplicates) at most this many times.
MAX_STATE_ATTEMPTS = 5


def read_report(storage: Storage, day: date, model: str) -> CorrelationReport:
    """The model's stored report of the date (NoDataError, exit 4, when there is none that can be read)."""
    return read_stored_report(storage, day, model).report


# Labels mlprom sets besides alertname, severity, model and metric; a series label named like one is
# exported_<name>. `series_name` holds the series' __name__: series that differ only in it (a query
# like {__name__=~"node_disk_.+"}) are distinct alerts, not one that silently drops the others.
SUSPECT_LABEL = "suspect"
SERIES_NAME_LABEL = "series_name"


def alert_labels(
    finding: Finding, model: str, static: Mapping[str, str] | None = None, suspect: str | None = None
) -> dict[str, str]:
    """alertname, severity, model, metric, the static labels, the top suspect's metric (model findings),
    then the series' own labels and its __name__ as series_name (never values or run ids)."""
    labels = {
        "alertname": ALERTNAMES.get(finding.kind, "Mlprom" + finding.kind.title().replace("_", "")),
        "severity": finding.severity,
        "model": model,
        "metric": finding.metric,
        **(static or {}),
    }
    if suspect:
        labels[SUSPECT_LABEL] = suspect
    # Other reserved labels (__tmp) identify nothing. A series label clashing with ours becomes
    # exported_<name>, as Prometheus does with honor_labels off; names Alertmanager would refuse
    # (bad-name, 0day) are made valid (clients.alertmanager.sanitize_label_names).
    from mlprom.clients.alertmanager import sanitize_label_names

    series = {name: value for name, value in finding.labels.items() if not name.startswith("__")}
    reserved = (*labels, SUSPECT_LABEL, SERIES_NAME_LABEL)
    labels.update(sanitize_label_names(series, reserved=reserved))
    if finding.labels.get("__name__"):
        labels[SERIES_NAME_LABEL] = finding.labels["__name__"]
    return labels


def without_suspect(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that name the problem, whichever suspect the report names today."""
    return {name: value for name, value in labels.items() if name != SUSPECT_LABEL}


def is_model_finding(config: Config, finding: Finding) -> bool:
    """prediction_time and quality findings (accuracy, loss, ...): thresholds over the model's events.

    Reports written before findings carried their source: a threshold finding of no configured query.
    """
    if finding.kind != "threshold":
        return False
    source = finding.detail.get("source")
    return source == "model" if source else finding.metric not in config.queries


# The graph link shows the finding's window with this much on either side, so its start and end show.
GRAPH_PADDING = timedelta(minutes=15)


def graph_url(
    prometheus_url: str, expr: str, start: datetime | None = None, end: datetime | None = None
) -> str:
    """Prometheus' graph page for `expr`; given a window, graphed over it (the classic and the React UI
    both read g0.range_input and g0.end_input, in UTC)."""
    from mlprom.redact import redact_url

    base = f"{redact_url(prometheus_url)}/graph?g0.expr={quote(expr, safe='')}"
    if start is None or end is None:
        return base + "&g0.tab=1"
    from mlprom.stages.rules import format_duration

    lo, hi = start - GRAPH_PADDING, end + GRAPH_PADDING
    minutes = -(-(hi - lo).total_seconds() // 60)  # whole minutes, rounded up
    stamp = quote(hi.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), safe="")
    return (
        f"{base}&g0.tab=0&g0.range_input={format_duration(minutes * 60)}"
        f"&g0.end_input={stamp}&g0.moment_input={stamp}"
    )


def mlflow_run_url(config: Config, run_id: str) -> str | None:
    """The MLflow UI's page of a run (`#/runs/ID` redirects to its experiment), when the UI has an address."""
    import os

    from mlprom.redact import redact_url

    base = config.mlflow.ui_url or config.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not base.startswith(("http://", "https://")):
        return None  # a sqlite or file store has no UI to link to
    return f"{redact_url(base).rstrip('/')}/#/runs/{quote(run_id, safe='')}"


def report_link(config: Config, key: str) -> str | None:
    """storage.public_url with the report's key: appended to it, or put in place of its {key}."""
    public = config.storage.public_url
    if not public or not key:
        return None
    quoted = quote(key, safe="/=")
    return public.replace("{key}", quoted) if "{key}" in public else f"{public}/{quoted}"


def persisted(config: Config, finding: Finding) -> bool:
    """Whether the finding lasted long enough to page: the threshold's min_events and `for`.

    Like a Prometheus alert that is still pending, a finding that has not lasted is not sent.
    """
    threshold = config.thresholds.get(finding.metric)
    if threshold is None or finding.kind == "drift":
        return True
    observations = finding.detail.get("observations")
    if isinstance(observations, int) and observations < threshold.min_events:
        return False
    if threshold.for_ > 0:
        longest = finding.detail.get("longest_seconds")
        if not isinstance(longest, int | float):
            # Reports written before longest_seconds existed: the span is all there is.
            longest = (finding.last_seen - finding.first_seen).total_seconds()
        if longest < threshold.for_:
            return False
    return True


def _describe(
    finding: Finding, report: CorrelationReport, model: str, suspects: tuple[Suspect, ...]
) -> tuple[str, str]:
    where = finding.labels.get("instance") or finding.labels.get("job") or f"model {model}"
    summary = (
        f"{finding.metric} {finding.value:.6g} is {finding.direction} the {finding.severity} "
        f"level {finding.threshold:g} on {where}"
    )
    series = ", ".join(f"{k}={v}" for k, v in sorted(finding.labels.items())) or "model metric"
    if (
        finding.rows is not None
    ):  # a quality finding: one value over the date's rows, no worst, no slow events
        return summary, (
            f"{finding.metric} ({series}) was {finding.value:.6g} over {finding.rows:,} rows of model {model} "
            f"on {report.date} (events from {rfc3339(finding.first_seen)} to {rfc3339(finding.last_seen)}), "
            f"{finding.direction} {finding.threshold:g}."
        )
    description = (
        f"{finding.metric} ({series}) was {finding.direction} {finding.threshold:g} from "
        f"{rfc3339(finding.first_seen)} to {rfc3339(finding.last_seen)} on {report.date}, "
        f"worst {finding.value:.6g}; "
        f"{finding.slow_events} slow prediction(s) of model {model} co-occurred."
    )
    if suspects:
        from mlprom.analysis.findings import suspect_phrase, suspects_text

        summary += f": slow predictions, with {suspect_phrase(suspects[0])}"
        description += (
            f" The report's top suspect (a significant infrastructure cause): {suspects_text(suspects[:1])}."
        )
    return summary, description


def _annotations(
    config: Config,
    report: CorrelationReport,
    finding: Finding,
    model: str,
    suspects: tuple[Suspect, ...] = (),
) -> dict[str, str]:
    """summary, description, value, threshold, the report, the suspects (model findings) and the links
    the config makes possible; no control character from data reaches a person reading them."""
    from mlprom.clients.alertmanager import annotation_text

    summary, description = _describe(finding, report, model, suspects)
    annotations = {
        "summary": summary,
        "description": description,
        "value": f"{finding.value:.6g}",
        "threshold": f"{finding.threshold:g}",
        "report": report.url,
    }
    if suspects:
        from mlprom.analysis.findings import suspects_text

        annotations["suspects"] = suspects_text(suspects)
    link = report_link(config, report.key)
    if link:
        annotations["report_url"] = link
    run_id = finding.detail.get("mlflow_run_id")
    run_url = mlflow_run_url(config, run_id) if isinstance(run_id, str) and run_id else None
    if run_url:
        annotations["mlflow_run_url"] = run_url
    if config.alertmanager.runbook_url:
        annotations["runbook_url"] = config.alertmanager.runbook_url
    return {name: annotation_text(value) for name, value in annotations.items()}


def _generator_url(config: Config, finding: Finding) -> str:
    """Prometheus' graph of the finding's query over its window; "" for a model metric."""
    expr = (
        config.queries[finding.metric].expr
        if finding.metric in config.queries
        else finding.detail.get("expr")
    )
    # Model metrics have no PromQL behind them, so no generatorURL; the report annotation has the data.
    return graph_url(config.prometheus.url, expr, finding.first_seen, finding.last_seen) if expr else ""


def build_alerts(
    config: Config, report: CorrelationReport, now: datetime, firing: Collection[str] = ()
) -> list[StoredAlert]:
    """One firing alert per finding of the report that lasted (min_events, `for`), except those not seen
    within alertmanager.clear_after. `firing`: fingerprints already firing, which keep firing while their
    finding is in the report, lasted or not (an incident crossing midnight starts a new day's report);
    a fingerprint of the labels without `suspect` matches whichever suspect the alert names."""
    from mlprom.analysis.findings import alert_suspects

    ends_at = now + timedelta(seconds=config.alertmanager.resend_ttl)
    clear_after = config.alertmanager.clear_after
    model = report.model or config.model.name
    causes = alert_suspects(report.suspects)
    alerts: list[StoredAlert] = []
    pending = 0
    left_to_rules = _left_to_rules(config)
    ruled = 0
    quiet = 0
    for finding in report.findings:
        if (
            finding.metric in left_to_rules
            and finding.kind == "threshold"
            and not is_model_finding(config, finding)
        ):
            # Prometheus alerts on it from `mlprom rules`; one already firing from here is resolved by
            # next_step, as any alert whose finding is gone.
            ruled += 1
            continue
        if (
            config.alertmanager.infra_alerts == "slow"
            and finding.kind == "threshold"
            and finding.slow_events == 0
            and not is_model_finding(config, finding)
        ):
            # The series was past its level while this model was fast: the model's page is not the place
            # (in a fleet, every model would be paged for one instance). A firing one is resolved.
            quiet += 1
            continue
        # Drift describes the whole day, so it has no "last seen a while ago" to clear on.
        if clear_after is not None and finding.kind != "drift":
            if (now - finding.last_seen).total_seconds() > clear_after:
                continue
        # The suspects explain slow predictions; an infra series past its own level is its own cause.
        suspects = causes if is_model_finding(config, finding) else ()
        top = suspects[0].metric if suspects else None
        labels = alert_labels(finding, model, config.alertmanager.labels, top)
        known = fingerprint(labels) in firing or fingerprint(without_suspect(labels)) in firing
        if not persisted(config, finding) and not known:
            pending += 1
            continue
        alerts.append(
            StoredAlert(
                labels=labels,
                annotations=_annotations(config, report, finding, model, suspects),
                starts_at=finding.first_seen,
                ends_at=ends_at,
                generator_url=_generator_url(config, finding),
                status="firing",
                date=report.date,
                report=report.key,
            )
        )
    if pending:
        log.info("%d finding(s) not sent yet: below their threshold's min_events or `for`", pending)
    if quiet:
        log.info(
            "%d query threshold finding(s) not sent: no slow prediction of model %s came while the series "
            "was past its level (alertmanager.infra_alerts: slow)",
            quiet,
            model,
        )
    if ruled:
        log.info(
            "%d query threshold finding(s) left to Prometheus' rules (alertmanager.rules_deployed)", ruled
        )
    return alerts


def _left_to_rules(config: Config) -> frozenset[str]:
    """The thresholds whose findings `alert` does not send: the ones `mlprom rules` exports, when the rule
    file is loaded in Prometheus (alertmanager.rules_deployed)."""
    if not config.alertmanager.rules_deployed:
        return frozenset()
    from mlprom.stages.rules import exported_thresholds

    return frozenset(exported_thresholds(config))


def firing_fingerprints(state: AlertState) -> set[str]:
    """The state's firing alerts, by fingerprint and by the fingerprint of their labels without `suspect`."""
    firing = [a for a in state.alerts if a.status == "firing"]
    return {a.fingerprint for a in firing} | {fingerprint(without_suspect(a.labels)) for a in firing}


def outcomes(step: Step, deliveries: tuple[Delivery, ...]) -> tuple[AlertOutcome, ...]:
    """Per alert of `step.send`: how many replicas took it, and each refusal with its reason."""
    result = []
    for index, alert in enumerate(step.send):
        delivered = sum(1 for d in deliveries if index in d.delivered)
        rejected = tuple((d.url, r.reason) for d in deliveries for r in d.rejected if r.index == index)
        result.append(
            AlertOutcome(
                fingerprint=alert.fingerprint, status=alert.status, delivered=delivered, rejected=rejected
            )
        )
    return tuple(result)


def _warn_partial(run: AlertRun) -> None:
    """One warning per thing that failed, naming the replica and the alert."""
    from mlprom.clients.alertmanager import describe_alert

    for d in run.deliveries:
        if not d.accepted:
            some = "some " if d.delivered else ""
            log.warning("%salerts not delivered to %s: %s", some, d.url, d.error)
    refused = [(i, o) for i, o in enumerate(run.outcomes) if o.rejected]
    for index, outcome in refused[:10]:
        url, reason = outcome.rejected[0]
        log.warning("alert %s refused by %s: %s", describe_alert(run.payload[index]), url, reason)
    if len(refused) > 10:
        log.warning("... and %d more refused alert(s); see the alert run record", len(refused) - 10)


def run(
    config: Config,
    day: date,
    dry_run: bool = False,
    allow_empty: bool = False,
    storage: Storage | None = None,
    client: AlertmanagerClient | None = None,
    now: datetime | None = None,
) -> AlertRun:
    """Send the alerts of `day`'s report; advance the model's alert state (alerts/model=NAME/state.json)
    only with what an Alertmanager took. Only the model's own alerts are ever resolved.

    The state update is a compare-and-swap: when another run wrote the state after we read it, we read
    it again, recompute the step, send again (replicas deduplicate) and retry, MAX_STATE_ATTEMPTS times.
    """
    if storage is None:
        from mlprom.storage import open_storage

        storage = open_storage(config)
    now = now or datetime.now(UTC)
    model = config.model.name
    try:
        report = read_report(storage, day, model)
    except NoDataError:
        if not allow_empty:
            raise
        note = f"no report for {day}; nothing sent"
        log.info(note)
        return AlertRun(date=day, dry_run=dry_run, payload=(), firing=0, resolved=0, note=note)

    conflicts = 0
    sent: tuple[Step, tuple[Delivery, ...]] | None = None
    for _ in range(MAX_STATE_ATTEMPTS):
        state, version = load_state_versioned(storage, model)
        step = next_step(state, day, build_alerts(config, report, now, firing_fingerprints(state)), now)
        result = _planned_run(day, dry_run, step, report, conflicts)
        if dry_run:
            return result
        if not step.send:
            # Nothing to send still prunes alerts resolved long ago.
            if step.state.alerts == state.alerts or save_state_if(storage, model, step.state, version):
                return result
            conflicts += 1
            continue

        if client is None:
            from mlprom.clients.alertmanager import AlertmanagerClient

            client = AlertmanagerClient.from_config(config)
        deliveries = tuple(client.post_alerts(result.payload))
        sent = (step, deliveries)
        result = replace(result, deliveries=deliveries, outcomes=outcomes(step, deliveries))
        if not any(d.delivered for d in deliveries):
            # Nothing delivered: the state stays as it was, so the next run sends the same alerts again.
            return _finish_undelivered(storage, model, day, now, result, step)
        finished = _finish_delivered(storage, model, day, now, result, step, state, version)
        if finished is not None:
            return finished
        conflicts += 1
        log.info(
            "%s was changed by another alert run; re-reading it",
            storage.url_for(layout.alert_state_key(model)),
        )

    where = storage.url_for(layout.alert_state_key(model))
    if sent is not None:
        _record_run(storage, model, day, now, sent[0], sent[1], outcomes(*sent), conflicts)
    raise UpstreamError(
        f"{where} was changed by other alert runs {MAX_STATE_ATTEMPTS} times in a row; alerts were sent but "
        "the state was not saved (run alerts one at a time, or run again)"
    )


def _planned_run(day: date, dry_run: bool, step: Step, report: CorrelationReport, conflicts: int) -> AlertRun:
    """What the step sends, before any Alertmanager has answered (all a dry run shows)."""
    return AlertRun(
        date=day,
        dry_run=dry_run,
        payload=tuple(a.payload() for a in step.send),
        firing=len(step.firing),
        resolved=len(step.resolved),
        report=report.url,
        statuses=tuple(a.status for a in step.send),
        state_conflicts=conflicts,
    )


def _finish_delivered(
    storage: Storage,
    model: str,
    day: date,
    now: datetime,
    result: AlertRun,
    step: Step,
    before: AlertState,
    version: str | None,
) -> AlertRun | None:
    """Save the state with what some Alertmanager took and record the run; None when another run wrote
    the state since `version` was read (the caller re-reads it and tries again)."""
    from mlprom.errors import StorageError

    undelivered = {o.fingerprint for o in result.outcomes if o.delivered == 0}
    new_state = keep_undelivered_as_before(step.state, before, undelivered)
    try:
        if not save_state_if(storage, model, new_state, version):
            return None
    except StorageError as exc:
        # The alerts are in Alertmanager already: say so, or the operator re-sends them by hand in a panic
        # (harmless, they deduplicate) or, worse, thinks nothing reached on-call.
        _record_run(
            storage, model, day, now, step, result.deliveries, result.outcomes, result.state_conflicts
        )
        raise UpstreamError(_unsaved_state_message(storage, model, result, exc)) from None
    run_key = _record_run(
        storage, model, day, now, step, result.deliveries, result.outcomes, result.state_conflicts
    )
    result = replace(result, run_key=run_key)
    if result.exit_code:
        _warn_partial(result)
    log.info(
        "sent %d firing and %d resolved alert(s); %d of %d Alertmanager(s) took all of them",
        result.firing,
        result.resolved,
        result.accepted,
        len(result.deliveries),
    )
    return result


def _unsaved_state_message(storage: Storage, model: str, result: AlertRun, exc: Exception) -> str:
    delivered = sum(1 for o in result.outcomes if o.delivered)
    took = ", ".join(d.url for d in result.deliveries if d.delivered)
    return (
        f"Alertmanager accepted {delivered} of {len(result.outcomes)} alert(s) ({took}), but the alert "
        f"state {storage.url_for(layout.alert_state_key(model))} could not be written: {exc}; the next run "
        "sends them again (Alertmanager deduplicates)"
    )


def _finish_undelivered(
    storage: Storage, model: str, day: date, now: datetime, result: AlertRun, step: Step
) -> AlertRun:
    run_key = _record_run(
        storage, model, day, now, step, result.deliveries, result.outcomes, result.state_conflicts
    )
    result = replace(result, run_key=run_key)
    reasons = "; ".join(d.error or f"{d.url}: status {d.status}" for d in result.deliveries)
    if not any(d.reachable for d in result.deliveries):
        raise UpstreamError(f"no Alertmanager reachable and working after retries: {reasons}")
    log.error("no Alertmanager accepted the alerts: %s", reasons)
    return result


def _record_run(
    storage: Storage,
    model: str,
    day: date,
    now: datetime,
    step: Step,
    deliveries: tuple[Delivery, ...],
    per_alert: tuple[AlertOutcome, ...] = (),
    conflicts: int = 0,
) -> str | None:
    """alerts/dt=D/model=NAME/HHMMSS-ID.json: payload, answers, each alert's fate; a failed write never
    hides the outcome."""
    import orjson

    from mlprom.errors import StorageError

    key = layout.alert_run_key(day, model, now)
    record = {
        "date": day.isoformat(),
        "sent_at": rfc3339(now),
        "payload": [a.payload() for a in step.send],
        "deliveries": [d.to_dict() for d in deliveries],
        "alerts": [o.to_dict() for o in per_alert],
        "state_conflicts": conflicts,
    }
    try:
        storage.put_bytes(key, orjson.dumps(record, option=orjson.OPT_INDENT_2))
    except StorageError as exc:
        log.warning("alert run not recorded: %s", exc)
        return None
    return key


__all__ = ["AlertRun", "AlertState", "build_alerts", "read_report", "run"]
