"""Ingest's tests use the hub's database fixture."""

from tests.hub.conftest import database

__all__ = ["database"]
