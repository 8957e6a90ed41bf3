"""Inference backends. Importing this package registers every backend."""
from agent.backends import torch_backend  # noqa: F401  (registers "torch")
from agent.backends.base import BACKENDS, Backend, Prepared

__all__ = ["BACKENDS", "Backend", "Prepared"]
