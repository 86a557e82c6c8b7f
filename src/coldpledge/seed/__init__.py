"""Seed data: the demo scenario."""
