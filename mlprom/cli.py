"""The Typer app: parse flags, load config, call one stage, render its result, map errors to exit codes.

Nothing heavy is imported at module level, so `mlprom --help` stays as fast as Typer itself.
"""

from __future__ import annotations

import os
import sys

if os.path.basename(sys.argv[0]) == "mlprom" and __name__ == "mlprom.cli":
    # The console script imports this module before calling main(): handle signals from here on.
    from mlprom.runtime import startup as _startup

    _startup.install()

import functools
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlprom import __version__

if TYPE_CHECKING:
    from mlprom.config import Config
    from mlprom.reports.results import StageResult
    from mlprom.stages.fleet import Shared

log = logging.getLogger("mlprom")


class _FlagsTakeNoValue:
    """Help lists a flag (--dry-run, --help) without a value type: Typer would print <bool> after it."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_FlagsTakeNoValue, typer.core.TyperCommand):
    pass


class _Group(_FlagsTakeNoValue, typer.core.TyperGroup):
    pass


EXIT_CODES = (
    "Exit codes: 0 done; 1 findings at or above --fail-on (correlate), no Alertmanager accepted (alert); "
    "2 usage, config or input error; 3 an upstream unreachable or failing, or a partial failure (a "
    "heartbeat not pushed, a query refused); 4 no data; 130 interrupted; 143 terminated. Several models "
    "(--model repeated, --all-models): the worst of theirs, 3 > 2 > 1 > 4 > 0."
)


def _epilog(example: str, codes: str) -> str:
    return f"Example: {example}\n\nExit: {codes}"


app = typer.Typer(
    name="mlprom",
    cls=_Group,
    help="When the model got slow or wrong, what was the infrastructure doing, and who needs to know?",
    epilog=EXIT_CODES + "\n\nShell completion: mlprom --install-completion (bash, zsh, fish, PowerShell).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PANEL_WHEN = "When"
PANEL_MODEL = "Model: exactly one of --model-uri and --model (mutually exclusive)"
PANEL_BEHAVIOUR = "Behaviour"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"  # correlate and report only


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


# Libraries whose INFO and WARNING lines (and Python warnings, as py.warnings) reach stderr only with -v:
# mlprom's own message says what failed, and cron mails must not fill with a library's chatter.
LIBRARY_LOGGERS = ("urllib3", "botocore", "boto3", "s3transfer", "mlflow", "alembic", "git", "py.warnings")


class _SafeFormatter(logging.Formatter):
    """Log lines never carry a secret (URL userinfo, tokens) or a terminal control sequence from data."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        from mlprom.redact import redact_text
        from mlprom.render.literal import literal

        return "\n".join(literal(line) for line in redact_text(super().formatMessage(record)).split("\n"))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        from mlprom.redact import redact_text

        return redact_text(super().formatException(ei))


def _setup_logging(verbose: bool, quiet: bool) -> None:
    # -q: nothing on a clean run, but warnings and errors still reach stderr.
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(message)s" if verbose else "%(message)s"))
    root = logging.getLogger("mlprom")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.setLevel(logging.DEBUG if verbose else logging.ERROR)
        if name == "py.warnings":
            library.handlers[:] = [handler]
            library.propagate = False
    import os

    # MLflow sets its own logger up when imported (later, inside a stage): tell it the level now, and
    # keep its artifact download bars off unless someone watches a terminal.
    os.environ["MLFLOW_LOGGING_LEVEL"] = "DEBUG" if verbose else "ERROR"
    if quiet or not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


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
        help="Output format: table (default), json (stable, for scripts), markdown (for CI comments), "
        "html (correlate and report: one self-contained page).",
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


def _line(text: str) -> str:
    """One line for stderr: no secret, no control character, no line break, bounded length."""
    from mlprom.redact import redact_text
    from mlprom.render.literal import literal

    shown = literal(redact_text(text))
    return shown if len(shown) <= 2000 else shown[:2000] + "..."


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"mlprom: error: {_line(message)}", err=True)
    return typer.Exit(code)


# The only exit codes mlprom ever returns (CONTRACT.md plus 130/143 for signals; docs/reliability.md).
CONTRACT_EXIT_CODES = frozenset({0, 1, 2, 3, 4, 130, 143})
# An exception nothing anticipated: a bug, most likely met on input no check refused yet. Exit 2 (not
# 1, which means findings; not 3, which sends people to look at upstreams) so cron mails and nobody retries.
INTERNAL_ERROR_EXIT = 2
HTML_STAGES = ("correlate", "report")


