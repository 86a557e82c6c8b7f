"""Inventory: commodities, lots, operations (inbound, weigh, inspect, disinfect, stocktake, outbound),
seals and attachments."""
