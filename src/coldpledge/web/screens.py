"""The risk big screens (大屏), 1920×1080: 存货作业风控大屏 (inventory operations risk) and
数字仓单风控大屏 (digital receipt risk). Each is a page, a JSON snapshot and an event stream of
that snapshot; every figure is scoped to the viewer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
