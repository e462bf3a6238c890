"""`csaudit report` end to end on the sample data (one shared run; see conftest.py)."""

from __future__ import annotations

import html as html_mod
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import csaudit as ca
from csaudit.report.html import esc
from csaudit.report.views import agent_slug, fmt_value, resolve_kpis

from .conftest import PHONE, SCRIPT, Planted, Run

pytestmark = pytest.mark.slow

KPI_RE = re.compile(r'data-kpi="([^"]+)" data-value="([^"]*)">([^<]*)<')
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def body(path: Path) -> str:
    """The page without the <head> (plotly.js is minified code, not report content)."""
    return path.read_text(encoding="utf-8").split("</head>", 1)[1]


def test_all_outputs_exist(sample_report: Run) -> None:
    out = sample_report.out
    assert sample_report.returncode == 0, sample_report.stderr[-3000:]
    audit = ca.Audit.load(out / "audit")
    agents = audit.agents["agent"].tolist()
    assert len(agents) == 8
    for name in ("index.html", "audit.xlsx", "run.log"):
        assert (out / name).stat().st_size > 0
    index = body(out / "index.html")
    for a in agents:
        page = out / "agents" / f"{agent_slug(a)}.html"
        assert page.exists(), a
        assert f'href="agents/{agent_slug(a)}.html"' in index
        assert (out / "notebooks" / f"{agent_slug(a)}.ipynb").exists()
    assert len(list((out / "agents").glob("*.html"))) == 8
    assert "Needs response times and orders" not in index  # the sample has both: the scatter is drawn
    assert "8/8 agent reports ok" in sample_report.stdout
    # not a TTY: plain log lines, no progress bar
    assert "report 9/9 ok" in sample_report.stderr and "\r" not in sample_report.stderr
    assert "reports:" in (out / "run.log").read_text(encoding="utf-8")
    print(f"csaudit report on the sample: {sample_report.seconds:.1f} s")


AGENT_PAGE_MAX = 1_000_000
REPORT_MAX = 8_000_000


def test_size_budgets(sample_report: Run) -> None:
    """plotly.js once per folder; each agent page ≤ 1 MB; the pages + assets of the sample ≤ 8 MB."""
    out = sample_report.out
    pages = [out / "index.html", *(out / "agents").glob("*.html")]
    assets = list((out / "assets").iterdir())
    sizes = {p.name: p.stat().st_size for p in pages}
    assert max(sizes.values()) <= AGENT_PAGE_MAX, sizes
    total = sum(sizes.values()) + sum(p.stat().st_size for p in assets)
    print(f"sample report: {len(pages)} pages {sum(sizes.values()) / 1e6:.2f} MB + assets "
          f"{sum(p.stat().st_size for p in assets) / 1e6:.2f} MB = {total / 1e6:.2f} MB; largest page "
          f"{max(sizes.values()) / 1e6:.2f} MB")
    assert total <= REPORT_MAX
    for p in pages:
        html = p.read_text(encoding="utf-8")
        assert "plotly.min.js" in html and html.count("Plotly.register") == 0  # loaded, not inlined
        assert "'unsafe-inline'" not in html


def test_each_report_shows_the_scorecard_values(sample_report: Run) -> None:
    agents = ca.Audit.load(sample_report.out / "audit").agents.set_index("agent")
    for a, row in agents.iterrows():
        html = body(sample_report.out / "agents" / f"{agent_slug(a)}.html")
        kpis = KPI_RE.findall(html)
        assert len(kpis) >= 10, a
        # every headline KPI the scorecard has is shown (a renamed column would silently drop one)
        shown_cols = {col for col, _, _ in kpis}
        assert {col for _, col in resolve_kpis(agents.reset_index().columns)} <= shown_cols, a
        assert {"order_conversion", "paid_conversion", "avg_response_s"} <= shown_cols, a
        for col, raw, shown in kpis:
            assert shown == fmt_value(col, row[col]), (a, col)
            if raw:
                assert float(raw) == pytest.approx(float(row[col]), rel=1e-12), (a, col)
            else:
                assert pd.isna(row[col])
        assert f'质检得分 <b data-kpi="qa_score">{fmt_value("qa_score", row["qa_score"])}</b>' in html
        assert f'data-rank="{int(row["rank"])}">第 {int(row["rank"])} 名 / 共 8 人</b>' in html
        assert ('data-red-line="1"' in html) == (row["critical_conversations"] > 0), a


