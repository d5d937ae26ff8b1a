"""Large freed blocks go back to the operating system (issue 30's memory budget)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from sweeper._allocator import return_large_blocks

FREE_AND_MEASURE = """
import sys
import numpy as np
def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20
if sys.argv[1] == "set":
    from sweeper._allocator import return_large_blocks
    return_large_blocks()
block = np.ones(2**21)  # 16 MB, freed: glibc raises its mmap threshold past it
del block
before = resident_mb()
block = np.ones(2**20)  # 8 MB: from the heap unless the threshold is fixed
del block
print(resident_mb() - before)
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


@glibc_only
@pytest.mark.parametrize(("setting", "kept"), [("default", True), ("set", False)])
def test_a_freed_large_block_is_kept_by_default_and_returned_once_set(setting, kept):
    """Without the setting, glibc keeps an 8 MB block it freed (the heap's share of every
    sweep's temporaries); with it, the block is unmapped when freed. In a fresh process,
    since the setting is for the process's life."""
    done = subprocess.run([sys.executable, "-c", FREE_AND_MEASURE, setting],
                          capture_output=True, text=True, check=True)
    retained = float(done.stdout.strip())
    assert (retained > 4) is kept, f"{retained:.1f} MB retained"


@glibc_only
def test_the_setting_is_made_once_and_reports_success():
    assert return_large_blocks() is True
    assert return_large_blocks() is True
