"""What a benchmark ran on, printed with every result so numbers can be compared."""
from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def cpu_model() -> str:
    """The CPU model as the kernel reports it (the first 'model name' line)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> str:
    """'<cpu>, <n> cores, Python <version>'."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def p95(values: list[float]) -> float:
    """95th percentile (inclusive method); the median is ``statistics.median``."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]
