"""Both catalogs complete, every key a template uses in them, the language chosen as asked."""

from __future__ import annotations

import re
import string

import pytest

from tasklane.console.i18n import CATALOG_DIR, LANGUAGES, catalog, pick_language, translator

TEMPLATES = CATALOG_DIR.parent / "templates"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_have_the_same_keys_and_placeholders() -> None:
    english, chinese = catalog("en"), catalog("zh-CN")
    assert set(english) == set(chinese)
    for key, text in english.items():
        assert _fields(text) == _fields(chinese[key]), key


def test_every_key_the_templates_use_is_in_the_catalogs() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text()))
    assert len(used) > 50
    # Keys made from a prefix and a value (`t("role." + user.role)`): one per value.
    from deployments.schedules.clock import WEEKDAYS
    from tasklane.api.auth import ROLES
    from tasklane.console.schedules import KINDS, UNITS
    from tasklane.history.statuses import STATE_WORDS, STATUS_BY_STATE_NAME

    marks = ("shift", "skipped", "gap", "repeated_first", "repeated_second")
    values = {
        "role.": ROLES,
        "runs.state.": STATE_WORDS,
        "state.": STATUS_BY_STATE_NAME,
        "schedules.kind.": KINDS,
        "schedules.unit.": UNITS,
        "schedules.day.": WEEKDAYS,
        "schedules.mark.": marks,
    }
    prefixes = {key for key in used if key.endswith(".")}
    assert prefixes <= set(values), f"templates build keys from {prefixes - set(values)}: list their values"
    used = {key for key in used if not key.endswith(".")}
    used |= {prefix + value for prefix, every in values.items() for value in every}
    assert used - set(catalog("en")) == set()


def test_every_key_the_code_uses_is_in_the_catalogs() -> None:
    source = (CATALOG_DIR.parent / "pages.py").read_text()
    used = set(re.findall(r"""(?:\bt\(|ConsoleError\(\d+, )["']([\w.]+)["']""", source))
    assert {"error.csrf", "login.failed", "login.locked"} <= used
    assert used - set(catalog("en")) == set()


@pytest.mark.parametrize(
    ("cookie", "header", "language"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-TW", "zh-CN"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR, zh;q=0.5, en;q=0.7", "en"),
        (None, "fr-FR", "en"),
        (None, None, "en"),
        ("zh-CN", "en-US", "zh-CN"),
        ("en", "zh-CN", "en"),
        ("klingon", "zh", "zh-CN"),
    ],
)
def test_the_language_is_the_cookie_else_the_browser_else_english(cookie, header, language) -> None:
    assert pick_language(cookie, header) == language
    assert language in LANGUAGES


def test_t_fills_values_and_shows_a_missing_key() -> None:
    assert translator("zh-CN")("login.locked", seconds=4) == "登录失败次数过多：请 4 秒后再试。"
    assert translator("en")("no.such.key") == "no.such.key"
