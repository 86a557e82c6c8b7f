"""Financing (融资): credit facilities, drawdowns and repayments against pledged receipts, prices,
daily mark-to-market, margin calls and disposal.

The calculation modules (daycount, interest, waterfall, collateral, businessdays, risk, pricerisk)
are pure: integers in, integers out, no I/O. Money is integer fen, quantities integer grams, ratios
and rates integer basis points, prices integer fen per tonne.
"""
