"""deploy/: the Kubernetes manifests read by the official client's API models (an unknown or misspelled
field fails), the policy they promise (Forbid, deadlines that fit the config's timeouts, non-root,
read-only root filesystem, credentials as files), every container's arguments parsed by mlprom's own
CLI, the ConfigMap's config loaded by mlprom's loader, and the Dockerfile read statically (no container
runtime in the suite): lean install, non-root, ENTRYPOINT, and its wheel step run on the files it copies."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from kubernetes.client import ApiClient  # the test extra installs it

from mlprom.cli import app
from mlprom.config import load_config

# Typer carries its own click: its usage error, found the way mlprom/cli.py finds ClickException
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
MANIFESTS = sorted(KUBE.glob("*.yaml"))
FLEET = sorted((KUBE / "fleet").glob("*.yaml"))
SECRET = sorted((KUBE / "secret").glob("*.yaml"))
KINDS = {
    "CronJob": "V1CronJob",
    "ConfigMap": "V1ConfigMap",
    "Secret": "V1Secret",
    "ServiceAccount": "V1ServiceAccount",
}
MAX_PARALLEL_QUERIES = 8  # capture-infra's queries in flight (docs/reliability.md)
STARTUP_SECONDS = 2  # interpreter and imports before the first request, measured about 1 s
PERIOD_SECONDS = {"* * * * *": 60, "*/5 * * * *": 300, "5 0 * * *": 86400, "30 3 * * *": 86400}


def documents(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def by_kind(kind: str, paths: list[Path] = MANIFESTS) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents(paths) if doc["kind"] == kind}


def pod_specs(paths: list[Path] = MANIFESTS + FLEET) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for path, doc in documents(paths)
        if doc["kind"] == "CronJob"
    ]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _differences(given: Any, kept: Any, where: str = "") -> list[str]:
    """Where the client's re-serialized object differs from the YAML: a dropped key is a field the API
    model does not know (the client drops it silently), a changed value one it typed otherwise."""
    if isinstance(given, dict) and isinstance(kept, dict):
        out = [f"{where}.{k}: unknown field" for k in given if k not in kept]
        return out + [d for k in given if k in kept for d in _differences(given[k], kept[k], f"{where}.{k}")]
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            d
            for i, (a, b) in enumerate(zip(given, kept, strict=True))
            for d in _differences(a, b, f"{where}[{i}]")
        ]
    return [] if given == kept else [f"{where}: {given!r} read as {kept!r}"]


@pytest.mark.parametrize("path", MANIFESTS + SECRET + FLEET, ids=lambda p: str(p.relative_to(KUBE)))
def test_every_document_is_exactly_an_api_object_the_client_knows(path: Path) -> None:
    client = ApiClient()
    docs = documents([path])
    assert docs, path
    for _, doc in docs:
        assert doc["kind"] in KINDS, f"{path.name}: kind {doc['kind']}"
        # The client's deserializer is private; it is the one its API calls use on every answer.
        model = client._ApiClient__deserialize(json.loads(json.dumps(doc)), KINDS[doc["kind"]])
        assert _differences(doc, client.sanitize_for_serialization(model)) == [], path.name


def test_the_check_catches_a_misspelled_field() -> None:
    client = ApiClient()
    (doc,) = by_kind("CronJob", [KUBE / "cronjob-capture-infra.yaml"]).values()
    doc["spec"]["concurrencyPolicyy"] = doc["spec"].pop("concurrencyPolicy")
    doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    model = client._ApiClient__deserialize(doc, "V1CronJob")
    assert set(_differences(doc, client.sanitize_for_serialization(model))) == {
        ".spec.concurrencyPolicyy: unknown field",
        ".spec.jobTemplate.spec.template.spec.containers[0].securityContex: unknown field",
    }


def test_applying_the_directory_never_replaces_the_credentials() -> None:
    assert by_kind("Secret") == {}, "kubectl apply -f deploy/kubernetes/ would overwrite the real Secret"
    assert set(by_kind("Secret", SECRET)) == {"mlprom-credentials"}


def test_the_fleet_variants_are_the_cronjobs_of_the_same_name_over_every_model() -> None:
    """Applying deploy/kubernetes/fleet/ replaces those CronJobs; only --all-models differs."""
    fleet, single = by_kind("CronJob", FLEET), by_kind("CronJob")
    assert set(fleet) == {"mlprom-correlate-alert", "mlprom-correlate-closeout"}
    for name, job in fleet.items():
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for container in containers(pod):
            assert container["args"].count("--all-models") == 1, (name, container["name"])
            container["args"].remove("--all-models")
        assert job == single[name], name


def test_there_is_a_cronjob_for_each_pipeline_step_on_its_schedule() -> None:
    jobs = by_kind("CronJob")
    schedules = {name: (job["spec"]["schedule"], job["spec"].get("timeZone")) for name, job in jobs.items()}
    assert schedules == {
        "mlprom-capture-infra": ("* * * * *", "Etc/UTC"),
        "mlprom-correlate-alert": ("*/5 * * * *", "Etc/UTC"),
        "mlprom-correlate-closeout": ("5 0 * * *", "Etc/UTC"),  # after midnight UTC: mlprom's dates are UTC
        "mlprom-prune": ("30 3 * * *", "Etc/UTC"),
    }
    commands = {name: [c["args"] for c in containers(pod)] for name, pod in pod_specs(MANIFESTS)}
    assert commands == {
        "cronjob-capture-infra.yaml:mlprom-capture-infra": [["-q", "capture-infra"]],
        # correlate as the init container: alert starts only once it exited 0, as `&&` would
        "cronjob-correlate-alert.yaml:mlprom-correlate-alert": [
            ["-q", "correlate", "--date", "today", "--fail-on", "never", "--allow-empty"],
            ["-q", "alert", "--date", "today", "--allow-empty"],
        ],
        "cronjob-correlate-closeout.yaml:mlprom-correlate-closeout": [
            ["-q", "correlate", "--date", "yesterday", "--fail-on", "never"]
        ],
        # no -q: the pod's log keeps what was deleted
        "cronjob-prune.yaml:mlprom-prune": [["-o", "json", "prune", "--keep-days", "30", "--yes"]],
    }


def test_every_cronjob_forbids_overlap_and_ends_before_its_next_run() -> None:
    for path, doc in documents(MANIFESTS + FLEET):
        if doc["kind"] != "CronJob":
            continue
        spec = doc["spec"]
        where = f"{path.name}:{doc['metadata']['name']}"
        assert spec["concurrencyPolicy"] == "Forbid", where
        assert 0 < spec["startingDeadlineSeconds"] <= PERIOD_SECONDS[spec["schedule"]], where
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1, where
        job = spec["jobTemplate"]["spec"]
        assert 0 < job["activeDeadlineSeconds"] < PERIOD_SECONDS[spec["schedule"]], where
        assert job["template"]["spec"]["restartPolicy"] == "Never", where


def _config(tmp_path: Path) -> Any:
    (configmap,) = by_kind("ConfigMap").values()
    path = tmp_path / "mlprom.yaml"
    path.write_text(configmap["data"]["mlprom.yaml"])
    return load_config(None, env={"MLPROM_CONFIG": str(path)})


def test_the_deadlines_cover_the_documented_worst_case_of_the_configs_timeouts(tmp_path: Path) -> None:
    """docs/reliability.md, "Per upstream and per command": capture-infra's and alert's worst case,
    network only, from the ConfigMap's own timeouts."""
    config = _config(tmp_path)
    deadlines = {
        name: job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        for name, job in by_kind("CronJob").items()
    }
    capture_infra = (
        math.ceil(len(config.queries) / MAX_PARALLEL_QUERIES) * config.prometheus.timeout
        + config.storage.timeout
        + config.pushgateway.timeout
    )
    assert capture_infra + STARTUP_SECONDS <= deadlines["mlprom-capture-infra"] < 60
    # alert: Alertmanager (replicas concurrently), the report, the state and the run record, the push
    alert = config.alertmanager.timeout + 3 * config.storage.timeout + config.pushgateway.timeout
    # correlate runs first in the same Job; it keeps at least two minutes of the five
    assert alert + STARTUP_SECONDS + 120 <= deadlines["mlprom-correlate-alert"] < 300


