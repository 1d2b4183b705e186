"""Embedded world data for the synthetic generator: cities, public IPv4 blocks, time-zone offsets, geometry.

Everything here is offline. City centres are WGS84 degrees; ``r_km`` is the radius (km) inside which homes of
that city are placed (kept small for coastal cities so no home lands offshore). IPv4 blocks are real public
allocations of each country (checked against the ``iptocc`` registry data in the tests).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

EARTH_R_KM = 6371.0088
KM_PER_DEG = 111.32

# name, ISO2 country, lat, lon, IANA zone, home weight (0 = only visited), home radius km
_CITY_ROWS: list[tuple[str, str, float, float, str, float, float]] = [
    ("Shanghai", "CN", 31.2304, 121.4737, "Asia/Shanghai", 14.0, 14.0),
    ("Beijing", "CN", 39.9042, 116.4074, "Asia/Shanghai", 12.0, 14.0),
    ("Shenzhen", "CN", 22.5431, 114.0579, "Asia/Shanghai", 9.0, 9.0),
    ("Guangzhou", "CN", 23.1291, 113.2644, "Asia/Shanghai", 9.0, 12.0),
    ("Hangzhou", "CN", 30.2741, 120.1551, "Asia/Shanghai", 6.0, 10.0),
    ("Chengdu", "CN", 30.5728, 104.0668, "Asia/Shanghai", 6.0, 12.0),
    ("Wuhan", "CN", 30.5928, 114.3055, "Asia/Shanghai", 5.0, 12.0),
    ("Chongqing", "CN", 29.5630, 106.5516, "Asia/Shanghai", 5.0, 10.0),
    ("Tianjin", "CN", 39.3434, 117.3616, "Asia/Shanghai", 4.0, 10.0),
    ("Nanjing", "CN", 32.0603, 118.7969, "Asia/Shanghai", 4.0, 10.0),
    ("Xi'an", "CN", 34.3416, 108.9398, "Asia/Shanghai", 4.0, 10.0),
    ("Suzhou", "CN", 31.2990, 120.5853, "Asia/Shanghai", 3.0, 9.0),
    ("Zhengzhou", "CN", 34.7466, 113.6254, "Asia/Shanghai", 3.0, 10.0),
    ("Changsha", "CN", 28.2282, 112.9388, "Asia/Shanghai", 3.0, 9.0),
    ("Shenyang", "CN", 41.8057, 123.4315, "Asia/Shanghai", 2.5, 9.0),
    ("Qingdao", "CN", 36.0671, 120.3826, "Asia/Shanghai", 2.5, 6.0),
    ("Dongguan", "CN", 23.0207, 113.7518, "Asia/Shanghai", 2.5, 9.0),
    ("Hefei", "CN", 31.8206, 117.2272, "Asia/Shanghai", 2.0, 9.0),
    ("Kunming", "CN", 25.0389, 102.7183, "Asia/Shanghai", 2.0, 8.0),
    ("Harbin", "CN", 45.8038, 126.5349, "Asia/Shanghai", 2.0, 9.0),
    ("Dalian", "CN", 38.9140, 121.6147, "Asia/Shanghai", 1.5, 6.0),
    ("Xiamen", "CN", 24.4798, 118.0894, "Asia/Shanghai", 1.5, 5.0),
    ("Jinan", "CN", 36.6512, 117.1201, "Asia/Shanghai", 1.5, 9.0),
    ("Fuzhou", "CN", 26.0745, 119.2965, "Asia/Shanghai", 1.5, 8.0),
    ("Ningbo", "CN", 29.8683, 121.5440, "Asia/Shanghai", 1.5, 8.0),
    ("Nanning", "CN", 22.8170, 108.3665, "Asia/Shanghai", 1.0, 8.0),
    ("Urumqi", "CN", 43.8256, 87.6168, "Asia/Shanghai", 0.0, 8.0),
    ("Hong Kong", "HK", 22.3193, 114.1694, "Asia/Hong_Kong", 1.5, 4.0),
    ("Taipei", "TW", 25.0330, 121.5654, "Asia/Taipei", 1.0, 6.0),
    ("Singapore", "SG", 1.3521, 103.8198, "Asia/Singapore", 1.5, 6.0),
    ("Kuala Lumpur", "MY", 3.1390, 101.6869, "Asia/Kuala_Lumpur", 0.5, 8.0),
    ("Tokyo", "JP", 35.6762, 139.6503, "Asia/Tokyo", 1.0, 10.0),
    ("Osaka", "JP", 34.6937, 135.5023, "Asia/Tokyo", 0.0, 8.0),
    ("Seoul", "KR", 37.5665, 126.9780, "Asia/Seoul", 0.5, 10.0),
    ("Bangkok", "TH", 13.7563, 100.5018, "Asia/Bangkok", 0.0, 10.0),
    ("London", "GB", 51.5072, -0.1276, "Europe/London", 1.0, 10.0),
    ("Paris", "FR", 48.8566, 2.3522, "Europe/Paris", 0.0, 8.0),
    ("New York", "US", 40.7306, -73.9352, "America/New_York", 1.0, 7.0),
    ("Los Angeles", "US", 34.0522, -118.2437, "America/Los_Angeles", 0.5, 10.0),
    ("Sydney", "AU", -33.8688, 151.2093, "Australia/Sydney", 0.5, 8.0),
    ("Moscow", "RU", 55.7558, 37.6173, "Europe/Moscow", 0.0, 10.0),
    ("Ho Chi Minh City", "VN", 10.8231, 106.6297, "Asia/Ho_Chi_Minh", 0.0, 8.0),
    ("Sao Paulo", "BR", -23.5505, -46.6333, "America/Sao_Paulo", 0.0, 10.0),
    ("Lagos", "NG", 6.5244, 3.3792, "Africa/Lagos", 0.0, 8.0),
]

# Real public IPv4 allocations per country: (fixed-line blocks, mobile blocks).
_IP_ROWS: dict[str, tuple[list[str], list[str]]] = {
    "CN": (["101.80.0.0/12", "180.160.0.0/12", "114.80.0.0/12", "183.0.0.0/10", "58.32.0.0/11",
            "116.224.0.0/12", "123.112.0.0/12", "221.216.0.0/13", "112.224.0.0/11", "113.64.0.0/11",
            "222.64.0.0/11", "218.80.0.0/12", "36.96.0.0/11"],
           ["117.136.0.0/13", "223.104.0.0/14", "39.128.0.0/10", "111.0.0.0/10", "120.192.0.0/10"]),
    "HK": (["112.118.0.0/15", "219.76.0.0/14"], ["203.198.0.0/16"]),
    "TW": (["1.160.0.0/12", "114.24.0.0/14"], ["36.224.0.0/12", "61.216.0.0/14"]),
    "SG": (["116.86.0.0/15", "220.255.0.0/16"], ["202.156.0.0/16", "121.6.0.0/15"]),
    "MY": (["175.136.0.0/13"], ["115.132.0.0/14"]),
    "JP": (["153.128.0.0/9", "219.96.0.0/11"], ["180.0.0.0/10"]),
    "KR": (["121.128.0.0/10", "175.192.0.0/10"], ["211.36.0.0/14", "39.112.0.0/12"]),
    "TH": (["171.96.0.0/13", "184.22.0.0/16"], ["49.228.0.0/14"]),
    "GB": (["86.128.0.0/10", "81.96.0.0/12"], ["2.96.0.0/13"]),
    "FR": (["90.0.0.0/10", "86.192.0.0/11"], ["80.8.0.0/13"]),
    "US": (["73.0.0.0/8", "24.0.0.0/12", "98.0.0.0/10", "68.32.0.0/11"], ["172.56.0.0/13"]),
    "AU": (["1.120.0.0/13", "101.160.0.0/11"], ["49.176.0.0/12", "120.144.0.0/13"]),
    "RU": (["95.24.0.0/13", "178.64.0.0/13"], ["5.164.0.0/14", "37.144.0.0/14"]),
    "VN": (["14.160.0.0/11", "113.160.0.0/11"], ["171.224.0.0/11", "27.64.0.0/12"]),
    "BR": (["179.96.0.0/12"], ["179.96.0.0/12"]),
    "NG": (["105.112.0.0/12"], ["102.88.0.0/13"]),
}
# Cloud / hosting ranges (scripted access): Alibaba Cloud (CN), AWS and DigitalOcean (US).
CLOUD_BLOCKS: dict[str, list[str]] = {"CN": ["47.96.0.0/11"], "US": ["3.0.0.0/9", "54.160.0.0/11", "159.89.0.0/16"]}


@dataclass(frozen=True)
class CityTable:
    """Column arrays of the embedded city table (index = city id)."""

    name: np.ndarray
    cc: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    tz: np.ndarray
    weight: np.ndarray
    r_km: np.ndarray
    zone: np.ndarray  # index into ``zones``
    zones: list[str]
    countries: list[str]
    country: np.ndarray  # index into ``countries``


def city_table() -> CityTable:
    """The embedded city table as numpy column arrays."""
    rows = list(zip(*_CITY_ROWS, strict=True))
    tz = np.array(rows[4])
    zones = sorted(set(rows[4]))
    cc = np.array(rows[1])
    countries = sorted(set(rows[1]) | set(_IP_ROWS))
    return CityTable(
        name=np.array(rows[0]), cc=cc, lat=np.array(rows[2], float), lon=np.array(rows[3], float), tz=tz,
        weight=np.array(rows[5], float), r_km=np.array(rows[6], float),
        zone=np.array([zones.index(z) for z in tz], np.int16), zones=zones, countries=countries,
        country=np.array([countries.index(c) for c in cc], np.int16))


def _blocks(cidrs: list[str]) -> np.ndarray:
    """CIDR strings -> int64 array of shape (k, 2): (first address, size)."""
    nets = [ipaddress.ip_network(c) for c in cidrs]
    return np.array([(int(n.network_address), n.num_addresses) for n in nets], np.int64)


IP_FIXED = {c: _blocks(v[0]) for c, v in _IP_ROWS.items()}
IP_MOBILE = {c: _blocks(v[1]) for c, v in _IP_ROWS.items()}
IP_CLOUD = {c: _blocks(v) for c, v in CLOUD_BLOCKS.items()}


def draw_ips(rng: np.random.Generator, blocks: np.ndarray, n: int) -> np.ndarray:
    """``n`` random host addresses (uint32, last octet 1..254) from the given blocks."""
    b = rng.integers(0, len(blocks), n)
    base, size = blocks[b, 0], blocks[b, 1]
    ip = base + (rng.random(n) * size).astype(np.int64)
    ip = (ip & ~np.int64(255)) | rng.integers(1, 255, n)
    return ip.astype(np.uint32)


def draw_ips_by_country(rng: np.random.Generator, country_codes: np.ndarray,
                        table: dict[str, np.ndarray]) -> np.ndarray:
    """One address per entry of ``country_codes`` (ISO2 strings) from that country's blocks in ``table``."""
    out = np.zeros(len(country_codes), np.uint32)
    for c in np.unique(country_codes):  # loop over countries, not rows
        m = country_codes == c
        out[m] = draw_ips(rng, table[str(c)], int(m.sum()))
    return out


