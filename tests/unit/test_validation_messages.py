"""A field's validation error reads in the reader's language: the common kinds worded from our
catalogue with Pydantic's figures, our validators' own refusals looked up as they stand, and
anything else in Pydantic's words rather than nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from coldpledge.i18n import current_locale, gettext, set_locale
from coldpledge.warehouses.policy import TemperatureRule
from coldpledge.web.validation import message_of


class Lot(BaseModel):
    code: str = Field(min_length=4)
    cartons: int = Field(gt=0)
    kg: float


def errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return {
        ".".join(str(part) for part in error["loc"]) or "model": dict(error)
        for error in refused.value.errors()
    }


@pytest.fixture(autouse=True)
def kept_locale() -> Iterator[None]:
    before = current_locale()
    yield
    set_locale(before)


@pytest.fixture
def chinese() -> None:
    set_locale("zh_Hans_CN")


def test_common_refusals_carry_pydantic_s_figures_in_chinese(chinese: None) -> None:
    found = errors(Lot, {"code": "AB", "cartons": 0})
    assert message_of(found["code"], gettext) == "至少 4 个字符。"
    assert message_of(found["cartons"], gettext) == "须大于 0。"
    assert message_of(found["kg"], gettext) == "此项必填。"


def test_the_same_refusals_read_in_english_for_an_english_reader() -> None:
    set_locale("en")
    found = errors(Lot, {"code": "AB", "cartons": "many", "kg": 1})
    assert message_of(found["code"], gettext) == "Use at least 4 characters."
    assert message_of(found["cartons"], gettext) == "This must be a whole number."


def test_our_validators_refusal_is_translated_as_it_stands(chinese: None) -> None:
    band = {"warning_below_mc": 4000, "warning_above_mc": 0, "warning_minutes": 15, "critical_minutes": 15}
    found = errors(TemperatureRule, band)
    (error,) = [error for error in found.values() if error["type"] == "value_error"]
    assert message_of(error, gettext) == "预警下限必须低于预警上限"


def test_an_unknown_kind_keeps_pydantic_s_words() -> None:
    error = {"type": "something_new", "msg": "Input is odd", "loc": ("x",)}
    assert message_of(error, gettext) == "Input is odd"
