"""The offline gazetteer's nearest-city search (points far from any city: sea, desert, poles)."""
import math

import numpy as np
import polars as pl

from fraud.geo.gazetteer import _nearest_cities, cities, countries_near, name_places


def _brute_force(plat, plon):
    c = cities()
    r = math.pi / 180
    clat, clon = np.radians(c["lat"].to_numpy()), np.radians(c["lon"].to_numpy())
    out = []
    for a, b in zip(plat, plon):
        t = np.sin((clat - a * r) / 2) ** 2 + np.cos(clat) * math.cos(a * r) * np.sin((clon - b * r) / 2) ** 2
        out.append(int(np.argmin(t)))
    return np.array(out)


def test_nearest_city_equals_the_full_comparison():
    rnd = np.random.default_rng(7)
    plat = np.concatenate([rnd.uniform(-90, 90, 400), [90.0, -90.0, 0.0, 0.0, 51.5]])
    plon = np.concatenate([rnd.uniform(-180, 180, 400), [0.0, 0.0, 180.0, -180.0, -30.0]])
    assert (_nearest_cities(plat, plon) == _brute_force(plat, plon)).all()


def test_mid_ocean_point_is_named_after_the_nearest_city():
    # 30.0 N, 40.0 W (mid Atlantic): no city within 30 km, still named (by the nearest one), never null
    out = name_places(pl.DataFrame({"lat": [30.0], "lon": [-40.0]}))
    assert out.select("place_name", "place_cc").row(0) == ("Ponta Delgada", "PT")  # the Azores, ~1,500 km


def test_points_are_named_after_their_city_and_with_districts_after_the_part_of_it():
    """GeoNames lists parts of big cities as cities (Minhang 2.7M in Shanghai, Taito in Tokyo, Paris 15 Vaugirard):
    a home in Minhang is in Shanghai. Separate cities beside a bigger one stay themselves: Kawasaki (2.5x smaller
    than Yokohama), Newark (another state than New York)."""
    pts = {"Minhang": (31.1129, 121.3817), "Paris 15e": (48.8412, 2.2999), "Taito": (35.7126, 139.7800),
           "Kowloon": (22.3193, 114.1694), "Kawasaki": (35.5308, 139.7029), "Newark": (40.7357, -74.1724),
           "Potsdam": (52.3906, 13.0645)}
    df = pl.DataFrame({"lat": [p[0] for p in pts.values()], "lon": [p[1] for p in pts.values()]})
    assert name_places(df)["place_name"].to_list() == ["Shanghai", "Paris", "Tokyo", "Hong Kong", "Kawasaki",
                                                       "Newark", "Potsdam"]
    assert name_places(df)["place_area"].to_list() == [
        "Minhang", "Paris 15 Vaugirard", "Taito", "Kowloon", "Kawasaki", "Newark", "Potsdam"]


def test_a_points_country_is_the_one_it_lies_in_also_beside_a_border():
    """Within ~1 km of a border the ~1 km grid cell's centre can lie across it: Kehl (DE) beside Strasbourg's cell
    (FR), San Ysidro (US) beside Tijuana's (MX). The country is the one of the point's own time zone; Windsor ON is
    Canada although Detroit is the bigger city nearby."""
    pts = {"Kehl": (48.577, 7.805), "Strasbourg": (48.5734, 7.7521), "San Ysidro": (32.544, -117.05),
           "Tijuana": (32.5149, -117.0382), "Windsor": (42.3149, -83.0364)}
    df = pl.DataFrame({"lat": [p[0] for p in pts.values()], "lon": [p[1] for p in pts.values()]})
    assert name_places(df)["place_cc"].to_list() == ["DE", "FR", "US", "MX", "CA"]
    # named after a city of its own country when one is in reach: Windsor, not "Detroit" in Canada; San Ysidro
    # after San Diego, not Tijuana
    assert name_places(df)["place_name"].to_list() == ["Kehl", "Strasbourg", "San Diego", "Tijuana", "Windsor"]


