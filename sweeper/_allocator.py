"""Large host blocks go back to the operating system when they are freed.

glibc's ``malloc`` serves a block of a megabyte or more from its heap arenas once its mmap
threshold has grown past it (the threshold rises to the largest block freed, up to 32 MB), and
freed heap memory stays with the process. A sweep frees such blocks all the time: each
scoring chunk's logits and probabilities, the loss's temporaries, TensorFlow's and XLA's
buffers, each record's curves. Kept, they raise the process's resident memory by hundreds of
megabytes that no array holds.

Measured with ``benchmarks/scaling.py --cells 300x30000`` (TensorFlow, 2 idle cores; peak
resident memory, seconds for the whole sweep): glibc's default 1,461 MB, 19.5 s; a threshold
of 1 MB 1,216 MB, 26.8 s (each freed block's pages come back zeroed, at a fault each); 2 MB
1,256 MB, 23.5 s; 4 MB 1,301 MB, 22.7 s; 8 MB 1,457 MB. 2 MB keeps 84% of 1 MB's saving in
about the time the code before issue 30 took (1,735 MB, 23.2 s).

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

MMAP_THRESHOLD_BYTES = 2 * 2**20
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