def ip_expr(col: str) -> pl.Expr:
    """Polars expression formatting a uint32 column as dotted IPv4 (0 -> null)."""
    c = pl.col(col).cast(pl.Int64)
    parts = [((c // (1 << s)) % 256).cast(pl.String) for s in (24, 16, 8, 0)]
    return pl.when(c > 0).then(pl.concat_str(parts, separator=".")).otherwise(None).alias(col)


def offset_km(lat: np.ndarray, lon: np.ndarray, north_km: np.ndarray, east_km: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move points by (north, east) kilometres (equirectangular; fine below a few hundred km)."""
    lat2 = lat + north_km / KM_PER_DEG
    lon2 = lon + east_km / (KM_PER_DEG * np.cos(np.radians(lat)))
    return lat2, lon2


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of WGS84 points."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def city_distances(ct: CityTable) -> np.ndarray:
    """Matrix (n_cities, n_cities) of distances between city centres, km."""
    return haversine_km(ct.lat[:, None], ct.lon[:, None], ct.lat[None, :], ct.lon[None, :])


def pick_city_at(rng: np.random.Generator, dist: np.ndarray, home: np.ndarray, lo_km: float, hi_km: float,
                 same_country: np.ndarray | None = None) -> np.ndarray:
    """For each home city id, a random other city whose centre is ``lo_km``..``hi_km`` away.

    Cities of the same country are preferred when ``same_country`` (cities x cities bool) is given; the
    nearest city beyond ``lo_km`` is the fallback. Vectorised over users via random keys per city."""
    d = dist[home]  # (n, n_cities)
    ok = (d >= lo_km) & (d <= hi_km)
    key = rng.random(d.shape)
    if same_country is not None:
        key = key + same_country[home] * 1.0
    key = np.where(ok, key + 2.0, -d * (d >= lo_km) - 1e9 * (d < lo_km))
    return key.argmax(axis=1)


def offset_table(zones: list[str], t0: int, hours: int) -> np.ndarray:
    """UTC offsets in minutes (int16), shape (len(zones), hours): zone z at UTC epoch ``t0 + 3600 h``."""
    start = datetime.fromtimestamp(t0, tz=timezone.utc).replace(tzinfo=None)
    stamps = pl.datetime_range(start, start + timedelta(hours=hours - 1), "1h", eager=True, time_zone="UTC")
    out = np.zeros((len(zones), hours), np.int16)
    for i, z in enumerate(zones):  # loop over zones only
        loc = stamps.dt.convert_time_zone(z)
        out[i] = (loc.dt.base_utc_offset() + loc.dt.dst_offset()).dt.total_minutes().to_numpy()[:hours]
    return out


class Clock:
    """Local <-> UTC conversion for the embedded zones over a fixed window, vectorised.

    Times are int64 epoch seconds. ``local`` values are 'naive local' seconds (the wall clock read as if UTC).
    """

    def __init__(self, zones: list[str], first_day: date, n_days: int):
        self.t0 = (first_day - date(1970, 1, 1)).days * 86400 - 2 * 86400
        self.hours = (n_days + 4) * 24
        self.table = offset_table(zones, self.t0, self.hours)

    def offset_min(self, zone: np.ndarray, utc: np.ndarray) -> np.ndarray:
        """UTC offset (minutes) of ``zone`` at UTC instants ``utc``."""
        h = np.clip((utc - self.t0) // 3600, 0, self.hours - 1)
        return self.table[zone, h]

    def to_utc(self, zone: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Naive local seconds in ``zone`` -> UTC epoch seconds (two fixed-point passes; DST gaps shift)."""
        guess = local - self.offset_min(zone, local).astype(np.int64) * 60
        return local - self.offset_min(zone, guess).astype(np.int64) * 60
