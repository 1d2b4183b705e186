"""Reference versions of the geo and behaviour rules (contract sections 3 and 5) on the true places."""
from __future__ import annotations

import numpy as np
import polars as pl

from .oracle import Data, km

HOME_KM = 50.0


def geo(d: Data) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    pos = d.positions().join(d.truth, on="user_id")
    pos = pos.with_columns(dh=km(pl.col("lat"), pl.col("lon"), pl.col("home_lat"), pl.col("home_lon")))
    s = pos.with_columns(dist=km(pl.col("lat"), pl.col("lon"), pl.col("lat").shift(1), pl.col("lon").shift(1)),
                         dt=(pl.col("ts") - pl.col("ts").shift(1)).dt.total_seconds() / 3600,
                         same=pl.col("user_id") == pl.col("user_id").shift(1))
    fast = s.filter(pl.col("same"), pl.col("dist") > 100, pl.col("dist") > 900 * pl.col("dt"))
    out["geo.impossible_travel"] = set(fast["user_id"])
    out["geo.away_from_home"] = set(pos.group_by("user_id", pl.col("local").dt.truncate("1mo").alias("m")).agg(
        n=pl.len(), home=(pl.col("dh") <= HOME_KM).mean()).filter(pl.col("n") >= 20, pl.col("home") < 0.8)["user_id"])
    out["geo.remote_logins"] = _remote(d)
    out["geo.commute_deviation"] = _commute(pos)
    out["geo.stable_commute"] = _stable_commute(pos)
    out["geo.residence_change"] = _residence(pos)
    big = d.logins.filter(pl.col("event").is_in(["payment", "withdraw"]), pl.col("amount") >= 10000).join(
        d.home.select("user_id", "home_cc"), on="user_id").filter(pl.col("country") != pl.col("home_cc"))
    from .oracle import _window_count
    out["geo.cross_border_spend"] = _window_count(big, "user_id", 86400, 5)
    return out


def _remote(d: Data) -> set[str]:
    lg = d.logins.filter(pl.col("event") == "login", pl.col("success")).join(d.home, on="user_id")
    home_city = d.logins.filter(pl.col("city").is_not_null()).group_by("user_id").agg(hc=pl.col("city").mode().first())
    lg = lg.join(home_city, on="user_id", how="left")
    far = km(pl.col("lat"), pl.col("lon"), pl.col("home_lat"), pl.col("home_lon")) > HOME_KM
    outside = (pl.when(pl.col("lat").is_not_null()).then(far)
               .when(pl.col("city").is_not_null()).then(pl.col("city") != pl.col("hc"))
               .when(pl.col("country").is_not_null()).then(pl.col("country") != pl.col("home_cc")).otherwise(False))
    m = lg.filter(outside).group_by("user_id", pl.col("local").dt.truncate("1mo")).len()
    return set(m.filter(pl.col("len") >= 3)["user_id"])


def _commute(pos: pl.DataFrame) -> set[str]:
    p = pos.filter(pl.col("work_lat").is_not_null(), pl.col("local").dt.weekday() <= 5)
    trip_days = p.filter(pl.col("dh") > HOME_KM).select("user_id", day=pl.col("local").dt.date()).unique()
    h = pl.col("local").dt.hour()
    p = p.filter((h >= 7) & (h < 10) | (h >= 17) & (h < 20)).with_columns(day=pl.col("local").dt.date())
    p = p.join(trip_days, on=["user_id", "day"], how="anti")
    D = km(pl.col("home_lat"), pl.col("home_lon"), pl.col("work_lat"), pl.col("work_lon"))
    detour = (km(pl.col("home_lat"), pl.col("home_lon"), pl.col("lat"), pl.col("lon"))
              + km(pl.col("lat"), pl.col("lon"), pl.col("work_lat"), pl.col("work_lon")) - D)
    return set(p.filter(detour / D > 0.15, detour > 1.0)["user_id"])


def _stable_commute(pos: pl.DataFrame) -> set[str]:
    p = pos.filter(pl.col("work_lat").is_not_null(), pl.col("local").dt.weekday() <= 5)
    at = (km(pl.col("lat"), pl.col("lon"), pl.col("work_lat"), pl.col("work_lon")) <= 0.2) & pl.col(
        "local").dt.hour().is_between(7, 9)
    days = p.group_by("user_id", day=pl.col("local").dt.date()).agg(at=at.any())
    g = days.group_by("user_id").agg(r=pl.col("at").mean(),
                                     span=(pl.col("day").max() - pl.col("day").min()).dt.total_days())
    return set(g.filter(pl.col("r") >= 0.8, pl.col("span") >= 182)["user_id"])


def _residence(pos: pl.DataFrame) -> set[str]:
    h = pl.col("local").dt.hour()
    night = pos.filter((h >= 22) | (h < 6)).with_columns(
        m=pl.col("local").dt.truncate("1mo"), night=(pl.col("local") - pl.duration(hours=12)).dt.date(),
        cell=pl.concat_str((pl.col("lat") / 0.002).round(0), (pl.col("lon") / 0.002).round(0), separator=","))
    months = night.group_by("user_id", "m").agg(n=pl.col("night").n_unique()).filter(pl.col("n") >= 10)
    cells = night.join(months, on=["user_id", "m"]).group_by("user_id", "m", "cell").agg(
        k=pl.len(), lat=pl.col("lat").mean(), lon=pl.col("lon").mean())
    homes = cells.sort("k", "cell", descending=[True, False]).group_by("user_id", "m").first().sort("user_id", "m")
    homes = homes.with_columns(
        prev=km(pl.col("lat"), pl.col("lon"), pl.col("lat").shift(1), pl.col("lon").shift(1)).over("user_id"),
        nxt=km(pl.col("lat"), pl.col("lon"), pl.col("lat").shift(-1), pl.col("lon").shift(-1)).over("user_id"))
    moves = homes.filter(pl.col("prev") > 1.0, pl.col("nxt") <= 1.0)
    g = moves.group_by("user_id").agg(n=pl.len(), span=(pl.col("m").max() - pl.col("m").min()).dt.total_days())
    return set(g.filter(pl.col("n") >= 2, pl.col("span") <= 365)["user_id"])