@dataclass(frozen=True)
class _Output:
    fmt: str
    out: str | None = None
    assets: str | None = None


@dataclass(frozen=True)
class _Fleet:
    """--model/--all-models/--jobs of a command that runs per model; `days` gives the dates whose
    `stages` partitions --all-models lists (a function: a bad --date is reported as every error is)."""

    models: tuple[str, ...]
    all_models: bool
    jobs: int | None
    stages: tuple[str, ...]
    days: Callable[[], list[Any]]
    allow_empty: bool = False
    # The stage's run given the fleet run's shared values (correlate: the date's infra, read once).
    shared_body: Callable[[Config, Shared], StageResult] | None = None

    @property
    def single(self) -> str | None:
        """One --model and no --all-models: the command's usual run and output, for that model."""
        return self.models[0] if len(set(self.models)) == 1 and not self.all_models else None

    @property
    def many(self) -> bool:
        return self.all_models or len(set(self.models)) > 1


def _run_stage(
    ctx: typer.Context,
    stage: str,
    body: Callable[[Config], StageResult],
    *,
    assets: str | None = None,
    out: str | None = None,
    fmt: str | None = None,
    heartbeat: bool = True,
    fleet: _Fleet | None = None,
) -> None:
    """Load config, run `body`, render its result, push a heartbeat, exit with the result's `exit_code`.

    `out` writes the rendered result to that file (atomically) instead of stdout (`report` with several
    models: one file per model in that directory); `assets` is the directory for the PNG that
    `-o markdown` links to; `fmt` overrides the global -o.
    SIGTERM/SIGINT end the run with 143/130 and one line on stderr, after the stage saved what it
    measured; `heartbeat=False` (dry runs) pushes nothing, since a dry run is not the job being done.
    `fleet` runs `body` once per model instead (stages/fleet.py) and prints one summary line each.
    """
    from mlprom.runtime import interrupts

    g: Globals = ctx.obj
    fmt = fmt or g.fmt()
    # Refused before anything runs: a capture must not be taken only to fail at rendering.
    if fmt == "html" and stage not in HTML_STAGES:
        raise _fail(f"-o html is for correlate and report only; {stage} prints table, json or markdown", 2)
    if fleet is not None and fleet.many:
        _check_fleet_output(stage, _Output(fmt, out, assets))
    if assets is not None and fmt != "markdown":
        raise _fail("--assets goes with -o markdown (the markdown links the picture it writes there)", 2)
    if assets is not None:
        from mlprom.errors import ConfigError, require_extra

        try:
            require_extra(("matplotlib",), "assets", "--assets (the timeline PNG)")
        except ConfigError as err:
            raise _fail(str(err), 2) from None
    started = time.monotonic()
    with interrupts.handling():
        code = _guarded(g, stage, body, heartbeat, started, _Output(fmt, out, assets), fleet)
    raise typer.Exit(code)


def _check_fleet_output(stage: str, output: _Output) -> None:
    """Several models print one summary line each: `report --out DIR` also writes a file per model into
    an existing directory; otherwise -o html, --out and --assets (one model's page) are exit 2."""
    if stage == "report" and output.out is not None:
        from mlprom.errors import InputError
        from mlprom.render.directory import check_directory

        try:
            check_directory(output.out, output.fmt)
        except InputError as err:
            raise _fail(str(err), 2) from None
        return
    if output.fmt == "html" or output.out is not None or output.assets is not None:
        if stage == "report":
            raise _fail(
                "report with several models prints one summary line per model: -o html and --assets "
                "write files, so give --out DIR (one file per model) or one --model",
                2,
            )
        raise _fail(
            f"{stage} with several models prints one summary line per model: -o html, --out and --assets "
            "render one model's report (give one --model)",
            2,
        )


def _interrupted_line(signum: int, detail: str = "") -> int:
    import signal

    from mlprom.runtime import interrupts

    name = signal.Signals(signum).name
    interrupts.told()  # before the line: a copy of the signal handled while it is written stays silent
    typer.echo(f"mlprom: interrupted by {name}" + (f": {_line(detail)}" if detail else ""), err=True)
    return 128 + signum


