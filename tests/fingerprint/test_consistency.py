import polars as pl
import pytest

from fraud.fingerprint.common import os_family
from fraud.fingerprint.consistency import id_conflict, ua_mismatch
from fraud.registry import NotEvaluated
from tests.conftest import at, make_ctx
from tests.fingerprint.conftest import UA, ev, iso, run


@pytest.mark.parametrize(("name", "family"), [
    ("Android", "android"), ("HarmonyOS", "android"), ("iOS", "ios"), ("iPadOS", "ios"), ("Mac OS X", "macos"),
    ("Windows", "windows"), ("Ubuntu", "linux"), ("Chrome OS", "chromeos"), ("Other", None), (None, None),
    ("OS X", "macos"), ("MacIntel", "macos"), ("Win32", "windows"), ("Win10", "windows"), ("CrOS", "chromeos"),
    ("iPhone", "ios"), ("iPad", "ios"), ("Fire OS", "android"), ("EMUI", "android"), ("MIUI", "android"),
    ("HyperOS", "android"), ("ColorOS", "android"), ("One UI", "android"), ("HMOS", "android"),
    ("MagicOS", "android"), ("HiOS", "android"), ("XOS", "android"), ("Nothing OS", "android"),
    ("LineageOS", "android"), ("GrapheneOS", "android"), ("ZUI", "android"), ("Mac", "macos"),
    ("Pop!_OS", "linux"), ("elementary OS", "linux"), ("Zorin OS", "linux"), ("NixOS", "linux"),
    ("CentOS Stream", "linux"), ("webOS", "webos"), ("Web0S", "webos"), ("Roku OS", "roku"), ("Roku", "roku"),
    ("tvOS", "tvos"), ("Tizen", "tizen"), ("Macro OS", "macro os"), ("Wear OS", "android"),
    ("Horizon OS", "android"), ("Meta Horizon OS", "android"), ("Oculus", "android"), ("Google TV", "android"),
    # what an SDK writes when it could not read the OS names none; Flutter says ohos on HarmonyOS NEXT
    ("N/A", None), ("-", None), ("undefined", None), ("None", None), ("(null)", None), ("ohos", "android"),
    ("OpenHarmony", "android"),
    # a browser session's platform is no OS; navigator.platform's ARM Linux is Android's and a Raspberry Pi's alike
    ("web", None), ("Web", None), ("WEB", None), ("browser", None), ("webOS", "webos"), ("SteamOS", "linux"),
    ("Linux armv8l", None), ("Linux aarch64", None), ("Linux armv7l", None), ("Linux x86_64", "linux"),
    ("Linux i686", "linux"),
    # .NET's platform names and MAUI's MacCatalyst; Hisense's VIDAA TVs run Linux
    ("Win32NT", "windows"), ("Win32S", "windows"), ("Win32Windows", "windows"), ("WinCE", "windows"),
    ("MacCatalyst", "macos"), ("Mac Catalyst", "macos"), ("VIDAA", "linux"), ("VIDAA 7.0", "linux"),
    ("Winamp", "winamp"), ("Vidalia", "vidalia"),
    # phones of their own families, not the desktop's: ua-parser's names and what a snapshot writes
    ("Windows Phone", "windows phone"), ("Windows Phone OS", "windows phone"), ("Windows Mobile", "windows phone"),
    ("BlackBerry OS", "blackberry"), ("BlackBerry 10", "blackberry"), ("BlackBerry", "blackberry"),
    ("BB10", "blackberry"),
])
def test_os_family(name, family):
    assert pl.select(os_family(pl.lit(name, pl.String))).item() == family


def test_id_conflict_lists_values_and_when_seen():
    devices = pl.DataFrame({
        "ts": [at(0), at(60), at(120), at(0), at(30)], "device_id": ["d1", "d1", "d1", "d2", "d2"],
        "user_id": ["u1", "u1", "u2", "u3", "u3"],
        "imei": ["356938035643809", "356938035643809", "490154203237518", "111", "111"],
        "mac": ["AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", None, None, None],
        "os": ["Android", "HarmonyOS", "Android", "Android", "HarmonyOS"],
    })
    # u1's last use of d1 (60) came before the second IMEI was first seen (120): only u2 used it in conflict
    df = run(id_conflict, devices=devices)
    assert [(r["user_id"], r["device_id"], r["points"]) for r in df.iter_rows(named=True)] == [("u2", "d1", -40)]
    assert (df["first_ts"][0], df["last_ts"][0]) == (at(0), at(120))
    # a successful login of u1 on d1 after that (a failed one does not count): u1 too
    later = pl.DataFrame({"user_id": ["u1", "u3"], "ts": [at(150), at(150)], "device_id": ["d1", "d1"],
                          "success": [True, False]})
    df = run(id_conflict, devices=devices, logins=later)
    assert [(r["user_id"], r["device_id"]) for r in df.iter_rows(named=True)] == [("u1", "d1"), ("u2", "d1")]
    assert ev(df) == {"fields": ["imei"], "conflicts": [
        {"field": "imei", "value": "356938035643809", "first_seen": iso(0), "last_seen": iso(60)},
        {"field": "imei", "value": "490154203237518", "first_seen": iso(120), "last_seen": iso(120)}],
        "distinct_values": [{"field": "imei", "values": 2}]}


