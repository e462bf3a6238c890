"""Window conditions of ``[[rule]]`` tables: another hit, phrase or event near the trigger's message.

A condition (TOML inline table) is one of

* ``{categories = [...], phrases = [...], event = "slow_round", <reach>, direction = "after"}`` — a
  *near* test: some message in the window has a hit of one of ``categories`` (any lexicon category, either
  side), one of ``phrases`` (matched like lexicon terms on the ``side`` messages, default the agent's),
  or is the reply of a slow round (``event``; ROUNDS ``slow``). ``<reach>`` is exactly one of
  ``messages = N`` (speech messages of either side), ``agent_messages = N`` or ``customer_messages = N``
  (that side's messages only) or ``seconds = T``; ``direction`` is ``after`` (the window starts just
  after the trigger's message) or ``before`` (it ends just before it);
* ``{all = [cond, ...]}``, ``{any = [cond, ...]}``, ``{not = cond}`` — combinations.

Evaluated on the speech rows of :func:`csaudit.metrics.lexicon.agent_turns`, the hit table and the round
table, with sorted integer keys and ``searchsorted`` (no per-message Python): each message gets a
coordinate (its position among the conversation's speech / agent / customer messages, or its time in
milliseconds), the target messages' keys ``conversation × span + coordinate`` are sorted once, and a
trigger's window is one key range. A ``seconds`` window needs timestamps: a trigger message without
one (NaT) never fires a rule with such a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from csaudit.arrays import NAT, ts_ns

REACHES = ("messages", "agent_messages", "customer_messages", "seconds")
DIRECTIONS = ("after", "before")
EVENTS = ("slow_round",)
_NEAR_KEYS = {"categories", "phrases", "event", "direction", "side", *REACHES}


@dataclass(frozen=True)
class Window:
    """A parsed window condition (see the module docstring). ``op``: near | all | any | not."""

    op: str
    parts: tuple[Window, ...] = ()
    categories: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    event: str = ""
    reach: str = "agent_messages"
    n: float = 0.0
    direction: str = "after"
    side: str = "agent"


def parse_window(value: Any, where: str) -> Window:
    """A :class:`Window` from its TOML form; errors name ``where`` and the expectation."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: a window condition is a table ({{categories = [...], agent_messages = 2}}, "
                         "{all = [...]}, {any = [...]} or {not = {...}})")
    combo = [k for k in ("all", "any", "not") if k in value]
    if combo:
        if len(value) != 1:
            raise ValueError(f"{where}: '{combo[0]}' takes no other key, got {sorted(value)}")
        op = combo[0]
        if op == "not":
            return Window("not", (parse_window(value["not"], where),))
        items = value[op]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}: '{op}' needs a non-empty list of conditions")
        return Window(op, tuple(parse_window(v, where) for v in items))
    unknown = set(value) - _NEAR_KEYS
    if unknown:
        raise ValueError(f"{where}: window: unknown key(s) {sorted(unknown)}")
    reach = [k for k in REACHES if k in value]
    if len(reach) != 1:
        raise ValueError(f"{where}: window: give exactly one of {REACHES}, got {reach}")
    n = value[reach[0]]
    if isinstance(n, bool) or not isinstance(n, int | float) or n <= 0:
        raise ValueError(f"{where}: window: {reach[0]} must be a positive number, got {n!r}")
    if reach[0] != "seconds" and int(n) != n:
        raise ValueError(f"{where}: window: {reach[0]} must be a whole number, got {n!r}")

    def strings(key: str) -> tuple[str, ...]:
        v = value.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError(f"{where}: window: {key} must be a list of strings")
        return tuple(dict.fromkeys(x.strip() for x in v if x.strip()))

    w = Window(
        "near", categories=strings("categories"), phrases=strings("phrases"), event=value.get("event", ""),
        reach=reach[0], n=float(n), direction=value.get("direction", "after"), side=value.get("side", "agent"),
    )
    if not (w.categories or w.phrases or w.event):
        raise ValueError(f"{where}: window: name categories, phrases or an event")
    if w.event and w.event not in EVENTS:
        raise ValueError(f"{where}: window: event must be one of {EVENTS}, got {w.event!r}")
    if w.direction not in DIRECTIONS:
        raise ValueError(f"{where}: window: direction must be one of {DIRECTIONS}, got {w.direction!r}")
    if w.side not in ("agent", "customer"):
        raise ValueError(f"{where}: window: side must be 'agent' or 'customer', got {w.side!r}")
    return w


