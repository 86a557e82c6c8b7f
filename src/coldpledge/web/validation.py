"""A field's validation error in the reader's language.

Pydantic words its errors in English ("Input should be greater than 0"); a keeper on the Chinese
pages, or an API client asking for Chinese, should read the same refusal in Chinese. The common
kinds of error are worded here as messages of our catalogue, with Pydantic's own figures (the
limit, the allowed values); a validator of ours raises ``ValueError`` with a catalogue message
(``N_``), which is looked up as it stands. Anything else keeps Pydantic's English words rather
than saying nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from coldpledge.errors import N_

BY_TYPE: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("Use at least {min_length} characters."),
    "string_too_long": N_("Use at most {max_length} characters."),
    "too_short": N_("Give at least {min_length} items."),
    "too_long": N_("Give at most {max_length} items."),
    "string_pattern_mismatch": N_("This is not in the expected form."),
    "string_type": N_("This must be text."),
    "greater_than": N_("This must be greater than {gt}."),
    "greater_than_equal": N_("This must be at least {ge}."),
    "less_than": N_("This must be less than {lt}."),
    "less_than_equal": N_("This must be at most {le}."),
    "int_parsing": N_("This must be a whole number."),
    "int_from_float": N_("This must be a whole number."),
    "int_type": N_("This must be a whole number."),
    "float_parsing": N_("This must be a number."),
    "float_type": N_("This must be a number."),
    "decimal_parsing": N_("This must be a number."),
    "decimal_type": N_("This must be a number."),
    "finite_number": N_("This must be a number."),
    "decimal_max_places": N_("Use at most {decimal_places} decimal places."),
    "decimal_max_digits": N_("Use at most {max_digits} digits."),
    "bool_parsing": N_("This must be yes or no."),
    "bool_type": N_("This must be yes or no."),
    "date_parsing": N_("This must be a date, such as 2026-11-30."),
    "date_from_datetime_parsing": N_("This must be a date, such as 2026-11-30."),
    "date_from_datetime_inexact": N_("This must be a date, such as 2026-11-30."),
    "date_type": N_("This must be a date, such as 2026-11-30."),
    "datetime_parsing": N_("This must be a time with its zone, such as 2026-11-30T08:00:00+08:00."),
    "datetime_from_date_parsing": N_("This must be a time with its zone, such as 2026-11-30T08:00:00+08:00."),
    "datetime_type": N_("This must be a time with its zone, such as 2026-11-30T08:00:00+08:00."),
    "timezone_aware": N_("Times must carry a time zone, such as 2026-11-29T08:00:00+08:00."),
    "time_parsing": N_("This must be a time of day, such as 08:30."),
    "enum": N_("This must be one of {expected}."),
    "literal_error": N_("This must be one of {expected}."),
    "url_parsing": N_("This must be a web address, such as https://example.com/hook."),
    "url_scheme": N_("This must be a web address, such as https://example.com/hook."),
    "extra_forbidden": N_("This field is not expected here."),
    "json_invalid": N_("The body is not valid JSON."),
    "model_attributes_type": N_("This must be an object of fields."),
    "dict_type": N_("This must be an object of fields."),
    "list_type": N_("This must be a list."),
}


def message_of(error: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    """The reader's words for one of ``ValidationError.errors()``."""
    context: Mapping[str, Any] = error.get("ctx") or {}
    template = BY_TYPE.get(str(error.get("type")))
    if template is not None:
        try:
            return gettext(template).format(**{key: str(value) for key, value in context.items()})
        except (KeyError, IndexError):  # a figure Pydantic did not give: its own words, then
            return str(error.get("msg", ""))
    if error.get("type") == "value_error" and "error" in context:
        return gettext(str(context["error"]))
    return str(error.get("msg", ""))
