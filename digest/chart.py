"""One picture for the digest: how each route's items ended, this period against the last."""

import io

# The object API, not pyplot: no global figure state, so the outbox threads can draw safely.
from matplotlib.figure import Figure

from digest.model import Digest

_OUTCOMES = (
    ("auto_approved", "auto-approved", "#9ecae1"),
    ("approved", "approved", "#31a354"),
    ("edited", "edited", "#fdae6b"),
    ("rejected", "rejected", "#de2d26"),
    ("expired", "expired", "#756bb1"),
)


def outcomes_chart(digest: Digest, max_routes: int = 8) -> bytes | None:
    """Stacked bars per route (previous and current period side by side); None if empty."""
    routes = [group for group in digest.routes if group.current.volume or group.previous.volume]
    routes = routes[:max_routes]
    if not routes:
        return None
    figure = Figure(figsize=(8, 0.9 + 0.75 * len(routes)), dpi=110)
    axes = figure.subplots()
    labels, rows = [], []
    for group in reversed(routes):
        labels += [f"{group.name} (prev.)", group.name]
        rows += [group.previous.outcomes, group.current.outcomes]
    left = [0.0] * len(rows)
    for field, label, color in _OUTCOMES:
        values = [float(getattr(row, field)) for row in rows]
        axes.barh(labels, values, left=left, color=color, label=label, height=0.7)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_xlabel("items")
    axes.set_title(f"How items ended, {digest.period.label} vs the period before")
    axes.legend(loc="lower right", fontsize="small", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
