"""Price series and their observations: entry with four-eyes approval, import, checks, lookup."""
