"""Pruning methods, one registry of them, and the one-shot / iterative schedule.

Importing this package registers every method in :data:`METHODS`.
"""
# registers in catalog order
from agent.pruning import unstructured, structured, granger, semi_structured  # noqa: F401, I001
from agent.pruning.base import METHODS, Option, PruneContext, PruningMethod, check_method_options
from agent.pruning.schedule import cumulative_ratios, prune_model

__all__ = ["METHODS", "Option", "PruneContext", "PruningMethod", "check_method_options",
           "cumulative_ratios", "prune_model"]
