"""Budget profiles: how much work a run may do. Every command and refiner reads them from here."""

from __future__ import annotations

#: the profiles, cheapest first, with what each is for
BUDGET_HELP = {
    "smoke": "seconds: a tiny network on a few batches (tests and CI)",
    "quick": "the default: minutes on a laptop CPU",
    "paper": "the papers' own hyperparameters and sizes (a GPU is recommended)",
}
BUDGETS: tuple[str, ...] = tuple(BUDGET_HELP)
DEFAULT_BUDGET = "quick"


def check_budget(budget: str) -> str:
    """``budget`` if it is a known profile, else a :class:`ConfigurationError` listing them."""
    if budget not in BUDGETS:
        from .errors import ConfigurationError

        raise ConfigurationError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}")
    return budget
