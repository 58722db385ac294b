"""The Typer app: parse flags, load config, call one stage, render its result, map errors to exit codes.

Nothing heavy is imported at module level, so `mlprom --help` stays as fast as Typer itself.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlprom import __version__

if TYPE_CHECKING:
    from mlprom.config import Config

log = logging.getLogger("mlprom")

app = typer.Typer(
    name="mlprom",
    help="When the model got slow or wrong, what was the infrastructure doing, and who needs to know?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PANEL_WHEN = "When"
PANEL_BEHAVIOUR = "Behaviour"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class FailOn(StrEnum):
    warning = "warning"
    critical = "critical"
    never = "never"


class Stage(StrEnum):
    model = "model"
    infra = "infra"
    reports = "reports"
    alerts = "alerts"


@dataclass
class Globals:
    config_path: str | None
    output: str | None
    verbose: bool
    quiet: bool

    def fmt(self) -> str:
        # Table everywhere by default (plain text when not a terminal); scripts ask for -o json.
        return self.output or "table"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlprom {__version__}")
        raise typer.Exit(0)


def _setup_logging(verbose: bool, quiet: bool) -> None:
    # -q: nothing on a clean run, but warnings and errors still reach stderr.
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s" if verbose else "%(message)s"))
    root = logging.getLogger("mlprom")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # urllib3 logs each retry at WARNING; our own message after the last retry says what failed.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose else logging.ERROR)


PANEL_GLOBAL = "Global options (also accepted before the command)"

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "-c",
        "--config",
        help="Config file (else $MLPROM_CONFIG, else ./mlprom.yaml, else defaults).",
        rich_help_panel=PANEL_GLOBAL,
    ),
]
OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "-o",
        "--output",
        help="Output format: table (default), json (stable, for scripts), markdown (for CI comments).",
        rich_help_panel=PANEL_GLOBAL,
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("-v", "--verbose", help="Debug logs on stderr.", rich_help_panel=PANEL_GLOBAL)
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "-q",
        "--quiet",
        help="Nothing at all on a clean run; warnings and errors still go to stderr.",
        rich_help_panel=PANEL_GLOBAL,
    ),
]

_GLOBAL_PARAMS = (
    ("global_config", ConfigOpt, None),
    ("global_output", OutputOpt, None),
    ("global_verbose", VerboseOpt, False),
    ("global_quiet", QuietOpt, False),
)


def global_options(command: Callable[..., None]) -> Callable[..., None]:
    """Let -c/-o/-v/-q follow the subcommand too: `mlprom alert --dry-run -o json` works like `mlprom -o json alert`.

    The command gets the options as extra keyword parameters; the wrapper folds them into ctx.obj (a value
    given after the subcommand wins over one given before it) and calls the command without them.
    """
    signature = inspect.signature(command, eval_str=True)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _GLOBAL_PARAMS
    ]
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    params += [p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        config = kwargs.pop("global_config", None)
        output = kwargs.pop("global_output", None)
        verbose = kwargs.pop("global_verbose", False)
        quiet = kwargs.pop("global_quiet", False)
        ctx: typer.Context = kwargs["ctx"]  # every command takes the context first
        g: Globals = ctx.obj if isinstance(ctx.obj, Globals) else Globals(None, None, False, False)
        g = Globals(
            config if config is not None else g.config_path,
            output.value if output is not None else g.output,
            verbose or g.verbose,
            quiet or g.quiet,
        )
        if verbose or quiet:
            _setup_logging(g.verbose, g.quiet)
        ctx.obj = g
        command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        **{name: annotation for name, annotation, _ in _GLOBAL_PARAMS},
    }
    return wrapper


@app.callback()
def main_options(
    ctx: typer.Context,
    config: ConfigOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """mlprom: one subcommand per pipeline stage, each on one UTC date partition."""
    _setup_logging(verbose, quiet)
    ctx.obj = Globals(config, output.value if output else None, verbose, quiet)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"mlprom: error: {message}", err=True)
    return typer.Exit(code)


def _run_stage(
    ctx: typer.Context,
    stage: str,
    body: Callable[[Config], Any],
    exit_code: Callable[[Any], int] = lambda _: 0,
) -> None:
    """Load config, run `body`, render its result, push a heartbeat, exit with the contract's code."""
    from mlprom.errors import MlpromError

    g: Globals = ctx.obj
    started = time.monotonic()
    try:
        from mlprom.config import load_config

        config = load_config(g.config_path)
        result = body(config)
        code = exit_code(result)
        # -q on a clean run prints nothing at all, not even the result: cron mails only when it matters.
        if result is not None and not (g.quiet and code == 0):
            from mlprom.render import render

            render(result, g.fmt())
    except MlpromError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    code = max(code, _heartbeat(config, stage, time.monotonic() - started, result, code))
    raise typer.Exit(code)


