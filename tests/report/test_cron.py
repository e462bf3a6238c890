"""Cron safety of `csaudit report` (csaudit/report/cron.py): week names, refused flags, lock, staging, signals."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from csaudit.report import cron

from .conftest import A1, A2, csaudit


def test_week_last_and_this_in_the_shop_time_zone() -> None:
    thursday = dt.date(2026, 11, 19)  # ISO week 47
    assert cron.resolve_week("this", "Asia/Shanghai", today=thursday) == "2026-W47"
    assert cron.resolve_week("last", "Asia/Shanghai", today=thursday) == "2026-W46"
    assert cron.resolve_week("LAST", "Asia/Shanghai", today=dt.date(2027, 1, 4)) == "2026-W53"
    assert cron.resolve_week("2026-W10", "Asia/Shanghai") == "2026-W10" and cron.resolve_week(None, "x") is None
    assert cron.resolve_week("this", "Asia/Shanghai").startswith(str(dt.date.today().year)[:3])


def test_flags_that_cannot_apply_to_a_saved_audit_exit_2(tiny_audit: Path, tmp_path: Path) -> None:
    for flags in (["--week", "last"], ["--orders", "x.csv"], ["--preset", "jd"], ["--period", "2026-11-09..2026-11-15"]):
        run = csaudit("report", str(tiny_audit), *flags, "--out", str(tmp_path / "r"))
        assert run.returncode == 2, (flags, run.stderr)
        assert flags[0] in run.stderr and "saved audit" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_unknown_agent_exits_2_listing_the_known_ones(tiny_audit: Path, tmp_path: Path) -> None:
    run = csaudit("report", str(tiny_audit), "--agents", "云栖家居:阿青,云栖家居:nobody", "--out", str(tmp_path / "r"))
    assert run.returncode == 2
    assert "云栖家居:nobody" in run.stderr and A1 in run.stderr and A2 in run.stderr
    assert "Traceback" not in run.stderr


def test_debug_and_quiet_are_accepted_after_the_subcommand(tiny_audit: Path, tmp_path: Path) -> None:
    from csaudit.cli import build_parser

    a = build_parser().parse_args(["report", "x", "--debug", "--quiet"])
    assert a.debug and a.quiet
    b = build_parser().parse_args(["--debug", "report", "x"])
    assert b.debug and not b.quiet  # the subcommand's copy does not reset the earlier flag


def test_a_second_run_into_the_same_out_is_refused(tiny_audit: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with cron.OutLock(out):
        run = csaudit("report", str(tiny_audit), "--out", str(out))
    assert run.returncode == 2 and "another csaudit report" in run.stderr and str(os.getpid()) in run.stderr
    with cron.OutLock(out):  # released when the holder closes it
        pass


def test_staging_replaces_outputs_only_on_commit(tmp_path: Path) -> None:
    out = tmp_path / "r"
    (out / "agents").mkdir(parents=True)
    (out / "agents" / "old.html").write_text("last week", encoding="utf-8")
    (out / "index.html").write_text("last week", encoding="utf-8")
    (out / "mine.txt").write_text("a user's file", encoding="utf-8")
    with pytest.raises(RuntimeError), cron.Staging(out) as st:  # a failed run
        (st.tmp / "agents").mkdir()
        (st.tmp / "index.html").write_text("half", encoding="utf-8")
        raise RuntimeError("boom")
    assert (out / "index.html").read_text(encoding="utf-8") == "last week" and (out / "agents" / "old.html").exists()
    assert not list(out.glob(".staging-*"))
    with cron.Staging(out) as st:
        (st.tmp / "agents").mkdir()
        (st.tmp / "agents" / "new.html").write_text("this week", encoding="utf-8")
        (st.tmp / "index.html").write_text("this week", encoding="utf-8")
        st.commit()
    assert (out / "index.html").read_text(encoding="utf-8") == "this week"
    assert [p.name for p in (out / "agents").iterdir()] == ["new.html"]
    assert (out / "mine.txt").exists() and not list(out.glob(".staging-*"))


@pytest.mark.slow
def test_sigterm_stops_workers_and_kernels_and_keeps_the_last_report(tiny_audit: Path, tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "r"
    out.mkdir()
    (out / "index.html").write_text("last week", encoding="utf-8")
    p = subprocess.Popen([sys.executable, "-m", "csaudit.cli", "report", str(tiny_audit), "--out", str(out),
                          "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    kids: list = []
    while time.time() < deadline:  # wait until a kernel runs (the notebooks are executing)
        kids = psutil.Process(p.pid).children(recursive=True)
        if any("ipykernel" in " ".join(k.cmdline()) for k in kids if k.is_running()):
            break
        time.sleep(0.3)
    assert kids, "no worker started"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM" in err
    time.sleep(1)
    alive = [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [" ".join(k.cmdline())[:120] for k in alive]
    assert (out / "index.html").read_text(encoding="utf-8") == "last week"  # the last good report is kept
    assert not list(out.glob(".staging-*"))
