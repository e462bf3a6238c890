"""Benchmark: turns, 首问首答 rounds, latency figures and conversion on synthetic messages (default 1M).

    .venv/bin/python benchmarks/bench_rounds.py [--messages 1000000] [--naive 50000] [--orders 30000]

Prints the vectorised time for ``turns`` and ``rounds`` and the ratio against a naive per-message
Python loop (measured on ``--naive`` messages in the same run and scaled linearly; both must give
the same rounds on that subset), then the time of the latency figures and of conversion.
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import pandas as pd

from csaudit.config import ConversionConfig, LatencyConfig
from csaudit.metrics.conversion import conversion
from csaudit.metrics.latency import agent_latency, conversation_latency, unreplied
from csaudit.model.rounds import rounds, turns


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` messages in conversations of ~20 messages: customers, agents, auto-replies, system lines."""
    rng = np.random.default_rng(seed)
    conv_len = rng.integers(4, 36, size=n // 10 + 10)
    conv = np.repeat(np.arange(len(conv_len)), conv_len)[:n]
    role = rng.choice(np.array(["customer", "agent", "auto_reply", "system"]), size=n, p=[0.47, 0.43, 0.06, 0.04])
    gaps = rng.exponential(40.0, size=n).astype("int64") * 1_000_000_000
    ts = pd.Timestamp("2026-11-09 08:00", tz="Asia/Shanghai").value + np.cumsum(gaps)
    agents = np.array([f"云栖家居:客服{i}" for i in range(20)], dtype=object)
    agent = np.where(np.isin(role, ["agent", "auto_reply"]), agents[conv % 20], None)
    texts = np.array(["在吗", "亲，在的呢", "这个有货吗", "有的亲", "好的谢谢", "[自动回复]您好", "由 客服1 转交给 客服2"], dtype=object)
    text = texts[rng.integers(0, len(texts), size=n)]
    conv_id = pd.Series(conv).map("c{:07d}".format)
    return pd.DataFrame(
        {
            "message_id": pd.Series(np.arange(n)).map("m{:08d}".format).astype("str"),
            "conversation_id": conv_id.astype("str"),
            "shop": "云栖家居",
            "customer": ("买家" + pd.Series(conv % 50000).astype("str")).astype("str"),
            "agent": pd.Series(agent, dtype="str"),
            "role": pd.Categorical(role, categories=["customer", "agent", "auto_reply", "bot", "system"]),
            "ts": pd.to_datetime(ts, utc=True).tz_convert("Asia/Shanghai").as_unit("ns"),
            "text": pd.Series(text, dtype="str"),
        }
    )


def synthetic_orders(messages: pd.DataFrame, n: int, seed: int = 1) -> pd.DataFrame:
    """``n`` orders of the synthetic customers over the messages' time span."""
    rng = np.random.default_rng(seed)
    lo, hi = messages["ts"].min(), messages["ts"].max()
    created = lo + pd.to_timedelta(rng.integers(0, int((hi - lo).total_seconds()), size=n), unit="s")
    paid = pd.Series(created + pd.Timedelta(minutes=5)).where(rng.random(n) < 0.8)
    customers = messages["customer"].drop_duplicates().to_numpy()
    return pd.DataFrame(
        {
            "order_id": pd.Series(np.arange(n)).map("o{:08d}".format).astype("str"),
            "shop": "云栖家居",
            "customer": pd.Series(rng.choice(customers, size=n), dtype="str"),
            "created": created,
            "paid": paid,
            "amount": rng.integers(10, 3000, size=n).astype("float64"),
            "refund": 0.0,
        }
    )


def naive_rounds(messages: pd.DataFrame) -> list[tuple[str, int, float]]:
    """The obvious implementation: loop over every message of every conversation."""
    out = []
    humans = set(messages.loc[messages["role"] == "agent", "agent"])
    transfer = re.compile(r"^由 (\S+) 转交给")
    for cid, g in messages.groupby("conversation_id", sort=False):
        open_start = None
        k = 0
        for role, ts, text, shop in zip(g["role"], g["ts"], g["text"], g["shop"], strict=True):
            if role == "customer" and open_start is None:
                open_start = ts
            elif role == "agent" and open_start is not None:
                k += 1
                out.append((cid, k, (ts - open_start).total_seconds()))
                open_start = None
            elif role == "system" and open_start is not None:
                mt = transfer.match(text)
                if mt and f"{shop}:{mt.group(1)}" in humans:
                    k += 1
                    out.append((cid, k, float("nan")))
                    open_start = None
        if open_start is not None:
            k += 1
            out.append((cid, k, float("nan")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--naive", type=int, default=50_000)
    ap.add_argument("--orders", type=int, default=30_000)
    args = ap.parse_args()
    msgs = synthetic(args.messages)
    cfg = LatencyConfig()

    rounds(msgs.head(1000), cfg)  # warm-up (imports, caches)
    t0 = time.perf_counter()
    r = rounds(msgs, cfg)
    t_rounds = time.perf_counter() - t0
    t0 = time.perf_counter()
    tu = turns(msgs)
    t_turns = time.perf_counter() - t0

    sub = msgs.head(args.naive)
    t0 = time.perf_counter()
    naive = naive_rounds(sub)
    t_naive = (time.perf_counter() - t0) * len(msgs) / len(sub)
    vec = rounds(sub, cfg)
    same = len(naive) == len(vec) and np.allclose(
        vec["response_s"].to_numpy(), np.array([x[2] for x in naive]), equal_nan=True
    )

    print(f"messages: {len(msgs):,}  rounds: {len(r):,}  turns: {len(tu):,}")
    print(f"rounds (vectorised): {t_rounds:6.2f} s")
    print(f"turns  (vectorised): {t_turns:6.2f} s")
    print(f"rounds (naive loop, scaled from {len(sub):,} messages): {t_naive:6.2f} s  -> {t_naive / t_rounds:.0f}x faster")
    print(f"naive and vectorised agree on the subset: {same}")

    t0 = time.perf_counter()
    conversation_latency(msgs, r, cfg)
    agent_latency(msgs, r, cfg)
    unreplied(r, msgs)
    t_lat = time.perf_counter() - t0
    orders = synthetic_orders(msgs, args.orders)
    t0 = time.perf_counter()
    conv = conversion(msgs, None, orders, ConversionConfig())
    t_conv = time.perf_counter() - t0
    print(f"latency figures (conversation, agent, unreplied): {t_lat:6.2f} s")
    print(f"conversion ({len(orders):,} orders, {int(conv.sales['n_attributed'].iloc[0]):,} attributed): {t_conv:6.2f} s")


if __name__ == "__main__":
    main()