def _group() -> typer.core.TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return group


def _parse(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """The subcommand and its parameters exactly as mlprom's CLI would parse and convert them, without
    running it: unknown commands or options and bad values raise click's usage errors."""
    group = _group()
    ctx = group.make_context("mlprom", list(argv))
    # click 8.2+ keeps the subcommand's name apart from the arguments that follow it
    name, command, rest = group.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
    assert name is not None and command is not None
    with command.make_context(name, rest, parent=ctx) as sub:
        return name, sub.params


def test_the_argument_check_catches_a_bad_command_option_or_value() -> None:
    for argv in (["corelate"], ["correlate", "--dates", "today"], ["correlate", "--fail-on", "nevr"]):
        with pytest.raises(UsageError):
            _parse(argv)


def test_every_container_runs_a_valid_mlprom_command() -> None:
    """Each container's arguments exactly as its CronJob gives them, parsed by mlprom's CLI: an option the
    command does not have (the fleet variants' --all-models among them) is a usage error here."""
    fleet = set()
    for where, pod in pod_specs():
        for container in containers(pod):
            assert "command" not in container, f"{where}: the image's ENTRYPOINT is mlprom"
            argv = container["args"]
            name, params = _parse(argv)
            assert name == container["name"], where
            if "--all-models" in argv:
                assert params["all_models"] is True, where
                fleet.add(name)
    assert fleet == {"correlate", "alert"}


def test_the_configmap_config_loads_and_its_files_are_the_mounted_secret(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (secret,) = by_kind("Secret", SECRET).values()
    (configmap,) = by_kind("ConfigMap").values()
    files = [
        value
        for section in ("prometheus", "alertmanager", "pushgateway")
        for key, value in _flatten(getattr(config, section).model_dump())
        if key.endswith("_file") and value
    ]
    assert len(files) >= 2, files  # the Prometheus token and the Alertmanager password
    for where, pod in pod_specs():
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in containers(pod):
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            env = {e["name"]: e["value"] for e in container["env"]}
            config_dir, config_name = env["MLPROM_CONFIG"].rsplit("/", 1)
            assert mounts[config_dir]["configMap"]["name"] == configmap["metadata"]["name"], where
            assert config_name in configmap["data"], where
            for file in files:
                directory, name = file.rsplit("/", 1)
                assert directory in mounts, f"{where}: {file} is not in a mounted volume"
                assert mounts[directory]["secret"]["secretName"] == secret["metadata"]["name"], (where, file)
                assert name in secret["stringData"], (where, file)
            assert all(m.get("readOnly") for m in container["volumeMounts"] if m["mountPath"] != "/tmp"), (
                where
            )


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict):
            out += _flatten(item, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", item))
    return out


def test_every_pod_runs_non_root_read_only_without_privileges() -> None:
    uid = int(_dockerfile_user().split(":")[0])
    for where, pod in pod_specs():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == uid, where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["serviceAccountName"] == "mlprom" and pod["automountServiceAccountToken"] is False, where
        tmp = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp and "sizeLimit" in tmp[0]["emptyDir"], where
        for container in containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"], where
            assert container["envFrom"] == [{"secretRef": {"name": "mlprom-aws", "optional": True}}], where


def test_the_service_account_takes_its_s3_role_by_irsa() -> None:
    (account,) = by_kind("ServiceAccount").values()
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+",
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
    )


# The Dockerfile, read as instructions (the suite has no container runtime to build it with).


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last:]


