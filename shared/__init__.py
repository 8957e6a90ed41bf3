"""What agent and collector both import: schema, sweep, plan, errors, result files.

Nothing here imports torch, so the collector and a light agent can use it.
"""
from shared.version import __version__

__all__ = ["__version__"]
