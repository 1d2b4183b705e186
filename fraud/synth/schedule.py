"""Daily routines and the position trace: where each user is at any local time, and the baseline rows.

A chunk of users gets day plans (n_users x days arrays): worker days with commute times, weekend outings,
trips. ``Chunk.pos`` answers "where is user u on local day d at second s" for whole arrays at once; pings
and logins both use it, so a login's lat/lon always agrees with the ping trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .cities import CityTable, Clock, haversine_km, offset_km
from .population import EV, NO_TRIP, DeviceTable, Population
from .useragents import Profiles

HOME, WORK, SEG, OUT, AWAY, TRANSIT = 0, 1, 2, 3, 4, -1
H = 3600.0
LOGIN_COLS = {"uid": pl.Int32, "t": pl.Int64, "ev": pl.Int8, "ok": pl.Boolean, "ip": pl.UInt32, "ua": pl.Int16,
              "dev": pl.Int32, "lat": pl.Float64, "lon": pl.Float64, "city": pl.Int16, "ctry": pl.Int16,
              "amount": pl.Float64, "zone": pl.Int16, "place": pl.Int8}
PING_COLS = {"uid": pl.Int32, "t": pl.Int64, "lat": pl.Float64, "lon": pl.Float64, "acc": pl.Float64,
             "zone": pl.Int16}


@dataclass
class Ctx:
    """Everything global a chunk needs."""

    pop: Population
    ct: CityTable
    pr: Profiles
    dev: DeviceTable
    clock: Clock
    start_local: int  # naive local epoch seconds of the start day's midnight
    main_dev: np.ndarray
    second_dev: np.ndarray
    new_dev: np.ndarray
    new_day: np.ndarray

    @property
    def days(self) -> int:
        return self.pop.days

    def weekday(self, d: np.ndarray) -> np.ndarray:
        """Local weekday (Mon=0) of day index ``d`` (negative = before the start)."""
        return np.mod(self.pop.start.weekday() + d, 7)

    def utc(self, uid: np.ndarray, d: np.ndarray, s: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of local day ``d`` second ``s`` in the home zone of users ``uid``."""
        local = self.start_local + d.astype(np.int64) * 86400 + np.asarray(s).astype(np.int64)
        return self.clock.to_utc(self.pop.zone[uid], local)


def login_frame(**cols) -> pl.DataFrame:
    """Internal login rows; omitted columns get their null value (-1 / NaN / 0 for ip)."""
    n = len(cols["uid"])
    defaults = {"ev": EV["login"], "ok": True, "ip": 0, "ua": -1, "dev": -1, "lat": np.nan, "lon": np.nan,
                "city": -1, "ctry": -1, "amount": np.nan, "zone": -1, "place": HOME}
    data = {k: np.broadcast_to(cols.get(k, defaults.get(k)), (n,)) for k in LOGIN_COLS}
    return pl.DataFrame({k: pl.Series(k, np.ascontiguousarray(v), dtype=LOGIN_COLS[k]) for k, v in data.items()})


def ping_frame(**cols) -> pl.DataFrame:
    """Internal ping rows."""
    return pl.DataFrame({k: pl.Series(k, np.ascontiguousarray(cols[k]), dtype=v) for k, v in PING_COLS.items()})