def _heartbeat(config: Config, stage: str, duration: float, result: Any, code: int) -> int:
    """Push the stage's heartbeat when pushgateway.url is set; its failure is exit 3 for an otherwise clean run."""
    if not config.pushgateway.url:
        return 0
    from mlprom.clients.pushgateway import push_heartbeat
    from mlprom.errors import UpstreamError

    extra = result.heartbeat() if hasattr(result, "heartbeat") else {}
    try:
        push_heartbeat(config, stage, duration, extra)
    except UpstreamError as exc:
        typer.echo(f"mlprom: warning: heartbeat not pushed: {exc}", err=True)
        return 3 if code == 0 else 0
    return 0


DateOpt = Annotated[
    str,
    typer.Option(
        "--date", help="UTC date partition: YYYY-MM-DD, today or yesterday.", rich_help_panel=PANEL_WHEN
    ),
]


@app.command("capture-infra")
@global_options
def capture_infra(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Evaluation time: RFC3339 or unix seconds (default now).", rich_help_panel=PANEL_WHEN
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date", help="Must match --at's UTC date when both are given.", rich_help_panel=PANEL_WHEN
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Archive history from this time (RFC3339 or unix seconds) instead of one snapshot.",
            rich_help_panel=PANEL_WHEN,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="End of the archived range (default now).", rich_help_panel=PANEL_WHEN),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            help="Resolution of the archived range (default correlate.step).",
            rich_help_panel=PANEL_WHEN,
        ),
    ] = None,
) -> None:
    """Run every configured PromQL query at one time and store one snapshot, or archive a range."""

    def body(config: Config) -> Any:
        from mlprom.dates import parse_date, parse_time
        from mlprom.errors import ConfigError
        from mlprom.stages import capture_infra as stage

        if start is not None or end is not None or step is not None:
            if start is None:
                raise ConfigError("--to and --step archive a range: give --from too")
            if at is not None or date is not None:
                raise ConfigError("--from/--to archive a range; --at and --date take one snapshot: not both")
            from mlprom.config import parse_duration

            try:
                seconds = config.correlate.step if step is None else parse_duration(step)
            except ValueError as exc:
                raise ConfigError(f"--step {step!r}: {exc}") from None
            if seconds < 1:
                raise ConfigError(f"--step {step!r}: must be at least 1s")

            def moment(flag: str, text: str | None) -> Any:
                try:
                    return parse_time(text)
                except ConfigError as exc:
                    raise ConfigError(str(exc).replace("--at", flag, 1)) from None

            begin, finish = moment("--from", start), moment("--to", end)
            if finish < begin:
                raise ConfigError(f"--to {end} is before --from {start}")
            return stage.run_range(config, stage.default_adapters(config), begin, finish, seconds)

        when = parse_time(at)
        if date is not None and parse_date(date) != when.date():
            raise ConfigError(f"--date {date} does not match --at {at} (UTC date {when.date()})")
        return stage.run(config, stage.default_adapters(config), when)

    _run_stage(ctx, "capture-infra", body, lambda r: getattr(r, "exit_code", 0))


