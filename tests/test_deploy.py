"""The Dockerfile and compose.yaml: built and checked by Docker where it is available,
checked against the Compose Specification and by their structure where it is not."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.processes import HITL, free_port, serve_env, start_serve, stop_serve
from tests.slack_standin import SlackStandIn

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()
# Compose Specification schema, vendored from the docker-compose package (Apache-2.0).
COMPOSE_SCHEMA = REPO / "tests" / "schemas" / "compose_spec.json"


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def docker_answers(*args: str) -> subprocess.CompletedProcess[str] | None:
    if shutil.which("docker") is None:
        return None
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text())).validate(compose())
    plugin = docker_answers("compose", "version")
    if plugin is not None and plugin.returncode == 0:
        compose_command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        compose_command = ["docker-compose"]
    else:
        return  # no Docker Compose here: the schema above is the check
    # Where Docker Compose is installed it checks the file too, as a user would run it:
    # beside the `.env` and `rules.yml` that `hitl init` writes.
    shutil.copy(REPO / "compose.yaml", tmp_path / "compose.yaml")
    subprocess.run([HITL, "init", "--dir", str(tmp_path)], check=True, capture_output=True)
    config = subprocess.run(
        [*compose_command, "config", "-q"], cwd=tmp_path, capture_output=True, text=True
    )
    assert config.returncode == 0, config.stderr


def test_compose_runs_two_replicas_on_postgres_after_the_schema_upgrade() -> None:
    services = compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert "healthcheck" in services["db"]
    hitl, migrate = services["hitl"], services["migrate"]
    assert hitl["deploy"]["replicas"] == 2
    assert hitl["command"] == ["hitl", "serve"]
    assert migrate["command"] == ["hitl", "db", "upgrade"]
    assert hitl["image"] == migrate["image"] and "build" in migrate
    assert hitl["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for service in (hitl, migrate):
        env = service["environment"]
        assert env["HITL_DATABASE_URL"].startswith("postgresql://")
        assert "@db:" in env["HITL_DATABASE_URL"]  # the compose service, not localhost
        assert env["HITL_HOST"] == "0.0.0.0"
    assert "/healthz" in " ".join(hitl["healthcheck"]["test"])
    db = services["db"]["environment"]
    assert (
        f"{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@db:5432/{db['POSTGRES_DB']}"
        in (hitl["environment"]["HITL_DATABASE_URL"])
    )


def test_dockerfile_is_small_non_root_and_serves() -> None:
    instructions = dockerfile_instructions()
    first_from = next(arg for name, arg in instructions if name == "FROM")
    assert first_from.startswith("python:3.11-slim")
    stage = final_stage()
    assert stage[0][1].startswith("python:3.11-slim")
    users = [arg for name, arg in stage if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(name == "HEALTHCHECK" and "/healthz" in arg for name, arg in stage)
    assert json.loads(next(arg for name, arg in stage if name == "CMD")) == ["hitl", "serve"]
    env = " ".join(arg for name, arg in stage if name == "ENV")
    assert "HITL_HOST=0.0.0.0" in env


def test_everything_the_dockerfile_copies_is_in_the_build_context() -> None:
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name, arg in dockerfile_instructions():
        if name != "COPY" or arg.startswith("--from"):
            continue
        *sources, _destination = shlex.split(arg)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") not in ignored, f"COPY {source}: .dockerignore drops it"


def test_installing_what_the_image_copies_gives_a_working_hitl(tmp_path: Path) -> None:
    """What the image's `pip install .` does, without Docker: a non-editable install from
    only the files the Dockerfile copies, with no repository beside it. `hitl init` finds
    the example rules and `hitl db upgrade` the migrations inside the installed package."""
    source = tmp_path / "src"
    source.mkdir()
    for name, arg in dockerfile_instructions():
        if name == "COPY" and not arg.startswith("--from"):
            for item in shlex.split(arg)[:-1]:
                if (REPO / item).is_dir():
                    shutil.copytree(REPO / item, source / item, symlinks=True)
                else:
                    shutil.copy2(REPO / item, source / item)
    venv = tmp_path / "venv"
    # No pip of its own (seeding one costs seconds): this run's pip installs into it.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    # The dependencies come from this test run's environment; hitl itself from `source`.
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")),
            *("install", "-q", "--no-deps", str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    hitl = str(venv / "bin" / "hitl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.pop("PYTHONPATH", None)
    init = subprocess.run([hitl, "init"], cwd=work, env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    assert (work / "rules.yml").read_text() == (REPO / "rules.example.yml").read_text()
    upgrade = subprocess.run(
        [hitl, "db", "upgrade"], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot.cli; print(bot.cli.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(site), where.stdout  # the installed copy, not the repo's


def test_the_image_healthcheck_command_tells_healthy_from_down(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    healthcheck = next(arg for name, arg in final_stage() if name == "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1].strip())
    env = serve_env(f"sqlite:///{tmp_path / 'x.db'}", standin, rules_path, free_port())
    check_env = os.environ | {"HITL_PORT": env["HITL_PORT"]}
    python = str(Path(HITL).parent / "python")
    run = [python if command[0] == "python" else command[0], *command[1:]]
    process = start_serve(env, tmp_path)
    try:
        healthy = subprocess.run(run, env=check_env, capture_output=True, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        stop_serve(process)
    down = subprocess.run(run, env=check_env, capture_output=True, timeout=30)
    assert down.returncode != 0


def test_the_image_builds_and_runs_hitl() -> None:
    info = docker_answers("info", "--format", "{{.ServerVersion}}")
    if info is None or info.returncode != 0:
        reason = "no docker CLI" if info is None else info.stderr.strip().splitlines()[-1]
        pytest.skip(f"no Docker daemon here, the image build is not checked ({reason})")
    built = subprocess.run(
        ["docker", "build", "-q", "-t", "hitl-test:ci", str(REPO)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    ran = subprocess.run(
        ["docker", "run", "--rm", "hitl-test:ci", "hitl", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0 and ran.stdout.startswith("hitl "), ran.stderr
    user = subprocess.run(
        ["docker", "run", "--rm", "hitl-test:ci", "id", "-u"], capture_output=True, text=True
    )
    assert user.stdout.strip() not in ("", "0")
