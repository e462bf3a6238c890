"""Ratings (服务评价) reader and the join to conversations (csaudit/io/ratings.py); files we wrote."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import csaudit as ca
from csaudit.config import Config
from csaudit.io.base import InputError, RawFile
from csaudit.io.ratings import join_ratings, label_values, parse_ratings, read_ratings

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ratings"
TZ = "Asia/Shanghai"


def test_qianniu_five_point_gbk_export():
    r = read_ratings(GOLDEN / "qianniu_five_gbk.csv")
    # the 未评价 row is skipped: not a rating
    assert r["customer"].tolist() == ["jojo_2020", "阿木木", "小鱼儿", "tt_88", "meimei"]
    assert r["label"].tolist() == ["非常满意", "满意", "一般", "不满意", "非常不满意"]
    assert r["rating"].tolist() == [100.0, 75.0, 50.0, 25.0, 0.0]
    assert (r["scale"] == "5").all()
    assert r["agent"].iloc[0] == "小鹿服饰:晴晴" and r["conversation_id"].isna().all()
    assert r["ts"].iloc[0] == pd.Timestamp("2026-11-09 14:20:00", tz=TZ)
    assert r["line"].tolist() == [2, 3, 4, 5, 6]


def test_three_point_by_conversation_id_tsv_with_bom():
    r = read_ratings(GOLDEN / "three_point_bom.tsv")
    assert r["conversation_id"].tolist() == ["c-001", "c-002", "c-003"]
    assert r["rating"].tolist() == [100.0, 50.0, 0.0]  # 满意 is the top of a 3-point file
    assert (r["scale"] == "3").all() and r["ts"].isna().all()


def test_english_headers_and_0_100_scale():
    r = read_ratings(GOLDEN / "english_0_100.csv")
    assert r["rating"].tolist() == [95.0, 40.0, 0.0] and (r["scale"] == "100").all()
    assert r["customer"].tolist() == ["buyer_a", "buyer_b", "buyer_c"]


def test_xlsx_with_stars_and_forced_scale():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["会话编号", "评分"])
    for cid, v in [("a", "★★★★★"), ("b", "★★☆☆☆"), ("c", "3")]:
        ws.append([cid, v])
    buf = io.BytesIO()
    wb.save(buf)
    r = parse_ratings(RawFile("评价.xlsx", buf.getvalue()))
    assert r["rating"].tolist() == [100.0, 25.0, 50.0] and (r["scale"] == "5").all()
    # a forced 0–100 scale reads "3" as 3 points out of 100 (stars are not numbers there)
    vals, scale, bad = label_values(pd.Series(["3", "80"]), scale="100")
    assert scale == "100" and vals.tolist() == [3.0, 80.0] and not bad.any()


def test_label_values_auto_scale():
    v, s, _ = label_values(pd.Series(["1", "5", "3"]))
    assert s == "5" and v.tolist() == [0.0, 100.0, 50.0]
    v, s, _ = label_values(pd.Series(["满意", "满意", "一般"]))
    assert s == "3" and v.tolist() == [100.0, 100.0, 50.0]
    v, s, _ = label_values(pd.Series(["很满意", "满意"]))
    assert s == "5" and v.tolist() == [100.0, 75.0]


def test_bad_label_and_missing_columns_name_file_and_line():
    raw = RawFile("r.csv", "会话ID,评价结果\nc1,满意\nc2,超级棒\n".encode())
    with pytest.raises(InputError, match=r"r\.csv:3: .*rating label.*超级棒"):
        parse_ratings(raw)
    with pytest.raises(InputError, match=r"r\.csv:1: ratings columns"):
        parse_ratings(RawFile("r.csv", "评价结果,备注\n满意,x\n".encode()))
    with pytest.raises(InputError, match=r"r\.csv:2: rating time"):
        parse_ratings(RawFile("r.csv", "买家,评价时间,评价结果\nbob,昨天下午,满意\n".encode()))


def _conversations() -> pd.DataFrame:
    t = lambda s: pd.Timestamp(f"2026-11-09 {s}", tz=TZ)  # noqa: E731
    return pd.DataFrame({
        "conversation_id": ["k1", "k2", "k3"], "customer": ["bob", "bob", "amy"],
        "start": [t("10:00:00"), t("15:00:00"), t("12:00:00")], "end": [t("10:20:00"), t("15:30:00"), t("12:05:00")],
    })


def test_join_by_id_then_customer_and_time():
    t = lambda s: pd.Timestamp(f"2026-11-{s}", tz=TZ)  # noqa: E731
    ratings = pd.DataFrame({
        "conversation_id": pd.Series(["k3", None, None, None, None, "zz"], dtype="str"),
        "customer": pd.Series([None, "bob", "bob", "bob", "amy", "amy"], dtype="str"),
        "ts": [pd.NaT, t("09 10:10:00"), t("09 16:00:00"), t("09 09:00:00"), t("10 13:00:00"), t("09 12:01:00")],
        "rating": [100.0, 75.0, 50.0, 25.0, 0.0, 50.0], "scale": "5", "source": "x", "line": range(2, 8),
    })
    j = join_ratings(ratings, _conversations(), Config())
    # by id; inside k1's span; 30 min after k2 ended (within 24 h) → k2; before any chat of bob → none;
    # amy 25 h after k3 ended → none; an unknown id falls back to customer + time → k3
    assert j["matched_id"].fillna("-").tolist() == ["k3", "k1", "k2", "-", "-", "k3"]
    assert j["matched_by"].fillna("-").tolist() == ["conversation_id", "customer_time", "customer_time", "-", "-",
                                                    "customer_time"]
    cfg = Config().updated({"score": {"rating_window_h": 48}})
    assert join_ratings(ratings, _conversations(), cfg)["matched_id"].iloc[4] == "k3"


def test_audit_with_ratings_adds_rating_and_rating_mean():
    from csaudit.metrics.satisfaction import check_messages

    m = check_messages()
    ratings = pd.DataFrame({"conversation_id": pd.Series(["happy", "angry"], dtype="str"),
                            "customer": pd.Series([None, None], dtype="str"), "ts": pd.NaT,
                            "rating": [100.0, 0.0], "scale": "5", "source": "x", "line": [2, 3]})
    res = ca.audit(m, ratings=ratings)
    conv = res.conversations.set_index("conversation_id")
    assert conv.loc["happy", "rating"] == 100 and conv.loc["angry", "rating"] == 0
    assert np.isnan(conv.loc["plain", "rating"])
    ag = res.agents.iloc[0]
    assert ag["n_rated"] == 2 and ag["rating_mean"] == 50.0
    assert res.meta["has_ratings"] is True
