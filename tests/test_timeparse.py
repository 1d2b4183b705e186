from datetime import datetime, timezone

import polars as pl
import pytest

from fraud.timeparse import parse_timestamp, timestamp_from_native

U = timezone.utc


@pytest.mark.parametrize("raw, expected", [
    ("2024-01-01T10:00:00+08:00", datetime(2024, 1, 1, 2, tzinfo=U)),
    ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=U)),
    ("2024-01-01 10:00:00.250Z", datetime(2024, 1, 1, 10, 0, 0, 250000, tzinfo=U)),
    ("2024-01-01T10:00+0800", datetime(2024, 1, 1, 2, tzinfo=U)),
    ("2024-01-01T10:00:00+08", datetime(2024, 1, 1, 2, tzinfo=U)),
    ("2024-01-01T10:00:00", datetime(2024, 1, 1, 2, tzinfo=U)),  # naive: configured zone Asia/Shanghai
    ("2024-01-01", datetime(2023, 12, 31, 16, tzinfo=U)),
    ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=U)),
    ("1700000000123", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=U)),
    ("1700000000123456", datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=U)),
    # nanoseconds (Go, Loki, ClickHouse: cut to the microsecond exactly), and a spreadsheet's exponent form
    ("1700000000123456789", datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=U)),
    ("1.700000000123E12", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=U)),
    ("1.7e9", datetime(2023, 11, 14, 22, 13, 20, tzinfo=U)),
    # a zone word after the time (BigQuery, Postgres text output): UTC, not local time
    ("2024-01-01 10:00:00 UTC", datetime(2024, 1, 1, 10, tzinfo=U)),
    ("2024-01-01 10:00:00 GMT", datetime(2024, 1, 1, 10, tzinfo=U)),
    ("2024-01-01 10:00:00 Z", datetime(2024, 1, 1, 10, tzinfo=U)),
    # RFC 2822 (mail headers, HTTP dates): weekday and seconds optional, an offset or a zone word
    ("Mon, 01 Jan 2024 10:00:00 +0100", datetime(2024, 1, 1, 9, tzinfo=U)),
    ("Mon, 1 Jan 2024 10:00:00 GMT", datetime(2024, 1, 1, 10, tzinfo=U)),
    ("Monday, 1 January 2024 10:00 UT", datetime(2024, 1, 1, 10, tzinfo=U)),
    ("1 Jan 2024 10:00:00", datetime(2024, 1, 1, 2, tzinfo=U)),  # no zone: local time (Asia/Shanghai)
    # a weekday with a T (Tue, Thu) is no ISO date-time's T: these read as any other day's (they were rejected)
    ("Tue, 02 Jan 2024 10:00:00 GMT", datetime(2024, 1, 2, 10, tzinfo=U)),
    ("Thu, 04 Jan 2024 10:00:00 UTC", datetime(2024, 1, 4, 10, tzinfo=U)),
    ("Tuesday, 02 Jan 2024 10:00:00 Z", datetime(2024, 1, 2, 10, tzinfo=U)),
    ("Thu, 04 Jan 2024 18:00:00 +08:00", datetime(2024, 1, 4, 10, tzinfo=U)),
    ("Thu, 04 Jan 2024 18:00:00 +0800", datetime(2024, 1, 4, 10, tzinfo=U)),
    # C's asctime/ctime (local time) and Java's Date.toString() with a zone word that names UTC
    ("Tue Jan  2 10:00:00 2024", datetime(2024, 1, 2, 2, tzinfo=U)),
    ("Thu Jan 04 10:00:00 UTC 2024", datetime(2024, 1, 4, 10, tzinfo=U)),
    ("Sat Feb 10 23:59:59 GMT 2024", datetime(2024, 2, 10, 23, 59, 59, tzinfo=U)),
    # the Common Log Format of nginx and Apache, with or without its brackets
    ("[01/Jan/2024:10:00:00 -0500]", datetime(2024, 1, 1, 15, tzinfo=U)),
    ("01/Jan/2024:10:00:00 +0000", datetime(2024, 1, 1, 10, tzinfo=U)),
    # ISO 8601's decimal comma after the seconds: Python logging's asctime, log4j's ISO8601 layout
    ("2024-01-01 10:00:00,123", datetime(2024, 1, 1, 2, 0, 0, 123000, tzinfo=U)),
    ("2024-01-01T10:05:00,5+08:00", datetime(2024, 1, 1, 2, 5, 0, 500000, tzinfo=U)),
    ("2024-01-01T10:05:00,25Z", datetime(2024, 1, 1, 10, 5, 0, 250000, tzinfo=U)),
    ("2024-01-01 10:05:00,123456789 +0100", datetime(2024, 1, 1, 9, 5, 0, 123456, tzinfo=U)),
    # Java's ZonedDateTime.toString(): the offset, then the zone's name (the offset says the instant)
    ("2024-01-01T10:00+08:00[Asia/Shanghai]", datetime(2024, 1, 1, 2, tzinfo=U)),
    ("2024-01-01T10:00:00.123-05:00[America/New_York]", datetime(2024, 1, 1, 15, 0, 0, 123000, tzinfo=U)),
    ("2024-01-01T02:00Z[UTC]", datetime(2024, 1, 1, 2, tzinfo=U)),
])
def test_parses_iso_and_epoch(raw, expected):
    out = pl.select(parse_timestamp(pl.lit(raw), "Asia/Shanghai")).item()
    assert out == expected


