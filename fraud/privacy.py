"""Pseudonymisation of a scan's outputs: user, device and network identifiers replaced by keyed tokens.

``token = "p_" + HMAC-SHA256(key, value)[:16 hex]``: the same value with the same key always gives the same
token, so reviews and re-scans still join, while the clear value cannot be recovered without the key (and a
brute force over, say, IPv4 space needs the key too). Tokens replace ``user_id``, ``device_id``, ``ip``,
``imei``, ``mac`` and ``hw_uuid`` wherever they appear: in table columns, inside the JSON evidence, the summary
sentences, the raw text of rejected rows and the bad value their reasons quote, and in the parsed inputs the
report draws its case cards from.
Checks run on the clear values first (an IP's country needs the real IP); only outputs are pseudonymised.

Identifiers are replaced as whole values, never as substrings, so a short identifier (user ``7``) does not
rewrite the digits of numbers, dates or other identifiers:

- JSON text (``evidence``, and the ``raw`` preview of a rejected row when it is JSON) is cut into its string
  literals and the text between them; a string *value* (not a key) equal to an identifier is replaced whole.
  The checks write every identifier into their evidence as a string value of its own.
- A finding's ``summary`` names only that finding's own device and IP (``Device … used by 7 accounts``), so
  those values are replaced where they stand as a word: not next to a letter, digit or ``_``, nor next to a
  ``.``, ``:``, ``-``, ``/`` or ``@`` that continues the word (the ``7`` of ``0.75`` stays).
- A rejected line that could not be split into fields is withheld (:data:`RAW_WITHHELD`): the identifiers in it
  were never read, so no table lists them.
- Other text (a rejected row's reason) is replaced by substring: it fails closed, rewriting too much rather than
  leaking an identifier. A reason quotes a value cut to :data:`fraud.parsing.SHOWN_CHARS` characters, so a longer
  identifier is also replaced by its cut.

A JSON ``raw`` preview cut off inside a string (it is at most 300 characters) loses that last, unterminated
string: a truncated identifier cannot be matched and would leak its prefix.
"""
from __future__ import annotations

import hashlib
import hmac

import polars as pl

from fraud.errors import FraudError
from fraud.exprs import placeholder_id
from fraud.parsing import SHOWN_CHARS
from fraud.schema import squashed, squashed_expr

ID_COLUMNS = ("user_id", "device_id", "ip", "imei", "mac", "hw_uuid", "main_device_id")
JSON_COLUMNS = ("evidence", "raw")  # raw: JSON of the row's fields, or the line itself when it could not be split
SUMMARY_COLUMNS = ("summary",)
SUMMARY_ID_COLUMNS = ("device_id", "ip")  # the only identifiers a finding's summary names: its own
TEXT_COLUMNS = JSON_COLUMNS + SUMMARY_COLUMNS
# A JSON text as consecutive tokens: string literals, runs between them, and a lone quote that opens a string cut
# off by truncation (the string alternative comes first, so a quote that opens a terminated string never matches
# alone). Joining the tokens gives back the text.
_JSON_TOKENS = r'"(?:[^"\\]|\\.)*"|[^"]+|"'
_WORD = r"[\p{L}\p{N}_]"
_JOINER = r"[.:/@\-]"  # continues a word when a letter or digit follows it (0.75, a-b, host:port)
_JOINS_LEFT = rf"(?:{_WORD}|[\p{{L}}\p{{N}}]{_JOINER})$"
_JOINS_RIGHT = rf"^(?:{_WORD}|{_JOINER}[\p{{L}}\p{{N}}])"


def token(value: str, key: bytes) -> str:
    return "p_" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _mapping(values: pl.Series, key: bytes) -> pl.DataFrame:
    v = values.drop_nulls().unique().sort()
    return pl.DataFrame({"value": v, "token": [token(x, key) for x in v.to_list()]},
                        schema={"value": pl.String, "token": pl.String})


