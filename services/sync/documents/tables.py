"""The connector's backlog and state tables, in the shape services/sync/backlog.py works on."""

from services.sync.backlog import Tables
from services.sync.documents.models import DocsysBacklog, DocsysRequest

DOCSYS = Tables(backlog=DocsysBacklog, state=DocsysRequest)
