"""A shop's own sentiment model (csaudit/metrics/snowtrain.py): the fast path must score exactly as
snownlp's own ``Sentiment`` trained on the same files. Texts written by us."""

from __future__ import annotations

import numpy as np
import pytest

import csaudit as ca
from csaudit.cli import main
from csaudit.metrics import sentiment, snowtrain

POS = ["发货很快，包装也很好", "质量不错，下次还来", "客服态度特别好，谢谢", "尺码合适，穿着舒服", "物流给力，好评",
       "颜色和图片一样，很满意", "", "good 很好用"]
NEG = ["等了一周还没发货", "质量太差了，要退货", "客服一直不回复", "尺码偏小，穿不上", "物流太慢了，生气",
       "颜色和图片不一样，失望", "东西坏了 怎么办"]
PROBE = ["发货很快", "一直不回复，太慢了", "质量不错但是物流太慢", "包装很好，谢谢客服", "还没发货", "", "   ",
         "ok 好的", "这个毛衣起球吗", "退货", "满意满意满意", "坏了坏了", "今天天气怎么样", "质量很好很好很好很好"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("snow")
    (d / "pos.txt").write_text("\n".join(POS) + "\n", encoding="utf-8")
    (d / "neg.txt").write_text("\n".join(NEG) + "\n", encoding="utf-8")
    assert main(["train-sentiment", "--pos", str(d / "pos.txt"), "--neg", str(d / "neg.txt"), "-o",
                 str(d / "model")]) == 0
    return d


def test_custom_model_scores_exactly_as_snownlp_trained_on_the_same_files(model_dir):
    import codecs

    from snownlp.sentiment import Sentiment

    ref = Sentiment()
    ref.train(codecs.open(str(model_dir / "neg.txt"), "r", "utf-8").readlines(),
              codecs.open(str(model_dir / "pos.txt"), "r", "utf-8").readlines())
    want = np.array([ref.classify(t) for t in PROBE])
    got = sentiment.score(PROBE, model=model_dir / "model")
    assert np.array_equal(got, want)  # bit-identical, not just close
    # snownlp itself reads the saved file back to the same model
    back = Sentiment()
    back.load(str(model_dir / "model" / "sentiment.marshal"))
    assert [back.classify(t) for t in PROBE] == want.tolist()
    # and it is not snownlp's shipped model
    assert not np.allclose(got, sentiment.score(PROBE))
    assert got[PROBE.index("发货很快")] > 0.5 > got[PROBE.index("一直不回复，太慢了")]


def test_config_sentiment_model_is_used_by_the_audit(model_dir, tmp_path):
    from csaudit.metrics.satisfaction import check_messages

    (model_dir / "csaudit.toml").write_text('[sentiment]\nmodel = "model"\n', encoding="utf-8")
    cfg = ca.Config.load(model_dir / "csaudit.toml")
    m = check_messages()
    res = ca.audit(m, config=cfg)
    cust = res.messages["role"] == "customer"
    texts = res.messages.loc[cust, "text"]
    assert np.array_equal(res.messages.loc[cust, "sentiment"].to_numpy(), sentiment.score(texts, model_dir / "model"))
    assert not np.array_equal(res.messages.loc[cust, "sentiment"].to_numpy(), sentiment.score(texts))


def test_bad_model_dir_and_training_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sentiment model here"):
        sentiment.score(["好"], model=tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        snowtrain.train_files(tmp_path / "nope.txt", tmp_path / "nope.txt", tmp_path / "m")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "one.txt").write_text("很好\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        snowtrain.train_files(tmp_path / "one.txt", tmp_path / "empty.txt", tmp_path / "m")
