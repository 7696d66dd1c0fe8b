"""Conversion and checks of dask inputs, shared by the functions and the estimator.

The rules are those of ``fastxent/_validation.py`` applied to what is known
without computing: dtype, shape and chunk structure. Checks of values (NaN
logits, labels out of range, negative weights) run inside each block, in the
in-memory functions themselves; :func:`locate_errors` adds where the block
starts, since their messages count rows from the start of the block.
"""

from __future__ import annotations

import functools
import math

import dask.array as da

from fastxent._validation import (
    as_array,
    check_n_threads,
    check_not_none,
    real_dtype,
)

# Threads of the kernel in one block for n_threads=None: dask parallelises
# over blocks, so a block takes one thread unless the caller asks for more.
BLOCK_THREADS = 1


def as_dask(x, name: str, chunks=None) -> da.Array:
    """``x`` as a dask array; in-memory input becomes one with ``chunks``.

    Parameters
    ----------
    x : dask array or array-like
    name : str
        Argument name for error messages.
    chunks : tuple, default=None
        Chunks for in-memory input (default: one chunk).

    Returns
    -------
    dask.array.Array
    """
    if isinstance(x, da.Array):
        return x
    if type(x).__module__.startswith("dask"):
        raise TypeError(
            f"{name} is a {type(x).__name__} from dask; fastxent takes dask arrays: "
            "convert it, e.g. with .to_dask_array(lengths=True)"
        )
    check_not_none(x, name)
    arr = as_array(x, name)
    return da.from_array(arr, chunks=arr.shape if chunks is None else chunks)


def as_real_dask(x, name: str, chunks=None) -> da.Array:
    """A dask array of float32 or float64, as ``as_real_array`` for numpy:
    the dtype of :func:`~fastxent._validation.real_dtype`, converted lazily
    (``chunks`` as for :func:`as_dask`)."""
    x = as_dask(x, name, chunks)
    # The in-memory error, suggesting a conversion that stays lazy.
    dtype = real_dtype(x.dtype, name, fix=f"{name}.astype(float)")
    return x if x.dtype == dtype else x.astype(dtype)


def check_known_chunks(x: da.Array, name: str) -> None:
    """Raise unless every chunk size of ``x`` is known."""
    if any(math.isnan(size) for sizes in x.chunks for size in sizes):
        raise ValueError(
            f"{name} has chunks of unknown size (from a filter or a dask "
            f"dataframe); call {name}.compute_chunk_sizes() first"
        )


def whole_axes(x: da.Array, axes) -> da.Array:
    """``x`` rechunked so that each of ``axes`` is a single chunk.

    The class axis of logits (and the label axis of the binary loss) must be
    whole in every block: the kernels normalise along it. Only axes split
    into several chunks are rechunked, so arrays chunked along samples pass
    through untouched.
    """
    split = {axis: -1 for axis in axes if len(x.chunks[axis]) > 1}
    return x.rechunk(split) if split else x


def match_chunks(x: da.Array, chunks: tuple) -> da.Array:
    """``x`` rechunked to ``chunks`` (the blocks of another argument)."""
    return x if x.chunks == tuple(chunks) else x.rechunk(chunks)


def block_indices(chunks: tuple) -> list:
    """Per axis, a dask ``arange`` with ``chunks``: each block sees its indices.

    Passed beside the data so an error in a block can say where the block
    starts (blockwise has no block location of its own); one integer per
    row, negligible beside the rows themselves.
    """
    return [da.arange(sum(sizes), chunks=(sizes,)) for sizes in chunks]


def locate_errors(func):
    """Wrap a block function so its errors say where the block starts.

    The wrapped function takes the block's indices along each sample axis
    (from :func:`block_indices`) as its last ``n_starts`` positional
    arguments; they are removed before calling ``func``, and their first
    entries are appended to the message of a ``ValueError`` or
    ``TypeError``, whose row numbers count from the block's start.
    """

    @functools.wraps(func)
    def wrapper(*args, n_starts, **kwargs):
        cut = len(args) - n_starts
        try:
            return func(*args[:cut], **kwargs)
        except (ValueError, TypeError) as err:
            starts = tuple(int(s[0]) if len(s) else 0 for s in args[cut:])
            where = starts[0] if len(starts) == 1 else starts
            raise type(err)(
                f"{err} (in the dask block starting at index {where}; indices "
                "in this message count from there)"
            ) from err

    return wrapper


def resolve_threads(n_threads) -> int:
    """Threads of the kernel in one block, checked as in memory; None means
    :data:`BLOCK_THREADS`."""
    return check_n_threads(n_threads, BLOCK_THREADS)


def small_numpy(x):
    """A small argument (class weights, pos_weight) as an in-memory array.

    These have one entry per class or label, so a dask array is computed.
    """
    if x is None:
        return None
    if isinstance(x, da.Array):
        return x.compute()
    return x
