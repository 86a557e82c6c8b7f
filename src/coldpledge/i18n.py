"""Per-request language: Simplified Chinese first, English second.

The language lives in a context variable so concurrent requests never share it (Jinja's global
gettext installation would).
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

Locale = Literal["zh_Hans_CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh_Hans_CN", "en")
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[Locale] = ContextVar("coldpledge_locale", default="zh_Hans_CN")


@lru_cache(maxsize=len(LOCALES))
def translations(locale: Locale) -> NullTranslations:
    if locale == "en":
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def set_locale(locale: Locale) -> None:
    _current.set(locale)


def current_locale() -> Locale:
    return _current.get()


def gettext(message: str) -> str:
    return translations(current_locale()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ungettext(singular, plural, n)


def negotiate(
    accept_language: str | None, explicit: str | None = None, *, default: Locale = "zh_Hans_CN"
) -> Locale:
    """Pick zh_Hans_CN or en from ``?lang=``/cookie or an Accept-Language header.

    Babel models zh-CN as zh-Hans, so every Chinese tag maps to our one Chinese catalogue.
    """
    for candidate in ([explicit] if explicit else []) + _ranked(accept_language):
        tag = candidate.strip().lower().replace("_", "-")
        if tag.startswith("zh"):
            return "zh_Hans_CN"
        if tag.startswith("en"):
            return "en"
    return default


def _ranked(header: str | None) -> list[str]:
    if not header:
        return []
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((quality, tag))
    return [tag for _q, tag in sorted(weighted, key=lambda item: -item[0])]


def translated_environment(folder: Path) -> Environment:
    """Jinja2 over ``folder`` whose ``_()`` translates into each request's language (callables,
    not translations: each call looks up the current language)."""
    environment = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
    return environment
