"""Which conversations a reviewer checks (抽检): per agent, a documented mix.

For each agent (the conversation's primary agent) :func:`sample` draws ``per_agent`` conversations,
in this order, never the same conversation twice:

1. ``critical`` — conversations with a critical finding (an agent-side hit in a
   ``score.critical_categories`` category), lowest QA score first: ``review.sample_critical`` × n;
2. ``lowest`` — the lowest ``qa_score`` (then conversation id): ``review.sample_lowest`` × n;
3. ``outlier`` — the longest customer wait (slowest round; an unanswered round counts as the
   longest): ``review.sample_outliers`` × n;
4. ``random`` — the rest, uniformly at random from what is left.

Shares are rounded up (10 × 0.2 → 2). A group with too few candidates leaves its places to the next
groups (in the end to ``random``); an agent with fewer conversations than ``per_agent`` gets all of
them. Randomness comes from ``numpy.random.default_rng([seed, crc32(agent)])``: the same seed gives
the same sample, and one agent's draw does not depend on the other agents.
"""

from __future__ import annotations

import logging
import math
import zlib
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REASONS = ("critical", "lowest", "outlier", "random")
REASON_LABELS = {"critical": "严重违规", "lowest": "最低分", "outlier": "等待最久", "random": "随机"}
"""How a reason is shown in the review workbook."""


def _candidates(audit: Any) -> pd.DataFrame:
    """Per conversation with a primary agent: ``conversation_id, agent, qa_score, critical, wait_s``."""
    conv = audit.conversations
    c = conv.loc[conv["agent"].notna(), ["conversation_id", "agent", "qa_score"]].copy()
    crit = conv["critical"] if "critical" in conv else pd.Series(False, index=conv.index)
    c["critical"] = crit.loc[c.index].astype("boolean").fillna(False).astype(bool).to_numpy()
    r = audit.rounds
    if len(r):
        wait = pd.to_numeric(r["response_s"], errors="coerce")
        wait = wait.where(r["answered"].astype("boolean").fillna(False).astype(bool), np.inf)
        c["wait_s"] = c["conversation_id"].map(wait.groupby(r["conversation_id"].to_numpy()).max()).astype("float64")
    else:
        c["wait_s"] = np.nan
    return c.sort_values("conversation_id", kind="stable").reset_index(drop=True)


def _draw(g: pd.DataFrame, n: int, shares: dict[str, float], rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows of one agent's candidates ``g`` with their ``reason`` (module docstring)."""
    chosen: dict[int, str] = {}  # row label -> reason, in the order drawn

    def take(order: Any, k: int, reason: str) -> None:
        for i in order:
            if len(chosen) >= n or k <= 0:
                break
            if i not in chosen:
                chosen[i] = reason
                k -= 1

    score = g["qa_score"].astype("float64")
    crit = g.loc[g["critical"]]
    take(crit.assign(_s=score.loc[crit.index].fillna(np.inf)).sort_values(["_s", "conversation_id"], kind="stable").index,
         math.ceil(shares["critical"] * n), "critical")
    take(g.assign(_s=score).dropna(subset=["_s"]).sort_values(["_s", "conversation_id"], kind="stable").index,
         math.ceil(shares["lowest"] * n), "lowest")
    take(g.dropna(subset=["wait_s"]).sort_values(["wait_s", "conversation_id"], ascending=[False, True],
                                                 kind="stable").index,
         math.ceil(shares["outlier"] * n), "outlier")
    rest = np.array([i for i in g.index if i not in chosen], dtype=np.int64)
    take(rng.permutation(rest), n - len(chosen), "random")
    return g.loc[list(chosen)].assign(reason=list(chosen.values()))


def sample(audit: Any, per_agent: int = 10, seed: int = 1, config: Any = None) -> pd.DataFrame:
    """The review sample of ``audit``: ``agent, conversation_id, reason, qa_score, wait_s`` (one row per
    conversation, agents in name order, each agent's rows in the order drawn). Shares from
    ``config.review`` (default: the audit's config)."""
    if per_agent < 1:
        raise ValueError("per_agent must be at least 1")
    cfg = (config or audit.config).review
    shares = {"critical": cfg.sample_critical, "lowest": cfg.sample_lowest, "outlier": cfg.sample_outliers}
    cand = _candidates(audit)
    parts = []
    for agent, g in cand.groupby("agent", sort=True):
        rng = np.random.default_rng([int(seed), zlib.crc32(str(agent).encode("utf-8"))])
        parts.append(_draw(g, min(per_agent, len(g)), shares, rng))
    cols = ["agent", "conversation_id", "reason", "qa_score", "wait_s"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str" if c in cols[:3] else "float64") for c in cols})
    out = pd.concat(parts, ignore_index=True)[cols]
    out["reason"] = out["reason"].astype("str")
    log.info("review sample: %d conversations of %d agents (%s)", len(out), out["agent"].nunique(),
             ", ".join(f"{r} {int((out['reason'] == r).sum())}" for r in REASONS))
    return out
