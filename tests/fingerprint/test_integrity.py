import polars as pl
import pytest

from fraud.fingerprint.integrity import emulator, rooted
from fraud.fingerprint.patterns import emulator_signature
from fraud.registry import NotEvaluated
from tests.conftest import at, make_ctx
from tests.fingerprint.conftest import UA, ev, iso, run

SDK_UA = ("Mozilla/5.0 (Linux; Android 11; sdk_gphone_x86 Build/RSR1.201013.001; wv) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Version/4.0 Chrome/83.0.4103.106 Mobile Safari/537.36")


@pytest.mark.parametrize(("model", "sig"), [
    ("Android SDK built for x86", "Android SDK built for"), ("sdk_gphone64_arm64", "sdk_gphone"),
    ("generic_x86_64", "generic_x86"), ("Genymotion Google Pixel 3", "Genymotion"), ("vbox86p", "vbox86p"),
    ("google_sdk", "google_sdk"), ("BlueStacks", "BlueStacks"), ("NoxPlayer", "Nox"), ("MuMu", "MuMu"),
    ("x86_64", "iOS Simulator"), ("arm64", "iOS Simulator"), ("Simulator (iPhone 15)", "iOS Simulator"),
    ("Subsystem for Android(TM)", "Windows Subsystem for Android"), ("Pixel 7 API 34", "Android Studio AVD"),
    ("Pixel_7_API_34", "Android Studio AVD"),
    ("HPE device", "Google Play Games on PC"),
    ("Dalvik/2.1.0 (Linux; U; Android 13; HPE device Build/TQ3A.230805.001)", "Google Play Games on PC"),
    ("WayDroid x86_64 Device", "Waydroid"), ("Cuttlefish x86_64 phone", "Cuttlefish"),
    ("Dalvik/2.1.0 (Linux; U; Android 11; WayDroid x86_64 Device Build/RQ3A.211001.001)", "Waydroid"),
    # the OPPO group's stock "KQ1" build ids stayed on later Androids: a real OnePlus 8 Pro, a realme 8 Pro
    ("Dalvik/2.1.0 (Linux; U; Android 13; IN2025 Build/RKQ1.211119.001)", None),
    ("Mozilla/5.0 (Linux; Android 13; RMX3081 Build/RKQ1.211119.001) AppleWebKit/537.36", None),
    ("Mozilla/5.0 (Linux; Android 13; X Build/RKR1.211119.001) AppleWebKit/537.36", "build id of an older Android"),
    ("SM-S911B", None), ("iPhone14,2", None), ("Pixel 8 Pro", None), ("Equinox", None), ("arm64-v8a phone", None),
    # the products' names with versions and editions, and AOSP's emulator products
    ("MuMuPlayer", "MuMu"), ("MuMu12", "MuMu"), ("LDPlayer9", "LDPlayer"), ("MEmuPlayer", "MEmu"), ("BigNox", "Nox"),
    ("nox_x86", "Nox"), ("Generic x86", "generic_x86"), ("sdk_x86", "sdk_x86"), ("sdk_phone64_x86_64", "sdk_x86"),
    ("emulator64_x86_64", "Emulator"), ("Mumbai", None), ("Memory Pro", None), ("Noxus", None),
    ("Galaxy Note 20", None), ("sdk-lite", None), ("sdk\u200b_gphone64_x86_64", "sdk_gphone"),
    # user agents whose build id is two or more Android versions older than the version they claim
    ("Mozilla/5.0 (Linux; Android 7.1.2; SM-G977N Build/LMY48Z; wv) AppleWebKit/537.36",
     "build id of an older Android"),
    ("Mozilla/5.0 (Linux; Android 12; Pixel Build/QP1A.190711.020)", "build id of an older Android"),
    ("Mozilla/5.0 (Linux; Android 11; Pixel Build/QP1A.190711.020)", None),  # one version on: an update in flight
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36", None),
    ("Mozilla/5.0 (Linux; Android 15; CPH2581 Build/AP3A.240617.008; wv) AppleWebKit/537.36", None),
    ("Mozilla/5.0 (Linux; Android 5.1.1; SM-G977N Build/LMY48Z)", None),
])
def test_emulator_signatures(model, sig):
    assert pl.select(emulator_signature(pl.lit(model))).item() == sig


