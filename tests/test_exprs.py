"""Expression helpers: per_distinct computes once per distinct value and maps back."""
from __future__ import annotations

import polars as pl

from fraud.exprs import ip_address, per_distinct


def test_per_distinct_equals_the_per_row_expression_and_keeps_nulls_and_name():
    calls = []

    def upper(e: pl.Expr) -> pl.Expr:
        return e.map_batches(lambda s: (calls.append(len(s)), s.str.to_uppercase())[1], return_dtype=pl.String)

    df = pl.DataFrame({"c": ["a", "b", None, "a", "a", " b", None]})
    got = df.select(per_distinct(pl.col("c"), upper, pl.String))
    assert got.columns == ["c"]
    assert got["c"].to_list() == ["A", "B", None, "A", "A", " B", None]
    assert calls == [3]  # "a", "b", " b": each distinct value once


def test_per_distinct_on_empty_and_all_null_columns():
    f = lambda e: e.str.len_chars()  # noqa: E731
    empty = pl.DataFrame({"c": []}, schema={"c": pl.String})
    assert empty.lazy().select(per_distinct(pl.col("c"), f, pl.UInt32)).collect().schema == {"c": pl.UInt32}
    nulls = pl.DataFrame({"c": [None, None]}, schema={"c": pl.String})
    assert nulls.select(per_distinct(pl.col("c"), f, pl.UInt32))["c"].to_list() == [None, None]


def test_ip_address_reads_each_written_form_of_one_address():
    forms = {"8.8.8.8": "8.8.8.8", " 8.8.8.8 ": "8.8.8.8", "8.8.8.8:443": "8.8.8.8", "::ffff:8.8.8.8": "8.8.8.8",
             "::FFFF:8.8.8.8": "8.8.8.8", "0:0:0:0:0:ffff:8.8.8.8": "8.8.8.8", "1.2.3.4, 10.0.0.1": "1.2.3.4",
             "[2001:4860:4860::8888]:443": "2001:4860:4860::8888", "[2001:DB8::A]": "2001:db8::a",
             # IPv6 in RFC 5952's one form: the long and the short writing of an address are one IP
             "2001:4860:4860:0:0:0:0:8888": "2001:4860:4860::8888", "2001:db8:0:0::1": "2001:db8::1",
             "fe80::1%eth0": "fe80::1", "64:ff9b::1.2.3.4": "64:ff9b::102:304", "::1": "::1", "1::": "1::",
             "10.0.0.1": "10.0.0.1",
             "010.001.002.003": "10.1.2.3", "192.168.001.001:80": "192.168.1.1",
             # IPv4-mapped in hex groups (Python's ipaddress prints ::ffff:8.8.8.8 so); a host's prefix length
             "::ffff:808:808": "8.8.8.8", "0:0:0:0:0:FFFF:0808:0808": "8.8.8.8", "203.0.113.8/32": "203.0.113.8",
             "2001:db8::1/128": "2001:db8::1"}
    df = pl.DataFrame({"ip": list(forms)})
    assert df.select(ip_address(pl.col("ip"))).to_series().to_list() == list(forms.values())


def test_ip_address_is_null_for_placeholders_and_text_that_is_no_address():
    bad = ["unknown", "-", "", "0.0.0.0", "000.000.000.000", "::", "0:0:0:0:0:0:0:0", "abc", "300.1.1.1", "1.2.3",
           "1.2.3.4.5", "1:2:3", "1:2:3:4:5:6:7:8:9", "2001:db8::1::2", ":::1", "12345::1", "dead:beef", "::ffff:0:0", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4/128", None]
    df = pl.DataFrame({"ip": ["9.9.9.9"] + bad}, schema={"ip": pl.String})
    assert df.select(ip_address(pl.col("ip"))).to_series().to_list() == ["9.9.9.9"] + [None] * len(bad)
    # all plain IPv4 (the fast path): only the unspecified address goes
    plain = pl.DataFrame({"ip": ["1.1.1.1", "0.0.0.0", None]})
    assert plain.select(ip_address(pl.col("ip"))).to_series().to_list() == ["1.1.1.1", None, None]


def test_ipv6_net64_is_the_addresses_64_network():
    from fraud.exprs import ipv6_net64

    df = pl.DataFrame({"ip": ["2001:db8:1:2::9", "2001:db8:1:2:aaaa::1", "2001:db8:1:3::9", "1.2.3.4", None]})
    assert df.select(ipv6_net64(pl.col("ip"))).to_series().to_list() == [
        "2001:db8:1:2::/64", "2001:db8:1:2::/64", "2001:db8:1:3::/64", None, None]


def test_values_shown_beside_a_threshold_round_away_from_it():
    """A value that passed a threshold is rounded up, the threshold down: "0.1501 > 0.15" never reads "0.15 >
    0.15"; values on the grid stay (the engine's 0.16 * 100 is 16.000000000000004), and no "-0.0"."""
    from fraud.exprs import round_down, round_up

    s = pl.Series([0.15, 0.1501, 0.16, 12.03, -0.001, 3.8426, None], dtype=pl.Float64)
    out = pl.select(round_up(pl.lit(s)).alias("up"), round_down(pl.lit(s)).alias("down"))
    assert out["up"].to_list() == [0.15, 0.16, 0.16, 12.03, 0.0, 3.85, None]
    assert out["down"].to_list() == [0.15, 0.15, 0.16, 12.03, -0.01, 3.84, None]
    assert str(out["up"][4]) == "0.0"
    assert pl.select(round_up(pl.lit(0.15004), 3)).item() == 0.151


def test_a_value_beside_the_limit_it_passed_shows_the_fewest_decimals_that_read_above_it():
    """0.162 over 0.15 is "0.16" (rounding up said 0.17), 0.1501 is 0.1501; a speed of 900.09 km/h over 900 is
    900.1, one of 1,683.4 stays 1,683; past the extra decimals the value is rounded up."""
    from fraud.exprs import shown_above, thousands_above

    dev = pl.Series([0.162, 0.1501, 0.15004, 0.15000001, 0.2349, None], dtype=pl.Float64)
    assert pl.select(shown_above(pl.lit(dev), 0.15)).to_series().to_list() == [0.16, 0.1501, 0.15004, 0.15001,
                                                                               0.23, None]
    kmh = pl.Series([900.09, 1683.4, 900.004, 900.6, None], dtype=pl.Float64)
    assert pl.select(shown_above(pl.lit(kmh), 900.0, 0)).to_series().to_list() == [900.1, 1683.0, 900.004, 901.0,
                                                                                   None]
    assert pl.select(thousands_above(pl.lit(kmh), 900.0)).to_series().to_list() == ["900.1", "1,683", "900.01",
                                                                                     "901", None]


def test_a_value_under_the_limit_it_fell_below_shows_the_fewest_decimals_that_read_below_it():
    from fraud.exprs import shown_below, thousands_below

    share = pl.Series([0.7996, 0.737, 0.79999, None], dtype=pl.Float64)
    assert pl.select(shown_below(pl.lit(share), 0.8, 3)).to_series().to_list() == [0.7996, 0.737, 0.79999, None]
    pct = pl.Series([79.59, 73.7, 79.996, -1234.5], dtype=pl.Float64)
    assert pl.select(thousands_below(pl.lit(pct), 80.0)).to_series().to_list() == ["79.6", "74", "79.99", "-1,234"]
