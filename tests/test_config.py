"""Config: defaults without a file, presets, a shop's csaudit.toml, and clear errors."""

from __future__ import annotations

import pytest

from csaudit.config import PRESET_NAMES, Config


def test_defaults_are_the_taobao_preset():
    cfg = Config()
    assert cfg.preset_name == "taobao"
    assert Config.preset("taobao").to_dict() == cfg.to_dict()
    assert (cfg.session.idle_gap_min, cfg.latency.cap_s, cfg.latency.slow_s, cfg.conversion.window_h) == (30, 600, 180, 48)
    assert (cfg.latency.service_start, cfg.latency.service_end) == ("08:00", "23:00")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_loads_and_names_itself(name):
    cfg = Config.preset(name)
    assert cfg.preset_name == name and cfg.preset_version


def test_jd_preset_differs_where_the_platform_does():
    jd = Config.preset("jd")
    assert jd.session.idle_gap_min == 10
    assert jd.latency.service_end == "24:00"


def test_shop_file_overrides_on_top_of_its_preset(tmp_path):
    f = tmp_path / "csaudit.toml"
    f.write_text('preset = "jd"\n[latency]\nslow_s = 120\n[lexicon]\nfiles = ["terms.toml"]\n', encoding="utf-8")
    cfg = Config.load(f)
    assert cfg.preset_name == "jd" and cfg.session.idle_gap_min == 10  # from the preset
    assert cfg.latency.slow_s == 120 and cfg.lexicon.files == ["terms.toml"]  # from the file
    assert cfg.base_dir == str(tmp_path.resolve())
    assert Config().latency.slow_s == 180  # the defaults are not touched


def test_load_with_a_preset_argument(tmp_path):
    f = tmp_path / "csaudit.toml"
    f.write_text("[latency]\nslow_s = 90\n", encoding="utf-8")
    cfg = Config.load(f, preset="douyin")
    assert cfg.preset_name == "douyin" and cfg.latency.slow_s == 90
    f.write_text('preset = "jd"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="names preset 'jd' but --preset 'douyin'"):
        Config.load(f, preset="douyin")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[latncy]\nslow_s = 1\n", "unknown section 'latncy'"),
        ("[latency]\nslow = 1\n", r"unknown setting\(s\) \['slow'\] in \[latency\]"),
        ("[latency]\nunanswered = 'skip'\n", "latency.unanswered must be 'cap' or 'exclude'"),
        ("[conversion]\nwindow_h = 2\n", "window_h must be between 24 and 360"),
        ("[conversion]\nattribution = 'x'\n", "conversion.attribution"),
        ("latency = 3\n", r"\[latency\] must be a table"),
        ("[latency\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as exc:
        Config.load(f)
    assert str(f) in str(exc.value)


def test_missing_file_and_unknown_preset():
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Config.load("/nonexistent/csaudit.toml")
    with pytest.raises(ValueError, match="unknown preset 'tmall'"):
        Config.preset("tmall")


def test_to_dict_round_trips():
    cfg = Config.preset("douyin").updated({"qc": {"long_wait_s": 240.0}})
    assert Config.from_dict(cfg.to_dict()) == cfg
