"""Benchmark: ``read_chats`` on N messages of Qianniu client text (DESIGN §8, issue 2: 1M ≤ 3 s).

    .venv/bin/python benchmarks/bench_read.py                # 1,000,000 messages, UTF-8
    .venv/bin/python benchmarks/bench_read.py -n 200000 --encoding gbk --naive

Generates the export into a temporary folder (realistic repetition: agents reuse quick replies,
customers repeat short questions, ≈ 30 % distinct texts; multi-line messages, system lines, header
variants, one file per agent and day), then times ``read_chats`` on the folder and prints
messages/s, seconds and peak RSS. ``--naive`` also times a per-line Python loop parser on the same
files (the approach the vectorised reader replaces) and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

SHOP = "云栖家居"
AGENTS = ["阿青", "小满", "木木", "阿杰", "糖糖", "七七", "大白", "夜班小林"]
QUICK = [
    "亲，在的呢，请问有什么可以帮您？",
    "您好，欢迎光临云栖家居～",
    "亲，这款是现货，今天下单48小时内发出哦",
    "好的亲，已经帮您备注了",
    "亲，收到货有任何问题随时联系我们哦",
    "稍等，我帮您查一下",
    "亲亲，满299包邮的哦",
    "感谢您的耐心等待",
    "这款尺寸是180×200的\n床垫厚度是22公分",
    "亲，退换货请在订单页申请\n我们收到后会尽快处理",
    "祝您生活愉快，记得给个好评哦～",
    "嗯嗯",
]
ASK = [
    "在吗", "这个有现货吗", "什么时候发货", "能便宜点吗", "包邮吗", "好的", "谢谢", "嗯",
    "颜色有色差吗", "尺寸怎么选", "我昨天下的单还没发", "快递到哪了", "可以开发票吗", "质量怎么样",
]
CITIES = ["杭州", "上海", "成都", "广州", "北京", "武汉", "西安", "南京"]
ITEMS = ["床垫", "枕头", "四件套", "沙发", "书桌", "衣柜", "地毯", "台灯"]


def _customer_text(rnd: random.Random) -> str:
    r = rnd.random()
    if r < 0.55:
        return rnd.choice(ASK)
    if r < 0.8:
        return f"{rnd.choice(ITEMS)}发{rnd.choice(CITIES)}要几天"
    if r < 0.9:
        return f"我的订单号是{rnd.randrange(10**11, 10**12)}，帮我看看"
    return f"{rnd.choice(ITEMS)}{rnd.randrange(100, 999)}元能再少点吗\n我买两件"


def _header(sender: str, t: float, rnd: random.Random) -> str:
    lt = time.gmtime(t)
    r = rnd.random()
    if r < 0.8:
        return f"{sender} {time.strftime('%Y-%m-%d %H:%M:%S', lt)}"
    if r < 0.9:
        return f"{sender} {lt.tm_year}/{lt.tm_mon}/{lt.tm_mday} {lt.tm_hour}:{lt.tm_min:02d}:{lt.tm_sec:02d}"
    if ":" in sender:
        return f"{sender.replace(':', '：')}\n{time.strftime('%Y-%m-%d %H:%M:%S', lt)}"
    return f"{sender}{time.strftime('%Y-%m-%d %H:%M:%S', lt)}"


# common characters for the all-distinct mode: every message gets a unique tail of real CJK text
_POOL = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好"
    "应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道"
)


def _unique_tail(k: int, rnd: random.Random) -> str:
    """A tail of CJK text that differs for every ``k`` (k written in base len(_POOL)) plus a random part."""
    digits = []
    while True:
        k, r = divmod(k, len(_POOL))
        digits.append(_POOL[r])
        if k == 0:
            break
    return "，" + "".join(digits) + "".join(rnd.choice(_POOL) for _ in range(rnd.randint(2, 6)))


def generate(
    folder: Path, n: int = 1_000_000, seed: int = 7, encoding: str = "utf-8", days: int = 14, distinct: float = 0.25,
    agents: list[str] | None = None,
) -> int:
    """Write ``n`` messages of client text into ``folder`` (one file per agent and day); return n.

    ``distinct`` = share of messages given a unique CJK tail on top of the quick-reply mix; the default
    0.25 gives ≈ 30 % distinct texts overall (DESIGN §8 "typical"); 1.0 makes every message text
    different, the worst case for anything that works per distinct text."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    AGENTS = agents or globals()["AGENTS"]  # noqa: N806 - the default roster, or the caller's (report benchmark)
    per_file = max(1, n // (len(AGENTS) * days))
    written = 0
    start = 1_762_646_400.0  # 2025-11-09 00:00 (naive local)
    for day in range(days):
        for agent in AGENTS:
            if written >= n:
                break
            quota = min(per_file if (day, agent) != (days - 1, AGENTS[-1]) else n - written, n - written)
            out: list[str] = []
            t = start + day * 86400 + 8 * 3600
            k = 0
            sender_agent = f"{SHOP}:{agent}"
            while k < quota:
                buyer = f"buyer_{rnd.randrange(60000)}"
                out.append(f"当前用户来自 手机淘宝 商品详情页 {rnd.choice(ITEMS)}")
                for _ in range(rnd.randint(4, 16)):
                    if k >= quota:
                        break
                    t += rnd.randint(1, 60)
                    text = _customer_text(rnd) if k % 2 == 0 else rnd.choice(QUICK)
                    if distinct and rnd.random() < distinct:
                        text += _unique_tail(written + k, rnd)
                    out.append(_header(buyer if k % 2 == 0 else sender_agent, t, rnd))
                    out.append(text)
                    out.append("")
                    k += 1
                if rnd.random() < 0.05:
                    out.append(f"{buyer} 撤回了一条消息")
                t += rnd.randint(60, 900)
            written += k
            (folder / f"{agent}_{day:02d}.txt").write_text("\n".join(out) + "\n", encoding=encoding)
    return written


_NAIVE_HEADER = re.compile(r"^(\S.*?)\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s*$")


def naive_parse(folder: Path, encoding: str) -> int:
    """The per-line loop approach (for the ratio; it knows one-line headers only): number of messages."""
    import pandas as pd

    rows = []
    for p in sorted(folder.glob("*.txt")):
        cur = None
        for line in p.read_text(encoding=encoding).splitlines():
            m = _NAIVE_HEADER.match(line)
            if m:
                cur = [m.group(1), pd.Timestamp(int(m.group(2)), int(m.group(3)), int(m.group(4)),
                                                int(m.group(5)), int(m.group(6)), int(m.group(7))), []]
                rows.append(cur)
            elif cur is not None and line.strip():
                cur[2].append(line)
    df = pd.DataFrame([(s, t, "\n".join(x)) for s, t, x in rows], columns=["sender", "ts", "text"])
    return len(df)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="messages to generate (default 1,000,000)")
    ap.add_argument("--encoding", default="utf-8", help="file encoding (utf-8 or gbk)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs (best is reported)")
    ap.add_argument("--naive", action="store_true", help="also time the per-line loop parser")
    ap.add_argument("--distinct", action="store_true", help="every message text different (default ≈ 30 %% distinct)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import csaudit as ca

    with tempfile.TemporaryDirectory(prefix="csaudit-bench-") as tmp:
        folder = Path(tmp) / "chats"
        t0 = time.perf_counter()
        n = generate(folder, args.n, encoding=args.encoding, distinct=1.0 if args.distinct else 0.25)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"generated {n:,} messages in {len(list(folder.iterdir()))} files, {size / 1e6:.0f} MB "
              f"{args.encoding} ({time.perf_counter() - t0:.1f} s)")
        rss0 = _peak_rss_mb()
        best = cpu = float("inf")
        chats = None
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            chats = ca.read_chats(folder)
            best = min(best, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        m = len(chats.messages)
        n_sys = int((chats.messages["role"] == "system").sum())
        print(f"read_chats: {m:,} rows = {m - n_sys:,} messages + {n_sys:,} system lines "
              f"({chats.messages['conversation_id'].nunique():,} conversations, "
              f"{len(chats.rejects)} rejects) in {best:.2f} s = {m / best:,.0f} messages/s "
              f"(best of {args.repeat}; CPU time {cpu:.2f} s; load average {os.getloadavg()[0]:.1f})")
        print(f"peak RSS {_peak_rss_mb():.0f} MB (before reading {rss0:.0f} MB)")
        if args.naive:
            t0 = time.perf_counter()
            k = naive_parse(folder, args.encoding)
            tn = time.perf_counter() - t0
            print(f"naive per-line loop (one-line headers only, no roles/ids/sessions): {k:,} messages in "
                  f"{tn:.2f} s; vectorised read_chats is {tn / best:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
