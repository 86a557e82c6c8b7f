"""The Simplified Chinese catalogue covers every message the code can show, keeps its placeholders
and is compiled, so a Chinese reader never meets an English sentence or a broken ``{placeholder}``.

When one of these fails after you added or changed a message: run ``make messages``, translate the
new entries in ``src/coldpledge/locale/zh_Hans_CN/LC_MESSAGES/messages.po`` and compile again.
"""

from __future__ import annotations

import contextvars
import re
import string
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import coldpledge.models  # noqa: F401 - registers every model and choice set
from coldpledge.choices import Choice
from coldpledge.db import Base
from coldpledge.i18n import LOCALE_DIR, Locale, set_locale
from coldpledge.parties.access import label_of
from coldpledge.receipts.errors import IncompleteCheck
from coldpledge.web.errors import translate

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "coldpledge"
POT = LOCALE_DIR / "messages.pot"
PO = LOCALE_DIR / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")

# The same extraction as `make messages`: babel.cfg's method map and `-k N_` on top of the defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, **parse_keywords(["N_"])}
BRACES = string.Formatter()
PERCENT = re.compile(r"%\((\w+)\)[sd]")


def read_catalogue(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def entries(catalogue: Catalog) -> Iterator[Message]:
    return (message for message in catalogue if message.id)


def pairs(catalogue: Catalog) -> Iterator[tuple[str, str]]:
    """(English, Chinese) for every entry; our messages have no plural forms."""
    for message in entries(catalogue):
        assert isinstance(message.id, str), f"plural message {message.id!r}: use one form"
        assert isinstance(message.string, str)
        yield message.id, message.string


@pytest.fixture(scope="module")
def extracted() -> dict[str, set[str]]:
    """Every message the source marks, with the files that use it."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)  # type: ignore[no-untyped-call]
    messages: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(SOURCE), method_map, options_map, keywords=KEYWORDS
    ):
        assert isinstance(message, str), f"{filename}: plural messages need ngettext in both languages"
        messages.setdefault(message, set()).add(filename)
    return messages


@pytest.fixture(scope="module")
def chinese() -> Catalog:
    return read_catalogue(PO)


def brace_names(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in BRACES.parse(text) if name is not None}


def test_the_template_lists_exactly_the_messages_the_code_marks(extracted: dict[str, set[str]]) -> None:
    in_template = {message.id for message in entries(read_catalogue(POT))}
    assert set(extracted) - in_template == set(), "new messages: run `make messages`"
    assert in_template - set(extracted) == set(), "messages no longer in the code: run `make messages`"


def test_every_message_the_code_marks_has_a_chinese_translation(
    extracted: dict[str, set[str]], chinese: Catalog
) -> None:
    untranslated = sorted(
        message for message in extracted if message not in chinese or not chinese[message].string
    )
    assert untranslated == []


def test_the_catalogue_holds_no_fuzzy_or_stale_entries(
    extracted: dict[str, set[str]], chinese: Catalog
) -> None:
    # A fuzzy entry is a guess by `pybabel update`; it is never compiled, so the user sees English.
    assert sorted(message.id for message in entries(chinese) if message.fuzzy) == []
    assert sorted(message.id for message in entries(chinese) if message.id not in extracted) == []


def test_every_translation_keeps_the_placeholders_of_its_message(chinese: Catalog) -> None:
    for english, chinese_text in pairs(chinese):
        assert brace_names(chinese_text) == brace_names(english), english
        assert set(PERCENT.findall(chinese_text)) == set(PERCENT.findall(english)), english


def test_every_translation_can_be_filled_in_as_the_code_fills_it(
    extracted: dict[str, set[str]], chinese: Catalog
) -> None:
    """Python fills ``{name}`` with str.format; Jinja's gettext applies ``%`` to every template
    message, so a stray brace or percent sign would break the page or the error answer."""
    for english, chinese_text in pairs(chinese):
        sources = extracted.get(english, set())
        if any(source.endswith(".py") for source in sources):
            assert chinese_text.format(**dict.fromkeys(brace_names(english), "x"))
        if any(source.endswith(".html") for source in sources):
            assert chinese_text % dict.fromkeys(PERCENT.findall(english), "x")


def test_the_compiled_catalogue_is_the_po_file(chinese: Catalog) -> None:
    with MO.open("rb") as file:
        compiled = read_mo(file)
    assert dict(pairs(compiled)) == dict(pairs(chinese))


def test_every_choice_label_is_translated(chinese: Catalog) -> None:
    def choice_sets(cls: type[StrEnum]) -> Iterator[type[StrEnum]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from choice_sets(sub)

    labels = {
        f"{cls.__name__}.{member.name}": member.label
        for cls in choice_sets(Choice)
        for member in cls
        if isinstance(member, Choice)
    }
    assert labels, "no choice sets found"
    untranslated = sorted(key for key, label in labels.items() if not _translated(chinese, label))
    assert untranslated == []


def test_every_scoped_model_names_itself_with_a_translated_noun(chinese: Catalog) -> None:
    """``obtain`` and ``require`` name the model in 404 and 403 answers ("未找到仓单 42")."""
    scoped = [mapper.class_ for mapper in Base.registry.mappers if hasattr(mapper.class_, "__permission__")]
    assert scoped, "no scoped models found"
    unnamed = sorted(model.__name__ for model in scoped if not _translated(chinese, label_of(model)))
    assert unnamed == []
    assert all(label_of(model) == label_of(model).lower() for model in scoped)


def test_a_list_of_words_is_translated_word_by_word_and_joined_as_each_language_lists() -> None:
    error = IncompleteCheck(["not_weighed", "not_sealed"])

    def in_language(locale: Locale) -> str:
        set_locale(locale)
        return translate(error.message, error.params)

    # A copied context, so the language set here never leaks into other tests on this thread.
    assert contextvars.copy_context().run(in_language, "zh_Hans_CN") == "仓单暂不能签发：尚未过磅、尚未施封。"
    english = "The receipt cannot be issued yet: the lot has not been weighed, the lot is not sealed."
    assert contextvars.copy_context().run(in_language, "en") == english
    # The exception's own text (logs, the CLI) reads as English prose too.
    assert str(error) == english


def _translated(catalogue: Catalog, message: str) -> bool:
    entry = catalogue.get(message)
    return entry is not None and bool(entry.string) and not entry.fuzzy
