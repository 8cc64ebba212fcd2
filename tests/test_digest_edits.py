"""The edits reviewers keep making: fragments of one diff, and what recurs across items."""

import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.edits import EditMiner, Fragment, _edit_fragments, edit_fragments

# --- one diff ---


def test_deleted_phrase_gets_a_clean_key() -> None:
    fragments = edit_fragments(
        "As an AI language model, I think the refund is due.", "I think the refund is due."
    )
    assert fragments == [
        Fragment("deleted", "as an ai language model", "As an AI language model,", None)
    ]


def test_deleted_phrase_keys_alike_wherever_it_sits() -> None:
    at_start = edit_fragments("As an AI language model, I agree.", "I agree.")
    mid_sentence = edit_fragments("Well, as an AI language model, I agree.", "Well, I agree.")
    assert [f.key for f in at_start] == [f.key for f in mid_sentence]
    assert [f.key for f in at_start] == ["as an ai language model"]


def test_added_sentence() -> None:
    fragments = edit_fragments(
        "Your refund was approved.",
        "Your refund was approved. Please allow 5 business days.",
    )
    assert fragments == [
        Fragment("added", "please allow 5 business days", None, "Please allow 5 business days.")
    ]


def test_value_correction() -> None:
    (fragment,) = edit_fragments("Invoice total: 6300 EUR.", "Invoice total: 6310 EUR.")
    assert fragment.kind == "replaced"
    assert (fragment.before, fragment.after) == ("6300", "6310")
    # The word before a bare value keeps the key meaningful across items.
    assert fragment.key == "total: 6300 → total: 6310"
    (bare,) = edit_fragments("6300", "6310")
    assert bare == Fragment("replaced", "6300 → 6310", "6300", "6310")


def test_worded_replacement() -> None:
    assert edit_fragments("Payment terms: net 30.", "Payment terms: net 14 days.") == [
        Fragment("replaced", "net 30 → net 14 days", "30", "14 days")
    ]
    assert edit_fragments("We regret the delay.", "We apologise for the delay.") == [
        Fragment("replaced", "regret → apologise for", "regret", "apologise for")
    ]


def test_case_and_whitespace_only_changes_are_ignored() -> None:
    assert (
        edit_fragments("Hello  world,\nthe refund is DUE.", "hello world, the Refund is due.") == []
    )
    assert edit_fragments("a, b", "a , b") == []


def test_identical_texts_give_nothing() -> None:
    assert edit_fragments("", "") == []
    assert edit_fragments("Same text.", "Same text.") == []


def test_fragments_are_capped() -> None:
    long_sentence = "word " * 100
    (fragment,) = edit_fragments("Keep this.", f"Keep this. {long_sentence}")
    assert fragment.kind == "added"
    assert fragment.after is not None and len(fragment.after) == 200
    assert fragment.after.endswith("…")
    assert len(fragment.key) <= 200


def test_long_texts_diff() -> None:
    rng = random.Random(3)
    vocabulary = ["the", "refund", "invoice", "is", "due", "our", "customer", ",", ".", "to"]
    words = [rng.choice(vocabulary) for _ in range(1_200)]
    output = " ".join(words)[:5_000]
    edited = list(words)
    for _ in range(30):
        edited[rng.randrange(len(edited))] = "CHANGED"
    fragments = edit_fragments(output, " ".join(edited)[:5_000])
    assert len(output) >= 4_900
    assert any(f.after and "CHANGED" in f.after for f in fragments)


# --- recurring across items ---


def random_word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(10))


def item_texts(index: int, rng: random.Random, with_phrase: bool) -> tuple[str, str]:
    """An agent reply and its reviewed version: a unique tweak, maybe the phrase deleted."""
    body = f"the customer {index} asked about order {index * 7} and we can refund it"
    output = f"Hello. As an AI language model, I think {body}. Regards, Support."
    final_body = body.replace("refund", random_word(rng))
    opener = "Hello. I think" if with_phrase else "Hello. As an AI language model, I think"
    return output, f"{opener} {final_body}. Regards, Support."


def test_miner_finds_a_phrase_deleted_in_30_of_100_items() -> None:
    rng = random.Random(11)
    miner = EditMiner()
    deleted_in = set(rng.sample(range(100), 30))
    for index in range(100):
        output, final = item_texts(index, rng, with_phrase=index in deleted_in)
        miner.add(f"item-{index}", output, final)
    assert miner.edited_items == 100
    recurring = miner.recurring()
    assert len(recurring) == 1
    (edit,) = recurring
    assert (edit.kind, edit.key, edit.items) == ("deleted", "as an ai language model", 30)
    assert edit.before == "As an AI language model,"
    assert len(edit.examples) == 3
    assert {int(item_id.split("-")[1]) for item_id in edit.examples} <= deleted_in


def test_miner_finds_the_phrase_with_a_small_counter_too() -> None:
    rng = random.Random(12)
    miner = EditMiner(capacity=20)
    for index in range(300):
        output, final = item_texts(index, rng, with_phrase=index % 3 == 0)
        miner.add(f"item-{index}", output, final)
    recurring = miner.recurring()
    assert [edit.key for edit in recurring] == ["as an ai language model"]
    assert recurring[0].items >= 100


