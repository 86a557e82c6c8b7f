"""Parties: organisations, users, roles, login and the one scoping mechanism (``restrict``)."""
