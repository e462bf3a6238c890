"""Wilson interval, Cohen's κ and rule versions against textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import csaudit as ca
from csaudit.review.stats import cohen_kappa, wilson


def test_wilson_known_values():
    lo, hi = wilson([0, 10, 8], [10, 10, 10])
    # 0/10 → [0, 0.2775]; 10/10 → [0.7225, 1]; 8/10 → [0.4902, 0.9433] (z = 1.96)
    assert lo == pytest.approx([0.0, 0.72246, 0.49016], abs=1e-4)
    assert hi == pytest.approx([0.27754, 1.0, 0.94332], abs=1e-4)
    lo0, hi0 = wilson(0, 0)
    assert np.isnan(lo0) and np.isnan(hi0)


def test_cohen_kappa_textbook():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 → p_o = .7, p_e = .5·.6 + .5·.4 = .5, κ = .4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["y", "y"], ["y", "y"]))  # p_e = 1: undefined
    assert math.isnan(cohen_kappa([], []))


def test_rule_versions_cover_every_rule_and_are_stable():
    v = ca.review.rule_versions()
    assert "lexicon:refusal" in v and "qc:no_closing" in v
    assert all(len(x) == 12 for x in v.values())
    assert v == ca.review.rule_versions(ca.Config())
    slower = ca.Config().updated({"qc": {"long_wait_s": 240}})
    w = ca.review.rule_versions(slower)
    assert w["qc:no_apology_after_wait"] != v["qc:no_apology_after_wait"]
    assert w["lexicon:refusal"] == v["lexicon:refusal"]


def test_review_settings_checked():
    with pytest.raises(ValueError, match="review.min_precision"):
        ca.Config().updated({"review": {"min_precision": 1.5}})
    with pytest.raises(ValueError, match="review.sample_"):
        ca.Config().updated({"review": {"sample_lowest": 0.6, "sample_critical": 0.6}})
