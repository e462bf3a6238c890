"""The weekly batch: one saved audit → one HTML report per agent, the team index, the workbook.

:func:`run_reports` executes ``notebooks/agent_report.ipynb`` once per agent and
``notebooks/team_overview.ipynb`` once, through papermill, in a small pool of worker processes.

Speed (the 8 sample agents in well under a minute on 2 cores): starting a Jupyter kernel and
importing pandas/plotly costs far more than a report itself, so each worker process starts ONE
kernel and hands it to papermill for every notebook it runs (papermill/nbclient keep a kernel they
did not start alive); the workers are started, and import papermill and nbconvert, while the
caller is still computing the audit. Each notebook reads only its agent's rows of the saved audit
(parquet filters, :mod:`csaudit.report.data`).

Robustness: a per-notebook timeout (also passed to papermill as the per-cell timeout); a failed
notebook is retried once on a fresh kernel; a failure never stops the batch — the run ends with a
summary naming each failed agent and its executed notebook (with the error cell) and
:attr:`ReportRun.ok` is False.

Outputs under ``out``::

    index.html               team overview + a table linking every agent report (+ failures)
    agents/<slug>.html       one page per agent (slug: :func:`views.agent_slug`)
    assets/                  plotly.min.js, csaudit.js, csaudit.css — written once, loaded by relative path
    audit.xlsx               scorecard, hits, unreplied, lost_inquiries, definitions
    notebooks/<slug>.ipynb   the executed notebooks (for debugging a failure)
    audit/                   the saved audit the reports were made from (text and names masked
                             unless --no-mask; meta.json says so and where the raw data is)
    previous/                scorecard + meta of the previous audit (when given)
    run.log                  the log of the run (written by the CLI)
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
"""The report notebooks ship inside the package (``csaudit/notebooks``; ``notebooks/`` at the top of
the checkout is a link to it for analysts and ``make lab``)."""
DEFAULT_KERNEL = "csaudit"
FALLBACK_KERNEL = "python3"
AGENT_NOTEBOOK = "agent_report.ipynb"
TEAM_NOTEBOOK = "team_overview.ipynb"


@dataclass
class Job:
    """One notebook run: ``kind`` is ``agent`` or ``team``; paths are absolute strings."""

    kind: str
    name: str
    notebook: str
    output_notebook: str
    output_html: str | None
    parameters: dict[str, Any]
    title: str


@dataclass
class JobResult:
    job: Job
    ok: bool
    seconds: float
    attempts: int
    error: str = ""
    body: str = ""  # the team overview's HTML body (composed into index.html by the caller)


@dataclass
class ReportRun:
    """Outcome of :func:`run_reports`."""

    out: Path
    results: list[JobResult] = field(default_factory=list)
    seconds: float = 0.0
    index: Path | None = None
    workbook: Path | None = None

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n_agents = sum(r.job.kind == "agent" for r in self.results)
        ok_agents = sum(r.ok and r.job.kind == "agent" for r in self.results)
        lines = [f"reports: {ok_agents}/{n_agents} agent reports ok in {self.seconds:.1f} s → {self.index}"]
        if self.workbook:
            lines.append(f"workbook: {self.workbook}")
        for r in self.failed:
            nb = r.job.output_notebook if Path(r.job.output_notebook).exists() else "(none written: it did not finish)"
            lines.append(f"FAILED {r.job.kind} {r.job.name!r} after {r.attempts} attempt(s): {r.error} "
                         f"— executed notebook: {nb}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# worker side (runs in the pool's processes)

_KM: Any = None  # this worker's kernel manager (one kernel per worker)
_KERNEL_NAME = ""


class NotebookTimeout(Exception):
    pass


def _quiet_worker() -> None:
    """Worker set-up: skip a 1.4 s optional import and silence library chatter.

    ``jsonschema`` (via nbformat) imports ``rfc3987_syntax`` when installed, which builds a grammar
    at import (≈ 1.4 s) for the ``iri`` format that notebook validation never uses; marking it
    unavailable makes jsonschema skip that check, as it does when the package is absent.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    for noisy in ("papermill", "traitlets", "nbconvert", "asyncio", "jupyter_client"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _init_worker() -> None:
    """Worker start: Ctrl-C goes to the whole terminal process group, but only the parent decides
    (it sends SIGTERM); SIGTERM stops this worker's kernel, then the worker exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)


def _on_term(signum: int, frame: Any) -> None:
    km = _KM
    try:
        proc = getattr(getattr(km, "provisioner", None), "process", None) if km is not None else None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    except Exception:  # noqa: BLE001 - exiting anyway
        pass
    os._exit(128 + signum)


def _warm() -> int:
    """Import the heavy modules in a fresh worker while the caller computes the audit."""
    _quiet_worker()
    import nbconvert  # noqa: F401
    import papermill  # noqa: F401

    from csaudit.report import html  # noqa: F401

    return os.getpid()


def _kernel(kernel_name: str, cwd: str) -> Any:
    """This worker's kernel manager; the kernel itself is started by papermill on first use."""
    global _KM, _KERNEL_NAME
    if _KM is None or _KERNEL_NAME != kernel_name:
        _stop_kernel()
        from jupyter_client.manager import AsyncKernelManager

        _KM = AsyncKernelManager(kernel_name=kernel_name)
        _KERNEL_NAME = kernel_name
        mp.util.Finalize(_KM, _stop_kernel, exitpriority=10)
    return _KM


def _stop_kernel() -> None:
    global _KM
    km, _KM = _KM, None
    if km is not None and km.has_kernel:
        from jupyter_core.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise NotebookTimeout()


def _execute_once(job: Job, kernel_name: str, timeout_s: float) -> Any:
    import papermill as pm

    km = _kernel(kernel_name, str(Path(job.notebook).parent))
    if not km.has_kernel:
        # start it here so its own chatter goes to a log file, not to the batch's stderr
        from jupyter_core.utils import run_sync

        log_path = Path(job.output_notebook).parent / "kernels.log"
        with open(log_path, "ab") as kernel_log:
            run_sync(km.start_kernel)(cwd=str(Path(job.notebook).parent), stdout=kernel_log, stderr=kernel_log)
    use_alarm = hasattr(signal, "SIGALRM") and mp.current_process().name != "MainProcess"
    if use_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return pm.execute_notebook(
            job.notebook,
            job.output_notebook,
            parameters=job.parameters,
            kernel_name=kernel_name,
            execution_timeout=max(1, math.ceil(timeout_s)),  # nbclient wants whole seconds per cell
            progress_bar=False,
            log_output=False,
            cwd=str(Path(job.notebook).parent),
            request_save_on_cell_execute=False,  # written once at the end (and on error, with the error cell)
            km=km,
        )
    except NotebookTimeout:
        _stop_kernel()
        raise TimeoutError(f"notebook took longer than {timeout_s:g} s") from None
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def execute_job(job: Job, kernel_name: str, timeout_s: float, retries: int) -> JobResult:
    """Run one notebook (retrying on a fresh kernel) and convert it to HTML. Never raises."""
    _quiet_worker()
    from csaudit.report import html

    t0 = time.perf_counter()
    error = ""
    for attempt in range(1, retries + 2):
        try:
            nb = _execute_once(job, kernel_name, timeout_s)
            body = html.notebook_body(nb)
            if job.output_html:
                lang = str(job.parameters.get("lang") or "zh")
                _write_text(Path(job.output_html), html.page(job.title, body, lang=lang, assets="../assets/"))
            return JobResult(job, True, time.perf_counter() - t0, attempt, body=body if job.kind == "team" else "")
        except Exception as exc:  # noqa: BLE001 - reported, never fatal for the batch
            error = _short_error(exc)
            _stop_kernel()  # the next attempt / job gets a clean kernel
    return JobResult(job, False, time.perf_counter() - t0, retries + 1, error=error)


def _short_error(exc: BaseException) -> str:
    name = getattr(exc, "ename", None) or type(exc).__name__
    value = getattr(exc, "evalue", None) or str(exc)
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return f"{name}: {first}"[:400]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# caller side


def check_kernel(kernel_name: str) -> None:
    """Fail early, with the fix, when the kernel spec is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager

    if kernel_name not in KernelSpecManager().find_kernel_specs():
        raise ValueError(
            f"Jupyter kernel {kernel_name!r} is not installed; run `make demo` once (it registers it) or "
            f"`python -m ipykernel install --sys-prefix --name {kernel_name}`"
        )


def resolve_kernel(kernel_name: str) -> str:
    """The kernel the notebooks run on: ``kernel_name`` when it is installed; for the default
    ``csaudit`` when it is not (a plain ``pip install csaudit``, nothing registered), Jupyter's
    built-in ``python3`` kernel when it runs this interpreter (ipykernel's own spec says
    ``python``, which jupyter_client replaces by ``sys.executable``). Else ``ValueError`` with the fix."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    if kernel_name in ksm.find_kernel_specs():
        return kernel_name
    if kernel_name == DEFAULT_KERNEL:
        try:
            argv = ksm.get_kernel_spec(FALLBACK_KERNEL).argv
        except NoSuchKernel:
            argv = []
        this = {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}", sys.executable}
        if argv and argv[0] in this:
            log.info("kernel %r is not registered: using Jupyter's %r kernel of this interpreter (%s)",
                     kernel_name, FALLBACK_KERNEL, sys.executable)
            return FALLBACK_KERNEL
    check_kernel(kernel_name)  # raises with the fix
    return kernel_name


class WorkerPool:
    """A process pool started early so workers import papermill while the audit is computed."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                        initializer=_init_worker)
        self._warm = [self.pool.submit(_warm) for _ in range(self.workers)]

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop now (SIGTERM/SIGINT): each worker gets SIGTERM, stops its kernel and exits; then wait."""
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _progress(total: int, desc: str) -> Callable[[JobResult], None]:
    """A tqdm bar on a terminal; plain log lines otherwise (cron)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        width = shutil.get_terminal_size((100, 20)).columns  # falls back when the terminal reports 0
        bar = tqdm(total=total, desc=desc, unit="report", file=sys.stderr, ncols=width)

        def tick(r: JobResult) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{'ok' if r.ok else 'FAILED'} {r.job.name}")
            if bar.n >= total:
                bar.close()

        return tick
    state = {"n": 0}

    def line(r: JobResult) -> None:
        state["n"] += 1
        log.info("report %d/%d %s: %s %s (%.1f s)", state["n"], total, "ok" if r.ok else "FAILED", r.job.kind,
                 r.job.name, r.seconds)

    return line


def run_reports(
    audit_dir: str | Path,
    out: str | Path,
    agents: list[str] | None = None,
    previous_dir: str | Path | None = None,
    mask: bool = True,
    workers: int = 2,
    kernel_name: str = "csaudit",
    timeout_s: float = 600.0,
    retries: int = 1,
    pool: WorkerPool | None = None,
    notebook_dir: str | Path | None = None,
    lang: str = "zh",
    progress: bool = True,
) -> ReportRun:
    """Run every agent report and the team overview for the saved audit in ``audit_dir``.

    ``agents`` defaults to every agent of the scorecard; a named agent without chats in the
    period gets a short report saying so. ``previous_dir`` is a saved audit folder (at least
    ``agents.parquet`` + ``meta.json``) of the previous period. ``pool`` lets the caller start the workers early.
    """
    from csaudit.report import data as rdata
    from csaudit.report import excel, html, views
    from csaudit.report.labels import check_lang, labels

    lang = check_lang(lang)
    lab = labels(lang)
    t0 = time.perf_counter()
    out = Path(out).resolve()
    audit_dir = Path(audit_dir).resolve()
    nb_dir = Path(notebook_dir or NOTEBOOK_DIR).resolve()
    (out / "agents").mkdir(parents=True, exist_ok=True)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    kernel_name = resolve_kernel(kernel_name)
    html.write_assets(out)

    meta = rdata.read_meta(audit_dir)
    scorecard = rdata.read_table(audit_dir, "agents", columns=["agent", "rank"])
    names = list(agents) if agents else scorecard["agent"].astype("str").tolist()
    period = (meta.get("period_start") or "", meta.get("period_end") or "")
    prev = str(Path(previous_dir).resolve()) if previous_dir else ""

    jobs = [Job("team", "team overview", str(nb_dir / TEAM_NOTEBOOK), str(out / "notebooks" / "team_overview.ipynb"),
                None, {"audit_dir": str(audit_dir), "previous_audit_dir": prev, "links": list(names), "lang": lang},
                lab.ui("team_overview"))]
    slugs: dict[str, str] = {}
    for name in names:
        slug = views.agent_slug(name)
        slugs[name] = slug
        jobs.append(Job("agent", name, str(nb_dir / AGENT_NOTEBOOK), str(out / "notebooks" / f"{slug}.ipynb"),
                        str(out / "agents" / f"{slug}.html"),
                        {"audit_dir": str(audit_dir), "agent": name, "period_start": period[0],
                         "period_end": period[1], "previous_audit_dir": prev, "mask": bool(mask), "lang": lang},
                        f"{name} — {lab.ui('agent_report')}"))
    log.info("reports: %d agent(s) + team overview, %d worker(s), kernel %s", len(names), workers, kernel_name)

    own_pool = pool is None
    pool = pool or WorkerPool(workers)
    run = ReportRun(out=out)
    try:
        futures: dict[Future[JobResult], Job] = {
            pool.pool.submit(execute_job, job, kernel_name, timeout_s, retries): job for job in jobs
        }
        # the workbook is written here while the workers run the notebooks
        try:
            run.workbook = excel.write_audit_workbook(audit_dir, out / "audit.xlsx", mask=mask, lang=lang)
        except Exception as exc:  # noqa: BLE001 - the reports are still worth having
            log.error("workbook failed: %s", _short_error(exc))
        tick = _progress(len(jobs), "reports") if progress else (lambda r: None)
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker: report, continue
                res = JobResult(futures[fut], False, 0.0, 1, error=_short_error(exc))
            run.results.append(res)
            if not res.ok:
                log.error("%s %r failed: %s (notebook: %s)", res.job.kind, res.job.name, res.error,
                          res.job.output_notebook)
            tick(res)
    finally:
        if own_pool:
            pool.shutdown()

    order = {j.name: i for i, j in enumerate(jobs)}
    run.results.sort(key=lambda r: order.get(r.job.name, 0))
    team = next((r for r in run.results if r.job.kind == "team"), None)
    run.index = out / "index.html"
    _write_text(run.index, html.page(f"{lab.ui('team_overview')} — csaudit",
                                     index_body(audit_dir, team, run.results, slugs, lang, privacy_note(meta, mask)),
                                     lang=lang))
    run.seconds = time.perf_counter() - t0
    return run


def privacy_note(meta: dict[str, Any], mask: bool) -> str:
    """What the index page says about personal data: what is masked, and where the raw
    (unmasked) data is, if anywhere (``meta["masked"]`` and ``meta["raw_data"]`` of the saved audit)."""
    from csaudit.report.html import esc

    raw = meta.get("raw_data") or []
    raw = [raw] if isinstance(raw, str) else list(raw)
    where = ", ".join(f"<code>{esc(r)}</code>" for r in raw)
    if meta.get("masked"):
        return ('<p class="csa-note" id="privacy">隐私 Privacy: phone and landline numbers, e-mails, WeChat/QQ ids, '
                "bank-card and order numbers, addresses and names are masked in these pages, in "
                "<code>audit.xlsx</code> and in the saved audit <code>audit/</code>. "
                + (f"The raw (unmasked) data is only in: {where}." if where else
                   "This run wrote no unmasked copy.") + "</p>")
    if mask:
        return ('<p class="csa-note" id="privacy">隐私 Privacy: personal data is masked in these pages and in '
                "<code>audit.xlsx</code>, but the saved audit <code>audit/</code> holds the raw (unmasked) "
                "text and names: do not forward it.</p>")
    return ('<p class="csa-note bad" id="privacy">隐私 Privacy: NOT masked (--no-mask): these pages, '
            "<code>audit.xlsx</code> and <code>audit/</code> show every text and name as exported; "
            "<code>audit/</code> is the raw data. Do not forward them.</p>")


def index_body(audit_dir: Path, team: JobResult | None, results: list[JobResult], slugs: dict[str, str],
               lang: str = "zh", privacy: str = "") -> str:
    """``index.html``: the team overview (or a plain leaderboard if it failed), the list of agent
    reports with their status, links to the workbook and the log, and the privacy note."""
    from csaudit.report import views
    from csaudit.report.html import esc
    from csaudit.report.labels import labels

    lab = labels(lang)
    parts = []
    if team is not None and team.ok:
        parts.append(team.body)
    else:
        tr = views.TeamReport(audit_dir, lang=lang)
        parts.append(str(tr.header()) + f'<p class="csa-fail">{esc(lab.ui("team_failed"))}'
                     + (f": {esc(team.error)}" if team else "") + "</p>" + str(tr.leaderboard()))
    rows = []
    for r in results:
        if r.job.kind != "agent":
            continue
        link = f'<a href="agents/{esc(slugs[r.job.name])}.html">{esc(r.job.name)}</a>'
        status = esc(lab.ui("ok")) if r.ok else (
            f'<span class="bad">{esc(lab.ui("failed"))}: {esc(r.error)}</span> (notebook: '
            f'<code>{esc(Path(r.job.output_notebook).name)}</code>)')
        rows.append(f"<tr><td>{link if r.ok else esc(r.job.name)}</td><td>{status}</td>"
                    f"<td>{r.seconds:.1f} {esc(lab.unit('seconds'))}</td></tr>")
    parts.append(f'<section class="csa-section" id="reports"><h2>{esc(lab.ui("agent_reports"))}</h2>'
                 f'<table class="csa-table"><thead><tr><th>{esc(lab.column("agent"))}</th><th>{esc(lab.ui("status"))}'
                 f'</th><th>{esc(lab.ui("time"))}</th></tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>'
                 f'<p>{esc(lab.ui("workbook"))}: <a href="audit.xlsx">audit.xlsx</a> · {esc(lab.ui("log"))}: '
                 f'<a href="run.log">run.log</a></p>{privacy}</section>')
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# the `csaudit report` command


def _log_to_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    logging.getLogger("csaudit").addHandler(handler)
    return handler


def _mask_previous(previous_dir: Path) -> None:
    """The previous period's scorecard copy with agent names masked like this period's (a no-op
    when that audit was saved masked)."""
    import json

    import pandas as pd

    from csaudit.report.mask import unique_masks

    meta_p, agents_p = previous_dir / "meta.json", previous_dir / "agents.parquet"
    meta = json.loads(meta_p.read_text(encoding="utf-8"))
    if meta.get("masked") or not agents_p.exists():
        return
    prev = pd.read_parquet(agents_p)
    if "agent" in prev:
        mapping = unique_masks(prev["agent"].dropna().tolist())
        prev["agent"] = prev["agent"].map(lambda a: mapping.get(a, a) if isinstance(a, str) else a)
        prev.to_parquet(agents_p, index=False)
    meta["masked"] = True
    meta_p.write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def _masked_names(agents: list[str] | None, mapping: dict[str, str]) -> list[str] | None:
    """``--agents`` names as they are called in the masked audit."""
    if not agents:
        return agents
    from csaudit.report.mask import mask_text

    return [mapping.get(a, mask_text(a)) for a in agents]


def report_command(args: Any) -> int:
    """``csaudit report``: audit once (or reuse a saved audit folder given as the only PATH), save it
    under ``OUT/audit`` (masked unless ``--no-mask``), then :func:`run_reports`. Returns the exit
    code: 0 ok, 1 an agent failed; ``ValueError`` (exit 2) for unusable arguments;
    :class:`cron.Stopped` on SIGTERM/SIGINT (workers and kernels stopped first).

    Cron-safe (:mod:`csaudit.report.cron`): one run per ``--out`` (lock); everything is written into
    ``OUT/.staging-<pid>/`` and moved into ``OUT`` only when the run finished, so a failed or stopped
    run leaves the last good report as it was.
    """
    import csaudit as ca
    from csaudit.report import cron
    from csaudit.report.data import read_meta
    from csaudit.report.labels import check_lang
    from csaudit.report.mask import mask_audit, mask_saved_audit

    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    saved = len(args.paths) == 1 and (Path(args.paths[0]) / "meta.json").exists()
    if saved:
        cron.check_saved_audit_flags(args, args.paths[0])
    agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else None
    if saved and agents:
        known = rdata_agents(Path(args.paths[0]))
        cron.check_agents(agents, known)
    prev_src = Path(args.previous) if args.previous else None
    if prev_src is not None and not (prev_src / "meta.json").exists():
        raise FileNotFoundError(f"{prev_src}: --previous must be a saved audit folder (no meta.json)")
    quiet = bool(getattr(args, "quiet", False))

    out.mkdir(parents=True, exist_ok=True)
    with cron.OutLock(out), cron.terminate_on_signals():
        handler = _log_to_file(out / "run.log")
        try:
            cfg = ca.Config.load(args.config) if args.config else ca.Config.preset(args.preset or "taobao")
            if args.config and args.preset:
                log.warning("--preset %s ignored: the config file decides the preset", args.preset)
            lang = check_lang(getattr(args, "lang", None) or cfg.report.lang)
            kernel = resolve_kernel(cfg.report.kernel_name)
            mask = bool(cfg.report.mask and not args.no_mask)
            workers = max(1, int(args.workers or cfg.report.workers))
            week = cron.resolve_week(args.week, cfg.latency.timezone)
            pool = WorkerPool(workers)
            try:
                with cron.Staging(out) as stage:
                    tmp = stage.tmp
                    previous_dir = None
                    if prev_src is not None:
                        previous_dir = tmp / "previous"
                        previous_dir.mkdir()
                        for n in ("meta.json", "agents.parquet"):
                            if (prev_src / n).exists():
                                shutil.copyfile(prev_src / n, previous_dir / n)
                        if mask:
                            _mask_previous(previous_dir)
                    keep: list[Path] = []
                    if saved:
                        src = Path(args.paths[0]).resolve()
                        src_masked = bool(read_meta(src).get("masked"))
                        in_place = src == (out / "audit").resolve()
                        if mask and not src_masked and in_place:
                            raise ValueError(f"{src}: this saved audit is not masked and is where the masked copy "
                                             "would go; report into another --out folder, or pass --no-mask")
                        if in_place:
                            audit_dir = src  # reports rebuilt from OUT/audit itself: read it in place, keep it
                            keep.append(src)
                        else:
                            audit_dir = tmp / "audit"
                            if mask and not src_masked:
                                names = mask_saved_audit(src, audit_dir, raw_data=[str(src)])
                                agents = _masked_names(agents, names)
                            else:
                                shutil.copytree(src, audit_dir)
                        log.info("using the saved audit %s%s", src,
                                 " (masked copy in audit/)" if mask and not src_masked else "")
                    else:
                        audit_dir = tmp / "audit"
                        chats = ca.read_chats(args.paths, format=args.format, columns=getattr(args, "columns", None),
                                              encoding=args.encoding, tz=cfg.latency.timezone, strict=args.strict,
                                              config=cfg)
                        if len(chats.rejects):
                            log.warning("%d line(s) could not be read (see `csaudit ingest`)", len(chats.rejects))
                        orders = ca.read_orders(args.orders, tz=cfg.latency.timezone) if args.orders else None
                        ratings = (ca.read_ratings(args.ratings, tz=cfg.latency.timezone)
                                   if getattr(args, "ratings", None) else None)
                        result = ca.audit(chats.messages, orders=orders, config=cfg, period=week or args.period,
                                          ratings=ratings, reviews=getattr(args, "reviews", None))
                        cron.check_agents(agents, result.agents["agent"].astype("str").tolist())
                        if mask:
                            masked = mask_audit(result)
                            raw = [*args.paths, args.orders, getattr(args, "ratings", None)]
                            masked.meta["raw_data"] = [str(Path(p).resolve()) for p in raw if p]
                            masked.save(audit_dir)
                            agents = _masked_names(agents, dict(zip(result.agents["agent"], masked.agents["agent"],
                                                                    strict=True)))
                        else:
                            result.meta["masked"] = False
                            result.meta["raw_data"] = [str(out / "audit")]
                            result.save(audit_dir)
                        log.info("audit: %d messages, %d agents in %.1f s%s", len(result.messages),
                                 len(result.agents), time.perf_counter() - t0,
                                 " (saved with masked text and names)" if mask else "")
                    run = run_reports(audit_dir, tmp, agents=agents, previous_dir=previous_dir, mask=mask,
                                      workers=workers, kernel_name=kernel, timeout_s=cfg.report.timeout_s,
                                      retries=cfg.report.retries, pool=pool, lang=lang, progress=not quiet)
                    stage.commit(keep=keep)
                    run.out = out
                    run.index = out / "index.html"
                    run.workbook = out / "audit.xlsx" if run.workbook else None
                    for r in run.results:  # the notebooks now live under OUT/notebooks
                        r.job.output_notebook = str(out / "notebooks" / Path(r.job.output_notebook).name)
            except cron.Stopped:
                log.error("stopped: workers and kernels are being shut down; the last report in %s is kept", out)
                pool.terminate()
                raise
            finally:
                pool.shutdown()
            run.seconds = time.perf_counter() - t0
            summary = run.summary()
            for line in summary.splitlines():
                (log.error if line.startswith("FAILED") else log.info)(line)
            if not quiet or not run.ok:
                print(summary)
            return 0 if run.ok else 1
        finally:
            logging.getLogger("csaudit").removeHandler(handler)
            handler.close()


def rdata_agents(audit_dir: Path) -> list[str]:
    """The agents of a saved audit's scorecard."""
    from csaudit.report import data as rdata

    return rdata.read_table(audit_dir, "agents", columns=["agent"])["agent"].astype("str").tolist()