def _devices():
    return pl.DataFrame({
        "ts": [at(0), at(10), at(20), at(30)], "device_id": ["d1", "d1", "d2", "d3"],
        "user_id": ["u1", "u1", "u2", "u3"], "model": ["sdk_gphone64_x86_64", "sdk_gphone64_x86_64", "SM-S911B", None],
        "is_emulator": [True, True, True, False], "is_rooted": [False, True, None, False],
        "has_hook": [False, False, True, False],
    })


def _logins():
    return pl.DataFrame({"user_id": ["u4", "u5", "u6"], "ts": [at(40), at(50), at(60)],
                         "device_id": ["d1", None, "d3"], "user_agent": [UA["android"], SDK_UA, UA["iphone"]]})


def test_emulator_scores_the_contracts_points_by_default():
    df = run(emulator, devices=_devices(), logins=_logins())
    assert {(r["user_id"], r["device_id"]): r["points"] for r in df.iter_rows(named=True)} == {
        ("u1", "d1"): -80, ("u4", "d1"): -80, ("u2", "d2"): -80, ("u5", None): -80}


def test_emulator_points_scale_with_strength_in_a_configured_band(tmp_path):
    from fraud.config import load_config

    band = tmp_path / "band.toml"
    band.write_text('[rules."device.emulator"]\npoints_min = -50\npoints_max = -100\n')
    df = emulator(make_ctx(load_config(band), devices=_devices(), logins=_logins())).collect().sort(
        "user_id", "device_id")
    got = {(r["user_id"], r["device_id"]): r["points"] for r in df.iter_rows(named=True)}
    # d1: flag + model signature -> points_max for its snapshot user and for u4 who logged in with it;
    # d2: flag only and u5: UA signature only (no device) -> points_min.
    assert got == {("u1", "d1"): -100, ("u4", "d1"): -100, ("u2", "d2"): -50, ("u5", None): -50}
    r = df.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert (r["first_ts"], r["last_ts"], r["severity"]) == (at(0), at(10), "critical")
    assert ev(df.filter(pl.col("user_id") == "u1")) == {
        "reported_emulator": True, "signatures": ["sdk_gphone (model sdk_gphone64_x86_64)"], "signals": 4,
        "strength": "flag and signature", "first_seen": iso(0), "last_seen": iso(10)}
    assert ev(df.filter(pl.col("user_id") == "u5"))["signatures"] == ["sdk_gphone (user agent)"]


def test_emulator_signature_of_a_failed_device_less_login_is_not_the_accounts():
    """An emulator failing on an account's password (credential stuffing) without a device id tells nothing of
    the account holder; the same agent on a successful event does; on a device, the device's own accounts."""
    logins = pl.DataFrame({"user_id": ["v1", "v2", "v3", "v3"], "ts": [at(0), at(1), at(2), at(3)],
                           "success": [False, True, False, True], "device_id": [None, None, "e1", "e1"],
                           "user_agent": [SDK_UA, SDK_UA, SDK_UA, UA["android"]]})
    df = run(emulator, logins=logins)
    assert sorted(zip(df["user_id"], df["device_id"])) == [("v2", None), ("v3", "e1")]


def test_emulator_cpu_model_is_a_simulator_only_off_the_desktop():
    """A desktop client may report its CPU type as the model: "x86_64" on Linux/macOS/Windows is no iOS
    Simulator; on iOS, or with no OS reported, it is."""
    devices = pl.DataFrame({"ts": [at(0)] * 5, "device_id": ["l", "m", "w", "i", "n"], "user_id": ["u1"] * 5,
                            "model": ["x86_64", "arm64", "x86_64", "x86_64", "arm64"],
                            "os": ["Linux", "macOS", "Windows", "iOS", None]})
    df = run(emulator, devices=devices)
    assert sorted(df["device_id"].to_list()) == ["i", "n"]
    assert ev(df.filter(pl.col("device_id") == "i"))["signatures"] == ["iOS Simulator (model x86_64)"]


