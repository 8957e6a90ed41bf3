"""Run DoWhy quietly, reproducibly and fast: the one place that touches global state.

- DoWhy 0.14 passes pandas 3's deprecated ``copy=`` keyword: a few hundred Pandas4Warnings
  an estimate. That category, and only it, is ignored here; anything else still warns.
- DoWhy logs a WARNING per refuter with fewer than 100 simulations (a normal-distribution
  p-value); with no logging configured, Python prints each to stderr. The ``dowhy`` logger
  is raised to ERROR for the duration.
- Threads cost more than they give here: on the 2-core VM, OpenBLAS with 2 threads takes
  35 ms for a least-squares fit on 10,000 x 8 rows that one thread does in 0.8 ms, and
  scikit-learn's gradient boosting with 2 OpenMP threads takes 2.0 s for a fit that one
  thread does in 0.4 s. BLAS and OpenMP are held to one thread.
- Refuters draw from numpy's global generator too; it is seeded and restored afterwards.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import numpy as np
from pandas.errors import Pandas4Warning
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def quiet_dowhy(seed: int) -> Iterator[None]:
    logger = logging.getLogger("dowhy")
    level = logger.level
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.filterwarnings("ignore", category=Pandas4Warning)
            logger.setLevel(logging.ERROR)
            yield
    finally:
        logger.setLevel(level)
        np.random.set_state(state)
