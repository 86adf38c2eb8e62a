"""Settings `sources:`: each kind needs its own fields; names are a home's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tasklane.settings import Settings
from tasklane.settings.sources import SourceSettings


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "directory"}, "a directory source needs path"),
        ({"kind": "http"}, "a http source needs url"),
        ({"kind": "confluence_table", "block": "wiki"}, "a confluence_table source needs page_id, table"),
        ({"kind": "ftp"}, "'directory', 'http' or 'confluence_table'"),
        ({"kind": "http", "url": "http://x", "interval_seconds": 0}, "greater than 0"),
        ({"kind": "http", "url": "http://x", "name": "Bad Name"}, "pattern"),
        ({"kind": "http", "url": "http://x", "urls": "http://y"}, "Extra inputs"),
    ],
)
def test_a_source_missing_what_its_kind_needs_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SourceSettings.model_validate({"name": "s", **fields})


def test_sources_in_settings() -> None:
    settings = Settings(sources=[{"name": "gen", "kind": "directory", "path": "gen", "interval_seconds": 60}])
    assert settings.sources[0].kind == "directory" and settings.sources[0].interval_seconds == 60


def test_two_sources_of_one_name_are_refused() -> None:
    twice = [
        {"name": "gen", "kind": "directory", "path": "a"},
        {"name": "gen", "kind": "http", "url": "http://x"},
    ]
    with pytest.raises(ValidationError, match="two sources are named 'gen'"):
        Settings(sources=twice)
