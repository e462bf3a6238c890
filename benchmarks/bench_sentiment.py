"""Benchmark: ``ca.sentiment.score`` vs calling ``SnowNLP(t).sentiments`` per message (DESIGN §8).

    .venv/bin/python benchmarks/bench_sentiment.py                  # 1,000,000 customer messages
    .venv/bin/python benchmarks/bench_sentiment.py -n 200000 --distinct

Generates N customer messages (≈ 30 % distinct by default: customers repeat short questions, quick
phrases and templates with slots; some emoji, ASCII, digits, Traditional text and long messages),
times ``score`` on all of them, times the naive per-message call on a random sample and extrapolates
it to N, and prints both with the ratio and the max abs difference on the sample.
The first ``score`` call builds or loads snownlp's lookup tables; that one-time cost is reported
separately ("warm-up").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ITEMS = ["床垫", "枕头", "四件套", "沙发", "书桌", "衣柜", "地毯", "台灯", "连衣裙", "运动鞋", "卫衣",
         "保温杯", "充电宝", "面膜", "洗发水", "猫粮", "耳机", "手机壳", "羽绒服", "牛仔裤"]  # fmt: skip
COLORS = ["黑色", "白色", "灰色", "米白", "藏青", "粉色", "卡其色", "浅蓝"]
SIZES = ["S", "M", "L", "XL", "XXL", "37码", "38码", "39码", "1.5米", "1.8米", "均码"]
CITIES = ["杭州", "上海", "成都", "广州", "北京", "武汉", "西安", "南京", "乌鲁木齐", "拉萨"]
EMOJI = ["😊", "😭", "👍", "🙏", "😡", "[微笑]", "[流泪]", "[抱拳]", "~", "？？", "!!!", "。。。"]
QUICK = [
    "在吗", "在吗？", "你好", "您好", "有人吗", "好的", "好的谢谢", "谢谢", "嗯", "嗯嗯", "哦", "好",
    "ok", "OK", "收到", "可以", "行吧", "知道了", "多少钱", "包邮吗", "什么时候发货", "发什么快递",
    "有现货吗", "能便宜点吗", "怎么还没发货", "快递到哪了", "可以开发票吗", "质量怎么样", "有赠品吗",
    "能退吗", "怎么退货", "太慢了", "差评", "我要投诉", "说了好几遍了", "？", "。", "1", "[图片]",
]  # fmt: skip
CLAUSES = [
    "{item}有{color}的吗", "{item}{size}还有货吗", "我身高{h}体重{w}斤穿什么码", "发{city}要几天",
    "{item}什么时候能到", "我的订单号是{order}帮我看看", "{item}{price}元能再少点吗", "我买了{n}件",
    "收到的{item}有点问题", "{item}颜色和图片不一样", "{item}质量太差了", "用了{n}天就坏了",
    "物流{n}天了还没动", "快递员态度很差", "客服回复太慢了", "我要退款", "什么时候退款到账",
    "给个好评", "东西很好很喜欢", "包装很用心", "下次还来买", "已经付款了麻烦尽快发货", "地址写错了能改吗",
    "改成{city}的地址", "能不能送到家门口", "优惠券怎么用不了", "满{price}减多少", "赠品没有收到",
    "味道有点大", "尺码偏小", "尺码偏大换{size}", "和上次买的不一样", "是正品吗", "有没有质检报告",
]  # fmt: skip
WORDS = (
    "我 你 您 你们 我们 这个 那个 今天 昨天 明天 已经 还是 就是 真的 非常 特别 有点 一直 怎么 为什么 什么 "
    "可以 不能 不要 需要 想要 希望 觉得 感觉 知道 看看 帮忙 处理 解决 回复 联系 等待 收到 发出 签收 退回 "
    "换货 退货 退款 补发 赔偿 运费 快递 物流 包裹 地址 电话 订单 商品 宝贝 衣服 裤子 鞋子 尺码 颜色 款式 "
    "质量 做工 面料 味道 包装 价格 优惠 活动 赠品 发票 客服 店家 老板 售后 态度 服务 速度 效果 问题 情况 "
    "满意 喜欢 好看 舒服 合适 划算 不错 很好 一般 失望 生气 着急 麻烦 垃圾 骗人 后悔 担心 放心 开心 感谢 "
    "马上 尽快 一下 一点 一天 两天 三天 一周 半个月 晚上 早上 中午 周末 以后 之前 下次 再也 还会 不会 "
    "没有 没到 没发 坏了 破了 少了 多了 错了 小了 大了 短了 长了 薄了 厚了 硬了 软了 掉色 起球 开线 异味"
).split()
TRAD = ["這個還有貨嗎", "請問什麼時候發貨", "質量太差了，我要退貨", "謝謝，服務很好", "為什麼還沒到"]
LONG = (
    "我上周在你们店里买了一个{item}，收到以后发现{item}的颜色和图片差别很大，而且做工也比较粗糙，"
    "联系了客服好几次都说在处理，可是到现在也没有给我一个明确的答复，我真的很失望。"
)


def _fill(template: str, rnd: random.Random) -> str:
    return template.format(
        item=rnd.choice(ITEMS), color=rnd.choice(COLORS), size=rnd.choice(SIZES), city=rnd.choice(CITIES),
        h=rnd.randrange(150, 190), w=rnd.randrange(80, 200), order=rnd.randrange(10**11, 10**12),
        price=rnd.randrange(19, 999), n=rnd.randrange(2, 15),
    )  # fmt: skip


def _fresh(rnd: random.Random) -> str:
    r = rnd.random()
    if r < 0.02:
        return _fill(LONG, rnd) * rnd.randrange(1, 4)
    if r < 0.05:
        return rnd.choice(TRAD) + rnd.choice(EMOJI)
    if rnd.random() < 0.4:  # free text: clauses of common words
        parts = ["".join(rnd.choice(WORDS) for _ in range(rnd.randrange(2, 7)))
                 for _ in range(rnd.choice((1, 1, 2, 3)))]  # fmt: skip
    else:
        parts = [_fill(rnd.choice(CLAUSES), rnd) for _ in range(rnd.choice((1, 2, 2, 3)))]
    text = rnd.choice(("，", "，", " ", "。", "\n")).join(parts)
    if rnd.random() < 0.3:
        text += rnd.choice(EMOJI)
    if rnd.random() < 0.15:
        text = rnd.choice(("亲，", "你好，", "老板", "在吗 ")) + text
    return text


def customer_texts(n: int, distinct: float = 0.3, seed: int = 7) -> list[str]:
    """N customer messages; about ``distinct`` of them distinct (1.0: all distinct)."""
    rnd = random.Random(seed)
    if distinct >= 1.0:
        return [f"{_fresh(rnd)}{i}" if i % 2 else f"{i}{_fresh(rnd)}" for i in range(n)]
    out: list[str] = []
    pool: list[str] = []
    seen: set[str] = set(QUICK)
    for _ in range(n):
        r = rnd.random()
        if r < 0.25:
            text = QUICK[min(int(rnd.expovariate(0.12)), len(QUICK) - 1)]
        elif r < 0.25 + distinct or not pool:
            for _try in range(20):  # a new text (templates collide often)
                text = _fresh(rnd)
                if text not in seen:
                    break
            seen.add(text)
            pool.append(text)
        else:  # customers and templates repeat: favour recent and popular texts
            text = pool[int(len(pool) * rnd.random() ** 2)]
        out.append(text)
    return out


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the forked segmenter worker)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited from a forking parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int = 1_000_000, distinct: float = 0.3, sample: int = 2_000, seed: int = 7) -> dict:
    """Time ``score`` against the naive per-message call; returns the figures as a dict."""
    from csaudit.metrics import sentiment
    from csaudit.text import to_simplified_one

    texts = customer_texts(n, distinct, seed)
    n_distinct = len(set(texts))
    rss_before = _peak_rss_mb()

    t0 = time.perf_counter()
    sentiment.score(["预热一下"])  # loads (or builds and caches) the lookup tables
    warmup = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), _cpu_s()
    ours = sentiment.score(texts)
    ours_s, ours_cpu = time.perf_counter() - t0, _cpu_s() - c0
    stages = dict(sentiment.timings)
    rss_score = _peak_rss_mb()

    from snownlp import SnowNLP  # after our run: its import alone holds ≈ 400 MB of model dicts

    rnd = random.Random(seed + 1)
    idx = [rnd.randrange(n) for _ in range(min(sample, n))]
    t0, c0 = time.perf_counter(), _cpu_s()
    ref = np.array([SnowNLP(to_simplified_one(texts[i])).sentiments for i in idx])
    naive_sample_s, naive_sample_cpu = time.perf_counter() - t0, _cpu_s() - c0
    naive_s = naive_sample_s / len(idx) * n
    naive_cpu = naive_sample_cpu / len(idx) * n
    diff = float(np.max(np.abs(ours[idx] - ref)))
    return {
        "benchmark": "sentiment",
        "messages": n,
        "distinct": n_distinct,
        "distinct_share": n_distinct / n,
        "warmup_s": warmup,
        "score_s": ours_s,
        "score_cpu_s": ours_cpu,
        "score_stages_s": stages,
        "naive_sample": len(idx),
        "naive_ms_per_message": naive_sample_s / len(idx) * 1e3,
        "naive_s_extrapolated": naive_s,
        "naive_cpu_s_extrapolated": naive_cpu,
        "speedup": naive_s / ours_s,
        "speedup_cpu": naive_cpu / ours_cpu,
        "load_average": os.getloadavg()[0],
        "max_abs_diff": diff,
        "peak_rss_mb": rss_score,
        "peak_rss_before_score_mb": rss_before,
    }


def report(r: dict) -> str:
    """Human-readable table of :func:`run`'s figures."""
    stages = ", ".join(f"{k} {v:.2f}" for k, v in r["score_stages_s"].items())
    return "\n".join([
        f"sentiment: {r['messages']:,} messages, {r['distinct']:,} distinct ({r['distinct_share']:.0%})",
        f"  warm-up (tables, once)  {r['warmup_s']:8.2f} s",
        f"  csaudit score()         {r['score_s']:8.2f} s   (CPU {r['score_cpu_s']:.2f} s; {stages})",
        f"  naive SnowNLP/message   {r['naive_s_extrapolated']:8.1f} s   (CPU {r['naive_cpu_s_extrapolated']:.1f} s; "
        f"{r['naive_ms_per_message']:.2f} ms × {r['messages']:,}, measured on {r['naive_sample']:,})",
        f"  speed-up                {r['speedup']:8.0f} ×  (CPU time {r['speedup_cpu']:.0f} ×)",
        f"  max abs diff            {r['max_abs_diff']:.1e}  (on the {r['naive_sample']:,} sampled messages)",
        f"  peak RSS after score()  {r['peak_rss_mb']:8.0f} MB   (after generating the texts: "
        f"{r['peak_rss_before_score_mb']:.0f} MB; load average {r['load_average']:.1f})",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="customer messages (default 1,000,000)")
    ap.add_argument("--distinct", action="store_true", help="all texts distinct (default ≈ 30 %%)")
    ap.add_argument("--sample", type=int, default=2_000, help="messages timed with the naive call")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    r = run(args.n, 1.0 if args.distinct else 0.3, args.sample)
    print(report(r))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return 0 if r["max_abs_diff"] <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
