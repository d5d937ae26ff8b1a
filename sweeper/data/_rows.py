"""Rows of a memory-mapped array, read when they are asked for: :class:`RowView`.

Features given as a memory map (``np.load("X.npy", mmap_mode="r")``, a study file's folder
source) may be larger than host memory. Fancy indexing a map (``X[rows]``) copies the rows into
memory, so a split made that way would hold the data in host memory after all. A split of a
map therefore holds the map and its row indices (a :class:`RowView`), and reads rows only when
a consumer indexes it: a block of a streamed epoch, a chunk of scores, a block of the
standardisation's statistics or of the fingerprint. The dtype conversion (float64 to float32,
int64 ids to int32, booleans to uint8) and the standardisation are applied to each block as it
is read, so neither is materialised for the whole split either.

Arrays in memory keep being copied (:func:`rows_of`): a copy is fast and the memory is
already spent. The view is deliberately small: what the sweeper's consumers use of an array
(``shape``, ``dtype``, ``ndim``, ``nbytes``, ``len``, ``view[int | slice | rows]``,
``np.asarray(view)``), nothing more; ``np.asarray`` reads every row, for the consumers that
need them all (the resident trainer, whose training rows were chosen because they fit).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from sweeper.data._scaling import Standardizer

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

__all__ = ["BLOCK_BYTES", "Features", "RowView", "block_rows", "row_blocks", "rows_of",
           "scaled_features", "with_dtype"]

BLOCK_BYTES = 64 * 2**20
"""Rows are read a block of about this many bytes (once read) at a time where a consumer walks
them all: the checks, the fingerprint, scoring, materialising a view. Host memory then holds
a few blocks' worth (the block and its conversions), whatever the data's size."""


class RowView:
    """Rows ``rows`` of ``base`` (all of them when ``None``), read when indexed, cast to
    ``dtype`` and, with ``scaling``, standardised (then float32).

    Indexing takes a row (an int), a slice of rows, or an array of row indices or a boolean
    mask of rows, optionally followed by indices into each sample (``view[rows, 0]``); it
    returns a NumPy array in memory holding those rows only. The rows are read from the map
    in ascending order, each once (repeated indices, as a padded batch has, are read once),
    which keeps the reads sequential on disk, then put in the order asked for.
    """

    def __init__(self, base: np.ndarray, rows: np.ndarray | None = None, *,
                 dtype: DTypeLike | None = None, scaling: Standardizer | None = None) -> None:
        self.base = base
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.scaling = scaling
        self.cast = np.dtype(base.dtype if dtype is None else dtype)
        """The dtype rows are converted to when read, before any standardisation."""
        self.dtype = np.dtype(np.float32) if scaling is not None else self.cast
        n_rows = base.shape[0] if self.rows is None else self.rows.shape[0]
        self.shape: tuple[int, ...] = (int(n_rows), *(int(d) for d in base.shape[1:]))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """The bytes the rows take once read (in :attr:`dtype`): what the device would hold."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"RowView(shape={self.shape}, dtype={self.dtype}, scaled={self.scaling is not None})"

    def subset(self, rows: np.ndarray) -> RowView:
        """The view of ``rows`` (indices into this view): still nothing read."""
        rows = self._indices(rows)
        base_rows = rows if self.rows is None else self.rows[rows]
        return RowView(self.base, base_rows, dtype=self.cast, scaling=self.scaling)

    def scaled(self, scaling: Standardizer) -> RowView:
        """The same rows, standardised by ``scaling`` as they are read."""
        return RowView(self.base, self.rows, dtype=self.cast, scaling=scaling)

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            index = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= index < self.shape[0]:
                raise IndexError(f"row {int(key)} is out of range for {self.shape[0]} rows.")
            return self._read(np.array([index]))[0][rest]
        block = self._read(key if isinstance(key, slice) else self._indices(key))
        within = (slice(None), *rest)  # every row read, then ``rest`` within each
        return block[within] if rest else block

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """Every row, read a block at a time into one array (no float64 copy of the whole)."""
        out = np.empty(self.shape, dtype=self.dtype)
        for start, block in row_blocks(self):
            out[start:start + block.shape[0]] = block
        return out if dtype is None else out.astype(dtype, copy=False)

    def _indices(self, key: Any) -> np.ndarray:
        """Row indices (into this view) of an index array, a boolean mask or a slice."""
        if isinstance(key, slice):
            return np.arange(self.shape[0])[key]
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (self.shape[0],):
                raise IndexError(f"a boolean mask of shape {key.shape} does not match "
                                 f"{self.shape[0]} rows.")
            return np.flatnonzero(key)
        if key.dtype.kind not in "iu" or key.ndim != 1:
            raise IndexError(f"a RowView takes rows as an int, a slice or a 1-D array of row "
                             f"indices, not {key.dtype} of shape {key.shape}.")
        key = key.astype(np.int64)
        key = np.where(key < 0, key + self.shape[0], key)
        if key.size and (key.min() < 0 or key.max() >= self.shape[0]):
            raise IndexError(f"row indices out of range for {self.shape[0]} rows.")
        return key

    def _read(self, key: np.ndarray | slice) -> np.ndarray:
        """The rows ``key`` (a slice, or indices into this view), converted."""
        if isinstance(key, slice) and self.rows is None:
            raw = np.asarray(self.base[key])  # a contiguous range of the map
        else:
            indices = self._indices(key) if isinstance(key, slice) else key
            wanted = indices if self.rows is None else self.rows[indices]
            ordered, back = np.unique(wanted, return_inverse=True)
            raw = np.asarray(self.base[ordered])
            if ordered.size != wanted.size or (ordered != wanted).any():
                raw = raw[back.reshape(-1)]
        block = raw.astype(self.cast, copy=False)
        del raw  # a converted block need not keep the raw one alive while it is scaled
        return block if self.scaling is None else self.scaling.transform(block)


