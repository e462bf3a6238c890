"""Command line: ``csaudit ingest | audit | report | calibrate | train-sentiment | sample | review sample | review import``.

Exit codes: 0 ok, 1 some work failed (e.g. an agent report), 2 unusable input or arguments,
130 / 143 stopped by SIGINT / SIGTERM (workers and kernels are stopped first).
Errors are one clear line on stderr (file, line, what was expected), never a deep traceback;
``--debug`` (anywhere on the line) shows the traceback; ``--quiet`` only warnings and errors.
Progress bars only on a terminal; plain log lines otherwise (cron).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("csaudit")


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("jieba", "papermill", "traitlets", "nbconvert", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="export files, folders (recursive) or zips")
    p.add_argument("--format", default="auto", help="force a format (qianniu-text, qianniu-web, qianniu-json, wecom-kf, table)")
    p.add_argument("--columns", default=None, type=parse_columns, metavar="OURS=THEIRS,...",
                   help="map table columns by header name or 0-based position, e.g. "
                        "conversation=0,customer=1,role=2,text=6 or ts=发送时间,text=聊天内容 "
                        "(ours: " + ", ".join(TABLE_COLUMNS) + ")")
    p.add_argument("--encoding", default=None, help="force an encoding (default: detect)")
    p.add_argument("--strict", action="store_true", help="stop at the first line that cannot be read")


TABLE_COLUMNS = ("ts", "date", "sender", "text", "customer", "agent", "role", "conversation", "shop")
"""Our column names that ``--columns`` may map (the table reader's, see ``csaudit.io.table``)."""


def parse_columns(value: str) -> dict[str, str | int]:
    """``--columns`` → ``read_chats(columns=...)``: ``ours=theirs`` pairs separated by commas; a
    value of digits is a 0-based position. Raises ``argparse.ArgumentTypeError`` (exit 2) naming
    the first malformed pair."""
    out: dict[str, str | int] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        ours, sep, theirs = part.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not OURS=THEIRS (e.g. text=6 or text=消息内容)")
        if ours not in TABLE_COLUMNS:
            raise argparse.ArgumentTypeError(f"unknown column {ours!r}; expected one of {', '.join(TABLE_COLUMNS)}")
        if ours in out:
            raise argparse.ArgumentTypeError(f"column {ours!r} is mapped twice")
        out[ours] = int(theirs) if theirs.isdigit() else theirs
    if not out:
        raise argparse.ArgumentTypeError("empty mapping; expected OURS=THEIRS pairs, e.g. text=6")
    return out


def _add_audit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", default=None, help="orders CSV/XLSX for conversion figures")
    p.add_argument("--ratings", default=None, help="customer ratings (服务评价 export or CSV/XLSX) for 满意度 beside csat")
    p.add_argument("--config", default=None, help="csaudit.toml (default: the taobao preset)")
    p.add_argument("--preset", default=None, choices=["taobao", "jd", "douyin"], help="start from this preset")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--week", default=None, help="ISO week, e.g. 2026-W46, or last / this (the shop's time zone)")
    g.add_argument("--period", default=None, help="date range A..B, e.g. 2026-11-09..2026-11-15 (inclusive)")
    p.add_argument("--reviews", default=None, metavar="DIR",
                   help="earlier reviews (every reviews.parquet under DIR): unreliable rules cost no points")


def _common(defaults: bool) -> argparse.ArgumentParser:
    """``--debug`` / ``--quiet``, accepted before and after the subcommand (the subcommand's copy
    has no default, so it never overrides one given before it)."""
    p = argparse.ArgumentParser(add_help=False)
    d = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs", **d)
    p.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors (cron)", **d)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csaudit", description=__doc__.splitlines()[0], parents=[_common(True)])
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common(False)
    _add_parser = sub.add_parser

    def add_parser(name: str, **kw: object) -> argparse.ArgumentParser:
        return _add_parser(name, parents=[common], **kw)  # type: ignore[arg-type]

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("ingest", help="read exports, print a summary and the first rejects")
    _add_input_options(p)
    p.add_argument("-o", "--output", default=None,
                   help="write the messages table (.parquet, or .csv: UTF-8 with BOM, formula-like cells prefixed with ')")
    p.add_argument("--rejects", default=None, help="write the rejects table (.csv, like -o)")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("audit", help="compute the audit, save it and print the scorecard")
    _add_input_options(p)
    _add_audit_options(p)
    p.add_argument("-o", "--output", default="out/audit", help="folder for the saved audit and agents.csv")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("report", help="audit, then per-agent HTML reports, index.html and audit.xlsx")
    _add_input_options(p)
    _add_audit_options(p)
    p.add_argument("--previous", default=None, nargs="+",
                   help="previous saved audit folder(s), or a folder of them: the latest is compared against, "
                        "all give OUT/trends.csv (weekly KPI lines per agent and team)")
    p.add_argument("--agents", default=None, help="comma-separated agents (default: all)")
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument("--workers", type=int, default=2, help="parallel notebook runs (default 2)")
    p.add_argument("--no-mask", action="store_true", help="show phone/order numbers and addresses unmasked")
    p.add_argument("--lang", default=None, choices=["zh", "en"], help="report language (default: [report] lang, zh)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("calibrate", help="refit the predicted-satisfaction model (csat) on the shop's own ratings")
    p.add_argument("audit_dir", help="a saved audit folder (csaudit audit -o DIR)")
    p.add_argument("--ratings", required=True, help="ratings file: 服务评价 export or CSV/XLSX (id or customer + time, label)")
    p.add_argument("-o", "--output", default="model", help="model folder (gets csat.json) or a .json file (default: model/)")
    p.add_argument("--scale", default="auto", choices=["auto", "5", "3", "100"], help="label scale (default: detect)")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("train-sentiment", help="build a snownlp-compatible sentiment model from the shop's labelled texts")
    p.add_argument("--pos", required=True, help="text file of positive texts, one per line")
    p.add_argument("--neg", required=True, help="text file of negative texts, one per line")
    p.add_argument("-o", "--output", required=True, help="model folder to write")
    p.set_defaults(func=_cmd_train_sentiment)

    p = sub.add_parser("sample", help="generate the deterministic sample exports")
    p.add_argument("--out", default="data/sample_chats", help="output folder")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--truth", default=None, help="ground-truth folder (default: sample_truth next to --out)")
    p.add_argument("--sessions", type=int, default=None, help="planned sessions (default 3600 ≈ 40k messages)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("review", help="review sample workbooks and import the verdicts (calibration)")
    rs = p.add_subparsers(dest="review_command", required=True)
    s = rs.add_parser("sample", help="draw a review sample of a saved audit and write the review workbook")
    s.add_argument("audit_dir", metavar="AUDIT", help="a saved audit folder (csaudit audit -o)")
    s.add_argument("--per-agent", type=int, default=10, help="conversations per agent (default 10)")
    s.add_argument("--seed", type=int, default=1, help="random seed (same seed, same sample)")
    s.add_argument("-o", "--output", default="review.xlsx", help="workbook to write (default review.xlsx)")
    s.add_argument("--no-mask", action="store_true", help="show phone/order numbers and addresses unmasked")
    s.set_defaults(func=_cmd_review)
    s = rs.add_parser("import", help="read filled review workbooks into the audit's reviews table")
    s.add_argument("paths", nargs="+", metavar="REVIEW.xlsx", help="filled review workbooks")
    s.add_argument("--audit", required=True, dest="audit_dir", help="the saved audit folder they were drawn from")
    s.set_defaults(func=_cmd_review)
    return parser


# Each command's handler. They import lazily so `csaudit --help` starts fast.


def _cmd_ingest(args: argparse.Namespace) -> int:
    """Read the exports, print the summary and the first rejects; optionally write the tables."""
    from pathlib import Path

    from csaudit.io.chats import read_chats
    from csaudit.report.cells import write_csv

    chats = read_chats(args.paths, format=args.format, columns=args.columns, encoding=args.encoding,
                       strict=args.strict)
    print(chats.summary(max_rejects=10))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            write_csv(chats.messages, out)
        else:
            chats.messages.to_parquet(out, index=False)
        print(f"messages written to {out}")
    if args.rejects:
        rej = Path(args.rejects)
        write_csv(chats.rejects, rej)
        print(f"rejects written to {rej}")
    if chats.messages.empty:
        # nothing readable at all is a failure for a scheduler; some bad files among good ones is not
        print("csaudit ingest: error: no chat messages could be read from the given paths", file=sys.stderr)
        return 2
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    """Read chats (+ orders), audit, save to ``-o DIR`` with ``DIR/agents.csv`` (UTF-8 with BOM for
    Excel/WPS), print the scorecard and the total time."""
    import time
    from pathlib import Path

    from csaudit.audit import audit, load_config, parse_period
    from csaudit.io.chats import read_chats
    from csaudit.io.orders import read_orders
    from csaudit.report.cells import write_csv
    from csaudit.report.cron import resolve_week
    from csaudit.score import format_scorecard

    t0 = time.perf_counter()
    cfg = load_config(args.config, args.preset)
    tz = cfg.latency.timezone
    period = parse_period(resolve_week(args.week, tz) or args.period)  # a bad period fails before any reading
    chats = read_chats(args.paths, format=args.format, columns=args.columns, encoding=args.encoding, tz=tz,
                       strict=args.strict, config=cfg)
    n_rejects = int(chats.sources["rejects"].sum()) if len(chats.sources) else len(chats.rejects)
    if n_rejects:
        log.warning("%d input line(s) could not be read (see `csaudit ingest ... --rejects FILE`)", n_rejects)
    if chats.messages.empty:
        first = chats.rejects.iloc[0] if len(chats.rejects) else None
        why = f" (first reject: {first['source']}:{first['line']}: {first['reason']})" if first is not None else ""
        print(f"csaudit audit: error: no chat messages could be read from the given paths{why}", file=sys.stderr)
        return 2
    orders = read_orders(args.orders, tz=tz) if args.orders else None
    ratings = None
    if args.ratings:
        from csaudit.io.ratings import read_ratings

        ratings = read_ratings(args.ratings, tz=tz)
    result = audit(chats.messages, orders=orders, config=cfg, period=period, ratings=ratings,
                   reviews=args.reviews)
    out = Path(args.output)
    result.save(out)
    write_csv(result.agents, out / "agents.csv")
    elapsed = time.perf_counter() - t0

    m = result.meta
    period = f"{m['period_start']} .. {m['period_end']}" if m.get("period_start") else "all dates"
    print(f"csaudit audit — preset {m['preset']} {m['preset_version']}, period {period}")
    print(
        f"{len(result.messages)} messages, {len(result.conversations)} conversations, "
        f"{len(result.agents)} agents, {len(result.hits)} hits"
        + ("" if orders is not None else " (no orders: conversion not scored)")
    )
    print()
    print(format_scorecard(result.agents))
    if result.meta.get("unreliable_rules"):
        print(f"unreliable rules (hits kept, not scored): {', '.join(result.meta['unreliable_rules'])}")
    print()
    print(f"saved to {out}/ (agents.csv, *.parquet, meta.json) in {elapsed:.1f} s")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """Audit once, then one HTML report per agent, index.html and audit.xlsx (csaudit.report.run)."""
    from csaudit.report.run import report_command

    prev = _previous_audits(args)
    rc = report_command(args)
    if prev is not None:
        _write_trends(prev, args)
    return rc


def _previous_audits(args: argparse.Namespace) -> list | None:
    """Resolve ``--previous`` (several saved audits or folders of them): ``args.previous`` becomes the
    latest one (what the reports compare against); returns their weekly-KPI inputs, read now (the
    output folder may be cleaned before the reports run)."""
    if not args.previous:
        args.previous = None
        return None
    from csaudit.trends import _tables, audit_dirs

    dirs = audit_dirs(args.previous)
    args.previous = str(dirs[-1])
    return [_Loaded(*_tables(d)) for d in dirs]


class _Loaded:
    """A previous audit's tables held in memory (duck-types what :func:`csaudit.trends.weekly_kpis` reads)."""

    def __init__(self, conversations, rounds, tz: str, has_orders: bool) -> None:
        from csaudit.config import Config

        self.conversations, self.rounds = conversations, rounds
        self.config = Config().updated({"latency": {"timezone": tz}})
        self.meta = {"has_orders": has_orders}


def _write_trends(previous: list, args: argparse.Namespace) -> None:
    from pathlib import Path

    from csaudit.trends import weekly_kpis

    out = Path(args.out)
    current = out / "audit"
    sources = [*previous, current] if (current / "meta.json").exists() else previous
    trends = weekly_kpis(sources)
    trends.to_csv(out / "trends.csv", index=False, encoding="utf-8-sig")
    log.info("trends: %d agent-weeks written to %s", len(trends), out / "trends.csv")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    """Refit csat on the ratings of a saved audit's conversations; print agreement before/after."""
    from csaudit.audit import Audit
    from csaudit.calibrate import calibrate
    from csaudit.io.ratings import read_ratings

    result = Audit.load(args.audit_dir)
    ratings = read_ratings(args.ratings, tz=result.config.latency.timezone, scale=args.scale)
    print(calibrate(result, ratings, args.output).text)
    return 0


def _cmd_train_sentiment(args: argparse.Namespace) -> int:
    """Write snownlp-compatible Bayes tables trained on the shop's labelled texts."""
    from csaudit.metrics.snowtrain import train_files

    out = train_files(args.pos, args.neg, args.output)
    print(f"sentiment model written to {out}; use it with [sentiment] model = \"{out}\" in csaudit.toml")
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    """``review sample`` / ``review import`` (csaudit.review.command)."""
    from csaudit.review import command

    return command.cmd_sample(args) if args.review_command == "sample" else command.cmd_import(args)


def _cmd_sample(args: argparse.Namespace) -> int:
    from csaudit.sample import DEFAULT_CONVERSATIONS, generate

    n = args.sessions if args.sessions is not None else DEFAULT_CONVERSATIONS
    if n < 1:
        raise ValueError("--sessions must be at least 1")
    s = generate(args.out, seed=args.seed, truth_out=args.truth, n_conversations=n)
    formats = ", ".join(f"{k} {v}" for k, v in s["by_format"].items())
    roles = ", ".join(f"{k} {v}" for k, v in s["by_role"].items())
    print(f"wrote {args.out}: {s['conversations']} conversations, {s['messages']} messages ({formats}), "
          f"{s['customers']} customers, {s['orders']} orders")
    print(f"roles: {roles}")
    print(f"ground truth: {s['truth_dir']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug, args.quiet)
    from csaudit.report.cron import Stopped

    try:
        return int(args.func(args) or 0)
    except Stopped as exc:
        print(f"csaudit {args.command}: {exc}; workers stopped, the previous report is kept", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("csaudit: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"csaudit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
