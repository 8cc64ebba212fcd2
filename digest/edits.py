"""The edits reviewers keep making: token diffs of agent output vs final text, mined for
the changes that recur across the items of a workflow."""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from digest.stats import SpaceSaving

FRAGMENT_LIMIT = 200
_ELLIPSIS = "…"

# Numbers keep their separators ("6,300.50", "2024-01-05") so that a corrected value is
# one token; words keep their apostrophes ("don't"); any other non-space is its own token.
_TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)+|\w+(?:['’]\w+)*|[^\w\s]")
_WHITESPACE = re.compile(r"\s+")
# Leading/trailing punctuation, spaces and underscores: "model," and ", model" group as one.
_SURROUNDING = re.compile(r"^[\W_]+|[\W_]+$")
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_LETTER = re.compile(r"[^\W\d_]")
_ARROW = " → "
_CONTEXT_TOKENS = 3

FragmentKind = Literal["deleted", "added", "replaced"]


@dataclass(frozen=True)
class Fragment:
    kind: FragmentKind
    key: str  # normalized, used for grouping across items
    before: str | None  # as written by the agent (deleted/replaced), trimmed
    after: str | None  # as written by the reviewer (added/replaced), trimmed


def _cap(text: str, limit: int = FRAGMENT_LIMIT) -> str:
    """At most `limit` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + _ELLIPSIS


def normalize_key(text: str) -> str:
    """Lower-case, collapse whitespace, strip surrounding punctuation and spaces."""
    return _SURROUNDING.sub("", _WHITESPACE.sub(" ", text.lower()))


def _tokens(text: str, start: int, end: int) -> tuple[list[str], list[tuple[int, int]]]:
    """Lower-cased tokens (so case-only changes match) of text[start:end] and their spans
    in `text`."""
    matches = list(_TOKEN.finditer(text, start, end))
    return [m.group().lower() for m in matches], [m.span() for m in matches]


def _span_text(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    """The original text covering tokens [start, end), spacing as written."""
    return text[spans[start][0] : spans[end - 1][1]].strip()


def _fragment(before: str | None, after: str | None, context: str = "") -> Fragment | None:
    """Classify one change; None when nothing but punctuation changed.

    `context` (the words just before a changed value) goes into a "replaced" key only.
    """
    before_key = normalize_key(before) if before else ""
    after_key = normalize_key(after) if after else ""
    # A side that is only punctuation carries no phrase: "x," -> "y" is a replacement, but
    # "," -> "and so" is an addition, and a dropped comma is not worth a digest line.
    if before_key and after_key:
        if context:
            before_key = normalize_key(context + before_key)
            after_key = normalize_key(context + after_key)
        key = _cap(f"{before_key}{_ARROW}{after_key}")
        return Fragment("replaced", key, _cap(before or ""), _cap(after or ""))
    if before_key:
        return Fragment("deleted", _cap(before_key), _cap(before or ""), None)
    if after_key:
        return Fragment("added", _cap(after_key), None, _cap(after or ""))
    return None


def _value_context(
    text: str, tokens: list[str], spans: list[tuple[int, int]], start: int, floor: int
) -> str:
    """The text from the nearest word (at most 3 unchanged tokens back) up to token `start`.

    "30 → 14" says nothing in a digest; "net 30 → net 14" does, and it groups.
    """
    for index in range(start - 1, max(floor, start - _CONTEXT_TOKENS) - 1, -1):
        if _LETTER.search(tokens[index]):
            return text[spans[index][0] : spans[start][0]]
    return ""


def edit_fragments(output: str, final: str) -> list[Fragment]:
    """The changes from the agent's `output` to the reviewer's `final`, in text order.

    A token-level diff: whitespace is never a token and tokens compare lower-cased, so
    whitespace-only and case-only changes vanish, and so do punctuation-only ones. A
    changed bare value ("30" -> "14") is keyed with the words just before it
    ("net 30 → net 14"). Identical texts give [].
    """
    return _edit_fragments(output, final, narrow=True)


@dataclass(frozen=True)
class _TokenDiff:
    old_tokens: list[str]
    old_spans: list[tuple[int, int]]
    new_tokens: list[str]
    new_spans: list[tuple[int, int]]
    head: int  # leading tokens the two lists share
    tail: int  # trailing tokens they share, not overlapping the head


def _edit_fragments(output: str, final: str, *, narrow: bool) -> list[Fragment]:
    """`narrow`: tokenize only around the change (the same result, see _narrow_diff)."""
    if output == final:
        return []
    diff = _narrow_diff(output, final) if narrow else None
    if diff is None:
        diff = _token_diff(output, final, 0, len(output), len(final))
    old_tokens, old_spans, head = diff.old_tokens, diff.old_spans, diff.head
    old_middle = old_tokens[head : len(old_tokens) - diff.tail]
    new_middle = diff.new_tokens[head : len(diff.new_tokens) - diff.tail]

    matcher = SequenceMatcher(None, old_middle, new_middle, autojunk=False)
    fragments: list[Fragment] = []
    equal_from = 0  # first token of the unchanged run before the current change
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            equal_from = head + i1 if i1 > 0 else 0
            continue
        before = _span_text(output, old_spans, head + i1, head + i2) if i2 > i1 else None
        after = _span_text(final, diff.new_spans, head + j1, head + j2) if j2 > j1 else None
        context = ""
        # A bare value on either side ("30" -> "14 days") needs the words before it.
        if before and after and not (_LETTER.search(before) and _LETTER.search(after)):
            context = _value_context(output, old_tokens, old_spans, head + i1, equal_from)
        fragment = _fragment(before, after, context)
        if fragment is not None:
            fragments.append(fragment)
    return fragments


def _token_diff(output: str, final: str, start: int, old_end: int, new_end: int) -> _TokenDiff:
    """Tokens of output[start:old_end] and final[start:new_end], and the shared head and
    tail, which are trimmed before diffing: edits are usually small and local, and this
    keeps SequenceMatcher's quadratic worst case off the untouched bulk of long texts."""
    old_tokens, old_spans = _tokens(output, start, old_end)
    new_tokens, new_spans = _tokens(final, start, new_end)
    head = 0
    limit = min(len(old_tokens), len(new_tokens))
    while head < limit and old_tokens[head] == new_tokens[head]:
        head += 1
    tail = 0
    while (
        tail < limit - head
        and old_tokens[len(old_tokens) - 1 - tail] == new_tokens[len(new_tokens) - 1 - tail]
    ):
        tail += 1
    return _TokenDiff(old_tokens, old_spans, new_tokens, new_spans, head, tail)


_NARROW_MARGIN = 40  # characters kept before the first change: room for the context words


def _narrow_diff(output: str, final: str) -> _TokenDiff | None:
    """The token diff of the region around the change only, or None when that region
    could give a different result than the whole texts (then the caller takes those).

    Tokenizing is most of the cost of a diff, and most of two long texts is shared.
    The region's ends are spaces inside the shared prefix and suffix: no token spans a
    space, so the tokens between are exactly the whole texts' tokens there. Two checks
    keep the result identical: the region keeps at least the context words before the
    first change (_value_context looks back that far), and the shared head must not run
    into the cut-off suffix (the whole texts' head would then have claimed part of it).
    """
    limit = min(len(output), len(final))
    prefix = _shared_length(output, final, limit, from_end=False)
    suffix = _shared_length(output, final, limit - prefix, from_end=True)
    keep_from = prefix - _NARROW_MARGIN
    start = max(output.rfind(" ", 0, keep_from), 0) if keep_from > 0 else 0
    old_end = output.find(" ", len(output) - suffix) if suffix else -1
    if old_end < 0:
        old_end = len(output)
    new_end = old_end + len(final) - len(output)
    if start == 0 and old_end == len(output):
        return None  # nothing to cut
    diff = _token_diff(output, final, start, old_end, new_end)
    if start > 0 and diff.head < _CONTEXT_TOKENS:
        return None
    if old_end < len(output) and diff.head >= min(len(diff.old_tokens), len(diff.new_tokens)):
        return None
    return diff


def _shared_length(a: str, b: str, limit: int, *, from_end: bool) -> int:
    """How many characters (at most `limit`) a and b share at the start (or the end);
    a binary search over slice comparisons, which run in C."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        same = a[-middle:] == b[-middle:] if from_end else a[:middle] == b[:middle]
        if same:
            low = middle
        else:
            high = middle - 1
    return low


def generalized_key(key: str) -> str | None:
    """The key with every number as "#", when that merges anything worth merging.

    None when the key has no number (nothing to merge) or no letter (a bare "# → #"
    would lump every unrelated value correction together).
    """
    general = _NUMBER.sub("#", key)
    if general == key or not _LETTER.search(general):
        return None
    return general


@dataclass(frozen=True)
class RecurringEdit:
    kind: str
    key: str
    before: str | None
    after: str | None
    items: int  # distinct items showing this change (estimated, upper bound)
    examples: tuple[str, ...]  # up to 3 item ids


class EditMiner:
    """Streams (item_id, output, final) of ONE workflow; memory is bounded by `capacity`
    whatever the number of items (uses SpaceSaving)."""

    def __init__(self, capacity: int = 1000) -> None:
        # Examples are (item_id, before, after): the ids for the digest to link, the texts
        # to show one real instance of the change.
        self._literal: SpaceSaving[tuple[FragmentKind, str]] = SpaceSaving(
            capacity, examples_per_key=3
        )
        # "net 30 → net 14" and "net 45 → net 14" also count together as "net # → net #".
        self._generalized: SpaceSaving[str] = SpaceSaving(capacity, examples_per_key=3)
        self._edited_items = 0

    def add(self, item_id: str, output: str, final: str) -> None:
        fragments = edit_fragments(output, final)
        if not fragments:
            return
        self._edited_items += 1
        seen: set[tuple[str, str]] = set()
        seen_general: set[str] = set()
        for fragment in fragments:
            example = (item_id, fragment.before, fragment.after)
            # A change made twice in one item still counts once: we count items, not edits.
            if (fragment.kind, fragment.key) not in seen:
                seen.add((fragment.kind, fragment.key))
                self._literal.add((fragment.kind, fragment.key), example=example)
            if fragment.kind != "replaced":
                continue
            general = generalized_key(fragment.key)
            if general is not None and general not in seen_general:
                seen_general.add(general)
                self._generalized.add(general, example=example)

    @property
    def edited_items(self) -> int:
        return self._edited_items

    def recurring(
        self, *, min_items: int = 3, min_share: float = 0.2, top: int = 5
    ) -> list[RecurringEdit]:
        """Changes seen in at least `min_items` items and `min_share` of the edited items,
        most frequent first.

        Qualifying uses the guaranteed count (count - error), so keys that only sit in the
        counter because noise churned through it are never reported.
        """
        needed = max(min_items, min_share * self._edited_items)
        literal = self._literal.top(len(self._literal))
        found: list[RecurringEdit] = []
        # A generalized group is news only when it gathers more items than its best
        # literal variant; otherwise it repeats a line already reported.
        best_variant: dict[str, int] = {}
        for hitter in literal:
            kind, key = hitter.key
            if hitter.count - hitter.error >= needed:
                found.append(_recurring(kind, key, hitter.count, hitter.examples))
            general = generalized_key(key) if kind == "replaced" else None
            if general is not None:
                best_variant[general] = max(best_variant.get(general, 0), hitter.count)
        for group in self._generalized.top(len(self._generalized)):
            guaranteed = group.count - group.error
            if guaranteed >= needed and guaranteed > best_variant.get(group.key, 0):
                found.append(_recurring("replaced", group.key, group.count, group.examples))
        found.sort(key=lambda edit: (-edit.items, edit.kind, edit.key))
        return found[: max(top, 0)]


def _recurring(
    kind: str, key: str, items: int, examples: tuple[tuple[str, str | None, str | None], ...]
) -> RecurringEdit:
    _, before, after = examples[0]
    return RecurringEdit(
        kind=kind,
        key=key,
        before=before,
        after=after,
        items=items,
        examples=tuple(item_id for item_id, _, _ in examples),
    )
