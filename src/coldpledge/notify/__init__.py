"""Notifications: the in-app inbox, webhook subscriptions and e-mail, with a delivery log (issue 5)."""
