"""Predicted satisfaction (csaudit/metrics/satisfaction.py): features on short conversations we write,
the shipped model file, fitting."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from csaudit.config import Config
from csaudit.metrics import satisfaction as sat
from csaudit.model import schema

A = "店:小美"


def _msgs(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    """rows: (conversation_id, role, text, sentiment or None)."""
    df = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(rows))],
            "conversation_id": [r[0] for r in rows],
            "shop": "店",
            "customer": [f"cust_{r[0]}" for r in rows],
            "sender": [A if r[1] == "agent" else f"cust_{r[0]}" for r in rows],
            "agent": pd.Series([A if r[1] == "agent" else None for r in rows], dtype="str"),
            "role": [r[1] for r in rows],
            "ts": pd.NaT,
            "text": [r[2] for r in rows],
            "source": "t",
            "line": range(1, len(rows) + 1),
        }
    )
    return schema.conform(df, "messages").assign(sentiment=[np.nan if r[3] is None else r[3] for r in rows])


def _hits(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """rows: (conversation_id, message_id, category, side)."""
    df = pd.DataFrame(
        {
            "message_id": [r[1] for r in rows], "conversation_id": [r[0] for r in rows], "agent": A, "ts": pd.NaT,
            "rule": [f"lexicon:{r[2]}" for r in rows], "category": [r[2] for r in rows], "severity": "minor",
            "side": [r[3] for r in rows], "term": "x", "start": 0, "end": 1, "text": "x", "suggestion": None,
        }
    )
    return schema.conform(df, "hits")


def _rounds(rows: list[tuple[str, bool, float | None]]) -> pd.DataFrame:
    """rows: (conversation_id, answered, response_s)."""
    df = pd.DataFrame(
        {
            "conversation_id": [r[0] for r in rows], "customer": "c", "agent": A, "round": range(1, len(rows) + 1),
            "start": pd.NaT, "reply": pd.NaT, "response_s": [np.nan if r[2] is None else r[2] for r in rows],
            "capped_s": np.nan, "answered": [r[1] for r in rows], "in_hours": True, "slow": False,
        }
    )
    return schema.conform(df, "rounds")


ROWS = [
    ("c1", "customer", "在吗", 0.4),        # m0
    ("c1", "agent", "您好", None),           # m1
    ("c1", "customer", "怎么还没发货", 0.2),  # m2
    ("c1", "customer", "算了", 0.8),         # m3
    ("c1", "agent", "抱歉", None),           # m4
    ("c2", "customer", "好的谢谢", 0.9),      # m5
]


def test_features_on_short_conversations():
    m = _msgs(ROWS)
    h = _hits([
        ("c1", "m2", "dissatisfied", "customer"),  # second-to-last customer message: at the end (last 2)
        ("c1", "m0", "escalation", "customer"),    # first message: anywhere only
        ("c1", "m4", "refusal", "agent"),
        ("c1", "m1", "refusal", "customer"),       # wrong side: not counted
        ("c2", "m5", "satisfied", "customer"),
    ])
    r = _rounds([("c1", True, 30.0), ("c1", True, 400.0), ("c2", False, None)])
    f = sat.features(m, r, h, Config())
    assert f.index.tolist() == ["c1", "c2"]
    c1, c2 = f.loc["c1"], f.loc["c2"]
    # weights from the end 1, 0.5, 0.25: (0.8 + 0.5·0.2 + 0.25·0.4) / 1.75
    assert c1["sentiment_weighted"] == pytest.approx((0.8 + 0.1 + 0.1) / 1.75)
    assert c1["sentiment_last"] == 0.8 and c1["sentiment_min"] == 0.2
    assert c2["sentiment_weighted"] == c2["sentiment_last"] == c2["sentiment_min"] == 0.9
    assert c1["dissatisfied_hits"] == 1 and c1["dissatisfied_end"] == 1  # escalation at m0 is not at the end
    assert c1["escalation_hits"] == 1 and c1["refusal_hits"] == 1 and c2["refusal_hits"] == 0
    assert c2["satisfied_end"] == 1 and c1["satisfied_end"] == 0
    assert c1["unanswered_rounds"] == 0 and c2["unanswered_rounds"] == 1
    assert c1["slow_rounds"] == 1 and c2["slow_rounds"] == 0  # > latency.slow_s (180 s)
    assert c1["customer_last"] == 0 and c2["customer_last"] == 1
    assert (c1["n_customer"], c1["n_agent"], c1["n_turns"]) == (3, 2, 4)
    assert c1["customer_chars"] == 2 + 6 + 2 and c2["customer_chars"] == 4


def test_features_do_not_depend_on_conversation_grouping():
    m = _msgs(ROWS)
    h = _hits([("c1", "m2", "dissatisfied", "customer"), ("c2", "m5", "satisfied", "customer")])
    r = _rounds([("c1", True, 30.0), ("c2", False, None)])
    mixed = m.iloc[[0, 5, 1, 2, 3, 4]]  # c2's message between c1's: same figures
    pd.testing.assert_frame_equal(sat.features(mixed, r, h).loc[["c1", "c2"]], sat.features(m, r, h))


def test_features_last_n_and_missing_sentiment():
    m = _msgs([("c1", "customer", "a", None), ("c1", "customer", "b", None), ("c1", "customer", "c", None)])
    spec = [{"name": "end1", "kind": "hits", "side": "customer", "categories": ["x"], "last_n": 1},
            {"name": "s", "kind": "sentiment_last"}]
    h = _hits([("c1", "m1", "x", "customer"), ("c1", "m2", "x", "customer")])
    f = sat.features(m, _rounds([]), h, spec=spec)
    assert f.loc["c1", "end1"] == 1 and np.isnan(f.loc["c1", "s"])
    with pytest.raises(ValueError, match="unknown kind"):
        sat.features(m, _rounds([]), h, spec=[{"name": "z", "kind": "nope"}])


def test_fit_recovers_a_known_rank_linear_model():
    rng = np.random.default_rng(0)
    n = 400
    x1, x2 = rng.random(n), rng.random(n)
    feats = pd.DataFrame({"a": x1, "b": x2})
    spec = [{"name": "a", "kind": "n_customer"}, {"name": "b", "kind": "n_agent"}]
    y = 20 + 60 * x1 - 10 * x2  # x uniform: its rank fraction ≈ x
    model = sat.fit(feats, y, spec=spec, ridge=0.0)
    assert model["coef"]["a"] == pytest.approx(60, abs=1.5) and model["coef"]["b"] == pytest.approx(-10, abs=1.5)
    pred = sat.predict(feats, model)
    assert pred.between(0, 100).all()
    assert np.corrcoef(pred, y)[0, 1] > 0.99
    # missing values take the training median's rank (≈ 0.5)
    one = sat.predict(pd.DataFrame({"a": [np.nan], "b": [np.nan]}), model)
    assert one.iloc[0] == pytest.approx(model["intercept"] + 0.5 * (60 - 10), abs=2)


def test_fit_keeps_the_expected_sign():
    rng = np.random.default_rng(1)
    x1, x2 = rng.random(300), rng.random(300)
    feats = pd.DataFrame({"a": x1, "b": x2})
    y = 30 + 50 * x1 + 10 * x2  # b helps here, but the spec says it may only hurt
    spec = [{"name": "a", "kind": "n_customer", "sign": 1}, {"name": "b", "kind": "n_agent", "sign": -1}]
    model = sat.fit(feats, y, spec=spec)
    assert model["coef"]["b"] == 0.0 and model["coef"]["a"] == pytest.approx(50, abs=2)
    free = sat.fit(feats, y, spec=[dict(f, sign=0) for f in spec])
    assert free["coef"]["b"] == pytest.approx(10, abs=2)


def test_shipped_model_loads_and_reproduces_its_check_figures():
    model = sat.load_model()
    prov = model["provenance"]
    assert prov["cv"]["rho_pooled"] >= 0.55 and prov["cv"]["folds"] == 5
    assert "even digit" in prov["data"] and prov["commit"] and prov["date"]
    assert sat.check_predictions(model) == pytest.approx(prov["check"], abs=1e-6)
    assert set(prov["check"]) == {"low", "mid", "high", "mixed"}
    # on the short conversations we wrote, the order a lead expects
    got = sat.check_figures()
    assert got["happy"] > got["plain"] > got["angry"]
    assert set(sat.explain(model)["feature"]) == {f["name"] for f in model["features"]}
    for f in model["features"]:  # every weight reads the way the spec says
        assert f.get("sign", 0) * model["coef"][f["name"]] >= 0, f["name"]


def test_model_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="m.json"):
        sat.load_model(bad)
    bad.write_text(json.dumps({"format": sat.FORMAT, "features": [{"name": "a", "kind": "n_agent"}],
                               "intercept": 0, "coef": {}, "tables": {}, "fill": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="coef lacks"):
        sat.load_model(bad)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        sat.load_model(tmp_path / "nope.json")


def test_config_csat_model_is_used(tmp_path):
    import csaudit as ca

    model = sat.load_model()
    flat = {**model, "coef": {k: 0.0 for k in model["coef"]}, "intercept": 42.0}
    sat.save_model(flat, tmp_path / "flat.json")
    (tmp_path / "csaudit.toml").write_text('[score]\ncsat_model = "flat.json"\n', encoding="utf-8")
    cfg = Config.load(tmp_path / "csaudit.toml")
    res = ca.audit(sat.check_messages(), config=cfg)
    assert (res.conversations["csat"] == 42.0).all()
    assert (res.agents["csat_mean"] == 42.0).all()