def _dockerfile_user() -> str:
    users = [rest for instruction, rest in final_stage() if instruction == "USER"]
    assert users, "no USER in the final stage: the image would run as root"
    return users[-1]


def test_the_image_is_slim_python_running_mlprom_as_a_numeric_non_root_user() -> None:
    steps = final_stage()
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", steps[0][1]), steps[0]
    user = _dockerfile_user()
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # numeric, so runAsNonRoot can check it
    assert [json.loads(rest) for instruction, rest in steps if instruction == "ENTRYPOINT"] == [["mlprom"]]
    env = " ".join(rest for instruction, rest in steps if instruction == "ENV")
    assert "MLPROM_CONFIG=/etc/mlprom/mlprom.yaml" in env.split()
    assert "PYTHONDONTWRITEBYTECODE=1" in env.split()  # nothing written to a read-only root


def test_the_image_installs_the_lean_wheel_and_leaves_no_installer_or_compiler() -> None:
    runs = [rest for instruction, rest in final_stage() if instruction == "RUN"]
    installs = [cmd for run in runs for cmd in run.split("&&") if "pip install" in cmd]
    assert len(installs) == 1 and re.search(r"/mlprom-\*\.whl\s*$", installs[0]), installs
    assert "[" not in installs[0], "an extra would bring MLflow, pandas or matplotlib"
    assert any(re.search(r"pip uninstall -y .*\bpip\b", cmd) for run in runs for cmd in run.split("&&"))
    everything = " ".join(rest for _, rest in dockerfile())
    assert not re.search(r"apt-get install|build-essential|gcc", everything)
    copies = [rest for instruction, rest in final_stage() if instruction == "COPY"]
    assert copies == ["--from=wheel /dist /tmp/dist"], "only the wheel reaches the image"


def _copied_sources() -> list[str]:
    sources = []
    for instruction, rest in dockerfile():
        if instruction == "COPY" and not rest.startswith("--from"):
            sources += shlex.split(rest)[:-1]
    return sources


def _dockerignore_pattern(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: `*` and `?` stay within one path element, `**/` spans any."""
    pieces = re.split(r"(\*\*/|\*|\?)", pattern.rstrip("/"))
    wildcard = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcard.get(piece, re.escape(piece)) for piece in pieces))


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last pattern matching the
    path or one of its parent directories decides, `!` letting it back in."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    elements = path.split("/")
    verdict = False
    for line in (line.strip() for line in lines):
        if not line or line.startswith("#"):
            continue
        rule = _dockerignore_pattern(line.removeprefix("!"))
        if any(rule.fullmatch("/".join(elements[:i])) for i in range(1, len(elements) + 1)):
            verdict = not line.startswith("!")
    return verdict


def test_the_dockerignore_lets_through_exactly_what_the_build_copies() -> None:
    sources = _copied_sources()
    assert set(sources) == {"pyproject.toml", "README.md", "LICENSE", "mlprom"}
    for source in sources:
        assert not ignored(source), source
    assert not ignored("mlprom/cli.py") and not ignored("mlprom/config/schema.py")
    for path in (
        "tests/conftest.py",
        ".venv/bin/python",
        ".git/HEAD",
        "mlprom/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignored(path), path


def test_the_wheel_step_builds_from_the_copied_files_alone(tmp_path: Path) -> None:
    """The build stage's `pip wheel` run on a tree holding only what its COPY lines bring in (without
    build isolation, so no package index is needed: this venv already has setuptools)."""
    context = tmp_path / "src"
    context.mkdir()
    for source in _copied_sources():
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, context / source)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("mlprom-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mlprom/cli.py" in names and "mlprom/py.typed" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mlprom = mlprom.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