def _guarded(
    g: Globals,
    stage: str,
    body: Callable[[Config], StageResult],
    heartbeat: bool,
    started: float,
    output: _Output,
    fleet: _Fleet | None = None,
) -> int:
    from mlprom.errors import Interrupted, MlpromError
    from mlprom.runtime import interrupts

    try:
        from mlprom.config import load_config

        config = load_config(g.config_path)
        if fleet is not None:
            fleet = _checked_models(fleet)
        if fleet is not None and fleet.many:
            return _run_fleet(g, stage, body, heartbeat, config, fleet, output)
        if fleet is not None and fleet.single is not None:
            config = config.for_model(fleet.single)
        result = body(config)
        code = result.exit_code
        if output.out is not None:
            from mlprom.render import render_text, write_atomically

            # A file asked for is written even with -q: it is the result, not chatter.
            text = render_text(result, output.fmt, config=config, assets=output.assets, out=output.out)
            write_atomically(output.out, text)
            log.info("wrote %s (%s)", output.out, output.fmt)
        # -q on a clean run prints nothing at all, not even the result: cron mails only when it matters.
        elif not (g.quiet and code == 0):
            from mlprom.render import render

            render(result, output.fmt, config=config, assets=output.assets)
        if heartbeat and interrupts.received() is None:
            code = max(code, _heartbeat(config, stage, time.monotonic() - started, result, code))
    except Interrupted as exc:
        return _interrupted_line(exc.signum, exc.detail)
    except KeyboardInterrupt:
        # Raised by code itself (our SIGINT handler raises Interrupted): still an interrupt for the caller.
        import signal

        return _interrupted_line(interrupts.received() or signal.SIGINT)
    except MlpromError as exc:
        if interrupts.received() is not None:
            return _interrupted_line(interrupts.received() or 0, str(exc))
        typer.echo(f"mlprom: error: {_line(str(exc))}", err=True)
        return exc.exit_code
    except (Exception, SystemExit, GeneratorExit) as exc:  # noqa: BLE001 - the last resort: never a traceback
        if interrupts.received() is not None:
            return _interrupted_line(interrupts.received() or 0)
        log.debug("internal error", exc_info=True)
        what = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        typer.echo(
            f"mlprom: error: internal error in {stage}: {_line(what)} (a bug: -v shows where; nothing half-written)",
            err=True,
        )
        return INTERNAL_ERROR_EXIT
    signum = interrupts.received()
    if signum is not None:
        # The stage finished and its output is complete, but the process was asked to stop: say so.
        return _interrupted_line(signum, "after the work was done and stored")
    return code


def _heartbeat(config: Config, stage: str, duration: float, result: StageResult, code: int) -> int:
    """Push the stage's heartbeat when pushgateway.url is set; its failure is exit 3 for an otherwise clean run.

    Partial failures (exit 3 with the work stored) are counted in mlprom_partial_failures.
    """
    if not config.pushgateway.url or result.pushgateway_down:
        return 0
    from mlprom.clients.pushgateway import push_heartbeat
    from mlprom.errors import MlpromError

    extra = dict(result.heartbeat())
    extra["mlprom_partial_failures"] = float(result.partial_failures)
    try:
        push_heartbeat(config, stage, duration, extra)
    except MlpromError as exc:
        typer.echo(f"mlprom: warning: heartbeat not pushed: {_line(str(exc))}", err=True)
        return 3 if code == 0 else 0
    return 0


def _checked_models(fleet: _Fleet) -> _Fleet:
    """The --model values each once, in the order given; a value that is not a model name is exit 2."""
    from dataclasses import replace

    from mlprom.errors import ConfigError
    from mlprom.stages.fleet import selected_models

    try:
        return replace(fleet, models=tuple(selected_models(fleet.models)))
    except ValueError as exc:
        raise ConfigError(f"--model: {exc}") from None


