"""Customer satisfaction ratings (服务评价) → the RATINGS table, and their join to conversations.

``read_ratings(path)`` reads a Qianniu/Taobao 服务评价 export or any CSV/TSV/XLSX that names the rated
conversation — by conversation id, or by customer + time — and a label. Headers are recognised in
Chinese or English (:data:`RATING_HEADERS`) or mapped with ``columns={"label": "评价结果", ...}``.

Labels (``scale="auto"`` decides per file):

* 5-point: 非常满意 100 · 满意 75 · 一般 50 · 不满意 25 · 非常不满意 0 (also 很满意 / 很不满意, 比较满意 /
  比较不满意, star strings ★★★★☆ and integers 1–5: 1 → 0 … 5 → 100);
* 3-point: 满意 100 · 一般 50 · 不满意 0 — a file whose text labels are all among these three;
* 0–100: numbers (a file with a number above 5), kept as they are.

Columns of RATINGS: ``conversation_id`` (str, NA when the file has none), ``customer`` (str, NA),
``ts`` (tz-aware rating time, NaT when absent), ``agent`` (str, NA), ``label`` (the cell as written),
``rating`` (float 0–100), ``scale`` (``"5"``, ``"3"`` or ``"100"``), ``source``, ``line``.

Rows whose label says there is no rating (empty, 未评价, 无, -) are skipped and counted in the log.
Any other unreadable row raises :class:`~csaudit.io.base.InputError` naming ``file:line`` and what
was expected, like the orders reader.

:func:`join_ratings` attaches each rating to a conversation (rule in its docstring).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csaudit.io.base import InputError, RawFile, raise_first_problem, read_raw
from csaudit.io.table import match_headers, parse_times, read_grid

if TYPE_CHECKING:  # pragma: no cover
    from csaudit.config import Config

log = logging.getLogger(__name__)

RATING_HEADERS: dict[str, tuple[str, ...]] = {
    "conversation_id": ("会话id", "会话编号", "会话号", "会话", "咨询编号", "conversationid", "conversation",
                        "sessionid", "session", "chatid"),
    "customer": ("买家昵称", "买家会员名", "买家旺旺", "买家账号", "买家", "顾客", "客户昵称", "客户", "用户昵称",
                 "用户", "评价人", "customer", "buyer", "buyernick", "user", "visitor"),
    "ts": ("评价时间", "评价日期", "时间", "日期", "咨询时间", "会话时间", "ratedat", "ratingtime", "time",
           "timestamp", "date", "ts"),
    "agent": ("客服昵称", "客服账号", "被评价客服", "接待客服", "子账号", "客服", "agent", "servicer"),
    "label": ("评价结果", "服务评价", "评价等级", "满意度", "评价", "评分", "分数", "得分", "rating", "label",
              "score", "satisfaction", "csat"),
}
"""Recognised ratings headers (normalised: lower-case, no spaces/underscores), best first."""

FIVE_POINT: dict[str, float] = {
    "非常满意": 100.0, "很满意": 100.0, "十分满意": 100.0, "满意": 75.0, "比较满意": 75.0, "一般": 50.0,
    "不满意": 25.0, "比较不满意": 25.0, "非常不满意": 0.0, "很不满意": 0.0, "十分不满意": 0.0,
}
THREE_POINT: dict[str, float] = {"满意": 100.0, "一般": 50.0, "不满意": 0.0}
#: labels meaning "not rated": the row is skipped (counted in the log)
NOT_RATED = frozenset({"", "-", "--", "—", "无", "未评价", "暂无", "暂无评价", "null", "none", "nan"})
#: class values of each scale (what agreement per class is measured on)
SCALE_CLASSES: dict[str, tuple[float, ...]] = {"5": (0.0, 25.0, 50.0, 75.0, 100.0), "3": (0.0, 50.0, 100.0)}
_STARS = re.compile(r"^[★☆]+$")


def read_ratings(
    path: str | Path,
    columns: dict[str, str] | None = None,
    tz: str = "Asia/Shanghai",
    encoding: str | None = None,
    scale: str = "auto",
) -> pd.DataFrame:
    """Read a ratings file into the RATINGS table (see the module docstring).

    ``scale``: ``"auto"`` (default), ``"5"``, ``"3"`` or ``"100"`` forces how labels are read.

    >>> ratings = read_ratings("服务评价.xlsx")        # doctest: +SKIP
    >>> ratings[["customer", "ts", "label", "rating"]]  # doctest: +SKIP
    """
    return parse_ratings(read_raw(path, "ratings"), columns, tz, encoding, scale)


def parse_ratings(
    raw: RawFile, columns: dict[str, str] | None = None, tz: str = "Asia/Shanghai", encoding: str | None = None,
    scale: str = "auto",
) -> pd.DataFrame:
    """:func:`read_ratings` on bytes already in memory (``raw.source`` names it in errors)."""
    if scale not in ("auto", "5", "3", "100"):
        raise ValueError(f"read_ratings: scale must be 'auto', '5', '3' or '100', not {scale!r}")
    src = raw.source
    grid = read_grid(raw, encoding, aliases=RATING_HEADERS)
    if not grid.header:
        log.warning("%s: empty ratings file", src)
        return empty_ratings(tz)
    cols = match_headers(grid.header, RATING_HEADERS, columns, src, fuzzy=True)
    log.info("%s: ratings columns %s", src, ", ".join(f"{k}={grid.header[v]!r}" for k, v in cols.items()))
    if "label" not in cols or not ({"conversation_id"} <= set(cols) or {"customer", "ts"} <= set(cols)):
        raise InputError(src, grid.header_line,
                         "ratings columns: a label (评价结果/满意度/评分) and either a conversation id (会话ID) or a "
                         f"customer and a time (买家昵称 + 评价时间); headers are {', '.join(map(repr, grid.header))}"
                         " — map them with columns={...}")
    c = grid.cells

    def col(name: str) -> pd.Series:
        return c[cols[name]].astype("str").str.strip() if name in cols else pd.Series([""] * len(c), dtype="str")

    problems: list[tuple[int, str]] = [(ln, f"cannot read this row: {why} ({r[:80]!r})") for ln, r, why in grid.bad]
    label = col("label")
    rated = ~label.str.lower().isin(NOT_RATED).to_numpy()
    n_skipped = int((~rated).sum())
    if n_skipped:
        log.info("%s: %d row(s) without a rating skipped", src, n_skipped)
    rating, used_scale, bad_label = label_values(label, scale)
    for i in np.flatnonzero(bad_label & rated):
        problems.append((int(grid.lines[i]), f"a rating label (非常满意…非常不满意, 满意/一般/不满意, 1–5 or 0–100), "
                                             f"found {label.iloc[i]!r}"))
    ts_s = col("ts")
    ts, bad_ts = parse_times(ts_s, tz)
    for i in np.flatnonzero(bad_ts & rated):
        problems.append((int(grid.lines[i]), f"rating time {ts_s.iloc[i]!r} is not a date"))
    conv, cust = col("conversation_id"), col("customer")
    no_key = (conv == "").to_numpy() & ((cust == "").to_numpy() | ts.isna().to_numpy())
    for i in np.flatnonzero(no_key & rated):
        problems.append((int(grid.lines[i]), "a conversation id, or a customer and a rating time (cells are empty)"))
    raise_first_problem(src, problems)
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")

    def text(s: pd.Series) -> pd.Series:
        return s.where(s != "").astype("str")

    out = pd.DataFrame({
        "conversation_id": text(conv), "customer": text(cust), "ts": ts.dt.as_unit("ns"), "agent": text(col("agent")),
        "label": label.astype("str"), "rating": rating, "scale": used_scale, "source": src,
        "line": np.asarray(grid.lines, dtype="int64"),
    })
    return out.loc[rated].reset_index(drop=True)


def label_values(labels: pd.Series, scale: str = "auto") -> tuple[np.ndarray, str, np.ndarray]:
    """``(rating 0–100, scale used, bad)`` for label strings (see the module docstring). Empty /
    not-rated labels come back NaN and not bad."""
    import unicodedata

    s = labels.astype("str").fillna("").map(lambda x: unicodedata.normalize("NFKC", x).strip())
    blank = s.str.lower().isin(NOT_RATED).to_numpy()
    num = pd.to_numeric(s.str.rstrip("分星"), errors="coerce").to_numpy(dtype="float64")
    stars = s.str.match(_STARS).to_numpy(dtype=bool)
    words = ~np.isnan(num) | stars | blank
    texts = set(s[~words])
    if scale == "auto":
        if texts and texts <= set(THREE_POINT):
            scale = "3"
        elif texts or stars.any():
            scale = "5"
        else:
            nums = num[~np.isnan(num)]
            scale = "5" if len(nums) and np.all((nums >= 1) & (nums <= 5) & (nums == np.round(nums))) else "100"
    table = THREE_POINT if scale == "3" else FIVE_POINT
    out = s.map(table).to_numpy(dtype="float64", na_value=np.nan)
    if scale == "5":
        n_full = s.str.count("★").to_numpy(dtype="float64")
        out = np.where(stars, (n_full - 1) * 25.0, out)
        ok_num = ~np.isnan(num) & (num >= 1) & (num <= 5)
        out = np.where(np.isnan(out) & ok_num, (num - 1) * 25.0, out)
    elif scale == "100":
        ok_num = ~np.isnan(num) & (num >= 0) & (num <= 100)
        out = np.where(np.isnan(out) & ok_num, num, out)
    bad = np.isnan(out) & ~blank
    if scale == "5":
        bad |= stars & (s.str.count("★").to_numpy() == 0)
    return np.where(bad | blank, np.nan, np.clip(out, 0.0, 100.0)), scale, bad


def empty_ratings(tz: str = "Asia/Shanghai") -> pd.DataFrame:
    return pd.DataFrame({
        "conversation_id": pd.Series(dtype="str"), "customer": pd.Series(dtype="str"),
        "ts": pd.Series(dtype=pd.DatetimeTZDtype("ns", tz)), "agent": pd.Series(dtype="str"),
        "label": pd.Series(dtype="str"), "rating": pd.Series(dtype="float64"), "scale": pd.Series(dtype="str"),
        "source": pd.Series(dtype="str"), "line": pd.Series(dtype="int64"),
    })


def join_ratings(ratings: pd.DataFrame, conversations: pd.DataFrame, config: Config | None = None) -> pd.DataFrame:
    """Attach each rating to a conversation: RATINGS plus ``matched_id`` (NA when no conversation
    fits) and ``matched_by`` (``conversation_id``, ``customer_time`` or NA).

    Rule: a rating whose ``conversation_id`` is one of ``conversations`` belongs to it. Otherwise, by
    ``customer`` + ``ts``: the latest conversation of that customer that started at or before the
    rating time, provided the rating time is no later than that conversation's end plus
    ``score.rating_window_h`` hours (a rating inside a conversation's span lands on it; one given
    after the chat closed lands on the chat just before it). Anything else stays unmatched.
    """
    from csaudit.config import Config

    config = config or Config()
    window = pd.Timedelta(hours=float(config.score.rating_window_h))
    out = ratings.reset_index(drop=True).copy()
    ids = pd.Index(conversations["conversation_id"].astype("str"))
    by_id = out["conversation_id"].notna().to_numpy() & out["conversation_id"].isin(ids).to_numpy()
    matched = pd.Series(pd.NA, index=out.index, dtype="str")
    how = pd.Series(pd.NA, index=out.index, dtype="str")
    matched[by_id] = out.loc[by_id, "conversation_id"]
    how[by_id] = "conversation_id"
    rest = ~by_id & out["customer"].notna().to_numpy() & out["ts"].notna().to_numpy()
    conv = conversations.loc[conversations["start"].notna().to_numpy(), ["conversation_id", "customer", "start", "end"]]
    if rest.any() and len(conv):
        left = pd.DataFrame({"row": np.flatnonzero(rest), "customer": out.loc[rest, "customer"].astype("str").to_numpy(),
                             "t": _utc(out.loc[rest, "ts"])}).sort_values("t", kind="stable")
        right = pd.DataFrame({"conversation_id": conv["conversation_id"].astype("str").to_numpy(),
                              "customer": conv["customer"].astype("str").to_numpy(), "t": _utc(conv["start"]),
                              "end": _utc(conv["end"])}).sort_values("t", kind="stable")
        m = pd.merge_asof(left, right, on="t", by="customer", direction="backward")
        ok = m["conversation_id"].notna() & (m["t"] <= m["end"] + window)
        rows = m.loc[ok, "row"].to_numpy()
        matched.iloc[rows] = m.loc[ok, "conversation_id"].to_numpy()
        how.iloc[rows] = "customer_time"
    out["matched_id"] = matched
    out["matched_by"] = how
    n_un = int(matched.isna().sum())
    if n_un:
        log.info("ratings: %d of %d rating(s) match no conversation", n_un, len(out))
    return out


def _utc(ts: pd.Series) -> pd.Series:
    t = pd.to_datetime(ts)
    t = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    return t.dt.as_unit("ns").reset_index(drop=True)


def conversation_ratings(joined: pd.DataFrame) -> pd.DataFrame:
    """``conversation_id, rating, n_ratings`` per rated conversation from :func:`join_ratings` (several
    ratings of one conversation: the latest, by time then file order)."""
    j = joined.loc[joined["matched_id"].notna()].copy()
    j["_order"] = np.arange(len(j))
    j = j.sort_values(["ts", "_order"], kind="stable", na_position="first")
    g = j.groupby("matched_id", sort=False)
    out = pd.DataFrame({"rating": g["rating"].last(), "n_ratings": g.size().astype("int64")})
    return out.rename_axis("conversation_id").reset_index()