def test_country_names_codes_and_other_languages_give_the_iso_code():
    import polars as pl

    from fraud.geo.gazetteer import country_code
    names = {"Netherlands": "NL", "the Netherlands": "NL", "NLD": "NL", "nl": "NL", "Niederlande": "NL",
             "Czech Republic": "CZ", "Czechia": "CZ", "Türkiye": "TR", "Turkiye": "TR", "Turkey": "TR",
             "Russian Federation": "RU", "Russia": "RU", "Korea, Republic of": "KR", "South Korea": "KR",
             "대한민국": "KR", "Viet Nam": "VN", "Hong Kong SAR": "HK", "Macau": "MO", "Côte d'Ivoire": "CI",
             "Cote d'Ivoire": "CI", "Ivory Coast": "CI", "United Kingdom of Great Britain and Northern Ireland": "GB",
             "U.K.": "GB", "U.S.": "US", "Burma": "MM", "Deutschland": "DE", "中国": "CN", "日本": "JP",
             "Niger": "NE", "Nigeria": "NG", "Bosnia & Herzegovina": "BA", "Kosovo": "XK"}
    df = pl.DataFrame({"n": list(names)}).select(country_code(pl.col("n")).alias("cc"))
    assert dict(zip(names, df["cc"].to_list(), strict=True)) == names


def test_values_that_name_no_country_give_none():
    import polars as pl

    from fraud.geo.gazetteer import country_code
    # numbers name no country: ISO numeric codes collide with telephone country codes (234 is Nigeria's calling
    # code and the Faroe Islands' ISO number), which some exports write in a country field
    got = pl.DataFrame({"n": ["EU", "A1", "AP", "XX", "Narnia", "unknown", "", None, "86", "234"]}).select(
        country_code(pl.col("n")).alias("cc"))["cc"].to_list()
    assert got == [None] * 10


def test_a_zone_several_countries_share_gives_the_country_of_the_nearest_city_in_it():
    """tzfpy gives Asia/Bangkok for northern Vietnam and Europe/Belgrade for Kosovo; zone.tab names one country
    per zone (TH, RS), zone1970.tab all of them: Hanoi and Haiphong are Vietnam, Pristina is Kosovo. Bangkok and
    Belgrade stay Thailand and Serbia; single-country zones keep their country (East Jerusalem: Asia/Jerusalem,
    IL; Windsor: America/Toronto, CA)."""
    pts = {"Hanoi": (21.0285, 105.8542), "Haiphong": (20.8449, 106.6881), "Bangkok": (13.7563, 100.5018),
           "Pristina": (42.6629, 21.1655), "Belgrade": (44.8125, 20.4612), "Ho Chi Minh City": (10.7769, 106.7009),
           "East Jerusalem": (31.7834, 35.2339), "Windsor": (42.3149, -83.0364), "Kehl": (48.577, 7.805),
           # Lao Cai, Vietnam, across the river from Hekou (China), a town inside tzfpy's Asia/Bangkok polygon:
           # only the zone's own countries' cities count (review)
           "Lao Cai": (22.5185, 104.0311)}
    df = pl.DataFrame({"lat": [p[0] for p in pts.values()], "lon": [p[1] for p in pts.values()]})
    out = name_places(df)
    assert out["place_cc"].to_list() == ["VN", "VN", "TH", "XK", "RS", "VN", "IL", "CA", "DE", "VN"]
    assert out["place_name"].to_list() == ["Hanoi", "Haiphong", "Bangkok", "Pristina", "Belgrade",
                                           "Ho Chi Minh City", "Jerusalem", "Windsor", "Kehl", "Lào Cai"]


def test_zone_countries_come_from_zone_tab_and_zone1970_tab():
    from fraud.geo.gazetteer import _zone_countries, tz_country

    assert _zone_countries()["Asia/Bangkok"] == ("TH", "CX", "KH", "LA", "VN")
    assert _zone_countries()["Asia/Shanghai"] == ("CN",)
    assert [tz_country(z) for z in ("Asia/Bangkok", "America/Toronto", "Etc/UTC", None)] == ["TH", "CA", None, None]


def _geocode(pairs: list[tuple[str, str | None]]) -> list[tuple]:
    from fraud.geo.gazetteer import geocode_names

    q = pl.DataFrame({"city_key": [k for k, _ in pairs], "country": [c for _, c in pairs]},
                     schema={"city_key": pl.String, "country": pl.String})
    return geocode_names(q).select("g_key", pl.col("g_lat").round(2), pl.col("g_lon").round(2)).rows()


