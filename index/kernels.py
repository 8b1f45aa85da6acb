"""The compiled kernels (index/_kernels.c), or None where the install built none.

setup.py builds them where a C compiler is at hand. They compute what numpy computes elsewhere in this package
(search.py: quote window scoring; the first stage's BM25 scores and best passages), to float32 rounding, in
one call each instead of dozens of numpy calls: right after the question's encode has cooled the caches, each
numpy call costs a few microseconds, and together they were most of a search. ``COMPILED`` says whether they
are used; set it False to run everything with numpy (the benchmarks compare the two)."""
from __future__ import annotations

from types import ModuleType

compiled: ModuleType | None
try:
    from . import _kernels as compiled
except ImportError:  # no C compiler on install: numpy serves, a little slower
    compiled = None

COMPILED = compiled is not None


def use(requested: bool | None) -> ModuleType | None:
    """The kernels to run: for ``requested`` None, those built unless COMPILED was turned off; for True, those
    built (RuntimeError if none were); for False, none."""
    if requested is None:
        return compiled if COMPILED else None
    if requested and compiled is None:
        raise RuntimeError("The compiled kernels were not built (index/_kernels.c needs a C compiler on install).")
    return compiled if requested else None
