"""Audit trail: every state change, who made it, when, and the state before and after."""
