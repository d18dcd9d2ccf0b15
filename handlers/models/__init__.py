"""Typed models: API input and output, queue message, audit events, settings per function."""
