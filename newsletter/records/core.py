"""The parts of the record of processing (GDPR Art. 30): processors, categories,
purposes, the record."""

from __future__ import annotations

from dataclasses import dataclass, field

LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass
class Processor:
    """Someone who processes personal data for the controller (GDPR Art. 28)."""

    name: str
    purpose: str
    country: str  # as configured; "not stated" for a server found in the configuration
    source: str  # the configuration key it comes from
    safeguard: str | None = None
    host: str | None = None
    transfer: str | None = None  # what the record must say about a transfer; None: EEA
    note: str = ""

    @property
    def safeguard_text(self) -> str:
        """The safeguard column: on record, needed, unknown, or not needed."""
        if self.safeguard:
            return self.safeguard
        if self.transfer:
            return "needed, none on record"
        if self.country == "not stated":
            return "unknown until the country is stated"
        if self.country == "this machine":
            return "—"
        return "not needed (EEA)"


@dataclass
class Category:
    """A kind of personal data the product holds: one table, its columns, its period."""

    table: str
    subjects: list[str]
    description: str
    columns: list[str]
    retention: str


@dataclass
class Purpose:
    name: str
    basis: str


@dataclass
class Record:
    controller: dict[str, str]
    purposes: list[Purpose]
    subjects: list[str]
    categories: list[Category]
    recipients: list[str]
    processors: list[Processor]
    security: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def transfers(self) -> list[Processor]:
        return [p for p in self.processors if p.transfer]
