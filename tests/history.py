"""A generated review history, with optional planted friction, for digest tests and benchmarks.

`generate_history` writes weeks of decided items straight into the tables (as the bot would
have left them), with a baseline in which nothing recurs and, on request, patterns the weekly
friction digest must find. `bulk_decided_items` loads millions of plain decided items fast.

Every edit in the baseline replaces one short phrase with another, both drawn without
replacement, so no two edits share a changed phrase: whatever recurs was planted.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from ulid import ULID

from rules.loader import load_rules_text
from rules.schema import Route
from storage.db import Database
from storage.models import Decision, ReviewItem, Status, table_of

HISTORY_RULES = """\
timezone: Europe/Berlin
digest:
  channel: C0OPSREVIEW
  schedule: "mon 09:00"
routes:
  - name: invoices
    match: {workflow: ap-invoices}
    auto_approve_at: 0.97
    owner: {channel: C0APREVIEW, users: [U0ALICE, U0BOB]}
    escalation:
      - {after: 30m, to: [U0MANAGER]}
    reject_reasons: [wrong_amount, wrong_vendor, duplicate, other]
  - name: support
    match: {workflow: support-replies}
    owner: {channel: C0SUPPORT, users: [U0CAROL, U0DAVE]}
    reject_reasons: [wrong_tone, wrong_facts, other]
  - name: contracts
    match: {workflow: contract-review}
    owner: {channel: C0LEGAL, users: [U0ERIN]}
    escalation:
      - {after: 1h, to: [U0LEGALLEAD]}
    reject_reasons: [risky_clause, other]
  - name: faq
    match: {workflow: faq-answers}
    owner: {channel: C0FAQ, users: [U0FRANK]}
    reject_reasons: [wrong_facts, other]
  - name: refunds
    match: {workflow: refunds}
    owner: {channel: C0REFUNDS, users: [U0GRACE]}
    reject_reasons: [policy, amount, other]
