"""The command schemas (inspatio_drive.config.schema) repeat the knobs of a few library configs, because the
config layer sits below the rooms and may not import them: an intentional twin, held equal here."""

from __future__ import annotations

import dataclasses

import pytest

from inspatio_drive.config import schema
from inspatio_drive.pdm.cache.config import IDMConfig, MetricCacheConfig
from inspatio_drive.pdm.scorer import PDMScorerConfig


def _defaults(cls: type) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        out[f.name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


@pytest.mark.parametrize(
    ("section", "library"),
    [
        (schema.PDMScoreScorerSection, PDMScorerConfig),
        (schema.MetricCacheBuilderSection, MetricCacheConfig),
        (schema.IDMSection, IDMConfig),
    ],
)
def test_schema_defaults_equal_the_library_config(section: type, library: type) -> None:
    ours, theirs = _defaults(section), _defaults(library)
    shared = [k for k in ours if k in theirs and not dataclasses.is_dataclass(theirs[k])]
    assert len(shared) >= 5, f"{section.__name__}: too few shared knobs {shared}"
    assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}
    assert set(ours) - set(theirs) <= {"idm"}, f"{section.__name__}: knobs the library does not have"
