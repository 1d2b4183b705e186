"""Account events (logins, payments, ...) of ordinary days, built on the position trace of ``schedule``."""
from __future__ import annotations

import numpy as np
import polars as pl

from .population import EV, SENSITIVE
from .schedule import AWAY, HOME, TRANSIT, WORK, Chunk, login_frame, repeat_days

SERVER_SIDE = [EV["payment"], EV["withdraw"]]  # logged by the payment backend, in UTC


def event_rows(ch: Chunk, ui: np.ndarray, d: np.ndarray, s: np.ndarray, rng: np.random.Generator, dev: np.ndarray,
               ev: np.ndarray | int = EV["login"], ok: np.ndarray | bool = True, amount: np.ndarray | float = np.nan,
               ip: np.ndarray | None = None, gps: bool = True, gps_drop: float = 0.03,
               at: tuple[np.ndarray, ...] | None = None) -> pl.DataFrame:
    """Events of chunk users ``ui`` at local day ``d`` / second ``s`` from device ``dev`` at their plan position.

    Desktop devices (and ``gps=False``, and a share ``gps_drop`` of phone events) carry no lat/lon but keep
    the city/country an upstream GeoIP lookup would give. The IP follows the place: home broadband or office
    line, else the day's mobile address, sometimes hotel Wi-Fi on trips. Transit rows are kept with place
    TRANSIT; the caller drops them. ``at`` is an already computed ``ch.pos`` result for these rows."""
    ctx, p = ch.ctx, ch.ctx.pop
    s = np.floor(s).astype(np.int64)
    u = ui + ch.lo
    lat, lon, place, city = ch.pos(ui, d, s, rng) if at is None else at
    m = len(ui)
    dev = np.broadcast_to(dev, (m,))
    desk = ctx.pr.kind[ctx.dev.profile[dev]] == "desktop"
    if ip is None:
        r = rng.random(m)
        ip = p.mob_ip[u, (d + u) % 3]  # one mobile address a day
        ip = np.where((place == HOME) & ((r < 0.7) | desk), p.home_ip[u], ip)
        ip = np.where((place == WORK) & ((r < 0.6) | desk), p.work_ip[u], ip)
        ip = np.where((place == AWAY) & (r < 0.4), p.trip_ip[u], ip)
    nogps = desk | (rng.random(m) < gps_drop) | (not gps)
    ev = np.broadcast_to(np.asarray(ev, np.int8), (m,))
    zone = np.where(np.isin(ev, SERVER_SIDE), -1, ctx.ct.zone[city])
    return login_frame(uid=u, t=ctx.utc(u, d, s), ev=ev, ok=ok, ip=ip, ua=ctx.dev.ua[dev], dev=dev,
                       lat=np.where(nogps, np.nan, lat), lon=np.where(nogps, np.nan, lon), city=city,
                       ctry=ctx.ct.country[city], amount=amount, zone=zone, place=place)


def current_device(ch: Chunk, ui: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The user's main phone on day ``d`` (the replacement phone from its first day on)."""
    u = ui + ch.lo
    nd = ch.ctx.new_day[u]
    return np.where((nd >= 0) & (d >= nd), ch.ctx.new_dev[u], ch.ctx.main_dev[u])


def rank_in_group(group: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """1-based running count of ``flag`` within runs of equal ``group`` (group must be sorted)."""
    c = np.cumsum(flag)
    start = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(group)]))
    before = np.where(first > 0, c[first - 1], 0)
    return c - before


