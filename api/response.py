"""API: (to be written)."""

from __future__ import annotations


def register(router) -> None:
    pass
