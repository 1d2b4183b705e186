"""Rows of the planted anomalies for the users of one chunk (see the package docstring for what each is)."""
from __future__ import annotations

import numpy as np
import polars as pl

from .cities import KM_PER_DEG, offset_km
from .events import current_device, event_rows
from .plans import Plan, ri
from .population import EV, SENSITIVE
from .schedule import H, Chunk, login_frame, ping_rows

Rows = tuple[list[pl.DataFrame], list[pl.DataFrame]]


def _mine(ch: Chunk, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of ``users`` inside the chunk and their chunk-local indices."""
    m = (users >= ch.lo) & (users < ch.hi)
    return m, users[m] - ch.lo


def _days(rng: np.random.Generator, n: int, k: int, lo: int, hi: int) -> np.ndarray:
    """``k`` distinct sorted day indices in [lo, hi) per row, shape (n, k)."""
    span = max(hi - lo, k)
    return np.sort(np.argsort(rng.random((n, span)), axis=1)[:, :k], axis=1) + lo


def _beh_lo(ch: Chunk) -> int:
    """First day on which a behaviour baseline (7 active days in the 30 before) surely exists."""
    return min(40, max(10, ch.ctx.days // 2))


def _fingerprint(ch: Chunk, plan: Plan, rng: np.random.Generator) -> Rows:
    ctx, U, P, D = ch.ctx, plan.users, plan.par, ch.ctx.days
    p, out = ctx.pop, []
    m, ui = _mine(ch, U["device.emulator"])  # emulator used on 4 days, from the home line, no GPS
    d = _days(rng, len(ui), 4, 10, D - 1)
    ui4 = np.repeat(ui, 4)
    out.append(event_rows(ch, ui4, d.ravel(), ch.daytime(rng, ui4), rng,
                          np.repeat(P["device.emulator"]["dev"][m], 4), ip=p.home_ip[ui4 + ch.lo], gps=False))
    m, ui = _mine(ch, U["device.bot_agent"])  # one scripted login on 4 days, no device id
    ui4, d = np.repeat(ui, 4), _days(rng, len(ui), 4, 5, D - 1).ravel()
    u = ui4 + ch.lo
    out.append(login_frame(uid=u, t=ctx.utc(u, d, ch.daytime(rng, ui4).astype(np.int64)),
                           ip=np.repeat(P["device.bot_agent"]["ip"][m], 4),
                           ua=np.repeat(P["device.bot_agent"]["ua"][m], 4),
                           ctry=p.country[u]))
    m, ui = _mine(ch, U["device.many_devices"])  # 4 extra phones, each signing in on 2 of 8 days within 20
    w0 = ri(rng, 10, D - 22, len(ui))
    d = (w0[:, None] + _days(rng, len(ui), 8, 0, 19)).ravel()  # 8 distinct days: 4 first uses, then 4 second
    dev = np.tile(P["device.many_devices"]["dev"][m], 2).ravel()
    ui8 = np.repeat(ui, 8)
    out.append(event_rows(ch, ui8, d, ch.daytime(rng, ui8), rng, dev))
    m, ui = _mine(ch, U["device.shared"])  # farm phone: each of its 7 accounts signs in twice within 4 weeks
    farm = np.flatnonzero(m) // 7
    sh = P["device.shared"]
    d = (sh["w0"][farm][:, None] + _days(rng, len(ui), 2, 0, 28)).ravel()
    ui2 = np.repeat(ui, 2)
    u, fd = ui2 + ch.lo, np.repeat(sh["dev"][farm], 2)
    out.append(login_frame(uid=u, t=ctx.utc(u, d, ch.daytime(rng, ui2).astype(np.int64)), ip=np.repeat(
        sh["ip"][farm], 2), ua=ctx.dev.ua[fd], dev=fd, ctry=ctx.ct.countries.index("CN"),
        zone=ctx.ct.zones.index("Asia/Shanghai")))
    m, ui = _mine(ch, U["device.new_device_sensitive"])  # new phone, sensitive event 10-60 min after sign-in
    d, s = ri(rng, 28, D - 2, len(ui)), np.minimum(ch.daytime(rng, ui), 19.9 * H)
    ch.quiet[ui, d] = True  # the sign-in and the sensitive event are that day's only events
    dev = P["device.new_device_sensitive"]["dev"][m]
    ev = rng.choice(SENSITIVE, len(ui)).astype(np.int8)
    amt = np.where(ev == EV["withdraw"], np.round(rng.uniform(500, 2000, len(ui)), 2), np.nan)
    out += [event_rows(ch, ui, d, s, rng, dev, gps_drop=0),
            event_rows(ch, ui, d, s + rng.uniform(600, 3600, len(ui)), rng, dev, ev=ev, amount=amt, gps_drop=0),
            event_rows(ch, ui, d + 1, ch.daytime(rng, ui), rng, dev)]
    m, ui = _mine(ch, U["account.password_churn"])  # 4 password changes on distinct days within 7 weeks
    span = min(49, D - 6)
    d = (ri(rng, 3, D - span - 1, len(ui))[:, None] + _days(rng, len(ui), 4, 0, span)).ravel()
    ui4 = np.repeat(ui, 4)
    ch.quiet[ui4, d] = True  # a day with just the password change
    out.append(event_rows(ch, ui4, d, ch.daytime(rng, ui4), rng, current_device(ch, ui4, d),
                          ev=EV["password_change"]))
    m, ui = _mine(ch, U["account.login_failures"])  # 6 failures within 5 min, then a success
    d, s0 = ri(rng, _beh_lo(ch), D - 2, len(ui)), np.minimum(ch.daytime(rng, ui), 21.3 * H)
    s = s0[:, None] + np.cumsum(rng.uniform(25, 50, (len(ui), 7)), 1)
    s[:, 6] += rng.uniform(60, 180, len(ui))
    ui7 = np.repeat(ui, 7)
    out.append(event_rows(ch, ui7, np.repeat(d, 7), s.ravel(), rng, current_device(ch, ui7, np.repeat(d, 7)),
                          ok=np.tile(np.arange(7) == 6, len(ui)), ip=p.home_ip[ui7 + ch.lo], gps_drop=0))
    sp = plan.spray  # one failed login per victim from the attacker's IP
    m, ui = _mine(ch, sp["victim"])
    out.append(login_frame(uid=ui + ch.lo, t=sp["t"][m], ok=False, ip=sp["ip"][m], ua=ctx.pr.of_kind("desktop")[0],
                           ctry=sp["ctry"][m]))
    m, ui = _mine(ch, U["device.stable_main"])  # main phone history: a sign-in every 4-14 days since -span
    span = P["device.stable_main"]["span"][m]
    gaps = np.concatenate([np.zeros((len(ui), 1), int), rng.integers(4, 15, (len(ui), 240))], 1).cumsum(1)
    d = -span[:, None] + gaps
    keep = d < 0
    uih = np.broadcast_to(ui[:, None], d.shape)[keep]
    out.append(event_rows(ch, uih, d[keep], ch.daytime(rng, uih), rng, ctx.main_dev[uih + ch.lo]))
    return out, []


def _geo(ch: Chunk, plan: Plan, rng: np.random.Generator) -> Rows:
    ctx, U, P, D = ch.ctx, plan.users, plan.par, ch.ctx.days
    p, ct, logins, pings = ctx.pop, ctx.ct, [], []
    m, ui = _mine(ch, U["geo.impossible_travel"])  # far login between two local positions, 20-40 min apart
    d, s = ri(rng, _beh_lo(ch), D - 2, len(ui)), np.clip(ch.daytime(rng, ui), 7 * H, 21 * H).astype(np.int64)
    far, u = P["geo.impossible_travel"]["city"][m], ui + ch.lo
    dev = P["geo.impossible_travel"]["dev"][m]
    ang, r = rng.uniform(0, 2 * np.pi, len(ui)), rng.uniform(1, 3, len(ui))
    flat, flon = offset_km(ct.lat[far], ct.lon[far], r * np.cos(ang), r * np.sin(ang))
    logins += [event_rows(ch, ui, d, s - rng.integers(1200, 2400, len(ui)), rng, ctx.main_dev[u], gps_drop=0),
               login_frame(uid=u, t=ctx.utc(u, d, s), ip=P["geo.impossible_travel"]["ip"][m], ua=ctx.dev.ua[dev],
                           dev=dev, lat=flat, lon=flon, city=far, ctry=ct.country[far], zone=ct.zone[far])]
    pings.append(ping_rows(ch, ui, d, s + rng.integers(1200, 2400, len(ui)), rng))  # (kept unless in transit)
    m, ui = _mine(ch, U["geo.remote_logins"])  # 4 logins over the 3 days of a 3-night trip (instead of usual ones)
    a = p.trip_t[ui + ch.lo, 1] // 86400
    ui4 = np.repeat(ui, 4)
    d = np.repeat(a, 4) + np.tile([0, 1, 1, 2], len(ui))
    s = np.where(np.tile([True, False, False, False], len(ui)), np.maximum(ch.daytime(rng, ui4), 9.5 * H),
                 ch.daytime(rng, ui4))
    logins.append(event_rows(ch, ui4, d, s, rng, ctx.main_dev[ui4 + ch.lo], gps_drop=0))
    m, ui = _mine(ch, U["geo.commute_deviation"])  # the morning route bends through a point 30-60% off
    ui = ui[ch.detour_day[ui] >= 0]
    d = ch.detour_day[ui]
    u = ui + ch.lo
    hl, ho, wl, wo = p.home_lat[u], p.home_lon[u], p.work_lat[u], p.work_lon[u]
    vn, ve = (wl - hl) * KM_PER_DEG, (wo - ho) * KM_PER_DEG * np.cos(np.radians(hl))
    dk = np.hypot(vn, ve)
    dev = np.maximum(rng.uniform(0.3, 0.6, len(ui)), 1.5 / dk)
    hgt = dk / 2 * np.sqrt((1 + dev) ** 2 - 1) * rng.choice([-1, 1], len(ui))
    plat, plon = offset_km(hl, ho, vn / 2 - hgt * ve / dk, ve / 2 + hgt * vn / dk)
    # the point is equidistant from home and work: reached half-way through the trip
    s = (ch.lam[ui, d] + ch.aam[ui, d]) / 2
    pings.append(ping_rows(ch, ui, d, s, rng, lat=plat, lon=plon, force=True))
    pings += _history_pings(ch, plan, rng)
    m, ui = _mine(ch, U["geo.cross_border_spend"])  # 6 big payments/withdrawals abroad within 10 h
    d, s0 = ri(rng, _beh_lo(ch), D - 2, len(ui)), rng.uniform(9 * H, 11 * H, len(ui))
    s = (s0[:, None] + np.sort(rng.uniform(0, 10 * H, (len(ui), 6)), 1)).astype(np.int64).ravel()
    u6, d6 = np.repeat(ui, 6) + ch.lo, np.repeat(d, 6)
    ev = np.where(rng.random(u6.size) < 0.75, EV["payment"], EV["withdraw"])
    cc = P["geo.cross_border_spend"]["cc"][m]
    logins.append(login_frame(uid=u6, t=ctx.utc(u6, d6, s), ev=ev,
                              ip=np.repeat(P["geo.cross_border_spend"]["ip"][m], 6),
                              ua=ctx.pr.of_kind("desktop")[0], ctry=np.repeat([ct.countries.index(c) for c in cc], 6),
                              amount=np.round(rng.uniform(12000, 50000, u6.size), 2)))
    return logins, pings


def _history_pings(ch: Chunk, plan: Plan, rng: np.random.Generator) -> list[pl.DataFrame]:
    """Older position history: stable commuters (work arrival on 92% of weekdays) and home movers."""
    ctx, U, P = ch.ctx, plan.users, plan.par
    p, out = ctx.pop, []
    m, ui = _mine(ch, U["geo.stable_commute"])
    span = P["geo.stable_commute"]["span"][m]
    d = -np.arange(1, 321)[None, :].repeat(len(ui), 0)
    live = d >= -span[:, None]
    work = live & (ctx.weekday(d) < 5) & (rng.random(d.shape) < 0.92)
    night = live & (rng.random(d.shape) < 0.6)
    u = np.broadcast_to(ui[:, None], d.shape)
    for mask, lat, lon, lo, hi in ((work, p.work_lat, p.work_lon, 8, 9.6), (night, p.home_lat, p.home_lon, 0, 5)):
        uu, dd = u[mask], d[mask]
        jl, jo = offset_km(lat[uu + ch.lo], lon[uu + ch.lo], rng.normal(0, 0.012, uu.size),
                           rng.normal(0, 0.012, uu.size))
        out.append(ping_rows(ch, uu, dd, rng.uniform(lo * H, hi * H, uu.size), rng, lat=jl, lon=jo))
    m, ui = _mine(ch, U["geo.residence_change"])  # nights at home A, then B, then the current home
    d = -np.arange(1, 331)[None, :].repeat(len(ui), 0)
    k = (rng.random(d.shape) < 0.65) * (1 + (rng.random(d.shape) < 0.4))
    idx = np.repeat(np.arange(d.size), k.ravel())
    uu, dd, row = np.repeat(ui, d.shape[1])[idx], d.ravel()[idx], np.repeat(np.flatnonzero(m), d.shape[1])[idx]
    rc = P["geo.residence_change"]
    lat = np.select([dd < -220, dd < -110], [rc["a"][row, 0], rc["b"][row, 0]], p.home_lat[uu + ch.lo])
    lon = np.select([dd < -220, dd < -110], [rc["a"][row, 1], rc["b"][row, 1]], p.home_lon[uu + ch.lo])
    lat, lon = offset_km(lat, lon, rng.normal(0, 0.012, uu.size), rng.normal(0, 0.012, uu.size))
    out.append(ping_rows(ch, uu, dd, rng.uniform(0, 5 * H, uu.size), rng, lat=lat, lon=lon))
    return out


def _behaviour(ch: Chunk, plan: Plan, rng: np.random.Generator) -> Rows:
    ctx, U, P, D = ch.ctx, plan.users, plan.par, ch.ctx.days
    p, out = ctx.pop, []
    for rule, n_days in (("behavior.sigma", 1), ("behavior.repeated", 3)):  # spikes of 35-43 events a day
        m, ui = _mine(ch, U[rule])
        d0 = ri(rng, _beh_lo(ch), D - 2 - n_days, len(ui))
        ui_d = np.repeat(ui, n_days)
        d = np.repeat(d0, n_days) + np.tile(np.arange(n_days), len(ui))
        k = rng.integers(35, 44, ui_d.size)
        uu, dd = np.repeat(ui_d, k), np.repeat(d, k)
        pay = rng.random(uu.size) < 0.16
        amt = np.where(pay, np.clip(np.round(p.pay_scale[uu + ch.lo] * rng.lognormal(0, 0.5, uu.size), 2), 5, 2000),
                       np.nan)
        out.append(event_rows(ch, uu, dd, ch.daytime(rng, uu), rng, current_device(ch, uu, dd),
                              ev=np.where(pay, EV["payment"], EV["login"]), amount=amt))
    m, ui = _mine(ch, U["behavior.outlier"])  # every day 12-14 events, 2 payments of ~5,000, 4 of 30 IPs a day
    k = rng.integers(12, 15, (len(ui), D))
    idx = np.repeat(np.arange(len(ui) * D), k.ravel())
    r, d = idx // D, idx % D
    j = np.arange(idx.size) - np.repeat(np.cumsum(k.ravel()) - k.ravel(), k.ravel())
    ips = P["behavior.outlier"]["ips"][np.flatnonzero(m)[r], (4 * d + j % 4) % 30]
    amt = np.where(j < 2, np.round(5000 * rng.uniform(0.98, 1.02, idx.size), 2), np.nan)
    out.append(event_rows(ch, ui[r], d, ch.daytime(rng, ui[r]), rng, ctx.main_dev[ui[r] + ch.lo],
                          ev=np.where(j < 2, EV["payment"], EV["login"]), amount=amt, ip=ips))
    return out, []


def plant_rows(ch: Chunk, plan: Plan, rng: np.random.Generator) -> Rows:
    """All planted rows (logins, pings) of the chunk's users."""
    logins, pings = [], []
    for fn in (_fingerprint, _geo, _behaviour):
        a, b = fn(ch, plan, rng)
        logins += a
        pings += b
    return logins, pings

