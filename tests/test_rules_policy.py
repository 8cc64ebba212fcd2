from datetime import timedelta

from rules import EscalationStep, Route, escalation_chain, may_decide


def make_route(users: list[str], **extra: object) -> Route:
    return Route.model_validate(
        {
            "name": "invoices",
            "match": {"workflow": "ap-invoices"},
            "owner": {"channel": "C0APREVIEW", "users": users},
            **extra,
        }
    )


def test_listed_owners_may_decide_and_others_may_not() -> None:
    route = make_route(["U0ALICE", "U0BOB"])
    assert may_decide(route, "U0ALICE")
    assert may_decide(route, "U0BOB")
    assert not may_decide(route, "U0MALLORY")


def test_without_listed_users_anyone_may_decide() -> None:
    route = make_route([])
    assert may_decide(route, "U0ANYONE")


def test_people_the_item_was_escalated_to_may_decide() -> None:
    route = make_route(["U0ALICE"])
    assert may_decide(route, "U0MANAGER", escalated_to=["U0MANAGER"])
    assert may_decide(route, "U0MANAGER", escalated_to=iter(["U0DIRECTOR", "U0MANAGER"]))
    assert not may_decide(route, "U0MANAGER", escalated_to=["U0DIRECTOR"])


def test_escalation_named_in_rules_does_not_grant_rights_before_it_happens() -> None:
    route = make_route(["U0ALICE"], escalation=[{"after": "30m", "to": ["U0MANAGER"]}])
    assert not may_decide(route, "U0MANAGER")


def test_escalation_chain_repeats_the_last_step() -> None:
    route = make_route(
        ["U0ALICE"],
        escalation=[{"after": "30m", "to": ["U0MANAGER"]}, {"after": "2h", "to": ["U0DIRECTOR"]}],
        repeat=2,
    )
    chain = escalation_chain(route)
    assert [step.to for step in chain] == [
        ["U0MANAGER"],
        ["U0DIRECTOR"],
        ["U0DIRECTOR"],
        ["U0DIRECTOR"],
    ]
    assert chain[-1] == EscalationStep(after=timedelta(hours=2), to=["U0DIRECTOR"])


def test_no_escalation_means_an_empty_chain() -> None:
    assert escalation_chain(make_route(["U0ALICE"])) == []
