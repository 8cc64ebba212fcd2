"""The README's examples run as a new user would paste them, against a real hitl."""

import contextlib
import io
import re
from pathlib import Path

import pytest
from reviewer import Reviewer, approve, edit_fields
from tests.harness import AGENT_TOKEN, BotHarness

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.S)


def _run(example: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {"__name__": "readme"})
    return printed.getvalue()


@pytest.fixture
def environment(bot: BotHarness, monkeypatch: pytest.MonkeyPatch) -> BotHarness:
    monkeypatch.setenv("HITL_URL", bot.url)
    monkeypatch.setenv("HITL_TOKEN", AGENT_TOKEN)
    return bot


def test_the_readme_has_the_three_python_ways_in() -> None:
    assert len(EXAMPLES) == 3
    assert '"command": "hitl-mcp"' in README


def test_the_client_example(environment: BotHarness) -> None:
    reviewer = Reviewer(environment, approve)
    assert _run(EXAMPLES[0]) == "book it: Book to account 6300\n"
    reviewer.done()


def test_the_decorator_example(environment: BotHarness) -> None:
    reviewer = Reviewer(environment, approve)
    assert _run(EXAMPLES[1]) == "refunded 40.0 EUR on 8812\n"
    reviewer.done()


def test_the_langgraph_example(environment: BotHarness) -> None:
    pytest.importorskip("langgraph")
    state = {
        "field_0": {"value": {"type": "plain_text_input", "value": "4471"}},
        "field_1": {"value": {"type": "number_input", "value": "1240"}},
    }
    reviewer = Reviewer(environment, edit_fields(state))
    assert _run(EXAMPLES[2]) == "paid 1240.0 for 4471\n"
    reviewer.done()