@app.command("capture-model")
@global_options
def capture_model(
    ctx: typer.Context,
    input: Annotated[str, typer.Option("--input", help="CSV or JSON Lines file, local path or s3://.")],
    model_uri: Annotated[
        str | None, typer.Option("--model-uri", help="Any MLflow model URI (runs:/, models:/, a path).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="module:attr of a callable or an object with .predict.")
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option("--label-column", help="Column holding the true labels (enables quality metrics)."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per predict call.")] = 100,
    date: DateOpt = "today",
    sample_rate: Annotated[
        float | None,
        typer.Option(
            "--sample-rate",
            min=0.0,
            max=1.0,
            help="Share of fast batches recorded (default model.sample_rate).",
        ),
    ] = None,
    with_infra: Annotated[
        bool, typer.Option("--with-infra", help="Also snapshot Prometheus when a slow batch occurs.")
    ] = False,
) -> None:
    """Time a model's predictions, score them, record events and log one MLflow run."""

    def body(config: Config) -> Any:
        from mlprom.dates import parse_date
        from mlprom.errors import ConfigError
        from mlprom.stages import capture_model as stage

        if (model_uri is None) == (model is None):
            raise ConfigError("give exactly one of --model-uri and --model")
        return stage.run(
            config,
            input_path=input,
            model_uri=model_uri,
            model_ref=model,
            label_column=label_column,
            batch_size=batch_size,
            day=parse_date(date),
            sample_rate=sample_rate,
            with_infra=with_infra,
        )

    _run_stage(ctx, "capture-model", body, lambda r: getattr(r, "exit_code", 0))


@app.command("correlate")
@global_options
def correlate(
    ctx: typer.Context,
    date: DateOpt = "today",
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit 1 at or above this severity.", rich_help_panel=PANEL_BEHAVIOUR),
    ] = FailOn.critical,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="No data is exit 0, not 4.", rich_help_panel=PANEL_BEHAVIOUR)
    ] = False,
    all_suspects: Annotated[
        bool,
        typer.Option(
            "--all-suspects",
            help="List every suspect tested, not only the significant ones (table, markdown).",
            rich_help_panel=PANEL_BEHAVIOUR,
        ),
    ] = False,
) -> None:
    """Join the date's events to infra values, evaluate thresholds, test suspects, write the report."""

    def body(config: Config) -> Any:
        from dataclasses import replace

        from mlprom.dates import parse_date
        from mlprom.stages import correlate as stage

        report = stage.run(config, parse_date(date), allow_empty=allow_empty)
        return replace(report, all_suspects=True) if all_suspects else report

    def code(report: Any) -> int:
        rank = {"ok": 0, "no_data": 0, "no_infra": 0, "warning": 1, "critical": 2}
        # History asked for (correlate.infra_source: prometheus) and not had: a partial failure.
        partial = 3 if report.partial_failure else 0
        if fail_on is FailOn.never:
            return partial
        needed = 1 if fail_on is FailOn.warning else 2
        return max(partial, 1 if rank.get(report.status, 0) >= needed else 0)

    _run_stage(ctx, "correlate", body, code)


@app.command("alert")
@global_options
def alert(
    ctx: typer.Context,
    date: DateOpt = "today",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the exact payload; send nothing.", rich_help_panel=PANEL_BEHAVIOUR
        ),
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="No report is exit 0, not 4.", rich_help_panel=PANEL_BEHAVIOUR),
    ] = False,
) -> None:
    """Send the date's findings to Alertmanager (API v2) and resolve the ones that cleared."""

    def body(config: Config) -> Any:
        from mlprom.dates import parse_date
        from mlprom.stages import alert as stage

        return stage.run(config, parse_date(date), dry_run=dry_run, allow_empty=allow_empty)

    _run_stage(ctx, "alert", body, lambda r: getattr(r, "exit_code", 0))


@app.command("prune")
@global_options
def prune(
    ctx: typer.Context,
    keep_days: Annotated[int, typer.Option("--keep-days", help="Keep this many days (>= 1), delete older.")],
    stage_filter: Annotated[
        list[Stage] | None, typer.Option("--stage", help="Limit to these stages (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal).")
    ] = False,
) -> None:
    """Delete whole date partitions older than --keep-days."""

    def body(config: Config) -> Any:
        from mlprom.stages import prune as stage

        def confirm(summary: str) -> bool:
            if yes or dry_run:
                return True
            if not sys.stdin.isatty():
                from mlprom.errors import ConfigError

                raise ConfigError("prune needs --yes when there is no terminal to ask on")
            return typer.confirm(summary, default=False, err=True)

        stages = [s.value for s in stage_filter] if stage_filter else None
        return stage.run(config, keep_days=keep_days, stages=stages, dry_run=dry_run, confirm=confirm)

    _run_stage(ctx, "prune", body, lambda r: getattr(r, "exit_code", 0))


@app.command("check")
@global_options
def check(ctx: typer.Context) -> None:
    """Validate the config and reach every configured endpoint; one line each."""

    def body(config: Config) -> Any:
        from mlprom.stages import check as stage

        return stage.run(config)

    _run_stage(ctx, "check", body, lambda r: 0 if r.ok else 3)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