"""

PLANTED: frozenset[str] = frozenset(
    {
        "recurring_rejection",
        "deleted_phrase",
        "escalated_owner",
        "earned_auto_approval",
        "rising_rejections",
    }
)

AI_PHRASE = "As an AI language model, "
TIMEZONE = ZoneInfo("Europe/Berlin")
_LOADED = load_rules_text(HISTORY_RULES)
RULES_VERSION = _LOADED.version
ROUTES: dict[str, Route] = {route.name: route for route in _LOADED.rules.routes}
SNAPSHOTS: dict[str, dict[str, Any]] = {
    name: route.model_dump(mode="json") for name, route in ROUTES.items()
}
AGENTS = {
    "invoices": "invoice-bot",
    "support": "support-bot",
    "contracts": "contract-bot",
    "faq": "faq-bot",
    "refunds": "refund-bot",
}
_EXPIRED_NOTE = "Nobody decided before the escalation chain ran out."  # as storage.escalations
_BATCH = 1000
_ITEMS, _DECISIONS = table_of(ReviewItem), table_of(Decision)  # for bulk Core inserts


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


# The words edits swap. Noun pools are disjoint across routes, so a changed phrase
# ("adjective noun") can only recur if it was planted.
_ADJECTIVES = _words(
    "refurbished annual express quarterly regional bulk premium standard recycled wireless "
    "ergonomic modular insulated portable compact certified heavy-duty custom spare outdoor "
    "digital seasonal industrial replacement extended temporary shared hybrid backup priority "
    "archived weekly onsite remote legacy licensed"
)
_NOUNS = {
    "invoices": _words(
        "monitors cables pallets licences cartridges laptops chairs desks routers servers "
        "headsets batteries filters valves sensors brackets adapters lamps shelves lockers "
        "tablets printers scanners keyboards cameras projectors switches drives racks generators"
    ),
    "support": _words(
        "parcel subscription login voucher upgrade delivery booking password profile order "
        "exchange warranty return bundle membership plan device charger app newsletter payment "
        "shipment appointment reservation coupon transfer statement download installation "
        "activation"
    ),
    "contracts": _words(
        "indemnity liability termination renewal confidentiality assignment audit exclusivity "
        "jurisdiction arbitration escrow subcontracting insurance penalties milestones acceptance "
        "pricing invoicing data-processing non-compete non-solicitation publicity force-majeure "
        "change-control severability notices retention deliverables benchmarking set-off"
    ),
    "faq": _words(
        "pickup sizing loyalty discounts gifting customs tracking storage recycling rentals "
        "repairs trade-ins catalogues samples allergens ingredients cleaning assembly "
        "compatibility availability preorders backorders engraving personalisation accessibility "
        "parking wifi pets careers sustainability"
    ),
    "refunds": _words(
        "damage defect lateness cancellation duplication mispricing overcharge non-delivery "
        "wrong-size wrong-colour breakage spoilage missing-parts expiry recall downgrade outage "
        "double-billing goodwill chargeback discontinuation mislabelling shortfall theft "
        "misdelivery scratches leaks malfunction allergy shrinkage"
    ),
}
_VENDORS = _words(
    "ACME GmbH, Bürobedarf Schulz, Nordlicht AG, Kramer & Söhne, Vantage BV, Helix Supplies, "
    "Rheinwerk KG, Polar Logistics, Lindqvist AB, Optima SARL, Brandt Elektro, Quadrant Ltd",
    ", ",
)
_CUSTOMERS = _words("Anna Jonas Mia Paul Lea Ben Emma Noah Lina Elias Clara Finn Marie Luis Ida")
_COUNTERPARTIES = _words(
    "Fernwald Holding, Tessaro S.p.A., BlueRiver Inc., Kessler Medien, Arktis Energie, "
    "Marlow & Finch LLP, Solvay Logistik, Orbis Health",
    ", ",
)
_DOCTYPES = ("Master services agreement", "NDA", "Supply agreement", "Data processing addendum")
_QUESTIONS = (
    "Can I change my delivery address?",
    "Do you ship to Switzerland?",
    "How do I reset my password?",
    "Where is my invoice?",
    "Can I pay by bank transfer?",
    "How long does a refund take?",
    "Do gift cards expire?",
    "Can I collect my order in store?",
)
_TOPICS = ("late delivery", "double charge", "login problem", "damaged item", "address change")
_MONTHS = _words("January February March April May June July August September October")

# Rejection notes for the baseline: several phrasings per reason, filled with item details.
_NOTES: dict[str, tuple[str, ...]] = {
    "wrong_amount": (
        "VAT line missing, total should be higher",
        "Discount of {p}% not applied",
        "Booked net instead of gross",
    ),
    "wrong_vendor": (
        "This is {v}'s subsidiary, book to the parent",
        "Vendor master record is outdated",
        "Wrong branch of {v}",
    ),
    "duplicate": ("Already booked last week", "Same PDF as {n}", "Paid by card already"),
    "wrong_tone": ("Too curt for a VIP customer", "Sounds defensive", "Far too many apologies"),
    "wrong_facts": ("We stopped offering that in {m}", "Wrong opening hours", "Policy changed"),
    "risky_clause": ("Unlimited liability slipped in", "Auto-renewal without notice period"),
    "policy": ("Outside the {d}-day window", "Item was used", "Final sale item"),
    "amount": ("Refund should exclude shipping", "Partial refund only, {p}%"),
    "other": ("Escalated to finance instead", "Customer withdrew the request", "See ticket"),
}


@dataclass
class _Spec:
    """One planned item: its fate first, so the text can be made to fit it."""

    status: Status
    reason: str | None = None
    escalated: bool = False
    by_target: bool = False  # an escalated item decided by the escalation target
    band: str = "any"  # faq confidence band: high (>= 0.9) | low | any
    amount_note: bool = False  # planted: "Amount differs from the PDF (a vs b)"
    ai_phrase: bool = False  # planted: output starts with AI_PHRASE, the edit deletes it
    slot_edit: bool = False  # the edit replaces the item's slot phrase


@dataclass
class _Slots:
    """Slot phrases drawn without replacement, so no two edits change the same words."""

    rng: random.Random
    route: str
    unused: list[str] = field(default_factory=list)

    def fresh(self, *, unlike: str | None = None) -> str:
        if not self.unused:
            self._refill()
        if unlike is None:
            return self.unused.pop()
        old_adj, old_noun = unlike.split(" ")
        for _ in range(2):
            for index in range(len(self.unused) - 1, -1, -1):
                adj, noun = self.unused[index].split(" ")
                if adj != old_adj and noun != old_noun:  # both words change: one clean replace
                    return self.unused.pop(index)
            self._refill()  # only phrases sharing a word with `unlike` were left
        raise AssertionError("unreachable: a full pool always has a phrase unlike another")

    def _refill(self) -> None:
        # Only very long histories (or the bulk load) get here: phrases may repeat from now.
        self.unused = [f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS[self.route]]
        self.rng.shuffle(self.unused)

    def any(self) -> str:
        return f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(_NOUNS[self.route])}"


_SLOT = "\x00"  # where the slot phrase goes in an output template


@dataclass(frozen=True)
class _Text:
    title: str
    template: str  # the output, with _SLOT where the slot phrase goes
    context: dict[str, Any]
    links: list[dict[str, Any]]


def _money(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high):,}"


def _text(route: str, rng: random.Random, n: int, *, long: bool = False) -> _Text:
    """Realistic title and output for one item of `route`; `long` pads it to ~300 chars."""
    if route == "invoices":
        vendor, amount = rng.choice(_VENDORS), _money(rng, 180, 48_000)
        text = _Text(
            f"Invoice {n} from {vendor}, {amount} EUR",
            f"Booked to account {rng.randint(6000, 6999)}, cost centre {rng.randint(10, 99)}, "
            f"due 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}. "
            f"Line items: {rng.randint(2, 400)} x {_SLOT}.",
            {"vendor": vendor, "amount": f"{amount} EUR"},
            [{"text": "PDF", "url": f"https://files.example.com/{n}.pdf"}],
        )
    elif route == "support":
        name = rng.choice(_CUSTOMERS)
        text = _Text(
            f"Ticket #{n}: {rng.choice(_TOPICS)}",
            f"I'm sorry the {_SLOT} caused trouble, {name}. I have credited "
            f"{rng.randint(5, 60)} EUR to your account; ticket #{n} stays open until you "
            "confirm it works.",
            {"customer": name, "ticket": n},
            [{"text": "Ticket", "url": f"https://support.example.com/t/{n}"}],
        )
    elif route == "contracts":
        party = rng.choice(_COUNTERPARTIES)
        text = _Text(
            f"{rng.choice(_DOCTYPES)} with {party}",
            f"Reviewed {rng.randint(4, 60)} pages. Clause {rng.randint(2, 19)}."
            f"{rng.randint(1, 9)} on {_SLOT} deviates from our standard; suggested fallback: "
            f"cap at {rng.randint(50, 200)}% of annual fees, renewal term "
            f"{rng.choice((12, 24, 36))} months.",
            {"counterparty": party},
            [{"text": "Draft", "url": f"https://docs.example.com/contracts/{n}"}],
        )
    elif route == "faq":
        question = rng.choice(_QUESTIONS)
        text = _Text(
            f"Q: {question}",
            f"Yes, within {rng.randint(2, 30)} days of the order, from your account page. "
            f"See the help centre article on {_SLOT}.",
            {"question": question, "locale": rng.choice(("de", "en", "fr"))},
            [],
        )
    else:
        amount = _money(rng, 5, 2_400)
        text = _Text(
            f"Refund request {n}: {amount} EUR",
            f"Refund of {amount} EUR under policy R{rng.randint(1, 9)} for order "
            f"{rng.randint(100_000, 999_999)}; reason: {_SLOT}. Credit back to the original "
            "payment method within 5 days.",
            {"order_total": f"{amount} EUR"},
            [{"text": "Order", "url": f"https://shop.example.com/orders/{n}"}],
        )
    if long:
        adj, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS[route])
        text = _Text(
            text.title,
            f"{text.template} Checked against the {adj} {noun} records from "
            f"{rng.choice(_MONTHS)} and {rng.randint(2, 90)} similar cases; nothing conflicts. "
            f"Sources: run {rng.getrandbits(32):08x}, {rng.randint(2, 12)} documents, "
            f"{rng.randint(1, 5)} earlier decisions.",
            text.context,
            text.links,
        )
    return text


def _fill(template: str, slot: str) -> str:
    return template.replace(_SLOT, slot)


def _even_reasons(rng: random.Random, reasons: list[str], count: int) -> list[str]:
    """`count` reasons spread as evenly as possible, in random order."""
    reasons = list(reasons)
    rng.shuffle(reasons)  # which reasons get the remainder varies
    spread = [reasons[i % len(reasons)] for i in range(count)]
    rng.shuffle(spread)
    return spread


def _rejections(target: float, reasons: list[str]) -> int:
    """A rejection count near `target`, a multiple of the reasons where there are 3+.

    Then each reason gets exactly the same share, so none can look like a trend."""
    if len(reasons) < 3:
        return max(1, round(target))
    return len(reasons) * max(1, round(target / len(reasons)))


@dataclass(frozen=True)
class _Week:
    index: int
    weeks: int
    planted: frozenset[str]

    @property
    def last(self) -> bool:
        return self.index == self.weeks - 1

    @property
    def before_last(self) -> bool:
        return self.index == self.weeks - 2

    @property
    def last_two(self) -> bool:
        return self.index >= self.weeks - 2


def _plan(route: str, week: _Week, rng: random.Random) -> list[_Spec]:
    """The fates of one route's items in one week, in exact numbers."""
    reasons = ROUTES[route].reason_ids()
    specs: list[_Spec] = []

    def add(count: int, status: Status, **kwargs: Any) -> None:
        specs.extend(_Spec(status, **kwargs) for _ in range(count))

    if route == "faq":
        earned = "earned_auto_approval" in week.planted
        high = rng.randint(160, 180) if earned else rng.randint(55, 75)
        low = rng.randint(40, 60) if earned else rng.randint(45, 65)
        if earned:  # at most one in ~170 touched: >= 99% approved unchanged
            slips = rng.choice((0, 1))
            add(high - slips, Status.APPROVED, band="high")
            add(slips, Status.EDITED, band="high", slot_edit=True)
        else:  # approved unchanged only ~85% of the time: no threshold earned
            edited, rejected = round(high * 0.10), round(high * 0.05)
            add(high - edited - rejected, Status.APPROVED, band="high")
            add(edited, Status.EDITED, band="high", slot_edit=True)
            add(rejected, Status.REJECTED, band="high")
        pending = 2 if week.last else 0
        edited, rejected = round(low * 0.20), round(low * 0.25)
        add(low - edited - rejected - pending, Status.APPROVED, band="low")
        add(edited, Status.EDITED, band="low", slot_edit=True)
        add(rejected, Status.REJECTED, band="low")
        add(pending, Status.PENDING, band="low")
    else:
        volume = {
            "invoices": (100, 140),
            "support": (90, 130),
            "contracts": (60, 80),
            "refunds": (95, 105),
        }[route]
        total = rng.randint(*volume)
        auto = rng.randint(8, 14) if route == "invoices" else 0
        human = total - auto
        add(auto, Status.AUTO_APPROVED)
        chained = bool(ROUTES[route].escalation)
        expired = rng.randint(1, 2) if chained else 0
        pending = rng.randint(2, 3) if week.last and not chained else 0
        edit_share = rng.uniform(0.12, 0.15)
        reject_share = 0.11 if route == "refunds" else rng.uniform(0.11, 0.14)  # refunds: flat
        rising = route == "refunds" and "rising_rejections" in week.planted
        if route == "invoices" and "recurring_rejection" in week.planted and week.last_two:
            rejected = round(total * rng.uniform(0.24, 0.27))
            amount = math.ceil(rejected * 0.85)
            others = _even_reasons(rng, reasons[1:], rejected - amount)
            specs.extend(
                _Spec(Status.REJECTED, "wrong_amount", amount_note=True) for _ in range(amount)
            )
            specs.extend(_Spec(Status.REJECTED, reason) for reason in others)
        else:
            if rising and (week.before_last or week.last):  # 5% then 40%, exactly
                rejected = round(human * (0.40 if week.last else 0.05))
            else:
                rejected = _rejections(human * reject_share, reasons)
            specs.extend(
                _Spec(Status.REJECTED, reason) for reason in _even_reasons(rng, reasons, rejected)
            )
        if route == "support" and "deleted_phrase" in week.planted and week.last_two:
            phrase_edits = math.ceil(human * rng.uniform(0.44, 0.50))
            for _ in range(phrase_edits):  # some reviewers also fix a word while at it
                specs.append(_Spec(Status.EDITED, ai_phrase=True, slot_edit=rng.random() < 0.3))
            edited = 0
        else:
            edited = round(human * edit_share)
        add(edited, Status.EDITED, slot_edit=True)
        add(expired, Status.EXPIRED, escalated=True)
        add(pending, Status.PENDING)
        add(total - len(specs), Status.APPROVED)
        if chained:
            _mark_escalated(route, week, rng, specs)
    rng.shuffle(specs)
    if route == "faq":
        for spec, reason in zip(
            [s for s in specs if s.status == Status.REJECTED],
            _even_reasons(rng, reasons, sum(s.status == Status.REJECTED for s in specs)),
            strict=True,
        ):
            spec.reason = reason
    return specs