def _run_fleet(
    g: Globals,
    stage: str,
    body: Callable[[Config], StageResult],
    heartbeat: bool,
    config: Config,
    fleet: _Fleet,
    output: _Output,
) -> int:
    """`body` for each model (stages/fleet.py), each with its own heartbeat and, with `output.out` (a
    directory), its own file; one summary line per model and one error line per failed model; the exit
    code is the worst by FLEET_EXIT_ORDER."""
    from mlprom.errors import NoDataError
    from mlprom.render import render
    from mlprom.runtime import interrupts
    from mlprom.stages import fleet as runner

    models = list(fleet.models)
    days = fleet.days()
    if fleet.all_models:
        from mlprom.storage import open_storage

        found = runner.models_with_data(open_storage(config), fleet.stages, days)
        models = found + [m for m in models if m not in found]
    if not models:
        when = f"{days[0]}" + (f" to {days[-1]}" if len(days) > 1 else "")
        where = " or ".join(f"{part}/dt=D/model=NAME/" for part in fleet.stages)
        if not fleet.allow_empty:
            raise NoDataError(f"--all-models: no model has data for {when} ({where})")
        log.info("--all-models: no model has data for %s (%s)", when, where)

    def after(own: Config, result: StageResult, seconds: float) -> int:
        if not heartbeat or interrupts.received() is not None:
            return 0
        return _heartbeat(own, stage, seconds, result, result.exit_code)

    work = fleet.shared_body or (lambda own, _shared: body(own))
    jobs = fleet.jobs or runner.default_jobs(stage)
    publish = None if output.out is None else _publisher(output.out, output)
    outcome = runner.run(config, stage, models, work, jobs=jobs, after=after, publish=publish)
    for member in outcome.members:
        if member.error is not None:
            typer.echo(f"mlprom: error: model {member.model}: {_line(member.error)}", err=True)
    code = outcome.exit_code
    if models and not (g.quiet and code == 0):
        # The pages are in their files (`report --out DIR -o html`); stdout has the summary lines.
        render(outcome, "table" if g.fmt() == "html" else g.fmt(), config=config)
    return code


def _publisher(directory: str, output: _Output) -> Callable[[str, Config, StageResult], str]:
    """`report --out DIR` with several models: each model's result into DIR/<model>.<ext>."""

    def publish(model: str, own: Config, result: StageResult) -> str:
        from mlprom.render.directory import write_model_report

        return write_model_report(directory, model, result, output.fmt, config=own, assets=output.assets)

    return publish


DateOpt = Annotated[
    str,
    typer.Option(
        "--date", help="UTC date partition: YYYY-MM-DD, today or yesterday.", rich_help_panel=PANEL_WHEN
    ),
]
AssetsOpt = Annotated[
    str | None,
    typer.Option(
        "--assets",
        help="With -o markdown: write a PNG of the timeline into this directory and link it.",
        rich_help_panel=PANEL_BEHAVIOUR,
    ),
]

PANEL_FLEET = "Models (default: the config's model.name)"
ModelsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        metavar="NAME",
        help="Run for this model, with its models: overrides (repeatable; two or more: one summary line each).",
        rich_help_panel=PANEL_FLEET,
    ),
]
AllModelsOpt = Annotated[
    bool,
    typer.Option(
        "--all-models",
        help="Run for every model with data for the date (and any --model besides); one summary line each.",
        rich_help_panel=PANEL_FLEET,
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        min=1,
        max=64,
        help="Models run at once, in threads (default: 1 for correlate, CPU-bound; else min(4, CPUs)).",
        rich_help_panel=PANEL_FLEET,
    ),
]


def _on_date(date: str) -> Callable[[], list[Any]]:
    def days() -> list[Any]:
        from mlprom.dates import parse_date

        return [parse_date(date)]

    return days


@app.command(
    "capture-infra",
    cls=_Command,
    epilog=_epilog(
        "mlprom capture-infra --at 2026-11-24T10:00:00Z",
        "0 stored; 2 bad --at/--date or config; 3 Prometheus unreachable or every query failed, or some "
        "query refused (the others stored); 4 no query returned a series at that time (nothing stored).",
    ),
)
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

    def body(config: Config) -> StageResult:
        from mlprom.dates import parse_date, parse_time
        from mlprom.errors import ConfigError
        from mlprom.stages import capture_infra as stage

        if start is not None or end is not None or step is not None:
            if start is None:
                raise ConfigError("--to and --step archive a range: give --from too")
            if at is not None or date is not None:
                raise ConfigError("--from/--to archive a range; --at and --date take one snapshot: not both")
            from mlprom.config import parse_duration

            if step is None:  # correlate.step, resolved as correlate resolves it (auto: the targets)
                from mlprom.infra.resolution import resolve_step

                seconds = resolve_step(config).step_seconds
            else:
                try:
                    seconds = parse_duration(step)
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

    # A query Prometheus refused while others answered: the snapshot is stored, and exit 3 says so.
    _run_stage(ctx, "capture-infra", body)


