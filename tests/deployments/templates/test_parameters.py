"""Parameters: typed and checked values, each bad one named; command-line strings coerced."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.errors import CatalogError
from deployments.templates import parse_set_options, render
from tests.deployments.templates.support import builtin, problems

BAD_VALUES = [
    pytest.param(
        "backup-dir",
        {},
        "built-in template 'backup-dir': task 'my-task': field 'params.source': "
        "is required (path): Directory to archive; e.g. source=/srv/data",
        id="backup-source-required",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "bogus": 1},
        "field 'params.bogus': is not a parameter of this template "
        "(it takes: source, dest, keep_days, exclude, schedule)",
        id="backup-unknown-parameter",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "keep_day": 3},
        "did you mean 'keep_days'?",
        id="backup-misspelt-parameter",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "keep_days": "abc"},
        "field 'params.keep_days': must be a whole number such as 7; found 'abc'",
        id="backup-keep-days-not-a-number",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "keep_days": "0"},
        "field 'params.keep_days': must be between 1 and 3650; found 0",
        id="backup-keep-days-out-of-range",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "keep_days": True},
        "must be a whole number such as 7; found true",
        id="backup-keep-days-a-boolean",
    ),
    pytest.param(
        "backup-dir",
        {"source": "relative/dir"},
        "field 'params.source': must be an absolute path (starting with '/'); found 'relative/dir'",
        id="backup-source-relative",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv\n/etc"},
        "must be a path without control characters",
        id="backup-source-with-newline",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "schedule": "0 2 * *"},
        "field 'params.schedule': must be a 5-field cron expression such as \"0 2 * * *\": "
        'cron "0 2 * *" has 4 fields, needs 5',
        id="backup-schedule-four-fields",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "method": "PUT"},
        "field 'params.method': must be one of GET, HEAD, POST; found 'PUT'",
        id="health-method-not-allowed",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "method": "GTE"},
        "field 'params.method': must be one of GET, HEAD, POST; found 'GTE'; did you mean 'GET'?",
        id="health-method-misspelt",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "schedule": "every day at 2am"},
        "field 'params.schedule': must be a 5-field cron expression such as \"0 2 * * *\": "
        'cron "every day at 2am" is not a cron expression',
        id="backup-schedule-in-english",
    ),
    pytest.param(
        "backup-dir",
        {"source": "/srv", "schedule": "every day at 2am"},
        'or a 5-field cron such as "0 2 * * *"',
        id="backup-schedule-in-english-gets-the-cron",
    ),
    pytest.param(
        "http-health-check",
        {"url": "ftp://a.example"},
        "field 'params.url': must match the pattern https?://\\S+; found 'ftp://a.example'",
        id="health-url-not-http",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "interval": "5s"},
        "field 'params.interval': must be between 10s and 1d; found '5s'",
        id="health-interval-too-short",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "interval": "soon"},
        "must be a duration such as 30s, 5m, 1h30m, 2d; found 'soon'",
        id="health-interval-not-a-duration",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "expected_status": "200,abc"},
        "field 'params.expected_status': item 2: must be a whole number such as 7; found 'abc'",
        id="health-status-item-not-a-number",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "expected_status": ","},
        "field 'params.expected_status': must be at least 1 items; found 0 items",
        id="health-status-list-empty",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "request_timeout": "fast"},
        "must be a number such as 2.5; found 'fast'",
        id="health-timeout-not-a-number",
    ),
    pytest.param(
        "http-health-check",
        {"url": "https://a.example", "verify_tls": ["true", "false"]},
        "field 'params.verify_tls': takes one value; found 2: 'true', 'false'",
        id="health-verify-tls-two-values",
    ),
    pytest.param(
        "cleanup-old-files",
        {"directory": "/srv", "recursive": "maybe"},
        "must be true or false (or yes/no, on/off, 1/0); found 'maybe'",
        id="cleanup-recursive-not-a-boolean",
    ),
    pytest.param(
        "cleanup-old-files",
        {"directory": "/srv", "days": {"a": 1}},
        "takes one value; found a mapping",
        id="cleanup-days-a-mapping",
    ),
]


@pytest.mark.parametrize(("template", "values", "expected"), BAD_VALUES)
def test_each_bad_value_is_named(template: str, values: dict[str, Any], expected: str) -> None:
    found = problems(builtin(template), values)
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith(f"built-in template {template!r}: task 'my-task': field 'params.")


def test_every_bad_value_is_reported_at_once() -> None:
    found = problems(builtin("backup-dir"), {"keep_days": 0, "dest": "x", "nope": 1}, name="bad name")
    fields = [p.split("field ")[1].split(":")[0] for p in found]
    assert fields == ["'name'", "'params.nope'", "'params.source'", "'params.dest'", "'params.keep_days'"]


def test_command_line_strings_are_coerced() -> None:
    health = render(
        builtin("http-health-check"),
        "status",
        {
            "url": "https://a.example/health",
            "expected_status": "200, 204",
            "interval": "90",
            "request_timeout": "2.5",
            "retries": "0",
            "verify_tls": "off",
        },
    )
    assert health["expected_status"] == [200, 204]
    assert health["schedule"] == {"every": "90s"}
    assert health["request_timeout"] == 2.5 and health["verify_tls"] is False
    assert health["retry"] == {"max_retries": 0, "retry_delay": 10}
    assert "auth_block" not in health  # an empty optional parameter leaves its key out
    with_auth = render(
        builtin("http-health-check"),
        "status",
        {"url": "https://a.example", "auth_block": "http-bearer-auth/status", "expected_status": "[200]"},
    )
    assert with_auth["auth_block"] == "http-bearer-auth/status" and with_auth["expected_status"] == [200]

    cleanup = render(
        builtin("cleanup-old-files"),
        "logs",
        {"directory": "/var/log/app", "days": "7", "recursive": "no", "dry_run": "yes", "pattern": "*.log"},
    )
    assert "-maxdepth 1 " in cleanup["command"] and "-mmin +10080 " in cleanup["command"]
    assert "-delete" not in cleanup["command"] and "-name '*.log'" in cleanup["command"]


def test_set_options_parse_and_repeated_keys_make_lists() -> None:
    values = parse_set_options(["source=/srv/data", "note=a=b", "exclude=a,b", "exclude=c", "empty="])
    assert values == {"source": "/srv/data", "note": "a=b", "exclude": ["a,b", "c"], "empty": ""}
    mapping = render(builtin("backup-dir"), "b", {"source": "/srv", "exclude": values["exclude"]})
    assert "--exclude=a,b --exclude=c -C" in mapping["command"]  # repeated: items kept whole
    with pytest.raises(CatalogError, match="'oops' is not KEY=VALUE"):
        parse_set_options(["oops"])


def test_a_required_value_left_empty_on_the_command_line_is_missing() -> None:
    (problem,) = problems(builtin("jira-export"), {"block": "", "root_key": "DEMO-1"})
    assert "field 'params.block': is required (string)" in problem
