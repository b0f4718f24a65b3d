"""Restricted unpickler for OpenScene / NAVSIM log pickles.

A pickle can name any importable callable and call it while loading (``__reduce__``), so loading an
untrusted pickle with :func:`pickle.load` can run arbitrary code. OpenScene logs only contain
builtin containers/scalars and numpy arrays, dtypes and scalars, so :class:`SafeUnpickler` resolves
only the globals those need and refuses everything else *before* anything is called, with an error
naming the file and the forbidden global.

Allowed globals: numpy's array/scalar reconstruct helpers under both the numpy 1.x
(``numpy.core.*``) and 2.x (``numpy._core.*``) module names, ``numpy.ndarray``, ``numpy.dtype``,
``_codecs.encode`` restricted to latin-1 (protocol-2 byte strings), ``collections.OrderedDict``, and
the builtins ``set``, ``frozenset``, ``bytearray``, ``complex``, ``slice``, ``range``. A reader of another
format may add entries (``extra_globals``): navsim's synthetic scene pickles add the nuplan classes they contain,
each resolved to one of this project's data-only reconstruction classes (:mod:`inspatio_drive.data.nuplan_pickle`).
"""

from __future__ import annotations

import codecs
import collections
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from inspatio_drive.contracts.errors import InputFormatError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


class UnsafePickleError(InputFormatError, pickle.UnpicklingError):
    """The pickle references a global outside the allow-list (nothing was executed)."""


class CorruptPickleError(InputFormatError, pickle.UnpicklingError):
    """The file is not a readable pickle: truncated, corrupt or not a pickle at all (file named)."""


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # protocol <= 2 pickles store bytes as _codecs.encode(str, "latin1"); no other codec is allowed
    if encoding.lower().replace("_", "-") not in {"latin1", "latin-1", "iso-8859-1"}:
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed (only latin-1)")
    return codecs.encode(obj, "latin-1", errors)


def _allowed() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = _multiarray._reconstruct
        table[(mod, "scalar")] = _multiarray.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(mod, "_frombuffer")] = _numeric._frombuffer
    for name, obj in {
        "set": set,
        "frozenset": frozenset,
        "bytearray": bytearray,
        "complex": complex,
        "slice": slice,
        "range": range,
    }.items():
        table[("builtins", name)] = obj
        table[("__builtin__", name)] = obj  # protocol-2 pickles written by Python 2
    return table


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed()


class SafeUnpickler(pickle.Unpickler):
    """:class:`pickle.Unpickler` that resolves only :data:`ALLOWED_GLOBALS`.

    Args:
        file: binary file object.
        source: name used in error messages (the file path).
        extra_globals: further ``(module, name) → object`` entries a format allows (data-only constructors).
        what: the format named in the refusal message.
    """

    def __init__(self, file: io.BufferedIOBase, source: str = "<stream>",
                 extra_globals: Mapping[tuple[str, str], Any] | None = None,
                 what: str = "OpenScene logs may only contain builtin and numpy types") -> None:
        super().__init__(file, encoding="latin1")  # numpy 1.x arrays pickled under Python 2 need latin1
        self._source = source
        self._extra = extra_globals or {}
        self._what = what

    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED_GLOBALS.get((module, name), self._extra.get((module, name)))
        if found is None:
            raise UnsafePickleError(
                f"{self._source}: refusing to load global '{module}.{name}': {self._what} "
                "(the file is corrupt or not such a pickle, or may be malicious)"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed in log pickles")


def safe_load(path: str | os.PathLike[str], extra_globals: Mapping[tuple[str, str], Any] | None = None,
              what: str | None = None) -> Any:
    """Load a pickle file through :class:`SafeUnpickler` (``extra_globals`` / ``what``: see there).

    Raises:
        UnsafePickleError: a forbidden global (file and ``module.name`` in the message).
        CorruptPickleError: a truncated / corrupt file or not a pickle (file named in the message).
        FileNotFoundError: missing file.
    """
    path = Path(path)
    with path.open("rb") as fh:
        return _load(fh, str(path), extra_globals, what)


def _load(fh: io.BufferedIOBase, source: str, extra_globals: Mapping[tuple[str, str], Any] | None = None,
          what: str | None = None) -> Any:
    try:
        unpickler = (SafeUnpickler(fh, source, extra_globals) if what is None
                     else SafeUnpickler(fh, source, extra_globals, what))
        return unpickler.load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise CorruptPickleError(f"{source}: corrupt, truncated or not a pickle ({detail})") from exc


def safe_loads(data: bytes, source: str = "<bytes>", extra_globals: Mapping[tuple[str, str], Any] | None = None,
               what: str | None = None) -> Any:
    """:func:`safe_load` for in-memory bytes."""
    return _load(io.BytesIO(data), source, extra_globals, what)
