"""Turning a page's form fields into the API's own input models, so a form refuses exactly what
the API refuses, with the same messages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from coldpledge.errors import N_, InvalidInput

M = TypeVar("M", bound=BaseModel)


def form_model(model: type[M], **fields: Any) -> M:
    """``model`` from form fields; a refusal is a 422 naming the fields, as the API answers it."""
    try:
        return model.model_validate(fields)
    except ValidationError as refused:
        raise RequestValidationError(
            [{**error, "loc": ("form", *error["loc"])} for error in refused.errors(include_url=False)]
        ) from None


def fen_from_yuan(text: str, field: str) -> int:
    """People type yuan (``1,250,000.50``); money is kept in integer fen. More than two decimals,
    or anything that is not a number, is refused rather than rounded."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(N_("Enter an amount in yuan, such as 1250000.00."), field=field) from None
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value():
        raise InvalidInput(N_("Enter an amount in yuan, such as 1250000.00."), field=field)
    return int(fen)


def grams_from_kg(text: str, field: str) -> int:
    """People weigh in kilograms (``23,950.5``); quantities are kept in integer grams. More than
    three decimals is finer than a gram and refused, not rounded."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(N_("Enter a weight in kilograms, such as 23950.5."), field=field) from None
    grams = amount * 1000
    if not amount.is_finite() or grams != grams.to_integral_value():
        raise InvalidInput(N_("Enter a weight in kilograms, such as 23950.5."), field=field)
    return int(grams)


def optional(text: str | None) -> str | None:
    """An empty form field is an absent value, as a JSON body would leave it out."""
    stripped = (text or "").strip()
    return stripped or None
