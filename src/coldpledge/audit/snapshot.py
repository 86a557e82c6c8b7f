"""Turn a mapped object into a JSON-ready dict for the audit trail."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect

# Never copied into the audit trail, whatever the model.
# A salt next to a hash of a guessable value (an ID number) would let anyone who reads the trail
# recover the value by trying every candidate.
SECRET_COLUMNS = frozenset(
    {
        "password_hash",
        "mqtt_password_hash",
        "csrf_token",
        "token_sha256",
        "code_sha256",
        "salt",
        "collector_id_salt",
    }
)


def jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return value


def snapshot(obj: object) -> dict[str, Any]:
    """Column values of ``obj`` as they are now (pending changes included)."""
    mapper = inspect(type(obj))
    return {
        column.key: jsonable(getattr(obj, column.key))
        for column in mapper.column_attrs
        if column.key not in SECRET_COLUMNS
    }
