"""`csaudit audit` on a small hand-made Qianniu client export."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from csaudit.cli import main

CHAT = """\
当前用户来自 手机淘宝 商品详情页
jojo_2020 2026-11-10 14:03:07
这件毛衣起球吗
我平时穿M码
云栖家居:阿青 2026-11-10 14:03:30
亲，您好～不起球的哦，M码正合适
jojo_2020 2026-11-10 14:04:00
好的，那我拍了
云栖家居:阿青 2026-11-10 14:04:20
感谢您的支持，欢迎下次光临～
mimi88 2026-11-12 09:00:00
在吗
mimi88 2026-11-12 09:05:00
人呢
云栖家居:大石 2026-11-12 09:12:00
晕，加我微信聊吧
mimi88 2026-11-12 09:13:00
算了，差评
"""

ORDERS = """\
order_id,shop,customer,created,paid,amount,refund
A1,云栖家居,jojo_2020,2026-11-10 14:10:00,2026-11-10 14:11:00,199.00,0
"""


@pytest.fixture()
def export(tmp_path):
    (tmp_path / "chats").mkdir()
    (tmp_path / "chats" / "qianniu.txt").write_text(CHAT, encoding="gb18030")
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    return tmp_path


def test_audit_cli_writes_audit_and_prints_scorecard(export, capsys):
    out = export / "out"
    rc = main(["audit", str(export / "chats"), "--orders", str(export / "orders.csv"), "--week", "2026-W46",
               "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "云栖家居:阿青" in text and "云栖家居:大石" in text and "qa_score" in text
    assert "2026-11-09 .. 2026-11-15" in text
    raw = (out / "agents.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel/WPS open it as UTF-8
    agents = pd.read_csv(out / "agents.csv", encoding="utf-8-sig")
    assert agents["agent"].tolist() == ["云栖家居:阿青", "云栖家居:大石"]  # sorted by rank
    assert agents["rank"].tolist() == [1, 2]
    by = agents.set_index("agent")
    assert by.loc["云栖家居:大石", "qa_score"] == 0  # off-platform steering (微信) is critical
    assert by.loc["云栖家居:阿青", "qa_score"] > 50
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["period_start"] == "2026-11-09" and meta["preset"] == "taobao"
    assert meta["config"]["score"]["weights"]["responsiveness"] == 0.20


def test_audit_cli_period_excludes_and_bad_period_exits_2(export, capsys):
    out = export / "out2"
    rc = main(["audit", str(export / "chats"), "--period", "2026-11-12..2026-11-12", "-o", str(out)])
    assert rc == 0
    agents = pd.read_csv(out / "agents.csv", encoding="utf-8-sig")
    assert agents["agent"].tolist() == ["云栖家居:大石"]
    assert "no orders" in capsys.readouterr().out
    assert main(["audit", str(export / "chats"), "--period", "soon", "-o", str(out)]) == 2
    assert "period" in capsys.readouterr().err


def test_audit_cli_preset_and_config(export):
    cfg = export / "csaudit.toml"
    cfg.write_text("[score]\ncritical_categories = []\n", encoding="utf-8")
    out = export / "out3"
    assert main(["audit", str(export / "chats"), "--preset", "jd", "--config", str(cfg), "-o", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["preset"] == "jd" and meta["config"]["session"]["idle_gap_min"] == 10
    agents = pd.read_csv(out / "agents.csv", encoding="utf-8-sig").set_index("agent")
    assert agents.loc["云栖家居:大石", "qa_score"] > 0  # nothing is critical in this shop's settings
    assert main(["audit", str(export / "chats"), "--config", str(export / "missing.toml"), "-o", str(out)]) == 2


@pytest.mark.parametrize("command", ["audit", "report"])
@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('[latency]\nslow_s = "fast"\n', 'latency.slow_s = "fast": expected a number > 0'),
        ('[session]\nsplit_on_day = "false"\n', 'session.split_on_day = "false": expected true or false'),
        ('[latency]\ntimezone = "Mars/Olympus"\n', 'latency.timezone = "Mars/Olympus": expected an IANA time zone'),
        ("[latency]\ncap_s = -600\n", "latency.cap_s = -600: expected a number > 0"),
    ],
)
def test_a_bad_setting_exits_2_with_one_line_and_no_traceback(export, capsys, command, setting, expected):
    cfg = export / "csaudit.toml"
    cfg.write_text(setting, encoding="utf-8")
    out = ["-o", str(export / "out4")] if command == "audit" else ["--out", str(export / "rep")]
    assert main([command, str(export / "chats"), "--config", str(cfg), *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0] == f"csaudit {command}: error: {cfg}: {expected}" or err[0].startswith(
        f"csaudit {command}: error: {cfg}: {expected}"
    )
