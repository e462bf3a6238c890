"""Service depth — the habits the shop articles ask for (issue 14, item 6).

Definitions (``ServiceConfig``; agent messages = ``role == "agent"`` rows):

Emoticons
    Matches of ``emoticon_patterns`` (旺旺 codes such as ``[微笑]``, slash codes such as ``/:^_^``,
    emoji) in agent messages, non-overlapping, patterns tried together (leftmost first).
    ``emoticons_per100`` = emoticons × 100 ÷ agent messages; ``emoticon_message_share`` = agent
    messages with ≥ 1 emoticon ÷ agent messages.
Quick reply (快捷短语)
    An agent text (whitespace-trimmed, exact) of at least ``quick_reply_min_chars`` characters that
    the shop's agents (any of them) sent in at least ``quick_reply_min_conversations`` conversations.
    ``quick_reply_share`` = the agent's quick-reply messages ÷ agent messages. ``quick_replies``
    lists the texts (``text, n_conversations, n_messages, n_agents``).
    When the conversations carry a predicted satisfaction ``csat``: ``csat_with_quick`` /
    ``csat_without_quick`` = mean csat of the agent's conversations with / without a quick reply.
Typing speed (an estimate)
    For two consecutive agent messages of one turn (same conversation, same agent, nothing between
    them) at most ``typing_max_gap_s`` apart and with a positive gap: the later message's characters
    ÷ the gap in minutes. It assumes the agent typed the second message during that gap, so it is
    only an estimate: reading and thinking time lower it, and pasted quick replies are left out.
    ``typing_cpm`` = median per agent; ``typing_samples`` = pairs used.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from csaudit.config import ServiceConfig
from csaudit.metrics.shoputil import isin

COLUMNS = (
    "agent", "agent_messages", "emoticons", "emoticons_per100", "emoticon_message_share", "quick_reply_messages",
    "quick_reply_share", "csat_with_quick", "csat_without_quick", "typing_cpm", "typing_samples",
)


def _cfg(cfg: object | None) -> ServiceConfig:
    if cfg is None:
        return ServiceConfig()
    return getattr(cfg, "service", cfg)  # type: ignore[return-value]


def emoticon_counts(texts: pd.Series, patterns: list[str]) -> pd.Series:
    """Emoticons per text (the patterns as one alternation; each distinct text scanned once)."""
    if not patterns or not len(texts):
        return pd.Series(0, index=texts.index, dtype="int64")
    rx = re.compile("|".join(f"(?:{p})" for p in patterns))
    codes, uniq = pd.factorize(texts.fillna(""))
    per = np.fromiter((sum(1 for _ in rx.finditer(t)) for t in uniq), dtype=np.int64, count=len(uniq))
    return pd.Series(per[codes], index=texts.index, dtype="int64")


def quick_replies(messages: pd.DataFrame, cfg: object | None = None) -> pd.DataFrame:
    """Agent texts used as quick replies: ``text, n_conversations, n_messages, n_agents`` (most used first)."""
    c = _cfg(cfg)
    m = messages[messages["role"] == "agent"]
    text = m["text"].astype("str").str.strip()
    m = m.assign(_t=text)[text.str.len() >= c.quick_reply_min_chars]
    g = m.groupby("_t")
    t = pd.DataFrame({"n_conversations": g["conversation_id"].nunique(), "n_messages": g.size(),
                      "n_agents": g["agent"].nunique()})
    t = t[t["n_conversations"] >= c.quick_reply_min_conversations]
    t = t.rename_axis("text").reset_index().sort_values(["n_conversations", "text"], ascending=[False, True], kind="stable")
    t["text"] = t["text"].astype("str")
    return t.reset_index(drop=True).astype({"n_conversations": "int64", "n_messages": "int64", "n_agents": "int64"})


def service_depth(
    messages: pd.DataFrame, conversations: pd.DataFrame | None = None, cfg: object | None = None
) -> pd.DataFrame:
    """Per agent: :data:`COLUMNS` (module docstring)."""
    c = _cfg(cfg)
    m = messages.reset_index(drop=True)
    is_agent = (m["role"] == "agent").to_numpy(dtype=bool) & m["agent"].notna().to_numpy()
    text = m["text"].astype("str").fillna("")
    qr_texts = set(quick_replies(m, c)["text"])
    is_quick = isin(text.str.strip(), qr_texts) & is_agent
    a = m.loc[is_agent, ["conversation_id", "agent"]].copy()
    a["_emo"] = emoticon_counts(text[is_agent], c.emoticon_patterns).to_numpy()
    a["_quick"] = is_quick[is_agent]
    a["_has_emo"] = a["_emo"] > 0
    g = a.groupby("agent")
    out = pd.DataFrame({"agent_messages": g.size(), "emoticons": g["_emo"].sum(), "_emo_msgs": g["_has_emo"].sum(),
                        "quick_reply_messages": g["_quick"].sum()}).astype("int64")
    out["emoticons_per100"] = (out["emoticons"] * 100 / out["agent_messages"]).astype("float64")
    out["emoticon_message_share"] = (out["_emo_msgs"] / out["agent_messages"]).astype("float64")
    out["quick_reply_share"] = (out["quick_reply_messages"] / out["agent_messages"]).astype("float64")
    # csat with / without a quick reply (only when the conversations carry a predicted satisfaction)
    out["csat_with_quick"] = np.nan
    out["csat_without_quick"] = np.nan
    if conversations is not None and "csat" in conversations:
        used = set(a.loc[a["_quick"], "conversation_id"])
        conv = conversations[conversations["agent"].notna()]
        has = isin(conv["conversation_id"], used)
        out["csat_with_quick"] = conv[has].groupby("agent")["csat"].mean().reindex(out.index).astype("float64")
        out["csat_without_quick"] = conv[~has].groupby("agent")["csat"].mean().reindex(out.index).astype("float64")
    # typing speed: consecutive agent messages of one turn (the previous row is the same agent's)
    conv_id = m["conversation_id"].astype("str")
    agent = m["agent"].astype("str")
    prev_same = (conv_id == conv_id.shift(1)) & (agent == agent.shift(1)) & pd.Series(is_agent) & pd.Series(is_agent).shift(
        1, fill_value=False)
    gap = (m["ts"] - m["ts"].shift(1)).dt.total_seconds()
    ok = (prev_same & (gap > 0) & (gap <= c.typing_max_gap_s) & ~pd.Series(is_quick)).fillna(False).astype(bool)
    cpm = text.str.len()[ok] / gap[ok] * 60.0
    tg = pd.DataFrame({"agent": agent[ok], "cpm": cpm.astype("float64")}).groupby("agent")["cpm"]
    out["typing_cpm"] = tg.median().reindex(out.index).astype("float64")
    out["typing_samples"] = tg.size().reindex(out.index, fill_value=0).astype("int64")
    out.index = out.index.astype("str")
    return out.reset_index()[list(COLUMNS)]
