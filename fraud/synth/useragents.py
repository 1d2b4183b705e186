"""Embedded device profiles and User-Agent strings (real-world formats, early 2024).

A *profile* is one kind of device as its client SDK reports it (model, OS, OS version) together with the
User-Agent header its app/browser sends; a device keeps one profile for life (its OS version may be
upgraded once, see ``os_next``). Bot/tool agents are real strings of HTTP libraries, crawlers and
headless browsers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/{v} Mobile/15E148 Safari/604.1")
_WECHAT_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")
_ALIPAY_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Mobile/15E148 ChannelId(1) NebulaSDK/1.8.100112 Nebula WK PSDType(1) "
               "AlipayDefined(nt:WIFI,ws:390|844|3.0) AliApp(AP/10.5.96.6000) AlipayClient/10.5.96.6000 "
               "Language/zh-Hans Region/CN")
_CRIOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "CriOS/122.0.6261.89 Mobile/15E148 Safari/604.1")
_HUAWEI = ("Mozilla/5.0 (Linux; Android {a}; HarmonyOS; {m}; HMSCore 6.13.0.302) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36")
_CHROME_AND = ("Mozilla/5.0 (Linux; Android {a}; {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/122.0.6261.105 Mobile Safari/537.36")
_WECHAT_AND = ("Mozilla/5.0 (Linux; Android {a}; {m} Build/UKQ1.230804.001; wv) AppleWebKit/537.36 "
               "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 "
               "MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64")
_MIUI = ("Mozilla/5.0 (Linux; U; Android {a}; zh-cn; {m} Build/TKQ1.220829.002) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.118 Mobile Safari/537.36 XiaoMi/MiuiBrowser/18.1.170905")
_SAMSUNG_BR = ("Mozilla/5.0 (Linux; Android {a}; {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
               "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36")
_VIVO = ("Mozilla/5.0 (Linux; Android {a}; {m}; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
         "Chrome/87.0.4280.141 Mobile Safari/537.36 VivoBrowser/17.4.0.0")
_HEYTAP = ("Mozilla/5.0 (Linux; Android {a}; {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/118.0.5993.80 Mobile Safari/537.36 HeyTapBrowser/40.8.22.1")

# kind, model, os, os_version, os_next, UA, weight China, weight elsewhere, reports IMEI
_PROFILE_ROWS: list[tuple[str, str | None, str, str, str, str, float, float, bool]] = [
    ("phone", "iPhone14,2", "iOS", "17.4.1", "17.5", _SAFARI.format(u="17_4_1", v="17.4.1"), 7, 10, False),
    ("phone", "iPhone15,2", "iOS", "17.3.1", "17.4.1", _WECHAT_IOS.format(u="17_3_1"), 8, 2, False),
    ("phone", "iPhone16,1", "iOS", "17.4", "17.4.1", _SAFARI.format(u="17_4", v="17.4"), 6, 10, False),
    ("phone", "iPhone14,5", "iOS", "16.7.5", "16.7.6", _SAFARI.format(u="16_7_5", v="16.6"), 5, 8, False),
    ("phone", "iPhone13,2", "iOS", "16.6.1", "16.7.5", _ALIPAY_IOS.format(u="16_6_1"), 4, 0, False),
    ("phone", "iPhone15,3", "iOS", "17.2.1", "17.3.1", _CRIOS.format(u="17_2_1"), 3, 6, False),
    ("phone", "SM-G9910", "Android", "14", "14", _CHROME_AND.format(a="14", m="SM-G9910"), 3, 0, True),
    ("phone", "SM-S9180", "Android", "14", "14", _WECHAT_AND.format(a="14", m="SM-S9180"), 2, 0, True),
    ("phone", "SM-S918B", "Android", "14", "14", _SAMSUNG_BR.format(a="14", m="SM-S918B"), 0, 10, True),
    ("phone", "SM-A5360", "Android", "13", "14", _SAMSUNG_BR.format(a="13", m="SM-A5360"), 1, 4, True),
    ("phone", "M2012K11AC", "Android", "13", "13", _MIUI.format(a="13", m="M2012K11AC"), 5, 0, True),
    ("phone", "2211133C", "Android", "14", "14", _WECHAT_AND.format(a="14", m="2211133C"), 5, 0, True),
    ("phone", "23049RAD8C", "Android", "13", "14", _CHROME_AND.format(a="13", m="23049RAD8C"), 4, 1, True),
    ("phone", "ELS-AN00", "HarmonyOS", "4.0.0", "4.2.0", _HUAWEI.format(a="12", m="ELS-AN00"), 6, 0, True),
    ("phone", "NOH-AN00", "HarmonyOS", "3.0.0", "4.0.0", _HUAWEI.format(a="10", m="NOH-AN00"), 5, 0, True),
    ("phone", "ALN-AL00", "HarmonyOS", "4.0.0", "4.2.0", _HUAWEI.format(a="12", m="ALN-AL00"), 6, 0, True),
    ("phone", "PHB110", "Android", "14", "14", _HEYTAP.format(a="14", m="PHB110"), 4, 0, True),
    ("phone", "V2254A", "Android", "13", "14", _VIVO.format(a="13", m="V2254A"), 4, 0, True),
    ("phone", "Pixel 8", "Android", "14", "14", _CHROME_AND.format(a="14", m="Pixel 8"), 0, 8, True),
    ("desktop", None, "Windows", "10", "11", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 4, 4, False),
    ("desktop", None, "Windows", "11", "11", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.80", 3, 3, False),
    ("desktop", None, "Windows", "10", "10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 "
     "Firefox/123.0", 1, 2, False),
    ("desktop", "MacBookPro18,3", "macOS", "14.3", "14.4", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 2, 3, False),
    ("desktop", "Mac14,2", "macOS", "14.3.1", "14.4", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15", 2, 3, False),
    ("desktop", "MacBookAir10,1", "macOS", "13.6.4", "14.3", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; "
     "rv:123.0) Gecko/20100101 Firefox/123.0", 1, 1, False),
    ("emulator", "sdk_gphone64_x86_64", "Android", "14", "14", "Mozilla/5.0 (Linux; Android 14; "
     "sdk_gphone64_x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.5672.136 Mobile Safari/537.36",
     0, 0, True),
    ("emulator", "Android SDK built for x86", "Android", "10", "10", "Mozilla/5.0 (Linux; Android 10; Android SDK "
     "built for x86) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.185 Mobile Safari/537.36", 0, 0, True),
]

# Real agents of HTTP libraries, command-line tools, crawlers and headless browsers.
BOT_UAS: list[str] = [
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "python-httpx/0.26.0",
]


@dataclass(frozen=True)
class Profiles:
    """Column arrays of the device profiles, plus the global UA string table.

    ``ua`` indexes ``ua_strings``: profile UAs first (same index as the profile), then ``BOT_UAS``."""

    kind: np.ndarray
    model: np.ndarray  # "" = not reported (Windows PCs)
    os: np.ndarray
    os_version: np.ndarray
    os_next: np.ndarray
    family: np.ndarray  # 'apple', 'android' (incl. HarmonyOS), 'windows', 'mac'
    w_cn: np.ndarray
    w_intl: np.ndarray
    has_imei: np.ndarray
    ua_strings: list[str]
    bot_ua0: int  # index of the first bot UA in ua_strings

    def of_kind(self, kind: str) -> np.ndarray:
        """Profile indices of one kind ('phone', 'desktop', 'emulator')."""
        return np.flatnonzero(self.kind == kind)


def profiles() -> Profiles:
    """The embedded device profiles."""
    cols = list(zip(*_PROFILE_ROWS, strict=True))
    os_ = np.array(cols[2])
    fam = np.select([os_ == "iOS", os_ == "Windows", os_ == "macOS"], ["apple", "windows", "mac"], "android")
    uas = list(cols[5]) + BOT_UAS
    return Profiles(kind=np.array(cols[0]), model=np.array([m or "" for m in cols[1]]), os=os_,
                    os_version=np.array(cols[3]), os_next=np.array(cols[4]), family=fam,
                    w_cn=np.array(cols[6], float), w_intl=np.array(cols[7], float), has_imei=np.array(cols[8]),
                    ua_strings=uas, bot_ua0=len(cols[5]))


def pick_profiles(rng: np.random.Generator, pr: Profiles, kind: str, in_china: np.ndarray) -> np.ndarray:
    """Random profile per entry of ``in_china`` (bool), with the China or rest-of-world market shares."""
    idx = pr.of_kind(kind)
    out = np.empty(len(in_china), np.int16)
    for flag, w in ((True, pr.w_cn[idx]), (False, pr.w_intl[idx])):
        m = in_china == flag
        out[m] = rng.choice(idx, size=int(m.sum()), p=w / w.sum())
    return out


HEX = np.array(list("0123456789abcdef"))


def hex_ids(rng: np.random.Generator, n: int, width: int = 16, upper: bool = False) -> np.ndarray:
    """``n`` random hexadecimal strings of ``width`` characters (vectorised)."""
    digits = HEX[rng.integers(0, 16, (n, width))]
    out = np.ascontiguousarray(digits).view(f"<U{width}").ravel()
    return np.char.upper(out) if upper else out


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random UUID-4 style strings in upper case (e.g. iOS identifierForVendor)."""
    h = hex_ids(rng, n, 32, upper=True).astype("<U32")
    parts = [np.char.add(h.view("<U1").reshape(n, 32)[:, a:b].copy().view(f"<U{b - a}").ravel(), "-" if b < 32 else "")
             for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(out, p)
    return out


def imeis(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random 15-digit IMEIs with a valid Luhn check digit (TAC prefix 86: devices sold in China)."""
    body = np.concatenate([np.tile([8, 6], (n, 1)), rng.integers(0, 10, (n, 12))], axis=1)
    dbl = body.copy()
    dbl[:, 1::2] *= 2
    dbl = np.where(dbl > 9, dbl - 9, dbl)
    check = (10 - dbl.sum(axis=1) % 10) % 10
    digits = np.concatenate([body, check[:, None]], axis=1).astype("<U1")
    return np.ascontiguousarray(digits).view("<U15").ravel()


def macs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random universally administered unicast MAC addresses (hardware addresses), ``aa:bb:..``. A
    randomised per-network address (locally administered bit set) would identify no hardware, so a planted
    conflict must use hardware addresses."""
    b = rng.integers(0, 256, (n, 6))
    b[:, 0] = b[:, 0] & 0xFC
    hexes = HEX[np.stack([b >> 4, b & 15], axis=2)].reshape(n, 12)
    parts = [np.ascontiguousarray(hexes[:, 2 * i:2 * i + 2]).view("<U2").ravel() for i in range(6)]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, ":"), p)
    return out
