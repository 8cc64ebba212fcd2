"""A new user's path: a fresh clone, `hitl init`, the README's steps, the first approval."""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from handlers import blocks
from tests.callback_receiver import CallbackReceiver
from tests.plain_http import TLS
from tests.processes import HITL, free_port, start_serve, stop_serve
from tests.slack_payloads import block_actions
from tests.slack_standin import SlackStandIn

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
OUTSIDE_THE_REPO = "../" + "shared"  # spelled apart so this file does not match itself


def readme_secret_recipe() -> str:
    """The README's own command for making a webhook secret, as a user copies it."""
    match = re.search(r"`(python3 -c '[^`]*whsec_[^`]*')`", README)
    assert match, "the README no longer shows how to make a webhook secret"
    return match.group(1)


def run_git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=120
    ).stdout


def clone_of_this_repository(dest: Path) -> Path:
    """`git clone` of this repository's HEAD, with uncommitted changes laid over it, so that
    the test checks what is about to be committed (in CI the tree is clean: a plain clone)."""
    run_git("clone", "-q", "--no-hardlinks", str(REPO), str(dest), cwd=REPO)
    changed = run_git("ls-files", "-z", "--modified", "--others", "--exclude-standard", cwd=REPO)
    deleted = run_git("ls-files", "-z", "--deleted", cwd=REPO)
    for name in filter(None, deleted.split("\0")):
        (dest / name).unlink(missing_ok=True)
    for name in filter(None, changed.split("\0")):
        source, target = REPO / name, dest / name
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return dest


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clone for the tests below, which only read it (and collect tests in it)."""
    return clone_of_this_repository(tmp_path_factory.mktemp("empty") / "hitl")


def test_the_tests_run_in_a_clone_with_nothing_beside_it(clone: Path) -> None:
    assert sorted(p.name for p in clone.parent.iterdir()) == ["hitl"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # One run collects every test (a collection error fails it) and runs those that read
    # files of the repository (schemas, docs), which must pass there too. `-n 0`: one
    # process is enough, and spares the workers' start-up.
    in_clone = "test_manifest.py or test_docs.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-k", in_clone],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed, \d+ deselected", summary), summary
    assert "error" not in summary


def test_no_file_in_the_repository_points_outside_it(clone: Path) -> None:
    offenders = []
    for name in run_git("ls-files", "-z", "--cached", "--others", cwd=clone).split("\0"):
        path = clone / name
        if not name or not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if OUTSIDE_THE_REPO in text:
            offenders.append(name)
    assert offenders == []


def test_the_readme_secret_recipe_makes_a_secret_standardwebhooks_accepts() -> None:
    from bot.settings import webhook_secret_bytes

    for _ in range(3):  # random bytes: a few draws, each padded base64
        made = subprocess.run(
            ["bash", "-c", readme_secret_recipe()], capture_output=True, text=True, timeout=30
        )
        secret = made.stdout.strip()
        assert secret.startswith("whsec_") and secret.endswith("="), secret
        agent = Webhook(secret)  # the agent's library takes it
        now = datetime.now(UTC)
        expected = agent.sign("msg_1", now, "{}")
        for written in (secret, secret.rstrip("=")):  # padded, as printed, and unpadded
            key = webhook_secret_bytes(written)
            assert key is not None, written
            assert Webhook(key).sign("msg_1", now, "{}") == expected


def test_readme_walkthrough_from_hitl_init_to_a_verified_approval(
    standin: SlackStandIn, tmp_path: Path
) -> None:
    """`hitl init`, Slack tokens and the README's secret in `.env`, `hitl rules check`,
    `hitl serve` (Socket Mode), an agent's submission, a click, a signed callback."""
    init = subprocess.run(
        [HITL, "init", "--agent", "invoice-bot"], cwd=tmp_path, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    dotenv = tmp_path / ".env"
    token = re.search(r"^HITL_API_TOKENS=invoice-bot:(\S+)$", dotenv.read_text(), re.M)
    assert token and len(token.group(1)) >= 16
    secret = subprocess.run(
        ["bash", "-c", readme_secret_recipe()], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    # What the user does by hand: paste the Slack tokens and the README's secret.
    filled = re.sub(
        r"^SLACK_BOT_TOKEN=$",
        f"SLACK_BOT_TOKEN={standin.bot_token}",
        dotenv.read_text(),
        flags=re.M,
    )
    filled = re.sub(
        r"^SLACK_APP_TOKEN=$", f"SLACK_APP_TOKEN={standin.app_token}", filled, flags=re.M
    )
    filled = re.sub(
        r"^HITL_WEBHOOK_SECRET=.*$", f"HITL_WEBHOOK_SECRET={secret}", filled, flags=re.M
    )
    dotenv.write_text(filled + f"SLACK_API_URL={standin.url}\n")
    check = subprocess.run([HITL, "rules", "check"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(HITL_PORT=str(port), HITL_CALLBACK_ALLOW_PRIVATE="true")
    env.update(HITL_OUTBOX_POLL_SECONDS="0.2")
    receiver = CallbackReceiver().start()
    process = start_serve(env, tmp_path)
    try:
        standin.wait_for(lambda s: s.socket_connected, timeout=30)
        api = httpx.Client(
            verify=TLS,
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token.group(1)}"},
            timeout=30,
        )
        submitted = api.post("/v1/reviews", json=readme_submission(receiver.url))
        assert submitted.status_code == 201, submitted.text
        item = submitted.json()
        assert item["status"] == "pending"

        def posted() -> list:
            return [
                call
                for call in standin.calls_to("chat.postMessage")
                if call.args.get("metadata", {}).get("event_payload", {}).get("item_id")
                == item["id"]
            ]

        standin.wait_for(lambda s: bool(posted()), timeout=30)
        channel = posted()[0].args["channel"]
        ts = next(
            key[1]
            for key, message in standin.messages.items()
            if key[0] == channel
            and message.get("metadata", {}).get("event_payload", {}).get("item_id") == item["id"]
        )
        click = block_actions(
            user_id="U0ALICE",
            action_id=blocks.APPROVE,
            value=item["id"],
            channel=channel,
            message_ts=ts,
            trigger_id=standin.new_trigger_id(),
            response_url=standin.response_url(),
            message=standin.messages[(channel, ts)],
        )
        envelope = standin.send_socket_envelope("interactive", click)
        standin.wait_socket_ack(envelope, timeout=30)
        decided = api.get(f"/v1/reviews/{item['id']}", params={"wait": 30}).json()
        assert decided["status"] == "approved"
        assert decided["decision"]["by"] == "U0ALICE"
        standin.wait_for(lambda _: bool(receiver.successful()), timeout=30)
        delivery = receiver.successful()[0]
        verified = Webhook(secret).verify(delivery.body, delivery.headers)
        assert verified["id"] == item["id"] and verified["status"] == "approved"
    finally:
        stop_serve(process)
        receiver.stop()


def readme_submission(callback_url: str) -> dict:
    """The JSON body of the README's curl example, with a callback added."""
    match = re.search(r"-d '(\{.*?\})'", README, re.S)
    assert match, "the README no longer shows a submission"
    return json.loads(match.group(1)) | {"callback_url": callback_url}
