"""Kafka clients configured the one way the project uses them."""

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner


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
        groups[(topic, _PARTITIONER(key, partitions[topic], partitions[topic]))].append((key, value))
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


_PARTITIONER = DefaultPartitioner()