def test_id_conflict_lists_the_first_values_of_a_field_and_counts_them_all(monkeypatch):
    # a placeholder device id reported by many phones: each account's finding lists a few of their IMEIs
    import fraud.fingerprint.consistency as consistency

    monkeypatch.setattr(consistency, "CONFLICT_VALUES_LISTED", 2)
    imeis = ["356938035643809", "490154203237518", "353918057929103", "012345678901237"]
    devices = pl.DataFrame({"ts": [at(days=30), at(days=0), at(days=20), at(days=10)], "device_id": ["d0"] * 4,
                            "user_id": ["u1", "u2", "u3", "u4"], "imei": imeis,
                            "os": ["Android", "iOS", "Android", "Android"]})
    df = run(id_conflict, devices=devices)
    # u2 reported the first IMEI (day 0) and nothing once a second one was seen (day 10)
    assert df["user_id"].to_list() == ["u1", "u3", "u4"]
    assert ev(df) == {"fields": ["imei", "os"], "conflicts": [
        {"field": "imei", "value": "490154203237518", "first_seen": iso(days=0), "last_seen": iso(days=0)},
        {"field": "imei", "value": "012345678901237", "first_seen": iso(days=10), "last_seen": iso(days=10)},
        {"field": "os", "value": "ios", "first_seen": iso(days=0), "last_seen": iso(days=0)},
        {"field": "os", "value": "android", "first_seen": iso(days=10), "last_seen": iso(days=30)}],
        "distinct_values": [{"field": "imei", "values": 4}, {"field": "os", "values": 2}]}


def test_a_signal_reported_just_after_the_accounts_sign_in_reaches_it():
    """An integrity SDK reports right after the sign-in it checks: a snapshot without user_id 5 s, or up to
    device_session_minutes (10), after the device's only sign-in still reaches that account; one 11 minutes on does
    not (the signal may be a later owner's), and is counted."""
    from fraud.fingerprint.integrity import rooted
    logins = pl.DataFrame({"user_id": ["u0", "u1", "u2"], "ts": [at(0)] * 3, "device_id": ["d0", "d1", "d2"]})
    devices = pl.DataFrame({"ts": [at(5 / 60), at(10), at(11)], "device_id": ["d0", "d1", "d2"],
                            "user_id": [None] * 3, "is_rooted": [True] * 3}, schema_overrides={"user_id": pl.String})
    ctx = make_ctx(devices=devices, logins=logins)
    assert sorted(rooted(ctx).collect()["user_id"]) == ["u0", "u1"]
    assert ctx.notes["device.rooted"]["devices_with_signals_after_every_use"] == 1


def test_id_conflict_on_os_family_and_quiet_when_consistent():
    devices = pl.DataFrame({"ts": [at(0), at(5)], "device_id": ["d1", "d1"], "user_id": ["u1", "u1"],
                            "os": ["iOS", "Android"]})
    df = run(id_conflict, devices=devices)
    assert ev(df)["fields"] == ["os"] and [c["value"] for c in ev(df)["conflicts"]] == ["ios", "android"]
    assert run(id_conflict, devices=devices.head(1)).height == 0
    with pytest.raises(NotEvaluated):
        run(id_conflict, devices=pl.DataFrame({"ts": [at(0)], "device_id": ["d1"]}))


def test_id_conflict_quiet_when_an_android_skin_is_renamed():
    """An Honor phone updated from EMUI to MagicOS reports one family (android)."""
    devices = pl.DataFrame({"ts": [at(0), at(5)], "device_id": ["d1", "d1"], "user_id": ["u1", "u1"],
                            "os": ["EMUI", "MagicOS"]})
    assert run(id_conflict, devices=devices).height == 0
    assert run(id_conflict, devices=devices.with_columns(pl.Series("os", ["EMUI", "iOS"]))).height == 1