def baseline_logins(ch: Chunk, rng: np.random.Generator) -> pl.DataFrame:
    """Ordinary account events. On an active day a user signs in cnt-1..cnt+1 times (at least once) and does at
    most one more thing: pay (22% of days), log out (6%) or fail a sign-in and retry it 20-90 s later (2%), so a
    day's counts never stray far from the user's usual ones. A few users have one legitimate sensitive event."""
    ctx, p, n, D = ch.ctx, ch.ctx.pop, ch.n, ch.ctx.days
    lo, hi = ch.lo, ch.hi
    active = (rng.random((n, D)) < p.act[lo:hi, None]) & ~p.no_base_logins[lo:hi, None] & ~ch.quiet
    logins = np.clip(p.cnt[lo:hi, None] + rng.integers(-1, 2, (n, D)), 1, 6)
    x = rng.random((n, D))  # one extra at most: a payment, a logout or a failed sign-in retried
    pay, out, fail = x < 0.22, (x >= 0.22) & (x < 0.28), (x >= 0.28) & (x < 0.30)
    ui, d = repeat_days((logins + pay + out) * active)
    s = ch.daytime(rng, ui)
    order = np.argsort((ui.astype(np.int64) * D + d) * 100000.0 + s)
    ui, d, s = ui[order], d[order], np.floor(s[order])
    # within a day: the first rows are the logins, then the payment, then the logout (times stay shuffled)
    group = ui.astype(np.int64) * D + d
    k = rank_in_group(group, np.ones(len(ui), bool))
    nl = logins[ui, d]
    ev = np.where(k <= nl, EV["login"], np.where((k == nl + 1) & pay[ui, d], EV["payment"], EV["logout"]))
    ok = ~((k == 1) & fail[ui, d])
    u = ui + lo
    amount = np.where(ev == EV["payment"], np.clip(np.round(p.pay_scale[u] * rng.lognormal(0, 0.5, len(ui)), 2), 5,
                                                    2000), np.nan)
    dev = current_device(ch, ui, d)
    at = ch.pos(ui, d, s, rng)
    sec = ctx.second_dev[u]
    dev = np.where((sec >= 0) & np.isin(at[2], [HOME, WORK]) & (rng.random(len(ui)) < 0.3), sec, dev)
    df = event_rows(ch, ui, d, s, rng, dev, ev=ev.astype(np.int8), ok=ok, amount=amount, at=at)
    retry = df.filter(~pl.col("ok")).with_columns(pl.col("t") + pl.Series(rng.integers(20, 90, int((~ok).sum()))),
                                                  ok=True)
    df = pl.concat([df, retry]).filter(pl.col("place") != TRANSIT)
    df = _legit_sensitive(ch, df, rng)
    return _cap_away_logins(ch, df)


def _legit_sensitive(ch: Chunk, df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Turn one ordinary login of users with ``pop.sens`` into that sensitive event, unless it falls within 24 h
    after a device's first sign-in (that would be a new-device finding, which ordinary users must not get)."""
    sens = ch.ctx.pop.sens
    df = df.with_columns(key=pl.Series(rng.random(df.height)))
    cand = (pl.col("ev") == EV["login"]) & pl.col("ok") & pl.Series(sens[df["uid"].to_numpy()] >= 0)
    first = df.filter(pl.col("ev") == EV["login"], pl.col("ok")).group_by("uid", "dev").agg(tf=pl.col("t").min())
    first = first.filter(pl.col("tf") > pl.col("tf").min().over("uid"))
    pick = df.with_row_index("row").filter(cand).sort("key").group_by("uid", maintain_order=True).first()
    bad = pick.join(first, on="uid").filter((pl.col("t") >= pl.col("tf")) & (pl.col("t") <= pl.col("tf") + 86400))
    pick = pick.filter(~pl.col("row").is_in(bad["row"].implode()))
    code = sens[pick["uid"].to_numpy()]
    amt = np.where(code == EV["withdraw"], np.round(rng.uniform(100, 2000, pick.height), 2), np.nan)
    upd = pl.DataFrame({"row": pick["row"], "ev_new": pl.Series(code, dtype=pl.Int8), "amt_new": amt})
    df = df.with_row_index("row").join(upd, on="row", how="left", maintain_order="left")
    df = df.with_columns(ev=pl.coalesce("ev_new", "ev"), amount=pl.coalesce(pl.col("amt_new").fill_nan(None), "amount"),
                         zone=pl.when(pl.col("ev_new") == EV["withdraw"]).then(-1).otherwise("zone").cast(pl.Int16))
    assert all(c in SENSITIVE for c in np.unique(code))
    return df.drop("row", "ev_new", "amt_new", "key")


def _cap_away_logins(ch: Chunk, df: pl.DataFrame) -> pl.DataFrame:
    """Users with a ``trip_cap`` (one trip, inside one calendar month) keep only that many ordinary successful
    logins while away: an ordinary trip must not look like repeated remote logins."""
    cap = ch.ctx.pop.trip_cap
    if not (cap[ch.lo:ch.hi] >= 0).any():
        return df
    df = df.sort("uid", "t", maintain_order=True)
    c = pl.Series(cap[df["uid"].to_numpy()])
    away = (pl.col("place") == AWAY) & (pl.col("ev") == EV["login"]) & pl.col("ok") & (c >= 0)
    df = df.with_columns(a=away)
    rank = pl.col("a").cast(pl.Int32).cum_sum().over("uid")
    return df.filter(~pl.col("a") | (rank <= c)).drop("a")
