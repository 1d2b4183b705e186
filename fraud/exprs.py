"""Small expression helpers shared by the checks."""
from __future__ import annotations

import polars as pl


def fmt(template: str, *args: pl.Expr | str | int | float) -> pl.Expr:
    """Like ``pl.format`` (``{}`` placeholders; ``str`` arguments name columns), built on ``concat_str``.

    ``pl.format`` panics in Polars 2.1's streaming engine on multi-chunk string columns after a filter (e.g.
    straight from a CSV read), so the toolkit formats with this instead. A null argument gives a null result.
    """
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"template {template!r} needs {len(pieces) - 1} arguments, got {len(args)}")
    exprs: list[pl.Expr] = [pl.lit(pieces[0])]
    for arg, piece in zip(args, pieces[1:]):
        if isinstance(arg, pl.Expr):
            e = arg
        else:
            e = pl.col(arg) if isinstance(arg, str) else pl.lit(f"{arg:g}" if isinstance(arg, float) else str(arg))
        exprs += [e.cast(pl.String), pl.lit(piece)]
    return pl.concat_str(exprs)