def test_id_conflict_ignores_random_macs_and_id_formatting():
    """Per-network random MACs (locally administered bit) and Android's 02:00:00:00:00:00 placeholder identify no
    hardware; one IMEI written with separators, as an IMEISV or without its check digit is one IMEI; a hw_uuid in
    braces or without hyphens is one id; placeholders are no id."""
    devices = pl.DataFrame({
        "ts": [at(i) for i in range(5)], "device_id": ["d1"] * 5, "user_id": ["u1"] * 5,
        "mac": ["3c:22:fb:11:22:33", "da:a1:19:3b:5c:01", "6e:4f:2a:90:11:c7", "02:00:00:00:00:00", "3C-22-FB-11-22-33"],
        "imei": ["352099001761481", "35-209900-176148-1", "3520990017614812", "unknown", "000000000000000"],
        "hw_uuid": ["{6F9619FF-8B86-D011-B42D-00C04FC964FF}", "6f9619ff-8b86-d011-b42d-00c04fc964ff",
                    "6F9619FF8B86D011B42D00C04FC964FF", "null", None],
    })
    assert run(id_conflict, devices=devices).height == 0
    # a second real MAC and an IMEI of another model still conflict; the evidence shows the values as reported
    more = pl.DataFrame({"ts": [at(9)], "device_id": ["d1"], "user_id": ["u1"], "mac": ["3c:22:fb:99:88:77"],
                         "imei": ["86-123400-176149-9"], "hw_uuid": [None]})
    df = run(id_conflict, devices=pl.concat([devices, more]))
    assert ev(df)["fields"] == ["imei", "mac"]
    assert [(c["field"], c["value"]) for c in ev(df)["conflicts"]] == [
        ("imei", "352099001761481"), ("imei", "86-123400-176149-9"), ("mac", "3c:22:fb:11:22:33"),
        ("mac", "3c:22:fb:99:88:77")]


def test_id_conflict_ignores_virtual_adapter_macs():
    """A laptop reports its Wi-Fi MAC, then Hyper-V's virtual switch (WSL, Docker), VMware's or VirtualBox's
    adapter: those are no hardware. A second real MAC still conflicts."""
    macs = ["8C:17:59:AA:BB:01", "00:15:5D:01:02:03", "00-50-56-C0-00-08", "00:0c:29:12:34:56", "08:00:27:AB:CD:EF"]
    devices = pl.DataFrame({"ts": [at(i) for i in range(5)], "device_id": ["pc"] * 5, "user_id": ["u1"] * 5,
                            "mac": macs})
    assert run(id_conflict, devices=devices).height == 0
    real = devices.with_columns(pl.Series("mac", [*macs[:4], "8C:17:59:AA:BB:02"]))
    assert ev(run(id_conflict, devices=real))["fields"] == ["mac"]


def test_id_conflict_reads_more_notations_of_one_id():
    """A MAC in Huawei/H3C groups (3c22-fb11-2233), with 0x, or in quotes is the same MAC (it was no MAC: a real
    change written so went unseen); an hw_uuid in RFC 4122's urn:uuid: form is the same id; "Linux" beside
    "Android" (Java's os.name on a phone) is one family."""
    one = pl.DataFrame({"ts": [at(i) for i in range(4)], "device_id": ["d1"] * 4, "user_id": ["u1"] * 4,
                        "mac": ["3c:22:fb:11:22:33", "3c22-fb11-2233", "0x3C22FB112233", "'3c:22:fb:11:22:33'"],
                        "hw_uuid": ["6F9619FF-8B86-D011-B42D-00C04FC964FF",
                                    "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff", None, None],
                        "os": ["Android", "Linux", None, "android"]})
    assert run(id_conflict, devices=one).height == 0
    for changed in ("3c22-fb99-8877", "0x3C22FB998877", '"3c:22:fb:99:88:77"'):
        df = run(id_conflict, devices=pl.concat([one, one.head(1).with_columns(pl.lit(changed).alias("mac"))]))
        assert ev(df)["fields"] == ["mac"], changed
    # Linux beside iOS is still two families, and so is a distribution (a desktop) beside Android
    df = run(id_conflict, devices=one.with_columns(pl.Series("os", ["iOS", "Linux", None, None])))
    assert ev(df)["fields"] == ["os"]
    df = run(id_conflict, devices=one.with_columns(pl.Series("os", ["Android", "Ubuntu 22.04", None, None])))
    assert ev(df)["fields"] == ["os"]
    assert run(id_conflict, devices=one.with_columns(pl.Series("os", ["Android", "Linux 5.10.157", None, None]))
               ).height == 0


def test_id_conflict_reads_a_dual_sim_phones_two_imeis_as_one_phone():
    """A dual-SIM phone reports both IMEIs in one value (in any order, any list notation) or the active slot's:
    two IMEIs of one model (type allocation code, the first 8 digits) are one phone. A third IMEI, or a second of
    another model, is a conflict."""
    slots = ["352099001761481,352099001761499", "[\"352099001761499\", \"352099001761481\"]", "352099001761481",
             "35-209900-176149-9", "352099001761499/352099001761481"]
    devices = pl.DataFrame({"ts": [at(i) for i in range(5)], "device_id": ["d1"] * 5, "user_id": ["u1"] * 5,
                            "imei": slots})
    assert run(id_conflict, devices=devices).height == 0
    third = pl.DataFrame({"ts": [at(9)], "device_id": ["d1"], "user_id": ["u1"], "imei": ["352099001761507"]})
    df = run(id_conflict, devices=pl.concat([devices, third]))
    assert (ev(df)["fields"], ev(df)["distinct_values"]) == (["imei"], [{"field": "imei", "values": 3}])
    other_model = pl.DataFrame({"ts": [at(0), at(1)], "device_id": ["d2"] * 2, "user_id": ["u2"] * 2,
                                "imei": ["352099001761481", "861234001761499"]})
    assert run(id_conflict, devices=other_model)["device_id"].to_list() == ["d2"]


