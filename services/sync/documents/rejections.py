"""Envelopes refused on the way in: recorded with their reason, and told to the dead-letter topic.

Only the envelope's sha256, its size and its first 4 KB are kept, in the table and in the
dead letter: enough to recognise it and read its header, while one large request (pushed, or
offered by a misbehaving document system) cannot fill the database or the topic.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.documents.models import DocsysRejection
from shared.deadletters import DeadLetter
from shared.outbox import add_to_outbox
from shared.topics import Topics

HEAD_BYTES = 4096
SOURCE = "document-system"


async def reject(session: AsyncSession, raw: bytes, reason: str, code: str | None, topics: Topics) -> None:
    """Record the refusal and queue its dead letter, in the caller's transaction."""
    head, sha256 = raw[:HEAD_BYTES], hashlib.sha256(raw).hexdigest()
    session.add(
        DocsysRejection(
            reason=reason[:4000], dossier_code=code, envelope_head=head, envelope_sha256=sha256, envelope_size=len(raw)
        )
    )
    value = DeadLetter(
        service="sync",
        kind="refused_envelope",
        source=SOURCE,
        reason=reason[:4000],
        dossier_code=code,
        value=head.decode(errors="replace"),
        value_sha256=sha256,
        value_bytes=len(raw),
    ).encode()
    await add_to_outbox(session, [(topics.dead_letter, code or "-", value)])
