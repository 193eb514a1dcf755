"""The 766 scoring rules on hand-set counts (the end-to-end recomputation is in test_portal_example)."""

from services.metrics.aggregates import Counts
from services.metrics.index766 import index766


def counts(**values) -> Counts:
    c = Counts()
    for name, value in values.items():
        if name.startswith("procedures"):
            c.procedures[name] = {f"p{i}" for i in range(value)}
        else:
            c.values[name] = value
    return c


def component(result: dict, code: str) -> dict:
    return next(c for g in result["groups"] for c in g["components"] if c["code"] == code)


def test_a_unit_with_two_late_dossiers_scores_zero_progress():
    result = index766(counts(received=2, on_time=0))
    assert component(result, "TDGQ")["score"] == 0


def test_no_pakn_gives_full_pakn_points_and_nothing_received_gives_no_satisfaction():
    result = index766(counts())
    assert component(result, "MDHL.pakn_on_time")["score"] == 6
    assert component(result, "MDHL.pakn_satisfied")["score"] == 6
    assert component(result, "MDHL.service")["score"] == 0


def test_capped_components_reach_full_points_at_their_threshold():
    result = index766(counts(received=100, reused=80, satisfied=95))
    assert component(result, "MDSH.reuse")["score"] == 2  # full at 80%
    assert component(result, "MDHL.service")["score"] == 6  # full at 90%


def test_online_payment_group_per_3_5_and_3_6():
    # 3.6 (A): 5 paid online of 10 that owed a fee -> 6 × 0.5 = 3. 3.5 (B): 4 fee-bearing procedures,
    # all synced fee data -> full 2 (full at 80%). C: 2 of 4 offer online payment -> 2.5 × 0.5 = 1.25.
    result = index766(
        counts(
            fee_owed=10,
            has_fee=12,
            paid_online=5,
            procedures_with_fee=4,
            procedures_online_payment=2,
            procedures_fee_synced=4,
        )
    )
    group = next(g for g in result["groups"] if g["code"] == "TTTT")
    assert component(result, "TTTT.A")["denominator"] == 10  # not has_fee's 12
    assert group["score"] == 6.25
    # 3.5 at 3 of 4 (75%): 2 × 0.75 / 0.8 = 1.875 -> 1.88.
    assert component(index766(counts(procedures_with_fee=4, procedures_fee_synced=3)), "TTTT.B")["score"] == 1.88
    everything = index766(
        counts(fee_owed=1, paid_online=1, procedures_with_fee=1, procedures_online_payment=1, procedures_fee_synced=1)
    )
    assert next(g for g in everything["groups"] if g["code"] == "TTTT")["score"] == 10


def test_online_service_group_from_3_1_3_2_3_3_with_a_provisional_split():
    c = counts(received=10, online_counted=2, synced=6)
    # Catalog: 10 procedures of the unit's level, 7 online (3.1: 70% of the 80% -> 4 × 0.875 = 3.5);
    # 5 of the 7 had an online dossier (3.2: 4 × 5/7 = 2.857 -> 2.86); 3.3: 0.2 × 0.6 = 0.12 of the
    # 50% -> 4 × 0.24 = 0.96. Total 7.32 of 12.
    c.extra = {"catalog_procedures": 10, "catalog_online": 7, "online_services_used": 5}
    result = index766(c)
    clgq = next(g for g in result["groups"] if g["code"] == "CLGQ")
    assert [component(result, k)["score"] for k in ("CLGQ.3.1", "CLGQ.3.2", "CLGQ.3.3")] == [3.5, 2.86, 0.96]
    assert clgq["score"] == 7.32 and clgq["provisional"] is True
    # Another split (a setting): 3.3 worth 6 -> 6 × 0.24 = 1.44.
    other = index766(c, weights=(3, 3, 6))
    assert component(other, "CLGQ.3.3")["score"] == 1.44 and component(other, "CLGQ.3.3")["max"] == 6
    # Without the catalog 3.1 and 3.2 are not scored (not guessed).
    bare = index766(counts(received=10, online_counted=5, synced=10))
    assert component(bare, "CLGQ.3.1")["tracked"] is False and component(bare, "CLGQ.3.3")["score"] == 4


def test_untracked_catalog_components_have_no_score_and_reduce_the_reachable_maximum():
    result = index766(counts(received=1, synced=1))
    published = component(result, "CKMB.published")
    assert published["tracked"] is False and published["score"] is None
    # CKMB's catalog facts and the certified-copy service; CLGQ 3.1/3.2 without a catalog.
    assert result["max_available"] == 100 - 6 - 4 - 2 - 2 - 4 - 4