@app.command(
    "capture-model",
    cls=_Command,
    epilog=_epilog(
        "mlprom capture-model --model-uri models:/churn@champion --input s3://bucket/today.csv "
        "--label-column churned",
        "0 done; 2 bad input, model or config; 3 MLflow or storage failing, or a --with-infra snapshot "
        "failed; 130/143 interrupted (events so far are kept, the run is marked so).",
    ),
)
@global_options
def capture_model(
    ctx: typer.Context,
    input: Annotated[str, typer.Option("--input", help="CSV or JSON Lines file, local path or s3://.")],
    model_uri: Annotated[
        str | None,
        typer.Option(
            "--model-uri",
            help="Any MLflow model URI (runs:/, models:/NAME/N, models:/NAME@ALIAS, a path). Not with --model.",
            rich_help_panel=PANEL_MODEL,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="module:attr of a callable or an object with .predict. Not with --model-uri.",
            rich_help_panel=PANEL_MODEL,
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option("--label-column", help="Column holding the true labels (enables quality metrics)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per predict call (at most 10,000,000).")
    ] = 100,
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

    def body(config: Config) -> StageResult:
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

    _run_stage(ctx, "capture-model", body)


@app.command(
    "correlate",
    cls=_Command,
    epilog=_epilog(
        "mlprom correlate --date yesterday --fail-on warning -o json",
        "0 nothing at or above --fail-on; 1 findings at or above it; 2 usage or config; 3 storage failing; "
        "4 no events and no snapshots for the date (0 with --allow-empty).",
    ),
)
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
    assets: AssetsOpt = None,
    all_suspects: Annotated[
        bool,
        typer.Option(
            "--all-suspects",
            help="List every suspect tested, not only the significant ones (table, markdown).",
            rich_help_panel=PANEL_BEHAVIOUR,
        ),
    ] = False,
    models: ModelsOpt = None,
    all_models: AllModelsOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Join the date's events to infra values, evaluate thresholds, test suspects, write the report."""

    def body(config: Config, shared: Shared | None = None) -> StageResult:
        from dataclasses import replace

        from mlprom.dates import parse_date
        from mlprom.stages import correlate as stage

        report = stage.run(config, parse_date(date), allow_empty=allow_empty, shared=shared)
        return replace(report, all_suspects=all_suspects, fail_on=fail_on.value)

    fleet = _Fleet(tuple(models or ()), all_models, jobs, ("model",), _on_date(date), allow_empty, body)
    _run_stage(ctx, "correlate", body, assets=assets, fleet=fleet)


_OUT_SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".json": "json"}


@app.command(
    "report",
    cls=_Command,
    epilog=_epilog(
        "mlprom report --date yesterday --out report.html",
        "0 rendered; 2 usage, config, or --out/--assets not writable; 4 no readable report for the date.",
    ),
)
@global_options
def report(
    ctx: typer.Context,
    date: DateOpt = "today",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Write to this file (atomically) instead of stdout. Without -o, .html/.md/.json pick the "
            "format. With several models: an existing directory, one file per model (MODEL.html, .md or "
            ".json; html without -o); stdout keeps the summary lines.",
            rich_help_panel=PANEL_BEHAVIOUR,
        ),
    ] = None,
    assets: AssetsOpt = None,
    models: ModelsOpt = None,
    all_models: AllModelsOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Render the date's stored report again (html, markdown, json or table) without recomputing it."""
    import os

    g: Globals = ctx.obj
    fleet = _Fleet(tuple(models or ()), all_models, jobs, ("model", "reports"), _on_date(date))
    if fleet.many and out is not None:
        fmt = g.output or "html"  # a directory has no suffix to tell
    else:
        fmt = g.output or (_OUT_SUFFIXES.get(os.path.splitext(out)[1].lower()) if out else None) or "table"

    def body(config: Config) -> StageResult:
        from mlprom.dates import parse_date
        from mlprom.stages import report as stage

        return stage.run(config, parse_date(date))

    # A reader, not a pipeline stage: it pushes no heartbeat.
    _run_stage(ctx, "report", body, assets=assets, out=out, fmt=fmt, heartbeat=False, fleet=fleet)


