"""Property: any generated client-text export round-trips to exactly the messages it was made from."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csaudit.io import qianniu_text
from csaudit.io.base import RawFile, ReadContext

SENDERS = ["jojo_2020", "买家小王", "tb12345", "小鹿服饰:晴晴", "小鹿服饰：阿木", "店:店小蜜", "a b c"]
ALPHABET = st.characters(
    codec="utf-8",
    categories=("L", "N", "P", "S", "Zs"),
    exclude_characters="\u3000\u00a0\u2028\u2029\x85\u200b\ufeff",
)


def _ok_line(s: str) -> bool:
    """A content line that is neither blank, nor a header, nor a system line, nor padded."""
    return (
        bool(s.strip())
        and s == s.strip()
        and qianniu_text._HEADER_PY.match(s) is None
        and not any(p in s for p in ("撤回了一条消息", "当前用户来自", "转交给", "原因", "【即将超时】",
                                     "系统关闭会话", "系统消息", "[系统]", "会话已"))
    )


line = st.text(ALPHABET, min_size=1, max_size=30).filter(_ok_line)
message = st.tuples(
    st.sampled_from(SENDERS),
    st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2099, 12, 31)),
    st.lists(line, min_size=1, max_size=4),
    st.sampled_from(["iso", "slash", "nospace", "twoline"]),
    st.booleans(),
)


def _render(sender: str, ts: dt.datetime, style: str) -> str:
    iso = ts.strftime("%Y-%m-%d %H:%M:%S")
    if style == "slash":
        return f"{sender} {ts.year}/{ts.month}/{ts.day} {ts.hour}:{ts.minute:02d}:{ts.second:02d}"
    if style == "nospace" and not sender[-1].isdigit():
        return f"{sender}{iso}"
    if style == "twoline":
        return f"{sender}\n{iso}"
    return f"{sender} {iso}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=1, max_size=12), st.sampled_from(["utf-8", "gb18030", "utf-16"]), st.booleans())
def test_generated_export_round_trips(messages, encoding, crlf):
    out = []
    for sender, ts, lines, style, blank_after in messages:
        out.append(_render(sender, ts.replace(microsecond=0), style))
        out.extend(lines)
        if blank_after:
            out.append("")
    text = "\n".join(out) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    parsed = qianniu_text.parse(RawFile("gen.txt", data), ReadContext())
    assert len(parsed.rejects) == 0
    got = parsed.messages
    assert got["sender"].tolist() == [m[0] for m in messages]
    assert got["ts"].tolist() == [pd.Timestamp(m[1].replace(microsecond=0)) for m in messages]
    assert got["text"].tolist() == ["\n".join(m[2]) for m in messages]
    assert got["role"].isna().all()