def test_emulator_cpu_model_without_an_os_on_a_device_signed_in_from_a_desktop_agent_is_no_simulator():
    """A Windows app's snapshot with its CPU type as the model and no OS: the device's own sign-ins say Windows
    desktop. Without such sign-ins (or with a phone's agent) the CPU type still reads as the iOS Simulator."""
    windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 " \
              "Safari/537.36"
    iphone = UA["iphone"]
    devices = pl.DataFrame({"ts": [at(0)] * 4, "device_id": ["pc", "mac", "phone", "bare"], "user_id": ["u1"] * 4,
                            "model": ["x86_64", "arm64", "arm64", "x86_64"], "os": [None] * 4})
    logins = pl.DataFrame({"ts": [at(1), at(2), at(3), at(4)], "user_id": ["u1"] * 4,
                           "device_id": ["pc", "mac", "phone", "bare"],
                           "user_agent": [windows, UA["mac"], iphone, None], "success": [True, True, True, False]})
    df = run(emulator, devices=devices, logins=logins)
    assert sorted(df["device_id"].to_list()) == ["bare", "phone"]
    # one desktop agent beside the device's iPhone ones hides no simulator
    mixed = pl.concat([logins, logins.filter(pl.col("device_id") == "phone").with_columns(
        pl.lit(windows).alias("user_agent"), pl.lit(at(9)).alias("ts"))])
    assert sorted(run(emulator, devices=devices, logins=mixed)["device_id"].to_list()) == ["bare", "phone"]


def test_emulator_quiet_on_real_devices():
    devices = _devices().filter(pl.col("device_id") == "d3")
    logins = _logins().filter(pl.col("user_id") == "u6")
    assert run(emulator, devices=devices, logins=logins).height == 0


def test_emulator_not_evaluated_without_any_signal_source():
    with pytest.raises(NotEvaluated):
        run(emulator, logins=pl.DataFrame({"user_id": ["u1"], "ts": [at(0)]}))


def test_rooted_fires_per_user_and_device():
    df = run(rooted, devices=_devices(), logins=_logins())
    assert [(r["user_id"], r["device_id"], r["points"]) for r in df.iter_rows(named=True)] == [
        ("u1", "d1", -50), ("u2", "d2", -50), ("u4", "d1", -50)]
    assert ev(df, 0) == {"rooted": True, "hook_framework": False, "snapshots": 1, "first_seen": iso(10),
                         "last_seen": iso(10)}
    assert ev(df, 1)["hook_framework"] is True and ev(df, 1)["rooted"] is False
    assert (df["first_ts"][0], df["last_ts"][0]) == (at(10), at(10))


def test_rooted_quiet_and_not_evaluated():
    assert run(rooted, devices=_devices().filter(pl.col("device_id") == "d3")).height == 0
    with pytest.raises(NotEvaluated):
        run(rooted, devices=pl.DataFrame({"ts": [at(0)], "device_id": ["d1"]}))


def test_emulator_points_set_in_a_config_apply_to_every_finding(tmp_path):
    """A config that sets ``points`` (and no band end) asks for that number: the band shrinks to it. Setting a
    band end keeps the band."""
    from fraud.config import load_config

    flat = tmp_path / "flat.toml"
    flat.write_text('[rules."device.emulator"]\npoints = -70\n')
    ctx = make_ctx(load_config(flat), devices=_devices(), logins=_logins())
    assert sorted(set(emulator(ctx).collect()["points"].to_list())) == [-70]
    band = tmp_path / "band.toml"
    band.write_text('[rules."device.emulator"]\npoints = -70\npoints_min = -50\npoints_max = -90\n')
    ctx = make_ctx(load_config(band), devices=_devices(), logins=_logins())
    assert sorted(set(emulator(ctx).collect()["points"].to_list())) == [-90, -50]


