"""Operators' commands of `python -m local` (history, list, redrive) against the local or a deployed stack."""