def _snapshots():
    return pl.DataFrame({"ts": [at(0), at(0), at(0)], "device_id": ["d1", "d2", "d3"], "user_id": ["u1", "u2", "u3"],
                         "os": ["Android", "iOS", "HarmonyOS"], "model": ["SM-S911B", "iPad13,4", "NOH-AN00"]})


def test_ua_mismatch_fires_when_agent_contradicts_snapshot():
    logins = pl.DataFrame({"user_id": ["u1", "u1", "u1"], "ts": [at(1), at(2), at(3)], "device_id": ["d1"] * 3,
                           "user_agent": [UA["android"], UA["windows"], UA["windows"]]})
    df = run(ua_mismatch, devices=_snapshots(), logins=logins)
    assert df.height == 1
    r = df.row(0, named=True)
    assert (r["user_id"], r["device_id"], r["points"], r["first_ts"], r["last_ts"]) == ("u1", "d1", -20, at(2), at(3))
    assert ev(df) == {"snapshot_os": ["android"], "snapshot_type": ["mobile"], "events": 2, "user_agents": [
        {"os": "windows", "device_class": "pc", "first_seen": iso(2), "last_seen": iso(3), "events": 2,
         "user_agent": UA["windows"]}]}


def test_ua_mismatch_quiet_for_consistent_agents():
    logins = pl.DataFrame({"user_id": ["u1", "u2", "u2", "u3", "u1"], "ts": [at(i) for i in range(5)],
                           "device_id": ["d1", "d2", "d2", "d3", "d1"],
                           "user_agent": [UA["android"], UA["ipad"], UA["mac"], UA["huawei"], UA["app_okhttp"]]})
    assert run(ua_mismatch, devices=_snapshots(), logins=logins).height == 0


def test_ua_mismatch_accepts_desktop_mode_of_the_same_platform():
    """A Mac desktop agent on an iPhone or an iPad without a model, a Linux desktop agent on an Android tablet:
    the browser's desktop mode. A Windows agent on the same devices still contradicts them."""
    devices = pl.DataFrame({"ts": [at(0)] * 4, "device_id": ["t1", "p1", "i1", "m1"],
                            "user_id": ["u1", "u2", "u3", "u4"], "os": ["Android", "iOS", "iPadOS", "macOS"],
                            "model": ["SM-X710", "iPhone15,2", None, "MacBookPro18,3"]})
    logins = pl.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "ts": [at(1), at(2), at(3), at(4)],
                           "device_id": ["t1", "p1", "i1", "m1"],
                           "user_agent": [UA["linux"], UA["mac"], UA["mac"], "MyBank/512 CFNetwork/1494.0.7 Darwin/23.4.0"]})
    assert run(ua_mismatch, devices=devices, logins=logins).height == 0
    df = run(ua_mismatch, devices=devices, logins=logins.with_columns(pl.lit(UA["windows"]).alias("user_agent")))
    assert df["device_id"].to_list() == ["t1", "p1", "i1", "m1"]
    # an iPhone's own Safari agent on the Mac is still a contradiction
    df = run(ua_mismatch, devices=devices, logins=logins.with_columns(pl.lit(UA["iphone"]).alias("user_agent")))
    assert df["device_id"].to_list() == ["t1", "m1"]


UC_DESKTOP = ("Mozilla/5.0 (Windows; U; Windows NT 5.2; en-US) AppleWebKit/534.31 (KHTML, like Gecko) "
              "Chrome/17.0.558.0 Safari/534.31 UCBrowser/10.10.0.800")


def test_ua_mismatch_accepts_the_windows_desktop_mode_of_android_browsers_that_use_one():
    """UC Browser on Android asks for desktop sites as Windows, keeping its own token; a plain Windows agent on
    the same phone still contradicts it, and so does UC's Windows agent on an iPhone."""
    logins = pl.DataFrame({"user_id": ["u1", "u2"], "ts": [at(1), at(2)], "device_id": ["d1", "d2"],
                           "user_agent": [UC_DESKTOP, UC_DESKTOP]})
    assert run(ua_mismatch, devices=_snapshots(), logins=logins)["device_id"].to_list() == ["d2"]
    plain = logins.with_columns(pl.lit(UA["windows"]).alias("user_agent"))
    assert run(ua_mismatch, devices=_snapshots(), logins=plain)["device_id"].to_list() == ["d1", "d2"]


