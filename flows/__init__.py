"""Prefect flows: thin; each task calls one service and passes ids, never patient data."""
