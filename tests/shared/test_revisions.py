"""Newest revision wins in a batch (shared/revisions.py); the upsert's condition is exercised by
sync's handler tests on PostgreSQL (tests/sync)."""

from __future__ import annotations

from shared.revisions import newest


def test_the_highest_revision_per_key_wins_whatever_the_order():
    items = [("A", 2, "a2"), ("B", 1, "b1"), ("A", 3, "a3"), ("A", 1, "a1"), ("B", 1, "b1 again")]
    latest = newest(items, key=lambda i: i[0], revision=lambda i: i[1])
    # An older revision after a newer one changes nothing; of a redelivered revision, the first stays.
    assert {k: v[2] for k, v in latest.items()} == {"A": "a3", "B": "b1"}


def test_nothing_in_nothing_out():
    assert newest([], key=lambda i: i, revision=lambda i: 0) == {}
