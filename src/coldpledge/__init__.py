"""coldpledge: cold-chain inventory and warehouse-receipt supervision for pledge financing."""

from __future__ import annotations

__version__ = "0.1.0"