@app.command(
    "alert",
    cls=_Command,
    epilog=_epilog(
        "mlprom alert --date today --dry-run -o json",
        "0 sent (or nothing to send, or --dry-run); 1 no Alertmanager accepted; 2 usage or config; "
        "3 none reachable; 4 no report for the date (0 with --allow-empty).",
    ),
)
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
    models: ModelsOpt = None,
    all_models: AllModelsOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Send the date's findings to Alertmanager (API v2) and resolve the ones that cleared."""

    def body(config: Config) -> StageResult:
        from mlprom.dates import parse_date
        from mlprom.stages import alert as stage

        return stage.run(config, parse_date(date), dry_run=dry_run, allow_empty=allow_empty)

    # A dry run's heartbeat would tell the staleness alert that a dead alerting cron is alive.
    fleet = _Fleet(tuple(models or ()), all_models, jobs, ("model", "reports"), _on_date(date), allow_empty)
    _run_stage(ctx, "alert", body, heartbeat=not dry_run, fleet=fleet)


@app.command(
    "prune",
    cls=_Command,
    epilog=_epilog(
        "mlprom prune --keep-days 30 --dry-run",
        "0 done, declined or dry run; 2 usage (no --yes without a terminal); 3 storage refused some keys "
        "or an alert state (alerts/model=NAME/state.json) is unreadable.",
    ),
)
@global_options
def prune(
    ctx: typer.Context,
    keep_days: Annotated[
        int,
        typer.Option("--keep-days", help="Keep this many days (1 to 36500), delete older."),
    ],
    stage_filter: Annotated[
        list[Stage] | None, typer.Option("--stage", help="Limit to these stages (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal).")
    ] = False,
) -> None:
    """Delete whole date partitions older than --keep-days."""

    def body(config: Config) -> StageResult:
        from mlprom.stages import prune as stage

        def confirm(summary: str) -> bool:
            if yes or dry_run:
                return True
            if not sys.stdin.isatty():
                from mlprom.errors import ConfigError

                raise ConfigError("prune needs --yes when there is no terminal to ask on")
            return typer.confirm(summary, default=False, err=True)

        stages = [s.value for s in stage_filter] if stage_filter else None
        quiet = isinstance(ctx.obj, Globals) and ctx.obj.quiet
        return stage.run(
            config,
            keep_days=keep_days,
            stages=stages,
            dry_run=dry_run,
            confirm=confirm,
            progress=False if quiet else None,  # -q: no progress bar, even on a terminal
        )

    _run_stage(ctx, "prune", body, heartbeat=not dry_run)


@app.command(
    "profile",
    cls=_Command,
    epilog=_epilog(
        "mlprom profile --from 2026-10-26 --to 2026-11-24 -o json",
        "0 done; 2 a bad date range; 3 storage failing; 4 no date in the range has a profile "
        "(0 with --allow-empty).",
    ),
)
@global_options
def profile(
    ctx: typer.Context,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First date of history: YYYY-MM-DD, today or yesterday (default 4 weeks up to --to).",
            rich_help_panel=PANEL_WHEN,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last date of history (default yesterday).", rich_help_panel=PANEL_WHEN),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="No profile in the range is exit 0, not 4.", rich_help_panel=PANEL_BEHAVIOUR
        ),
    ] = False,
    models: ModelsOpt = None,
    all_models: AllModelsOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Peak hours per UTC hour from stored reports, and a forecast of next week's peak hours."""

    def body(config: Config) -> StageResult:
        from mlprom.stages import profile as stage

        first, last = stage.parse_range(start, end)
        return stage.run(config, first, last, allow_empty=allow_empty)

    def days() -> list[Any]:
        from datetime import timedelta

        from mlprom.stages import profile as stage

        first, last = stage.parse_range(start, end)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    # --all-models: the models with a report in the range, what profile reads.
    fleet = _Fleet(tuple(models or ()), all_models, jobs, ("reports",), days, allow_empty)
    _run_stage(ctx, "profile", body, fleet=fleet)


