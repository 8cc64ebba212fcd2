"""How often a person's App Home is republished, and whose Homes a new item concerns.

Kept apart from `commands.queue` (which reads and refreshes Homes after other changes) so
that `commands.items` can queue a new item's refresh inside the submission's transaction."""

from datetime import timedelta

from rules import Route
from storage.home_viewers import HomeRefresh

# A person's Home is published at most this often; changes in between are coalesced.
HOME_EVERY = timedelta(seconds=3)


def submitted_home_refresh(route: Route) -> HomeRefresh:
    """A new pending item is in the queue of its route's owners, nobody else's yet (no
    escalation, taker or decision): `commands.queue.people_to_refresh` of a fresh item.
    A route without owners lets anyone decide: every open Home."""
    owners = route.owner.users
    return HomeRefresh(tuple(owners) if owners else None, HOME_EVERY)
