"""What the review modules share: rule versions, the audit fingerprint, the REVIEWS table, verdict words.

A rule's **version** is a content hash of its specification, so a review counts only for the rule as
it was when the finding was judged: change a lexicon category's terms or whitelist (or a QC rule's
settings) and its old reviews are kept but no longer apply.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from csaudit.config import Config

VERDICTS = {"正确": "correct", "误报": "false_positive", "不确定": "unsure"}
"""Verdict words of the workbook's drop-down → the value stored in REVIEWS ``verdict``."""
DISPUTE = {"是": True, "否": False}
"""申诉 (dispute) cell → bool."""
DISPUTE_STATUS = {"待处理": "open", "已采纳": "accepted", "已驳回": "rejected"}
"""申诉状态 cell → ``dispute_status``; ``open`` is unresolved, ``accepted``/``rejected`` are resolved."""

REVIEW_COLUMNS: dict[str, str] = {
    "kind": "str",  # finding | conversation
    "reviewer": "str",
    "source": "str",  # workbook file name
    "sample_id": "str",
    "audit_fingerprint": "str",
    "conversation_id": "str",
    "agent": "str",
    "message_id": "str",  # findings only
    "rule": "str",
    "rule_version": "str",
    "category": "str",
    "severity": "str",
    "start": "Int64",  # the term's offset in the message (findings)
    "verdict": "str",  # correct | false_positive | unsure (findings)
    "override_score": "float64",  # 0-100 (conversations)
    "comment": "str",
    "dispute": "boolean",
    "dispute_reason": "str",
    "dispute_status": "str",  # open | accepted | rejected
    "imported": "str",  # ISO time of the import (UTC)
}
"""REVIEWS: one row per verdict on a finding (``kind = finding``) and per conversation a reviewer
wrote something for (``kind = conversation``: override score, comment, dispute)."""

ITEM_KEY = ("kind", "conversation_id", "message_id", "rule", "start")
"""What one review is about: a finding (message, rule, offset) or a conversation."""
REVIEW_KEY = ("sample_id", "reviewer", *ITEM_KEY)
"""One review: a reviewer's verdict on one item of one sample (a re-import replaces it)."""


def empty_reviews() -> pd.DataFrame:
    """An empty REVIEWS table."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REVIEW_COLUMNS.items()})


def conform_reviews(df: pd.DataFrame | None) -> pd.DataFrame:
    """``df`` with exactly the REVIEWS columns in their dtypes (missing columns NA); a new frame."""
    if df is None or len(df.columns) == 0:
        return empty_reviews()
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c, t in REVIEW_COLUMNS.items():
        out[c] = df[c].reset_index(drop=True).astype(t) if c in df.columns else pd.Series(index=out.index, dtype=t)
    return out


def combine_reviews(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Several REVIEWS tables as one; of two rows with the same :data:`REVIEW_KEY` the later wins."""
    parts = [conform_reviews(f) for f in frames if f is not None and len(f)]
    if not parts:
        return empty_reviews()
    out = pd.concat(parts, ignore_index=True)
    key = out[list(REVIEW_KEY)].astype("str").fillna("")
    out = out.loc[~key.duplicated(keep="last").to_numpy()]
    return out.reset_index(drop=True)


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]


# the settings each QC rule's findings depend on (Config section, field)
_QC_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "no_greeting_first_reply": (("score", "greeting_categories"),),
    "no_apology_after_wait": (("qc", "long_wait_s"), ("qc", "apology_within_msgs"), ("score", "apology_categories")),
    "hold_no_followup": (("qc", "hold_followup_min"),),
    "no_closing": (("qc", "closing_last_n"), ("score", "closing_categories"), ("score", "greeting_categories")),
}


