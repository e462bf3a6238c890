"""The eight agent personas of the sample shop and their behaviour parameters.

Latencies are seconds of a log-normal reply delay (median, sigma). Probabilities are per
conversation unless stated ("per reply"). Shifts are local hours ``[start, end)``; an end above 24
runs past midnight.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """How one sub-account behaves."""

    name: str
    """Sub-account name (after ``店铺名:``)."""
    kind: str
    """Persona key: fast_warm, slow, curt_slang, deflector, seller, wechat, auto_reply, night_shift."""
    shift: tuple[int, int]
    latency_median_s: float
    latency_sigma: float
    greet_p: float
    """Greeting in the first reply."""
    closing_p: float
    rating_p: float
    apology_p: float
    """Apology after a wait > 180 s."""
    honorific_p: float
    """Writes 您 (else 你) — decided per conversation."""
    unanswered_end_p: float
    """The customer's last round stays unanswered."""
    hold_p: float
    """Per reply: answers with a hold (稍等/我查一下) first."""
    hold_nofollow_p: float
    """A hold whose follow-up never comes (or comes after 15 min)."""
    auto_reply_p: float
    """Per round: the account's shop auto-reply fires first."""
    convert_p: float
    """An inquiry leads to an order within 48 h."""
    slang_p: float = 0.0
    """Per reply."""
    curt_p: float = 0.0
    """Per reply: a lone 嗯/哦."""
    refusal_p: float = 0.0
    """Per reply."""
    wechat_p: float = 0.0
    """Per conversation: steers the buyer off-platform."""
    push_p: float = 0.0
    """Per reply: a sales push (seller)."""
    absolute_p: float = 0.0
    """Per conversation: an absolute claim / risky promise."""


PERSONAS: list[Persona] = [
    Persona("小满", "fast_warm", (8, 17), 7, 0.5, 0.95, 0.85, 0.5, 0.9, 0.97, 0.02, 0.10, 0.02, 0.02, 0.26),
    Persona("老周", "slow", (9, 18), 190, 0.75, 0.6, 0.4, 0.1, 0.3, 0.75, 0.20, 0.15, 0.20, 0.10, 0.14),
    Persona("阿飞", "curt_slang", (12, 21), 18, 0.6, 0.12, 0.05, 0.0, 0.0, 0.10, 0.06, 0.05, 0.05, 0.02, 0.10,
            slang_p=0.18, curt_p=0.14, absolute_p=0.0),
    Persona("大刘", "deflector", (8, 16), 35, 0.7, 0.4, 0.2, 0.05, 0.1, 0.30, 0.08, 0.15, 0.30, 0.02, 0.08,
            refusal_p=0.22),
    Persona("橙子", "seller", (10, 20), 15, 0.5, 0.9, 0.8, 0.5, 0.8, 0.92, 0.02, 0.10, 0.02, 0.02, 0.55,
            push_p=0.35, absolute_p=0.06),
    Persona("小鹿", "wechat", (13, 23), 25, 0.6, 0.7, 0.5, 0.3, 0.5, 0.6, 0.04, 0.10, 0.05, 0.02, 0.18,
            wechat_p=0.06, absolute_p=0.03),
    Persona("安安", "auto_reply", (9, 18), 65, 0.6, 0.8, 0.6, 0.3, 0.6, 0.85, 0.04, 0.10, 0.05, 0.85, 0.18),
    Persona("阿月", "night_shift", (20, 26), 30, 0.7, 0.75, 0.6, 0.3, 0.6, 0.8, 0.06, 0.10, 0.05, 0.05, 0.20),
]

BY_NAME = {p.name: p for p in PERSONAS}

EXPECTED = {
    "slowest_agent": "老周",
    "most_slang_agent": "阿飞",
    "most_refusals_agent": "大刘",
    "best_conversion_agent": "橙子",
    "wechat_agent": "小鹿",
    "auto_reply_agent": "安安",
    "night_agent": "阿月",
    "fastest_agent": "小满",
}
"""Orderings the audit of the sample must reproduce (agent names without the shop prefix)."""


def on_shift(hour_of_day: float) -> list[Persona]:
    """Personas working at a local hour (0–24, fractional)."""
    out = []
    for p in PERSONAS:
        a, b = p.shift
        h = hour_of_day
        if a <= h < b or a <= h + 24 < b:
            out.append(p)
    return out
