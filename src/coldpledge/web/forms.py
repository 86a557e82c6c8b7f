"""Turning a page's form fields into the API's own input models, so a form refuses exactly what
the API refuses, with the same messages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from fastapi import UploadFile
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


def _whole_units(text: str, places: int, field: str, message: str) -> int:
    """``text`` (thousands separators allowed) times 10**places, refused rather than rounded when
    it is not a number or has more decimals than ``places``."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(message, field=field) from None
    scaled = amount.scaleb(places)
    if not amount.is_finite() or scaled != scaled.to_integral_value():
        raise InvalidInput(message, field=field)
    return int(scaled)


def fen_from_yuan(text: str, field: str) -> int:
    """People type yuan (``1,250,000.50``); money is kept in integer fen."""
    return _whole_units(text, 2, field, N_("Enter an amount in yuan, such as 1250000.00."))


def grams_from_kg(text: str, field: str) -> int:
    """People weigh in kilograms (``23,950.5``); quantities are kept in integer grams."""
    return _whole_units(text, 3, field, N_("Enter a weight in kilograms, such as 23950.5."))


def optional(text: str | None) -> str | None:
    """An empty form field is an absent value, as a JSON body would leave it out."""
    stripped = (text or "").strip()
    return stripped or None


def chosen_file(upload: UploadFile | None) -> UploadFile | None:
    """The chosen file; a browser sends an empty part without a name when none was chosen."""
    return upload if upload is not None and upload.filename else None
