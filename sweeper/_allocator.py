"""Large host blocks go back to the operating system when they are freed.

glibc's ``malloc`` serves a block of a megabyte or more from its heap arenas once its mmap
threshold has grown past it (the threshold rises to the largest block freed, up to 32 MB), and
freed heap memory stays with the process. A sweep frees such blocks all the time: each
scoring chunk's logits and probabilities, the loss's temporaries, TensorFlow's and XLA's
buffers, each record's curves. Kept, they raise the process's resident memory by hundreds of
megabytes that no array holds (issue 30: the 30-label, 30,000-row sweep peaked at 1,316 MB,
1,097 MB with the threshold fixed; 300 labels 1,484 MB and 1,245 MB; ``benchmarks/scaling.py``).

:func:`return_large_blocks` fixes the threshold at :data:`MMAP_THRESHOLD_BYTES`, so every
block at least that large is mapped on its own and unmapped when freed. It changes the
process's allocator, once, for what it allocates from then on; where the C library is not
glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["MMAP_THRESHOLD_BYTES", "return_large_blocks"]

MMAP_THRESHOLD_BYTES = 2**20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` (once per process); whether
    it was set."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has mallopt as a stub)
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