def _mark_escalated(route: str, week: _Week, rng: random.Random, specs: list[_Spec]) -> None:
    decided = [
        s
        for s in specs
        if s.status in (Status.APPROVED, Status.EDITED, Status.REJECTED) and not s.escalated
    ]
    planted = route == "contracts" and "escalated_owner" in week.planted and week.last_two
    if planted:  # the owner is skipped almost every time, and the lead decides
        count = min(len(decided), math.ceil(len(specs) * 0.88))
    else:  # rare: ~10% of the items, the expired ones included
        count = round(len(specs) * rng.uniform(0.06, 0.08))
    for spec in rng.sample(decided, count):
        spec.escalated = True
        spec.by_target = planted or rng.random() < 0.7


def _created_in(rng: random.Random, start: datetime) -> datetime:
    """A moment of the week starting at `start`, mostly in Berlin office hours."""
    day = rng.choices(range(7), weights=(10, 10, 10, 10, 9, 1.5, 1))[0]
    local = start.astimezone(TIMEZONE).replace(tzinfo=None) + timedelta(days=day)
    local += timedelta(hours=rng.uniform(7.5, 18.5))
    return local.replace(tzinfo=TIMEZONE).astimezone(UTC).replace(microsecond=0)


def _wait(rng: random.Random, route: Route, spec: _Spec) -> timedelta:
    """How long the item waited for its decision, consistent with the route's chain."""
    if spec.status == Status.AUTO_APPROVED:
        return timedelta(0)
    if not route.escalation:  # no chain: minutes mostly, sometimes hours
        minutes = min(rng.lognormvariate(math.log(25), 1.2), 30 * 60)
        return timedelta(seconds=round(max(minutes, 0.5) * 60))
    after = route.escalation[0].after
    after_minutes = after.total_seconds() / 60
    if spec.status == Status.EXPIRED:  # escalated, then the chain ran out after `after` again
        return 2 * after
    if spec.escalated:  # decided after the first deadline, before the chain ran out
        minutes = after_minutes + rng.uniform(2, after_minutes - 2)
    else:  # decided before anyone had to be reminded
        minutes = rng.triangular(0.5, after_minutes - 0.5, after_minutes * 0.3)
    return timedelta(seconds=round(minutes * 60))