def rule_versions(config: Config | None = None) -> dict[str, str]:
    """``{rule: version}`` for every rule in force: ``lexicon:<category>`` = hash of the category's
    definition (terms, whitelist, positives, mode, severity, side and every context condition: each
    field of :class:`csaudit.metrics.lexicon.Category` but its name, group and suggestion);
    ``rule:<name>`` = hash of the turn rule's fields but its suggestion; ``qc:<name>`` = hash of its
    ``qc.toml`` entry and the settings it reads (thresholds, category lists). 12 hex digits each. This
    is the one place that defines a rule's version. A field added to a rule's declaration later is part
    of its version automatically."""
    import dataclasses

    from csaudit.metrics import qc
    from csaudit.metrics.lexicon import Lexicon
    from csaudit.rules import load_rules

    config = config or Config()
    out: dict[str, str] = {}

    def spec_of(obj: Any, skip: tuple[str, ...]) -> dict[str, Any]:
        d = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in skip}
        return {k: sorted(v) if isinstance(v, (tuple, list, set, frozenset)) and all(isinstance(x, str) for x in v)
                else v for k, v in d.items()}

    for name, c in Lexicon.load(config).categories.items():
        out[f"lexicon:{name}"] = _digest(spec_of(c, ("name", "group", "suggestion")))
    for name, r in load_rules(config).items():  # turn and window rules: their whole declaration
        out[f"rule:{name}"] = _digest({k: v for k, v in dataclasses.asdict(r).items() if k != "suggestion"})
    specs = qc.rule_specs()
    for rule in qc.RULES:
        name = rule.removeprefix("qc:")
        entry = {k: v for k, v in specs.get(name, {}).items() if k != "suggestion"}
        settings = {f"{sec}.{f}": getattr(getattr(config, sec), f) for sec, f in _QC_SETTINGS.get(name, ())}
        out[rule] = _digest({"spec": entry, "settings": settings})
    return out


def audit_rule_versions(audit: Any) -> dict[str, str]:
    """The rule versions an audit's hits were found with: ``meta["rule_versions"]`` (recorded by
    :func:`csaudit.audit.audit`), else :func:`rule_versions` of its config."""
    v = (getattr(audit, "meta", None) or {}).get("rule_versions")
    return dict(v) if v else rule_versions(audit.config)


def audit_fingerprint(audit: Any) -> str:
    """Identity of an audit's data: hash of its messages' ``message_id``/``conversation_id`` and its
    period (16 hex digits). Stored in ``meta["fingerprint"]`` by :func:`csaudit.audit.audit`; computed
    here for audits saved before that."""
    fp = (getattr(audit, "meta", None) or {}).get("fingerprint")
    if fp:
        return str(fp)
    return fingerprint_of(audit.messages, audit.meta)


def fingerprint_of(messages: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The fingerprint of ``messages`` audited for ``meta``'s period (see :func:`audit_fingerprint`):
    SHA-256 of the lengths and UTF-8 bytes of the two id columns (no copy of the strings)."""
    import pyarrow as pa

    d = hashlib.sha256()
    for col in ("message_id", "conversation_id"):
        s = messages[col]
        arr = getattr(s.array, "_pa_array", None)
        if arr is None:
            arr = pa.chunked_array([pa.array(s.astype("str").array)])
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        for ch in chunks:
            width = np.int64 if pa.types.is_large_string(ch.type) else np.int32
            offsets = np.frombuffer(ch.buffers()[1], dtype=width)[ch.offset: ch.offset + len(ch) + 1]
            if len(offsets) < 2:
                continue
            d.update(np.diff(offsets).astype("<i8").tobytes())
            data = ch.buffers()[2]
            if data is not None:
                d.update(memoryview(data)[int(offsets[0]): int(offsets[-1])])
    d.update(f"{meta.get('period_start')}..{meta.get('period_end')}".encode())
    return d.hexdigest()[:16]


def findings(hits: pd.DataFrame) -> pd.DataFrame:
    """The hits a reviewer judges: every hit of a severity above ``info`` (negative phrases, QC rules,
    customer signals); politeness terms (``info``) are not findings."""
    return hits.loc[(hits["severity"].astype("str") != "info").to_numpy(dtype=bool, na_value=True)]
