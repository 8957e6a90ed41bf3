"""Memory sizes as people write them ('2GiB', '512MiB', '4GB'): the agent's --mem-limit and the
inventory's mem_limit read them the same way."""
from __future__ import annotations

import re

from shared.errors import UserError

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
          "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_size(text: str, field: str = "--mem-limit") -> int:
    """'2GiB', '512MiB', '1.5G', '4GB', '300000000' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS or float(match.group(1)) <= 0:
        raise UserError(f"cannot read memory size {text!r} (e.g. 2GiB, 512MiB, 4GB)", field=field)
    return int(float(match.group(1)) * _UNITS[unit])
