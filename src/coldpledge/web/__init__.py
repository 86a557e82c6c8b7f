"""The HTTP edge: JSON API (OpenAPI at /docs), browser pages and the public receipt ID card."""
