"""shared.kafka.publish_all on the real broker: same partitions as send(), every key's order kept."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import make_producer, publish_all
from tests.conftest import KAFKA

pytestmark = pytest.mark.integration


async def _read_all(topic: str, partition_ids: set[int], count: int) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in partition_ids]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = []
        while len(records) < count:
            batches = await consumer.getmany(timeout_ms=5000)
            if not batches:
                raise AssertionError(f"only {len(records)} of {count} records arrived")
            records += [r for rs in batches.values() for r in rs]
        return records
    finally:
        await consumer.stop()


async def test_keys_land_where_send_puts_them_and_keep_their_order(topics):
    topic = topics.lifecycle  # created by the fixture, several partitions
    keys = [f"H44.{100 + i % 37}-261125-{i % 500:04d}".encode() for i in range(3000)]
    # Large values so that one partition's messages need several record batches.
    messages = [(topic, key, f"{i}:".encode() + b"x" * 600) for i, key in enumerate(keys)]
    producer = make_producer(KAFKA)
    await producer.start()
    try:
        partition_ids = await producer.partitions_for(topic)
        assert len(partition_ids) > 1
        await publish_all(producer, messages)
        sent_with_send = {}
        for key in set(keys[:200]):
            metadata = await producer.send_and_wait(topic, b"probe", key=key)
            sent_with_send[key] = metadata.partition
    finally:
        await producer.stop()
    records = await _read_all(topic, partition_ids, len(messages) + len(sent_with_send))
    ours = [r for r in records if r.value != b"probe"]
    assert len(ours) == len(messages)
    partition_of = {}
    for r in ours:
        assert partition_of.setdefault(r.key, r.partition) == r.partition  # one partition per key
    assert {k: partition_of[k] for k in sent_with_send} == sent_with_send
    assert set(partition_of.values()) == partition_ids
    for key in set(keys):  # each key's messages in the order given
        in_log = sorted(ours, key=lambda r: (r.partition, r.offset))
        order = [int(r.value.split(b":")[0]) for r in in_log if r.key == key]
        assert order == sorted(order) and len(order) == keys.count(key)
