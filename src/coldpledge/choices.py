"""Choice sets: a stored value, a translatable label and a colour for screens (NetBox's ChoiceSet)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

_LABELS: dict[type[StrEnum], dict[str, str]] = {}
_COLOURS: dict[type[StrEnum], dict[str, str]] = {}

C = TypeVar("C", bound=type["Choice"])


class Choice(StrEnum):
    """A string enum whose members know how to present themselves.

    Labels are English source strings, translated at the edge; colours name the screens' palette.
    """

    @property
    def label(self) -> str:
        return _LABELS.get(type(self), {}).get(self.value, self.value.replace("_", " "))

    @property
    def colour(self) -> str:
        return _COLOURS.get(type(self), {}).get(self.value, "grey")

    @classmethod
    def values(cls) -> list[str]:
        return [member.value for member in cls]


def present(labels: dict[str, str], colours: dict[str, str] | None = None) -> Callable[[C], C]:
    """Class decorator attaching labels (and colours) to a Choice."""

    def decorate(cls: C) -> C:
        missing = set(cls.values()) - set(labels)
        if missing:
            raise TypeError(f"{cls.__name__} lacks labels for {sorted(missing)}")
        _LABELS[cls] = dict(labels)
        _COLOURS[cls] = dict(colours or {})
        return cls

    return decorate
