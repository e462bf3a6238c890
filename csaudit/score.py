"""The QA score per conversation and the per-agent scorecard (DESIGN §5 "QA score").

Every conversation gets five category scores, each 0–100 or NA when the category does not apply:

``score_responsiveness``
    Mean over the conversation's rounds that start inside service hours (``rounds.in_hours``) of
    ``100 × clip((cap − t) / (cap − full), 0, 1)`` where ``t`` = the round's response time in seconds,
    ``cap`` = ``latency.cap_s`` (600 s) and ``full`` = ``score.responsiveness_full_s`` (30 s): a reply
    within 30 s earns 100, one at or beyond the cap 0, linear in between (180 s → 73.7). An
    unanswered round earns 0 whatever ``latency.unanswered`` says. NA when the conversation has no
    in-hours round with a known time (e.g. no timestamps, only night messages); an unanswered round
    without a timestamp is left out too.
``score_politeness``
    Share of the applicable politeness checks that pass, × 100. Checks: *greeting* — the first
    agent message has a lexicon hit (``rule`` ``lexicon:*``) of a ``score.greeting_categories`` category; *closing* — one of the
    conversation's last ``qc.closing_last_n`` messages is an agent message with a
    ``score.closing_categories`` hit; *apology* — done when needed: only in conversations that called
    for one (a round answered after more than ``qc.long_wait_s``, or a customer message with a
    ``score.complaint_categories`` hit), passed by an agent ``score.apology_categories`` hit in the
    first such message or a later one (message order, so it works without timestamps). An apology
    nobody needed is no check and no plus. NA when the conversation has no agent message.
``score_compliance``
    ``100 − Σ penalty`` (floored at 0) over the conversation's hits on a ``score.penalty_sides`` side
    (agent), lexicon and QC alike, with ``score.severity_penalty[severity]`` points each
    (critical 100, major 25, minor 10; other severities, e.g. ``info`` politeness terms, cost 0). QC
    rules listed in ``score.politeness_rules`` are scored by politeness and cost nothing here.
    NA when the conversation has no agent message.
``score_satisfaction``
    ``csat``, the predicted satisfaction 0–100 (:mod:`csaudit.metrics.satisfaction`): mostly how the
    customer sounds near the end, thanks or complaints at the end, escalations and refusals. It
    replaces the former ``score_sentiment`` (100 × ``sentiment_end``), which agreed with rated
    satisfaction half as well. NA when the conversations table has no ``csat``.
``score_conversion``
    Inquiries (询单) only: 100 if the inquiry led to an order within the window (``ordered``), else 0.
    NA for after-sales conversations and when no orders were given.

``qa_score_critical_free`` = weighted mean of the applicable categories with ``score.weights``,
renormalised over the categories present (a conversation with only responsiveness and compliance
uses 0.20 / (0.20 + 0.20) and 0.20 / (0.20 + 0.20)). ``qa_score`` = the same, but 0 when the
conversation has an agent-side hit in a ``score.critical_categories`` category (``critical``).

Per agent (the conversation's primary agent): ``qa_score`` = mean of its conversations'
``qa_score`` (Zendesk-style IQS), ``qa_score_critical_free`` beside it, ``score_<category>`` = mean
over the conversations where the category applies, ``rank`` 1 = best ``qa_score`` (ties share the
best rank, agents with no scored conversation rank last). Red lines (``score.red_line``, applied by
:func:`red_line_rank`): with ``rank_last`` (default) every agent with a red-line conversation
(``critical_conversations`` > 0) ranks below every agent without one; ``conversation_zero`` ranks by
``qa_score`` alone (the red-line conversations already count as 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from csaudit.arrays import lookup, ts_ns
from csaudit.config import Config

log = logging.getLogger(__name__)

CATEGORIES = ("responsiveness", "politeness", "compliance", "satisfaction", "conversion")
SCORE_COLUMNS = tuple(f"score_{c}" for c in CATEGORIES)


def _mask_cat(hits: pd.DataFrame, cats: Iterable[str], sides: Iterable[str] | None = None) -> pd.Series:
    m = hits["category"].isin(list(cats))
    if sides is not None:
        m &= hits["side"].isin(list(sides))
    return m


def _isin(s: pd.Series, *value_sets: object) -> list[np.ndarray]:
    """For each of ``value_sets``: ``s.isin(values)`` as a numpy bool array, from one hash
    factorisation of everything (pandas' ``str`` isin loops in Python over the values)."""
    parts = [pd.Series(np.asarray(v, dtype=object), dtype=s.dtype) for v in value_sets]
    codes, uniq = pd.factorize(pd.concat([*parts, s], ignore_index=True))
    out, at = [], 0
    tail = codes[sum(len(p) for p in parts):]
    for p in parts:
        mark = np.zeros(len(uniq) + 1, dtype=bool)  # last slot: NA (code -1)
        mark[codes[at: at + len(p)]] = True
        mark[-1] = False
        out.append(mark[tail])
        at += len(p)
    return out


def _group_mean(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` per code (NaN skipped; NaN when a group has no value)."""
    ok = ~np.isnan(values)
    sums = np.bincount(codes[ok], weights=values[ok], minlength=n)
    counts = np.bincount(codes[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def responsiveness(rounds: pd.DataFrame, config: Config) -> pd.Series:
    """``score_responsiveness`` per ``conversation_id`` (see module docstring); conversations without an
    in-hours round are absent."""
    cap = float(config.latency.cap_s)
    full = min(float(config.score.responsiveness_full_s), cap - 1e-9)
    r = rounds.loc[rounds["in_hours"].astype(bool).to_numpy()]
    t = pd.to_numeric(r["response_s"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    answered = r["answered"].astype(bool).to_numpy()
    pts = np.clip((cap - t) / (cap - full), 0.0, 1.0) * 100.0
    dated = r["start"].notna().to_numpy()
    pts = np.where(answered, pts, np.where(dated, 0.0, np.nan))
    codes, uniq = pd.factorize(r["conversation_id"])
    return pd.Series(_group_mean(codes, pts, len(uniq)), index=pd.Index(uniq, name="conversation_id"), dtype="float64")


def politeness(messages: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per conversation with agent speech: ``greeting_ok, closing_ok, apology_needed, apology_ok,
    score_politeness`` (index ``conversation_id``).

    Greeting and closing follow the definitions of the scorecard's ``first_reply_greeting_rate`` and
    ``closing_rate`` (:func:`csaudit.metrics.lexicon.first_reply` / ``closing_check``), vectorised
    here: speech = customer and agent messages in table order; a turn = consecutive speech messages of
    one role; greeting_ok = some message of the conversation's first agent turn has a lexicon hit of a
    ``score.greeting_categories`` category; closing_ok = one of the conversation's last
    ``qc.closing_last_n`` speech messages is an agent message with a ``score.closing_categories`` hit;
    apology_needed = some round was answered after more than ``qc.long_wait_s``; apology_ok = an agent
    ``score.apology_categories`` hit at or after the first such reply.
    """
    sc = config.score
    # agent-side lexicon hits, as a row mask: copying them (≈ 600k rows per 1M messages) costs ≈ 180 MB
    lex = ((hits["side"] == "agent") & hits["rule"].str.startswith("lexicon:")).to_numpy(dtype=bool, na_value=False)

    def lex_in(cats: Iterable[str]) -> np.ndarray:
        return lex & _mask_cat(hits, cats).to_numpy(dtype=bool, na_value=False)
    is_agent = (messages["role"] == "agent").to_numpy(dtype=bool)
    keep = is_agent | (messages["role"] == "customer").to_numpy(dtype=bool)
    keep_pos = np.flatnonzero(keep)  # speech rows, located by position (no copy of their ids/texts)
    codes, uniq = pd.factorize(messages["conversation_id"].take(keep_pos))
    a = is_agent[keep]
    order = np.argsort(codes, kind="stable")  # a no-op when the table is sorted by conversation
    codes, a = codes[order], a[order]
    order = keep_pos[order]  # message row of each (sorted) speech row
    mid = messages["message_id"]
    n, m = len(uniq), len(codes)

    new_turn = np.ones(m, dtype=bool)
    if m > 1:
        new_turn[1:] = (a[1:] != a[:-1]) | (codes[1:] != codes[:-1])
    turn = np.cumsum(new_turn)
    big = np.iinfo(np.int64).max
    first_turn = np.full(n, big, dtype=np.int64)
    ft = pd.Series(turn[a]).groupby(codes[a]).min()
    first_turn[ft.index.to_numpy()] = ft.to_numpy()
    greet = hits.loc[lex_in(sc.greeting_categories), "message_id"].dropna().unique()
    close = hits.loc[lex_in(sc.closing_categories), "message_id"].dropna().unique()
    in_first = a & (turn == first_turn[codes])
    size = np.bincount(codes, minlength=n)
    start = np.cumsum(size) - size
    from_end = size[codes] - 1 - (np.arange(m) - start[codes])
    in_tail = a & (from_end < int(config.qc.closing_last_n))
    cand = np.flatnonzero(in_first | in_tail)  # only these messages can pass a check: look up their ids only
    is_greet, is_close = _isin(mid.take(order[cand]), greet, close)
    greeting_ok = np.bincount(codes[cand][in_first[cand] & is_greet], minlength=n) > 0
    closing_ok = np.bincount(codes[cand][in_tail[cand] & is_close], minlength=n) > 0
    has_agent = np.bincount(codes[a], minlength=n) > 0

    keys = pd.Series(uniq, dtype="str")
    needed, apology_ok = _apology_check(messages, rounds, hits, keys, config, lex_in(sc.apology_categories))

    out = pd.DataFrame(
        {"greeting_ok": greeting_ok, "closing_ok": closing_ok, "apology_needed": needed, "apology_ok": apology_ok & needed},
        index=pd.Index(uniq, name="conversation_id"),
    ).loc[has_agent]
    passed = out["greeting_ok"].astype(int) + out["closing_ok"].astype(int) + out["apology_ok"].astype(int)
    applicable = 2 + out["apology_needed"].astype(int)
    out["score_politeness"] = 100.0 * passed / applicable
    return out


def _apology_check(
    messages: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, keys: pd.Series, config: Config,
    apol: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per conversation of ``keys``: ``(apology_needed, apology_ok)``. Needed = some event called for
    an apology — a reply after more than ``qc.long_wait_s`` (the round's ``reply_message_id``; by
    time when rounds lack it) or a customer message with a ``score.complaint_categories`` hit; ok =
    an apology hit (rows ``apol`` of ``hits``) in the message of the first such event or a later one.
    Message positions, not times: works without timestamps. Two hash lookups in all (message ids,
    conversation ids), whatever the number of events."""
    big = np.iinfo(np.int64).max
    n = len(keys)
    mid = messages["message_id"]
    resp = pd.to_numeric(rounds["response_s"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    slow = rounds["answered"].astype(bool).to_numpy() & (resp > float(config.qc.long_wait_s))
    sr = rounds.loc[slow, [c for c in ("conversation_id", "reply", "reply_message_id") if c in rounds]]
    by_id = "reply_message_id" in sr
    comp = ((hits["side"] == "customer").to_numpy(dtype=bool, na_value=False)
            & _mask_cat(hits, config.score.complaint_categories).to_numpy(dtype=bool, na_value=False))
    parts_m = [hits["message_id"][comp], hits["message_id"][apol]] + ([sr["reply_message_id"]] if by_id else [])
    parts_c = [hits["conversation_id"][comp], hits["conversation_id"][apol], sr["conversation_id"]]
    sizes = np.cumsum([0, int(comp.sum()), int(apol.sum()), len(sr)])
    rows = lookup(mid, pd.concat(parts_m, ignore_index=True)) if sizes[-1] else np.zeros(0, dtype=np.int64)
    convs = lookup(keys, pd.concat(parts_c, ignore_index=True)) if sizes[-1] else np.zeros(0, dtype=np.int64)
    if not by_id and len(sr):  # the first agent message of the conversation at the reply time
        ag = np.flatnonzero((messages["role"] == "agent").to_numpy(dtype=bool))
        at = pd.DataFrame({"c": lookup(keys, messages["conversation_id"].take(ag)),
                           "t": ts_ns(messages["ts"].take(ag)), "row": ag}).drop_duplicates(["c", "t"])
        want = pd.DataFrame({"c": convs[sizes[2]:], "t": ts_ns(sr["reply"])})
        slow_rows = want.merge(at, on=["c", "t"], how="left")["row"].fillna(-1).to_numpy(dtype=np.int64)
        rows = np.concatenate([rows, slow_rows])
    trigger = np.full(n, big, dtype=np.int64)
    ev_rows = np.concatenate([rows[: sizes[1]], rows[sizes[2]:]])
    ev_conv = np.concatenate([convs[: sizes[1]], convs[sizes[2]:]])
    ok = (ev_conv >= 0) & (ev_rows >= 0)
    np.minimum.at(trigger, ev_conv[ok], ev_rows[ok])
    needed = trigger != big
    ac, ar = convs[sizes[1]: sizes[2]], rows[sizes[1]: sizes[2]]
    good = (ac >= 0) & (ar >= 0)
    good[good] &= needed[ac[good]] & (ar[good] >= trigger[ac[good]])
    apology_ok = np.bincount(ac[good], minlength=n) > 0
    return needed, apology_ok & needed


def compliance(messages: pd.DataFrame, hits: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per conversation with an agent message or a critical hit: ``penalty, score_compliance`` (NA
    without an agent message), ``n_critical, critical`` (index ``conversation_id``)."""
    sc = config.score
    agent_convs = messages.loc[(messages["role"] == "agent").to_numpy(), "conversation_id"]
    side_ok = hits["side"].isin(list(sc.penalty_sides)).to_numpy(dtype=bool)
    codes, uniq = pd.factorize(pd.concat([agent_convs, hits["conversation_id"]], ignore_index=True))
    n = len(uniq)
    ac, hc = codes[: len(agent_convs)], codes[len(agent_convs):]
    penalised = side_ok & ~hits["rule"].isin(list(sc.politeness_rules)).to_numpy(dtype=bool)
    sev_codes, sev_names = pd.factorize(hits["severity"])  # a handful of distinct severities
    sev_pts = np.array([float(sc.severity_penalty.get(str(x), 0.0)) for x in sev_names] + [0.0])
    pts = sev_pts[sev_codes] * penalised
    penalty = np.bincount(hc, weights=pts, minlength=n)
    crit = side_ok & hits["category"].isin(list(sc.critical_categories)).to_numpy(dtype=bool)
    n_crit = np.bincount(hc[crit], minlength=n)
    has_agent = np.bincount(ac, minlength=n) > 0
    out = pd.DataFrame(
        {
            "penalty": np.where(has_agent, penalty, np.nan),
            "score_compliance": np.where(has_agent, np.clip(100.0 - penalty, 0.0, None), np.nan),
            "n_critical": n_crit.astype("int64"),
        },
        index=pd.Index(uniq, name="conversation_id"),
    )
    out["critical"] = out["n_critical"] > 0
    return out.loc[has_agent | out["critical"].to_numpy()]


def conversation_scores(
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config | None = None,
    has_orders: bool = True,
    checks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """QA score of every conversation (definitions in the module docstring).

    ``conversations`` needs ``conversation_id`` and, when present, ``csat`` (0–100),
    ``is_inquiry`` and ``ordered``. Returns one row per conversation (same order):
    ``conversation_id``, the five ``score_*`` columns, ``greeting_ok, closing_ok, apology_needed,
    apology_ok, penalty, n_critical, critical, qa_score_critical_free, qa_score``. ``checks``:
    :func:`conversation_checks` of the same conversations, when already computed.
    """
    config = config or Config()
    ids = pd.Index(conversations["conversation_id"], name="conversation_id")
    if checks is None:
        checks = conversation_checks(ids, messages, rounds, hits, config)
    elif not checks.index.equals(ids):
        checks = checks.reindex(ids)
    out = pd.DataFrame(index=ids)
    for col in ("score_responsiveness", "score_politeness", "score_compliance"):
        out[col] = checks[col].array

    if "csat" in conversations:
        out["score_satisfaction"] = pd.to_numeric(conversations["csat"], errors="coerce").to_numpy(dtype="float64")
    else:
        out["score_satisfaction"] = np.nan
    if has_orders and {"is_inquiry", "ordered"} <= set(conversations.columns):
        inq = conversations["is_inquiry"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        ordered = conversations["ordered"].astype("boolean").astype("float64").to_numpy() * 100.0
        out["score_conversion"] = np.where(inq, ordered, np.nan)
    else:
        out["score_conversion"] = np.nan

    for col in ("greeting_ok", "closing_ok", "apology_needed", "apology_ok", "penalty", "n_critical"):
        out[col] = checks[col].array
    out["critical"] = out["n_critical"] > 0

    weights = {c: float(config.score.weights.get(c, 0.0)) for c in CATEGORIES}
    unknown = set(config.score.weights) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"score.weights: unknown categories {sorted(unknown)}; expected {list(CATEGORIES)}")
    S = out[list(SCORE_COLUMNS)].to_numpy(dtype="float64")
    W = np.array([weights[c] for c in CATEGORIES])
    present = ~np.isnan(S)
    wsum = (present * W).sum(axis=1)
    num = np.nansum(S * W, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cf = np.where(wsum > 0, num / np.where(wsum > 0, wsum, 1.0), np.nan)
    out["qa_score_critical_free"] = cf
    out["qa_score"] = np.where(out["critical"].to_numpy(), 0.0, cf)
    return out.reset_index()


def conversation_checks(
    ids: pd.Index, messages: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, config: Config | None = None
) -> pd.DataFrame:
    """The parts of the QA score that need neither sentiment nor orders, for conversations ``ids``:
    ``score_responsiveness``, ``score_politeness`` with ``greeting_ok, closing_ok, apology_needed,
    apology_ok`` (nullable booleans), ``score_compliance`` with ``penalty`` and ``n_critical`` (0 when
    none). Index = ``ids``; definitions in the module docstring."""
    config = config or Config()
    ids = pd.Index(ids, name="conversation_id")
    out = pd.DataFrame(index=ids)
    out["score_responsiveness"] = responsiveness(rounds, config).reindex(ids)
    pol = politeness(messages, rounds, hits, config).reindex(ids)
    comp = compliance(messages, hits, config).reindex(ids)
    out["score_politeness"] = pol["score_politeness"]
    out["score_compliance"] = comp["score_compliance"]
    for col in ("greeting_ok", "closing_ok", "apology_needed", "apology_ok"):
        out[col] = pol[col].astype("boolean")
    out["penalty"] = comp["penalty"].astype("float64")
    out["n_critical"] = comp["n_critical"].fillna(0).astype("int64")
    return out


def agent_scores(conversations: pd.DataFrame) -> pd.DataFrame:
    """Per primary ``agent``: ``n_scored_conversations, qa_score, qa_score_critical_free, score_<category>``
    (means over the agent's conversations, NA skipped), ``critical_conversations`` and ``rank``; with a
    ``csat`` column ``csat_mean``; with a ``rating`` column (the customers' own ratings, 0–100)
    ``n_rated`` (rated conversations) and ``rating_mean``."""
    c = conversations.loc[conversations["agent"].notna()]
    g = c.groupby("agent", sort=True)
    out = pd.DataFrame(
        {
            "n_scored_conversations": g["qa_score"].count().astype("int64"),
            "qa_score": g["qa_score"].mean(),
            "qa_score_critical_free": g["qa_score_critical_free"].mean(),
            **{col: g[col].mean() for col in SCORE_COLUMNS},
            "critical_conversations": g["critical"].sum().astype("int64"),
        }
    )
    if "csat" in c:
        out["csat_mean"] = g["csat"].mean()
    if "rating" in c:
        out["n_rated"] = g["rating"].count().astype("int64")
        out["rating_mean"] = g["rating"].mean()
    out["rank"] = rank(out["qa_score"])
    out.index.name = "agent"
    return out.reset_index()


def rank(qa: pd.Series) -> pd.Series:
    """1 = best ``qa_score``; ties share the best rank; NA scores rank after every scored agent."""
    r = qa.rank(ascending=False, method="min", na_option="bottom")
    return r.astype("int64")


RED_LINE_MODES = ("rank_last", "conversation_zero")


def red_line_rank(agents: pd.DataFrame, mode: str = "rank_last") -> pd.Series:
    """The ``rank`` of each agent under the red-line rule ``mode`` (``score.red_line``).

    ``conversation_zero``: :func:`rank` of ``qa_score``. ``rank_last``: agents without a red-line
    conversation (``critical_conversations`` == 0) first, ranked by ``qa_score``; then the agents with
    one, ranked by ``qa_score`` among themselves. Ties share the best rank; NA scores last in their group.
    """
    if mode not in RED_LINE_MODES:
        raise ValueError(f"score.red_line = {mode!r}; expected one of {', '.join(RED_LINE_MODES)}")
    qa = pd.to_numeric(agents["qa_score"], errors="coerce")
    if mode == "conversation_zero" or "critical_conversations" not in agents:
        return rank(qa)
    red = pd.to_numeric(agents["critical_conversations"], errors="coerce").fillna(0) > 0
    out = pd.Series(0, index=agents.index, dtype="int64")
    out[~red] = rank(qa[~red])
    out[red] = int((~red).sum()) + rank(qa[red])
    return out


# --------------------------------------------------------------------------------------------
# The scorecard (AGENTS)


def hit_counts(hits: pd.DataFrame, qc_rules: Iterable[str] = (), aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Per agent: ``qc_<rule>`` per QC rule (``qc:x`` → ``qc_x``) and ``qc_hits``, their total.

    Rules named in ``qc_rules`` get a column even with no hit. ``aliases`` maps a QC rule to the hit
    rule that carries it (the customer-side rules are lexicon hits: ``{"qc:customer_escalation":
    "lexicon:escalation"}``); those hits count for the alias too. (Lexicon counts — ``negative_hits``,
    ``<category>_hits``, ``critical_hits`` — come from :func:`csaudit.metrics.lexicon.politeness`.)"""
    aliases = dict(aliases or {})
    h = hits[["agent", "rule"]]
    h = h.loc[h["agent"].notna().to_numpy()]
    if aliases:
        h = h.assign(rule=h["rule"].replace({v: k for k, v in aliases.items()}))
    qc = h.loc[h["rule"].str.startswith("qc:")]
    agents = pd.Index(sorted(h["agent"].unique()), name="agent", dtype="str")
    out = pd.DataFrame(index=agents)
    out["qc_hits"] = qc.groupby("agent").size().reindex(agents, fill_value=0).astype("int64")
    names = {r.removeprefix("qc:") for r in (*qc_rules, *aliases)} | {r.removeprefix("qc:") for r in qc["rule"].unique()}
    by_rule = qc.groupby(["rule", "agent"]).size()
    for r in sorted(names):
        key = f"qc:{r}"
        s = by_rule.loc[key] if key in by_rule.index.get_level_values(0) else pd.Series(dtype="int64")
        out[f"qc_{r}"] = s.reindex(agents, fill_value=0).astype("int64")
    return out.reset_index()


def sentiment_figures(conversations: pd.DataFrame, config: Config | None = None) -> pd.DataFrame:
    """Per primary agent: ``sentiment_start_mean, sentiment_end_mean, sentiment_drift_mean`` (0–1 scale,
    means over conversations with a score) and ``deteriorated_rate`` (share of those conversations whose
    drift ≤ ``sentiment.deteriorated_drift``)."""
    config = config or Config()
    c = conversations.loc[conversations["agent"].notna()]
    drift = pd.to_numeric(c["sentiment_drift"], errors="coerce")
    det = (drift <= float(config.sentiment.deteriorated_drift)).astype("float64").where(drift.notna())
    g = c.assign(_det=det, _drift=drift).groupby("agent")
    return pd.DataFrame(
        {
            "sentiment_start_mean": g["sentiment_start"].mean(),
            "sentiment_end_mean": g["sentiment_end"].mean(),
            "sentiment_drift_mean": g["_drift"].mean(),
            "deteriorated_rate": g["_det"].mean(),
        }
    ).rename_axis("agent").reset_index()


def base_counts(conversations: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Per agent: ``n_conversations`` and ``n_customers`` (as primary agent), ``n_transfers_in``
    (conversations the agent joined as a non-primary agent). Agents = primary agents and every account
    that sent an agent-role message (bots and system accounts are not agents)."""
    c = conversations.loc[conversations["agent"].notna()]
    g = c.groupby("agent")
    out = pd.DataFrame({"n_conversations": g.size(), "n_customers": g["customer"].nunique()})
    multi = conversations.loc[conversations["agents"].str.contains("|", regex=False).fillna(False).to_numpy(),
                              ["agent", "agents"]]  # transfers only: few rows
    members = multi.assign(member=multi["agents"].str.split("|")).explode("member")
    members = members.loc[members["member"].notna() & (members["member"] != "") & (members["member"] != members["agent"])]
    n_msgs = messages.loc[(messages["role"] == "agent").to_numpy(), "agent"].value_counts()
    agents = out.index.union(pd.Index(n_msgs.index)).union(pd.Index(members["member"].unique()))
    out = out.reindex(agents).fillna(0).astype("int64")
    out["n_transfers_in"] = members.groupby("member").size().reindex(agents, fill_value=0).astype("int64")
    out.index.name = "agent"
    return out.reset_index()


def scorecard(base: pd.DataFrame, parts: Iterable[pd.DataFrame], scores: pd.DataFrame,
              red_line: str = "rank_last") -> pd.DataFrame:
    """AGENTS: ``base`` (one row per agent, defines the agents) left-merged with every per-agent
    frame in ``parts`` and then the QA ``scores`` (:func:`agent_scores`); sorted by ``rank``
    (:func:`red_line_rank` with ``red_line``, the ``score.red_line`` setting).

    A column that an earlier frame already provides is taken from the earlier one (logged)."""
    out = base.copy()
    for part in [*parts, scores]:
        if part is None or "agent" not in part.columns:
            continue
        dup = [c for c in part.columns if c != "agent" and c in out.columns]
        if dup:
            log.debug("scorecard: columns %s already present, keeping the first", dup)
        part = part.drop(columns=dup).drop_duplicates("agent")
        ints = [c for c in part.columns if c != "agent" and pd.api.types.is_integer_dtype(part[c])]
        bools = [c for c in part.columns if c != "agent" and pd.api.types.is_bool_dtype(part[c])]
        out = out.merge(part, on="agent", how="left", validate="one_to_one")
        # an agent missing from a part has none of what it counts: 0 / False, not NA
        for c in ints:
            out[c] = out[c].fillna(0).astype("int64")
        for c in bools:
            out[c] = out[c].astype("boolean").fillna(False).astype(bool)
    out["rank"] = red_line_rank(out, red_line) if "qa_score" in out else pd.Series(1, index=out.index, dtype="int64")
    out = out.sort_values(["rank", "agent"], kind="stable").reset_index(drop=True)
    check_scorecard(out)
    return out


def scorecard_failures(agents: pd.DataFrame) -> pd.DataFrame:
    """Every rule AGENTS breaks, as a table ``column, check, failure_case, index`` (empty when valid):
    ``agent`` unique and non-null; ``rank`` ≥ 1; ``qa_score``, ``qa_score_critical_free`` and ``score_*``
    in [0, 100]; ``*_rate`` in [0, 1]; integer counts (``n_*``, ``qc_*``, ``*_hits``) ≥ 0. NA is allowed
    in the numeric figures (no data)."""
    rows: list[tuple[str, str, object, int]] = []

    def add(col: str, check: str, bad: pd.Series) -> None:
        if not bad.any():
            return
        for idx, val in agents.loc[bad.to_numpy(), col].items():
            rows.append((col, check, val, idx))

    if "agent" not in agents or "rank" not in agents:
        missing = [c for c in ("agent", "rank") if c not in agents]
        return pd.DataFrame({"column": missing, "check": "column_in_dataframe", "failure_case": missing, "index": None})
    add("agent", "not_nullable", agents["agent"].isna())
    add("agent", "field_uniqueness", agents["agent"].duplicated(keep=False) & agents["agent"].notna())
    add("rank", "greater_than_or_equal_to(1)", ~(agents["rank"] >= 1))
    for c in agents.columns:
        s = agents[c]
        if c in ("qa_score", "qa_score_critical_free", "csat_mean", "rating_mean") or c.startswith("score_"):
            add(c, "in_range(0, 100)", s.notna() & ~s.between(0, 100))
        elif c.endswith("_rate"):
            add(c, "in_range(0, 1)", s.notna() & ~s.between(0, 1))
        elif (c.startswith(("n_", "qc_")) or c.endswith("_hits")) and pd.api.types.is_integer_dtype(s):
            add(c, "greater_than_or_equal_to(0)", s < 0)
    return pd.DataFrame(rows, columns=["column", "check", "failure_case", "index"])


def check_scorecard(agents: pd.DataFrame) -> pd.DataFrame:
    """Return ``agents`` if :func:`scorecard_failures` finds nothing, else raise
    :class:`csaudit.model.schema.SchemaError` listing every failure (``.failures``)."""
    from csaudit.model.schema import SchemaError

    fails = scorecard_failures(agents)
    if len(fails):
        raise SchemaError("agents", fails)
    return agents


# --------------------------------------------------------------------------------------------
# printing

#: Columns of the printed scorecard, in order (those absent from the table are skipped).
PRINT_COLUMNS = (
    "rank", "agent", "qa_score", "qa_score_critical_free", "csat_mean", "rating_mean", "n_conversations", "avg_response_s",
    "reply_rate", "slow_rounds", "negative_hits", "critical_hits", "sentiment_end_mean", "order_conversion",
)


def _width(s: str) -> int:
    """Display width in a terminal: East-Asian wide/full-width characters take two columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


def format_scorecard(agents: pd.DataFrame, columns: Iterable[str] = PRINT_COLUMNS) -> str:
    """The scorecard as an aligned plain-text table (CJK-aware widths), numbers right-aligned."""
    cols = [c for c in columns if c in agents.columns]
    rows = [[_cell(v) for v in rec] for rec in agents[cols].itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(agents[c]) for c in cols]
    widths = [max([_width(c), *(_width(r[i]) for r in rows)]) for i, c in enumerate(cols)]

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - _width(cell))
            out.append(pad + cell if numeric[i] else cell + pad)
        return "  ".join(out).rstrip()

    head = line(cols)
    return "\n".join([head, "-" * _width(head), *(line(r) for r in rows)])
