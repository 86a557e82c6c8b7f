"""Warehouse receipts (仓单): lifecycle, pledges, releases and the public ID card."""
