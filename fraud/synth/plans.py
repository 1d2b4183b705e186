"""Global choices made before any row is written: which users carry which anomaly (disjoint sets), their
parameters, the legitimate noise of the other users, and the device table."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from .cities import (IP_CLOUD, IP_FIXED, IP_MOBILE, CityTable, city_distances, draw_ips, draw_ips_by_country, offset_km,
                     pick_city_at)
from .population import Population, set_trips
from .useragents import Profiles

RULES = [
    "device.emulator", "device.rooted", "device.bot_agent", "device.id_conflict", "device.ua_mismatch",
    "device.many_devices", "device.shared", "device.new_device_sensitive", "account.password_churn",
    "account.login_failures", "ip.spray", "device.stable_main", "device.lock_enabled", "geo.impossible_travel",
    "geo.remote_logins", "geo.commute_deviation", "geo.stable_commute", "geo.residence_change",
    "geo.away_from_home", "geo.cross_border_spend", "behavior.sigma", "behavior.outlier", "behavior.repeated",
]
# planted into their own users, in this order (eligibility: w = workers only, n = non-workers, c = China)
PLANTED = [("geo.commute_deviation", "w"), ("geo.stable_commute", "w"), ("geo.residence_change", "n"),
           ("geo.away_from_home", "n"), ("device.shared", "c"), ("device.emulator", ""), ("device.rooted", ""),
           ("device.bot_agent", ""), ("device.id_conflict", ""), ("device.ua_mismatch", ""),
           ("device.many_devices", ""), ("device.new_device_sensitive", ""), ("account.password_churn", ""),
           ("account.login_failures", ""), ("device.stable_main", ""), ("geo.impossible_travel", ""),
           ("geo.remote_logins", ""), ("geo.cross_border_spend", ""), ("behavior.sigma", ""),
           ("behavior.outlier", ""), ("behavior.repeated", "")]
# a planted rule that unavoidably also fires another one for the same user
SECONDARY = {"account.login_failures": "behavior.sigma", "geo.cross_border_spend": "behavior.sigma",
             "behavior.repeated": "behavior.sigma", "geo.impossible_travel": "behavior.sigma"}
SPRAY_FROM = np.array(["VN", "RU", "BR", "NG", "US"])
ABROAD = np.array(["TH", "VN", "US", "GB", "JP", "SG", "MY", "RU", "BR", "NG"])


@dataclass
class Plan:
    """Selected users per planted rule (global user numbers) and per-rule parameter arrays."""

    users: dict[str, np.ndarray] = field(default_factory=dict)
    par: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    spray: dict[str, np.ndarray] = field(default_factory=dict)  # victim, t, ip, ctry, attacker
    victims: np.ndarray | None = None
    spray_sizes: np.ndarray | None = None

    def labels(self) -> list[tuple[np.ndarray, str]]:
        """(users, rule) pairs: the planted rules and their unavoidable secondary rules."""
        out = [(u, r) for r, u in self.users.items()]
        out += [(self.users[r], s) for r, s in SECONDARY.items()]
        return out


def n_per_rule(n: int) -> int:
    """Users per planted rule: about 1% of the population, at least 5."""
    return max(5, round(0.01 * n))


def n_outliers(n: int) -> int:
    """Planted ``behavior.outlier`` users: what the default 1% contamination flags in a population of ``n`` (the
    ensemble ranks a share of the batch; 5 planted among 300 users would leave 2 labelled and never flagged)."""
    return max(1, round(0.01 * n))


def month_runs(start: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per local day index: first and last day index of its calendar month (clipped to the period)."""
    m = (np.datetime64(start) + np.arange(days)).astype("datetime64[M]").astype(np.int64)
    first = np.searchsorted(m, m, side="left")
    last = np.searchsorted(m, m, side="right") - 1
    return first, last


def trip_days(rng: np.random.Generator, start: date, days: int, nights: np.ndarray, lo: int = 3) -> np.ndarray:
    """A departure day per trip so that the whole trip (``nights`` + return day) lies in one calendar month of
    at least 6 x (nights + 1) days of the period (an ordinary trip stays a small share of its month). Without
    such a month the longest one is used."""
    first, last = month_runs(start, days)
    d = np.arange(days)
    fits = (d[None, :] >= np.maximum(first, lo)[None, :]) & (d[None, :] + nights[:, None] + 1 <= last[None, :])
    fits &= d[None, :] + nights[:, None] + 2 < days
    long = (last - first + 1)[None, :] >= 6 * (nights[:, None] + 1)
    key = np.where(fits & long, 2 + rng.random(fits.shape), np.where(fits, (last - first)[None, :] / days, -1.0))
    return key.argmax(axis=1)


