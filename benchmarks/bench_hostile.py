"""Benchmark: ``read_chats`` on hostile input stays within memory bounds (issue 13, items 5 and 11).

    .venv/bin/python benchmarks/bench_hostile.py            # all cases, limit 600 MB peak RSS each
    .venv/bin/python benchmarks/bench_hostile.py --limit-mb 400 --case bomb

Each case is generated into a temporary folder (streamed to disk: the generator never holds the
inflated data in memory) and read by ``read_chats`` in a fresh Python process, whose peak RSS is
measured. Cases (the issue's reproductions):

* ``bomb`` — a zip of 1 GiB of zeros (≈ 1 MB compressed) beside a good file;
* ``ratio`` — a zip of 100 MB of ``a\\n`` (≈ 100 kB compressed);
* ``lines`` — a 10 MB text file of ``a\\n`` (5.2M lines that are all rejects: capped per file);
* ``nest`` — a zip nested 1,100 deep beside a good file.

Prints one line per case (messages, rejects kept/counted, seconds, peak RSS) and exits 1 when a case
passes the limit or raises. Memory is asserted here, not in the timed test suite.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

GOOD = "jojo 2026-11-09 10:00:00\n在吗\n小鹿服饰:晴晴 2026-11-09 10:00:05\n在的\n".encode()
CASES = ("bomb", "ratio", "lines", "nest")


def _stream_member(zf: zipfile.ZipFile, name: str, chunk: bytes, total: int) -> None:
    with zf.open(name, "w", force_zip64=True) as fh:
        for _ in range(total // len(chunk)):
            fh.write(chunk)


def make(case: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    if case == "bomb":
        with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            _stream_member(zf, "zeros.txt", b"\0" * (1 << 20), 1 << 30)
            zf.writestr("good.txt", GOOD)
    elif case == "ratio":
        with zipfile.ZipFile(folder / "a.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            _stream_member(zf, "a.txt", b"a\n" * (1 << 19), 100 << 20)
    elif case == "lines":
        (folder / "a.txt").write_bytes(b"a\n" * (5 << 20))
    elif case == "nest":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("deep.txt", GOOD)
        inner = buf.getvalue()
        for i in range(1100):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr(f"l{i}.zip", inner)
            inner = buf.getvalue()
        with zipfile.ZipFile(folder / "nest.zip", "w") as zf:
            zf.writestr("a.zip", inner)
            zf.writestr("good.txt", GOOD)
    else:
        raise ValueError(case)


_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
import csaudit as ca
t0 = time.perf_counter()
chats = ca.read_chats(sys.argv[1])
print(json.dumps({"messages": len(chats.messages), "rejects_kept": len(chats.rejects),
                  "rejects": int(chats.sources["rejects"].sum()), "s": time.perf_counter() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=CASES, action="append", help="run only these cases (default all)")
    ap.add_argument("--limit-mb", type=float, default=600.0, help="peak RSS allowed per case (default 600 MB)")
    args = ap.parse_args(argv)
    root = str(Path(__file__).resolve().parent.parent)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="csaudit-hostile-") as tmp:
        for case in args.case or CASES:
            folder = Path(tmp) / case
            make(case, folder)
            res = subprocess.run([sys.executable, "-c", _CHILD, str(folder), root], capture_output=True, text=True)
            if res.returncode:
                failed += 1
                print(f"{case}: FAILED (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            ok = r["rss_mb"] <= args.limit_mb
            failed += not ok
            print(f"{case:6s} messages {r['messages']}, rejects {r['rejects']} ({r['rejects_kept']} kept), "
                  f"{r['s']:.1f} s, peak RSS {r['rss_mb']:.0f} MB {'ok' if ok else f'OVER {args.limit_mb:.0f} MB'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
