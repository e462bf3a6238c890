"""Benchmark: lexicon matching (``find_hits``) on synthetic chat messages (default 1M, ~30 % distinct).

    .venv/bin/python benchmarks/bench_lexicon.py [--messages 1000000] [--distinct 0.3] [--naive 20000]
    .venv/bin/python benchmarks/bench_lexicon.py --parquet /tmp/prof/msgs.parquet [--repeat 3]

Prints the time of ``find_hits`` (then of ``politeness`` and ``qc_hits`` on its output) and the ratio against a naive approach measured in the same run
(per message: ``normalize_one`` then ``str.find`` of every term, no whitelist or longest-match logic),
timed on ``--naive`` messages and scaled linearly.

With ``--parquet`` (a MESSAGES table saved with ``to_parquet``): the audit's ``lexicon`` and ``qc``
stages exactly as ``csaudit.audit.audit`` runs them, CPU and wall seconds, the minimum of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from csaudit.metrics.lexicon import Lexicon, find_hits
from csaudit.text import normalize_one

TEMPLATES = [
    "亲，您好，欢迎光临小店，有什么可以帮您的吗",
    "好的亲，这边帮您备注一下",
    "在吗",
    "这个有货吗",
    "有的亲，现货当天发",
    "稍等，我查一下库存",
    "不好意思让您久等了",
    "这款是最低价了哦",
    "嗯",
    "可以加我微信吗",
    "我刚刚说过了，尺码是M",
    "再不发货我就投诉了",
    "亲亲，七天无理由退换的",
    "好的，但是赠品已经送完了",
    "感谢光临，祝您购物愉快",
    "請問這件衣服會不會起球",
    "晕，又缺货了",
    "发什么快递",
    "麻烦您确认一下收货地址",
    "谢谢亲的支持，满意的话给个服务评价哦",
]
FRAGMENTS = ["", "～", "！", "哦", "呢", "吧", "亲", "M码", "L码", "黑色", "白色", "订单", "今天", "明天"]


def synthetic(n: int, distinct: float, seed: int = 0) -> pd.DataFrame:
    """``n`` messages; about ``distinct`` × n distinct texts (templates + a numbered variant)."""
    rng = np.random.default_rng(seed)
    n_distinct = max(1, int(n * distinct))
    tpl = rng.integers(0, len(TEMPLATES), size=n_distinct)
    frag = rng.integers(0, len(FRAGMENTS), size=n_distinct)
    pool = np.array(
        [f"{TEMPLATES[t]}{FRAGMENTS[f]}{i}" for i, (t, f) in enumerate(zip(tpl, frag, strict=True))],
        dtype=object,
    )
    text = pool[np.concatenate([np.arange(n_distinct), rng.integers(0, n_distinct, size=n - n_distinct)])]
    rng.shuffle(text)
    conv = np.repeat(np.arange(n // 20 + 1), 20)[:n]
    role = rng.choice(
        np.array(["customer", "agent", "auto_reply", "system"]), size=n, p=[0.47, 0.43, 0.06, 0.04]
    )
    agents = np.array([f"云栖家居:客服{i}" for i in range(20)], dtype=object)
    agent = np.where(np.isin(role, ["agent", "auto_reply"]), agents[conv % 20], None)
    ts = pd.Timestamp("2026-11-09 08:00", tz="Asia/Shanghai") + pd.to_timedelta(np.arange(n) * 30, unit="s")
    return pd.DataFrame(
        {
            "message_id": pd.Series(np.arange(n)).map("m{:08d}".format).astype("str"),
            "conversation_id": pd.Series(conv).map("c{:07d}".format).astype("str"),
            "shop": "云栖家居",
            "customer": "买家",
            "sender": "x",
            "agent": pd.Series(agent, dtype="str"),
            "role": pd.Categorical(role, categories=["customer", "agent", "auto_reply", "bot", "system"]),
            "ts": ts.as_unit("ns"),
            "text": pd.Series(text, dtype="str"),
            "source": "bench",
            "line": np.arange(1, n + 1),
        }
    )


def naive(messages: pd.DataFrame, lexicon: Lexicon) -> int:
    """Per message, per term ``str.find`` loop (what one writes first)."""
    terms = [(c.side, normalize_one(t)) for c in lexicon.categories.values() for t in c.terms]
    n = 0
    for role, text in zip(messages["role"], messages["text"], strict=True):
        norm = normalize_one(text)
        for side, t in terms:
            if side == role and norm.find(t) >= 0:
                n += 1
    return n


def _turn_hits(msgs: pd.DataFrame, hits: pd.DataFrame, cfg, lex: Lexicon, speech: pd.DataFrame) -> pd.DataFrame:
    """The audit's turn rules (part of its ``qc`` stage); empty on a checkout without them."""
    try:
        from csaudit.rules import load_rules, turn_rule_hits
    except ImportError:
        return hits.iloc[:0]
    return turn_rule_hits(msgs, hits, load_rules(cfg), lex, speech=speech)


