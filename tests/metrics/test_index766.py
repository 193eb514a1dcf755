"""The 766 scoring rules on hand-set counts (the end-to-end recomputation is in test_portal_example)."""

import pytest

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


def test_online_payment_group_follows_6a_plus_min_2_25b_plus_25c_capped_at_10():
    result = index766(counts(has_fee=10, paid_online=5, procedures_with_fee=4, procedures_online_payment=2,
                             procedures_fee_synced=4))
    group = next(g for g in result["groups"] if g["code"] == "TTTT")
    # 6 × 0.5 + min(2, 2.5 × 0.5) + 2.5 × 1 = 3 + 1.25 + 2.5
    assert group["score"] == 6.75
    everything = index766(counts(has_fee=1, paid_online=1, procedures_with_fee=1, procedures_online_payment=1,
                                 procedures_fee_synced=1))
    assert next(g for g in everything["groups"] if g["code"] == "TTTT")["score"] == 10


@pytest.mark.parametrize("formula,expected", [("procedures_online", 12.0), ("online_dossiers_synced", 11.52)])
def test_online_service_group_is_configurable_and_provisional(formula, expected):
    given = counts(received=10, online=8, synced=6, procedures=5, procedures_online=4)
    result = index766(given, online_formula=formula)
    clgq = next(g for g in result["groups"] if g["code"] == "CLGQ")
    assert clgq["provisional"] is True
    # procedures_online: 4/5 = 80% -> full 12; online × synced: 0.8 × 0.6 = 0.48 -> 12 × 0.48 / 0.5 = 11.52
    assert clgq["score"] == expected


def test_untracked_catalog_components_have_no_score_and_reduce_the_reachable_maximum():
    result = index766(counts(received=1, synced=1))
    published = component(result, "CKMB.published")
    assert published["tracked"] is False and published["score"] is None
    assert result["max_available"] == 100 - 6 - 4 - 2 - 2
