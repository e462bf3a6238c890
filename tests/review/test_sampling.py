"""The review sample: the documented mix per agent, reproducible by seed, no duplicates."""

from __future__ import annotations

import pytest

import csaudit as ca
from tests.chat_builders import A, B


def by_reason(drawn, agent):
    d = drawn.loc[drawn["agent"] == agent]
    return {r: sorted(d.loc[d["reason"] == r, "conversation_id"]) for r in d["reason"].unique()}


def test_mix_per_agent(small_audit):
    drawn = ca.review.sample(small_audit, per_agent=5, seed=1)
    a = by_reason(drawn, A)
    # A: 1 critical (a6, score 0); 2 lowest (a6 taken → a4, a3); 1 outlier (a4 waited 420 s, a3 taken → a2 40 s);
    # 1 random from what is left (a1 or a5)
    assert a["critical"] == ["a6"]
    assert a["lowest"] == ["a3", "a4"]
    assert a["outlier"] == ["a2"]
    assert len(a["random"]) == 1 and a["random"][0] in {"a1", "a5"}
    # B has only 3 conversations: all of them, no critical one; lowest b2, then the longest wait b3, random b1
    assert by_reason(drawn, B) == {"lowest": ["b2"], "outlier": ["b3"], "random": ["b1"]}
    assert not drawn["conversation_id"].duplicated().any()
    assert list(drawn.columns) == ["agent", "conversation_id", "reason", "qa_score", "wait_s"]


def test_reproducible_by_seed(small_audit):
    one = ca.review.sample(small_audit, per_agent=5, seed=3)
    assert one.equals(ca.review.sample(small_audit, per_agent=5, seed=3))
    picks = {tuple(ca.review.sample(small_audit, per_agent=5, seed=s).query("reason == 'random'")["conversation_id"])
             for s in range(12)}
    assert len(picks) > 1  # the random part does depend on the seed


def test_fewer_conversations_than_asked(small_audit):
    drawn = ca.review.sample(small_audit, per_agent=50, seed=1)
    assert sorted(drawn["conversation_id"]) == sorted(small_audit.conversations["conversation_id"])
    with pytest.raises(ValueError):
        ca.review.sample(small_audit, per_agent=0)
