"""Made-up results for tests and benchmarks, never shipped: rows with known causal effects
(known_effects.py) and a whole fleet folder as `collector run` lays it out (fleet_folder.py),
both written through shared.resultsdir.ResultsFolder."""