def test_miner_reports_nothing_when_every_edit_differs() -> None:
    rng = random.Random(13)
    miner = EditMiner()
    for index in range(100):
        output, final = item_texts(index, rng, with_phrase=False)
        miner.add(f"item-{index}", output, final)
    assert miner.edited_items == 100
    assert miner.recurring() == []
    assert miner.recurring(min_items=1, min_share=0.0, top=3) != []  # the edits were seen


def test_miner_needs_a_share_of_edited_items_not_just_a_count() -> None:
    rng = random.Random(14)
    miner = EditMiner()
    for index in range(100):
        output, final = item_texts(index, rng, with_phrase=index < 5)
        miner.add(f"item-{index}", output, final)
    assert miner.recurring() == []  # 5 of 100 is under 20%
    assert [e.key for e in miner.recurring(min_share=0.05)] == ["as an ai language model"]


def test_miner_counts_a_change_once_per_item_and_skips_unedited_items() -> None:
    miner = EditMiner()
    for index in range(4):
        # "Sure!" is deleted twice in the same item: one item, not two.
        miner.add(f"i{index}", "Sure! Paid. Sure! Thanks.", "Paid. Thanks.")
        miner.add(f"u{index}", "Untouched.", "Untouched.")
    assert miner.edited_items == 4
    (edit,) = miner.recurring()
    assert (edit.kind, edit.key, edit.items) == ("deleted", "sure", 4)


def test_miner_generalizes_replaced_values_that_differ_only_by_numbers() -> None:
    miner = EditMiner()
    for index, days in enumerate([30, 30, 30, 45, 60, 45, 90]):
        miner.add(f"item-{index}", f"Terms: net {days}.", "Terms: net 14.")
    by_key = {edit.key: edit for edit in miner.recurring(top=10)}
    assert set(by_key) == {"net # → net #", "net 30 → net 14"}
    assert by_key["net # → net #"].items == 7
    assert by_key["net # → net #"].kind == "replaced"
    assert by_key["net 30 → net 14"].items == 3  # 45 (twice) stays under min_items
    assert miner.recurring(top=10)[0].key == "net # → net #"  # most items first


def test_miner_does_not_repeat_a_literal_change_as_a_generalized_one() -> None:
    miner = EditMiner()
    for index in range(5):
        miner.add(f"item-{index}", "Terms: net 30.", "Terms: net 14.")
    assert [edit.key for edit in miner.recurring()] == ["net 30 → net 14"]


def test_miner_memory_is_bounded() -> None:
    rng = random.Random(15)
    miner = EditMiner(capacity=100)
    for index in range(20_000):
        output = f"Order {random_word(rng)} {index} ships on Monday."
        final = output.replace(f" {index} ", f" {index + 1} ").replace("Monday", random_word(rng))
        miner.add(f"item-{index}", output, final)
    assert miner.edited_items == 20_000
    assert len(miner._literal) <= 100
    assert len(miner._generalized) <= 100
    assert len(miner._generalized) == 100  # the generalized counter saw noise too
    assert miner.recurring() == []


# --- diffing only around the change gives the same fragments as diffing the whole texts ---

_PIECES = (
    "net",
    "Net",
    "30",
    "14",
    "6,300.50",
    "2024-01-05",
    "don't",
    "As",
    "an",
    "AI",
    "model",
    "invoice",
    ",",
    ".",
    ";",
    "-",
    "'",
    "7",
)
_SPACES = (" ", " ", " ", "  ", "\n", "")


@st.composite
def _edited_text(draw: st.DrawFn) -> tuple[str, str]:
    """A long text and an edit of it: pieces and spacing drawn so that tokens merge and
    split across edits ("30" next to ",5"), with the change anywhere, often near an end."""
    pieces = draw(st.lists(st.sampled_from(_PIECES), min_size=0, max_size=60))
    spaces = draw(st.lists(st.sampled_from(_SPACES), min_size=len(pieces), max_size=len(pieces)))
    output = "".join(piece + space for piece, space in zip(pieces, spaces, strict=True))
    start = draw(st.integers(0, len(output)))
    end = draw(st.integers(start, min(len(output), start + 12)))
    inserted = draw(st.text(alphabet="abN3,.' -\n", max_size=10))
    return output, output[:start] + inserted + output[end:]


@given(_edited_text())
@settings(max_examples=400, deadline=None)
def test_diffing_around_the_change_matches_diffing_the_whole_texts(
    texts: tuple[str, str],
) -> None:
    output, final = texts
    whole = _edit_fragments(output, final, narrow=False)
    assert edit_fragments(output, final) == whole
    assert edit_fragments(final, output) == _edit_fragments(final, output, narrow=False)


def test_a_change_deep_in_a_long_text_keeps_its_context_words() -> None:
    shared = "Checked against the records from May and 51 similar cases. " * 20
    output = shared + "Payment terms: net 30 days. " + shared
    final = shared + "Payment terms: net 14 days. " + shared
    assert edit_fragments(output, final) == [Fragment("replaced", "net 30 → net 14", "30", "14")]