def _confidence(rng: random.Random, route: str, spec: _Spec) -> float:
    if spec.status == Status.AUTO_APPROVED:
        return round(rng.uniform(0.97, 0.999), 3)
    if spec.band == "high":
        return round(rng.uniform(0.9, 0.995), 3)
    mode = {Status.APPROVED: 0.82, Status.EDITED: 0.7, Status.REJECTED: 0.55}.get(spec.status, 0.7)
    value = rng.triangular(0.2, 0.99, mode)
    if spec.band == "low":
        value = min(value, 0.899)
    if route == "invoices":  # at or above 0.97 the route would have auto-approved it
        value = min(value, 0.969)
    return round(value, 3)


def _note(rng: random.Random, spec: _Spec, text: _Text, n: int) -> str | None:
    if spec.amount_note:  # planted: the same complaint, with different figures each time
        booked = rng.randint(1_000, 60_000)
        digits = list(str(booked))
        i = rng.randrange(len(digits) - 1)
        digits[i], digits[i + 1] = digits[i + 1], digits[i]
        actual = int("".join(digits)) if digits[i] != digits[i + 1] else booked + 360
        return f"Amount differs from the PDF ({booked:,} vs {actual:,})"
    if spec.reason is None or rng.random() < 0.4:
        return None
    vendor = text.context.get("vendor", "the vendor")
    return rng.choice(_NOTES[spec.reason]).format(
        p=rng.randint(2, 15),
        v=vendor,
        n=n - rng.randint(3, 300),
        m=rng.choice(_MONTHS),
        d=rng.choice((14, 30)),
    )