def _near_leaves(w: Window) -> list[Window]:
    return [w] if w.op == "near" else [x for p in w.parts for x in _near_leaves(p)]


class WindowContext:
    """What window tests need, computed once per audit: speech rows, the speech row of each hit, the
    rounds and a phrase matcher (``phrase_rows(phrases, side, convs) -> bool per speech row``)."""

    def __init__(self, speech: pd.DataFrame, hit_rows: Any, hits: pd.DataFrame, rounds: pd.DataFrame | None,
                 phrase_rows: Any) -> None:
        self.speech = speech
        self.conv = speech["conv"].to_numpy().astype(np.int64)
        self.is_agent = speech["is_agent"].to_numpy(dtype=bool)
        n = len(speech)
        new_conv = np.ones(n, dtype=bool)
        new_conv[1:] = self.conv[1:] != self.conv[:-1]
        start = np.maximum.accumulate(np.where(new_conv, np.arange(n), 0)) if n else np.zeros(0, np.int64)
        self.pos = np.arange(n) - start  # position among the conversation's speech messages
        self._side_pos: dict[str, np.ndarray] = {}
        for side, mask in (("agent", self.is_agent), ("customer", ~self.is_agent)):
            c = np.cumsum(mask)
            base = np.where(start > 0, c[np.maximum(start - 1, 0)], 0)
            self._side_pos[side] = c - base  # that side's messages at or before the row (1-based count)
        ns = ts_ns(pd.Series(speech["ts"].array)) if n else np.zeros(0, dtype=np.int64)
        self.timed = ns != NAT
        self.ms = np.where(self.timed, ns // 1_000_000, 0)
        self.hit_rows, self.hits, self.rounds, self.phrase_rows = hit_rows, hits, rounds, phrase_rows

    def targets(self, w: Window, candidates: np.ndarray) -> np.ndarray:
        """Bool per speech row: the row is one of ``candidates`` and a target of the near test ``w``
        (phrases are only matched on the candidate rows)."""
        t = np.zeros(len(self.speech), dtype=bool)
        if w.categories:
            idx = np.flatnonzero(self.hits["category"].isin(list(w.categories)).to_numpy(dtype=bool))
            rows = self.hit_rows(idx)
            t[rows[rows >= 0]] = True
        if w.event == "slow_round" and self.rounds is not None and len(self.rounds):
            t |= self._slow_replies()
        if w.phrases:
            t |= self.phrase_rows(w.phrases, w.side, candidates & ~t)
        return t & candidates

    def _slow_replies(self) -> np.ndarray:
        """Bool per speech row: the reply of a slow round (the conversation's first agent message at
        or after the round's reply time)."""
        r = self.rounds
        slow = r.loc[r["slow"].astype(bool).to_numpy() & r["reply"].notna().to_numpy()]
        out = np.zeros(len(self.speech), dtype=bool)
        timed_ag = np.flatnonzero(self.is_agent & self.timed)
        if not len(slow) or not len(timed_ag):
            return out
        ids = pd.Index(self.speech["conversation_id"].astype("str").array.take(np.flatnonzero(
            np.r_[True, self.conv[1:] != self.conv[:-1]])))
        ev_conv = ids.get_indexer(slow["conversation_id"].astype("str").array)
        ev_ms = ts_ns(pd.Series(slow["reply"].array)) // 1_000_000
        keep = ev_conv >= 0
        ev_conv, ev_ms = ev_conv[keep].astype(np.int64), ev_ms[keep]
        span = self._span(np.r_[self.ms[timed_ag], ev_ms])
        lo_ms = min(int(self.ms[timed_ag].min()), int(ev_ms.min())) if len(ev_ms) else 0
        key = self.conv[timed_ag] * span + (self.ms[timed_ag] - lo_ms)
        order = np.argsort(key, kind="stable")
        skey = key[order]
        at = np.searchsorted(skey, ev_conv * span + (ev_ms - lo_ms), side="left")
        hit = at < len(skey)
        at = at[hit]
        same = self.conv[timed_ag[order[at]]] == ev_conv[hit]
        out[timed_ag[order[at[same]]]] = True
        return out

    @staticmethod
    def _span(values: np.ndarray) -> int:
        return int(values.max() - values.min()) + 2 if len(values) else 2

    def near(self, w: Window, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, valid) per anchor speech row for the near test ``w``."""
        n = len(self.speech)
        valid = np.ones(len(anchors), dtype=bool)
        allowed = np.ones(n, dtype=bool)
        k = int(w.n)
        if w.reach == "seconds":
            allowed = self.timed.copy()
            valid = self.timed[anchors]
            lo_c = int(self.ms[self.timed].min()) if self.timed.any() else 0
            coord = np.where(self.timed, self.ms - lo_c, 0)
            a_c = coord[anchors]
            t = int(round(w.n * 1000))
            lo, hi = (a_c + 1, a_c + t + 1) if w.direction == "after" else (a_c - t, a_c)  # (t, t+T] / [t-T, t)
        elif w.reach == "messages":
            coord = self.pos
            a_c = coord[anchors]
            lo, hi = (a_c + 1, a_c + k + 1) if w.direction == "after" else (a_c - k, a_c)
        else:
            side = "agent" if w.reach == "agent_messages" else "customer"
            allowed = self.is_agent if side == "agent" else ~self.is_agent
            coord = self._side_pos[side]  # that side's messages at or before the row (1-based count)
            a_c = coord[anchors]
            own = allowed[anchors].astype(np.int64)
            if w.direction == "after":
                lo, hi = a_c + 1, a_c + k + 1  # the next k messages of that side
            else:
                lo, hi = a_c - own - k + 1, a_c - own + 1  # the k before, the anchor itself excluded
        base = min(int(coord.min(initial=0)), int(lo.min(initial=0)))
        span = int(max(coord.max(initial=0), hi.max(initial=0))) - base + 2
        a_conv = self.conv[anchors]
        starts, ends = a_conv * span + (lo - base), a_conv * span + (hi - base)
        keys = self.conv * span + (coord - base)
        # the rows inside some anchor's window: only these are looked at (phrases matched on them only)
        order = np.argsort(starts, kind="stable")
        s_sorted, e_cummax = starts[order], np.maximum.accumulate(ends[order]) if len(ends) else ends
        at = np.searchsorted(s_sorted, keys, side="right") - 1
        inside = (at >= 0) & (keys < e_cummax[np.maximum(at, 0)]) if len(starts) else np.zeros(n, dtype=bool)
        rows = np.flatnonzero(self.targets(w, inside & allowed))
        if not len(rows):
            return np.zeros(len(anchors), dtype=bool), valid
        tkey = np.sort(keys[rows])
        first = np.searchsorted(tkey, starts, side="left")
        last = np.searchsorted(tkey, ends, side="left")
        return (last > first) & valid, valid

    def evaluate(self, w: Window, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(holds, valid) per anchor speech row; a rule fires only where both are true."""
        if w.op == "near":
            return self.near(w, anchors)
        parts = [self.evaluate(p, anchors) for p in w.parts]
        valid = np.logical_and.reduce([v for _, v in parts])
        if w.op == "not":
            return ~parts[0][0], valid
        holds = [h for h, _ in parts]
        return (np.logical_and.reduce(holds) if w.op == "all" else np.logical_or.reduce(holds)), valid
