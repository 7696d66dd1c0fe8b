"""One round of the distributed fit: a task per chunk, then a tree sum.

Every exchange between the solvers and the cluster is a round: the same
function runs on each row chunk (its X block, targets, weights and whatever
earlier rounds left for that chunk), each returns a small result (a loss
sum, an ``(n_rows, n_outputs)`` gradient block), and those are added in a
tree whose root is the only thing sent back. A round may also *keep* what
its tasks produced (the chunk's logits, ``X~ @ D``) on the workers, as
persisted dask keys, for later rounds to read; then the small result is
split off by a light ``getitem`` task on the same worker, so the tree moves
only small objects.

Graphs are written out by hand (one task per chunk plus one sum per 16
small results) rather than through dask.array, whose generic machinery costs
more per round than the arithmetic on small problems. They run on the
scheduler dask would use for an array: with a ``dask.distributed`` client,
``client.get(..., sync=False)`` returns futures, the kept ones stay on the
workers and only the root of the tree is gathered; on the local schedulers
the kept values simply stay in this process.

Fault tolerance is dask's: every kept key has its task and inputs in the
graph, so when a worker dies the scheduler recomputes the lost chunks from
their lineage (the functions are deterministic, so the values come back
bitwise the same). When the data itself is gone (a restarted cluster),
:func:`run_round` raises a ``RuntimeError`` that says so.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from concurrent.futures import CancelledError

import dask
import dask.threaded
from dask._task_spec import DataNode, Task, TaskRef

# Fan-in of the tree sum: a sum task adds this many small results.
_SPLIT_EVERY = 16
_round_numbers = itertools.count()


def new_token() -> str:
    """A name prefix unique to one fit, so concurrent fits never share keys."""
    return f"fastxent-{uuid.uuid4().hex[:16]}"


def add_parts(*parts):
    """Sum of small results: floats, arrays, or tuples of them, item by item."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(add_parts(*items) for items in zip(*parts, strict=True))
    total = first.copy() if hasattr(first, "copy") else first
    for part in parts[1:]:
        total += part
    return total


def chunk_refs(array) -> list:
    """Per-chunk handles ``(key, graph entry)`` of a persisted dask array.

    The entry is what the scheduler in use holds for the chunk: a
    ``distributed.Future`` on a cluster, the data itself on the local
    schedulers. The array must be chunked along its first axis only.
    """
    graph = array.__dask_graph__()
    keys = list(dask.core.flatten(array.__dask_keys__()))
    return [(key, graph[key]) for key in keys]


def _client_of(get):
    """The ``distributed.Client`` whose ``get`` is the active scheduler, or None."""
    owner = getattr(get, "__self__", None)
    if owner is not None and type(owner).__module__.startswith("distributed"):
        return owner
    return None


def run_round(token, func, static, refs, *, keep, per_chunk=None, combine=add_parts):
    """Run ``func(*static, *per_chunk[c], *refs[c])`` on every chunk ``c``.

    Parameters
    ----------
    token : str
        The fit's key prefix (:func:`new_token`).
    func : callable
        Chunk task. With ``keep`` it returns a dict whose ``"small"`` entry
        is the small result; otherwise it returns the small result.
    static : tuple
        Arguments shared by every chunk (small: coefficients, statistics).
    refs : list of list of (key, entry)
        For each chunk, handles (:func:`chunk_refs`, or kept by an earlier
        round) of its inputs: X block, targets, earlier state.
    keep : bool
        Keep the chunk tasks' outputs on the workers.
    per_chunk : list of tuple, default=None
        Small arguments proper to each chunk (its first row, ...).
    combine : callable, default=add_parts
        Merges any number of small results into one (a sum by default).

    Returns
    -------
    kept : list of (key, entry) or None
        Per-chunk handles of the kept outputs.
    total : object
        The small results merged by ``combine`` in a tree.
    """
    name = f"{token}-{next(_round_numbers)}"
    graph = {}
    parts = []
    for c, inputs in enumerate(refs):
        for key, entry in inputs:
            graph[key] = entry
        key = (name, c)
        own = () if per_chunk is None else per_chunk[c]
        graph[key] = Task(
            key, func, *static, *own, *(TaskRef(ref_key) for ref_key, _ in inputs)
        )
        if keep:
            small = (f"{name}-small", c)
            graph[small] = Task(small, operator.getitem, TaskRef(key), "small")
            key = small
        parts.append(key)
    level = 0
    while len(parts) > 1:
        grouped = []
        for start in range(0, len(parts), _SPLIT_EVERY):
            key = (f"{name}-sum{level}", start)
            members = parts[start : start + _SPLIT_EVERY]
            graph[key] = Task(key, combine, *(TaskRef(k) for k in members))
            grouped.append(key)
        parts = grouped
        level += 1
    kept_keys = [(name, c) for c in range(len(refs))] if keep else []
    wanted = [*kept_keys, parts[0]]
    # The scheduler dask would use for an array: a configured one, the default
    # distributed client, else the local threads.
    get = dask.base.get_scheduler() or dask.threaded.get
    client = _client_of(get)
    try:
        if client is not None:
            # Futures: the kept chunks stay on the workers, only the root of
            # the tree is gathered.
            futures = client.get(graph, wanted, sync=False)
            kept = list(zip(kept_keys, futures[:-1], strict=True))
            total = futures[-1].result()
        else:
            values = get(graph, wanted)
            kept = [
                (key, DataNode(key, value))
                for key, value in zip(kept_keys, values, strict=False)
            ]
            total = values[-1]
    except CancelledError as error:
        raise RuntimeError(
            "the dask cluster lost data this fit needs (were the workers "
            "restarted?); fit again"
        ) from error
    return (kept if keep else None), total
