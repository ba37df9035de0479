"""A message skeleton with named slots: split once per prepared campaign, filled per
message by one join (the per-recipient links, the reason line, the greeting)."""

from __future__ import annotations

import re
import secrets

from .footer import SLOTS


class Slotted:
    """A text with named placeholders, split once, filled by a join."""

    def __init__(self, text: str, markers: dict[str, str]):
        by_marker = {marker: name for name, marker in markers.items()}
        pattern = "(" + "|".join(re.escape(m) for m in by_marker) + ")"
        parts = re.split(pattern, text)
        self.parts = [(by_marker.get(p) is not None, by_marker.get(p, p)) for p in parts]

    def fill(self, values: dict[str, str]) -> str:
        return "".join(values[p] if is_slot else p for is_slot, p in self.parts)


def slot_markers() -> dict[str, str]:
    """A random marker per footer slot, for the layout to carry through rendering."""
    # Letters and digits only: they survive HTML escaping and CSS inlining unchanged,
    # and the random part means an author cannot type one into a body.
    nonce = secrets.token_hex(8)
    return {name: f"NLSLOT{nonce}{name.replace('_', '')}" for name in SLOTS}
