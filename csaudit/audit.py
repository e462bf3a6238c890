"""``ca.audit``: run every metric once and hold every table in one :class:`Audit`.

>>> import csaudit as ca
>>> chats = ca.read_chats("data/sample_chats")                          # doctest: +SKIP
>>> orders = ca.read_orders("data/sample_chats/orders.csv")             # doctest: +SKIP
>>> result = ca.audit(chats.messages, orders=orders, period="2026-W46") # doctest: +SKIP
>>> result.agents[["agent", "qa_score", "rank"]]                        # doctest: +SKIP
>>> result.save("out/audit"); same = ca.Audit.load("out/audit")         # doctest: +SKIP

The pipeline runs top to bottom (DESIGN §2): period filter → turns and rounds → latency → lexicon
hits → QC hits → sentiment → word figures → conversation table → conversion → QA scores → the
AGENTS scorecard → the shop figures (:mod:`csaudit.metrics.shop`: commission, customers, sales
actions, workload, after-sales, service depth). Sentiment and the word figures need only the prepared messages: for big audits
they run in a forked process on the second core (:func:`side_stages`) while this process computes
rounds, latency, lexicon and QC hits, the conversation table, conversion and the sentiment-free QA
checks. Each stage is logged with its duration. The caller's frames are never modified.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
import types
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit import __version__
from csaudit.arrays import NAT, factorize_runs, first_per_group, lookup, ts_ns
from csaudit.config import Config
from csaudit.memory import release_free_memory
from csaudit.metrics.shop import SHOP_TABLES  # the shop-figure tables (issue 14); absent ones load empty

log = logging.getLogger(__name__)

#: Tables of an Audit, saved as ``<name>.parquet`` each.
TABLES = (
    "messages",
    "turns",
    "conversations",
    "rounds",
    "hits",
    "agents",
    "orders",
    "unreplied",
    "lost_inquiries",
    "sales",
    "keywords",
    "reviews",
    "rule_reviews",
)
OPTIONAL_TABLES = ("reviews", "rule_reviews")
"""Tables an audit saved by an older csaudit may lack (read back empty)."""

ALL_TABLES = TABLES + SHOP_TABLES

Period = tuple[str | dt.date, str | dt.date] | str | None


# --------------------------------------------------------------------------------------------
# period


def parse_period(period: Period) -> tuple[dt.date, dt.date] | None:
    """Inclusive local dates ``(first, last)`` of ``period``.

    Accepts ``None``; an ISO week ``"2026-W46"`` (Monday–Sunday); a range ``"2026-11-09..2026-11-15"``;
    or a pair of dates / ISO date strings.
    """
    if period is None:
        return None
    if isinstance(period, str):
        s = period.strip()
        if "..." not in s and ".." in s:
            a, b = s.split("..", 1)
            return parse_period((a, b))
        try:
            year, week = s.upper().split("-W")
            monday = dt.date.fromisocalendar(int(year), int(week[:2]), 1)
        except ValueError:
            raise ValueError(f"period {period!r}: expected an ISO week like 2026-W46 or a range A..B") from None
        return monday, monday + dt.timedelta(days=6)
    try:
        a, b = period
    except (TypeError, ValueError):
        raise ValueError(f"period {period!r}: expected (first_date, last_date)") from None
    first, last = (_as_date(x) for x in (a, b))
    if last < first:
        raise ValueError(f"period {period!r}: the last date is before the first")
    return first, last


def _as_date(x: str | dt.date) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    try:
        return dt.date.fromisoformat(str(x).strip())
    except ValueError:
        raise ValueError(f"period: {x!r} is not a date like 2026-11-09") from None


def filter_period(messages: pd.DataFrame, dates: tuple[dt.date, dt.date] | None, tz: str) -> pd.DataFrame:
    """Whole conversations whose START (first timestamp) falls on a local date in ``dates`` (inclusive,
    in timezone ``tz``). Conversations without any timestamp cannot be dated and are dropped (logged)."""
    if dates is None:
        return messages
    ts = messages["ts"]
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize(tz)
    start = ts.dt.tz_convert(tz).groupby(messages["conversation_id"].to_numpy()).min()
    lo = pd.Timestamp(dates[0]).tz_localize(tz)
    hi = pd.Timestamp(dates[1] + dt.timedelta(days=1)).tz_localize(tz)
    keep = start.index[(start >= lo) & (start < hi)]
    undated = int(start.isna().sum())
    if undated:
        log.warning("period filter: %d conversation(s) without timestamps dropped", undated)
    return messages.loc[messages["conversation_id"].isin(keep)]


def load_config(config: str | Path | None = None, preset: str | None = None) -> Config:
    """The Config for a run: ``Config()`` (taobao); ``Config.preset(preset)``; ``Config.load(config)``;
    or, with both, the file's settings applied on top of ``preset`` (the file may not name another one)."""
    if config is None:
        return Config.preset(preset) if preset else Config()
    return Config.load(config, preset=preset)


# --------------------------------------------------------------------------------------------
# the Audit object


