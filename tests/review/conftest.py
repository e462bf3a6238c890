"""A small hand-built audit for the review tests: agent A (阿青) with six conversations — five with one
refusal (不行) each, one with a critical off-platform invitation — and agent B (小白) with three clean
ones. One of A's refusals is in a message that starts with ``=`` (must stay text in the workbook)."""

from __future__ import annotations

import pytest

from tests.chat_builders import A, B, cat, msgs

REFUSALS = {
    "a1": "您好，这个颜色不行哦",
    "a2": "您好，现在改地址真不行",
    "a3": "=这个尺寸真不行，亲",
    "a4": "您好，今天发货不行哦",
    "a5": "您好，退运费这个真不行呢",
}
WAIT = {"a1": "10:00:20", "a2": "10:00:40", "a3": "10:01:00", "a4": "10:07:00", "a5": "10:00:30"}


def small_messages():
    frames = []
    for i, (conv, text) in enumerate(REFUSALS.items()):
        frames.append(msgs([
            ("customer", None, "10:00:00", "可以换个颜色吗"),
            ("agent", A, WAIT[conv], text),
            ("customer", None, "10:08:00", "好吧"),
            ("agent", A, "10:08:30", "感谢光临，欢迎下次再来"),
        ], conv=conv, customer=f"买家{i}", day=f"2026-11-{10 + i}"))
    frames.append(msgs([
        ("customer", None, "10:00:00", "能便宜点吗"),
        ("agent", A, "10:00:20", "您好，您加我微信，我私下给您便宜"),
        ("customer", None, "10:01:00", "好的"),
    ], conv="a6", customer="买家6", day="2026-11-10"))
    for i, wait in enumerate(("10:00:15", "10:02:00", "10:00:50")):
        frames.append(msgs([
            ("customer", None, "10:00:00", "请问有现货吗"),
            ("agent", B, wait, "您好，有现货的"),
            ("customer", None, "10:05:00", "谢谢"),
            ("agent", B, "10:05:20", "感谢光临，欢迎下次再来"),
        ], conv=f"b{i + 1}", customer=f"顾客{i}", day="2026-11-12"))
    return cat(*frames)


@pytest.fixture(scope="session")
def small_audit():
    """The audit of :func:`small_messages` (tests must not mutate it)."""
    import csaudit as ca

    return ca.audit(small_messages())
