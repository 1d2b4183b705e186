import pytest

from fraud.config import load_config
from fraud.errors import ConfigError

CONTRACT_RULES = {
    "device.emulator": -80, "device.rooted": -50, "device.bot_agent": -60, "device.id_conflict": -40,
    "device.ua_mismatch": -20, "device.many_devices": -15, "device.shared": -40, "device.new_device_sensitive": -20,
    "account.password_churn": -10, "account.login_failures": -15, "ip.spray": 0, "device.stable_main": 20,
    "device.lock_enabled": 5, "geo.impossible_travel": -30, "geo.remote_logins": -10, "geo.commute_deviation": -5,
    "geo.stable_commute": 24, "geo.residence_change": -15, "geo.away_from_home": -5, "geo.cross_border_spend": -20,
    "behavior.sigma": -5, "behavior.outlier": -10, "behavior.repeated": -20,
}


def test_defaults_hold_every_contract_rule_with_its_points():
    cfg = load_config()
    assert set(cfg.rules) == set(CONTRACT_RULES)
    assert {r: cfg.rules[r].points for r in CONTRACT_RULES} == CONTRACT_RULES
    assert cfg.default_score == 600 and cfg.timezone == "UTC"
    assert cfg.tier_bands() == [("watch", 300, 409), ("fair", 410, 559), ("good", 560, 659),
                                ("excellent", 660, 759), ("exceptional", 760, 850)]


def test_user_file_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('timezone = "Asia/Shanghai"\ndefault_score = 650\n[columns]\nts = "login_time"\n'
                 '[rules."geo.impossible_travel"]\nmax_speed_kmh = 1000\npoints = -40\n')
    cfg = load_config(p)
    r = cfg.rule("geo.impossible_travel")
    assert (cfg.timezone, cfg.default_score, r["max_speed_kmh"], r.points) == ("Asia/Shanghai", 650, 1000, -40)
    assert cfg.columns == {"ts": "login_time"}
    assert cfg.rule("geo.remote_logins")["min_logins"] == 3


@pytest.mark.parametrize("text, message", [
    ('[rules."geo.teleport"]\npoints = 1\n', "unknown rule id 'geo.teleport'"),
    ('[rules."geo.impossible_travel"]\nmax_speed = 1\n', "unknown key 'max_speed' for rule 'geo.impossible_travel'"),
    ('colour = "red"\n', "unknown key 'colour'"),
    ('timezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
    ('[rules."geo.impossible_travel"]\nmax_speed_kmh = "fast"\n', "key 'max_speed_kmh' must be of type number"),
    ('[rules."device.rooted"]\nseverity = "dire"\n', "severity 'dire' not one of"),
    ('[columns]\nwhen = "ts"\n', "unknown canonical column 'when'"),
    ('default_score = 900\n', "default_score 900 outside 300..850"),
    ("this is = not toml [", "not valid TOML"),
    ("composite_weights = { payment = 0.5 }\n", "composite_weights must be non-negative numbers summing to 1"),
    ("composite_weights = { wealth = 0.5 }\n", "unknown composite dimension 'wealth'"),
])
def test_bad_config_names_the_problem(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_readme_config_example_is_valid(tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    p = tmp_path / "example.toml"
    p.write_text(block)
    cfg = load_config(p)
    assert cfg.timezone == "Asia/Shanghai" and not cfg.rule("behavior.outlier").enabled
