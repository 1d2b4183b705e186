"""The command line (:mod:`fraud.cli.main`).

Before Polars loads, its memory allocator is told to keep freed memory for 10 s instead of returning it within
0.5-1 s, Polars' own setting (see :mod:`fraud.allocator`: the scan is ~25% faster for a higher peak, which the
slice sizing accounts for).
"""
import os

from fraud.allocator import ALLOCATOR_ENV, allocator_conf

os.environ[ALLOCATOR_ENV] = allocator_conf(os.environ.get(ALLOCATOR_ENV))
