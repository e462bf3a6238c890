"""Display names (csaudit/report/labels.py) and the one display rule per unit (csaudit/report/fmt.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from csaudit.config import Config
from csaudit.report.fmt import fmt_period, fmt_time, fmt_value
from csaudit.report.labels import LANGUAGES, check_lang, labels

LEX_DIR = Path(__file__).resolve().parents[2] / "csaudit" / "lexicons"
README = Path(__file__).resolve().parents[2] / "README.md"


def lexicon_categories() -> set[str]:
    cats = set()
    for f in LEX_DIR.glob("*.toml"):
        with open(f, "rb") as fh:
            cats |= {c["category"] for c in tomllib.load(fh).get("category", [])}
    return cats


def readme_scorecard_columns() -> set[str]:
    cols, on = set(), False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            on = "Scorecard columns" in line
        elif on and line.startswith("| `") and "<" not in line.split("`")[1]:  # patterns: see their parts
            cols.add(line.split("`")[1])
    return cols


def test_chinese_is_the_default_and_english_is_there() -> None:
    zh, en = labels(), labels("en")
    assert zh.lang == "zh" and zh.category("off_platform") == "站外引流"
    assert zh.column("off_platform_hits") == "站外引流" and zh.rule("lexicon:off_platform") == "站外引流"
    assert zh.rule("qc:hold_no_followup") == "稍等后未跟进" and zh.severity("critical") == "红线"
    assert en.category("off_platform") == "off-platform steering" and en.column("qa_score") == "QA score"
    with pytest.raises(ValueError, match="zh, en"):
        check_lang("fr")


def test_unknown_keys_fall_back_to_the_key() -> None:
    zh = labels("zh")
    assert zh.column("brand_new_column") == "brand_new_column"
    assert zh.rule("qc:brand_new_rule") == "brand_new_rule"
    assert zh.category("brand_new") == "brand_new"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_known_key_has_a_label(lang: str) -> None:
    """Lists the keys without a label: every scorecard column of the README, every lexicon category,
    every QC rule and severity, every score category."""
    lab = labels(lang)
    missing = {
        "column": lab.missing("column", readme_scorecard_columns()),
        "category": lab.missing("category", lexicon_categories()),
        "rule": lab.missing("rule", [f"qc:{r}" for r in ("no_greeting_first_reply", "no_apology_after_wait",
                                                         "hold_no_followup", "no_closing", "customer_repeated",
                                                         "customer_escalation")]),
        "severity": lab.missing("severity", ["critical", "major", "minor", "info"]),
        "score": lab.missing("score", Config().score.weights),
    }
    assert not any(missing.values()), missing


def test_both_languages_have_the_same_keys() -> None:
    zh, en = labels("zh").data, labels("en").data
    assert zh.keys() == en.keys()
    for kind in zh:
        assert set(zh[kind]) == set(en[kind]), (kind, set(zh[kind]) ^ set(en[kind]))


def test_rates_are_percent_everywhere_and_units_follow_the_language() -> None:
    # the issue: conversion 0.56 beside 97.6 %; every 0–1 share prints as percent
    assert fmt_value("order_conversion", 0.56) == "56.0%"
    assert fmt_value("reply_rate", 0.9757085020242915) == "97.6%"
    assert fmt_value("honorific_ratio", 0.5) == "50.0%"
    assert fmt_value("answer_ratio", 1.25) == "1.25"  # a true ratio stays a ratio
    assert fmt_value("avg_response_s", 42.04) == "42.0 秒" and fmt_value("avg_response_s", 42.04, "en") == "42.0 s"
    assert fmt_value("cs_sales", 1234.5) == "¥1,234.50"
    assert fmt_value("qa_score", 55) == "55.0" and fmt_value("slow_rounds", 570.0) == "570"
    assert fmt_value("sentiment_end_mean", 0.381) == "0.38"
    assert fmt_value("qa_score", float("nan")) == "—"
    assert fmt_value("answer_ratio_low", True) == "是" and fmt_value("answer_ratio_low", True, "en") == "yes"


def test_times_are_shop_local_never_iso_utc() -> None:
    assert fmt_time("2026-11-16T08:00:00+00:00", "Asia/Shanghai") == "2026-11-16 16:00"
    assert fmt_time(pd.Timestamp("2026-11-09 10:00", tz="Asia/Shanghai"), "Asia/Shanghai") == "2026-11-09 10:00"
    assert fmt_time(None) == ""
    assert fmt_period({"period_start": None, "period_end": None}) == "导出中的全部日期"
    assert fmt_period({"period_start": "2026-11-09", "period_end": "2026-11-15"}) == "2026-11-09 – 2026-11-15"
