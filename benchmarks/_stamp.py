"""Where and how a benchmark's figures were measured, written into every benchmark's JSON.

The docs site renders one page per JSON kept in ``docs/benchmarks/`` (``docs/hooks.py``) and
refuses a JSON without its stamp: a figure without its commit, date and machine cannot be
compared with a later one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def commit() -> str:
    """The checkout's short commit, with ``+changes`` when its tracked files differ from it."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        ran = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True)
        return ran.stdout.strip() if ran.returncode == 0 else ""

    short = git("rev-parse", "--short", "HEAD") or "unknown"
    return short + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    """The CPU architecture, its cores, the Python, and the GPU where ``nvidia-smi`` names one."""
    described = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        gpus = []
    named = [gpu.strip() for gpu in gpus if gpu.strip()]
    return described + (f", {len(named)} x {named[0]}" if named else ", no GPU")


def stamp(benchmark: str) -> dict[str, str]:
    """The benchmark's name, commit, date, machine and the command that ran it."""
    return {"benchmark": benchmark, "commit": commit(), "date": time.strftime("%Y-%m-%d"),
            "machine": machine(), "command": " ".join(["python", *sys.argv])}


def write_json(path: str | Path, benchmark: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` under the stamp, atomically (a run cut short leaves the old file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({**stamp(benchmark), **figures}, indent=2) + "\n")
    temporary.replace(path)
    return path