def audit_stages(path: str, repeat: int) -> None:
    """The ``lexicon`` and ``qc`` stages of the audit on the messages in ``path`` (min of ``repeat``)."""
    from csaudit.audit import _in_conversation_order
    from csaudit.config import Config
    from csaudit.metrics import lexicon, qc
    from csaudit.model import rounds as rounds_mod
    from csaudit.model import schema

    cfg = Config()
    tz = cfg.latency.timezone
    msgs = pd.read_parquet(path)
    msgs["role"] = msgs["role"].astype("str").astype(schema.ROLE_DTYPE)
    msgs = _in_conversation_order(schema.conform(msgs, "messages", tz=tz))
    rounds = rounds_mod.rounds(msgs, cfg.latency)
    lex = lexicon.Lexicon.load(cfg)
    print(f"{len(msgs):,} messages, {msgs['text'].nunique():,} distinct texts")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        lex_hits = lexicon.find_hits(msgs, lex)
        speech = lexicon.agent_turns(msgs)
        polite = lexicon.politeness(msgs, lex_hits, lex, closing_last_n=cfg.qc.closing_last_n, speech=speech)
        polite = polite.drop(columns="n_agent_messages")
        t1, c1 = time.perf_counter(), time.process_time()
        qc_hits = qc.qc_hits(msgs, rounds, lex_hits, cfg, speech=speech)
        turn_hits = _turn_hits(msgs, lex_hits, cfg, lex, speech)
        frames = [h for h in (lex_hits, turn_hits, qc_hits) if len(h)]
        hits = pd.concat(frames, ignore_index=True) if frames else schema.empty("hits", tz=tz)
        hits = schema.conform(hits, "hits", tz=tz)
        t2, c2 = time.perf_counter(), time.process_time()
        del lex_hits, speech, polite, qc_hits, turn_hits, frames
        for name, wall, cpu in (
            ("lexicon", t1 - t0, c1 - c0),
            ("qc", t2 - t1, c2 - c1),
            ("both", t2 - t0, c2 - c0),
        ):
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    for name, (wall, cpu) in best.items():
        print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU (min of {repeat})")
    print(f"{len(hits):,} hits (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--distinct", type=float, default=0.3)
    ap.add_argument("--naive", type=int, default=20_000)
    ap.add_argument("--parquet", help="time the audit's lexicon and qc stages on these messages")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.parquet:
        audit_stages(args.parquet, args.repeat)
        return

    msgs = synthetic(args.messages, args.distinct)
    print(f"{len(msgs):,} messages, {msgs['text'].nunique():,} distinct texts")
    lexicon = Lexicon.load()
    t0 = time.perf_counter()
    lexicon.scan(["预热"], "agent")  # compile the automata (once per Lexicon)
    t_compile = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    hits = find_hits(msgs, lexicon)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    print(f"compile automata: {t_compile:.3f} s")
    print(
        f"find_hits: {t_fast:.2f} s wall, {c_fast:.2f} s CPU for {len(msgs):,} messages -> {len(hits):,} hits"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )

    from csaudit.config import Config
    from csaudit.metrics.lexicon import politeness
    from csaudit.metrics.qc import qc_hits
    from csaudit.model.rounds import rounds

    rnd = rounds(msgs, Config().latency)
    t0 = time.perf_counter()
    politeness(msgs, hits, lexicon)
    print(f"politeness: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    q = qc_hits(msgs, rnd, hits, Config())
    print(f"qc_hits: {time.perf_counter() - t0:.2f} s -> {len(q):,} QC hits")
    try:
        from csaudit.rules import load_rules, turn_rule_hits
    except ImportError:  # an older checkout without turn rules
        pass
    else:
        t0 = time.perf_counter()
        tr = turn_rule_hits(msgs, hits, load_rules(), lexicon)
        print(f"turn_rule_hits: {time.perf_counter() - t0:.2f} s -> {len(tr):,} turn-rule hits")

    sub = msgs.head(args.naive)
    t0 = time.perf_counter()
    naive(sub, lexicon)
    t_naive = (time.perf_counter() - t0) * len(msgs) / len(sub)
    print(
        f"naive per-message loop (scaled from {len(sub):,}): {t_naive:.1f} s  -> ratio {t_naive / t_fast:.1f}x"
    )


if __name__ == "__main__":
    main()