class _Builder:
    """Turns planned specs into review_item and decision rows."""

    def __init__(self, rng: random.Random, *, tag: str = "") -> None:
        self.rng = rng
        self.tag = tag  # keeps external ids apart from another builder's in the same database
        self.seq = 0
        self.slots = {name: _Slots(rng, name) for name in ROUTES}

    def item_id(self, created: datetime) -> str:
        # A ULID like the bot's, from the creation time and the seeded generator.
        millis = int(created.timestamp() * 1000)
        return f"rv_{ULID.from_bytes(millis.to_bytes(6, 'big') + self.rng.randbytes(10))}"

    def rows(
        self,
        route_name: str,
        spec: _Spec,
        created_at: Callable[[], datetime],
        end: datetime,
        *,
        long: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """One item (and its decision), created by `created_at()` and decided before `end`."""
        rng, route = self.rng, ROUTES[route_name]
        self.seq += 1
        n = 4000 + self.seq
        text = _text(route_name, rng, n, long=long)
        slots = self.slots[route_name]
        slot = slots.fresh() if spec.slot_edit else slots.any()
        output = _fill(text.template, slot)
        final: str | None = None
        if spec.status == Status.EDITED:
            final = _fill(text.template, slots.fresh(unlike=slot) if spec.slot_edit else slot)
            if spec.ai_phrase:
                output = AI_PHRASE + output
        elif spec.status in (Status.APPROVED, Status.AUTO_APPROVED):
            final = output

        chain = route.escalation
        wait = _wait(rng, route, spec)
        if spec.status == Status.PENDING:  # still waiting when the period closes
            created = (end - timedelta(hours=rng.uniform(1, 20))).replace(microsecond=0)
        else:
            created = created_at()
            while created + wait >= end:  # decided within its period, never in the future
                created = created_at()
        # Auto-approved items never waited, so no deadline was ever scheduled for them.
        waited = chain and spec.status != Status.AUTO_APPROVED
        first_deadline = created + chain[0].after if waited else None
        decided = None if spec.status == Status.PENDING else created + wait
        deadline = first_deadline
        escalations: list[dict[str, Any]] = []
        if spec.escalated and first_deadline is not None:
            deadline = first_deadline + chain[-1].after  # the exhaust step came next
            escalations = [
                {
                    "level": 1,
                    "to": list(chain[0].to),
                    "channel": chain[0].channel,
                    "at": first_deadline.isoformat(),
                    "step": 0,
                    "repeat": 0,
                }
            ]
        item = {
            "id": self.item_id(created),
            "agent": AGENTS[route_name],
            "external_id": f"{route_name[:3]}-{self.tag}{n}",
            "workflow": route.match.workflow,
            "route": route_name,
            "route_snapshot": SNAPSHOTS[route_name],
            "rules_version": RULES_VERSION,
            "title": text.title,
            "output": output,
            "final_output": final,
            "confidence": _confidence(rng, route_name, spec),
            "context": text.context,
            "links": text.links,
            "callback_url": None,
            "metadata": {"model": "gpt-x", "prompt_version": f"v{rng.randint(10, 14)}"},
            "status": str(spec.status),
            "channel": route.owner.channel,
            # Auto-approved items are not posted; the others got a Slack ts a second later.
            "message_ts": None
            if spec.status == Status.AUTO_APPROVED
            else f"{int(created.timestamp()) + 1}.{self.seq % 1_000_000:06d}",
            "escalation_level": len(escalations),
            "escalations": escalations,
            "approval_round": 1 if spec.status == Status.EDITED else 0,
            "created_at": created,
            "deadline": deadline,
            "first_deadline": first_deadline,
            "decided_at": decided,
            "callback_status": "none",
            "callback_error": None,
        }
        if decided is None:
            return item, None
        note = None
        if spec.status == Status.EXPIRED:
            note = _EXPIRED_NOTE
        elif spec.status == Status.REJECTED:
            note = _note(rng, spec, text, n)
        system = spec.status in (Status.AUTO_APPROVED, Status.EXPIRED)
        person = rng.choice(chain[0].to if spec.by_target else route.owner.users)
        decision = {
            "item_id": item["id"],
            "status": str(spec.status),
            "by": "hitl" if system else person,
            "source": "system" if system else "slack",
            "reason": spec.reason if spec.status == Status.REJECTED else None,
            "note": note,
            "at": decided,
        }
        return item, decision


def generate_history(
    db: Database,
    *,
    week_start: datetime,
    weeks: int = 4,
    planted: Iterable[str] = PLANTED,
    seed: int = 7,
) -> None:
    """Insert `weeks` weeks of review history, the last one [week_start, week_start + 7d)."""
    if week_start.tzinfo is None:
        raise ValueError("week_start must be an aware datetime")
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    chosen = frozenset(planted)
    if unknown := chosen - PLANTED:
        raise ValueError(f"unknown planted patterns: {sorted(unknown)}")
    rng = random.Random(seed)
    builder = _Builder(rng)
    items: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    # Earlier weeks start at the same wall-clock time in Berlin, so a week that spans a
    # daylight-saving change is 167 or 169 hours long, as the digest's weeks will be.
    local = week_start.astimezone(TIMEZONE)
    starts = [(local - timedelta(weeks=weeks - 1 - i)).astimezone(UTC) for i in range(weeks)]
    ends = [*starts[1:], week_start.astimezone(UTC) + timedelta(days=7)]
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        week = _Week(index, weeks, chosen)

        def in_week(start: datetime = start) -> datetime:
            return _created_in(rng, start)

        for route in ROUTES:
            for spec in _plan(route, week, rng):
                item, decision = builder.rows(route, spec, in_week, end)
                items.append(item)
                if decision is not None:
                    decisions.append(decision)
    items.sort(key=lambda row: row["created_at"])  # inserted in arrival order, as in life
    with db.write() as session:
        for first in range(0, len(items), _BATCH):
            session.execute(insert(_ITEMS), items[first : first + _BATCH])
        for first in range(0, len(decisions), _BATCH):
            session.execute(insert(_DECISIONS), decisions[first : first + _BATCH])


# Bulk: route shares and status mixes of a plausible busy installation.
_BULK_ROUTES: tuple[str, ...] = ("invoices",) * 30 + ("support",) * 25 + ("contracts",) * 10
_BULK_ROUTES += ("faq",) * 20 + ("refunds",) * 15
_ITEM_COLUMNS = [column.name for column in _ITEMS.columns]
_DECISION_COLUMNS = ["item_id", "status", "by", "source", "reason", "note", "at"]
# JSON columns; output and final_output too (structured items), whose NULL stays SQL NULL.
_JSON_COLUMNS = frozenset(
    {"route_snapshot", "context", "links", "metadata", "escalations", "output", "final_output"}
)
_SNAPSHOT_JSON = {name: json.dumps(snapshot) for name, snapshot in SNAPSHOTS.items()}


def _bulk_spec(rng: random.Random, route_name: str) -> _Spec:
    route = ROUTES[route_name]
    draw = rng.random()
    if route.auto_approve_at is not None:
        if draw < 0.09:
            return _Spec(Status.AUTO_APPROVED)
        draw = (draw - 0.09) / 0.91
    chained = bool(route.escalation)
    if chained and draw < 0.01:
        return _Spec(Status.EXPIRED, escalated=True)
    if draw < 0.12:
        spec = _Spec(Status.REJECTED, rng.choice(route.reason_ids()))
    elif draw < 0.25:
        spec = _Spec(Status.EDITED, slot_edit=True)
    else:
        spec = _Spec(Status.APPROVED)
    if chained and rng.random() < 0.08:
        spec.escalated, spec.by_target = True, rng.random() < 0.7
    return spec


def _bulk_rows(
    count: int, since: datetime, until: datetime, seed: int
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    rng = random.Random(seed)
    builder = _Builder(rng, tag=f"b{seed}-")
    weeks = max(1, math.ceil((until - since) / timedelta(weeks=1)))

    def created_at() -> datetime:
        # Office hours of a random week of the span; the last week may be cut short.
        while True:
            created = _created_in(rng, since + timedelta(weeks=rng.randrange(weeks)))
            if since <= created < until:
                return created

    for _ in range(count):
        route = rng.choice(_BULK_ROUTES)
        item, decision = builder.rows(route, _bulk_spec(rng, route), created_at, until, long=True)
        assert decision is not None  # bulk items are all decided
        yield item, decision


def _batches(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_text(value: Any) -> str:
    r"""A value in COPY's text format: \N for NULL, backslash escapes for the rest."""
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_lines(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    for row in rows:
        values = []
        for column in columns:
            value = row.get(column)  # columns the bot fills later (e.g. delivery_error) are NULL
            if column == "route_snapshot":
                value = _SNAPSHOT_JSON[row["route"]]  # the same for every item of a route
            elif column in _JSON_COLUMNS and value is not None:
                value = json.dumps(value)
            values.append(_copy_text(value))
        out.write("\t".join(values))
        out.write("\n")
    return out.getvalue().encode("utf-8")


def bulk_decided_items(
    db: Database,
    *,
    count: int,
    since: datetime,
    until: datetime,
    seed: int = 1,
    batch: int = 5000,
) -> None:
    """Load `count` decided items (and their decisions) created in [since, until), fast.

    Rows are made and written one batch at a time, so memory stays flat whatever `count`,
    one transaction per batch. PostgreSQL gets COPY, SQLite executemany; on both most of the
    time goes to making the rows and to index upkeep (1,000,000 items: about 3 minutes).
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be aware datetimes")
    if until - since < timedelta(days=2):
        raise ValueError("the span must be at least two days, to fit the waits")
    batches = _batches(_bulk_rows(count, since, until, seed), batch)
    if not db.is_postgres:
        for rows in batches:
            with db.write() as session:
                session.execute(insert(_ITEMS), [item for item, _ in rows])
                session.execute(insert(_DECISIONS), [decision for _, decision in rows])
        return
    item_copy = f"COPY review_item ({', '.join(_ITEM_COLUMNS)}) FROM STDIN"
    quoted = ", ".join(f'"{column}"' for column in _DECISION_COLUMNS)  # "by" is a keyword
    decision_copy = f"COPY decision ({quoted}) FROM STDIN"
    raw = db.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        for rows in batches:
            with connection.cursor() as cursor:
                with cursor.copy(item_copy) as copy:
                    copy.write(_copy_lines([item for item, _ in rows], _ITEM_COLUMNS))
                with cursor.copy(decision_copy) as copy:
                    copy.write(_copy_lines([d for _, d in rows], _DECISION_COLUMNS))
            connection.commit()  # one transaction per batch: a failure loses one batch only
    finally:
        raw.close()