def choose(rng: np.random.Generator, pop: Population, ct: CityTable) -> Plan:
    """Pick disjoint users for every planted rule (and the number of spray attackers)."""
    plan, taken = Plan(), np.zeros(pop.n, bool)
    perm = rng.permutation(pop.n)
    k = n_per_rule(pop.n)
    for rule, elig in PLANTED:
        m = ~taken
        if elig == "w":
            m &= pop.worker & (pop.commute_km >= 4.0)
        elif elig == "n":
            m &= ~pop.worker
        elif elig == "c":
            m &= ct.cc[pop.city] == "CN"
        want = 7 * -(-k // 7) if rule == "device.shared" else n_outliers(pop.n) if rule == "behavior.outlier" else k
        got = perm[m[perm]][:want]
        if len(got) < min(want, 5) or len(got) == 0:
            raise ValueError(f"population of {pop.n} users is too small to plant {rule}")
        plan.users[rule] = np.sort(got)
        taken[got] = True
    pop.labelled[:] = taken
    plan.spray_sizes = rng.integers(12, 19, max(3, round(pop.n / 700)))
    return plan


def plan_anomalies(rng: np.random.Generator, pop: Population, ct: CityTable, pr: Profiles) -> Plan:
    """Choose users and set the parameters of every planted rule (days, cities, IPs, habits)."""
    plan = choose(rng, pop, ct)
    U, D = plan.users, pop.days
    dist = city_distances(ct)
    same = ct.cc[:, None] == ct.cc[None, :]
    # planted users sign in about once a day, so the event a plant adds to a day stays ordinary for the
    # behaviour baseline (spikes and outliers get their own habits below)
    for r in U:
        pop.cnt[U[r]] = 1
    # users needing a behaviour baseline: active nearly every day, flat habits
    for r in ("behavior.sigma", "behavior.repeated", *SECONDARY):
        pop.act[U[r]] = 0.92
    u = U["device.new_device_sensitive"]  # weeks of history before the new device
    pop.act[u] = np.maximum(pop.act[u], 0.7)
    pop.cnt[U["behavior.sigma"]] = 2
    pop.cnt[U["behavior.repeated"]] = 2
    pop.ping_p[U["geo.stable_commute"]] = 1.0
    pop.no_base_logins[U["behavior.outlier"]] = True
    u = U["geo.remote_logins"]
    nights = np.full(len(u), 3)
    dest = pick_city_at(rng, dist, pop.city[u], 150, 2000, same)
    set_trips(pop, ct, rng, u, dest, trip_days(rng, pop.start, D, nights), nights, cap=0)
    u = U["geo.away_from_home"]
    first, last = month_runs(pop.start, D)
    seg = np.argmax(last - first)  # the longest month inside the period
    length = last[seg] - first[seg] + 1
    nights = np.full(len(u), int(np.clip(round(0.42 * length), 3, 13)))
    day0 = first[seg] + rng.integers(1, max(2, length - nights[0] - 2), len(u))
    dest = pick_city_at(rng, dist, pop.city[u], 150, 2000, same)
    set_trips(pop, ct, rng, u, dest, day0, nights, cap=2)
    P = plan.par
    u = U["geo.impossible_travel"]
    far = pick_city_at(rng, dist, pop.city[u], 1200, 6000)
    P["geo.impossible_travel"] = {"city": far, "ip": draw_ips_by_country(rng, ct.cc[far], IP_MOBILE)}
    u = U["geo.cross_border_spend"]
    home_cc = ct.cc[pop.city[u]]
    cc = ABROAD[rng.integers(0, len(ABROAD), len(u))]
    cc = np.where(cc == home_cc, "TH", cc)
    P["geo.cross_border_spend"] = {"cc": cc, "ip": draw_ips_by_country(rng, cc, IP_FIXED)}
    u = U["device.bot_agent"]
    cloud = draw_ips(rng, IP_CLOUD["CN"], len(u))
    P["device.bot_agent"] = {"ip": np.where(ct.cc[pop.city[u]] == "CN", cloud, pop.home_ip[u]),
                             "ua": pr.bot_ua0 + rng.integers(0, len(pr.ua_strings) - pr.bot_ua0, len(u))}
    u = U["behavior.outlier"]
    P["behavior.outlier"] = {"ips": np.stack([draw_ips_by_country(rng, ct.cc[pop.city[u]], IP_MOBILE)
                                              for _ in range(30)], axis=1)}
    u = U["geo.residence_change"]
    a1 = rng.uniform(0, 2 * np.pi, len(u))
    a2 = a1 + rng.uniform(np.pi / 3, 5 * np.pi / 3, len(u))
    r1, r2 = rng.uniform(3, 8, len(u)), rng.uniform(3, 8, len(u))
    P["geo.residence_change"] = {
        "a": np.stack(offset_km(pop.home_lat[u], pop.home_lon[u], r1 * np.cos(a1), r1 * np.sin(a1)), 1),
        "b": np.stack(offset_km(pop.home_lat[u], pop.home_lon[u], r2 * np.cos(a2), r2 * np.sin(a2)), 1)}
    n = len(U["device.stable_main"])  # history spans in days: half +20 (180+), half +50 (2+ years)
    P["device.stable_main"] = {"span": np.where(rng.random(n) < 0.5, rng.integers(200, 320, n),
                                                rng.integers(760, 900, n))}
    P["geo.stable_commute"] = {"span": rng.integers(200, 320, len(U["geo.stable_commute"]))}
    P["device.shared"] = {"w0": ri(rng, 5, D - 32, len(U["device.shared"]) // 7)}
    _plan_spray(rng, pop, ct, plan)
    return plan


def ri(rng: np.random.Generator, lo: int, hi: int, n: int | tuple) -> np.ndarray:
    """Random integers in [lo, hi) (hi raised to lo+1 when the period is too short for the range)."""
    return rng.integers(lo, max(hi, lo + 1), n)


def _plan_spray(rng: np.random.Generator, pop: Population, ct: CityTable, plan: Plan) -> None:
    """One IP per attacker failing once on each of 12-18 distinct accounts within 45 minutes. Victims live in
    China, are not very active, are attacked during their daytime and near their usual hour of app use (so the
    odd event does not stand out in their behaviour), and carry no planted anomaly."""
    n_att, per = len(plan.spray_sizes), plan.spray_sizes
    cc = SPRAY_FROM[rng.integers(0, len(SPRAY_FROM), n_att)]
    ip = np.array([draw_ips(rng, (IP_CLOUD if c == "US" else IP_FIXED)[str(c)], 1)[0] for c in cc], np.uint32)
    day = rng.integers(1, pop.days - 1, n_att)
    pool = ~pop.labelled & (ct.cc[pop.city] == "CN") & (pop.cnt == 1)
    if pool.sum() < per.sum():
        raise ValueError(f"population of {pop.n} users is too small for {n_att} spray attackers")
    hour = np.clip(rng.choice(pop.habit[pool], n_att) - 0.4, 10.0, 17.5)  # local (UTC+8) start of each attack
    victims, t = [], []
    for a in range(n_att):  # loop over attackers: the free victims closest to the attack's hour
        gap = np.where(pool, np.abs(pop.habit - hour[a] - 0.4) + rng.random(pop.n) * 1e-6, np.inf)
        v = np.sort(np.argsort(gap)[: per[a]])
        pool[v] = False
        victims.append(v)
        t.append(np.datetime64(pop.start, "s").astype(np.int64) + day[a] * 86400 + int((hour[a] - 8) * 3600)
                 + np.sort(rng.integers(0, 2700, per[a])))
    plan.victims = np.concatenate(victims)
    plan.spray = {"victim": plan.victims, "t": np.concatenate(t), "ip": np.repeat(ip, per),
                  "ctry": np.repeat(np.array([ct.countries.index(c) for c in cc], np.int16), per), "attacker_ip": ip}


def legit_noise(rng: np.random.Generator, pop: Population, ct: CityTable) -> dict[str, np.ndarray]:
    """Trips, second devices, new phones and rare sensitive events for users with no planted anomaly."""
    free = np.flatnonzero(~pop.labelled)
    dist = city_distances(ct)
    same = ct.cc[:, None] == ct.cc[None, :]
    trip = free[(rng.random(len(free)) < 0.045) & (pop.cnt[free] <= 2)]
    nights = rng.integers(1, 4, len(trip))
    dest = pick_city_at(rng, dist, pop.city[trip], 300, 2500, same)
    set_trips(pop, ct, rng, trip, dest, trip_days(rng, pop.start, pop.days, nights), nights, cap=2)
    second = free[rng.random(len(free)) < 0.12]
    newp = free[rng.random(len(free)) < 0.03]
    new_day = rng.integers(20, max(21, pop.days - 10), len(newp))
    r = rng.random(len(free))
    sens = np.select([r < 0.02, r < 0.05, r < 0.06, r < 0.09], [4, 5, 6, 3], -1)
    pop.sens[free] = sens
    return {"trip": trip, "second": second, "new_phone": newp, "new_day": new_day}
