"""Distinct user-agent parse rate of the fingerprint checks (ua-parser native resolver + user-agents
classification + bot/emulator signatures), on 100k+ distinct, real-looking user agents made by templating
versions and device models.

Run: ``python bench/bench_useragents.py [N]`` (default 120000).
"""
from __future__ import annotations

import itertools
import sys
import time

from fraud.fingerprint.useragent import classify, parse_agents

ANDROID_MODELS = ["SM-S911B", "SM-A546B", "Pixel 8 Pro", "Pixel 7a", "M2101K6G", "22101316G", "CPH2451", "V2227A",
                  "NOH-AN00", "LE2123", "RMX3686", "XQ-CT54", "moto g84 5G", "sdk_gphone64_x86_64"]
TEMPLATES = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{m}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} Safari/537.36",
    "Mozilla/5.0 (Linux; Android {av}; {model}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {iv}_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{iv}.{m} Mobile/15E{b} Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS {iv}_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{iv}.{m} Mobile/15E{b} Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{a}.0) Gecko/20100101 Firefox/{a}.{m}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} "
    "Safari/537.36 Edg/{a}.0.{c}.{m}",
    "Mozilla/5.0 (Linux; Android {av}; {model}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{m}.0 "
    "Chrome/{a}.0.{b}.{c} Mobile Safari/537.36",
    "MyBank/{m}.{c} (Android {av}; {model}) okhttp/4.{m}.{c}",
    "python-requests/2.{m}.{c}",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{a}.0.{b}.{c} "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/{a}.0.{b}.{c}",
]


def make_agents(n: int) -> list[str]:
    """``n`` distinct user agents, cycling through the templates with varying versions and models."""
    out: set[str] = set()
    combos = itertools.product(range(90, 132), range(4000, 6500, 7), range(0, 200, 13), range(0, 8))
    for i, (a, b, c, m) in enumerate(combos):
        t = TEMPLATES[i % len(TEMPLATES)]
        out.add(t.format(a=a, b=b, c=c, m=m, av=8 + i % 7, iv=14 + i % 4,
                         model=ANDROID_MODELS[i % len(ANDROID_MODELS)]))
        if len(out) >= n:
            break
    return sorted(out)


def main(n: int = 120_000) -> None:
    agents = make_agents(n)
    t0 = time.perf_counter()
    parsed = parse_agents(agents)
    t1 = time.perf_counter()
    table = classify(parsed, 8)
    t2 = time.perf_counter()
    print(f"{len(agents):,} distinct user agents")
    print(f"parse (ua-parser rs + user-agents class): {t1 - t0:.2f} s = {len(agents) / (t1 - t0):,.0f} UAs/s")
    print(f"bot/emulator signatures:                  {t2 - t1:.2f} s")
    print(f"total:                                    {t2 - t0:.2f} s = {len(agents) / (t2 - t0):,.0f} UAs/s")
    print(table.group_by("device_class").len().sort("device_class"))
    print(table.group_by("bot_kind").len().sort("bot_kind", nulls_last=True))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 120_000)
