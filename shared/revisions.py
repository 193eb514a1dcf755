"""Newest revision wins: the one rule every reader of `dossier.state` applies (docs/domain.md).

Processing numbers each dossier's states 1, 2, 3…; Kafka may deliver them again, late or out of
order, so a reader keeps per dossier the highest revision it has seen, and a duplicate or an older
one changes nothing. Twice: within a batch (`newest`), and against what is stored (`only_if_newer`,
the condition of an upsert). Used by sync (its backlog) and metrics (its facts, live and rebuilt).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def newest(items: Iterable[T], *, key: Callable[[T], K], revision: Callable[[T], int]) -> dict[K, T]:
    """Per key, the item of the highest revision; of equal revisions (a redelivery) the first seen."""
    latest: dict[K, T] = {}
    for item in items:
        k = key(item)
        current = latest.get(k)
        if current is None or revision(item) > revision(current):
            latest[k] = item
    return latest


def only_if_newer(table: str, column: str = "revision") -> str:
    """The condition of `ON CONFLICT … DO UPDATE … WHERE`: the incoming row replaces the stored
    one only when its revision is higher, so a duplicate or an older revision changes nothing."""
    return f"{table}.{column} < EXCLUDED.{column}"