Features: TypeAlias = "np.ndarray | RowView"
"""Features of a :class:`~sweeper.data.Dataset`: an array (in memory, or a memory map), or a
:class:`RowView` of a memory map's rows."""


def rows_of(X: Features, rows: np.ndarray) -> Features:
    """``X``'s rows ``rows``: a :class:`RowView` of a memory map (nothing read), a copy of an
    array in memory (as ``X[rows]``)."""
    if isinstance(X, RowView):
        return X.subset(rows)
    if isinstance(X, np.memmap):
        return RowView(X, rows)
    return X[rows]


def with_dtype(X: np.ndarray, dtype: DTypeLike) -> Features:
    """``X`` as ``dtype``: converted as each block is read for a memory map (a float64 map
    would otherwise become a float32 copy of the whole in memory), converted now otherwise."""
    if isinstance(X, np.memmap):
        return RowView(X, dtype=dtype)
    return X.astype(dtype)


def scaled_features(X: Features, scaling: Standardizer) -> Features:
    """``X`` standardised by ``scaling``: as each block is read for a memory map or a view of
    one, now for an array in memory."""
    if isinstance(X, RowView):
        return X.scaled(scaling)
    if isinstance(X, np.memmap):
        return RowView(X, scaling=scaling)
    return scaling.transform(X)


def block_rows(X: Features, block_bytes: int | None = None) -> int:
    """Rows of ``X`` in a block of about ``block_bytes`` (default :data:`BLOCK_BYTES`), at
    least one."""
    row_bytes = int(np.prod(X.shape[1:])) * X.dtype.itemsize
    return max(1, (BLOCK_BYTES if block_bytes is None else block_bytes) // max(row_bytes, 1))


def row_blocks(X: Features, block_bytes: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, rows)`` blocks of ``X`` in order, each about ``block_bytes`` (default
    :data:`BLOCK_BYTES`), read (and converted) one at a time."""
    rows = block_rows(X, block_bytes)
    for start in range(0, X.shape[0], rows):
        yield start, np.asarray(X[start:start + rows])
