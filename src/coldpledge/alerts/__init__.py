"""Alerts raised by the rules, and the work orders that make a named person handle them (DESIGN §5)."""
