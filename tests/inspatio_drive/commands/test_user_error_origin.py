"""A plain ValueError is a user error only when this project raised it; one from a library is a bug."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.commands.base import handles_user_errors, is_user_error
from inspatio_drive.contracts.errors import CandidateFormatError
from inspatio_drive.pdm.v2 import EPDMSConfig


def _raise(exc_factory):
    try:
        exc_factory()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def _ours() -> None:
    EPDMSConfig(human_filter="newest")  # the project's own check raises a plain ValueError


def test_own_value_error_is_a_user_error():
    assert is_user_error(_raise(_ours))


def test_library_value_error_is_a_bug():
    exc = _raise(lambda: np.zeros(3).reshape(2, 2))  # raised inside numpy
    assert isinstance(exc, ValueError) and not is_user_error(exc)


def test_documented_subclass_is_a_user_error_wherever_raised():
    assert is_user_error(CandidateFormatError("c.json: expected [K, 8, 3]"))


def test_entry_point_keeps_the_traceback_of_a_library_value_error(capsys):
    @handles_user_errors("demo")
    def main(overrides):
        if overrides:
            _ours()
        np.zeros(3).reshape(2, 2)
        return 0

    assert main(["x"]) == 2
    assert "epdms.human_filter: expected one of" in capsys.readouterr().err
    with pytest.raises(ValueError, match="reshape"):
        main([])
