"""Vectorised jieba (DAG, route, HMM) against jieba itself, on varied and random inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest

from csaudit.metrics.jiebaseg import (
    _cuts_of_tokens,
    _jieba_cut_rows,
    cut_blocks,
    cut_texts,
    dict_tables,
    hmm_cuts,
)


@pytest.fixture(scope="module")
def jieba():
    from csaudit.metrics.words import _jieba

    jb = _jieba()
    jb.initialize()  # jieba's global tokenizer, default dictionary (csaudit never adds words to it)
    return jb


def _alphabet(jieba) -> list[str]:
    """Characters of dictionary words (frequent and rare), unseen 汉字, letters, digits, symbols."""
    words = list(jieba.dt.FREQ)[::50]
    common = sorted({c for w in words[:4000] for c in w if "\u4e00" <= c <= "\u9fd5"})
    rare = [chr(c) for c in range(0x9F80, 0x9FD6)] + ["龘", "靐", "齉", "㐀"]
    return common + rare + list("abcXYZ0123456789+#&._%-")


def _random_texts(jieba, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alpha = _alphabet(jieba)
    words = [w for w in list(jieba.dt.FREQ)[::97] if jieba.dt.FREQ[w]]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
            r = rng.random()
            if r < 0.4:
                parts.append(rng.choice(words))
            elif r < 0.9:
                parts.append("".join(rng.choice(alpha) for _ in range(rng.choice([1, 2, 3, 6, 15, 40]))))
            else:
                parts.append(rng.choice(["123", "3.5%", "iPhone15", "SF1234-56", "1.2.3", "a_b", "C++"]))
        out.append("".join(parts))
    return out


def _blocks(jieba, texts: list[str]) -> list[str]:
    split, is_han = jieba.re_han_default.split, jieba.re_han_default.match
    return sorted({b for t in texts for b in split(t) if b and is_han(b)})


def test_cut_blocks_equal_jieba_on_random_blocks(jieba) -> None:
    blocks = _blocks(jieba, _random_texts(jieba, 3000, seed=1))
    blocks += [
        "一",
        "a",
        "龘",
        "龘龘龘",
        "的的的的的的的的",
        "我" * 300,
        "枕头发杭州要几天",
        "给我国际快递单号",
    ]
    assert len(blocks) > 2000
    assert cut_blocks(blocks, jieba.dt, jieba.finalseg) == [jieba.lcut(b) for b in blocks]


def test_cut_blocks_repeated_and_empty(jieba) -> None:
    assert cut_blocks([], jieba.dt, jieba.finalseg) == []
    blocks = ["物流太慢", "物流太慢", "x"]
    assert cut_blocks(blocks, jieba.dt, jieba.finalseg) == [jieba.lcut(b) for b in blocks]


def test_hmm_cuts_equal_finalseg_cut(jieba) -> None:
    fs = jieba.finalseg
    rng = random.Random(2)
    alpha = _alphabet(jieba)
    bufs = ["".join(rng.choice(alpha) for _ in range(rng.choice([2, 3, 5, 9, 30, 120]))) for _ in range(3000)]
    bufs += ["龘龘", "ab", "3.5%x", "我们", "abc汉字12.5%中"]
    ref = [list(fs.cut(b)) for b in bufs]
    assert all("".join(r) == b for r, b in zip(ref, bufs, strict=True))  # a partition
    assert np.array_equal(hmm_cuts(bufs, fs), _cuts_of_tokens(ref))


def test_force_split_words_follow_jieba(jieba) -> None:
    fs = jieba.finalseg
    bufs = ["龘靐齉", "龘靐"]
    word = list(fs.cut("龘靐"))[0]
    fs.add_force_split(word)
    try:
        assert np.array_equal(hmm_cuts(bufs, fs), _cuts_of_tokens([list(fs.cut(b)) for b in bufs]))
    finally:
        fs.Force_Split_Words.discard(word)


def test_tables_follow_dictionary_changes(tmp_path) -> None:
    import jieba as jb

    path = tmp_path / "dict.txt"
    path.write_text("物流 50 n\n太慢 20 a\n快递 40 n\n物 5 n\n流 5 n\n", encoding="utf-8")
    tk = jb.Tokenizer(str(path))
    tk.tmp_dir = str(tmp_path)
    tk.initialize()
    blocks = ["物流太慢了快递", "物流快递单号", "abc物流"]
    assert cut_blocks(blocks, tk, jb.finalseg) == [tk.lcut(b) for b in blocks]
    before = dict_tables(tk)
    tk.add_word("快递单号", 100)
    assert dict_tables(tk) is not before
    assert cut_blocks(blocks, tk, jb.finalseg) == [tk.lcut(b) for b in blocks]
    try:
        tk.add_word("单号", 0)  # a key with frequency 0: a prefix only, not a word
        assert cut_blocks(blocks, tk, jb.finalseg) == [tk.lcut(b) for b in blocks]
    finally:
        jb.finalseg.Force_Split_Words.discard("单号")


def test_cut_texts_equal_jieba_lcut_on_random_texts(jieba) -> None:
    rng = random.Random(3)
    glue = [
        " ",
        "  ",
        "\n",
        "\r\n",
        "\r\r\n",
        "\r",
        "\t",
        "，",
        "。",
        "！？",
        "😀",
        "~",
        "/",
        "（",
        "）",
        "\u3000",
        "@",
    ]
    texts = []
    for t in _random_texts(jieba, 2000, seed=4):
        cut_at = sorted(rng.sample(range(len(t) + 1), k=min(3, len(t) + 1)))
        pieces = [t[a:b] for a, b in zip([0, *cut_at], [*cut_at, len(t)], strict=True)]
        texts.append("".join(p + rng.choice(glue) for p in pieces))
    texts += ["", " ", "\r\n", "😀", "a", "一", "", "abc 一二三\r\n\r\nxyz", "\ud800孤"]
    tokens, n_tok = cut_texts(texts, jieba)
    ref = [jieba.lcut(t) for t in texts]
    assert n_tok.tolist() == [len(r) for r in ref]
    assert tokens == [w for r in ref for w in r]
    assert cut_texts([], jieba)[0] == [] and cut_texts(["", ""], jieba)[1].tolist() == [0, 0]


def test_a_few_very_long_blocks_are_cut_by_jieba_itself(jieba) -> None:
    rng = random.Random(5)
    alpha = [c for c in _alphabet(jieba) if jieba.re_han_default.fullmatch(c)]  # one block each
    lengths = [3000, 25, 1500] + [8] * 300
    blocks = ["".join(rng.choice(alpha) for _ in range(n)) for n in lengths]
    assert set(_jieba_cut_rows(np.array(lengths)).tolist()) >= {0, 2}
    assert cut_blocks(blocks, jieba.dt, jieba.finalseg) == [jieba.lcut(b) for b in blocks]
    assert _jieba_cut_rows(np.array([18] * 1000)).tolist() == []
