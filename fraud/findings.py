"""Findings: the one output row shape every check produces (contract section 2).

A check builds its findings with :func:`emit`, which fills the contract's columns from expressions over the
check's own frame. The pipeline then adds ``family`` and a stable ``finding_id`` (:func:`finalize`): a hash
of rule, subject (user, device, ip) and evidence window (or, for a rule whose window is a subject's first to latest
sighting, of what the check names as the finding's identity), so the same evidence scanned again gives the same id,
whatever the clock or the row order.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

import polars as pl

from fraud.exprs import fmt

from fraud.config import Config, Rule
from fraud.schema import CHECK_COLUMNS, FINDINGS_SCHEMA, TS

ExprLike = pl.Expr | str | int | float | bool | None


def _expr(v: ExprLike, dtype: pl.DataType | None = None) -> pl.Expr:
    if isinstance(v, pl.Expr):
        return v
    return pl.lit(v, dtype=dtype)


def evidence_json(fields: Mapping[str, ExprLike]) -> pl.Expr:
    """A JSON object string built from named values (keys in the given order): a ``str`` names a column,
    an expression is evaluated, a number or bool is a literal (use ``pl.lit("text")`` for literal text)."""
    if not fields:
        return pl.lit("{}")
    return pl.struct([(pl.col(v) if isinstance(v, str) else _expr(v)).alias(k)
                      for k, v in fields.items()]).struct.json_encode()


def emit(
    lf: pl.LazyFrame,
    rule: Rule,
    *,
    summary: pl.Expr,
    evidence: Mapping[str, ExprLike],
    first_ts: ExprLike = "first_ts",
    last_ts: ExprLike = "last_ts",
    user_id: ExprLike = "user_id",
    device_id: ExprLike = None,
    ip: ExprLike = None,
    points: ExprLike = None,
    severity: ExprLike = None,
) -> pl.LazyFrame:
    """Turn a frame with one row per finding into the contract's finding columns.

    String arguments name columns of ``lf``; expressions are evaluated on it; ``None`` gives a null
    (``points``/``severity`` default to the rule's configured values).
    """
    col = lambda v, dt: (pl.col(v) if isinstance(v, str) else _expr(v, dt)).cast(dt)  # noqa: E731
    return lf.select(
        col(user_id, pl.String).alias("user_id"),
        pl.lit(rule.id).alias("rule"),
        (col(severity, pl.String) if severity is not None else pl.lit(rule.severity)).alias("severity"),
        (col(points, pl.Int64) if points is not None else pl.lit(rule.points, pl.Int64)).alias("points"),
        col(first_ts, TS).alias("first_ts"),
        col(last_ts, TS).alias("last_ts"),
        col(device_id, pl.String).alias("device_id"),
        col(ip, pl.String).alias("ip"),
        evidence_json(evidence).alias("evidence"),
        summary.cast(pl.String).alias("summary"),
    )


def empty_findings() -> pl.LazyFrame:
    """A findings frame with no rows and the check columns."""
    return pl.LazyFrame(schema=CHECK_COLUMNS)


ID_CHARS = 20
DIGEST_CHARS = 8
# the shape of every finding id (:func:`finalize`; findings sharing a key add their content's digest, and rows
# identical in every column a "-1", "-2" ... after it)
FINDING_ID = re.compile(f"[0-9a-f]{{{ID_CHARS}}}(?:-[0-9a-f]{{{DIGEST_CHARS}}})?(?:-[0-9]+)?")


def _hashed(e: pl.Expr, chars: int, secret: str | None = None) -> pl.Expr:
    """Hex digests of ``e``'s texts: SHA-1, or HMAC-SHA256 keyed with ``secret``."""
    if secret:
        key = secret.encode("utf-8")
        digest = lambda k: hmac.new(key, k.encode("utf-8"), hashlib.sha256).hexdigest()[:chars]  # noqa: E731
    else:
        digest = lambda k: hashlib.sha1(k.encode("utf-8")).hexdigest()[:chars]  # noqa: E731
    return e.map_batches(lambda s: pl.Series([digest(k) for k in s.to_list()], dtype=pl.String),
                         return_dtype=pl.String)


def id_key(identities: Mapping[str, tuple[str, ...]]) -> pl.Expr:
    """The text a finding's id hashes: rule, subject (user, device, ip) and evidence window (first and last
    timestamp, microseconds); for a rule in ``identities`` (:func:`fraud.registry.identities`: rule id -> finding
    columns or evidence fields), the rule and those values instead, so that the id of an emulator, a bot user agent
    or a month so far stays as tomorrow's logs extend its window."""
    def text(name: str) -> pl.Expr:
        e = pl.col(name) if name in CHECK_COLUMNS else pl.col("evidence").str.json_path_match(f"$.{name}")
        return (e.dt.epoch("us") if name in ("first_ts", "last_ts") else e).cast(pl.String).fill_null("")

    window = pl.concat_str([pl.col("rule"), *map(text, ("user_id", "device_id", "ip", "first_ts", "last_ts"))],
                           separator="|")
    key = None
    for rule, names in identities.items():
        is_rule, value = pl.col("rule") == rule, pl.concat_str([pl.col("rule"), pl.lit("@"), *map(text, names)],
                                                               separator="|")
        key = pl.when(is_rule).then(value) if key is None else key.when(is_rule).then(value)
    return window if key is None else key.otherwise(window)


def finalize(findings: pl.DataFrame, cfg: Config, identities: Mapping[str, tuple[str, ...]] | None = None,
             secret: str | None = None) -> pl.DataFrame:
    """Add ``family`` and ``finding_id``, enforce the contract's column order and types, sort stably.

    ``finding_id`` hashes :func:`id_key`. Findings that share a key (two of one rule, subject and window) add a
    digest of their content (window, device, ip, points, severity, evidence, summary): each keeps its own id
    whatever the other findings are, so a reviewer's decision never passes to another finding (a position among
    them did: when one of a user's two bot agents was seen again, the other took its id and its dismissal). Rows
    equal in every column are told apart by their order. With ``secret`` (``--pseudonymize``'s key) the hashes are
    keyed: an id hashed from clear user, device and IP values beside its own timestamps could be brute-forced back
    to them (an IPv4 address in about an hour), and would join pseudonymised outputs of different keys row by row."""
    fam = {rid: r.family for rid, r in cfg.rules.items()}
    df = findings.select([pl.col(c).cast(t) for c, t in CHECK_COLUMNS.items()])
    content = pl.concat_str([pl.col(c).dt.epoch("us").cast(pl.String).fill_null("") for c in ("first_ts", "last_ts")]
                            + [pl.col(c).cast(pl.String).fill_null("") for c in ("device_id", "ip", "points",
                                                                                  "severity", "evidence", "summary")],
                            separator="|")
    df = df.with_columns(
        pl.col("rule").replace_strict(fam, default=None, return_dtype=pl.String).alias("family"),
        _hashed(id_key(identities or {}), ID_CHARS, secret).alias("finding_id"),
    ).with_columns(pl.when(pl.len().over("finding_id") > 1)
                   .then(pl.col("finding_id") + "-" + _hashed(content, DIGEST_CHARS, secret))
                   .otherwise(pl.col("finding_id")).alias("finding_id"))
    df = df.sort(["finding_id", "evidence"]).with_columns(
        pl.when(pl.int_range(pl.len()).over("finding_id") > 0)
        .then(fmt("{}-{}", "finding_id", pl.int_range(pl.len()).over("finding_id")))
        .otherwise(pl.col("finding_id")).alias("finding_id"))
    return df.select(list(FINDINGS_SCHEMA)).sort(
        ["user_id", "rule", "first_ts", "device_id", "ip", "finding_id"], nulls_last=True)
