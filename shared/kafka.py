"""Kafka clients configured the one way the project uses them."""

from aiokafka import AIOKafkaProducer


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