class Chunk:
    """Day plans of users ``lo..hi-1`` and their position function."""

    def __init__(self, ctx: Ctx, lo: int, hi: int, rng: np.random.Generator, detour_users: np.ndarray):
        self.ctx, self.lo, self.hi, self.n = ctx, lo, hi, hi - lo
        p, n, D = ctx.pop, hi - lo, ctx.days
        self.trip = p.trip_t[lo:hi]
        self.has_trip = self.trip[:, 0] > NO_TRIP
        d = np.arange(D)
        trip_day = (self.trip[:, :1] < (d + 1) * 86400) & (self.trip[:, 3:] > d * 86400)
        weekend = ctx.weekday(d) >= 5
        work = p.worker[lo:hi, None] & ~weekend[None, :] & ~trip_day & (rng.random((n, D)) >= 0.05)
        speed = rng.uniform(18, 30, n)
        dur = (np.nan_to_num(p.commute_km[lo:hi]) / speed * H + 300)[:, None] * rng.uniform(0.9, 1.15, (n, D))
        self.work = work
        self.quiet = np.zeros((n, D), bool)  # days whose ordinary events a plant replaces (set by plants)
        self.lam = rng.uniform(7.25 * H, 8.5 * H, (n, D))
        self.aam = self.lam + dur
        self.lpm = rng.uniform(17.25 * H, 18.7 * H, (n, D))
        self.apm = self.lpm + dur  # commute: leave / arrive, morning and evening (local s)
        wkend_out = weekend[None, :] & ~trip_day & (rng.random((n, D)) < 0.6)
        wkday_out = ~weekend[None, :] & ~work & ~trip_day & (rng.random((n, D)) < 0.3)
        os_ = np.where(wkend_out, rng.uniform(10 * H, 15 * H, (n, D)), rng.uniform(10.5 * H, 13.5 * H, (n, D)))
        oe = np.where(wkend_out, np.minimum(os_ + rng.uniform(1.5 * H, 5 * H, (n, D)), 21 * H),
                      np.minimum(os_ + rng.uniform(1 * H, 3 * H, (n, D)), 16.5 * H))
        out = wkend_out | wkday_out
        self.os, self.oe = np.where(out, os_, np.nan), np.where(out, oe, np.nan)
        fav = rng.integers(0, 3, (n, D))
        rd, ra = rng.uniform(1, 8, (n, D)), rng.uniform(0, 2 * np.pi, (n, D))
        rl, ro = offset_km(p.home_lat[lo:hi, None], p.home_lon[lo:hi, None], rd * np.cos(ra), rd * np.sin(ra))
        fl = np.take_along_axis(p.fav_lat[lo:hi], fav, 1)
        fo = np.take_along_axis(p.fav_lon[lo:hi], fav, 1)
        self.olat, self.olon = np.where(wkend_out, fl, rl), np.where(wkend_out, fo, ro)
        # getting there and back takes time (25 km/h): no jump from home to the outing place
        dist = haversine_km(p.home_lat[lo:hi, None], p.home_lon[lo:hi, None], self.olat, self.olon)
        self.ott = dist / 25.0 * H
        # users with a planted commute detour: one worker day whose morning route bends through a detour point
        self.detour_day = np.full(n, -1)
        mine = detour_users[(detour_users >= lo) & (detour_users < hi)] - lo
        key = np.where(work[mine] & (d >= 7), rng.random((len(mine), D)), -1.0)
        self.detour_day[mine] = np.where(key.max(1) > 0, key.argmax(1), -1)

    def pos(self, ui: np.ndarray, d: np.ndarray, s: np.ndarray, rng: np.random.Generator,
            jitter: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Position of chunk users ``ui`` on local day ``d`` at local second ``s``: lat, lon, place, city id.

        Days outside the period are spent at home. place is HOME/WORK/SEG/OUT/AWAY, or TRANSIT (no position)."""
        p, D = self.ctx.pop, self.ctx.days
        u = ui + self.lo
        inb = (d >= 0) & (d < D)
        flat = ui.astype(np.int64) * D + np.clip(d, 0, D - 1)
        lat, lon = p.home_lat[u], p.home_lon[u]
        place = np.zeros(len(ui), np.int8)
        city = p.city[u].astype(np.int16)
        w = np.flatnonzero(self.work.ravel()[flat] & inb)  # rows on a worker day
        fw, sw, uw = flat[w], s[w], u[w]
        lam, aam, lpm, apm = (a.ravel()[fw] for a in (self.lam, self.aam, self.lpm, self.apm))
        hl, ho, wl, wo = p.home_lat[uw], p.home_lon[uw], p.work_lat[uw], p.work_lon[uw]
        f = np.clip(np.where(sw < lpm, (sw - lam) / (aam - lam), (apm - sw) / (apm - lpm)), 0, 1)
        seg = ((sw >= lam) & (sw < aam)) | ((sw >= lpm) & (sw < apm))
        at = (sw >= aam) & (sw < lpm)
        f = np.where(at, 1.0, np.where(seg, f, 0.0))
        lat[w], lon[w] = hl + f * (wl - hl), ho + f * (wo - ho)
        place[w[seg]], place[w[at]] = SEG, WORK
        tt = self.ott.ravel()[flat]
        o = np.flatnonzero(inb & (s >= self.os.ravel()[flat] - tt) & (s < self.oe.ravel()[flat] + tt))
        fo, so, tto = flat[o], s[o], tt[o]
        f = np.clip(np.minimum((so - self.os.ravel()[fo] + tto) / tto, (self.oe.ravel()[fo] + tto - so) / tto), 0, 1)
        lat[o] = lat[o] + f * (self.olat.ravel()[fo] - lat[o])
        lon[o] = lon[o] + f * (self.olon.ravel()[fo] - lon[o])
        place[o] = OUT
        dt = np.flatnonzero(inb & (self.detour_day[ui] == d))  # the detour morning: positions only at the ping
        place[dt[(s[dt] >= self.lam.ravel()[flat[dt]]) & (s[dt] < self.aam.ravel()[flat[dt]])]] = TRANSIT
        t = np.flatnonzero(self.has_trip[ui])  # rows of users with a trip
        if len(t):
            T = d[t].astype(np.int64) * 86400 + s[t].astype(np.int64)
            tr = self.trip[ui[t]]
            away = (T >= tr[:, 1]) & (T < tr[:, 2])
            transit = ((T >= tr[:, 0]) & (T < tr[:, 1])) | ((T >= tr[:, 2]) & (T < tr[:, 3]))
            a = t[away]
            lat[a], lon[a], city[a], place[a] = p.trip_lat[u[a]], p.trip_lon[u[a]], p.trip_city[u[a]], AWAY
            place[t[transit]] = TRANSIT
        if jitter:
            sd = np.where(place == SEG, 0.008, np.where(place == OUT, 0.020, 0.012))
            lat, lon = offset_km(lat, lon, rng.normal(0, 1, len(ui)) * sd, rng.normal(0, 1, len(ui)) * sd)
        return lat, lon, place, city

    def daytime(self, rng: np.random.Generator, ui: np.ndarray) -> np.ndarray:
        """Local clock times (s) of app use for chunk users ``ui``: within 2.2 h of each user's habitual hour
        (a smooth bell, sd 0.9 h), never at night, so a user's days look alike."""
        c = self.ctx.pop.habit[ui + self.lo]
        return np.clip(c + 2.2 * (2 * rng.beta(2.5, 2.5, len(ui)) - 1), 6.5, 21.8) * H


def repeat_days(mask_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand an (n, D) count array to (ui, d) index arrays, one entry per count."""
    flat = mask_counts.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    return idx // mask_counts.shape[1], idx % mask_counts.shape[1]


def baseline_pings(ch: Chunk, rng: np.random.Generator) -> pl.DataFrame:
    """Location pings of the chunk's users over the period (nights, commutes, work, weekends, trips)."""
    ctx, n, D = ch.ctx, ch.n, ch.ctx.days
    day = rng.random((n, D)) < ctx.pop.ping_p[ch.lo:ch.hi, None]
    parts = []
    ui, d = repeat_days(day * (1 + (rng.random((n, D)) < 0.6)))
    parts.append((ui, d, rng.uniform(0, 6 * H, len(ui))))
    ui, d = repeat_days(day * (rng.random((n, D)) < 0.5))
    parts.append((ui, d, rng.uniform(22 * H, 23.95 * H, len(ui))))
    wd = day & ch.work
    ui, d = repeat_days(wd.astype(np.int64))
    parts.append((ui, d, ch.aam[ui, d] + rng.uniform(120, 1200, len(ui))))
    for a, b in ((ch.lam, ch.aam), (ch.lpm, ch.apm)):
        parts.append((ui, d, a[ui, d] + rng.uniform(0.15, 0.85, len(ui)) * (b[ui, d] - a[ui, d])))
    a, b = np.maximum(ch.aam[ui, d], 9 * H), np.minimum(ch.lpm[ui, d], 17 * H)
    parts.append((ui, d, a + rng.random(len(ui)) * (b - a)))
    ui, d = repeat_days((day & ~ch.work) * rng.integers(1, 3, (n, D)))
    parts.append((ui, d, rng.uniform(9 * H, 21.5 * H, len(ui))))
    ui, d, s = (np.concatenate(x) for x in zip(*parts, strict=True))
    return ping_rows(ch, ui, d, s, rng)


def ping_rows(ch: Chunk, ui: np.ndarray, d: np.ndarray, s: np.ndarray, rng: np.random.Generator,
              lat: np.ndarray | None = None, lon: np.ndarray | None = None, force: bool = False) -> pl.DataFrame:
    """Ping rows at the plan position (or at the given lat/lon); transit times are dropped unless ``force``."""
    s = np.floor(s)
    plat, plon, place, city = ch.pos(ui, d, s, rng)
    if lat is not None:
        plat, plon = lat, lon
    keep = (place != TRANSIT) | force
    uid = ui + ch.lo
    zone = np.where(rng.random(len(ui)) < 0.03, -1, ch.ctx.ct.zone[city])
    acc = np.round(rng.uniform(5, 60, len(ui)), 1)
    t = ch.ctx.utc(uid, d, s)
    return ping_frame(uid=uid[keep], t=t[keep], lat=plat[keep], lon=plon[keep], acc=acc[keep], zone=zone[keep])
