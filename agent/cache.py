"""Where the agent keeps what outlives a run on this machine: trained base models, the
machine-wide measuring lock. Light: no torch (the light agent takes the lock too)."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDGEPRUNE_CACHE", Path.home() / ".cache" / "edgeprune"))
