import re

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


# List settings, checked for what they hold.
BAD_LISTS = [
    # an empty list switched its rule off while the rule said "ok" (or crashed the scan mid-way)
    ('[rules."device.new_device_sensitive"]\nsensitive_events = []\n',
     "rule 'device.new_device_sensitive' key 'sensitive_events' must list at least one item"),
    ('[rules."geo.cross_border_spend"]\nevents = []\n', "key 'events' must list at least one item"),
    ('[rules."behavior.sigma"]\nfeatures = []\n', "key 'features' must list at least one item"),
    ('[rules."geo.commute_deviation"]\ncommute_hours = []\n', "key 'commute_hours' must list at least one item"),
    ('[rules."behavior.outlier"]\ndetectors = []\n', "key 'detectors' must list at least one item"),
    ('[rules."behavior.sigma"]\npayment_events = ["payment", ""]\n', "key 'payment_events' must be a list of event"),
    # names checked at load, not mid-scan
    ('[rules."behavior.sigma"]\nfeatures = ["logins", "bogus"]\n', "key 'features' names unknown feature 'bogus'"),
    ('[rules."behavior.sigma"]\nfeatures = ["logins", "logins"]\n', "key 'features' lists 'logins' more than once"),
    ('[rules."behavior.sigma"]\nmin_sd_by_feature = { bogus = 1.0 }\n',
     "key 'min_sd_by_feature' names unknown feature 'bogus'"),
    ('[rules."behavior.outlier"]\ndetectors = ["IForest", "Bogus"]\n', "names unknown PyOD detector 'Bogus'"),
    ('[rules."behavior.outlier"]\ndetectors = ["../../x:Y"]\n', "names unknown PyOD detector '../../x:Y'"),
    # hour windows: two different whole hours 0-24
    ('[rules."geo.commute_deviation"]\ncommute_hours = [[7]]\n', "key 'commute_hours' must be a window [start, end)"),
    ('[rules."geo.commute_deviation"]\ncommute_hours = [[7, 10], ["a", "b"]]\n', "got ['a', 'b']"),
    ('[rules."geo.commute_deviation"]\nnight_hours = [22, 30]\n', "key 'night_hours' must be a window"),
    ('[rules."geo.commute_deviation"]\nwork_hours = [9, 9]\n', "key 'work_hours' must be a window"),
    ('[rules."geo.stable_commute"]\narrival_hours = [7.5, 10]\n', "key 'arrival_hours' must be a window"),
    ('[rules."geo.commute_deviation"]\nwork_days = []\n', "key 'work_days' must list at least one item"),
    ('[rules."geo.commute_deviation"]\nwork_days = [0, 1]\n', "key 'work_days' must list different ISO day numbers"),
    ('[rules."geo.commute_deviation"]\nwork_days = [1, 1]\n', "key 'work_days' must list different ISO day numbers"),
    # an allow-list pattern matching the empty text matches every agent: the rule would be off
    ('[rules."device.bot_agent"]\nallowed_agents = ["^MyApp/", ""]\n', "'allowed_agents'[1] '' matches the empty text"),
    ('[rules."device.bot_agent"]\nallowed_agents = [".*"]\n', "'allowed_agents'[0] '.*' matches the empty text"),
]


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
    ("city_name_accuracy_km = -5\n", "key 'city_name_accuracy_km' must be a distance between 0 and 40,075 km"),
    ('[rules."geo.remote_logins"]\nhome_radius_km = 50000\n', "key 'home_radius_km' must be a distance between"),
    ('[rules."geo.impossible_travel"]\nmax_speed_kmh = -5\n', "key 'max_speed_kmh' must be a speed between 0 and"),
    ('[rules."geo.commute_deviation"]\nplace_radius_m = -200\n', "key 'place_radius_m' must be a distance between 0"),
    ('[rules."device.many_devices"]\nmax_devices = -3\n', "key 'max_devices' must be a whole number of at least 0"),
    ('[rules."ip.spray"]\nmin_accounts = 0\n', "key 'min_accounts' must be a whole number of at least 1"),
    ('[rules."ip.spray"]\nmin_accounts = 2.5\n', "key 'min_accounts' must be a whole number of at least 1"),
    ("[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]", "not valid TOML"),
    ("a = " + "[" * 600 + "]" * 600 + "\n", "not valid TOML (nested too deeply)"),
    ('[rules."device.bot_agent"]\nfamily = "geo"\n',
     "rule 'device.bot_agent' key 'family' is fixed by the contract ('fingerprint'), got 'geo'"),
    *BAD_LISTS,
])
def test_bad_config_names_the_problem(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_list_settings_that_mean_something_load(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[rules."device.new_device_sensitive"]\nsensitive_events = ["Bind Card", "password-change", '
                 '"bind_card"]\n[rules."geo.commute_deviation"]\ncommute_hours = [[6, 9]]\nnight_hours = [23, 24]\n'
                 '[rules."behavior.outlier"]\ndetectors = ["ECOD", "knn:KNN"]\n'
                 '[rules."device.bot_agent"]\nallowed_agents = ["^MyApp/"]\n')
    cfg = load_config(p)
    # event names compare as the reader writes the data's: lower case, spaces and hyphens as "_", once each
    assert cfg.rule("device.new_device_sensitive")["sensitive_events"] == ["bind_card", "password_change"]
    assert cfg.rule("geo.commute_deviation")["commute_hours"] == [[6, 9]]
    assert cfg.rule("geo.commute_deviation")["night_hours"] == [23, 24]
    assert cfg.rule("behavior.outlier")["detectors"] == ["ECOD", "knn:KNN"]


def test_a_config_file_with_a_byte_order_mark_or_in_utf16_reads(tmp_path):
    text = 'timezone = "Asia/Shanghai"\n'
    for name, data in (("bom.toml", b"\xef\xbb\xbf" + text.encode()), ("u16.toml", text.encode("utf-16"))):
        (tmp_path / name).write_bytes(data)
        assert load_config(tmp_path / name).timezone == "Asia/Shanghai"


def test_a_rule_family_may_be_restated(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[rules."device.bot_agent"]\nfamily = "fingerprint"\n')
    assert load_config(p).rule("device.bot_agent").family == "fingerprint"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_readme_config_example_is_valid(tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):  # every example loads
        p = tmp_path / f"example{i}.toml"
        p.write_text(block)
        cfg = load_config(p)
        if "timezone" in block:
            assert cfg.timezone == "Asia/Shanghai" and not cfg.rule("behavior.outlier").enabled
        if '"fp"' in block:  # the Auth0 and Keycloak [events] example
            assert cfg.events["fp"] == "failed_login" and cfg.events["update_password"] == "password_change"
        if "user.session.start" in block and "actor.alternateId" in block:  # the Okta recipe
            assert cfg.events["user.session.start"] == "login" and cfg.columns["success"] == "outcome.result"
        if "[outcomes]" in block:
            assert cfg.outcomes.success == ("0",) and cfg.outcomes.other == "failure"


@pytest.mark.parametrize("text, message", [
    ('[rules."geo.impossible_travel"]\npoints = nan\n',
     "rule 'geo.impossible_travel' key 'points' must be a finite number, got nan"),
    ('[rules."geo.impossible_travel"]\npoints = inf\n',
     "rule 'geo.impossible_travel' key 'points' must be a finite number, got inf"),
    ('[rules."geo.impossible_travel"]\npoints = -30.7\n',
     "rule 'geo.impossible_travel' key 'points' must be a whole number, got -30.7"),
    ('[rules."geo.impossible_travel"]\npoints = -5000\n',
     "rule 'geo.impossible_travel' key 'points' must be within -1000..1000, got -5000"),
    ('[rules."device.emulator"]\npoints_max = -99.5\n',
     "rule 'device.emulator' key 'points_max' must be a whole number, got -99.5"),
    ('[rules."geo.impossible_travel"]\nwindow_days = inf\n',
     "rule 'geo.impossible_travel' key 'window_days' must be a finite number, got inf"),
    ('[rules."geo.impossible_travel"]\nwindow_days = 1e300\n',
     "rule 'geo.impossible_travel' key 'window_days' must be between 0 and 36500 days, got 1e+300"),
    ('[rules."geo.cross_border_spend"]\nwindow_hours = -1\n',
     "rule 'geo.cross_border_spend' key 'window_hours' must be between 0 and 876000 hours, got -1"),
    ("observation_days = 1e300\n", "key 'observation_days' must be between 0 and 36500 days, got 1e+300"),
    ("observation_days = -5\n", "key 'observation_days' must be between 0 and 36500 days, got -5"),
    ('[rules."behavior.sigma"]\nbaseline_days = 0\n',
     "rule 'behavior.sigma' key 'baseline_days' must be above 0 days (a rolling window), got 0"),
    ('[rules."ip.spray"]\nwindow_minutes = 0\n',
     "rule 'ip.spray' key 'window_minutes' must be above 0 minutes (a rolling window), got 0"),
    ("dismiss_cap_share = nan\n", "key 'dismiss_cap_share' must be a finite number, got nan"),
    ("dismiss_cap_share = 1.5\n", "key 'dismiss_cap_share' must be a share between 0 and 1, got 1.5"),
    ('[rules."geo.away_from_home"]\nmin_home_share = -0.1\n',
     "rule 'geo.away_from_home' key 'min_home_share' must be a share between 0 and 1, got -0.1"),
    ("default_score = 600.5\n", "key 'default_score' must be a whole number, got 600.5"),
    ('[rules."behavior.sigma"]\nmin_sd_by_feature = { night_share = nan }\n',
     "rule 'behavior.sigma' key 'min_sd_by_feature.night_share' must be a finite number, got nan"),
    ('[rules."geo.commute_deviation"]\ncommute_hours = [[7, 10], [17, -inf]]\n',
     "rule 'geo.commute_deviation' key 'commute_hours[1][1]' must be a finite number, got -inf"),
    ("composite_weights = { payment = nan, social = 0.65 }\n",
     "key 'composite_weights.payment' must be a finite number, got nan"),
])
def test_unusable_numbers_are_config_errors(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert f"{p}: {message}" in str(e.value)


def test_defaults_and_ordinary_numeric_overrides_pass_validation(tmp_path):
    load_config()  # the shipped rules.toml passes its own checks
    p = tmp_path / "c.toml"
    p.write_text("observation_days = 0\ndismiss_cap_share = 1.0\ndefault_score = 650.0\n"
                 "composite_weights = { payment = 0.5, social = 0.15 }\n"
                 '[rules."geo.impossible_travel"]\npoints = -35.0\nwindow_days = 0.5\n'
                 '[rules."device.emulator"]\npoints_min = -40.0\npoints_max = -1000\n'
                 '[rules."device.stable_main"]\nlong_points = 60\n'
                 '[rules."geo.cross_border_spend"]\nwindow_hours = 0.5\n'
                 '[rules."account.login_failures"]\nfailure_window_minutes = 2.5\n'
                 '[rules."behavior.sigma"]\nmin_sd_by_feature = { night_share = 0.1, amount = 500 }\n'
                 "z_threshold = 2.5\n"
                 '[rules."behavior.outlier"]\ncontamination = 0.05\nn_jobs = -1\n')
    cfg = load_config(p)
    r = cfg.rule("geo.impossible_travel")
    assert (r.points, type(r.points), r.window_days) == (-35, int, 0.5)
    assert (cfg.default_score, type(cfg.default_score)) == (650, int)
    assert cfg.rule("device.emulator")["points_min"] == -40 and type(cfg.rule("device.emulator")["points_min"]) is int
    assert cfg.observation_days == 0 and cfg.dismiss_cap_share == 1.0
    assert cfg.rule("behavior.sigma")["min_sd_by_feature"] == {"night_share": 0.1, "amount": 500}


def test_per_kind_column_tables_map_each_inputs_own_names(tmp_path):
    """App logins write `event_time` where SDK snapshots write `timestamp`, and Android names the device id
    `android_id`: one [columns] table could not serve both (a second `ts =` is a TOML error). [columns.<kind>]
    tables win for that kind's files; an unknown kind or column is an error naming it."""
    from fraud.inputs import read_input

    (tmp_path / "c.toml").write_text('[columns]\nts = "event_time"\nuser_id = "uid"\n'
                                     '[columns.devices]\nts = "timestamp"\ndevice_id = "android_id"\n')
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.columns_for("logins") == {"ts": "event_time", "user_id": "uid"}
    assert cfg.columns_for("devices") == {"ts": "timestamp", "user_id": "uid", "device_id": "android_id"}
    (tmp_path / "l.csv").write_text("event_time,uid\n2024-03-01T08:00:00Z,u1\n")
    (tmp_path / "d.csv").write_text("timestamp,uid,android_id\n2024-03-01T08:00:00Z,u1,a1\n")
    assert read_input("logins", tmp_path / "l.csv", cfg).frame["user_id"].to_list() == ["u1"]
    assert read_input("devices", tmp_path / "d.csv", cfg).frame.select("user_id", "device_id").rows() == [("u1", "a1")]
    for text, says in (('[columns.gadgets]\nts = "t"\n', "[columns.gadgets] names no input kind"),
                       ('[columns.devices]\namount = "a"\n', "[columns.devices] names unknown canonical column 'amount'"),
                       ('[columns.devices]\nts = "t"\nmodel = "t"\n', "[columns.devices] maps 'ts' and 'model' onto the "
                                                                       "same source column 't'")):
        (tmp_path / "bad.toml").write_text(text)
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_config(tmp_path / "bad.toml")


def test_a_column_may_map_from_alternatives_the_first_a_file_has(tmp_path):
    """Android snapshots name the device id android_id, iOS ones identifierForVendor: both are devices files."""
    from fraud.inputs import read_input
    from fraud.errors import InputError

    (tmp_path / "c.toml").write_text('[columns.devices]\nts = "timestamp"\n'
                                     'device_id = ["android_id", "identifierForVendor"]\n')
    cfg = load_config(tmp_path / "c.toml")
    (tmp_path / "a.csv").write_text("timestamp,android_id,identifierForVendor\n2024-03-01T08:00:00Z,a1,x\n")
    (tmp_path / "i.csv").write_text("timestamp,identifierForVendor\n2024-03-01T08:00:00Z,6F96\n")
    assert read_input("devices", tmp_path / "a.csv", cfg).frame["device_id"].to_list() == ["a1"]
    assert read_input("devices", tmp_path / "i.csv", cfg).frame["device_id"].to_list() == ["6F96"]
    (tmp_path / "n.csv").write_text("time,identifierForVendor\n2024-03-01T08:00:00Z,6F96\n")
    with pytest.raises(InputError, match=r"missing required column 'ts' \(mapped from 'timestamp'\)"):
        read_input("devices", tmp_path / "n.csv", cfg)
    (tmp_path / "bad.toml").write_text('[columns]\ndevice_id = ["a", 3]\n')
    with pytest.raises(ConfigError, match=r"\[columns\] 'device_id' must map to a column name or a list of them"):
        load_config(tmp_path / "bad.toml")


def test_timestamp_formats_are_checked_at_load(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('timestamp_formats = "%m/%d/%Y %H:%M"\n')  # one pattern without the brackets
    assert load_config(p).timestamp_formats == ("%m/%d/%Y %H:%M",)
    assert load_config(None).timestamp_formats == ()
    for bad, says in [('["%H:%M"]', "timestamp_formats[0] '%H:%M' does not read a whole date and time"),
                      ('["%m/%d/%Y %H:%M", "%d/%m/%Y"]', "timestamp_formats[1] '%d/%m/%Y' does not read"),
                      ('["%Q %Y"]', "timestamp_formats[0] '%Q %Y' does not read"),
                      ("[3]", "timestamp_formats[0] must be a non-empty string, got 3"),
                      # a zone name is matched and dropped by the parser: "9:02 AM PST" would read as 09:02 UTC
                      ('["%m/%d/%Y %I:%M %p %Z"]', "timestamp_formats[0] '%m/%d/%Y %I:%M %p %Z': %Z (a zone name"),
                      ("3", "key 'timestamp_formats' must be of type list")]:
        p.write_text(f"timestamp_formats = {bad}\n")
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_config(p)
    p.write_text('timestamp_formats = ["%m/%d/%Y %I:%M %p UTC", "%d %%Z %m/%Y %H:%M"]\n')  # text, a literal %Z
    assert len(load_config(p).timestamp_formats) == 2


def test_outcomes_table_is_checked_at_load(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[outcomes]\nsuccess = [0, " OK "]\nfailure = ["50126"]\nother = "failure"\n')
    o = load_config(p).outcomes
    assert (o.success, o.failure, o.other) == (("0", "ok"), ("50126",), "failure") and o
    assert not load_config(None).outcomes  # none given: the built-in words only, other values rejected
    for bad, says in [('success = ["0"]\nfailure = [0]', "[outcomes] lists '0' under both success and failure"),
                      ('other = "ignore"', "[outcomes] other must be one of reject, success, failure, got 'ignore'"),
                      ('succes = ["0"]', "[outcomes] unknown key 'succes' (known: success, failure, other)"),
                      ('success = "0"', "[outcomes] success must be a list of values"),
                      ('success = [true]', "[outcomes] success must be a list of values")]:
        p.write_text(f"[outcomes]\n{bad}\n")
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_config(p)


@pytest.mark.parametrize("rule, text, says", [
    ("behavior.sigma", "min_sd = 0", "key 'min_sd' must be above 0, got 0"),
    ("behavior.sigma", "min_sd = -1", "key 'min_sd' must be above 0, got -1"),
    ("behavior.sigma", "min_sd_by_feature = { amount = 0 }", "key 'min_sd_by_feature' must hold floors above 0, "
                                                              "got amount = 0"),
    ("behavior.sigma", "z_threshold = 0", "key 'z_threshold' must be above 0, got 0"),
    ("behavior.sigma", "night_start_hour = 30", "key 'night_start_hour' must be a clock hour between 0 and 24"),
    ("behavior.outlier", "contamination = 0.6", "key 'contamination' must be above 0 and at most 0.5"),
    ("behavior.outlier", "contamination = 0", "key 'contamination' must be above 0 and at most 0.5"),
    ("behavior.outlier", "n_jobs = 0", "key 'n_jobs' must be -1 (every core) or a whole number of at least 1"),
    ("behavior.outlier", "seed = -1", "key 'seed' must be a whole number of at least 0"),
    ("behavior.outlier", "seed = 1.5", "key 'seed' must be a whole number of at least 0"),
    ("behavior.outlier", "max_span_ratio = 0.5", "key 'max_span_ratio' must be a factor of at least 1"),
    ("places", "place_radius_m = 0", "key 'place_radius_m' must be above 0, got 0"),
    ("geo.impossible_travel", "max_speed_kmh = 0", "key 'max_speed_kmh' must be above 0, got 0"),
    ("geo.residence_change", "within_days = 0", "key 'within_days' must be above 0 days (a rolling window)"),
    ("geo.cross_border_spend", "window_hours = 0", "key 'window_hours' must be above 0 hours"),
    ("account.login_failures", "success_within_minutes = 0", "key 'success_within_minutes' must be above 0 minutes"),
    ("device.new_device_sensitive", "within_hours = 0", "key 'within_hours' must be above 0 hours"),
    ("device.lock_enabled", "max_per_user = 0", "key 'max_per_user' must be a whole number of at least 1"),
])
def test_settings_that_mean_nothing_or_crash_the_scan_are_refused_at_load(tmp_path, rule, text, says):
    """Each was accepted (a threshold-semantics audit): a 0 sd floor or z threshold flagged every user-day, a
    contamination over 0.5, n_jobs 0 or a negative seed crashed the scan with a traceback, a 0 m place radius divided
    by zero, 0-hour windows switched their rule off while it said "ok"."""
    from fraud.geo.places import PLACE_RULE

    c = tmp_path / "c.toml"
    c.write_text(f'[rules."{PLACE_RULE if rule == "places" else rule}"]\n{text}\n')
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(c)
    (tmp_path / "ok.toml").write_text(f'[rules."{PLACE_RULE if rule == "places" else rule}"]\n')
    load_config(tmp_path / "ok.toml")


@pytest.mark.parametrize("text, says", [
    ('[rules."device.emulator"]\npoints_min = 10', "rule 'device.emulator' key 'points_min' is a penalty (-80 "
                                                   "shipped): must be 0 or below, got 10"),
    ('[rules."geo.impossible_travel"]\npoints = 5', "rule 'geo.impossible_travel' key 'points' is a penalty"),
    ('[rules."device.stable_main"]\npoints = -5', "rule 'device.stable_main' key 'points' is a bonus (+20 shipped): "
                                                  "must be 0 or above, got -5"),
    ('[rules."device.stable_main"]\nmin_days = 800', "rule 'device.stable_main' key 'min_days' (800) must be at most "
                                                     "'long_days' (730)"),
])
def test_points_keep_their_sign_and_the_main_device_tenures_their_order(tmp_path, text, says):
    """A threshold-semantics audit: an emulator could be given a bonus, a stable main device a penalty, and a
    min_days above long_days lost the 2-year bonus; 0 stays allowed (an alert without points)."""
    c = tmp_path / "c.toml"
    c.write_text(text + "\n")
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(c)
    c.write_text('[rules."device.emulator"]\npoints = 0\npoints_min = 0\n[rules."device.stable_main"]\npoints = 0\n'
                 'min_days = 730\n')
    cfg = load_config(c)
    assert cfg.rule("device.emulator").points == 0 and cfg.rule("device.stable_main").points == 0
