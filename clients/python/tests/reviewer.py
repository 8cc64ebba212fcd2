"""A reviewer in Slack who acts while the agent's call is blocked waiting: it waits for
the item's post in the stand-in, then clicks (signed payloads, as Slack sends them)."""

import threading
from collections.abc import Callable
from typing import Any

from handlers import blocks
from tests.harness import BotHarness, edit_values, metadata_of, reject_values


def posted_items(bot: BotHarness) -> list[str]:
    """The ids of the items posted so far, oldest first."""
    ids = []
    for call in bot.standin.calls_to("chat.postMessage"):
        metadata = metadata_of(call.args)
        if metadata.get("event_type") == "hitl_review":
            ids.append(metadata["event_payload"]["item_id"])
    return ids


class Reviewer:
    """Runs `decide(bot, item_id)` in a thread once the `nth` item (1-based) is posted."""

    def __init__(self, bot: BotHarness, decide: Callable[[BotHarness, str], Any], nth: int = 1):
        self.bot = bot
        self.error: BaseException | None = None
        self.item_id: str | None = None

        def run() -> None:
            try:
                bot.standin.wait_for(lambda s: len(posted_items(bot)) >= nth, timeout=60)
                self.item_id = posted_items(bot)[nth - 1]
                decide(bot, self.item_id)
            except BaseException as error:
                self.error = error

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def done(self) -> str:
        self._thread.join(timeout=90)
        assert not self._thread.is_alive(), "the reviewer never got to act"
        if self.error is not None:
            raise self.error
        assert self.item_id is not None
        return self.item_id


def approve(bot: BotHarness, item_id: str) -> None:
    assert bot.click(item_id, blocks.APPROVE, "U0ALICE").status_code == 200


def edit_text(text: str) -> Callable[[BotHarness, str], None]:
    def decide(bot: BotHarness, item_id: str) -> None:
        _open(bot, item_id, blocks.EDIT)
        response = bot.submit_view(blocks.EDIT_CALLBACK, item_id, "U0BOB", edit_values(text))
        assert response.status_code == 200

    return decide


def edit_fields(state: dict[str, Any]) -> Callable[[BotHarness, str], None]:
    """Submits the structured Edit modal with Slack's state for its `field_<i>` inputs."""

    def decide(bot: BotHarness, item_id: str) -> None:
        _open(bot, item_id, blocks.EDIT)
        response = bot.submit_view(blocks.EDIT_CALLBACK, item_id, "U0BOB", state)
        assert response.status_code == 200 and response.text in ("", "{}"), response.text

    return decide


def reject(reason: str, note: str | None = None) -> Callable[[BotHarness, str], None]:
    def decide(bot: BotHarness, item_id: str) -> None:
        _open(bot, item_id, blocks.REJECT)
        values = reject_values(reason, note)
        response = bot.submit_view(blocks.REJECT_CALLBACK, item_id, "U0ALICE", values)
        assert response.status_code == 200

    return decide


def _open(bot: BotHarness, item_id: str, action: str) -> None:
    before = len(bot.standin.calls_to("views.open"))
    bot.click(item_id, action, "U0ALICE" if action == blocks.REJECT else "U0BOB")
    bot.standin.wait_for(lambda s: len(s.calls_to("views.open")) > before)
