"""Sorting tens of millions of rows by several integer keys: packed into one int64 where they fit.

np.lexsort sorts by each key in turn; at MovieLens-32M's 32 million ratings three keys take about
20 s. Where the keys, each shifted to start at zero, and the row number fit in 64 bits together,
one np.sort of the packed (unsigned) values gives the same order several times faster.

np.unique of NumPy 2.4 goes through a hash table before it sorts: 41 s for 32 million int64 keys,
where np.sort and a comparison of neighbours take 2.3 s (unique_sorted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]

PACKED_BITS = 64  # a uint64


def bit_width(values: IntArray) -> int:
    """Bits needed for the largest of non-negative `values` (0 for none)."""
    return int(values.max()).bit_length() if values.shape[0] else 0


def lexsort(keys: Sequence[IntArray]) -> IntArray:
    """np.lexsort(keys) for integer keys ([n] each, the last key primary), exactly: the keys and
    the row number packed into one uint64, the row number in the low bits so that equal keys
    keep their order (a stable sort), and sorted once; np.lexsort where they do not fit."""
    n = keys[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    shifted = [np.asarray(k, dtype=np.int64) - int(np.min(k)) for k in keys]  # [n] each, >= 0
    widths = [bit_width(k) for k in shifted]
    row_bits = (n - 1).bit_length()
    if sum(widths) + row_bits > PACKED_BITS:
        return np.lexsort(keys)
    packed = np.arange(n, dtype=np.uint64)  # [n] the row number in the low bits
    shift = row_bits
    for key, width in zip(shifted, widths, strict=True):  # later keys go higher: they lead
        if width:
            high = key.view(np.uint64)  # the same bits: the key is >= 0
            high <<= np.uint64(shift)
            packed |= high
            shift += width
    packed.sort()
    packed &= np.uint64((1 << row_bits) - 1)
    return packed.view(np.int64)


def dense_rank(values: IntArray) -> IntArray:
    """0 for the smallest distinct value, 1 for the next, ...: [n], as the inverse of
    np.unique(values, return_inverse=True)."""
    n = values.shape[0]
    order = lexsort((values,))
    step = np.empty(n, dtype=np.int64)
    if n:
        ordered = values[order]
        step[0] = 0
        np.not_equal(ordered[1:], ordered[:-1], out=step[1:])
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.cumsum(step)
    return ranks


def unique_sorted(values: IntArray) -> IntArray:
    """The distinct values, ascending (np.unique for integers): a sort and a comparison of
    neighbours."""
    ordered = np.sort(np.asarray(values).ravel())
    if ordered.shape[0] < 2:
        return ordered
    first = np.empty(ordered.shape[0], dtype=bool)  # [n] the first of each run of equal values
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]
