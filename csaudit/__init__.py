"""csaudit — audit e-commerce customer-service chats and report per agent.

>>> import csaudit as ca
>>> chats = ca.read_chats("data/sample_chats")            # doctest: +SKIP
>>> result = ca.audit(chats.messages, orders=ca.read_orders("data/sample_chats/orders.csv"))  # doctest: +SKIP
>>> result.agents[["agent", "qa_score", "rank"]]          # doctest: +SKIP

Heavy dependencies (pandas, jieba, snownlp, plotly) load lazily, on first use, so
``import csaudit`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Config": ("csaudit.config", "Config"),
    "read_chats": ("csaudit.io.chats", "read_chats"),
    "read_orders": ("csaudit.io.orders", "read_orders"),
    "read_ratings": ("csaudit.io.ratings", "read_ratings"),
    "audit": ("csaudit.audit", "audit"),
    "Audit": ("csaudit.audit", "Audit"),
    "sentiment": ("csaudit.metrics.sentiment", None),
    "review": ("csaudit.review", None),
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from csaudit import review  # noqa: F401
    from csaudit.audit import Audit, audit  # noqa: F401
    from csaudit.config import Config  # noqa: F401
    from csaudit.io.chats import read_chats  # noqa: F401
    from csaudit.io.orders import read_orders  # noqa: F401
    from csaudit.io.ratings import read_ratings  # noqa: F401
    from csaudit.metrics import sentiment  # noqa: F401


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'csaudit' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
