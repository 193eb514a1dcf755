"""Which status changes the portal refuses as impossible (a regression of TrangThaiHoSo).

Decided here, since the official rules are not public (docs/domain.md §3 gives only the codes):
- 3 Không được tiếp nhận (refused at reception) and 10 Đã trả kết quả (result returned) are
  final: nothing follows them but the same status (a re-send).
- 1 Mới đăng ký cannot come back once the dossier was accepted or refused.
- 2 Được tiếp nhận cannot come back once processing started or ended (4–10).
Moves among 4–9 are allowed: a processed dossier may be reopened for supplementation or fees,
and a withdrawal request may be refused; the portal records them as they come.
"""

from __future__ import annotations

FINAL = {3, 10}
AFTER_ACCEPTANCE = {4, 5, 6, 7, 8, 9, 10}


def impossible_change(held: int, new: int) -> str | None:
    """Why the portal refuses going from `held` to `new`, or None when it accepts it."""
    if held == new:
        return None
    if held in FINAL:
        return f"status {held} is final; {new} cannot follow it"
    if new == 1:
        return f"status 1 cannot follow {held}"
    if new == 2 and held in AFTER_ACCEPTANCE:
        return f"status 2 cannot follow {held}"
    return None
