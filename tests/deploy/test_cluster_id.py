"""The cluster id the three-node quorum is formatted with must be one Kafka's storage tool accepts."""

import base64

from deploy.cluster import _random_cluster_id


def test_cluster_ids_are_kafka_uuids_the_storage_tool_can_parse():
    # One id in 64 used to start with '-', which the tool read as an option (a failed CI run);
    # 5,000 draws would meet one with near certainty.
    ids = [_random_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22}
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
