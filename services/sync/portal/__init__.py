"""The national portal's dialect and its client: the contract lives here, in sync (the
simulator imports it from here, never the reverse)."""

from services.sync.portal.client import Portal, PortalClient, PortalError, PortalRejected, retry_after

__all__ = ["Portal", "PortalClient", "PortalError", "PortalRejected", "retry_after"]
