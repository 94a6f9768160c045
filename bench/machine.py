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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """A process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


class CpuMeter:
    """CPU time spent by groups of processes between two readings: on shared, noisy cores the
    CPU a piece of work needs varies far less than the wall time it takes.

    ``trees`` maps a name to the root process of a tree (its descendants are counted too);
    ``alone`` maps a name to one process without its descendants. Counted per process: one
    that starts in between counts whole, one that ends in between (PostgreSQL's autovacuum
    workers) loses what it spent since the last reading."""

    def __init__(self, trees: dict[str, int], alone: dict[str, int] | None = None):
        self.trees, self.alone = trees, alone or {}
        self.last = self.read()

    def read(self) -> dict[str, dict[int, float]]:
        return ({name: {p: _cpu_seconds(p) for p in _children(root)} for name, root in self.trees.items()}
                | {name: {pid: _cpu_seconds(pid)} for name, pid in self.alone.items()})

    def lap(self) -> dict[str, float]:
        """CPU seconds per group since the last reading."""
        now = self.read()
        spent = {name: sum(max(0.0, t - self.last.get(name, {}).get(p, 0.0)) for p, t in procs.items())
                 for name, procs in now.items()}
        self.last = now
        return spent
