"""Unreliable rules in later audits: hits kept and marked, no points lost, no zeroing; a changed rule's
old reviews no longer apply."""

from __future__ import annotations

import dataclasses

import pytest

import csaudit as ca
from csaudit.config import Config, ReviewConfig

from .conftest import REFUSALS, small_messages
from .helpers import fill

REF, OFF = "lexicon:refusal", "lexicon:off_platform"
CFG = dataclasses.replace(Config(), review=ReviewConfig(min_reviews=2, min_precision=0.8))


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    d = tmp_path_factory.mktemp("apply")
    audit = ca.audit(small_messages(), config=CFG)
    blank = ca.review.write_workbook(audit, ca.review.sample(audit, per_agent=10, seed=1), d / "r.xlsx", seed=1)
    wrong = {**{(c, REF): "误报" for c in REFUSALS}, ("a6", OFF): "误报"}
    one = fill(blank, d / "1.xlsx", "甲", wrong)
    two = fill(blank, d / "2.xlsx", "乙", {**wrong, ("a1", REF): "正确"})
    return ca.review.load([one, two], audit)


def test_penalised_hits_drops_only_unreliable_rows(small_audit):
    hits = small_audit.hits
    before = hits.copy()
    kept = ca.review.penalised_hits(hits, {REF})
    assert REF not in set(kept["rule"]) and len(kept) == len(hits) - 5
    assert hits.equals(before)  # the caller's frame is untouched
    assert ca.review.penalised_hits(hits, set()) is hits


def test_unreliable_rule_stops_zeroing(reviews, tmp_path):
    plain = ca.audit(small_messages(), config=CFG)
    later = ca.audit(small_messages(), config=CFG, reviews=reviews)
    table = later.rule_reviews.set_index("rule")
    # refusal: 1 correct of 10 decisive verdicts; off-platform 0 of 2 — both below 0.8 after ≥ 2 reviews
    assert table.loc[REF, "precision"] == pytest.approx(0.1) and table.loc[REF, "n_reviews"] == 10
    assert table.loc[[REF, OFF], "unreliable"].all()
    assert later.meta["unreliable_rules"] == [OFF, REF]
    # the hits stay visible ...
    assert later.hits.equals(plain.hits)
    # ... but the critical one no longer zeroes a6, and the refusals cost no compliance points
    p, q = (a.conversations.set_index("conversation_id") for a in (plain, later))
    assert p.loc["a6", "qa_score"] == 0 and bool(p.loc["a6", "critical"])
    assert q.loc["a6", "qa_score"] > 0 and not bool(q.loc["a6", "critical"])
    assert p.loc["a1", "score_compliance"] == 90 and q.loc["a1", "score_compliance"] == 100
    assert (q["qa_score"] >= p["qa_score"]).all()
    # the reviews travel with the audit and survive save/load
    later.save(tmp_path / "aud")
    back = ca.Audit.load(tmp_path / "aud")
    assert back == later and len(back.reviews) == len(reviews)
    # --reviews DIR: every reviews.parquet under the folder
    via_dir = ca.audit(small_messages(), config=CFG, reviews=tmp_path)
    assert via_dir.meta["unreliable_rules"] == [OFF, REF]
    assert via_dir.conversations["qa_score"].equals(later.conversations["qa_score"])


def test_changed_rule_no_longer_uses_old_reviews(reviews, tmp_path):
    shop = tmp_path / "shop.toml"
    shop.write_text('[[category]]\ncategory = "off_platform"\nterms = ["加我私聊"]\n', encoding="utf-8")
    cfg = dataclasses.replace(CFG, lexicon=dataclasses.replace(CFG.lexicon, files=[str(shop)]))
    before, after = ca.review.rule_versions(CFG), ca.review.rule_versions(cfg)
    assert before[OFF] != after[OFF] and before[REF] == after[REF]
    later = ca.audit(small_messages(), config=cfg, reviews=reviews)
    assert later.meta["unreliable_rules"] == [REF]
    assert later.conversations.set_index("conversation_id").loc["a6", "qa_score"] == 0  # zeroes again
    assert len(later.reviews) == len(reviews)  # old reviews kept
    # ... but precision and agreement of the changed rule start again from nothing
    assert OFF not in set(ca.review.rule_precision(reviews, after)["rule"])
    agree = ca.review.agreement(reviews, after).set_index("rule")
    assert OFF not in agree.index and agree.loc[REF, "n_compared"] == 5
    assert ca.review.agreement(reviews).set_index("rule").loc[OFF, "n_compared"] == 1


def test_config_reviews_path(reviews, tmp_path):
    (tmp_path / "week46").mkdir()
    reviews.to_parquet(tmp_path / "week46" / "reviews.parquet")
    toml = tmp_path / "csaudit.toml"
    toml.write_text('[review]\nmin_reviews = 2\nreviews_path = "."\n', encoding="utf-8")
    later = ca.audit(small_messages(), config=Config.load(toml))
    assert later.meta["unreliable_rules"] == [OFF, REF]