def test_a_far_bigger_city_known_by_the_name_as_its_short_form_is_the_one_named():
    """"Halle" is what people call Halle (Saale), 238k (an alternate name in GeoNames), not Halle (Westf.), 21k, the
    city whose GeoNames name it is, 257 km away; "Munster" is Münster (308k), not Munster (18k). A city whose
    GeoNames name matches keeps the name against smaller or not much bigger alternate-name ones (Laiwu: not
    Shantou, 3.9x, a romanisation); an alternate name no word of the city's GeoNames name makes ambiguous when
    it is 4x bigger (Waterloo, US: Austin was once Waterloo), never the city named. "Quezon" is Quezon City (Quezon,
    115k, is under 6% of it); Heroica Matamoros (511k) would be named too, but Matamoros, Coahuila (52k, 576 km
    away, 10%) is a city of 50,000+ by that very name (AMBIGUOUS_POPULATION)."""
    assert _geocode([("halle", "DE"), ("munster", "DE"), ("frankfurt", "DE"), ("laiwu", "CN"), ("waterloo", "US"),
                     ("paris", "FR"), ("matamoros", "MX"), ("quezon", "PH")]) == [
        ("halle (saale)", 51.48, 11.98), ("münster", 51.96, 7.63), ("frankfurt am main", 50.12, 8.68),
        ("laiwu", 36.19, 117.66), (None, None, None), ("paris", 48.85, 2.35), (None, None, None),
        ("quezon city", 14.65, 121.05)]


def test_a_far_namesake_of_50000_people_makes_a_name_ambiguous_big_unique_names_stay_placed():
    """Columbus GA (207k, 22.7% of Columbus OH) and Jacksonville NC (67k, 6.7% of Jacksonville FL) passed the
    quarter-share test, and their people's names became the bigger city 600-900 km away. A far city of 50,000+
    whose GeoNames name the name is makes it ambiguous; Paris TX (25k) does not, nor does Frankfurt (Oder) (57k,
    whose GeoNames name is not "Frankfurt"). A namesake under 6% of the big city's people does not either (review:
    Wuxi 4.4M / Wuxi, Hunan 66k; without a country London / London, Ontario 4%, Sydney / Sydney, Nova Scotia 2%,
    Madrid / Madrid, Colombia 4%, Haikou 3.9% were unplaced)."""
    assert _geocode([("columbus", "US"), ("jacksonville", "US"), ("portland", "US"), ("paris", "FR"),
                     ("paris", None), ("london", "GB"), ("london", None), ("sydney", "AU"), ("beijing", "CN"),
                     ("new york", "US"), ("frankfurt", "DE"), ("moscow", "RU"), ("wuxi", "CN"), ("sydney", None),
                     ("madrid", None), ("haikou", "CN")]) == [
        (None, None, None), (None, None, None), (None, None, None), ("paris", 48.85, 2.35), ("paris", 48.85, 2.35),
        ("london", 51.51, -0.13), ("london", 51.51, -0.13), ("sydney", -33.87, 151.21), ("beijing", 39.91, 116.4),
        ("new york city", 40.71, -74.01), ("frankfurt am main", 50.12, 8.68), ("moscow", 55.75, 37.62),
        ("wuxi", 31.57, 120.29), ("sydney", -33.87, 151.21), ("madrid", 40.42, -3.7), ("haikou", 20.03, 110.35)]


def test_countries_near_a_point_are_those_with_a_gazetteer_city_within_reach():
    """Annemasse (FR) has Geneva (CH) 7 km away; Paris has no foreign city within 75 km; a point in mid-Atlantic has
    none at all. One row per (point, country), sorted; no points, no rows."""
    lat, lon = np.array([46.1934, 48.8566, 35.0]), np.array([6.2342, 2.3522, -40.0])
    got = countries_near(lat, lon, 75.0)
    assert got.rows() == [(0, "CH"), (0, "FR"), (1, "FR")]
    assert got.schema == {"_i": pl.UInt32, "cc": pl.String}
    # Geneva's centre is 6.9 km from Annemasse's: within 7 km, not within 6
    assert countries_near(lat[:1], lon[:1], 7.0).rows() == [(0, "CH"), (0, "FR")]
    assert countries_near(lat[:1], lon[:1], 6.0).rows() == [(0, "FR")]
    assert countries_near(np.array([]), np.array([]), 75.0).height == 0
