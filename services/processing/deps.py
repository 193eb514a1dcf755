"""Processing's own route dependencies (the common ones are in shared/deps.py)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.processing.pending import Folding


async def app_folding(request: Request) -> Folding:
    """What judging a dossier needs (calendar, catalog, topics, rules), set by the lifespan."""
    return cast(Folding, request.app.state.folding)


FoldingDep = Annotated[Folding, Depends(app_folding)]