@pytest.mark.parametrize("raw", ["junk", "", "2024-13-01T00:00:00Z", "1800-01-01T00:00:00Z", "2200-01-01T00:00:00Z",
                                 "99999999999999999999", "03/04/2024 10:00", "31 Feb 2024 10:00:00 +0000",
                                 "01/Foo/2024:10:00:00 +0000", "Jan 1 2024 10:00:00", "Mon, 1 Jan 2024",
                                 # a zone abbreviation that names several zones (China's or Central US time)
                                 "Tue Jan 02 10:00:00 CST 2024", "Tue Foo 02 10:00:00 2024",
                                 # a comma anywhere but before the seconds' fraction is no decimal sign
                                 "2024-01-01 10:00,5", "2024-01-01,10:00:00", "2024-01-01 10:00:00,", "10:00:00,123",
                                 # a zone's name without an offset before it is no instant this parser reads
                                 "2024-01-01T10:00[Asia/Shanghai]", "2024-01-01T10:00+08:00[]"])
def test_unparseable_or_implausible_is_null(raw):
    assert pl.select(parse_timestamp(pl.lit(raw), "UTC")).item() is None


def test_same_instant_in_two_offsets_is_equal():
    s = pl.DataFrame({"ts": ["2024-06-01T08:00:00+08:00", "2024-06-01T01:00:00+01:00", "2024-06-01T00:00:00Z"]})
    out = s.select(parse_timestamp(pl.col("ts"), "UTC")).to_series()
    assert out.n_unique() == 1


def test_native_parquet_types():
    naive = pl.Series([datetime(2024, 1, 1, 8)])
    out = pl.select(timestamp_from_native(pl.lit(naive), naive.dtype, "Asia/Shanghai")).item()
    assert out == datetime(2024, 1, 1, 0, tzinfo=U)
    ints = pl.Series([1_700_000_000_000])
    assert pl.select(timestamp_from_native(pl.lit(ints), ints.dtype, "UTC")).item() == \
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=U)
    nanos = pl.Series([1_700_000_000_123_456_789])
    assert pl.select(timestamp_from_native(pl.lit(nanos), nanos.dtype, "UTC")).item() == \
        datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=U)


def test_fast_path_agrees_with_full_parser_or_defers():
    from fraud.timeparse import fast_timestamp

    vals = ["2024-01-01T10:00:00+08:00", "2024-01-01T10:00:00.5Z", "2024-01-01 10:00:00+0800", "2024-01-01T10:00:00",
            "1700000000", "junk", "1800-01-01T00:00:00Z"]
    df = pl.DataFrame({"ts": vals}).select(fast=fast_timestamp(pl.col("ts")), full=parse_timestamp(pl.col("ts"), "UTC"))
    for fast, full in df.iter_rows():
        assert fast is None or fast == full
    assert df["fast"].null_count() == 4


@pytest.mark.parametrize("tz", ["UTC", "Europe/Oslo", "America/New_York", "Asia/Shanghai"])
def test_naive_fast_path_gives_what_the_full_parser_gives_or_leaves_it(tz):
    """naive_timestamp reads local date-times with seconds exactly as parse_timestamp does (DST gaps and repeats
    null, range checked) and leaves every other notation null for the full parser."""
    from fraud.timeparse import naive_timestamp

    texts = ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-11-03 01:30:00", "2024-03-10 02:30:00",
             " 2024-01-01 10:00:00 ", "2024-01-01T10:00:00.772", "2020-02-03 12:43:30.772123", "1989-12-31 23:59:59",
             "2099-12-31 23:59:59", "2024-13-01 00:00:00", "2024-01-01", "2024-01-01 10:00", "1700000000",
             "2024-01-01 10:00:00+08", "2024-01-01T10:00:00Z", "", None]
    df = pl.DataFrame({"t": texts}).with_columns(parse_timestamp(pl.col("t"), tz).alias("full"),
                                                 naive_timestamp(pl.col("t"), tz).alias("fast"))
    took = df.filter(pl.col("fast").is_not_null())
    assert took["fast"].to_list() == took["full"].to_list()
    assert set(took["t"]) <= set(texts[:10])  # never a notation it does not own
    # the four daylight-saving texts: two are a gap or a repeat in Oslo, two in New York; 1989/2099 at the edges
    assert took.height == {"UTC": 8, "Asia/Shanghai": 8, "Europe/Oslo": 6, "America/New_York": 6}[tz]


def test_the_configs_formats_read_what_no_parser_can_tell():
    """03/04/2024: March 4 with a US pattern, April 3 with a European one; the patterns are tried in order,
    before the built-in notations, and a value none of them reads still goes to those."""
    raw = pl.DataFrame({"ts": ["03/04/2024 10:00:00", "03/04/2024 10:00", "2024-03-04T10:00:00Z",
                               "04.03.2024 10:00 +0200"]})
    us = raw.select(parse_timestamp(pl.col("ts"), "UTC", ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"])).to_series()
    assert us.to_list() == [datetime(2024, 3, 4, 10, tzinfo=U)] * 3 + [None]
    eu = raw.select(parse_timestamp(pl.col("ts"), "Europe/Berlin", ["%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M %z"]))
    assert eu.to_series().to_list() == [datetime(2024, 4, 3, 8, tzinfo=U), None, datetime(2024, 3, 4, 10, tzinfo=U),
                                        datetime(2024, 3, 4, 8, tzinfo=U)]  # local (CEST, +02:00) / own offset
    assert raw.select(parse_timestamp(pl.col("ts"), "UTC")).to_series().null_count() == 3  # none of them unaided
