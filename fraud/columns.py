"""A file's columns onto the canonical ones: the config's ``[columns]`` mapping (names, alternatives, dotted paths
into JSON objects and Parquet structs), header names written loosely (case, spaces, ``userId``), the common other
names of a column (named in hints and warnings, never read as it but for an accuracy radius in metres), and
scalar-only canonical columns. :func:`apply_mapping` is the entry point of :mod:`fraud.inputs` and
:mod:`fraud.spool`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from fraud.config import Config
from fraud.errors import InputError
from fraud.records import INTERNAL, NESTED, RESERVED
from fraud.schema import InputSchema, squashed


def apply_mapping(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema, cfg: Config, path: Path,
                  headers: dict[str, str] | None = None, unread: dict[str, str] | None = None):
    """Rename mapped and loosely written header names onto the canonical columns (eager or lazy frame);
    a missing required column is an :class:`InputError` naming the file. ``headers``, when given, receives the
    file's own header (or nested path) of each canonical column it renamed: rejection reasons name those.
    ``unread``, when given, receives the optional columns the file gives under another name only
    (:func:`unread_alias_columns`), which are not read as them (several files' together: :func:`first_names`)."""
    types = df.collect_schema()
    names = types.names()
    given = list(names)  # the file's own header, for the error of a missing column
    rename = {}
    loose: dict[str, list[str]] = {}
    for c in names:
        loose.setdefault(c.strip().lower(), []).append(c)

    def header(src: str) -> str | None:
        # the header as the config writes it, else the one header that differs from it in case or spaces only
        # ("Login successful" for "Login Successful": a silent miss would read every failure as a success)
        matches = loose.get(src.strip().lower(), [])
        return src if src in names else (matches[0] if len(matches) == 1 else None)

    nested: dict[str, pl.Expr] = {}
    paths: dict[str, str] = {}  # canonical column -> the nested path it is read from
    mapping = cfg.columns_for(schema.kind)
    for canon, srcs in mapping.items():
        if canon not in schema.columns:
            continue
        alts = srcs if isinstance(srcs, list) else [srcs]
        if len(alts) > 1:
            texts = _text_alternatives(alts, header, types)
            if len(texts) > 1:
                # alternatives the file has side by side, all text: each row takes the first that holds a value
                # (Keycloak's userId, null for an unknown account, then details.username: a spray on made-up names)
                nested[canon] = pl.coalesce([pl.when(e.str.strip_chars() != "").then(e) for _, e in texts])
                paths[canon] = texts[0][0]
                continue
        for src in alts:  # alternatives: the first the file has
            found = header(src)
            if found is None and "." in src:  # a path into a JSON object or Parquet struct: "actor.alternateId"
                value = _nested_value(src, header, types)
                if value is not None:
                    nested[canon] = value[0]
                    paths[canon] = src
                    break
            elif found is not None:
                if found != canon:
                    rename[found] = canon
                break
    if headers is not None:
        headers.update({canon: found for found, canon in rename.items()})
        headers.update(paths)
    if nested:
        df = df.with_columns(v.alias(f"__nested_{c}") for c, v in nested.items())
        rename.update({f"__nested_{c}": c for c in nested})
    if rename:
        names = df.collect_schema().names()
        df = df.drop([c for c in rename.values() if c in names and c not in rename]).rename(rename)
        names = df.collect_schema().names()
    # Tolerate surrounding spaces and case in header names, as long as two headers do not become one column; a
    # header written in another style (userId, User-Agent, "Accuracy (m)") reads as the column it spells, unless
    # the file also has that column under its own name.
    def undup(c: str) -> str:  # the CSV reader renames a repeated header name "user_id" to "user_id_duplicated_0"
        m = re.fullmatch(r"(.+)_duplicated_\d+", c)
        return m.group(1) if m else c

    loosely = {c: c if c in schema.columns else undup(c).strip().lower() for c in names}
    taken = {t for t in loosely.values() if t in schema.columns}
    for c in names:
        styled = None if loosely[c] in schema.columns else squashed_column(undup(c), schema)
        if styled is not None and styled not in taken:
            loosely[c] = styled
    # an optional column under the one name every common export gives it, in the same unit (an accuracy radius in
    # metres): without it a 2 km cell fix would count as a precise one
    for canon, aliases in UNIT_ALIASES.items():
        if canon in schema.columns and canon not in loosely.values() and canon not in mapping:
            like = [c for c in names if c not in schema.columns and squashed(c) in aliases]
            if len(like) == 1:
                loosely[like[0]] = canon
    reads_as: dict[str, list[str]] = {}
    for c in names:
        if loosely[c] in schema.columns:
            reads_as.setdefault(loosely[c], []).append(c)
    for canon, sources in reads_as.items():
        shown = [re.sub(r"_duplicated_\d+$", "", c) for c in sources]
        if len(set(shown)) == 1 < len(shown):
            raise InputError(f"{path}: the header names column {shown[0]!r} {len(shown)} times; rename or drop all "
                             "but one")
        if len(sources) > 1:
            raise InputError(f"{path}: columns {', '.join(repr(c) for c in shown)} all read as {canon!r}; "
                             "rename or drop all but one")
    norm = {c: loosely[c] for c in names if loosely[c] in schema.columns and c not in schema.columns}
    if headers is not None:
        headers.update({canon: src for src, canon in norm.items()})
    if norm:
        df = df.rename(norm)
        names = df.collect_schema().names()
    for col in schema.required:
        if col not in names:
            mapped = mapping.get(col)
            mapped = mapped if isinstance(mapped, list) else [mapped] if mapped else []
            hint = f" (mapped from {' or '.join(repr(m) for m in mapped)})" if mapped else ""
            wrapped = _wrapped_records(df)
            like = [] if mapped or wrapped else [c for c in given if squashed(c) in COLUMN_ALIASES.get(col, ())]
            if len(like) == 1:
                hint = f" ({alias_hint(schema.kind, col, like[0])})"
            raise InputError(f"{path}: missing required column {col!r}{hint}{wrapped or _header_read(given)}")
    if unread is not None:
        unread.update(unread_alias_columns(schema, names, mapping))
    return _scalar_columns(df, schema, path)


def squashed_column(name: str, schema: InputSchema) -> str | None:
    """The canonical column a header spells in another style (``userId``, ``User-Agent``, ``Accuracy (m)``), else
    None."""
    found = [c for c in schema.columns if squashed(c) == squashed(name)]
    return found[0] if len(found) == 1 else None


# Names an optional column has in common exports, with its unit: read as it when the file has no such column.
# Android's Location.getAccuracy(), iOS' horizontalAccuracy, the W3C Geolocation API's coords.accuracy and Google
# Takeout's location history all give the accuracy radius in metres.
# (Not u-blox's hAcc: millimetres.)
UNIT_ALIASES = {"accuracy_m": ("accuracy", "horizontalaccuracy", "horizontalaccuracymeters",
                               "accuracymeters", "accuracymetres", "gpsaccuracy", "locationaccuracy")}

# Other names logs give a required column: never read as it (a "time" may be local, an "account" a bank account
# number), only named in the error's hint, with the config line that maps it.
COLUMN_ALIASES = {
    "ts": ("time", "timestamp", "datetime", "date", "eventtime", "eventtimestamp", "createdat", "created", "logintime",
           "occurredat", "loggedat", "when"),
    "user_id": ("user", "uid", "username", "account", "accountid", "customer", "customerid", "memberid", "member",
                "principal", "login", "actor", "subject", "sub"),
    "device_id": ("device", "deviceuuid", "did", "devicefingerprint", "fingerprint", "udid", "idfv", "androidid"),
    "lat": ("latitude",),
    "lon": ("lng", "long", "longitude"),
    "score": ("creditscore", "riskscore", "points"),
}


# Other names exports give an optional column (beside COLUMN_ALIASES'): like those, never read as it (the contract
# keeps an unknown column and ignores it; a "status" may be an account's), only named in a warning.
OPTIONAL_COLUMN_ALIASES = {
    "ip": ("ipaddress", "clientip", "clientipaddress", "ipaddr", "remoteaddr", "remoteip", "sourceip", "srcip"),
    "event": ("eventtype", "eventname", "action"),
    "success": ("status", "result", "outcome"),
}


def alias_hint(kind: str, canon: str, header: str) -> str:
    """The config line that reads ``header`` as ``canon``, as the hints name it (the kind's own table: ``[columns]``
    would rename that header in every input kind)."""
    hint = (f"{ascii(header)} looks like it: map it in the config's [columns.{kind}] table, "
            f"{canon} = {json.dumps(header)}")
    if canon == "success":  # a status column is often a code: 200/401, Entra's errorCode 0
        hint += "; a code there (an HTTP status, an error code) also needs [outcomes] to say which values succeed"
    return hint


def unread_alias_columns(schema: InputSchema, names: list[str], mapping: dict) -> dict[str, str]:
    """Per optional canonical column a file's columns ``names`` (after the mapping) lack and the config does not map,
    the one header that is a common other name for it (:data:`COLUMN_ALIASES`, :data:`OPTIONAL_COLUMN_ALIASES`:
    ``latitude`` for ``lat``, ``ip_address`` for ``ip``, ``event_type`` for ``event``); none when two are."""
    aliases = {**COLUMN_ALIASES, **OPTIONAL_COLUMN_ALIASES}
    out = {}
    for canon in schema.columns:
        if canon in schema.required or canon in names or canon in mapping or canon not in aliases:
            continue
        like = [c for c in names if c not in schema.columns and c not in INTERNAL and squashed(c) in aliases[canon]]
        if len(like) == 1:
            out[canon] = like[0]
    return out


def first_names(per_file) -> dict[str, str]:
    """Files' :func:`unread_alias_columns` together, in file order: a column's first file names its header."""
    out: dict[str, str] = {}
    for unread in per_file:
        for canon, header in unread.items():
            out.setdefault(canon, header)
    return out


def _header_read(names: list[str], n: int = 8) -> str:
    """What the reader took for the header, quoted with escapes (a title line, a BOM or an invisible character in a
    name, a separator not detected: the cause of a "missing required column" is then visible)."""
    given = [c for c in names if c not in RESERVED]
    if not given:
        return ""
    more = f" and {len(given) - n} more" if len(given) > n else ""
    return f"; the header read: {', '.join(ascii(c) for c in given[:n])}{more}"


def _text_alternatives(alts: list[str], header, types: pl.Schema) -> list[tuple[str, pl.Expr]]:
    """The alternatives of a list mapping that the file has, as (the file's name or path, its value), when every
    one of them is text (a header of strings, a path into JSON text or to a struct's string field); else []: other
    types keep the first alternative the file has."""
    out = []
    for src in alts:
        found = header(src)
        if found is not None:
            if types[found] != pl.String:
                return []
            out.append((found, pl.col(found)))
        elif "." in src and (value := _nested_value(src, header, types)) is not None:
            if value[1] != pl.String:
                return []
            out.append((src, value[0]))
    return out


def _nested_value(src: str, header, types: pl.Schema) -> tuple[pl.Expr, pl.DataType] | None:
    """The value at a dotted path (``client.geographicalContext.city``) in a column of JSON objects (NDJSON's nested
    values, or JSON text in a CSV cell) or of Parquet structs, and its type (a struct field's; text from JSON): the
    longest prefix that is a column, the rest the path inside it. None when no prefix is a column (or a struct
    lacks the field): the mapping then misses."""
    parts = src.split(".")
    for i in range(len(parts) - 1, 0, -1):
        col = header(".".join(parts[:i]))
        if col is None:
            continue
        rest, dtype = parts[i:], types[col]
        if isinstance(dtype, pl.Struct):
            e = pl.col(col)
            for p in rest:
                fields = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
                if p not in fields:
                    return None
                e, dtype = e.struct.field(p), fields[p]
            return e, dtype
        if dtype == pl.String:
            path = "$" + "".join("['" + p.replace("\\", "\\\\").replace("'", "\\'") + "']" for p in rest)
            return pl.col(col).str.strip_prefix(NESTED).str.json_path_match(path).map_batches(
                _mark_containers, return_dtype=pl.String, is_elementwise=True), pl.String
    return None


def _mark_containers(s: pl.Series) -> pl.Series:
    """``json_path_match`` gives an object or a list at the path as its JSON text, like a string: such a value
    gets the nested mark (:data:`fraud.records.NESTED`), so that the parser rejects it ("nested JSON value")
    instead of reading the account ``{"id":"mallory"}``. Tested once per distinct value that starts like one."""
    cand = s.filter(s.str.contains(r"^\s*[\[{]")).unique().to_list()
    containers = [v for v in cand if _is_container(v)]
    if not containers:
        return s
    return s.to_frame("v").select(pl.when(pl.col("v").is_in(containers)).then(pl.lit(NESTED) + pl.col("v"))
                                  .otherwise(pl.col("v"))).to_series().alias(s.name)


def _is_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except (ValueError, RecursionError):
        return False


def _wrapped_records(df: pl.DataFrame | pl.LazyFrame) -> str:
    """A hint for a JSON file that is one object holding its records in a list (CloudTrail's ``{"Records": [...]}``,
    Takeout's ``{"locations": [...]}``, GeoJSON's ``features``): read as one record, it lacks every column."""
    if not isinstance(df, pl.DataFrame) or df.height != 1:
        return ""
    lists = [c for c, t in df.schema.items() if t == pl.String and str(df[c][0] or "").startswith(NESTED + "[{")]
    if not lists:
        return ""
    n = len(json.loads(df[lists[0]][0][len(NESTED):]))
    return (f"; the file is one JSON object whose {lists[0]!r} holds {n:,} records: give one record per line "
            f"(e.g. jq -c '.{lists[0]}[]' FILE > records.jsonl)")


def _scalar_columns(df: pl.DataFrame | pl.LazyFrame, schema: InputSchema, path: Path):
    """Canonical columns must hold scalars: a nested Parquet/JSON column (list, struct) or a duration column is
    an InputError naming it; a binary column is read as UTF-8 text (an error when it is not)."""
    types = df.collect_schema()
    for col in (c for c in schema.columns if c in types):
        if types[col].is_nested() or types[col] == pl.Object or isinstance(types[col], pl.Duration):
            raise InputError(f"{path}: column {col!r} holds {types[col]} values; expected text, numbers, booleans "
                             "or timestamps")
    binary = [c for c in schema.columns if c in types and types[c] == pl.Binary]
    if not binary:
        return df
    try:
        return df.with_columns(pl.col(c).cast(pl.String) for c in binary)
    except pl.exceptions.PolarsError:
        raise InputError(f"{path}: column(s) {', '.join(binary)} hold bytes that are not UTF-8 text") from None
