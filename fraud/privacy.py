"""Pseudonymisation of a scan's outputs: user, device and network identifiers replaced by keyed tokens.

``token = "p_" + HMAC-SHA256(key, value)[:16 hex]``: the same value with the same key always gives the same
token, so reviews and re-scans still join, while the clear value cannot be recovered without the key (and a
brute force over, say, IPv4 space needs the key too). Tokens replace ``user_id``, ``device_id``, ``ip``,
``imei``, ``mac`` and ``hw_uuid`` wherever they appear: in table columns, inside the JSON evidence, the summary
sentences and the raw text of rejected rows, and in the parsed inputs the report draws its case cards from.
Checks run on the clear values first (an IP's country needs the real IP); only outputs are pseudonymised.
"""
from __future__ import annotations

import hashlib
import hmac

import polars as pl

from fraud.errors import FraudError
from fraud.exprs import placeholder_id

ID_COLUMNS = ("user_id", "device_id", "ip", "imei", "mac", "hw_uuid", "main_device_id")
TEXT_COLUMNS = ("evidence", "summary", "raw")


def token(value: str, key: bytes) -> str:
    return "p_" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _mapping(values: pl.Series, key: bytes) -> pl.DataFrame:
    v = values.drop_nulls().unique().sort()
    return pl.DataFrame({"value": v, "token": [token(x, key) for x in v.to_list()]},
                        schema={"value": pl.String, "token": pl.String})


class Pseudonymizer:
    """Built once per scan from every identifier value of the inputs."""

    def __init__(self, key: str, frames: dict[str, pl.LazyFrame], rejected: pl.DataFrame | None = None) -> None:
        if not key:
            raise FraudError("--pseudonymize needs a non-empty key")
        self.key = key.encode("utf-8")
        parts = [lf.select(pl.col(c).cast(pl.String).alias("v")) for lf in frames.values()
                 for c in ID_COLUMNS if c in lf.collect_schema().names()]
        if rejected is not None and rejected.height:
            # Rejected rows keep their raw text: their identifiers are tokenised too.
            parts += [rejected.lazy().select(pl.col("raw").str.json_path_match(f"$.{c}").alias("v"))
                      for c in ID_COLUMNS]
        # Distinct values only, found with the streaming engine: a partitioned scan's inputs can exceed memory.
        values = (pl.concat([p.unique() for p in parts]).unique().collect(engine="streaming")["v"] if parts
                  else pl.Series("v", [], pl.String))
        # a placeholder ("unknown", "0") identifies nobody, and replacing "0" inside text would rewrite numbers
        named = pl.select(pl.lit(values).str.len_chars().gt(0) & ~placeholder_id(pl.lit(values)).fill_null(False))
        self.map = _mapping(values.filter(named.to_series()), self.key)
        # Longest first so that a value inside a longer one is not replaced piecemeal.
        by_len = self.map.sort(pl.col("value").str.len_chars(), "value", descending=[True, False])
        self._patterns = by_len["value"].to_list()
        self._tokens = by_len["token"].to_list()

    def _col(self, c: str) -> pl.Expr:
        return pl.col(c).replace_strict(self.map["value"], self.map["token"], default=pl.col(c),
                                        return_dtype=pl.String)

    def apply(self, df: pl.DataFrame | pl.LazyFrame):
        """Tokenise identifier columns and identifiers inside the text columns of a frame."""
        names = df.collect_schema().names()
        exprs = [self._col(c) for c in ID_COLUMNS if c in names]
        if self._patterns:
            exprs += [pl.col(c).str.replace_many(self._patterns, self._tokens, leftmost=True)
                      for c in TEXT_COLUMNS if c in names]
        return df.with_columns(exprs) if exprs else df
