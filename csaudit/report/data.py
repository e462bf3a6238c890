"""Read a saved audit folder for reports, only the slice one report needs.

A saved audit (``Audit.save(dir)``) is one parquet file per table plus ``meta.json``. A per-agent
report needs the scorecard of the whole team (for medians and rank) but only that agent's rows of
the other tables, and only a handful of transcripts — so :func:`load_slice` reads with parquet
filters instead of loading every message of the week for each of the agents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

AGENT_TABLES = ("conversations", "rounds", "hits", "unreplied", "lost_inquiries")
"""Tables that have an ``agent`` column and are read filtered to one agent."""


def read_meta(audit_dir: str | Path) -> dict[str, Any]:
    """``meta.json`` of a saved audit (meta fields plus ``config``), ``{}`` when absent."""
    p = Path(audit_dir) / "meta.json"
    if not p.exists():
        raise FileNotFoundError(f"{audit_dir}: not a saved audit (no meta.json)")
    return json.loads(p.read_text(encoding="utf-8"))


def read_table(
    audit_dir: str | Path,
    name: str,
    filters: list[tuple[str, str, Any]] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """One table of a saved audit (``<name>.parquet``), optionally filtered; empty frame if absent."""
    p = Path(audit_dir) / f"{name}.parquet"
    if not p.exists():
        return pd.DataFrame()
    if columns is not None:
        import pyarrow.parquet as pq

        have = set(pq.read_schema(p).names)
        columns = [c for c in columns if c in have]
    return pd.read_parquet(p, filters=filters or None, columns=columns)


@dataclass
class AuditSlice:
    """What one report needs from a saved audit. All frames are read-only views for presentation."""

    audit_dir: str
    meta: dict[str, Any]
    agents: pd.DataFrame
    agent: str | None = None
    conversations: pd.DataFrame = field(default_factory=pd.DataFrame)
    rounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    hits: pd.DataFrame = field(default_factory=pd.DataFrame)
    unreplied: pd.DataFrame = field(default_factory=pd.DataFrame)
    lost_inquiries: pd.DataFrame = field(default_factory=pd.DataFrame)
    sales: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def config(self) -> dict[str, Any]:
        """The settings the audit was computed with (``Config.to_dict``)."""
        return self.meta.get("config", {}) or {}

    def turns(self, conversation_ids: list[str]) -> pd.DataFrame:
        """Transcript turns of the given conversations only (read on demand)."""
        if not conversation_ids:
            return read_table(self.audit_dir, "turns").head(0)
        return read_table(self.audit_dir, "turns", filters=[("conversation_id", "in", list(conversation_ids))])


def load_slice(audit_dir: str | Path, agent: str | None = None) -> AuditSlice:
    """The team scorecard plus, when ``agent`` is given, that agent's rows of the per-agent tables.

    With ``agent=None`` the per-agent tables are read whole (team overview).
    """
    audit_dir = str(audit_dir)
    meta = read_meta(audit_dir)
    agents = read_table(audit_dir, "agents")
    out = AuditSlice(audit_dir=audit_dir, meta=meta, agents=agents, agent=agent)
    flt = [("agent", "==", agent)] if agent is not None else None
    for name in AGENT_TABLES:
        setattr(out, name, read_table(audit_dir, name, filters=flt))
    out.sales = read_table(audit_dir, "sales")
    return out
