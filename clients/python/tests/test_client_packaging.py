"""`pip install ./clients/python` into a fresh virtualenv brings the client and its three
dependencies, and none of the hitl server's packages."""

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib

CLIENT = Path(__file__).resolve().parents[1]
REPOSITORY = CLIENT.parents[1]
SHARED = {"httpx", "pydantic", "standardwebhooks"}  # what the client needs too


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_a_fresh_install_has_none_of_the_servers_packages(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # Without pip of its own (seeding one costs seconds): this run's pip installs into it
    # and lists it (`--python`), resolving the client's dependencies as in a fresh venv.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = str(venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python]
    installed = subprocess.run(
        [*pip, "install", "-q", str(CLIENT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]

    listing = subprocess.run(
        [*pip, "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    packages = {_name(entry["name"]) for entry in json.loads(listing.stdout)}
    server = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    server_packages = {_name(requirement) for requirement in server["dependencies"]}
    assert "hitl-client" in packages and "hitl-bot" not in packages
    assert packages & (server_packages - SHARED) == set()

    probe = (
        "import importlib.metadata as m, importlib.util as u, json, hitl_client;"
        "print(json.dumps({'requires': m.requires('hitl-client'),"
        "'server': [n for n in ('bot', 'storage', 'fastapi') if u.find_spec(n)]}))"
    )
    answer = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path
    )
    found = json.loads(answer.stdout)
    assert found["server"] == []
    required = {_name(r) for r in found["requires"] if "extra ==" not in r}
    assert required == SHARED
    extras = {_name(r) for r in found["requires"] if "extra ==" in r}
    assert extras == {"mcp", "langgraph"}
