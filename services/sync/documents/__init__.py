"""The document-management connector (docs/domain.md §10): signing requests out, issued documents in.

Out: when a dossier whose procedure's result is an official document reaches *processed* (9)
or *returned* (10) without a document number, a signing request (edXML, the draft attached) is
queued in docsys_backlog and delivered by the sync service's DeliveryWorker (same backlog
functions, leases, backoff and circuit breaker as the portal sync).
In: the connector polls the document system for its messages (statuses, issued documents),
records each in one transaction with its lifecycle event in the outbox, then acknowledges it.
"""
