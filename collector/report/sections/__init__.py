"""One module a report section, each with ``build(data, budgets) -> Section``."""
