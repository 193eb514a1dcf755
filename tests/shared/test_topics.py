"""Topics as a record: created (or corrected) with the configured retention, compaction,
replication and min.insync.replicas; a service refuses to start on a topic that would lose data."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.config import ServiceSettings
from shared.runtime import service_runtime
from shared.tables import PLUMBING
from shared.topics import TopicSettings, TopicsUnsafe, check_topics, describe, ensure_topics
from tests.conftest import DATABASE_URL, KAFKA, poll

pytestmark = pytest.mark.integration


async def described(topics) -> dict[str, dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        return await describe(admin, topics.all())
    finally:
        await admin.close()


async def test_topics_are_created_as_configured(topics):
    """The fixture created them with the settings' defaults; check every one from the broker."""
    got = await described(topics)
    settings = TopicSettings()
    for kept in (topics.dossier_events, topics.portal_sync, topics.dead_letter):
        assert got[kept]["configs"]["cleanup.policy"] == "delete"
        assert got[kept]["configs"]["retention.ms"] == "-1"
        assert got[kept]["configs"]["retention.bytes"] == "-1"
    for compacted in (topics.lifecycle,):
        assert got[compacted]["configs"]["cleanup.policy"] == "compact"
    for topic in topics.all():
        assert got[topic]["replication"] == settings.kafka_replication_factor
        assert got[topic]["configs"]["min.insync.replicas"] == str(settings.kafka_min_insync_replicas)
    assert await check_topics(KAFKA, topics) == []


async def test_more_replication_than_the_topics_have_is_reported(topics):
    have = TopicSettings()  # as the fixture created them (1 and 1 on one broker)
    wanted = TopicSettings(
        kafka_replication_factor=have.kafka_replication_factor + 1,
        kafka_min_insync_replicas=have.kafka_min_insync_replicas + 1,
    )
    problems = await check_topics(KAFKA, topics, wanted)
    assert (
        f"topic {topics.dossier_events} has replication factor {have.kafka_replication_factor}, "
        f"wanted {wanted.kafka_replication_factor}"
    ) in problems
    assert (
        f"topic {topics.lifecycle} has min.insync.replicas={have.kafka_min_insync_replicas}, "
        f"wanted {wanted.kafka_min_insync_replicas}"
    ) in problems


async def test_a_topic_with_the_default_retention_is_refused_then_corrected(topics, schemas):
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:  # as Kafka's defaults (and this project before) left them: 7 days, no compaction
        await admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topics.dossier_events, {"retention.ms": "604800000"}),
                ConfigResource(ConfigResourceType.TOPIC, topics.lifecycle, {"cleanup.policy": "delete"}),
            ]
        )
    finally:
        await admin.close()
    # (AlterConfigs replaces a topic's settings: the others fall back to the broker's defaults.)
    expected = [
        f"topic {topics.dossier_events} has retention.ms=604800000, wanted -1",
        f"topic {topics.lifecycle} has cleanup.policy=delete, wanted compact",
    ]

    async def altered() -> bool:  # the broker's answers follow a change a moment later
        return await check_topics(KAFKA, topics) == expected

    await poll(altered, what="the altered settings visible")

    settings = ServiceSettings(
        database_url=DATABASE_URL, db_schema=f"{schemas}processing", kafka_bootstrap=KAFKA, topic_prefix=topics.prefix
    )
    with pytest.raises(TopicsUnsafe, match="retention.ms=604800000"):
        async with service_runtime(settings, PLUMBING, service="processing"):
            pass

    assert await ensure_topics(KAFKA, topics) == []  # corrected in place
    assert await check_topics(KAFKA, topics) == []