# sd floors of the default config (fraud/rules.toml, behavior.sigma min_sd_by_feature); 1 for counts; count
# features also c x sqrt(baseline mean) (sd_sqrt_floor_by_feature); night_share only on days with 4+ events
FLOORS = {"night_share": 0.2, "distance_km": 25.0, "top_speed_kmh": 50.0, "amount": 1000.0}
SQRT_FLOORS = {"events": 2.0, "logins": 2.0, "distinct_ips": 2.0, "distinct_devices": 2.0, "payments": 1.0}
MIN_EVENTS = {"night_share": 4}


def user_days(d: Data) -> pl.DataFrame:
    """The user-day feature table of contract section 5 (as documented in the README's behaviour table)."""
    hour = pl.col("local").dt.hour() + pl.col("local").dt.minute() / 60 + pl.col("local").dt.second() / 3600
    ev = d.logins.with_columns(day=pl.col("local").dt.date(), hour=hour,
                               pay=pl.col("event").is_in(["payment", "withdraw"]))
    ev = ev.with_columns(first_day=pl.col("day").min().over("user_id", "device_id"))
    known = lambda c: pl.when(pl.col(c).count() > 0).then(pl.col(c).drop_nulls().n_unique())  # noqa: E731
    days = ev.group_by("user_id", "day").agg(
        events=pl.len(), logins=((pl.col("event") == "login") & pl.col("success")).sum(),
        failures=((pl.col("event") == "login") & ~pl.col("success")).sum(), distinct_ips=known("ip"),
        distinct_devices=known("device_id"),
        new_devices=pl.when(pl.col("device_id").count() > 0).then(
            pl.col("device_id").filter(pl.col("first_day") == pl.col("day")).drop_nulls().n_unique()),
        distinct_countries=known("country"), distinct_cities=known("city"),
        night_share=((pl.col("hour") >= 22) | (pl.col("hour") < 6)).mean(),
        payments=pl.col("pay").sum(), amount=pl.col("amount").filter(pl.col("pay")).sum())
    pos = d.positions().with_columns(day=pl.col("local").dt.date()).sort("user_id", "ts")
    seg = pos.with_columns(
        km=km(pl.col("lat").shift(1), pl.col("lon").shift(1), pl.col("lat"), pl.col("lon")).over("user_id", "day"),
        h=((pl.col("ts") - pl.col("ts").shift(1)).dt.total_seconds() / 3600).over("user_id", "day"))
    pday = seg.group_by("user_id", "day").agg(distance_km=pl.col("km").sum(),
                                              top_speed_kmh=(pl.col("km") / pl.col("h").clip(5 / 60)).max())
    return days.join(pday, on=["user_id", "day"], how="left").sort("user_id", "day")


def behaviour(d: Data) -> dict[str, set[str]]:
    """behavior.sigma and behavior.repeated: |x - mean| / max(sd, floor) > 3 against the user's own active,
    unflagged days of the 30 before (population sd, at least 7 days), per feature."""
    days = user_days(d)
    feats = [c for c in days.columns if c not in ("user_id", "day")]
    floor = np.array([FLOORS.get(f, 1.0) for f in feats])
    sqrt_c = np.array([SQRT_FLOORS.get(f, 0.0) for f in feats])
    min_events = np.array([MIN_EVENTS.get(f, 0) for f in feats])
    i_events = feats.index("events")
    sigma, repeated = set(), set()
    for (u,), g in days.group_by("user_id"):
        day = g["day"].to_numpy().astype("datetime64[D]").astype(np.int64)
        x = g.select(feats).cast(pl.Float64).to_numpy()
        flagged = np.zeros(len(day), bool)
        for i in range(len(day)):
            base = (day >= day[i] - 30) & (day < day[i]) & ~flagged
            if base.sum() < 7:
                continue
            b = x[base]
            ok = ~np.isnan(b)
            n = ok.sum(0)
            mean = np.where(n > 0, np.nansum(b, 0) / np.maximum(n, 1), np.nan)
            sd = np.sqrt(np.maximum(np.nansum(b * b, 0) / np.maximum(n, 1) - mean ** 2, 0))
            z = np.abs(x[i] - mean) / np.maximum(np.maximum(sd, floor), sqrt_c * np.sqrt(np.maximum(mean, 0)))
            flagged[i] = bool(np.any((z > 3) & (n >= 7) & ~np.isnan(x[i]) & (x[i, i_events] >= min_events)))
        if flagged.any():
            sigma.add(u)
            fd = set(day[flagged])
            if any(t + 1 in fd and t + 2 in fd for t in fd):
                repeated.add(u)
    return {"behavior.sigma": sigma, "behavior.repeated": repeated}

