"""The reference in docs/ stays true: every setting and every rules key is documented, the
documented defaults are the code's, and links inside the repository lead somewhere."""

import re
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import AliasChoices, BaseModel
from pydantic_core import PydanticUndefined

from bot.settings import Settings
from rules.schema import RulesFile

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def documented_settings() -> dict[str, str]:
    """`VARIABLE` -> its default cell, from the tables of docs/settings.md."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", (DOCS / "settings.md").read_text(), re.M)
    return {name: default.strip() for name, default in rows}


def alias_of(info: Any) -> str:
    alias = info.validation_alias
    return str(alias.choices[0] if isinstance(alias, AliasChoices) else alias)


def shown_default(value: Any) -> str:
    """A default as docs/settings.md writes it: `1` for 1.0, `false` for False."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = documented_settings()
    for name, info in Settings.model_fields.items():
        alias = alias_of(info)
        assert alias in documented, f"{alias} ({name}) is missing from docs/settings.md"
        cell = documented[alias]
        if info.is_required():
            assert cell == "required", (alias, cell)
        elif info.default is None:
            assert cell.startswith("unset"), (alias, cell)
        else:
            assert info.default is not PydanticUndefined
            shown = re.match(r"`([^`]*)`", cell)
            assert shown and shown.group(1) == shown_default(info.default), (alias, cell)


def test_docs_name_no_setting_that_does_not_exist() -> None:
    known = {alias_of(info) for info in Settings.model_fields.values()}
    assert set(documented_settings()) - known == set()


def rules_keys(model: type[BaseModel]) -> set[str]:
    """Every key a rules file may hold, at any depth."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        for nested in _models_in(info.annotation):
            keys |= rules_keys(nested)
    return keys


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        found += _models_in(get_args(annotation)[0])
    return found


def test_every_rules_key_is_documented() -> None:
    text = (DOCS / "rules.md").read_text()
    keys = rules_keys(RulesFile)
    assert {"routes", "match", "owner", "escalation", "after", "to"} <= keys  # the walk works
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert missing == []


def test_the_rules_reference_example_is_a_valid_rules_file(tmp_path: Path) -> None:
    from rules import check_rules

    block = re.search(r"```yaml\n(.*?)```", (DOCS / "rules.md").read_text(), re.S)
    assert block
    path = tmp_path / "rules.yml"
    path.write_text(block.group(1))
    assert check_rules(path) == []


MARKDOWN = sorted([REPO / "README.md", *DOCS.glob("*.md")])


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: p.name)
def test_links_inside_the_repository_lead_to_files_in_it(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{page.name} links outside: {target}"
        assert resolved.exists(), f"{page.name} links to a missing {target}"


def test_the_readme_links_every_reference_page() -> None:
    readme = (REPO / "README.md").read_text()
    for page in ("settings", "rules", "api", "callbacks", "slack-setup", "digest"):
        assert f"(docs/{page}.md)" in readme, page


def test_the_callback_receiver_in_the_docs_verifies_a_signed_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    from bot.starter_files import new_webhook_secret

    secret = new_webhook_secret()
    monkeypatch.setenv("HITL_WEBHOOK_SECRET", secret)  # the reader's environment, not hitl's
    code = re.search(r"```python\n(.*?)```", (DOCS / "callbacks.md").read_text(), re.S)
    assert code
    namespace: dict[str, Any] = {"__name__": "receiver"}
    exec(compile(code.group(1), "callbacks.md", "exec"), namespace)
    body = b'{"id": "rv_1", "status": "approved", "final_output": "ok"}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, body.decode()),
    }
    assert namespace["verified_item"](body, headers)["status"] == "approved"
    assert namespace["verified_item"](body.replace(b"ok", b"ko"), headers) is None


def test_the_readme_walkthrough_makes_the_venv_before_using_it_and_uses_hitl_init() -> None:
    readme = (REPO / "README.md").read_text()
    made = readme.index("python3 -m venv .venv")
    first_use = readme.index(".venv/bin/hitl")
    assert made < first_use
    walkthrough = readme[readme.index("## From ") :]
    assert "hitl init" in walkthrough
    assert walkthrough.index("hitl init") < walkthrough.index("hitl rules check")
    assert walkthrough.index("hitl rules check") < walkthrough.index(".venv/bin/hitl serve")