def test_no_raw_chat_markup_and_no_phone_numbers(sample_report: Run, sample_chats) -> None:
    phones = set(PHONE_RE.findall("\n".join(sample_chats.messages["text"].astype(str))))
    assert phones, "the sample has phone numbers in its chats"
    for page in [sample_report.out / "index.html", *(sample_report.out / "agents").glob("*.html")]:
        html = body(page)
        assert SCRIPT not in html
        assert not phones & set(PHONE_RE.findall(html)), page.name
    with zipfile.ZipFile(sample_report.out / "audit.xlsx") as z:  # every string of every sheet
        xml = html_mod.unescape("".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")))
    assert "订单" in xml or "栖木家居" in xml
    assert not phones & set(PHONE_RE.findall(xml))


def test_the_saved_audit_beside_the_reports_is_masked(sample_report: Run, sample_chats, sample_dir: Path) -> None:
    """OUT/audit is what gets forwarded with the reports: masked text and names, and it says so."""
    audit = ca.Audit.load(sample_report.out / "audit")
    raw_text = "\n".join(sample_chats.messages["text"].astype(str))
    assert PHONE_RE.search(raw_text)
    for t in ("messages", "turns", "hits", "unreplied", "lost_inquiries"):
        assert not PHONE_RE.search("\n".join(getattr(audit, t)["text"].dropna().astype(str))), t
    assert not audit.orders["order_id"].str.contains(r"\d{10}").any()
    assert len(audit.messages) == len(sample_chats.messages)
    assert audit.meta["masked"] is True
    assert audit.meta["raw_data"] == [str(sample_dir.resolve()), str((sample_dir / "orders.csv").resolve())]
    index = body(sample_report.out / "index.html")
    note = index[index.index('id="privacy"'):]
    assert "masked" in note and html_mod.escape(str(sample_dir.resolve())) in note.split("</p>")[0]


def test_workbook_sheets_and_rows(sample_report: Run) -> None:
    from csaudit.report.views import negative_hits

    audit = ca.Audit.load(sample_report.out / "audit")
    wb = openpyxl.load_workbook(sample_report.out / "audit.xlsx", read_only=True)
    assert wb.sheetnames[:6] == ["客服评分", "问题明细", "未回复顾客", "流失询单", "规则复核", "定义"]
    assert wb.sheetnames[6:] == []  # the shop-figure sheets only with [shop] enabled = true
    with zipfile.ZipFile(sample_report.out / "audit.xlsx") as z:  # rows per sheet, without parsing cells
        rows = [z.read(f"xl/worksheets/sheet{i}.xml").count(b"<row ") for i in range(1, 5)]
    findings = negative_hits(audit.hits, audit.config.to_dict())
    assert 0 < len(findings) < len(audit.hits) / 2  # politeness terms are counts in the scorecard, not rows
    assert rows == [len(t) + 1 for t in (audit.agents, findings, audit.unreplied, audit.lost_inquiries)]
    names = [r[0] for r in wb["客服评分"].iter_rows(min_row=2, values_only=True)]
    assert names == audit.agents["agent"].tolist()  # Chinese intact, same order (rank)


def test_planted_script_is_escaped_and_phone_masked(planted_report: Planted) -> None:
    run = planted_report.run
    html = body(run.out / "agents" / f"{agent_slug(planted_report.good)}.html")
    assert SCRIPT not in html and esc(SCRIPT) in html
    assert PHONE not in html and "138****5678" in html
    assert "data-prev=" in html and "未提供上期审计" not in html  # --previous: KPIs vs last period
    index = body(run.out / "index.html")
    assert "环比" in index and "未提供上期审计" not in index
    assert (run.out / "previous" / "agents.parquet").exists()
    shown = body(planted_report.unmasked.out / "agents" / f"{agent_slug(planted_report.good)}.html")
    assert planted_report.unmasked.returncode == 0, planted_report.unmasked.stderr[-2000:]
    assert PHONE in shown and esc(SCRIPT) in shown and SCRIPT not in shown


def test_a_failing_agent_is_reported_and_the_others_finish(planted_report: Planted) -> None:
    run = planted_report.run
    assert run.returncode == 1
    nb = run.out / "notebooks" / f"{agent_slug(planted_report.bad)}.ipynb"
    assert f"FAILED agent {planted_report.bad!r}" in run.stdout and str(nb) in run.stdout
    assert "ValueError" in run.stdout and "outside" in run.stdout
    assert nb.exists() and "ValueError" in nb.read_text(encoding="utf-8")  # the error cell is kept
    assert not (run.out / "agents" / f"{agent_slug(planted_report.bad)}.html").exists()
    assert (run.out / "agents" / f"{agent_slug(planted_report.good)}.html").exists()
    assert "1/2 agent reports ok" in run.stdout
    assert "失败" in body(run.out / "index.html")
    assert "FAILED" in (run.out / "run.log").read_text(encoding="utf-8")


def test_explore_notebook_runs_top_to_bottom(sample_report: Run, tmp_path: Path, repo_root: Path) -> None:
    import papermill as pm

    out = tmp_path / "explore.ipynb"
    nb = pm.execute_notebook(str(repo_root / "notebooks" / "explore.ipynb"), str(out),
                             parameters={"audit_dir": str(sample_report.out / "audit")}, kernel_name="csaudit",
                             progress_bar=False, cwd=str(repo_root / "notebooks"), execution_timeout=120)
    texts = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                    for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "hits of the new category" in texts
    assert "None" not in texts.split("hits of the new category")[0]  # no period=None..None
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    # the figure is visible in JupyterLab (plotly MIME type) and in exported HTML (plotly.js embedded, no CDN)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outs)
    from nbconvert import HTMLExporter

    exported, _ = HTMLExporter().from_notebook_node(nb)
    assert "Plotly.newPlot" in exported and "cdn.plot.ly/plotly" not in exported


def test_a_raw_saved_audit_is_reported_from_a_masked_copy(tiny_audit: Path, tmp_path: Path) -> None:
    """A saved audit with a customer whose nickname is a phone number (`csaudit audit -o` keeps raw
    data): `csaudit report` on it writes OUT/audit masked and names the raw folder on the index page;
    reporting into the raw folder itself is refused (it would be overwritten or shared unmasked)."""
    import shutil

    from .conftest import A1, csaudit

    raw = tmp_path / "raw"
    shutil.copytree(tiny_audit, raw)
    for name in ("conversations", "rounds", "unreplied", "lost_inquiries", "messages"):
        t = pd.read_parquet(raw / f"{name}.parquet")
        t.loc[t["customer"] == "buyer1", "customer"] = PHONE
        if "sender" in t:
            t.loc[t["sender"] == "buyer1", "sender"] = PHONE
        t.to_parquet(raw / f"{name}.parquet", index=False)
    out = tmp_path / "reports"
    run = csaudit("report", str(raw), "--agents", A1, "--out", str(out), "--workers", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    meta = json.loads((out / "audit" / "meta.json").read_text(encoding="utf-8"))
    assert meta["masked"] is True and meta["raw_data"] == [str(raw.resolve())]
    assert {p.name for p in (out / "audit").iterdir()} == {p.name for p in raw.iterdir()}
    for name in ("conversations", "rounds", "unreplied", "lost_inquiries", "messages"):
        df = pd.read_parquet(out / "audit" / f"{name}.parquet")
        assert PHONE not in set(df["customer"]), name
        assert name == "unreplied" or "138****5678" in set(df["customer"]), name
        assert not df.astype(str).apply(lambda c: c.str.contains(PHONE)).any().any(), name
    pages = [out / "index.html", *(out / "agents").glob("*.html")]
    assert len(pages) == 2 and not any(PHONE in body(p) for p in pages)
    assert html_mod.escape(str(raw.resolve())) in body(out / "index.html")
    assert pd.read_parquet(raw / "conversations.parquet")["customer"].tolist()[0] == PHONE  # raw untouched


def test_reporting_into_the_raw_saved_audit_itself_is_refused(tiny_audit: Path, tmp_path: Path) -> None:
    import shutil

    from .conftest import csaudit

    out = tmp_path / "reports"
    shutil.copytree(tiny_audit, out / "audit")
    run = csaudit("report", str(out / "audit"), "--out", str(out), "--workers", "1")
    assert run.returncode == 2 and "not masked" in run.stderr and "--no-mask" in run.stderr
    assert (out / "audit" / "meta.json").exists() and not (out / "index.html").exists()
