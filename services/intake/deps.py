"""Intake's own route dependencies (the common ones are in shared/deps.py; the caller's key in
auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.identity import Keyring


async def app_keyring(request: Request) -> Keyring | None:
    """The keys that encrypt applicants' identities (None: not configured)."""
    keyring: Keyring | None = request.app.state.keyring
    return keyring


KeyringDep = Annotated[Keyring | None, Depends(app_keyring)]
