"""The collector: drives a fleet of agents over SSH, merges results, analyses and reports."""
