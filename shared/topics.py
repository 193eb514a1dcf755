"""Topic names (all keyed by dossier code) and idempotent topic creation."""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def dossier_events(self) -> str:
        """Intake events as counter systems posted them."""
        return f"{self.prefix}dossier-events"

    @property
    def lifecycle(self) -> str:
        """Canonical dossier.state events published by processing."""
        return f"{self.prefix}dossier-lifecycle"

    @property
    def portal_sync(self) -> str:
        """Sync outcomes published by the sync service."""
        return f"{self.prefix}portal-sync"

    @property
    def dead_letter(self) -> str:
        """Messages that could not be parsed or applied, with the reason."""
        return f"{self.prefix}dead-letter"

    def all(self) -> list[str]:
        return [self.dossier_events, self.lifecycle, self.portal_sync, self.dead_letter]


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int, *, replication_factor: int = 1,
                        min_insync_replicas: int | None = None) -> None:
    """Create the topics that do not exist yet; running twice is harmless.

    On a cluster: replication_factor=3, min_insync_replicas=2, so that with producers at acks=all
    an acknowledged message is on two nodes at least and one node's loss stops no producer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                     topic_configs={"min.insync.replicas": str(min_insync_replicas)} if min_insync_replicas else {})
            for name in topics.all()
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them first
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the project's Kafka topics.")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--prefix", default=os.environ.get("TOPIC_PREFIX", ""))
    parser.add_argument("--partitions", type=int, default=int(os.environ.get("PARTITIONS", "4")))
    args = parser.parse_args()
    asyncio.run(ensure_topics(args.bootstrap, Topics(args.prefix), args.partitions))
    print("topics ready:", ", ".join(Topics(args.prefix).all()))


if __name__ == "__main__":
    main()
