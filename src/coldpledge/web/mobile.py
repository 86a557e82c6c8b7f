"""The phone web app for field staff (/m/): work orders, stocktakes, patrols, releases at the dock."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
