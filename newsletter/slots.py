"""A message skeleton with named slots: split once per prepared campaign, filled per
message by one join (the per-recipient links, the reason line, the greeting)."""

from __future__ import annotations

import itertools
import re
import secrets

from .footer import SLOTS
from .headers import CRLF, base64_lines


class Slotted:
    """A text with named placeholders, split once, filled by a join."""

    def __init__(self, text: str, markers: dict[str, str]):
        by_marker = {marker: name for name, marker in markers.items()}
        pattern = "(" + "|".join(re.escape(m) for m in by_marker) + ")"
        parts = re.split(pattern, text)
        self.parts = [(by_marker.get(p) is not None, by_marker.get(p, p)) for p in parts]
        # The start before the first slot is the same in every message: its whole lines
        # of base64 (57 octets each, RFC 2045 6.8) are encoded once (`base64`).
        start = "".join(p for _, p in itertools.takewhile(lambda part: not part[0], self.parts))
        octets = start.encode("utf-8")
        whole = len(octets) // _LINE_OCTETS * _LINE_OCTETS
        self.start, self.start_rest = start, octets[whole:]
        self.start_lines = base64_lines(octets[:whole])

    def fill(self, values: dict[str, str]) -> str:
        return "".join(values[p] if is_slot else p for is_slot, p in self.parts)

    def slots_after(self, fixed: str) -> set | None:
        """The slots after the last place where the fixed text holds `fixed` (None when
        it does not: `fixed` is not there, or a slot cuts it)."""
        for at in range(len(self.parts) - 1, -1, -1):
            is_slot, part = self.parts[at]
            if not is_slot and fixed in part:
                return {p for is_slot, p in self.parts[at + 1 :] if is_slot}
        return None

    def base64(self, filled: str) -> str:
        """`base64_lines(filled)` for a text `fill` made, the fixed start's whole lines
        taken from those encoded once."""
        if not filled.startswith(self.start):
            return base64_lines(filled)
        rest = self.start_rest + filled[len(self.start) :].encode("utf-8")
        return self.start_lines + base64_lines(rest)


_LINE_OCTETS = 57  # a line of base64: 76 characters (headers.base64_lines)


def slot_markers() -> dict[str, str]:
    """A random marker per footer slot, for the layout to carry through rendering."""
    # Letters and digits only: they survive HTML escaping and CSS inlining unchanged,
    # and the random part means an author cannot type one into a body.
    nonce = secrets.token_hex(8)
    return {name: f"NLSLOT{nonce}{name.replace('_', '')}" for name in SLOTS}


def head_skeleton(head_from: str, subject: str | None, after_to: str, mailto: str) -> Slotted:
    """The header block with a slot for each per-message value (`compose`'s head values);
    `subject` is the encoded Subject, or None when it is a slot (personalised)."""
    nonce = secrets.token_hex(8)
    names = ("subject", "to", "date", "message_id", "preferences_url", "unsubscribe_url", "token")
    mark = {name: f"NLHEAD{nonce}{name.replace('_', '')}X" for name in names}
    head = (
        f"{head_from}Subject: {mark['subject'] if subject is None else subject}{CRLF}"
        f"To: {mark['to']}{CRLF}"
        f"Date: {mark['date']}{CRLF}"
        f"Message-ID: {mark['message_id']}{CRLF}"
        f"List-Help: <{mark['preferences_url']}>{CRLF}"
        f"List-Unsubscribe: <{mark['unsubscribe_url']}>,{CRLF} "
        f"<{mailto}{mark['token']}>{CRLF}"
        f"{after_to}"
    )
    return Slotted(head, mark)
