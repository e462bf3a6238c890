"""Config: defaults without a file, presets, a shop's csaudit.toml, and clear errors."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from csaudit.config import PRESET_NAMES, Config, ConfigError, section_types, setting, validate_section


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
        ("[latncy]\nslow_s = 1\n", r"unknown section 'latncy' \(did you mean 'latency'\?\)"),
        ("[latency]\nslow = 1\n", r"unknown setting latency\.slow \(did you mean 'slow_s'\?\)"),
        ("[latency]\nunanswered = 'skip'\n", r'latency\.unanswered = "skip": expected one of "cap", "exclude"'),
        ("[conversion]\nwindow_h = 2\n", r"conversion\.window_h = 2: expected a number from 24 to 360"),
        ("[conversion]\nattribution = 'x'\n", r'conversion\.attribution = "x": expected one of "order"'),
        ("latency = 3\n", r"\[latency\] must be a table"),
        ("[latency\n", "not valid TOML"),
        # wrong types: one line naming section.key, the value and what is expected
        ('[latency]\nslow_s = "fast"\n', r'latency\.slow_s = "fast": expected a number > 0'),
        ('[session]\nidle_gap_min = "30"\n', r'session\.idle_gap_min = "30": expected a number > 0'),
        ('[session]\nsplit_on_day = "false"\n', r'session\.split_on_day = "false": expected true or false'),
        ("[session]\nsplit_on_day = 0\n", r"session\.split_on_day = 0: expected true or false"),
        ("[sentiment]\nk = 2.5\n", r"sentiment\.k = 2\.5: expected a whole number ≥ 1"),
        ("[sentiment]\nk = true\n", r"sentiment\.k = true: expected a whole number"),
        ('[lexicon]\nfiles = "terms.toml"\n', r'lexicon\.files = "terms.toml": expected an array of strings'),
        ("[lexicon]\nfiles = [1]\n", r"lexicon\.files\[0\] = 1: expected a string"),
        ('[latency]\ntimezone = "Asia/Shanghia"\n', r'latency\.timezone = "Asia/Shanghia": expected an IANA time zone'),
        ('[roles]\nsystem_patterns = ["^ok", "(unclosed"]\n',
         r'roles\.system_patterns\[1\] = "\(unclosed": expected a valid regular expression \(missing \)'),
        # nonsensical values
        ("[latency]\ncap_s = -600\n", r"latency\.cap_s = -600: expected a number > 0"),
        ("[latency]\nslow_s = -1\n", r"latency\.slow_s = -1: expected a number > 0"),
        ("[latency]\nrate_thresholds_s = [30, 0]\n", r"latency\.rate_thresholds_s\[1\] = 0: expected a number > 0"),
        ('[latency]\nservice_start = "25:99"\n', r'latency\.service_start = "25:99": expected a time HH:MM'),
        ('[latency]\nservice_end = "8am"\n', r'latency\.service_end = "8am": expected a time HH:MM'),
        ("[score.weights]\npoliteness = -0.2\n", r"score\.weights\.politeness = -0\.2: expected a number ≥ 0"),
        ("[score.weights]\nresponsiveness = 0\npoliteness = 0\ncompliance = 0\nsatisfaction = 0\nconversion = 0\n",
         r"score\.weights = .*: expected values that are not all 0"),
        ("[score.weights]\npoliteness_ = 1\n", r"unknown key score\.weights\.politeness_ \(did you mean 'politeness'\?\)"),
        ("[score.severity_penalty]\nsevere = 1\n", r"unknown key score\.severity_penalty\.severe"),
        ('[score]\npenalty_sides = ["agents"]\n', r'score\.penalty_sides\[0\] = "agents": expected one of "agent", "customer"'),
        ("[score]\nresponsiveness_full_s = 900\n", r"score\.responsiveness_full_s = 900\.0: expected a number below latency\.cap_s"),
        ("[sentiment]\ndeteriorated_drift = 0.3\n", r"sentiment\.deteriorated_drift = 0\.3: expected a number from -1 to 0"),
        ("[report]\nworkers = 0\n", r"report\.workers = 0: expected a whole number ≥ 1"),
        ("[text]\nmax_chars_head = 0\n", r"text\.max_chars_head = 0: expected a whole number ≥ 1"),
        ("[latency]\nacknowledgements = [\"好的\", \" \"]\n", r"latency\.acknowledgements\[1\] = \" \": expected a non-empty string"),
        ('preset = "tmall"\n', r'preset = "tmall": expected one of "taobao", "jd", "douyin"'),
    ],
)
def test_bad_files_name_the_file_the_setting_the_value_and_what_is_expected(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as exc:
        Config.load(f)
    assert str(exc.value).startswith(f"{f}: ")
    assert "\n" not in str(exc.value)


def test_valid_values_are_converted_and_kept(tmp_path):
    f = tmp_path / "ok.toml"
    f.write_text(
        '[latency]\ncap_s = 900\nservice_end = "24:00"\ntimezone = "Asia/Hong_Kong"\nacknowledgements = []\n'
        "[session]\nsplit_on_day = false\n[score.weights]\nresponsiveness = 1\npoliteness = 0\n",
        encoding="utf-8",
    )
    cfg = Config.load(f)
    assert cfg.latency.cap_s == 900.0 and isinstance(cfg.latency.cap_s, float)  # an int is a number
    assert cfg.session.split_on_day is False and cfg.latency.acknowledgements == []
    assert cfg.score.weights == {"responsiveness": 1.0, "politeness": 0.0}


def test_programmatic_configs_are_validated():
    cfg = Config()
    assert cfg.validate() is cfg
    cfg.latency.slow_s = "fast"
    with pytest.raises(ConfigError, match=r'^config: latency\.slow_s = "fast": expected a number > 0$'):
        cfg.validate()
    cfg = Config()
    cfg.session.split_on_day = "false"
    with pytest.raises(ConfigError, match=r"session\.split_on_day"):
        cfg.validate()
    with pytest.raises(ConfigError, match=r"latency\.cap_s = -1"):
        Config().updated({"latency": {"cap_s": -1}})


@dataclasses.dataclass
class _NewSection:
    """A section another module might add: the validator needs nothing but its annotations and rules."""

    rate: float = setting(0.5, ge=0, le=1)
    name: str | None = None
    mode: Literal["fast", "exact"] = "exact"
    groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    windows: list[list[float]] = setting([[1.0, 2.0]], gt=0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rate": 1.5}, r"new\.rate = 1\.5: expected a number from 0 to 1"),
        ({"rate": "0.5"}, r'new\.rate = "0\.5": expected a number'),
        ({"name": 3}, r"new\.name = 3: expected a string"),
        ({"mode": "slow"}, r'new\.mode = "slow": expected one of "fast", "exact"'),
        ({"groups": {"a": "x"}}, r'new\.groups\.a = "x": expected an array of strings'),
        ({"windows": [[1, 0]]}, r"new\.windows\[0\]\[1\] = 0: expected a number > 0"),
        ({"rat": 1}, r"unknown setting new\.rat \(did you mean 'rate'\?\)"),
    ],
)
def test_any_new_section_is_validated_from_its_annotations_and_rules(values, message):
    with pytest.raises(ConfigError, match=message):
        validate_section(_NewSection(), values, "shop.toml", "new")
    ok = validate_section(_NewSection(), {"rate": 1, "name": None, "mode": "fast", "groups": {"a": ["x"]}}, "f", "new")
    assert ok == {"rate": 1.0, "name": None, "mode": "fast", "groups": {"a": ["x"]}}
    assert {"session", "latency", "score", "text"} <= set(section_types())


def test_the_audit_refuses_a_bad_programmatic_config(sample_chats):
    import csaudit as ca

    cfg = ca.Config()
    cfg.latency.cap_s = -600
    with pytest.raises(ConfigError, match=r"latency\.cap_s = -600"):
        ca.audit(sample_chats.messages.head(50), config=cfg)


def test_every_shipped_preset_passes_validation():
    for name in PRESET_NAMES:
        Config.preset(name).validate()


def test_missing_file_and_unknown_preset():
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Config.load("/nonexistent/csaudit.toml")
    with pytest.raises(ValueError, match="unknown preset 'tmall'"):
        Config.preset("tmall")


def test_to_dict_round_trips():
    cfg = Config.preset("douyin").updated({"qc": {"long_wait_s": 240.0}})
    assert Config.from_dict(cfg.to_dict()) == cfg
