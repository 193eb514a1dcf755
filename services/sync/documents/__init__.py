"""The document-management connector (docs/documents.md): signing requests out, issued documents in.

Out: when a dossier whose procedure's result is an official document reaches *processed* (9)
or *returned* (10) without a document number, a signing request (edXML, the draft attached) is
queued in docsys_backlog and delivered by the sync service's DeliveryWorker (same backlog
functions, leases, backoff and circuit breaker as the portal sync).
In: the connector polls the document system for its messages (statuses, issued documents),
records each in one transaction with its lifecycle event in the outbox, then acknowledges it.
The contract with the document system (edXML codec and schema, XML-DSig signing) lives here:
edxml.py, edxml.xsd, signing.py, organs.py; the simulator imports it.
"""
