"""read_chats: files, folders, zips, post-processing, ids, sources, the committed sample."""

from __future__ import annotations

import shutil
import zipfile

import pandas as pd
import pytest

import csaudit as ca
from csaudit.config import Config, RolesConfig
from csaudit.model import schema
from tests.io.golden import GOLDEN

TEXT_V1 = GOLDEN / "qianniu_text" / "v1_canonical.txt"
WEB_V1 = GOLDEN / "qianniu_web" / "v1_iso_date.txt"


def _write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_result_tables_follow_their_schemas():
    chats = ca.read_chats(TEXT_V1)
    assert list(chats.messages.columns) == list(schema.MESSAGES)
    assert len(schema.failures(chats.messages, "messages")) == 0
    assert list(chats.rejects.columns) == list(schema.REJECTS)
    assert list(chats.sources.columns) == list(schema.SOURCES)
    assert chats.messages["message_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert chats.messages["conversation_id"].str.fullmatch(r"c[0-9a-f]{12}").all()
    assert str(chats.messages["ts"].dt.tz) == "Asia/Shanghai"


def test_conversations_and_sorting():
    m = ca.read_chats(TEXT_V1).messages
    # 14:03–14:05 and 20:31–20:33 are two conversations (gap > 30 min); the closing system line
    # follows the second; the notice before the first header belongs to the first
    conv = m.groupby("conversation_id", sort=False)["line"].apply(list).tolist()
    assert conv == [[1, 2, 6, 9, 12, 17, 18, 21], [24, 27, 30]]
    assert m["text"].iloc[0] == "当前用户来自 手机淘宝 商品详情页"


def test_folder_zip_and_mixed_formats(tmp_path):
    shutil.copy(TEXT_V1, tmp_path / "a.txt")
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.write(WEB_V1, "web/one.txt")
        z.writestr("notes.md", "ignored")
    _write(tmp_path / "sub" / "orders.csv", "订单号,买家,下单时间,实付金额\n1,jojo,2026-11-09 10:00:00,9.9\n")
    _write(tmp_path / "sub" / "picture.png", "not a chat")
    chats = ca.read_chats(tmp_path)
    src = chats.sources.set_index("source")
    a, zweb = (tmp_path / "a.txt").as_posix(), (tmp_path / "b.zip").as_posix() + "/web/one.txt"
    assert src.loc[a, "format"] == "qianniu-text"
    assert src.loc[zweb, "format"] == "qianniu-web"
    assert src.loc[(tmp_path / "sub" / "orders.csv").as_posix(), "format"] == "orders"
    assert src.loc[(tmp_path / "sub" / "picture.png").as_posix(), "format"] == "skipped"
    assert src.loc[(tmp_path / "b.zip").as_posix() + "/notes.md", "format"] == "skipped"
    # the same chat in two formats: the web copy's messages are duplicates of the client-text ones
    assert src.loc[a, "messages"] == 11
    assert src.loc[zweb, "messages"] == 0  # system rows too: anchored to the same neighbour message
    assert chats.duplicates == 11 and src.loc[zweb, "duplicates"] == 11
    assert set(chats.messages["source"]) == {a}


def test_ids_do_not_depend_on_the_path(tmp_path):
    shutil.copy(TEXT_V1, tmp_path / "x.txt")
    (tmp_path / "copy").mkdir()
    shutil.copy(TEXT_V1, tmp_path / "copy" / "renamed.txt")
    a = ca.read_chats(tmp_path / "x.txt").messages
    b = ca.read_chats(tmp_path / "copy").messages
    assert a["message_id"].tolist() == b["message_id"].tolist()
    assert a["conversation_id"].tolist() == b["conversation_id"].tolist()


def test_repeated_identical_messages_in_one_export_are_kept(tmp_path):
    text = "buyer 2026-11-09 10:00:00\n在吗\nbuyer 2026-11-09 10:00:00\n在吗\n"
    chats = ca.read_chats(_write(tmp_path / "r.txt", text))
    assert len(chats.messages) == 2 and chats.duplicates == 0
    assert chats.messages["message_id"].nunique() == 2


def test_text_clean_up_traditional_kept_zero_width_stripped(tmp_path):
    text = "buyer 2026-11-09 10:00:00\n這個\u200b顏色\u200e好看嗎  \nbuyer 2026-11-09 10:00:05\ne\u0301\n"
    m = ca.read_chats(_write(tmp_path / "t.txt", text)).messages
    assert m["text"].tolist() == ["這個顏色好看嗎", "\u00e9"]


def test_roles_from_config(tmp_path):
    text = (
        "店:阿青 2026-11-09 10:00:00\n欢迎光临本店\n"
        "buyer 2026-11-09 10:00:01\n在吗\n"
        "店:阿青 2026-11-09 10:00:01\n马上来\n"
        "店:机器人 2026-11-09 10:00:02\n我是机器人\n"
    )
    path = _write(tmp_path / "r.txt", text)
    cfg = Config()
    cfg.roles = RolesConfig(auto_reply_templates=["欢迎光临本店"], auto_reply_zero_delay=True)
    m = ca.read_chats(path, config=cfg).messages.sort_values("line")
    assert m["role"].astype(str).tolist() == ["auto_reply", "customer", "auto_reply", "bot"]
    assert m["customer"].tolist() == ["buyer"] * 4  # the agent row before the first buyer is back-filled
    assert m["agent"].tolist()[0] == "店:阿青"
    plain = ca.read_chats(path).messages.sort_values("line")
    assert plain["role"].astype(str).tolist() == ["agent", "customer", "agent", "bot"]


def test_customer_of_agent_rows_in_a_multi_buyer_export(tmp_path):
    text = (
        "a_buyer 2026-11-09 10:00:00\n在吗\n店:阿青 2026-11-09 10:00:10\n在的\n"
        "当前用户来自 手机淘宝\n"
        "b_buyer 2026-11-09 10:01:00\n发货了吗\n店:阿青 2026-11-09 10:01:30\n发了\n"
    )
    m = ca.read_chats(_write(tmp_path / "m.txt", text)).messages.sort_values("line")
    assert m["customer"].tolist() == ["a_buyer", "a_buyer", "b_buyer", "b_buyer", "b_buyer"]
    assert m["shop"].unique().tolist() == ["店"]


def test_tz_localisation(tmp_path):
    path = _write(tmp_path / "t.txt", "buyer 2026-11-09 10:00:00\nhi\n")
    m = ca.read_chats(path, tz="UTC").messages
    assert m["ts"].iloc[0] == pd.Timestamp("2026-11-09 10:00:00", tz="UTC")



def test_sample_reads_without_rejects_and_matches_the_ground_truth(sample_chats, sample_dir, truth_dir):
    chats = sample_chats
    assert len(chats.rejects) == 0
    m = chats.messages.copy()
    m["source"] = m["source"].str.removeprefix(sample_dir.as_posix() + "/")
    truth = pd.read_csv(truth_dir / "messages.csv.gz", dtype=str, keep_default_na=False)
    truth["line"] = truth["line"].astype("int64")
    j = truth.merge(m, on=["source", "line"], how="outer", suffixes=("_t", ""), indicator=True)
    assert (j["_merge"] == "both").all(), j.loc[j["_merge"] != "both", ["source", "line", "_merge"]].head()
    assert (j["role_t"] == j["role"].astype(str)).all()
    assert (j["customer_t"] == j["customer"]).all()
    assert (j["agent_t"] == j["agent"].fillna("")).all()
    assert (j["text_t"] == j["text"]).all()


def test_sample_conversations_match_the_ground_truth(sample_chats, truth_dir):
    m = sample_chats.messages
    truth = pd.read_csv(truth_dir / "conversations.csv.gz", dtype=str, keep_default_na=False)
    g = m.groupby("conversation_id").agg(customer=("customer", "first"), start=("ts", "min"), n=("text", "size"))
    g["key"] = g["customer"] + "|" + g["start"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    assert set(g["key"]) == set(truth["conversation"])
    both = truth.merge(g, left_on="conversation", right_on="key")
    assert (both["n_messages"].astype(int) == both["n"]).all()


@pytest.mark.parametrize("max_rows", [200_000, 0])
def test_schema_failures_are_all_collected(monkeypatch, max_rows):
    from csaudit.io import chats as chats_mod

    monkeypatch.setattr(chats_mod, "PANDERA_MAX_ROWS", max_rows)  # 0: the vectorised pre-check path
    m = ca.read_chats(TEXT_V1).messages.copy()
    chats_mod._validate(m, "Asia/Shanghai")  # valid: no error
    m.loc[0, "line"] = 0
    m["shop"] = m["shop"].where(m.index != 1)
    with pytest.raises(schema.SchemaError) as err:
        chats_mod._validate(m, "Asia/Shanghai")
    assert set(err.value.failures["column"]) == {"line", "shop"}


def test_occurrence_and_file_rank_match_pandas_and_lexsort():
    import numpy as np

    from csaudit.io.chats import _file_rank, occurrence

    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(0, 60))
        group = rng.integers(0, 4, n)
        key = rng.integers(0, 6, n).astype(np.uint64) * np.uint64(2**61 + 7)
        expected = pd.Series(key).groupby([group, key], sort=False).cumcount().to_numpy() if n else []
        assert occurrence(group, key).tolist() == list(expected)
        if rng.random() < 0.5:
            group = np.sort(group)
        line = rng.integers(1, 5, n)
        rank = np.empty(n, dtype=np.int64)
        rank[np.lexsort((line, group))] = np.arange(n)
        assert _file_rank(group, line).tolist() == rank.tolist()


def test_duplicated_and_occurrence_with_and_without_repeats_match_pandas():
    import numpy as np

    from csaudit.io.chats import duplicated, has_repeats, occurrence

    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        high = int(rng.choice([3, 50, 2**62]))  # many, few or (almost surely) no repeats
        key = rng.integers(0, high, n).astype(np.uint64) * np.uint64(2**61 + 7)
        group = rng.integers(0, 3, n)
        s = pd.Series(key, dtype="uint64")
        assert has_repeats(key) == bool(s.duplicated().any())
        assert duplicated(key).tolist() == s.duplicated().tolist()
        expected = s.groupby([group, key], sort=False).cumcount().to_numpy() if n else []
        assert occurrence(group, key).tolist() == list(expected)


def test_the_same_file_given_twice_is_read_once():
    chats = ca.read_chats([TEXT_V1, TEXT_V1])
    once = ca.read_chats(TEXT_V1)
    pd.testing.assert_frame_equal(chats.messages, once.messages)
    assert chats.duplicates == len(once.messages)
    assert len(chats.sources) == 2


def test_encode_of_chunked_strings_matches_factorize():
    import numpy as np
    import pyarrow as pa

    from csaudit.io.chats import _encode

    rng = np.random.default_rng(3)
    words = ["", "a", "b", "中文", "a ", None]
    for _ in range(200):
        sizes = rng.integers(0, 5, int(rng.integers(0, 4)))
        typ = pa.large_string() if rng.random() < 0.5 else pa.string()
        chunks = [pa.array([words[i] for i in rng.integers(0, len(words), k)], typ) for k in sizes]
        arr = pa.chunked_array(chunks, type=typ)
        codes, uniq = _encode(arr)
        exp_codes, exp_uniq = pd.factorize(pd.Series(arr.to_pylist(), dtype=object))
        assert codes.tolist() == exp_codes.tolist()
        assert uniq.type == pa.string() and uniq.to_pylist() == list(exp_uniq)
        one_codes, one_uniq = _encode(arr.combine_chunks()) if len(chunks) else (codes, uniq)
        assert one_codes.tolist() == codes.tolist() and one_uniq.equals(uniq)


def test_agent_rows_without_an_account_are_counted_in_sources_with_one_warning(tmp_path, caplog):
    (tmp_path / "a.csv").write_text("会话,买家,角色,内容\nc1,jojo,顾客,在吗\nc1,jojo,客服,在的\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("会话,买家,角色,内容\nc2,kiki,顾客,在吗\nc2,kiki,客服,在的\n"
                                    "c2,kiki,客服,好的\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        chats = ca.read_chats(tmp_path)
    assert chats.sources["unknown_agent"].tolist() == [1, 2] and len(chats.rejects) == 0
    assert chats.messages.loc[chats.messages["role"] == "agent", "agent"].unique().tolist() == ["未知店铺:未知客服"]
    warnings = [r for r in caplog.records if "name no agent account" in r.getMessage()]
    assert len(warnings) == 1 and "3 agent-side message(s) in 2 file(s)" in warnings[0].getMessage()
