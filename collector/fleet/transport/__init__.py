"""How the collector reaches a host: one Transport ABC, one registry (ssh, local)."""
from __future__ import annotations

from collector.fleet.transport.base import (TRANSPORTS, AuthFailed, Completed, ConnectionLost, Transport,
                                      TransportError, Unreachable)

__all__ = ["TRANSPORTS", "AuthFailed", "Completed", "ConnectionLost", "Transport", "TransportError",
           "Unreachable"]
