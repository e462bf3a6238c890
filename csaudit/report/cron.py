"""What makes ``csaudit report`` safe to run unattended (cron, Airflow).

* :func:`resolve_week` — ``--week last`` / ``--week this`` → the ISO week in the shop's time zone.
* :func:`check_saved_audit_flags` — flags that only matter when auditing exports are refused (exit 2)
  when PATH is a saved audit, instead of being silently ignored.
* :func:`check_agents` — an unknown ``--agents`` name is refused, listing the known ones.
* :class:`OutLock` — one run at a time per ``--out`` folder (an OS file lock, released when the
  process dies, so a killed run never leaves a stale lock behind).
* :class:`Staging` — the run writes into a temporary folder next to ``--out`` and the finished
  outputs are moved into ``--out`` only at the end; a run that fails or is stopped leaves the
  last good report untouched.
* :func:`terminate_on_signals` — SIGTERM (and SIGINT) raise :class:`Stopped` in the main process so
  the pool's workers and their kernels are stopped before exit.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OUTPUTS = ("index.html", "audit.xlsx", "agents", "notebooks", "assets", "audit", "previous")
"""What a run stages and then moves into ``--out`` (``run.log`` is written in place: it is the log of the
latest attempt, also of a failed one; everything else in the folder is left alone)."""

LOCK_NAME = ".csaudit-report.lock"


class Stopped(BaseException):  # like KeyboardInterrupt: never swallowed by `except Exception`
    """The run was stopped by SIGTERM / SIGINT."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def resolve_week(value: str | None, tz: str, today: dt.date | None = None) -> str | None:
    """``last`` → the ISO week before the current one, ``this`` → the current one (``2026-W46``),
    in the shop's time zone ``tz``; any other value is returned as given."""
    if value is None:
        return None
    v = value.strip().lower()
    if v not in ("last", "this"):
        return value
    if today is None:
        import pandas as pd

        today = pd.Timestamp.now(tz=tz).date()
    day = today - dt.timedelta(days=7) if v == "last" else today
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


SAVED_AUDIT_IGNORES = {"week": "--week", "period": "--period", "orders": "--orders", "preset": "--preset",
                       "format": "--format", "encoding": "--encoding", "strict": "--strict", "columns": "--columns",
                       "ratings": "--ratings", "reviews": "--reviews"}
"""Options that shape an audit; a saved audit was computed already, so they cannot apply."""


def check_saved_audit_flags(args: Any, path: str) -> None:
    """``ValueError`` (exit 2, one line) when a flag that only applies to auditing exports was given
    with a saved audit folder as PATH."""
    given = []
    for attr, flag in SAVED_AUDIT_IGNORES.items():
        v = getattr(args, attr, None)
        if v not in (None, False, "auto"):
            given.append(flag)
    if given:
        raise ValueError(f"{path} is a saved audit: {', '.join(given)} cannot apply to it (audit the exports "
                         "again to change them, or drop the flag)")


def check_agents(requested: Iterable[str] | None, known: Iterable[str]) -> None:
    """``ValueError`` naming the unknown agents and listing the known ones."""
    if not requested:
        return
    known = [str(k) for k in known]
    unknown = [a for a in requested if a not in set(known)]
    if unknown:
        raise ValueError(f"--agents: unknown agent(s) {', '.join(unknown)}; known: {', '.join(known) or '(none)'}")


class OutLock:
    """An exclusive, non-blocking lock on ``out/.csaudit-report.lock``; ``ValueError`` when held."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> OutLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ValueError(f"{self.path.parent}: another csaudit report (pid {holder}) is writing into this "
                             "folder; wait for it or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock; the file stays (harmless, reused)
            self.fd = None


class Staging:
    """A temporary folder next to ``out`` (same file system) that :meth:`commit` moves into ``out``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.tmp = self.out / f".staging-{os.getpid()}"

    def __enter__(self) -> Staging:
        for old in self.out.glob(".staging-*"):  # left by a run that was killed hard
            shutil.rmtree(old, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        return self

    def commit(self, keep: Iterable[Path] = ()) -> None:
        """Replace ``out``'s outputs by the staged ones (paths in ``keep`` — e.g. the saved audit a
        run read from ``out/audit`` — are kept when nothing new replaces them)."""
        keep = {Path(k).resolve() for k in keep}
        for name in OUTPUTS:
            new, cur = self.tmp / name, self.out / name
            if not new.exists():
                if cur.exists() and cur.resolve() not in keep:
                    _remove(cur)
                continue
            if cur.exists() or cur.is_symlink():
                trash = self.tmp / f".old-{name}"
                cur.replace(trash)
            new.replace(cur)
        log.debug("staged outputs moved into %s", self.out)

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGINT raise :class:`Stopped` (the caller stops its workers)."""

    def handler(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
