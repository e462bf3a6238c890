import pandas as pd
import pytest

from csaudit.config import Config
from csaudit.metrics.sales_actions import sales_hits
from csaudit.metrics.workload import TEAM, busy_agents, busy_notices, concurrency, timeline, workload
from tests.chat_builders import A, B, cat, msgs
from tests.metrics.shop_builders import conversations, ts

# Tuesday 2026-11-10 (weekday 1): A holds k1 10:00–10:40, k2 10:10–10:20, k3 10:15–10:50 (3 open at 10:15);
# k4 starts 10:20 when k2 has just ended (2 open: k1, k3, + k4 = 3); B has k5 11:00–11:05.
CONV = conversations([
    ("k1", "c1", A, "2026-11-10 10:00", "2026-11-10 10:40", True),
    ("k2", "c2", A, "2026-11-10 10:10", "2026-11-10 10:20", True),
    ("k3", "c3", A, "2026-11-10 10:15", "2026-11-10 10:50", True),
    ("k4", "c4", A, "2026-11-10 10:20", "2026-11-10 10:30", True),
    ("k5", "c5", B, "2026-11-10 11:00", "2026-11-10 11:05", True),
]).assign(qa_score=[80.0, 60.0, 100.0, 40.0, 90.0])


def rounds_table():
    rows = [("k1", A, "2026-11-10 10:00", True, 30.0), ("k1", A, "2026-11-10 10:30", True, 90.0),
            ("k2", A, "2026-11-10 10:10", False, None), ("k3", A, "2026-11-10 10:15", True, 60.0),
            ("k5", B, "2026-11-10 11:00", True, 10.0)]
    return pd.DataFrame({"conversation_id": [r[0] for r in rows], "agent": [r[1] for r in rows],
                         "start": [ts(r[2]) for r in rows], "answered": [r[3] for r in rows],
                         "response_s": pd.array([r[4] for r in rows], dtype="Float64").astype("float64")})


HITS = pd.DataFrame({"agent": [A, A, B], "ts": [ts("2026-11-10 10:05"), ts("2026-11-10 10:06"), ts("2026-11-10 11:01")],
                     "side": ["agent", "agent", "agent"], "severity": ["major", "info", "minor"]})


def test_concurrency_at_start():
    c = concurrency(CONV).set_index("conversation_id")
    assert list(c["concurrent"]) == [1, 2, 3, 3, 1]
    assert c.loc["k5", "team_concurrent"] == 1  # everybody's k1..k4 ended by 10:50
    assert c.loc["k4", "team_concurrent"] == 3


def test_workload_hour_weekday_and_team():
    w = workload(CONV, rounds_table(), HITS, Config(), by="hour_weekday").set_index(["agent", "weekday", "hour"])
    a = w.loc[(A, 1, 10)]
    assert a["conversations"] == 4 and a["peak_concurrent"] == 3
    assert a["rounds"] == 4 and a["reply_rate"] == 0.75 and a["median_response_s"] == 60.0
    assert a["findings"] == 1  # the info hit is not a finding
    assert a["qa_score"] == pytest.approx((80 + 60 + 100 + 40) / 4)
    t = w.loc[(TEAM, 1, 11)]
    assert t["conversations"] == 1 and t["findings"] == 1 and t["median_response_s"] == 10.0
    d = workload(CONV, rounds_table(), HITS, Config(), by="day").set_index(["agent", "date"])
    assert d.loc[(TEAM, pd.Timestamp("2026-11-10").date()), "conversations"] == 5


def test_timeline_hourly():
    t = timeline(CONV, rounds_table(), HITS, "h").set_index(["agent", "period"])
    assert t.loc[(TEAM, ts("2026-11-10 10:00")), "conversations"] == 4
    assert t.loc[(B, ts("2026-11-10 11:00")), "rounds"] == 1
    assert timeline(CONV, rounds_table(), HITS, "D").set_index(["agent", "period"]).loc[(A, ts("2026-11-10 00:00")), "rounds"] == 4


def test_busy_notice_rule():
    m = cat(*[msgs([("customer", None, t, "在吗"), ("agent", A, t2, text)], conv=k, customer=k)
              for k, t, t2, text in [("k1", "10:00:00", "10:00:30", "在的"),
                                     ("k2", "10:10:00", "10:10:30", "亲，现在咨询量较大，回复可能较慢，请耐心等待"),
                                     ("k3", "10:15:00", "10:15:30", "您好"),
                                     ("k4", "10:20:00", "10:20:30", "您好，咨询的人较多哦")]],
            msgs([("customer", None, "11:00:00", "在吗"), ("agent", B, "11:00:10", "在的")], conv="k5", customer="k5"))
    cfg = Config().updated({"workload": {"busy_concurrency": 3}})
    b = busy_notices(CONV, m, sales_hits(m, cfg), cfg).set_index("conversation_id")
    # A's 10:00 hour peaks at 3: all four of A's conversations that started then are busy
    assert list(b.index) == ["k1", "k2", "k3", "k4"]
    assert list(b["notified"]) == [False, True, False, True]
    assert b.loc["k2", "message_id"] == "k2-1"
    ag = busy_agents(b.reset_index()).set_index("agent")
    assert ag.loc[A, "busy_notice_rate"] == 0.5
    assert busy_notices(CONV, m, sales_hits(m, cfg), Config()).empty  # default 5 is not reached
