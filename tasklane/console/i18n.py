"""The console's languages: English and Simplified Chinese, JSON catalogs in `catalogs/` (a
common one per language, `en.json`, and one per page that has many texts, `stats.en.json`).

Every visible string of a page is `t(key, **values)`: the catalog's text with `{name}` filled in
(`str.format`). The language is the `tasklane_lang` cookie's (the switch in the page's header
sets it), else the browser's first Accept-Language that we have (any `zh` is Simplified
Chinese), else English. Both catalogs have the same keys (a test checks it); a key missing
from a catalog shows as the key itself, so a gap is seen, not hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "tasklane_lang"
CATALOG_DIR = Path(__file__).parent / "catalogs"

Translate = Callable[..., str]


@cache
def catalog(language: str) -> dict[str, str]:
    """The language's texts: `catalogs/<language>.json` and each page's `catalogs/<page>.<language>.json`.

    A key defined twice is a mistake (which text wins would depend on file order): it raises.
    """
    texts: dict[str, str] = {}
    paths = [CATALOG_DIR / f"{language}.json", *sorted(CATALOG_DIR.glob(f"*.{language}.json"))]
    for path in paths:
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if key in texts:
                raise ValueError(f"console catalog {path.name}: key {key!r} is defined twice for {language}")
            texts[key] = text
    return texts


def translator(language: str) -> Translate:
    texts = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def t(key: str, **values: Any) -> str:
        text = texts.get(key, key)
        return text.format(**values) if values else text

    return t


def _accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    for tag in _accepted(accept_language or ""):
        lowered = tag.lower()
        if lowered.startswith("zh"):
            return "zh-CN"
        if lowered.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