@app.command(
    "check",
    cls=_Command,
    epilog=_epilog(
        "mlprom check -c /etc/mlprom.yaml",
        "0 all reachable and every query parses; 2 invalid config or a query that does not parse "
        "(named); 3 an endpoint unreachable or failing.",
    ),
)
@global_options
def check(ctx: typer.Context) -> None:
    """Validate the config and reach every configured endpoint; one line each."""

    def body(config: Config) -> StageResult:
        from mlprom.stages import check as stage

        return stage.run(config)

    _run_stage(ctx, "check", body)


@app.command(
    "rules",
    cls=_Command,
    epilog=_epilog(
        "mlprom rules > mlprom.rules.yml && promtool check rules mlprom.rules.yml",
        "0 printed; 2 invalid config.",
    ),
)
@global_options
def rules(ctx: typer.Context) -> None:
    """Print a Prometheus rule file for the configured query thresholds (and recording rules for the queries)."""

    def body(config: Config) -> StageResult:
        from mlprom.stages.rules import build_rules

        return build_rules(config)

    # Printing a file is not a pipeline stage: no heartbeat.
    _run_stage(ctx, "rules", body, heartbeat=False)


class Example(StrEnum):
    config = "config"
    dashboard = "dashboard"


# Shipped in the package (mlprom/examples/), copies of the files the docs show at the project's root.
EXAMPLE_FILES = {"config": "thresholds.example.yaml", "dashboard": "mlprom-dashboard.json"}


@app.command(
    "example",
    cls=_Command,
    epilog=_epilog("mlprom example config > mlprom.yaml", "0 printed; 2 an unknown example."),
)
@global_options
def example(
    ctx: typer.Context,
    name: Annotated[
        Example,
        typer.Argument(
            help="config: every config key with a comment (thresholds.example.yaml); "
            "dashboard: the Grafana dashboard for what Monitor exports (JSON, to import)."
        ),
    ],
) -> None:
    """Print an example shipped with mlprom, as it is (whatever -o): the commented config or the dashboard."""
    from importlib.resources import files

    text = files("mlprom").joinpath("examples", EXAMPLE_FILES[name.value]).read_text(encoding="utf-8")
    if not ctx.obj.quiet:  # -q: a clean run prints nothing
        sys.stdout.write(text)
        sys.stdout.flush()


_final_code: int | None = None


def _end_process() -> None:
    """An exit handler of the console script: end the process once the run's own exit handlers have run.

    Python's own finalization, which follows, puts the default signal handlers back and then tears
    modules down for a good fraction of a second with mlflow and pandas loaded: a SIGTERM there would
    kill the process instead of it exiting with its code. Nothing is left to do by then but free memory.
    """
    if _final_code is None:
        return
    logging.shutdown()  # registered at `import logging`, before this one: it would run after
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can reach it
    os._exit(_final_code)


def _run_app() -> int:
    """The Typer app, with a usage error (an unknown command or option, a bad choice) as one line naming the
    culprit and exit 2, as every other error reads, instead of a boxed panel; no arguments at all still
    print the help."""
    from typer.main import get_command

    # Click's base exception, whether Typer vendors Click (0.20 and newer) or uses the package.
    click_exception: type[Any] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = get_command(app).main(prog_name="mlprom", standalone_mode=False)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except click_exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # the help itself
        else:
            message = exc.format_message().replace("Value error, ", "").rstrip(".")
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
            sys.stderr.write(f"mlprom: error: {message[:1].lower()}{message[1:]}{hint}\n")
        return int(exc.exit_code)
    return code if isinstance(code, int) else 0


def main() -> None:
    """The console script: signals outside a stage (while parsing flags or importing) end the run cleanly too."""
    global _final_code
    import atexit

    from mlprom.errors import Interrupted
    from mlprom.runtime import interrupts

    # Registered before any stage runs, so it runs after the exit handlers the run registers (MLflow's).
    atexit.register(_end_process)
    try:
        with interrupts.handling(restore=False):
            try:
                sys.exit(_run_app())
            except Interrupted as exc:
                sys.exit(_interrupted_line(exc.signum))
            except KeyboardInterrupt:
                import signal

                sys.exit(_interrupted_line(signal.SIGINT))
            finally:
                interrupts.exiting()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code in (130, 143):
            # Asked to stop, and what was measured is saved: do not wait at exit for requests still in
            # flight in worker threads (up to their deadline); end now, after the output is out.
            _final_code = code
            _end_process()
        _final_code = code
        raise


if __name__ == "__main__":
    main()
