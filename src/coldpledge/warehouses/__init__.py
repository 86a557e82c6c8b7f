"""Warehouses: physical sites and rooms of a keeper, and the virtual warehouses a supervisor watches."""