@dataclass
class Audit:
    """Every table of one audit (see docs/pipeline.md "The Audit object" and the README)."""

    messages: pd.DataFrame
    turns: pd.DataFrame
    conversations: pd.DataFrame
    rounds: pd.DataFrame
    hits: pd.DataFrame
    agents: pd.DataFrame
    orders: pd.DataFrame
    unreplied: pd.DataFrame
    lost_inquiries: pd.DataFrame
    sales: pd.DataFrame
    keywords: pd.DataFrame
    reviews: pd.DataFrame = field(default_factory=lambda: _empty_table("reviews"))
    """REVIEWS (csaudit.review): verdicts, overrides and disputes known to this audit."""
    rule_reviews: pd.DataFrame = field(default_factory=lambda: _empty_table("rule_reviews"))
    """Per rule: the reviewed precision this audit was scored with; ``unreliable`` rules cost no points."""
    config: Config = field(default_factory=Config)
    meta: dict[str, Any] = field(default_factory=dict)
    # -- shop figures (issue 14; csaudit.metrics.shop and README "Shop figures") ---------------------
    commission: pd.DataFrame = field(default_factory=pd.DataFrame)
    commission_orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    customers: pd.DataFrame = field(default_factory=pd.DataFrame)
    followups: pd.DataFrame = field(default_factory=pd.DataFrame)
    payment_reminders: pd.DataFrame = field(default_factory=pd.DataFrame)
    recommendations: pd.DataFrame = field(default_factory=pd.DataFrame)
    lost_reasons: pd.DataFrame = field(default_factory=pd.DataFrame)
    workload: pd.DataFrame = field(default_factory=pd.DataFrame)
    workload_daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    busy_notices: pd.DataFrame = field(default_factory=pd.DataFrame)
    aftersales: pd.DataFrame = field(default_factory=pd.DataFrame)
    quick_replies: pd.DataFrame = field(default_factory=pd.DataFrame)
    shop_agents: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{t}={len(getattr(self, t))}" for t in TABLES)
        a, b = self.meta.get("period_start"), self.meta.get("period_end")
        period = f"{a}..{b}" if a or b else "all dates"
        return f"Audit({sizes}, period={period})"

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``<table>.parquet`` for every table and ``meta.json`` (meta + config) into folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in ALL_TABLES:
            _plain(getattr(self, name)).to_parquet(path / f"{name}.parquet", index=False)
        doc = {**self.meta, "config": self.config.to_dict()}
        (path / "meta.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        log.info("saved audit to %s", path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Audit:
        """Read an audit written by :meth:`save` (tables, dtypes, config and meta identical)."""
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path}: not a saved audit (no meta.json)")
        doc = json.loads(meta_file.read_text(encoding="utf-8"))
        config = Config.from_dict(doc.pop("config", {}))
        tables = {name: _restore(pd.read_parquet(path / f"{name}.parquet")) for name in TABLES
                  if name not in OPTIONAL_TABLES or (path / f"{name}.parquet").exists()}
        for name in SHOP_TABLES:  # audits saved before the shop figures have none
            f = path / f"{name}.parquet"
            df = _restore(pd.read_parquet(f)) if f.exists() else pd.DataFrame()
            tables[name] = df if len(df.columns) else pd.DataFrame()
        return cls(**tables, config=config, meta=doc)

    def timeline(self, freq: str = "h", agent: str | None = None) -> pd.DataFrame:
        """Workload over time: per agent and ``(team)``, per ``period`` (local time floored to ``freq``:
        ``"h"``, ``"D"``, ``"W"``…): conversations, peak concurrent conversations, rounds, median
        response, reply rate, findings, QA score (:func:`csaudit.metrics.workload.timeline`).
        ``agent`` keeps that agent's rows only."""
        from csaudit.metrics.workload import timeline

        out = timeline(self.conversations, self.rounds, self.hits, freq, self.config, self.config.latency.timezone)
        return out.loc[out["agent"] == agent].reset_index(drop=True) if agent is not None else out

    # -- views ----------------------------------------------------------------------------------
    def agent(self, name: str) -> Audit:
        """The subset of every table for agent ``name``.

        ``conversations`` = those the agent took part in (``name`` in ``agents``); ``messages`` and
        ``turns`` = all rows of those conversations (whole transcripts); ``rounds``, ``hits``,
        ``agents``, ``orders`` (attributed), ``unreplied``, ``lost_inquiries``, ``keywords`` = rows whose
        ``agent`` is ``name``; ``sales`` is the shop's and unchanged.
        """
        if name not in set(self.agents["agent"]):
            raise KeyError(f"no agent {name!r} in this audit; agents: {', '.join(self.agents['agent'])}")
        conv = self.conversations
        member = ("|" + conv["agents"].fillna("") + "|").str.contains(f"|{name}|", regex=False)
        mine = member | (conv["agent"] == name).fillna(False)
        ids = set(conv.loc[mine, "conversation_id"])

        def by_agent(df: pd.DataFrame) -> pd.DataFrame:
            return df.loc[df["agent"] == name].reset_index(drop=True) if "agent" in df else df.iloc[0:0]

        def by_conv(df: pd.DataFrame) -> pd.DataFrame:
            return df.loc[df["conversation_id"].isin(ids)].reset_index(drop=True)

        return Audit(
            messages=by_conv(self.messages),
            turns=by_conv(self.turns),
            conversations=conv.loc[mine].reset_index(drop=True),
            rounds=by_agent(self.rounds),
            hits=by_agent(self.hits),
            agents=by_agent(self.agents),
            orders=by_agent(self.orders),
            unreplied=by_agent(self.unreplied),
            lost_inquiries=by_agent(self.lost_inquiries),
            sales=self.sales,
            keywords=by_agent(self.keywords),
            reviews=self.reviews,
            rule_reviews=self.rule_reviews,
            config=self.config,
            meta={**self.meta, "agent": name},
            **{t: _shop_rows(getattr(self, t), name) for t in SHOP_TABLES},
        )

    def __eq__(self, other: object) -> bool:  # dataclass eq on DataFrames is ambiguous
        if not isinstance(other, Audit):
            return NotImplemented
        return (
            all(getattr(self, t).equals(getattr(other, t)) for t in ALL_TABLES)
            and self.config == other.config
            and self.meta == other.meta
        )


