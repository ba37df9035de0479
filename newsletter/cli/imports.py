"""flask subscribers import (to be written)."""


def attach(group) -> None:
    """Add the import command to the subscribers group."""
