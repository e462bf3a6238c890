"""The committed sample read by ``read_chats`` agrees with the generator's ground truth.

Joins the reader's messages with ``data/sample_truth/messages.csv.gz`` on (source relative to
``data/sample_chats``, line) and compares role, agent, customer, text and timestamps exactly.
"""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def joined(sample_chats, truth_dir):
    chats = sample_chats
    truth = pd.read_csv(truth_dir / "messages.csv.gz", dtype=str, keep_default_na=False)
    truth["line"] = truth["line"].astype("int64")
    got = chats.messages.copy()
    src = got["source"].astype(str).str.replace("\\", "/", regex=False)
    got["rel"] = src.str.replace(r"^.*?sample_chats/", "", regex=True)
    j = truth.merge(got, left_on=["source", "line"], right_on=["rel", "line"], how="outer", suffixes=("", "_got"), indicator=True)
    return chats, truth, j


def test_no_rejects(joined):
    chats, _, _ = joined
    assert len(chats.rejects) == 0, chats.rejects.head(10).to_string()


def test_every_truth_message_is_read_once_and_nothing_else(joined):
    _, truth, j = joined
    missing = j[j["_merge"] == "left_only"]
    extra = j[j["_merge"] == "right_only"]
    assert missing.empty, missing[["source", "line", "role", "text"]].head(10).to_string()
    assert extra.empty, extra[["rel", "line", "role_got", "text_got"]].head(10).to_string()
    assert len(j) == len(truth)


def test_roles_match_exactly(joined):
    _, _, j = joined
    both = j[j["_merge"] == "both"]
    bad = both[both["role"] != both["role_got"].astype(str)]
    assert bad.empty, bad[["source", "line", "role", "role_got", "text"]].head(10).to_string()


def test_agents_customers_texts_and_times_match(joined):
    _, _, j = joined
    both = j[j["_merge"] == "both"]
    agent_got = both["agent_got"].astype(object).where(both["agent_got"].notna(), "")
    bad = both[both["agent"] != agent_got]
    assert bad.empty, bad[["source", "line", "agent", "agent_got"]].head(10).to_string()
    bad = both[both["customer"] != both["customer_got"]]
    assert bad.empty, bad[["source", "line", "customer", "customer_got"]].head(10).to_string()
    bad = both[both["text"] != both["text_got"]]
    assert bad.empty, bad[["source", "line", "text", "text_got"]].head(10).to_string()
    timed = both[both["ts"] != ""]
    expected = pd.to_datetime(timed["ts"]).dt.tz_convert("Asia/Shanghai")
    got = timed["ts_got"].dt.tz_convert("Asia/Shanghai")
    bad = timed[expected.to_numpy() != got.to_numpy()]
    assert bad.empty, bad[["source", "line", "ts", "ts_got"]].head(10).to_string()


def test_shop_is_the_sample_shop(joined):
    chats, _, _ = joined
    assert set(chats.messages["shop"].astype(str)) == {"栖木家居"}
