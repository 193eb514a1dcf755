"""The unit list in the new shape: the post-merger tree from a file, renames and mergers from a
date without rewriting history, codes not yet listed hung below the nearest known unit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shared.units import load_units

FIXTURE = Path(__file__).parents[1] / "fixtures" / "units" / "phu-tho-units.csv"


def test_the_full_post_merger_tree_loads_from_a_file_without_a_code_change(monkeypatch):
    monkeypatch.setenv("UNITS_PATH", str(FIXTURE))
    tree = load_units()
    communes = [u for u in tree.units.values() if u.level == "COMMUNE" and u.exists_on(date(2026, 1, 1))]
    assert len(communes) == 148 and tree.root.code == "H44"
    assert tree.units["H44.200"].national_id == "000.02.00.H44"
    assert len({u.national_id for u in tree.units.values()}) == len(tree.units)  # unique
    monkeypatch.delenv("UNITS_PATH")
    assert "H44.200" not in load_units()  # the shipped list again


def test_renamed_and_merged_units_keep_their_history():
    tree = load_units(FIXTURE)
    renamed, merged = tree.units["H44.105"], tree.units["H44.248"]
    assert renamed.name_on(date(2025, 6, 30)).endswith("(tên cũ)") and renamed.name_on(date(2025, 7, 1)) == renamed.name
    assert merged.exists_on(date(2025, 6, 30)) and not merged.exists_on(date(2025, 7, 1))
    assert merged.merged_into == "H44.100"
    # Listed for June 2025, not for July; its dossiers still count for the province either way.
    assert "H44.248" in [u.code for u in tree.children("H44", on=date(2025, 6, 1))]
    assert "H44.248" not in [u.code for u in tree.children("H44", on=date(2025, 7, 1))]
    assert tree.ancestors_and_self("H44.248") == ["H44.248", "H44"]


def test_a_code_not_yet_listed_counts_below_the_nearest_known_unit():
    tree = load_units()
    assert tree.ancestors_and_self("H44.250") == ["H44.250", "H44"]
    assert tree.ancestors_and_self("H45.1") == []


@pytest.mark.parametrize(
    "text,message",
    [
        ("code,name,level,parent\nH44,P,PROVINCE,\nH44.1,X,DISTRICT,H44\n", "level"),
        ("code,name,level,parent\nH44,P,PROVINCE,\nH44.1,X,COMMUNE,H44.9\n", "parent"),
        ("code,name,level,parent,closed_on\nH44,P,PROVINCE,,\nH44.1,X,COMMUNE,H44,1/7/2025\n", "row 3"),
    ],
)
def test_a_bad_unit_file_is_refused_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_units(path)
