"""Evidence: the outbox of canonical entries that the Merkle log (issue 3) sequences."""
