"""``csaudit report --previous`` with several saved audits: the latest is compared against, all give trends.csv."""

import shutil

import pandas as pd

import csaudit as ca
from csaudit.cli import _previous_audits, _write_trends, build_parser
from tests.chat_builders import A, msgs


def test_previous_several_audits_and_trends(tmp_path):
    for name, day in (("w45", "2026-11-03"), ("w46", "2026-11-10")):
        m = msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:00:30", "在的")], conv=name, customer=name, day=day)
        ca.audit(m, period=(day, day)).save(tmp_path / "prev" / name)
    args = build_parser().parse_args(["report", "chats", "--previous", str(tmp_path / "prev"), "--out", str(tmp_path / "r")])
    loaded = _previous_audits(args)
    assert args.previous.endswith("w46") and len(loaded) == 2
    (tmp_path / "r").mkdir()
    shutil.copytree(tmp_path / "prev" / "w46", tmp_path / "r" / "audit")  # stands in for the current audit
    _write_trends(loaded, args)
    t = pd.read_csv(tmp_path / "r" / "trends.csv", encoding="utf-8-sig")
    team = t[t["agent"] == "(team)"].set_index("week")
    assert list(team.index) == ["2026-W45", "2026-W46"] and list(team["conversations"]) == [1, 1]
