"""Numerical building blocks (selective scan)."""