def _empty_table(name: str) -> pd.DataFrame:
    from csaudit.review import empty_reviews, rule_reviews

    return empty_reviews() if name == "reviews" else rule_reviews(None, Config())
def _shop_rows(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of a shop-figure table that belong to agent ``name`` (``agent``, else ``last_agent``)."""
    for col in ("agent", "last_agent"):
        if col in df.columns:
            return df.loc[(df[col] == name).fillna(False).astype(bool)].reset_index(drop=True)
    return df


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without ``attrs`` (helpers may leave arrays there; parquet metadata must be JSON)."""
    if not df.attrs:
        return df
    out = df.copy(deep=False)
    out.attrs = {}
    return out


def _restore(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet keeps only the categories it saw; ``role`` always gets every role back. Other
    categorical text columns (``hits.suggestion``) get ``str`` categories (parquet gives an empty
    one ``object`` categories)."""
    from csaudit.model.schema import ROLE_DTYPE

    for c in df.columns:
        dtype = df[c].dtype
        if c == "role" and isinstance(dtype, pd.CategoricalDtype):
            df[c] = df[c].astype("str").astype(ROLE_DTYPE)
        elif isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype != "str":
            df[c] = df[c].cat.set_categories(pd.Index(dtype.categories, dtype="str"))
    return df


# --------------------------------------------------------------------------------------------
# the pipeline


@contextmanager
def _stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    t0 = time.perf_counter()
    # freed memory back to the OS (csaudit.memory: ≈ 150 MB of Arrow pool pages and ≈ 190 MB of C heap
    # after reading 1M messages): lowers the next stage's peak, and the forked worker no longer holds
    # on to pages this process has finished with; a few milliseconds
    release_free_memory()
    yield
    release_free_memory()
    timings[name] = time.perf_counter() - t0
    log.info("audit: %-13s %7.2f s", name, timings[name])


def _take(s: pd.Series, pos: np.ndarray) -> pd.Series:
    """``s`` at positions ``pos`` (-1 → NA), as a plain str Series."""
    out = pd.Series(s.array.take(pos, allow_fill=True), dtype="str")
    return out


def conversation_table(messages: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """The base of CONVERSATIONS: ``conversation_id, shop, customer, agent, agents, start, end,
    n_customer, n_agent, n_rounds`` (one row per conversation, in order of first appearance).

    ``agent`` = the first account that sent an agent-role message (first valid responder), else the
    first auto-reply account, else NA; ``agents`` = every agent-role account joined with ``|`` in order
    of first message ("" when none); ``start``/``end`` = first/last timestamp; ``n_customer``/``n_agent``
    = customer-role / agent-role messages; ``n_rounds`` = 首问首答 rounds. Vectorised (no per-conversation
    Python work except joining the accounts of conversations with a transfer)."""

    codes, uniq = factorize_runs(messages["conversation_id"])
    if len(codes) > 1 and (np.diff(codes) < 0).any():  # conversations not contiguous: group them, stably
        order = np.argsort(codes, kind="stable")
        messages, codes = messages.take(order), codes[order]
    n, m = len(uniq), len(codes)
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if m else np.zeros(0, dtype=np.int64)
    role = messages["role"]
    is_cust = (role == "customer").to_numpy(dtype=bool)
    is_agent = (role == "agent").to_numpy(dtype=bool)
    has_acc = messages["agent"].notna().to_numpy()

    tz = messages["ts"].dt.tz
    ns = ts_ns(messages["ts"])
    big = np.iinfo(np.int64).max
    lo = np.minimum.reduceat(np.where(ns == NAT, big, ns), first) if m else np.zeros(0, np.int64)
    hi = np.maximum.reduceat(ns, first) if m else np.zeros(0, np.int64)

    def stamp(v: np.ndarray, missing: int) -> pd.Series:
        v = np.where(v == missing, NAT, v).view("datetime64[ns]")
        out = pd.Series(pd.to_datetime(v, utc=True))
        return out.dt.tz_convert(tz) if tz is not None else out.dt.tz_localize(None)

    human = is_agent & has_acc
    prim = first_per_group(codes, np.flatnonzero(human), n)
    auto = first_per_group(codes, np.flatnonzero((role == "auto_reply").to_numpy(dtype=bool) & has_acc), n)
    agent = _take(messages["agent"], np.where(prim >= 0, prim, auto))

    # every agent-role account in order of first message: one account (most conversations) needs no join
    hpos = np.flatnonzero(human)
    acodes, _ = pd.factorize(messages["agent"].take(hpos))
    pair = pd.Series(codes[hpos].astype(np.int64) * (int(acodes.max(initial=0)) + 1) + acodes)
    firsts = hpos[~pair.duplicated().to_numpy()]
    n_acc = np.bincount(codes[firsts], minlength=n)
    agents = _take(messages["agent"], prim).fillna("")
    multi = n_acc[codes[firsts]] > 1
    if multi.any():
        c_multi = codes[firsts][multi]  # grouped by conversation, accounts in order of first message
        names = messages["agent"].take(firsts[multi]).tolist()
        heads = np.flatnonzero(np.r_[True, c_multi[1:] != c_multi[:-1]])
        bounds = np.r_[heads, len(c_multi)].tolist()
        joined = ["|".join(names[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        agents.iloc[c_multi[heads]] = joined

    rc = lookup(pd.Series(uniq), rounds["conversation_id"])
    out = pd.DataFrame(
        {
            "conversation_id": pd.Series(uniq, dtype="str"),
            "shop": _take(messages["shop"], first),
            "customer": _take(messages["customer"], first),
            "agent": agent,
            "agents": agents.astype("str"),
            "start": stamp(lo, big),
            "end": stamp(hi, NAT),
            "n_customer": np.add.reduceat(is_cust.astype(np.int64), first) if m else np.zeros(0, np.int64),
            "n_agent": np.add.reduceat(is_agent.astype(np.int64), first) if m else np.zeros(0, np.int64),
            "n_rounds": np.bincount(rc[rc >= 0], minlength=n).astype(np.int64),
        }
    )
    if tz is not None:
        out["start"] = out["start"].dt.as_unit("ns")
        out["end"] = out["end"].dt.as_unit("ns")
    return out


@dataclass
class TextBounds:
    """Messages whose text the text stages read cut (:func:`bound_texts`): their ``message_id``,
    full ``text``, ``head`` (characters kept from the start) and ``shift`` (characters left out)."""

    message_id: pd.Series
    text: pd.Series
    head: np.ndarray
    shift: np.ndarray


#: what stands for the left-out middle of a long text: a line break, which no lexicon term contains
BOUND_SEPARATOR = "\n"


def bound_texts(messages: pd.DataFrame, head: int, tail: int) -> tuple[pd.DataFrame, TextBounds | None]:
    """``messages`` with every text longer than ``head + tail`` characters replaced by its first
    ``head`` characters, :data:`BOUND_SEPARATOR` and its last ``tail`` ones (what the text stages
    read: lexicon and rule matching, sentiment, jieba), and the :class:`TextBounds` to map offsets
    back (None, and ``messages`` itself, when no text is that long). Lengths are measured with
    Arrow; only the long texts are touched."""
    import pyarrow.compute as pc

    from csaudit.arrays import arrow_strings

    if not len(messages):
        return messages, None
    lens = pc.utf8_length(arrow_strings(messages["text"])).to_numpy(zero_copy_only=False)
    long_rows = np.flatnonzero(np.nan_to_num(lens.astype("float64"), nan=0.0) > head + tail)
    if not len(long_rows):
        return messages, None
    full = messages["text"].iloc[long_rows]
    values = full.tolist()
    cut = [t[:head] + BOUND_SEPARATOR + (t[len(t) - tail:] if tail else "") for t in values]
    text = messages["text"].copy()
    text.iloc[long_rows] = cut
    shift = np.fromiter((len(t) - head - tail - len(BOUND_SEPARATOR) for t in values), dtype=np.int64, count=len(values))
    log.info("audit: %d message(s) longer than %d characters: the text stages read their first %d and last %d",
             len(long_rows), head + tail, head, tail)
    bounds = TextBounds(messages["message_id"].iloc[long_rows].reset_index(drop=True), full.reset_index(drop=True),
                        np.full(len(long_rows), head, dtype=np.int64), shift)
    return messages.assign(text=text), bounds


def unbound_hits(hits: pd.DataFrame, bounds: TextBounds | None) -> pd.DataFrame:
    """``hits`` found on :func:`bound_texts` texts, with the offsets and ``text`` of the whole
    messages: a hit in the tail moves by the characters left out; a hit that includes the separator
    (none for terms, which hold no line break) is dropped; hits without offsets only get the text."""
    if bounds is None or not len(hits):
        return hits
    pos = lookup(bounds.message_id, hits["message_id"])
    rows = np.flatnonzero(pos >= 0)
    if not len(rows):
        return hits
    out = hits.copy()
    p = pos[rows]
    head, shift, sep = bounds.head[p], bounds.shift[p], len(BOUND_SEPARATOR)
    keep = np.ones(len(out), dtype=bool)
    if "start" in out and "end" in out:
        st = out["start"].to_numpy(dtype="float64", na_value=np.nan)[rows]
        en = out["end"].to_numpy(dtype="float64", na_value=np.nan)[rows]
        keep[rows[(st < head + sep) & (en > head)]] = False  # NaN compares False: kept
        tail = st >= head + sep
        for col, v in (("start", st), ("end", en)):
            full = out[col].to_numpy(dtype="float64", na_value=np.nan)
            full[rows] = np.where(tail, v + shift, v)
            out[col] = pd.array(np.where(np.isnan(full), None, full), dtype="Float64").astype(out[col].dtype)
    if "text" in out:
        text = out["text"].astype("str").to_numpy(dtype=object)
        text[rows] = bounds.text.to_numpy(dtype=object)[p]
        out["text"] = pd.Series(text, index=out.index, dtype="str")
    if not keep.all():
        log.debug("audit: %d hit(s) across the left-out middle of a long text dropped", int((~keep).sum()))
        out = out.loc[keep].reset_index(drop=True)
    return out


def _in_conversation_order(messages: pd.DataFrame) -> pd.DataFrame:
    """MESSAGES grouped by conversation and in time order inside each. A table that already is (what
    ``read_chats`` returns) keeps its row order — rows without a timestamp stay where the reader put
    them; otherwise it is sorted by ``conversation_id, ts, line``."""

    codes, _ = factorize_runs(messages["conversation_id"])
    ns = ts_ns(messages["ts"])
    timed = np.flatnonzero(ns != NAT)
    same = codes[timed][1:] == codes[timed][:-1]
    grouped = len(codes) < 2 or bool((np.diff(codes) >= 0).all())
    if grouped and not (same & (np.diff(ns[timed]) < 0)).any():
        return messages.reset_index(drop=True)
    log.debug("audit: messages not in conversation/time order: sorting")
    out = messages.sort_values(["conversation_id", "ts", "line"], kind="stable", na_position="first")
    return out.reset_index(drop=True)


#: compute customer sentiment and the word figures (pronouns, complaint keywords: jieba) in a forked
#: process on the second core while the other stages run here, for audits of at least
#: :data:`PARALLEL_MIN_MESSAGES` messages. Both only need the prepared messages; only their (small)
#: results travel back. Set False to keep everything in this process (less memory, more time).
SIDE_STAGES_IN_WORKER = True
#: forking and loading jieba in the worker cost ≈ 1 s: never worth it below this many messages
PARALLEL_MIN_MESSAGES = 200_000
#: seconds to wait for the forked worker before computing its stages here instead
FORK_TIMEOUT_S = 180.0

_FORK_JOB: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None  # inherited by the forked worker


def _forked_job() -> Any:
    assert _FORK_JOB is not None
    fn, args, kwargs = _FORK_JOB
    return fn(*args, **kwargs)


class _Background:
    """``fn(*args, **kwargs)`` computed in a forked process (the second core) when ``parallel``,
    else in this process when :meth:`result` is called. The inputs are inherited by the fork, not
    pickled; only the (small) result travels back. Any failure of the worker (no fork on this
    platform, resource limits, timeout) falls back to computing here, so the result never differs."""

    def __init__(self, fn: Any, *args: Any, parallel: bool = False, **kwargs: Any) -> None:
        global _FORK_JOB
        self._call = (fn, args, kwargs)
        self._pool: Any = None
        self._async: Any = None
        if not parallel:
            return
        import multiprocessing

        try:
            _FORK_JOB = self._call
            self._pool = multiprocessing.get_context("fork").Pool(1)
            weakref.finalize(self, self._pool.terminate)  # a stage failed before result(): no stray worker
            self._async = self._pool.apply_async(_forked_job)
        except Exception as exc:  # pragma: no cover - platform without fork, resource limits
            log.info("audit: no forked worker (%s): computing here", exc)
            self._close()
        finally:
            _FORK_JOB = None

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        self._pool = self._async = None

    def result(self) -> Any:
        fn, args, kwargs = self._call
        if self._async is not None:
            try:
                return self._async.get(timeout=FORK_TIMEOUT_S)
            except Exception as exc:  # pragma: no cover - worker killed, timeout
                log.warning("audit: forked worker failed (%s): computing here", exc)
            finally:
                self._close()
        return fn(*args, **kwargs)


@dataclass
class SideStages:
    """What :func:`side_stages` computes: ``sentiment`` (float64 per message, NaN for non-customer
    rows), ``conversations`` (per-conversation sentiment figures), ``pronouns`` and ``keywords`` (word
    figures) and ``timings`` (seconds of each of its two stages, wherever they ran)."""

    sentiment: np.ndarray
    conversations: pd.DataFrame
    pronouns: pd.DataFrame
    keywords: pd.DataFrame
    timings: dict[str, float]


def side_stages(msgs: pd.DataFrame, cfg: Config, lex: Any) -> SideStages:
    """Customer sentiment (per message, then start/end/drift per conversation) and the word figures
    (pronoun counts, complaint keywords with jieba): the stages that need nothing but the prepared
    messages, so :func:`audit` runs them on the second core while it computes the rest."""
    from csaudit.metrics import sentiment, words

    t0 = time.perf_counter()
    model = cfg.sentiment.model
    if model and not Path(model).is_absolute():
        model = str(Path(cfg.base_dir) / model)
    msg_sent = sentiment.message_sentiment(msgs, model or None).to_numpy(dtype="float64")
    conv_sent = sentiment.conversation_sentiment(msgs.assign(sentiment=msg_sent), cfg.sentiment)
    release_free_memory()  # sentiment's temporaries, before jieba's
    t1 = time.perf_counter()
    pronouns, keywords = words.word_figures(msgs, top=10, lexicon=lex)
    t2 = time.perf_counter()
    return SideStages(msg_sent, conv_sent, pronouns, keywords, {"sentiment": t1 - t0, "words": t2 - t1})


def _merge(base: pd.DataFrame, extra: pd.DataFrame | None, on: str = "conversation_id") -> pd.DataFrame:
    """``base`` with the columns of ``extra`` it does not have yet, matched on ``on`` (left join).
    Uses one hash lookup and positional takes when every key of ``base`` is in ``extra``."""

    if extra is None or len(extra.columns) == 0:
        return base
    extra = extra.reset_index() if on not in extra.columns else extra
    new = [c for c in extra.columns if c != on and c not in base.columns]
    extra = extra[[on, *new]].drop_duplicates(on)
    pos = lookup(extra[on], base[on])
    if len(pos) and (pos < 0).any():
        return base.merge(extra, on=on, how="left", validate="one_to_one")
    out = base.copy()
    for c in new:
        out[c] = extra[c].take(pos).to_numpy() if not isinstance(extra[c].dtype, pd.api.extensions.ExtensionDtype) \
            else extra[c].array.take(pos)
    return out


def audit(
    messages: pd.DataFrame,
    orders: pd.DataFrame | None = None,
    config: Config | None = None,
    period: Period = None,
    ratings: pd.DataFrame | None = None,
    reviews: pd.DataFrame | str | Path | None = None,
) -> Audit:
    """Audit ``messages`` (MESSAGES schema) and return an :class:`Audit`.

    ``orders`` (ORDERS) enables the conversion figures; without them ``ordered``/``paid`` are NA and the
    QA score leaves conversion out. ``config`` defaults to ``Config()`` (the taobao preset). ``period``
    (ISO week ``"2026-W46"``, range ``"A..B"`` or ``(first, last)`` inclusive local dates) keeps the
    conversations that START in it (shop timezone ``latency.timezone``). With a period, orders are kept
    from its first day up to the conversion window after its last day, so an inquiry on the last day
    still converts; orders after the period that no inquiry claims (silent) are then dropped, so shop
    sales = orders created in the period + later orders attributed to the period's inquiries.
    Without orders, ``ordered``/``paid``/``order_amount`` and the agents' order figures are NA and
    ``lost_inquiries`` is empty. ``ratings`` (RATINGS, :func:`csaudit.io.ratings.read_ratings`) adds the
    customers' own satisfaction: ``rating`` (0–100, NA when unrated) per conversation (joined by
    :func:`csaudit.io.ratings.join_ratings`) and ``n_rated, rating_mean`` per agent. Raises
    ``ValueError`` when no message is left to audit.
    ``reviews``: earlier reviews (a REVIEWS table, or a folder read with
    :func:`csaudit.review.read_reviews_dir`; default ``config.review.reviews_path``): rules they show
    to be unreliable keep their hits but cost no points (:mod:`csaudit.review.apply`).
    """
    from csaudit import review as review_mod
    from csaudit import rules as rules_mod
    from csaudit.metrics import conversion as conversion_mod
    from csaudit.metrics import latency, lexicon, qc, satisfaction
    from csaudit.model import rounds as rounds_mod
    from csaudit.model import schema
    from csaudit.score import (
        agent_scores,
        base_counts,
        conversation_checks,
        conversation_scores,
        hit_counts,
        scorecard,
        sentiment_figures,
    )

    t_start = time.perf_counter()
    cfg = (config or Config()).validate()  # a Config built or changed in Python is checked too
    tz = cfg.latency.timezone
    timings: dict[str, float] = {}
    dates = parse_period(period)

    with _stage("prepare", timings):
        msgs = _conformed(messages, "messages", tz, rechunk=True)  # a new frame; the caller's is untouched
        msgs = filter_period(msgs, dates, tz)
        if len(msgs) == 0:
            raise ValueError(_nothing_to_audit(messages, dates, tz))
        msgs = _in_conversation_order(msgs)
        has_orders = orders is not None
        ords = _conformed(orders, "orders", tz) if has_orders else schema.empty("orders", tz=tz)
        if dates is not None and len(ords):
            lo = pd.Timestamp(dates[0]).tz_localize(tz)
            hi = pd.Timestamp(dates[1] + dt.timedelta(days=1)).tz_localize(tz) + pd.Timedelta(hours=cfg.conversion.window_h)
            ords = ords.loc[(ords["created"] >= lo) & (ords["created"] < hi)]
        ords = ords.reset_index(drop=True)
        log.info("audit: %d messages, %d conversations, %d orders", len(msgs), msgs["conversation_id"].nunique(), len(ords))
        full = msgs  # the messages table and the transcripts (turns) keep every character
        msgs, bounds = bound_texts(msgs, cfg.text.max_chars_head, cfg.text.max_chars_tail)

    # sentiment and the jieba word figures only need the prepared messages: on the second core
    parallel = SIDE_STAGES_IN_WORKER and len(msgs) >= PARALLEL_MIN_MESSAGES
    lex = lexicon.Lexicon.load(cfg)  # the shop's own terms reach jieba's dictionary too
    side_job = _Background(side_stages, msgs, cfg, lex, parallel=parallel)

    with _stage("rounds", timings):
        turns = rounds_mod.turns(full)
        rounds = rounds_mod.rounds(msgs, cfg.latency)

    with _stage("latency", timings):
        first = latency.first_responses(msgs, cfg.latency)
        conv_latency = latency.conversation_latency(msgs, rounds, cfg.latency, first=first)
        agent_latency = latency.agent_latency(msgs, rounds, cfg.latency, first=first)
        unreplied = latency.unreplied(rounds, msgs, cfg.latency)

    with _stage("lexicon", timings):
        lex_hits = lexicon.find_hits(msgs, lex)
        speech = lexicon.agent_turns(msgs)  # shared by politeness and QC
        polite = lexicon.politeness(msgs, lex_hits, lex, closing_last_n=cfg.qc.closing_last_n, speech=speech)
        polite = polite.drop(columns="n_agent_messages")  # the scorecard has it as latency's n_agent_msgs

    with _stage("qc", timings):
        qc_hits = qc.qc_hits(msgs, rounds, lex_hits, cfg, speech=speech)
        turn_rules = rules_mod.load_rules(cfg)
        turn_hits = rules_mod.turn_rule_hits(msgs, lex_hits, turn_rules, lex, speech=speech, rounds=rounds)
        del speech
        hits = unbound_hits(schema.concat([lex_hits, turn_hits, qc_hits], "hits", tz=tz), bounds)
        del lex_hits, qc_hits, turn_hits  # the parts of ``hits`` (≈ 250 MB per 1M messages): free them now

    with _stage("conversations", timings):
        conversations = conversation_table(msgs, rounds)
        conversations = _merge(conversations, conv_latency)

    with _stage("conversion", timings):  # needs no sentiment: done while the second core finishes
        conv_res = conversion_mod.conversion(msgs, conversations, ords, cfg.conversion)
        if dates is not None and len(ords):
            # silent orders after the period belong to the next period's shop sales: drop and redo
            period_end = pd.Timestamp(dates[1] + dt.timedelta(days=1)).tz_localize(tz)
            o = conv_res.orders
            late = o.loc[o["silent"].astype(bool) & (o["created"] >= period_end), "order_id"]
            if len(late):
                ords = ords.loc[~ords["order_id"].isin(late)].reset_index(drop=True)
                conv_res = conversion_mod.conversion(msgs, conversations, ords, cfg.conversion)

    with _stage("checks", timings):  # the QA score's parts that need no sentiment, also before the wait
        hc = lookup(conversations["conversation_id"], hits["conversation_id"])
        n_hits = np.bincount(hc[hc >= 0], minlength=len(conversations)).astype("int64")
        past, rule_rev, unreliable = _reviews(reviews, cfg)
        score_hits = review_mod.penalised_hits(hits, unreliable)  # unreliable rules: visible, not scored
        checks = conversation_checks(conversations["conversation_id"], msgs, rounds, score_hits, cfg)
        qc_counts = hit_counts(hits, _qc_rules(qc))
        rule_counts = rules_mod.rule_counts(hits, turn_rules)

    # the second core's results: ``wait_side`` = this process's wait for them (in-process: their time)
    with _stage("wait_side", timings):
        side = side_job.result()
        msgs = msgs.assign(sentiment=side.sentiment)
        pronouns, keywords = side.pronouns, side.keywords
        conversations = _merge(conversations, side.conversations)  # sentiment columns before conversion's
        conversations = _merge(conversations, conv_res.conversations)
        if not has_orders:
            for col in ("ordered", "paid"):
                if col in conversations:
                    conversations[col] = pd.Series(pd.NA, index=conversations.index, dtype="boolean")
            if "order_amount" in conversations:
                conversations["order_amount"] = np.nan
    timings.update(side.timings)
    log.info("audit: sentiment %.2f s, words %.2f s (%s)", side.timings["sentiment"], side.timings["words"],
             "second core" if parallel else "this process")

    with _stage("score", timings):
        conversations["n_hits"] = n_hits
        csat = satisfaction.conversation_csat(msgs, rounds, hits, cfg)
        conversations = _merge(conversations, csat)
        if ratings is not None:
            from csaudit.io.ratings import conversation_ratings, join_ratings

            rated = conversation_ratings(join_ratings(ratings, conversations, cfg))
            conversations = conversations.merge(rated[["conversation_id", "rating"]], on="conversation_id", how="left")
        scores = conversation_scores(conversations, msgs, rounds, score_hits, cfg, has_orders=has_orders, checks=checks)
        del score_hits
        conversations = _merge(conversations, scores[["conversation_id", "qa_score", "qa_score_critical_free", "critical",
                                                      *[c for c in scores.columns if c.startswith("score_")],
                                                      "greeting_ok", "closing_ok", "apology_needed", "apology_ok"]])
        conversations = _order_conversation_columns(conversations)
        agent_conv = conversion_agents(conv_res, has_orders)
        agents = scorecard(
            base_counts(conversations, msgs),
            [
                agent_latency,
                polite,
                pronouns,
                qc_counts,
                rule_counts,
                sentiment_figures(conversations, cfg),
                agent_conv,
            ],
            agent_scores(conversations),
            red_line=cfg.score.red_line,
        )

    # shop figures (issue 14): commission, customers, sales actions, workload, after-sales, service depth
    shop: dict[str, pd.DataFrame] = {name: pd.DataFrame() for name in SHOP_TABLES}  # [shop] enabled = false
    if cfg.shop.enabled:
        with _stage("shop", timings):
            from csaudit.metrics.shop import shop_figures

            lost = conv_res.lost if has_orders else conv_res.lost.iloc[0:0]
            shop = shop_figures(msgs, conversations, rounds, hits, conv_res.orders, lost, agents["agent"], cfg)

    timings["total"] = time.perf_counter() - t_start
    log.info("audit: done in %.2f s (%d agents, %d conversations, %d hits)", timings["total"], len(agents),
             len(conversations), len(hits))
    meta = {
        "preset": cfg.preset_name,
        "preset_version": cfg.preset_version,
        "period_start": dates[0].isoformat() if dates else None,
        "period_end": dates[1].isoformat() if dates else None,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "csaudit_version": __version__,
        "n_messages": int(len(msgs)),
        "has_orders": has_orders,
        "has_ratings": ratings is not None,
        "side_stages_parallel": parallel,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "unreliable_rules": sorted(unreliable),
        "rule_versions": review_mod.rule_versions(cfg),
    }
    if bounds is not None:
        msgs = msgs.assign(text=full["text"])
    del full
    meta["fingerprint"] = review_mod.fingerprint_of(msgs, meta)
    tables = dict(
        messages=msgs,
        turns=turns.reset_index(drop=True),
        conversations=conversations,
        rounds=rounds.reset_index(drop=True),
        hits=hits,
        agents=agents,
        orders=conv_res.orders.reset_index(drop=True),
        unreplied=unreplied.reset_index(drop=True),
        lost_inquiries=(conv_res.lost if has_orders else conv_res.lost.iloc[0:0]).reset_index(drop=True),
        sales=_sales_frame(conv_res.sales),
        keywords=keywords.reset_index(drop=True),
        reviews=past,
        rule_reviews=rule_rev,
    )
    tables.update(shop)
    return Audit(**{k: _plain(v.reset_index(drop=True)) if k in shop else _plain(v) for k, v in tables.items()},
                 config=cfg, meta=meta)


def _reviews(reviews: pd.DataFrame | str | Path | None, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Earlier reviews (given, or ``cfg.review.reviews_path``), their per-rule figures for the rules in
    force and the unreliable rules among them."""
    from csaudit import review

    if reviews is None and cfg.review.reviews_path:
        p = Path(cfg.review.reviews_path)
        reviews = p if p.is_absolute() else Path(cfg.base_dir) / p
    if isinstance(reviews, (str, Path)):
        reviews = review.read_reviews_dir(reviews)
    past = review.conform_reviews(reviews)
    table = review.rule_reviews(past, cfg)
    bad = set(table.loc[table["unreliable"].astype(bool), "rule"])
    if bad:
        log.info("audit: unreliable rules (hits kept, not scored): %s", ", ".join(sorted(bad)))
    return past, table, bad
def _conformed(df: Any, name: str, tz: str, rechunk: bool = False) -> pd.DataFrame:
    """``schema.conform(df, name)``, or a ``ValueError`` naming the table, the column and the problem
    (not a DataFrame, a time that is no time, a text that is no valid Unicode ...)."""
    from csaudit.model import schema

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame ({name.upper()} table), got {type(df).__name__}")
    try:
        return schema.conform(df, name, tz=tz, rechunk=rechunk)
    except (ValueError, TypeError, OverflowError, UnicodeError) as exc:
        for col, (d, _) in schema.TABLES[name].items():  # which column: each converted as conform does
            if col not in df.columns:
                continue
            dtype = schema._dtype(d, tz)
            try:
                if isinstance(dtype, pd.DatetimeTZDtype):
                    pd.to_datetime(df[col])
                else:
                    df[col].astype(schema.STR if d == schema.CAT else dtype)
            except (ValueError, TypeError, OverflowError, UnicodeError) as col_exc:
                what = "times" if isinstance(dtype, pd.DatetimeTZDtype) else str(dtype)
                raise ValueError(f"{name}: column {col!r} cannot be read as {what}: "
                                 f"{str(col_exc).splitlines()[0]}") from None
        raise ValueError(f"{name}: not a {name.upper()} table: {str(exc).splitlines()[0]}") from None


CONVERSATION_COLUMNS = (
    "conversation_id", "shop", "customer", "agent", "agents", "start", "end", "n_customer", "n_agent",
    "first_response_s", "is_inquiry", "sentiment_start", "sentiment_end", "sentiment_drift", "ordered",
    "paid", "order_amount", "n_hits", "qa_score",
)


def _order_conversation_columns(conversations: pd.DataFrame) -> pd.DataFrame:
    """DESIGN §3 columns first (missing ones added as NA), extras after them."""
    out = conversations.copy()
    for c in CONVERSATION_COLUMNS:
        if c not in out:
            out[c] = np.nan
    extra = [c for c in out.columns if c not in CONVERSATION_COLUMNS]
    first = [c for c in ("csat", "rating") if c in extra]  # beside qa_score
    extra = first + [c for c in extra if c not in first]
    return out[[*CONVERSATION_COLUMNS, *extra]]


def conversion_agents(conv_res: Any, has_orders: bool) -> pd.DataFrame | None:
    """Per-agent conversion figures; without orders every order-based figure is NA (not 0)."""
    agents = getattr(conv_res, "agents", None)
    if agents is None or has_orders:
        return agents
    out = agents.copy()
    for c in out.columns:
        if c not in ("agent", "inquiries"):
            out[c] = np.nan
    return out


def _nothing_to_audit(messages: pd.DataFrame, dates: tuple[dt.date, dt.date] | None, tz: str) -> str:
    if len(messages) == 0:
        return "no messages to audit"
    if dates is None:
        return "no messages to audit"
    ts = pd.to_datetime(messages["ts"])
    ts = (ts.dt.tz_localize(tz) if ts.dt.tz is None else ts.dt.tz_convert(tz)).dropna()
    have = f"the chats cover {ts.min().date()} .. {ts.max().date()}" if len(ts) else "the chats have no timestamps"
    return f"no conversation starts in the period {dates[0]} .. {dates[1]} ({have})"


def _qc_rules(qc_mod: Any) -> list[str]:
    rules = getattr(qc_mod, "RULES", ())
    return [str(r) for r in (rules.keys() if isinstance(rules, dict) else rules)]


def _sales_frame(sales: Any) -> pd.DataFrame:
    if isinstance(sales, pd.DataFrame):
        return sales.reset_index(drop=True)
    if isinstance(sales, pd.Series):
        return sales.to_frame().T.reset_index(drop=True)
    if isinstance(sales, dict):
        return pd.DataFrame([sales])
    if sales is not None and hasattr(sales, "__dataclass_fields__"):
        return pd.DataFrame([{f.name: getattr(sales, f.name) for f in fields(sales)}])
    return pd.DataFrame()


class _CallableModule(types.ModuleType):
    """``csaudit.audit`` is both this module and the function: once ``import csaudit.audit`` has run,
    Python binds the package attribute ``csaudit.audit`` to the module, so the module forwards calls to
    :func:`audit` and ``ca.audit(messages, ...)`` works whatever was imported first."""

    def __call__(self, *args: Any, **kwargs: Any) -> Audit:
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
