"""Who is on the other end of a request: `hub.ports.ClientAddresses` (there, so channels use the
same rule: the web chat's rate limits)."""

from __future__ import annotations

from hub.ports import ClientAddresses

__all__ = ["ClientAddresses"]
