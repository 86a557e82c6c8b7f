"""Reports (报表): daily supervision per warehouse, portfolio per bank, evidence certificates."""
