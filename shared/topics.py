"""Topic names (all keyed by dossier code), how each is kept, idempotent creation and the check
every service runs at start (a topic that would lose records refuses the start)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class TopicSettings(BaseSettings):
    """How the topics are kept; the same for every service (no prefix: KAFKA_REPLICATION_FACTOR…).

    One machine: 1 and 1. A three-broker cluster: 3 and 2, so an acknowledged record (acks=all)
    is on two brokers at least and one broker can be lost without losing or refusing writes.
    """

    model_config = SettingsConfigDict(extra="ignore")

    kafka_replication_factor: int = 1
    kafka_min_insync_replicas: int = 1
    kafka_partitions: int = 4  # for topics created from now on; existing ones keep theirs


# Kept for ever: the events as counter systems posted them (the source of every rebuild, besides
# intake's table), sync's outcomes (the 766 sync ratio counts a dossier synced once, even if a later
# revision failed: compacting by dossier would keep only that failure and a rebuild would count
# fewer), and what could not be applied (an operator's to-do list).
_KEPT = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
# One record per key (the dossier code) kept for ever: the newest state of every dossier, so a
# rebuild reads one message per dossier. Consumers keep the newest revision per dossier anyway,
# so what compaction removes (older revisions of the same dossier) never changes a figure.
_COMPACTED = {"cleanup.policy": "compact"}


def topic_configs(topics: Topics, settings: TopicSettings) -> dict[str, dict[str, str]]:
    """Every topic's settings, as created and as checked at each service's start."""
    durability = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    return {
        topics.dossier_events: _KEPT | durability,
        topics.lifecycle: _COMPACTED | durability,
        topics.portal_sync: _KEPT | durability,
        topics.dead_letter: _KEPT | durability,
    }


class TopicsUnsafe(RuntimeError):
    """A topic is missing or set up so that it would lose records."""


async def ensure_topics(
    bootstrap: str, topics: Topics, partitions: int | None = None, settings: TopicSettings | None = None
) -> list[str]:
    """Create the missing topics and set the wanted settings on the existing ones (a deployment
    from before: the retention and compaction change in place). Running twice is harmless.

    Returns what cannot be fixed in place (a replication factor below the wanted one needs a
    partition reassignment, see docs/operations.md); empty when all is as configured.
    """
    settings = settings or TopicSettings()
    wanted = topic_configs(topics, settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                num_partitions=partitions or settings.kafka_partitions,
                replication_factor=settings.kafka_replication_factor,
                topic_configs=configs,
            )
            for name, configs in wanted.items()
            if name not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another process created them first
        old = [
            ConfigResource(ConfigResourceType.TOPIC, name, configs)
            for name, configs in wanted.items()
            if name in existing
        ]
        if old:
            await admin.alter_configs(old)
        # A change reaches the broker's answers a moment later (the cluster's metadata log).
        deadline = asyncio.get_running_loop().time() + 10.0
        problems = await _problems(admin, wanted, settings)
        while problems and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)  # poll interval, bounded by the deadline
            problems = await _problems(admin, wanted, settings)
        return problems
    finally:
        await admin.close()


async def check_topics(bootstrap: str, topics: Topics, settings: TopicSettings | None = None) -> list[str]:
    """What would lose records (or refuse acknowledged writes) on the current topics; empty if none."""
    settings = settings or TopicSettings()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await _problems(admin, topic_configs(topics, settings), settings)
    finally:
        await admin.close()


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, Any]]:
    """{topic: {"replication": n, "configs": {...}}} for the topics that exist."""
    found = {d["topic"]: d for d in await admin.describe_topics(names) if not d["error_code"] and d["partitions"]}
    result = {
        name: {"replication": min(len(p["replicas"]) for p in d["partitions"]), "configs": {}}
        for name, d in found.items()
    }
    if found:
        for response in await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in found]
        ):
            for _error, _message, _type, name, entries, *_ in response.resources:
                result[name]["configs"] = {entry[0]: entry[1] for entry in entries}
    return result


async def _problems(
    admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]], settings: TopicSettings, wait_seconds: float = 10.0
) -> list[str]:
    # A topic created a moment ago may not be described yet (its leader is being elected): wait
    # for it a little before calling it missing.
    deadline = asyncio.get_running_loop().time() + wait_seconds
    actual = await describe(admin, list(wanted))
    while len(actual) < len(wanted) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)  # poll interval, bounded by the deadline
        actual = await describe(admin, list(wanted))
    problems = []
    for name, configs in wanted.items():
        if name not in actual:
            problems.append(f"topic {name} does not exist (python -m shared.topics creates it)")
            continue
        have = actual[name]
        if have["replication"] < settings.kafka_replication_factor:
            problems.append(
                f"topic {name} has replication factor {have['replication']}, wanted {settings.kafka_replication_factor}"
            )
        for key, value in configs.items():
            if key == "min.insync.replicas":
                if int(have["configs"].get(key, "1")) < int(value):
                    problems.append(f"topic {name} has {key}={have['configs'].get(key)}, wanted {value}")
            elif have["configs"].get(key) != value:
                problems.append(f"topic {name} has {key}={have['configs'].get(key)}, wanted {value}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the project's Kafka topics.")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--prefix", default=os.environ.get("TOPIC_PREFIX", ""))
    parser.add_argument(
        "--partitions",
        type=int,
        default=int(os.environ.get("PARTITIONS", "0")) or None,
        help="for new topics (default KAFKA_PARTITIONS, 4)",
    )
    args = parser.parse_args()
    problems = asyncio.run(ensure_topics(args.bootstrap, Topics(args.prefix), args.partitions))
    for problem in problems:
        print("NOT FIXED:", problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("topics ready:", ", ".join(Topics(args.prefix).all()))


if __name__ == "__main__":
    main()