def json_string(e: pl.Expr) -> pl.Expr:
    """``e`` as a JSON string literal, quoted and escaped exactly as Polars' ``json_encode`` writes it."""
    return pl.struct(e.alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def _substrings(mapping: pl.DataFrame, cut: int | None = None) -> tuple[list[str], list[str]]:
    """Identifier values and their tokens, longest first (a value inside a longer one is not replaced piecemeal);
    with ``cut``, values longer than that also by their first ``cut`` characters."""
    if cut is not None:
        long = mapping.filter(pl.col("value").str.len_chars() > cut).select(pl.col("value").str.slice(0, cut), "token")
        mapping = pl.concat([mapping, long]).unique("value", keep="first", maintain_order=True)
    by_len = mapping.sort(pl.col("value").str.len_chars(), "value", descending=[True, False])
    return by_len["value"].to_list(), by_len["token"].to_list()


NOTE_WITHHELD = "(withheld: --pseudonymize)"
RAW_WITHHELD = "(withheld: --pseudonymize; a line that could not be split into fields)"


def _withheld_notes(lf: pl.LazyFrame) -> pl.LazyFrame:
    """A reviewer's free-text note may name a customer's ids: withheld (fails closed), not searched for them, in a
    ``note`` column (decided findings) and in a rejected decisions row's raw text (its JSON's note, or the whole
    line when it could not be split)."""
    names = lf.collect_schema().names()
    if "note" in names:
        lf = lf.with_columns(pl.when(pl.col("note").is_not_null()).then(pl.lit(NOTE_WITHHELD)).alias("note"))
    if {"input", "raw"} <= set(names):
        decision_row, raw = pl.col("input") == "decisions", pl.col("raw")
        lf = lf.with_columns(
            pl.when(decision_row & raw.str.starts_with("{"))
            .then(raw.str.replace_all(r'"note":"(?:[^"\\]|\\.)*(?:"|\\?$)', f'"note":"{NOTE_WITHHELD}"'))
            .when(decision_row & raw.is_not_null()).then(pl.lit(NOTE_WITHHELD)).otherwise(raw).alias("raw"))
    return lf


# a "key":"value" or "key":number pair of a raw row's JSON text (JSON-escaped)
_RAW_PAIR = r'"((?:[^"\\]|\\.)*)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9][0-9.eE+-]*))'


def rejected_id_values(rejected: pl.DataFrame, id_sources: set[str] | frozenset[str] = frozenset()) -> pl.DataFrame:
    """The identifier values (column ``v``) in rejected rows' ``raw`` JSON: fields whose key is an id column by its
    canonical name in any case or spacing (`` User_ID ``), or a source name the config's ``[columns]`` maps onto one
    (``uid``): a raw row is keyed by the file's own headers. Read from the text, pair by pair, so a preview cut off
    inside a string still gives the ids before the cut."""
    pairs = (rejected.select(pl.col("raw").str.extract_all(_RAW_PAIR).alias("kv")).explode("kv").drop_nulls()
             .select(pl.col("kv").str.extract_groups(f"^{_RAW_PAIR}$").struct.unnest()))
    if pairs.height == 0:
        return pl.DataFrame(schema={"v": pl.String})
    key = (pl.lit('"') + pl.col("1") + pl.lit('"')).str.json_decode(pl.String)
    text = (pl.lit('"') + pl.col("2") + pl.lit('"')).str.json_decode(pl.String)
    # the reader takes a header in any case and spacing (` UID ` for a source "uid") and a column's name in another
    # style (userId, "User ID"): so is it compared here
    names = {squashed(n) for n in (*ID_COLUMNS, *id_sources)}
    is_id = squashed_expr(key).is_in(sorted(names))
    return pairs.filter(is_id).select(pl.coalesce(text, pl.col("3")).alias("v")).drop_nulls().unique()


class Pseudonymizer:
    """Built once per scan from every identifier value of the inputs."""

    def __init__(self, key: str, frames: dict[str, pl.LazyFrame], rejected: pl.DataFrame | None = None,
                 id_sources: set[str] | frozenset[str] = frozenset()) -> None:
        if not key:
            raise FraudError("--pseudonymize needs a non-empty key")
        self.key = key.encode("utf-8")
        parts = [lf.select(pl.col(c).cast(pl.String).alias("v")) for lf in frames.values()
                 for c in ID_COLUMNS if c in lf.collect_schema().names()]
        # Rejected rows keep their raw text: their identifiers are tokenised too (and are the only ones a rejected
        # row's reason can quote: its own).
        rejected_ids = (rejected_id_values(rejected, id_sources) if rejected is not None and rejected.height
                        else pl.DataFrame(schema={"v": pl.String}))
        parts.append(rejected_ids.lazy())
        # Distinct values only, found with the streaming engine: a partitioned scan's inputs can exceed memory.
        values = pl.concat([p.unique() for p in parts]).unique().collect(engine="streaming")["v"]
        # A placeholder ("unknown", "0") identifies nobody; a value without a letter or digit ("-", ",") could
        # only be matched in text by rewriting punctuation.
        named = pl.select(pl.lit(values).str.contains(r"[\p{L}\p{N}]").fill_null(False)
                          & ~placeholder_id(pl.lit(values)).fill_null(False))
        self.map = _mapping(values.filter(named.to_series()), self.key)
        self._json_map = self.map.select(json_string(pl.col("value")).alias("_tok"),
                                         json_string(pl.col("token")).alias("_new"))
        self._substrings: tuple[list[str], list[str]] | None = None
        self._rejected_map = self.map.join(rejected_ids.rename({"v": "value"}), on="value", how="semi")

    def _col(self, c: str) -> pl.Expr:
        return pl.col(c).replace_strict(self.map["value"], self.map["token"], default=pl.col(c),
                                        return_dtype=pl.String)

    def apply(self, df: pl.DataFrame | pl.LazyFrame):
        """Tokenise identifier columns and identifiers inside the text columns of a frame; withhold reviewers'
        notes (:func:`_withheld_notes`)."""
        lazy = isinstance(df, pl.LazyFrame)
        lf = _withheld_notes(df.lazy())
        names = lf.collect_schema().names()
        texts = [c for c in TEXT_COLUMNS if c in names]
        if texts and self.map.height:
            lf = lf.with_row_index("_pr").with_columns(pl.col(texts).cast(pl.String))
            for c in texts:
                if c in SUMMARY_COLUMNS:
                    for idc in (i for i in SUMMARY_ID_COLUMNS if i in names):
                        lf = self._own_words(lf, c, idc)
                else:
                    lf = self._json_values(lf, c)
            lf = lf.drop("_pr")
        if "reason" in names and self._rejected_map.height:
            # a rejected row's reason quotes its own bad value (an id with a control character ...), cut to
            # SHOWN_CHARS: the rejected rows' ids replaced by substring, longer ones by their cut too (fails closed;
            # the rejected rows' few ids, not the whole table: 6.8 s for 1.4M ids)
            patterns, tokens = _substrings(self._rejected_map, cut=SHOWN_CHARS)
            lf = lf.with_columns(pl.col("reason").str.replace_many(patterns, tokens, leftmost=True))
        exprs = [self._col(c) for c in ID_COLUMNS if c in names]
        lf = lf.with_columns(exprs) if exprs else lf
        return lf if lazy else lf.collect()

    def _json_values(self, lf: pl.LazyFrame, c: str) -> pl.LazyFrame:
        """Replace identifier string values in the JSON texts of column ``c``; other texts by substring."""
        is_json = pl.col(c).str.starts_with("{")
        toks = (lf.filter(is_json).select("_pr", pl.col(c).str.extract_all(_JSON_TOKENS).alias("_tok"))
                .explode("_tok"))
        is_key = (pl.col("_pr").shift(-1) == pl.col("_pr")) & pl.col("_tok").shift(-1).str.starts_with(":")
        cut = (pl.col("_tok") == '"').cast(pl.Int32).cum_sum().over("_pr") > 0  # a string cut off at the end
        new = (toks.with_columns(is_key.fill_null(False).alias("_key"), cut.alias("_cut"))
               .filter(~pl.col("_cut"))
               .join(self._json_map.lazy(), on="_tok", how="left", maintain_order="left")
               .select("_pr", pl.when(pl.col("_new").is_not_null() & ~pl.col("_key")).then("_new")
                       .otherwise("_tok").alias("_tok"))
               .group_by("_pr", maintain_order=True).agg(pl.col("_tok").str.join("").alias("_txt")))
        out = lf.join(new, on="_pr", how="left", maintain_order="left").with_columns(
            pl.when(is_json).then(pl.col("_txt").fill_null("")).otherwise(pl.col(c)).alias(c)).drop("_txt")
        if c == "raw":
            # a rejected line that could not be split into fields: its identifiers were never read (an account only
            # in that line is in no table), so no substring of it can be trusted to be free of one: withheld
            return out.with_columns(pl.when(is_json | pl.col(c).is_null()).then(pl.col(c))
                                    .otherwise(pl.lit(RAW_WITHHELD)).alias(c))
        if lf.filter(pl.col(c).is_not_null() & ~is_json).select(pl.len()).collect().item():
            patterns, tokens = self._substring_tables()
            out = out.with_columns(pl.when(is_json).then(pl.col(c)).otherwise(
                pl.col(c).str.replace_many(patterns, tokens, leftmost=True)).alias(c))
        return out

    def _own_words(self, lf: pl.LazyFrame, c: str, idc: str) -> pl.LazyFrame:
        """Replace the row's own ``idc`` value where it stands as a word in text column ``c``."""
        rows = (lf.select("_pr", pl.col(c).alias("_s"), pl.col(idc).cast(pl.String).alias("_id"))
                .join(self.map.lazy().rename({"value": "_id", "token": "_new"}), on="_id", how="inner")
                .filter(pl.col("_s").is_not_null()))
        pieces = rows.select("_pr", "_id", "_new", pl.col("_s").str.split(pl.col("_id")).alias("_p")).explode("_p")
        last = pl.col("_pr").shift(-1) != pl.col("_pr")
        word = ~pl.col("_p").str.contains(_JOINS_LEFT) & ~pl.col("_p").shift(-1).str.contains(_JOINS_RIGHT)
        glue = pl.when(last.fill_null(True)).then(pl.lit("")).when(word.fill_null(False)).then("_new") \
            .otherwise("_id")
        new = pieces.select("_pr", pl.concat_str("_p", glue).alias("_p")).group_by("_pr", maintain_order=True).agg(
            pl.col("_p").str.join("").alias("_txt"))
        return lf.join(new, on="_pr", how="left", maintain_order="left").with_columns(
            pl.coalesce("_txt", c).alias(c)).drop("_txt")

    def _substring_tables(self) -> tuple[list[str], list[str]]:
        if self._substrings is None:
            self._substrings = _substrings(self.map)
        return self._substrings
