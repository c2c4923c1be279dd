"""A short summary of the machine a run measured from, stored with every run."""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int:
    """Physical cores (llama.cpp's best thread count on most CPUs); logical if unknown."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def host_name() -> str:
    """`TOKBENCH_HOST` if set (a container's name means little), else the hostname."""
    return os.environ.get("TOKBENCH_HOST") or socket.gethostname()


def host_summary() -> dict[str, Any]:
    import psutil

    return {
        "hostname": host_name(),
        "cpu_model": cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": sys.version.split()[0],
    }