def test_ua_mismatch_accepts_platform_relatives_and_still_fires_across_families():
    """An Apple TV, watch or Vision Pro running a native app (CFNetwork/Darwin agent, read as iOS), a Vision Pro's
    desktop-class Safari, a Chromebook's Linux apps, a MagicOS phone, a webOS TV with ua-parser's "Web0S", a Linux
    distribution's own name, a Wear OS watch's Android agent, a Quest headset (Horizon OS) with its browser's
    Android or Linux agent: no contradiction. An Android agent on the Apple TV and a HarmonyOS NEXT agent on an
    iPhone still are."""
    cf = "MyBank/512 CFNetwork/1494.0.7 Darwin/23.4.0"
    tv_ua = ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 "
             "Safari/537.36 WebAppManager")
    ff_linux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    next_ua = ("Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 "
               "Safari/537.36 ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.5.301")
    wear_ua = ("Mozilla/5.0 (Linux; Android 13; SM-R930) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.6099.43 Mobile Safari/537.36")
    quest3_ua = ("Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "OculusBrowser/31.0.0.7.71 Chrome/120.0.6099.283 VR Safari/537.36")
    quest2_ua = ("Mozilla/5.0 (Linux; Android 12; Quest 2) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "OculusBrowser/28.0.0.1.40 SamsungBrowser/4.0 Chrome/114.0.5735.246 VR Safari/537.36")
    rows = [("tv", "tvOS", cf), ("watch", "watchOS", cf), ("vision", "visionOS", cf),
            ("vision2", "visionOS", UA["mac"]), ("cb", "ChromeOS", ff_linux), ("honor", "MagicOS", UA["android"]),
            ("lg", "webOS", tv_ua), ("pop", "Pop!_OS", UA["linux"]), ("wear", "Wear OS", wear_ua),
            ("quest3", "Horizon OS", quest3_ua), ("quest2", "Horizon OS", quest2_ua),
            # a Chromebook's Android apps (ARC); ua-parser's "ATV OS X" for an Apple TV; an HbbTV block that names
            # the maker where the OS goes (the Tizen it names is the OS); the Xbox browser's Windows NT
            ("cb_arc", "ChromeOS", "Dalvik/2.1.0 (Linux; U; Android 13; Chromebook Build/R126-15886.44.0)"),
            ("cb_app", "Chrome OS", "MyBank/5.2.0 (Linux; Android 13; kukui) okhttp/4.12.0"),
            ("atv", "tvOS", "AppleCoreMedia/1.0.0.21J354 (Apple TV; U; CPU OS 17_0 like Mac OS X; en_us)"),
            ("sam", "Tizen", "Mozilla/5.0 (Linux; Tizen 2.3) AppleWebKit/538.1 (KHTML, like Gecko) Version/2.3 TV "
                             "Safari/538.1 HbbTV/1.5.1 (+DRM;Samsung;SmartTV2017;T-KTMDEUC-1250.0;;) OsrsTV/1.0"),
            ("xbox", "Xbox", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, "
                             "like Gecko) Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131")]
    devices = pl.DataFrame({"ts": [at(0)] * len(rows), "device_id": [r[0] for r in rows],
                            "user_id": [f"u_{r[0]}" for r in rows], "os": [r[1] for r in rows]})
    logins = pl.DataFrame({"user_id": [f"u_{r[0]}" for r in rows], "ts": [at(1)] * len(rows),
                           "device_id": [r[0] for r in rows], "user_agent": [r[2] for r in rows]})
    assert run(ua_mismatch, devices=devices, logins=logins).height == 0
    bad = pl.DataFrame({"user_id": ["u_tv", "u_ph", "u_cb_arc"], "ts": [at(2)] * 3, "device_id": ["tv", "ph", "cb_arc"],
                        "user_agent": [UA["android"], next_ua, UA["iphone"]]})
    snaps = pl.concat([devices, pl.DataFrame({"ts": [at(0)], "device_id": ["ph"], "user_id": ["u_ph"],
                                              "os": ["iOS"]})])
    df = run(ua_mismatch, devices=snaps, logins=bad)
    assert sorted(df["device_id"].to_list()) == ["cb_arc", "ph", "tv"]  # an iPhone agent on the Chromebook is one
    # a HarmonyOS PC's own browser on a HarmonyOS PC: the OS matches, the type (pc) is not compared
    pc = pl.DataFrame({"ts": [at(0)], "device_id": ["hpc"], "user_id": ["u_hpc"], "os": ["HarmonyOS"]})
    pc_ua = next_ua.replace("(Phone;", "(PC;").replace(" Mobile ", " ")
    assert run(ua_mismatch, devices=pc, logins=pl.DataFrame(
        {"user_id": ["u_hpc"], "ts": [at(1)], "device_id": ["hpc"], "user_agent": [pc_ua]})).height == 0
    assert [u["os"] for u in ev(df.filter(pl.col("device_id") == "ph"))["user_agents"]] == ["android"]


def test_ua_mismatch_summaries_stay_on_their_rows():
    logins = pl.DataFrame({"user_id": ["u1", "u2", "u3"], "ts": [at(1), at(2), at(3)], "device_id": ["d1", "d2", "d3"],
                           "user_agent": [UA["windows"], UA["android"], UA["iphone"]]})
    df = run(ua_mismatch, devices=_snapshots(), logins=logins)
    assert df["summary"].to_list() == [
        "Device d1 reports android but 1 event(s) carry a windows user agent",
        "Device d2 reports ios but 1 event(s) carry a android user agent",
        "Device d3 reports android but 1 event(s) carry a ios user agent"]


def test_ua_mismatch_ignores_failed_logins_of_other_accounts():
    """An attacker's device (Android in its snapshot) failing logins on victims with a Windows agent: the victims
    never used the device, so only a successful event with a contradicting agent counts."""
    logins = pl.DataFrame({"user_id": ["v1", "v2", "u1", "u1"], "ts": [at(1), at(2), at(3), at(4)],
                           "device_id": ["d1"] * 4, "success": [False, False, True, None],
                           "event": ["login", "login", "login", "payment"],
                           "user_agent": [UA["windows"], UA["windows"], UA["android"], UA["windows"]]})
    df = run(ua_mismatch, devices=_snapshots(), logins=logins)
    assert [(r["user_id"], r["device_id"]) for r in df.iter_rows(named=True)] == [("u1", "d1")]
    assert ev(df)["events"] == 1
    assert run(ua_mismatch, devices=_snapshots(), logins=logins.head(3)).height == 0


def test_ua_mismatch_is_not_evaluated_when_no_agent_can_be_compared(tmp_path):
    """An iPhone snapshot and Android agents is a mismatch; with agents that name nothing ("-"), none on the
    snapshot's device, or no user_agent / device_id column in the logins there is nothing to compare: "not
    evaluated", never "ok, 0 findings"."""
    from fraud.config import load_config
    from fraud.pipeline import ScanInputs, scan

    snaps = pl.DataFrame({"ts": [at(0)], "device_id": ["d1"], "user_id": ["u1"], "os": ["iOS"]})
    logins = pl.DataFrame({"user_id": ["u1", "u1"], "ts": [at(1), at(2)], "device_id": ["d1", "d1"],
                           "user_agent": [UA["android"], UA["android"]]})
    assert run(ua_mismatch, devices=snaps, logins=logins).height == 1
    with pytest.raises(NotEvaluated, match="no user agent of a device with an OS snapshot names an OS"):
        run(ua_mismatch, devices=snaps, logins=logins.with_columns(pl.lit("-").alias("user_agent")))
    with pytest.raises(NotEvaluated):
        run(ua_mismatch, devices=snaps, logins=logins.with_columns(pl.lit("d9").alias("device_id")))
    d = tmp_path / "in"
    d.mkdir()
    snaps.write_csv(d / "devices.csv")
    for dropped in ("user_agent", "device_id"):
        logins.drop(dropped).write_csv(d / "logins.csv")
        st = scan(ScanInputs.from_folder(d), load_config()).summary["checks"]["device.ua_mismatch"]
        assert st == {"status": "not evaluated", "reason": f"no logins row has a value in the {dropped} column"}


def test_ua_mismatch_reads_an_apple_model_id_as_ios_when_the_snapshot_names_no_os():
    """A snapshot with model iPhone14,2 and no os is an iPhone: an Android agent on it is a mismatch (it was not
    evaluated); a Samsung model names no OS (not compared)."""
    snaps = pl.DataFrame({"ts": [at(0), at(0)], "device_id": ["d1", "d2"], "user_id": ["u1", "u2"],
                          "model": ["iPhone14,2", "SM-S911B"]}, schema_overrides={"os": pl.String})
    logins = pl.DataFrame({"user_id": ["u1", "u2"], "ts": [at(1), at(1)], "device_id": ["d1", "d2"],
                           "user_agent": [UA["android"], UA["iphone"]]})
    df = run(ua_mismatch, devices=snaps, logins=logins)
    assert df["device_id"].to_list() == ["d1"] and ev(df)["snapshot_os"] == ["ios"]


def test_id_conflict_reads_an_imei_list_with_an_empty_slot_as_one_imei():
    """A dual-SIM list whose second slot is empty or a placeholder (``I1,unknown``, ``["I1", null]``, ``I1/N/A``,
    ``I1,-``) lists one IMEI: no conflict with I1 alone (each was a second 'IMEI' and -40)."""
    values = ["352099001761481,unknown", '["352099001761481", null]', "352099001761481/N/A", "352099001761481,-",
              "352099001761481"]
    devices = pl.DataFrame({"ts": [at(i) for i in range(5)], "device_id": ["d1"] * 5, "user_id": ["u1"] * 5,
                            "imei": values})
    assert run(id_conflict, devices=devices).height == 0
    other = pl.DataFrame({"ts": [at(9)], "device_id": ["d1"], "user_id": ["u1"], "imei": ["861234001761499,n/a"]})
    df = run(id_conflict, devices=pl.concat([devices, other]))
    assert [(c["field"], c["value"]) for c in ev(df)["conflicts"]] == [
        ("imei", "352099001761481,unknown"), ("imei", "861234001761499,n/a")]


def test_id_conflict_starts_when_the_imeis_seen_so_far_first_conflict():
    """A seller's phone reports its dual-SIM pair on days 0 and 1 (one model: no conflict); a buyer's snapshot
    on day 4 brings another model's IMEI. The conflict starts on day 4: the seller, whose last use was day 1, is
    not flagged (it started on day 1, the pair's second sighting, and the seller got -40)."""
    devices = pl.DataFrame({"ts": [at(0, 0), at(0, 1), at(0, 4)], "device_id": ["d1"] * 3,
                            "user_id": ["seller", "seller", "buyer"],
                            "imei": ["352099001761481", "352099001761499", "861234001761499"]})
    assert run(id_conflict, devices=devices)["user_id"].to_list() == ["buyer"]
    # the other model's IMEI first: the conflict starts at the second IMEI (day 1), the seller's last use
    swapped = devices.with_columns(pl.Series("imei", ["352099001761481", "861234001761499", "352099001761499"]))
    assert run(id_conflict, devices=swapped)["user_id"].to_list() == ["buyer", "seller"]


def test_id_conflict_reads_macs_in_any_notation_and_text_that_is_no_mac_as_none():
    """One MAC written with its octets' leading zeros dropped, with hyphens, in Cisco's dotted form or bare is one
    MAC; text that is no MAC (``unavailable``) identifies no hardware (it made a -40 conflict)."""
    macs = ["3c:5a:b4:01:02:33", "3c:5a:b4:1:2:33", "3C-5A-B4-01-02-33", "3c5a.b401.0233", "3c5ab4010233",
            "unavailable"]
    devices = pl.DataFrame({"ts": [at(i) for i in range(6)], "device_id": ["d1"] * 6, "user_id": ["u1"] * 6,
                            "mac": macs})
    assert run(id_conflict, devices=devices).height == 0
    other = pl.DataFrame({"ts": [at(9)], "device_id": ["d1"], "user_id": ["u1"], "mac": ["3c:5a:b4:1:2:34"]})
    assert ev(run(id_conflict, devices=pl.concat([devices, other])))["distinct_values"] == [
        {"field": "mac", "values": 2}]


def test_darwin_on_an_iphone_model_is_ios_and_a_model_names_the_os_for_both_checks():
    """``Darwin`` (uname, older Go runtimes) on an iPhone model is iOS: no OS conflict with the same phone's
    ``iOS`` snapshots and no mismatch with its Safari agent (both fired: Darwin read as macOS). On a Mac model it
    stays macOS. A model-only iPhone snapshot conflicts with an Android one, as it does for ua_mismatch."""
    snaps = pl.DataFrame({"ts": [at(0), at(1), at(0), at(1), at(0), at(1)], "device_id": ["d1", "d1", "d2", "d2",
                                                                                           "d3", "d3"],
                          "user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
                          "os": ["iOS", "Darwin", "macOS", "Darwin", None, "Android"],
                          "model": ["iPhone14,2", "iPhone14,2", "MacBookPro18,3", "MacBookPro18,3", "iPhone14,2",
                                    "SM-S911B"]})
    df = run(id_conflict, devices=snaps)
    assert df["device_id"].to_list() == ["d3"]
    assert [(c["field"], c["value"]) for c in ev(df)["conflicts"]] == [("os", "ios"), ("os", "android")]
    logins = pl.DataFrame({"user_id": ["u1", "u2"], "ts": [at(2), at(2)], "device_id": ["d1", "d2"],
                           "user_agent": [UA["iphone"], UA["iphone"]]})
    mismatch = run(ua_mismatch, devices=snaps.filter(pl.col("device_id") != "d3"), logins=logins)
    assert mismatch["device_id"].to_list() == ["d2"]  # an iPhone agent on a Mac is still one


def test_id_conflict_is_not_evaluated_when_no_snapshot_reaches_an_account():
    devices = pl.DataFrame({"ts": [at(0), at(60), at(0), at(30)], "device_id": ["d1", "d1", "d2", "d2"],
                            "imei": ["356938035643809", "490154203237518", "111", "222"]})
    with pytest.raises(NotEvaluated, match="no device snapshot with a hardware id or an OS name can be tied"):
        run(id_conflict, devices=devices)
    # a sign-in on d2 reaches its account; d1's conflict, tied to nobody, is counted
    ctx = make_ctx(devices=devices, logins=pl.DataFrame({"user_id": ["u1"], "ts": [at(90)], "device_id": ["d2"]}))
    assert id_conflict(ctx).collect()[["user_id", "device_id"]].rows() == [("u1", "d2")]
    assert ctx.notes["device.id_conflict"] == {"devices_with_signals_without_account": 1,
                                           "devices_with_signals_after_every_use": 0}


def test_a_browser_platform_is_no_os_to_compare():
    """A web SDK's snapshot says "web" (Flutter, React Native) or navigator.platform's "Linux armv8l": no OS family,
    so neither a conflict with the device's app snapshot nor a mismatch with its agents; SteamOS is Linux."""
    devices = pl.DataFrame({"ts": [at(0), at(5), at(6)], "device_id": ["d1", "d1", "d1"], "user_id": ["u1"] * 3,
                            "os": ["web", "Windows", "Linux armv8l"]})
    assert run(id_conflict, devices=devices).height == 0
    logins = pl.DataFrame({"user_id": ["u1", "u2"], "ts": [at(1), at(2)], "device_id": ["d1", "d2"],
                           "user_agent": [UA["windows"], UA["linux"]]})
    steam = pl.DataFrame({"ts": [at(0)], "device_id": ["d2"], "user_id": ["u2"], "os": ["SteamOS"],
                          "model": ["Steam Deck"]})
    assert run(ua_mismatch, devices=pl.concat([devices, steam], how="diagonal"), logins=logins).height == 0
    # a real OS name beside them still conflicts, and a Linux agent on an iOS device still mismatches
    ios = pl.DataFrame({"ts": [at(7)], "device_id": ["d1"], "user_id": ["u1"], "os": ["iOS"]})
    assert run(id_conflict, devices=pl.concat([devices, ios])).height == 1
    assert run(ua_mismatch, devices=steam.with_columns(pl.lit("iOS").alias("os")), logins=logins).height == 1


def test_ua_mismatch_quiet_for_a_windows_phone_and_a_blackberry_on_their_own_agents():
    """A Lumia's and a BB10's own mobile agents are their snapshots' OS (they read as desktop Windows and as
    another family before); a desktop Windows agent on the Lumia still contradicts it."""
    lumia = ("Mozilla/5.0 (Mobile; Windows Phone 8.1; Android 4.0; ARM; Trident/7.0; Touch; rv:11.0; IEMobile/11.0; "
             "NOKIA; Lumia 635) like iPhone OS 7_0_3 Mac OS X AppleWebKit/537 (KHTML, like Gecko) Mobile Safari/537")
    bb = ("Mozilla/5.0 (BB10; Touch) AppleWebKit/537.35+ (KHTML, like Gecko) Version/10.3.3.2205 Mobile "
          "Safari/537.35+")
    devices = pl.DataFrame({"ts": [at(0), at(0)], "device_id": ["d1", "d2"], "user_id": ["u1", "u2"],
                            "os": ["Windows Phone", "BlackBerry"]})
    logins = pl.DataFrame({"user_id": ["u1", "u2", "u1"], "ts": [at(1), at(2), at(3)], "device_id": ["d1", "d2", "d1"],
                           "user_agent": [lumia, bb, lumia]})
    assert run(ua_mismatch, devices=devices, logins=logins).height == 0
    logins = logins.with_columns(pl.Series("user_agent", [lumia, bb, UA["windows"]]))
    df = run(ua_mismatch, devices=devices, logins=logins)
    assert df.select("user_id", "device_id", "first_ts").rows() == [("u1", "d1", at(3))]


def test_id_conflict_reads_an_imei_that_lost_its_leading_zero_in_a_spreadsheet_as_that_imei():
    """01 2345 678901 237 (an "01" IMEI: iPhones, many US phones) and the 14 digits a spreadsheet leaves of it
    are one phone: with the 0 back, its check digit is valid. 14 digits whose 0-padded form fails the check (no
    IMEI lost a zero) still conflict."""
    devices = pl.DataFrame({"ts": [at(0), at(1)], "device_id": ["d1"] * 2, "user_id": ["u1"] * 2,
                            "imei": ["012345678901237", "12345678901237"]})
    assert run(id_conflict, devices=devices).height == 0
    devices = devices.with_columns(pl.Series("imei", ["013456789012345", "13456789012345"]))
    assert ev(run(id_conflict, devices=devices))["distinct_values"] == [{"field": "imei", "values": 2}]


def test_plain_imeis_and_macs_read_the_short_way_as_the_full_reading_reads_them():
    import random

    from fraud.fingerprint.consistency import PLAIN_IDS, _normalise, _normalised

    rng = random.Random(7)
    imeis = ["".join(rng.choice("0123456789") for _ in range(rng.choice((15, 16)))) for _ in range(500)]
    imeis += ["000000000000000", "000000000000001", "0000000000000000", "100000000000000"]
    macs = [":".join("".join(rng.choice("0123456789abcdefABCDEF") for _ in range(2)) for _ in range(6))
            for _ in range(500)]
    macs += ["02:00:00:00:00:00", "00:15:5D:01:02:03", "00:00:00:00:00:00", "3A:22:FB:11:22:33", "3c:22:fb:11:22:33"]
    for col, plain in (("imei", imeis), ("mac", macs)):
        # plain values mixed with others that take the full reading (lists, notations, words, blanks)
        values = plain + ["  356938035643809 ", "I1,356938035643809", "unknown", "", None, "3c-22-fb-11-22-33",
                          "0x3C22FB112233", "3c:22:fb:1:2:33"]
        df = pl.DataFrame({col: values})
        assert df[col].str.contains(PLAIN_IDS[col]).sum() == len(plain)
        full = df.select(_normalise(pl.col(col), col)).to_series()
        assert df.select(_normalised(col)).to_series().to_list() == full.to_list()
    assert pl.select(_normalise(pl.lit("3C:22:FB:11:22:33"), "mac", plain=True)).item() == "3c22fb112233"
    assert pl.select(_normalise(pl.lit("3569380356438091"), "imei", plain=True)).item() == "35693803564380"
