"""Shared harness of the reader fuzz suite (``tests/fuzz``): settings, the no-run / no-write guard, mutators."""

from __future__ import annotations

import builtins
import os
import pickle
import posix
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "pdms"

FUZZ = settings(
    deadline=None,
    database=None,  # writes nothing (the guard checks the cwd)
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found (keeps the minute)
    report_multiple_bugs=False,
    derandomize=os.environ.get("INSPATIO_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

CALLS: list[tuple] = []


def sentinel(*args):
    """What a hostile pickle would call if the unpickler resolved it."""
    CALLS.append(args)
    return args


# ------------------------------------------------------------------------------------------------ harness
@contextmanager
def guard(folder: Path):
    """No sentinel, ``os.system`` or ``subprocess`` call and no new / removed file in ``folder`` or the cwd."""
    calls: list[tuple] = []

    def recorder(*args, **kwargs):
        calls.append(args)
        return 0

    before = {p: sorted(os.listdir(p)) for p in (folder, Path.cwd())}
    CALLS.clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(posix, "system", recorder)
            mp.setattr(os, "system", recorder)
            mp.setattr(subprocess, "Popen", recorder)
            yield
    finally:  # checked whether the reader returned or raised
        assert not CALLS and not calls, f"code ran while reading: {CALLS or calls}"
        after = {p: sorted(os.listdir(p)) for p in before}
        assert after == before, f"files written while reading: {after} != {before}"


def check(fn, path: Path, errors: tuple[type[BaseException], ...]):
    """Call ``fn()``; any exception must be one of ``errors``, one line, naming ``path``."""
    with guard(path.parent):
        try:
            fn()
        except errors as exc:
            message = str(exc)
            assert "\n" not in message, f"multi-line message: {message!r}"
            assert str(path) in message or str(path.parent) in message, (
                f"the message does not name the file {path}: {message!r}")


def slot(workdir: Path, name: str) -> Path:
    """A fresh, empty folder per example (the guard compares its listing)."""
    d = workdir / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def mutate_bytes(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "prefix"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "splice":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(max_size=64)) + data[i:]
    return draw(st.binary(max_size=64)) + data


# odd values a field may hold (all picklable by the restricted unpickler's allow-list)
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.builds(lambda shape, fill: np.full(shape, fill), st.lists(st.integers(0, 4), max_size=3).map(tuple),
              st.sampled_from([0.0, 1.0, np.nan, np.inf])),
    st.builds(lambda n: np.array(["x"] * n), st.integers(0, 3)),
)

HOSTILE_TARGETS = [sentinel, os.system, eval, exec, builtins.open, subprocess.check_output, shutil.rmtree,
                   getattr, __import__, pickle.loads, np.load]


class Hostile:
    def __init__(self, target, args):
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


def hostile(draw, workdir: Path):
    target = draw(st.sampled_from(HOSTILE_TARGETS))
    victim = str(workdir / "pwned")
    args = {os.system: (f"touch {victim}",), eval: ("__import__('os').system('true')",), exec: ("x = 1",),
            builtins.open: (victim, "w"), subprocess.check_output: (["touch", victim],), shutil.rmtree: (victim,),
            getattr: (Hostile(__import__, ("os",)), "system"), __import__: ("os",), pickle.loads: (b"",), np.load: (victim,)}.get(target, ("boom",))
    return Hostile(target, args)


def set_path(obj, path, value):
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def leaf_paths(obj, prefix=()):
    """Key paths of the dict / list entries of a frame (every field and sub-field)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out.extend(leaf_paths(v, (*prefix, k)))
    elif isinstance(obj, list) and len(obj) <= 8:
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out.extend(leaf_paths(v, (*prefix, i)))
    return out




JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=9) | st.dictionaries(
        st.sampled_from(["trajectories", "names", "interval_s", "name", "poses_local_xyh", "x"]), children, max_size=4),
    max_leaves=60,
)
"""Random JSON documents (keys biased towards the candidate-file fields)."""