def test_a_device_signal_concerns_the_accounts_that_used_the_device_since():
    """A phone sold on: the seller used it until day 2, the buyer's snapshots report root and an emulator flag from
    day 5. The seller is told of neither; a parent who used the family tablet after it was rooted is."""
    devices = pl.DataFrame({"ts": [at(days=0), at(days=5), at(days=6)], "device_id": ["ph"] * 3,
                            "user_id": ["seller", "buyer", "buyer"], "is_rooted": [False, True, True],
                            "is_emulator": [False, True, False]})
    logins = pl.DataFrame({"user_id": ["seller", "parent"], "ts": [at(days=2), at(days=7)], "device_id": ["ph", "ph"]})
    df = run(rooted, devices=devices, logins=logins)
    assert [(r["user_id"], ev(df, i)["snapshots"]) for i, r in enumerate(df.iter_rows(named=True))] == [
        ("buyer", 2), ("parent", 2)]
    assert run(emulator, devices=devices, logins=logins)["user_id"].to_list() == ["buyer", "parent"]
    # the seller still on it at day 6: told, of the snapshots up to that use
    later = logins.with_columns(pl.Series("ts", [at(days=5.5), at(days=7)]))
    df = run(rooted, devices=devices, logins=later)
    assert [(r["user_id"], ev(df, i)["snapshots"]) for i, r in enumerate(df.iter_rows(named=True))] == [
        ("buyer", 2), ("parent", 2), ("seller", 1)]


def test_snapshots_no_account_can_be_tied_to_are_not_evaluated_never_clean():
    """Both links are optional in the contract (devices.user_id, logins.device_id): a rooted emulator whose
    snapshots reach no account gives no finding, and the checks say why instead of reporting "ok"."""
    devices = _devices().with_columns(pl.lit(None, pl.String).alias("user_id"))
    logins = pl.DataFrame({"user_id": ["u9"], "ts": [at(0)], "device_id": [None]}, schema_overrides={
        "device_id": pl.String})
    for check in (rooted, emulator):
        with pytest.raises(NotEvaluated, match="no device snapshot with .* can be tied to an account") as e:
            run(check, devices=devices, logins=logins)
        assert e.value.stage == 2
    # one device reached through a sign-in: evaluated, and the others counted in the notes
    ctx = make_ctx(devices=devices, logins=logins.with_columns(pl.lit("d2").alias("device_id"), ts=pl.lit(at(30))))
    assert rooted(ctx).collect()[["user_id", "device_id"]].rows() == [("u9", "d2")]
    assert ctx.notes["device.rooted"] == {"devices_with_signals_without_account": 1,
                                           "devices_with_signals_after_every_use": 0}  # d1: rooted, no account
    assert emulator(ctx).collect()[["user_id", "device_id"]].rows() == [("u9", "d2")]
    assert ctx.notes["device.emulator"] == {"devices_with_signals_without_account": 1,
                                           "devices_with_signals_after_every_use": 0}  # d1 again


def test_emulator_reads_agents_when_the_snapshots_reach_no_account():
    devices = _devices().with_columns(pl.lit(None, pl.String).alias("user_id"))
    ctx = make_ctx(devices=devices, logins=_logins().filter(pl.col("user_id") == "u5"))
    assert emulator(ctx).collect()[["user_id", "points"]].rows() == [("u5", -80)]  # the SDK user agent
    assert ctx.notes["device.emulator"] == {"devices_with_signals_without_account": 2,
                                           "devices_with_signals_after_every_use": 0}  # d1, d2


def test_a_signal_after_every_accounts_last_use_reaches_no_account_and_is_counted():
    """A phone used until day 20 whose only snapshot, on day 21, reports root and names no account: no finding (a
    phone sold on: the signal may be its buyer's), and the notes say one device's signals came after every use."""
    devices = pl.DataFrame({"ts": [at(days=21)], "device_id": ["ph"], "user_id": [None], "is_rooted": [True]},
                           schema_overrides={"user_id": pl.String})
    logins = pl.DataFrame({"user_id": ["u1"] * 3, "ts": [at(days=d) for d in (1, 10, 20)], "device_id": ["ph"] * 3})
    ctx = make_ctx(devices=devices, logins=logins)
    assert rooted(ctx).collect().height == 0
    assert ctx.notes["device.rooted"] == {"devices_with_signals_without_account": 0,
                                          "devices_with_signals_after_every_use": 1}
    # the same snapshot on day 19: the account used the phone after it, so it is told
    ctx = make_ctx(devices=devices.with_columns(ts=pl.lit(at(days=19))), logins=logins)
    assert rooted(ctx).collect()["user_id"].to_list() == ["u1"]
    assert ctx.notes["device.rooted"]["devices_with_signals_after_every_use"] == 0
