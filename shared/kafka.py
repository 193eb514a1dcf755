"""Kafka clients configured the one way the project uses them."""

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """Idempotent producer, acks=all: a retried send never duplicates within a session."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )


async def publish_all(producer: AIOKafkaProducer, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
    """Send (topic, key, value) messages in order and wait until the broker holds them all.

    Grouped into one record batch per partition (create_batch/send_batch) instead of one send()
    per message, whose futures and bookkeeping cost more Python than the rest of a relay's work.
    Partitions are chosen as send() chooses them (murmur2 of the key, Kafka's default), so a
    key's messages stay on one partition, in order, whoever publishes them.
    """
    groups: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    partitions: dict[str, list[int]] = {}
    for topic, key, value in messages:
        if topic not in partitions:
            partitions[topic] = sorted(await producer.partitions_for(topic))
        groups[(topic, partition_of(key, partitions[topic]))].append((key, value))
    delivered = []
    for (topic, partition), records in groups.items():
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                delivered.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        delivered.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*delivered)


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner picks for `key` (murmur2, as the Java client), with
    each key's hash remembered: aiokafka's murmur2 is pure Python (~3 µs a key, 4% of intake's CPU
    in the bench), and a dossier's code keys every one of its events and states."""
    hashed = _KEY_HASHES.get(key)
    if hashed is None:
        if len(_KEY_HASHES) >= _KEYS_REMEMBERED:
            _KEY_HASHES.clear()
        hashed = _KEY_HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return partitions[hashed % len(partitions)]


_KEY_HASHES: dict[bytes, int] = {}
_KEYS_REMEMBERED = 100_000  # ~15 MB at most
