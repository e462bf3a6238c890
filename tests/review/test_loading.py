"""Round trip: sample → workbook filled by two reviewers with known verdicts → import → precision, κ,
reviewed scores and disputes equal the hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import csaudit as ca
from tests.chat_builders import A, B

from .helpers import fill

REF = "lexicon:refusal"
OFF = "lexicon:off_platform"
# reviewer 甲 and 乙 on the five refusals (a1..a5) and the one off-platform hit (a6)
V1 = {("a1", REF): "正确", ("a2", REF): "正确", ("a3", REF): "误报", ("a4", REF): "正确", ("a5", REF): "不确定",
      ("a6", OFF): "误报"}
V2 = {("a1", REF): "正确", ("a2", REF): "误报", ("a3", REF): "误报", ("a4", REF): "正确", ("a5", REF): "正确",
      ("a6", OFF): "误报"}


@pytest.fixture(scope="module")
def filled(small_audit, tmp_path_factory):
    d = tmp_path_factory.mktemp("review")
    drawn = ca.review.sample(small_audit, per_agent=10, seed=1)
    blank = ca.review.write_workbook(small_audit, drawn, d / "review.xlsx", seed=1, per_agent=10)
    one = fill(blank, d / "jia.xlsx", "甲", V1, {
        "a6": {"override_score": 90, "comment": "误报，顾客问的是微信支付", "dispute": "是",
               "dispute_reason": "没有引导私下交易", "dispute_status": "已驳回"},
    })
    two = fill(blank, d / "yi.xlsx", "乙", V2, {
        "a6": {"override_score": 80},
        "b2": {"dispute": "是", "dispute_reason": "顾客自己离开了"},
    })
    return blank, one, two


def test_round_trip_figures(small_audit, filled):
    _, one, two = filled
    reviews = ca.review.load([one, two], small_audit)
    findings = reviews.loc[reviews["kind"] == "finding"]
    assert len(findings) == 12  # 6 verdicts each; unjudged QC findings are not rows
    assert set(findings["reviewer"]) == {"甲", "乙"}

    versions = ca.review.rule_versions(small_audit.config)
    prec = ca.review.rule_precision(reviews, versions).set_index("rule")
    # refusal: correct 甲 3 + 乙 3 = 6, false positive 甲 1 + 乙 2 = 3, unsure 1 (left out) → 6 / 9
    r = prec.loc[REF]
    assert (r["n_reviews"], r["n_correct"], r["n_false_positive"], r["n_unsure"]) == (9, 6, 3, 1)
    assert r["precision"] == pytest.approx(6 / 9)
    # Wilson, z = 1.96, p = 2/3, n = 9: centre (2/3 + 3.8416/18) / (1 + 3.8416/9) = .61681,
    # half 1.96 √((2/3)(1/3)/9 + 3.8416/324) / 1.42684 = .26262
    assert r["precision_lo"] == pytest.approx(0.35419, abs=1e-4)
    assert r["precision_hi"] == pytest.approx(0.87943, abs=1e-4)
    assert prec.loc[OFF, "precision"] == 0.0 and prec.loc[OFF, "n_reviews"] == 2
    assert not prec["unreliable"].any()  # fewer than 20 reviews: not judged yet

    agree = ca.review.agreement(reviews).set_index("rule")
    # refusal pairs (甲, 乙): CC CF FF CC UC → p_o = 3/5;
    # 甲 = C C F C U → C .6 F .2 U .2; 乙 = C F F C C → C .6 F .4; p_e = .36 + .08 = .44, κ = (.6 − .44) / .56 = 2/7
    assert agree.loc[REF, "n_compared"] == 5
    assert agree.loc[REF, "agreement"] == pytest.approx(0.6)
    assert agree.loc[REF, "kappa"] == pytest.approx(2 / 7)
    # off-platform: both said 误报 — p_e = 1, κ undefined, agreement 100 %
    assert agree.loc[OFF, "agreement"] == 1.0 and math.isnan(agree.loc[OFF, "kappa"])
    # overall: 6 pairs, 4 equal; 甲 C 3/6 F 2/6 U 1/6, 乙 C 3/6 F 3/6 → p_e = .25 + 1/6, κ = (2/3 − 5/12) / (7/12) = 3/7
    assert agree.loc["(all)", "kappa"] == pytest.approx(3 / 7)

    scores = ca.review.reviewed_scores(small_audit.conversations, reviews,
                                       ca.review.audit_fingerprint(small_audit)).set_index("agent")
    conv = small_audit.conversations.set_index("conversation_id")["qa_score"]
    mine = [f"a{i}" for i in range(1, 7)]
    # a6 (automatic 0, critical) overridden by 90 and 80 → 85; the other five keep their automatic scores
    assert scores.loc[A, "reviewed_qa_score"] == pytest.approx((conv[mine[:5]].sum() + 85) / 6)
    assert scores.loc[A, "qa_score"] == pytest.approx(conv[mine].mean())
    assert scores.loc[A, "n_overridden"] == 1
    assert scores.loc[B, "reviewed_qa_score"] == pytest.approx(scores.loc[B, "qa_score"])

    disp = ca.review.disputes(reviews, ca.review.audit_fingerprint(small_audit))
    assert disp[["conversation_id", "reviewer", "dispute_status", "resolved"]].values.tolist() == [
        ["b2", "乙", "open", False], ["a6", "甲", "rejected", True]]


def test_reimport_replaces_and_keeps_others(small_audit, filled, tmp_path):
    _, one, two = filled
    first = ca.review.load([one, two], small_audit)
    again = ca.review.load([one], type(small_audit)(**{**small_audit.__dict__, "reviews": first}))
    assert len(again) == len(first)  # 甲's rows replaced, 乙's kept
    changed = fill(one, tmp_path / "jia2.xlsx", "甲", {("a5", REF): "正确"})
    later = ca.review.load([changed], type(small_audit)(**{**small_audit.__dict__, "reviews": first}))
    v = later.loc[(later["reviewer"] == "甲") & (later["conversation_id"] == "a5") & (later["kind"] == "finding")]
    assert v["verdict"].tolist() == ["correct"]
    cleared = fill(one, tmp_path / "jia3.xlsx", "甲", {("a1", REF): None})
    later = ca.review.load([cleared], type(small_audit)(**{**small_audit.__dict__, "reviews": first}))
    mine = later.loc[(later["reviewer"] == "甲") & (later["kind"] == "finding")]
    assert "a1" not in set(mine["conversation_id"]) and len(mine) == 5  # a cleared verdict is gone
    assert (later["reviewer"] == "乙").sum() == (first["reviewer"] == "乙").sum()


def test_workbook_cells(small_audit, filled):
    from openpyxl import load_workbook

    blank, _, _ = filled
    wb = load_workbook(blank)
    assert wb.sheetnames == ["说明", "发现", "会话", "_meta"]
    assert wb["_meta"].sheet_state == "hidden"
    ws = wb["发现"]
    heads = [c.value for c in ws[1]]
    assert heads[:10] == ["序号", "会话编号", "客服", "规则", "类别", "严重度", "命中词", "前两条消息", "命中消息", "判定"]
    rows = {(r[1].value, r[3].value): r for r in ws.iter_rows(min_row=2)}
    a3 = rows[("a3", REF)]
    assert a3[8].value == "=这个尺寸真【不行】，亲" and a3[8].data_type == "s"  # never a formula
    assert a3[7].value == "顾客：可以换个颜色吗"  # the one message before it
    assert a3[1].hyperlink.location.startswith("'会话'!B")
    assert any("正确,误报,不确定" in dv.formula1 for dv in ws.data_validations.dataValidation)
    assert pd.Series([c.value for c in wb["会话"]["B"][1:]]).tolist() == \
        ca.review.sample(small_audit, per_agent=10, seed=1)["conversation_id"].tolist()


def test_audit_without_findings(tmp_path):
    from tests.chat_builders import A, msgs

    audit = ca.audit(msgs([("customer", None, "10:00:00", "有现货吗"), ("agent", A, "10:00:10", "您好，有的，感谢光临")]))
    audit = type(audit)(**{**audit.__dict__, "hits": audit.hits.iloc[0:0]})
    blank = ca.review.write_workbook(audit, ca.review.sample(audit), tmp_path / "r.xlsx")
    filled = fill(blank, tmp_path / "f.xlsx", "甲", None, {"c1": {"override_score": "75", "comment": "语气可以"}})
    reviews = ca.review.load([filled], audit)
    assert reviews[["kind", "override_score", "comment"]].values.tolist() == [["conversation", 75.0, "语气可以"]]


def test_workbook_masks_personal_data(tmp_path):
    from openpyxl import load_workbook

    from tests.chat_builders import A, msgs

    audit = ca.audit(msgs([("customer", None, "10:00:00", "我的手机13812345678能改地址吗"),
                           ("agent", A, "10:00:10", "这个不行，订单3912345678901234567已发货")]))
    drawn = ca.review.sample(audit)
    for mask, phone, order in ((True, "138****5678", "***************4567"),
                               (False, "13812345678", "3912345678901234567")):
        wb = load_workbook(ca.review.write_workbook(audit, drawn, tmp_path / f"{mask}.xlsx", mask=mask))
        row = next(r for r in wb["发现"].iter_rows(min_row=2, values_only=True) if r[3] == "lexicon:refusal")
        assert phone in row[7] and order in row[8] and "【不行】" in row[8]
        assert phone in wb["会话"]["M2"].value
