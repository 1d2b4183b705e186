"""Deterministic synthetic data set with ground truth.

``generate(out_dir, users=2000, seed=7, days=90, start="2024-03-04", fmt="csv") -> dict`` writes
``logins``, ``devices``, ``locations``, ``scores`` (``.csv`` or ``.parquet``, contract section 1 columns; ts are
ISO 8601 with offset), ``labels.csv`` (``user_id,rule,ip``), ``truth_places.csv`` (true zone, home, work) and
``meta.json`` (args, expected_rejected_rows, counts), and returns the counts. Same arguments, same bytes.

Population. Users live in ~40 embedded real cities (mostly China; Hong Kong, Taipei, Singapore, Tokyo,
Seoul, London, New York, ... with their DST); home and work (80% of users) are 3-15 km apart in the same
city. Pings: 1-2 at night (00-06) and often one at 22-24 on 80% of days, a work-arrival ping, one ping on
each commute leg (straight home-work segment, 07-10 and 17-20), a work ping, 1-2 daytime pings on other
days; weekend (and some weekday, 10:30-16:30) outings to places < 20 km away, reached at 25 km/h. Accuracy
5-60 m, jitter 10-20 m. Logins happen around each user's habitual hour (+-2.2 h, never 22-06): cnt-1..cnt+1
sign-ins on 35-90% of days, plus at most one of payment (5-2,000) / logout / failed sign-in retried; each
carries the position of the trace at that time, a home, office (shared by ~20 colleagues) or mobile IPv4 of
the user's country, the device's real UA, country and city. Desktop browsers send no lat/lon. Payments and
withdrawals are logged in UTC, everything else in the local offset of where it happened.

Legitimate noise (no label, must not fire): ~3.5% one trip (overnight train/red-eye, 1-3 nights in another
city, <= 2 sign-ins away); 12% a second device (desktop 75%); 3% a new phone mid-period (no sensitive event
within 24 h); single failed logins; rare password_change/bind_card/phone_change/withdraw (<= 2,000);
40% of devices locked; OS updates between snapshots; 6% registered in another city; spray victims.

Planted (each into its own users, ~1% of users and at least 5; planted users sign in about once a day):
- device.emulator: an emulator device (model sdk_gphone64_x86_64 / Android SDK built for x86, its UA) on 4 days;
  2/3 also report is_emulator. device.rooted: the main phone reports is_rooted or has_hook in every snapshot.
- device.bot_agent: 4 logins with a tool/crawler UA, no device id, cloud or home IP.
- device.id_conflict: one extra snapshot of the main phone with another imei (else mac, else hw_uuid).
- device.ua_mismatch: the main phone's snapshots say iOS (Android) while its logins send an Android (iOS) UA.
- device.many_devices: 4 more phones, each signing in twice, on 8 distinct days within 20 days.
- device.shared: one farm phone per 7 accounts (China), 2 sign-ins each within 4 weeks; all 7 labelled.
- device.new_device_sensitive: after 4+ weeks, a new phone signs in and a sensitive event follows 10-60 min
  later (that day has no other events). account.password_churn: 4 password changes within 7 weeks.
- account.login_failures: 6 failures within 5 min, then a success (also labelled behavior.sigma).
- ip.spray: per attacker IP (VN/RU/BR/NG/US) one failure on each of 12-18 Chinese accounts within 45 min
  (labels: empty user_id + ip; victims unlabelled). device.lock_enabled: every user with a locked device.
- device.stable_main: main-phone sign-ins every 4-14 days from 200-320 or 760-900 days before ``start``.
- geo.impossible_travel: a login from a city > 1,200 km away (new device, local IP) 20-40 min after a local
  login and before a local ping (also behavior.sigma: distance and speed of that day).
- geo.remote_logins: a 3-night trip > 150 km away inside one month with 4 sign-ins there (replacing usual ones).
- geo.commute_deviation: one weekday morning the route bends through a point 30-60% (and > 1.5 km) off.
- geo.stable_commute: 200-320 days of older history: work arrival pings 08:00-09:36 on 92% of weekdays.
- geo.residence_change: 330 days of older night pings at home A, then B (from -220 d), then the current home
  (from -110 d), all 3-8 km apart in one city (non-workers).
- geo.away_from_home: 12-13 nights of the longest calendar month in another city (non-workers).
- geo.cross_border_spend: 6 payments/withdrawals of 12,000-50,000 abroad within 10 h (also behavior.sigma).
- behavior.sigma: one day of 35-43 events; behavior.repeated: three such days in a row (also sigma).
- behavior.outlier: every day 12-14 events from 4 of 30 IPs, with 2 payments of ~5,000.
Planted bad rows (~0.1% of logins, a few elsewhere) are extra broken copies of unlabelled users' rows.
"""
from .generate import generate

__all__ = ["generate"]
