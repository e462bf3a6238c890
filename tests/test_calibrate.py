"""``csaudit calibrate`` (csaudit/calibrate.py) on a synthetic rated set whose answer is known."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import csaudit as ca
from csaudit.calibrate import agreement, calibrate, predicted_classes
from csaudit.cli import main
from csaudit.metrics import satisfaction
from csaudit.model import schema

TZ = "Asia/Shanghai"
AGENT = "测试店:小白"
LABELS = {1: "非常满意", 2: "满意", 3: "一般", 4: "不满意"}


def _rated_set(n_per: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conversations that differ only in how many times the agent replied (k = 1…4, same texts);
    the customer's rating falls with k: 非常满意 for k = 1 … 不满意 for k = 4. The shipped model gives
    more agent messages a small plus, so it cannot know this; a refit on the ratings must find it."""
    rows, ratings = [], []
    day0 = pd.Timestamp("2026-11-01 10:00:00", tz=TZ)
    i = 0
    for k in range(1, 5):
        for j in range(n_per):
            cid, cust = f"c{k}_{j}", f"buyer{k}_{j}"
            t0 = day0 + pd.Timedelta(days=i)
            rows.append((cid, cust, "customer", cust, t0, "请问这个尺码怎么选"))
            for r in range(k):
                rows.append((cid, cust, "agent", AGENT, t0 + pd.Timedelta(seconds=20 + 30 * r), "亲，看一下尺码表"))
            # half the ratings name the conversation, half give the customer and a time after the chat
            by_id = j % 2 == 0
            ratings.append((cid if by_id else "", "" if by_id else cust,
                            "" if by_id else (t0 + pd.Timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S"), LABELS[k]))
            i += 1
    df = pd.DataFrame(rows, columns=["conversation_id", "customer", "role", "sender", "ts", "text"])
    df = df.assign(message_id=[f"m{x}" for x in range(len(df))], shop="测试店",
                   agent=df["sender"].where(df["role"] == "agent"), source="t", line=np.arange(1, len(df) + 1))
    return schema.conform(df, "messages"), pd.DataFrame(ratings, columns=["会话ID", "买家昵称", "评价时间", "评价结果"])


def test_predicted_classes_follow_the_rating_shares():
    got = predicted_classes(np.array([10, 20, 30, 40.0]), np.array([0, 0, 100, 100.0]), (0.0, 50.0, 100.0))
    assert got.tolist() == [0, 0, 100, 100]
    a = agreement(np.array([10, 20, 30, 40.0]), np.array([0, 0, 100, 100.0]), "3")
    assert a["n"] == 4 and a["rho"] == pytest.approx(np.sqrt(0.8)) and a["accuracy"] == 1.0
    assert a["per_class"]["满意"] == (2, 1.0) and a["per_class"]["一般"][0] == 0


def test_calibrate_improves_agreement_on_a_known_answer(tmp_path):
    messages, ratings = _rated_set()
    audit = ca.audit(messages)
    audit.save(tmp_path / "audit")
    f = tmp_path / "服务评价.csv"
    ratings.to_csv(f, index=False, encoding="utf-8-sig")
    res = calibrate(ca.Audit.load(tmp_path / "audit"), ca.read_ratings(f), tmp_path / "model")
    assert res.before["n"] == res.after["n"] == 60
    assert (res.joined["matched_by"] == "customer_time").sum() == 28 and res.joined["matched_id"].notna().all()
    assert res.before["rho"] < 0.3  # the shipped model does not know this shop
    assert res.after["rho"] > 0.95 and res.after["accuracy"] == 1.0
    assert res.cv is not None and res.cv["rho"] > 0.9
    assert set(res.after["per_class"]) == {"非常满意", "满意", "一般", "不满意", "非常不满意"}
    assert res.model["coef"]["n_agent"] < 0  # it learned that more replies went with lower ratings here
    assert (tmp_path / "model" / "csat.json").exists()
    # [score] csat_model uses the refitted file
    (tmp_path / "csaudit.toml").write_text('[score]\ncsat_model = "model/csat.json"\n', encoding="utf-8")
    again = ca.audit(messages, config=ca.Config.load(tmp_path / "csaudit.toml"))
    conv = again.conversations.set_index("conversation_id")
    assert conv.loc["c1_0", "csat"] > conv.loc["c4_0", "csat"] + 30
    loaded = satisfaction.load_model(tmp_path / "model" / "csat.json")
    assert loaded["provenance"]["n"] == 60


def test_calibrate_cli_prints_before_and_after(tmp_path, capsys):
    messages, ratings = _rated_set(n_per=4)
    ca.audit(messages).save(tmp_path / "audit")
    ratings.to_csv(tmp_path / "r.csv", index=False)
    rc = main(["calibrate", str(tmp_path / "audit"), "--ratings", str(tmp_path / "r.csv"), "-o",
               str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "before (model in use)" in out and "after (refit, in-sample)" in out
    assert len(re.findall(r"n =\s+16 ", out)) == 2
    assert "5-fold CV" not in out  # too few ratings to cross-validate
    assert "largest weights of the refitted model" in out and "n_agent" in out
    assert (tmp_path / "m.json").exists()
    rc = main(["calibrate", str(tmp_path / "audit"), "--ratings", str(tmp_path / "r.csv"), "--scale", "3"])
    assert rc == 2  # 非常满意 is not a 3-point label: a clear error, exit code 2
    assert "rating label" in capsys.readouterr().err
