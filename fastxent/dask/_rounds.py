"""One round of the distributed fit: a task per group of chunks, then a sum.

Every exchange between the solvers and the cluster is a round: the same
function runs on each row chunk (its part of the training data and whatever
earlier rounds left for that chunk), each returns a small result (a loss
sum, an ``(n_rows, n_outputs)`` gradient block), and those are added up;
only the sum comes back. A round may also *keep* what its calls produced
(the chunk's logits, ``X~ @ D``) on the workers, as dask keys, for later
rounds to read.

The chunks are handled in *groups*, one task per group (:class:`RoundPlan`):
on a ``dask.distributed`` cluster a group is one worker thread's share of
the chunks (those the worker holds where it can), so a round is one task per
worker thread, whatever the number of chunks. The task loops over its
chunks and adds their small results itself; this is the first level of the
tree sum. A task per chunk (and a light ``getitem`` task per chunk to split
the small result off the kept state) would cost a scheduler exchange each,
which is what dominates rounds of little arithmetic; a task per worker
thread pays it once per thread. The set-up round places each group's task
on its worker (moving, once, the chunks a worker must take over); later
rounds run where the set-up round kept the data.

With ``keep``, a group task returns ``(small, per-chunk states)`` and one
``getitem`` task per group splits the small part off on the same worker, so
only small objects travel. The group results are gathered and added here
(beyond ``_SPLIT_EVERY`` groups, sum tasks add them in a tree first). On
the local schedulers every chunk is its own group: their tasks cost
microseconds and a group per chunk keeps every thread busy.

Graphs are written out by hand rather than through dask.array, whose
generic machinery costs more per round than the arithmetic on small
problems, and are submitted under a name of their own so dask does not
hash every task to name them. They run on the scheduler dask would use for
an array: with a ``dask.distributed`` client, ``client.get(..., sync=False)``
returns futures, the kept ones stay on the workers and only the small
results are gathered; on the local schedulers the kept values simply stay
in this process.

Fault tolerance is dask's: every kept key has its task and inputs in the
graph, so when a worker dies the scheduler recomputes the lost groups from
their lineage, on another worker (the functions are deterministic, so the
values come back bitwise the same). When the data itself is gone (a
restarted cluster), :func:`run_round` raises a ``RuntimeError`` that says so.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from concurrent.futures import CancelledError

import dask
import dask.threaded
import numpy as np
from dask._task_spec import DataNode, List, Task, TaskRef

# Fan-in of the tree sum of group results on the cluster; up to this many
# are gathered and added here.
_SPLIT_EVERY = 16
_round_numbers = itertools.count()


def add_parts(*parts):
    """Sum of small results: floats, arrays, or tuples of them, item by item."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(add_parts(*items) for items in zip(*parts, strict=True))
    total = first.copy() if hasattr(first, "copy") else first
    for part in parts[1:]:
        total += part
    return total


def _active_get():
    """The scheduler dask would use for an array: a configured one, the default
    distributed client, else the local threads."""
    return dask.base.get_scheduler() or dask.threaded.get


def _client_of(get):
    """The ``distributed.Client`` whose ``get`` is the active scheduler, or None."""
    owner = getattr(get, "__self__", None)
    if owner is not None and type(owner).__module__.startswith("distributed"):
        return owner
    return None


class RoundPlan:
    """The chunk groups of a fit's rounds, and the prefix of its keys.

    Parameters
    ----------
    groups : list of list of int
        Chunk indices handled by each task, in row order within a group.
    workers : list of str or None, default=None
        Worker meant to run each group's set-up task (None: the scheduler
        decides). Later rounds follow the data the set-up round kept.
    """

    def __init__(self, groups, workers=None):
        self.groups = groups
        self.workers = [None] * len(groups) if workers is None else workers
        # Unique to the fit, so concurrent fits never share keys.
        self.token = f"fastxent-{uuid.uuid4().hex[:16]}"

    @classmethod
    def for_array(cls, X):
        """Groups for the row chunks of the dask array ``X``.

        On a distributed cluster, when ``X`` is persisted, each worker gets
        its share of the chunks (in proportion to its threads), those it
        holds where it can (see :func:`_assign_to_workers`), split evenly
        among its threads; chunks still to be computed are spread over all
        threads in contiguous runs. Elsewhere, one group per chunk.
        """
        keys = list(dask.core.flatten(X.__dask_keys__()))
        n_chunks = len(keys)
        client = _client_of(_active_get())
        if client is None:
            return cls([[c] for c in range(n_chunks)])
        from distributed import Future

        threads = client.nthreads()
        graph = X.__dask_graph__()
        futures = [graph[key] for key in keys]
        by_worker = {}
        if all(isinstance(future, Future) for future in futures):
            by_worker = _assign_to_workers(client.who_has(futures), futures, threads)
        if not by_worker:
            # Not persisted (or not all in memory): the tasks that compute
            # the chunks decide where they live.
            slots = max(1, min(n_chunks, sum(threads.values())))
            by_worker = {None: list(range(n_chunks))}
            threads = {None: slots}
        groups, workers = [], []
        for worker, chunks in by_worker.items():
            for part in np.array_split(chunks, min(threads[worker], len(chunks))):
                groups.append([int(c) for c in part])
                workers.append(worker)
        return cls(groups, workers)


def _assign_to_workers(holders, futures, threads):
    """Chunk indices per worker: a share per thread, held chunks where held.

    Each worker's share is the number of chunks over the number of threads,
    times its threads. Chunks go to a worker holding them while it is
    below its share (chunks with fewer holders first, then to the holder
    with the fewest per thread); the rest go to the least loaded workers,
    which receive them once, in the set-up round. Without this, data that
    sits on one worker (``X.compute()`` gathers every chunk on one worker,
    and dask then drops the other copies) would be fitted by that worker
    alone. An empty dict when a chunk has no known holder.
    """
    options = []
    for future in futures:
        workers = [w for w in holders.get(future.key, ()) if w in threads]
        if not workers:
            return {}
        options.append(workers)
    total = sum(threads.values())
    share = {w: len(futures) * n / total for w, n in threads.items()}
    load = dict.fromkeys(threads, 0)
    by_worker = {}
    for c in sorted(range(len(futures)), key=lambda c: len(options[c])):
        room = [w for w in options[c] if load[w] < share[w]] or list(threads)
        worker = min(room, key=lambda w: load[w] / threads[w])
        load[worker] += 1
        by_worker.setdefault(worker, []).append(c)
    return {worker: sorted(chunks) for worker, chunks in by_worker.items()}


def _run_group(func, static, own, chunk_args, kept, keep, combine):
    """One task of a round: ``func`` on each chunk of a group, results added.

    ``own[i]`` and ``chunk_args[i]`` are the i-th chunk's small arguments and
    chunk inputs, ``kept`` the group values kept by earlier rounds, whose
    ``[1][i]`` is the i-th chunk's state.
    """
    smalls, states = [], []
    for i in range(len(own)):
        result = func(
            *static, *own[i], *chunk_args[i], *(value[1][i] for value in kept)
        )
        if keep:
            small, state = result
            states.append(state)
        else:
            small = result
        smalls.append(small)
    total = combine(*smalls)
    return (total, states) if keep else total


def _named(graph, name):
    """The graph for ``client.get``, named ``name``: dask would otherwise hash
    every task to name it, a cost per task larger than a small round's."""
    try:
        from dask._expr import LLGExpr

        return LLGExpr(graph, _determ_token=name)
    except (ImportError, TypeError):  # pragma: no cover - other dask versions
        return graph


def _placed(graph, sources, name, workers):
    """The graph with group ``g``'s task restricted to ``workers[g]`` (others
    allowed if that worker is gone), as layers of a ``HighLevelGraph``:
    the inputs ``sources``, one layer per group task, the rest."""
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

    groups = [(name, g) for g in range(len(workers))]
    layers = {"sources": MaterializedLayer(dict(sources))}
    dependencies = {"sources": set()}
    for key, worker in zip(groups, workers, strict=True):
        annotations = None
        if worker is not None:
            annotations = {"workers": [worker], "allow_other_workers": True}
        layer = f"{name}-group{key[1]}"
        layers[layer] = MaterializedLayer({key: graph[key]}, annotations=annotations)
        dependencies[layer] = {"sources"}
    placed = set(groups) | set(sources)
    layers["rest"] = MaterializedLayer(
        {k: v for k, v in graph.items() if k not in placed}
    )
    dependencies["rest"] = set(layers) - {"rest"}
    return HighLevelGraph(layers, dependencies)


def run_round(
    plan,
    func,
    static,
    inputs=(),
    *,
    keep,
    per_chunk=None,
    sources=None,
    combine=add_parts,
):
    """Run ``func(*static, *per_chunk[c], *sources[c], *states[c])`` on every chunk.

    Parameters
    ----------
    plan : RoundPlan
    func : callable
        Chunk function. With ``keep`` it returns ``(small, state)``;
        otherwise the small result.
    static : tuple
        Arguments shared by every chunk (small: coefficients, statistics).
    inputs : sequence of list of (key, entry)
        Values kept by earlier rounds (each the ``kept`` of a round): the
        chunk receives its own state of each, in order, last.
    keep : bool
        Keep the chunk states on the workers.
    per_chunk : list of tuple, default=None
        Small arguments proper to each chunk (its first row, ...).
    sources : (dict, list of tuple), default=None
        A dask graph and, per chunk, keys of it (or None) passed to the
        chunk's call: the raw inputs of the set-up round.
    combine : callable, default=add_parts
        Merges any number of small results into one (a sum by default).

    Returns
    -------
    kept : list of (key, entry) or None
        Per-group handles of the kept states.
    total : object
        The small results merged by ``combine``.
    """
    name = f"{plan.token}-{next(_round_numbers)}"
    graph = {} if sources is None else dict(sources[0])
    for handles in inputs:
        graph.update(handles)
    parts = []
    for g, chunks in enumerate(plan.groups):
        own, chunk_args = _chunk_inputs(chunks, per_chunk, sources)
        kept_refs = List(*(TaskRef(handles[g][0]) for handles in inputs))
        key = (name, g)
        graph[key] = Task(
            key, _run_group, func, static, own, chunk_args, kept_refs, keep, combine
        )
        if keep:
            small = (f"{name}-small", g)
            graph[small] = Task(small, operator.getitem, TaskRef(key), 0)
            key = small
        parts.append(key)
    parts = _tree_sum(graph, name, parts, combine)
    kept_keys = [(name, g) for g in range(len(plan.groups))] if keep else []
    try:
        kept, values = _compute(graph, name, plan, kept_keys, parts, sources)
    except CancelledError as error:
        raise RuntimeError(
            "the dask cluster lost data this fit needs (were the workers "
            "restarted?); fit again"
        ) from error
    return (kept if keep else None), combine(*values)


def _chunk_inputs(chunks, per_chunk, sources):
    """The small arguments and the source references of a group's chunks."""
    own = [() if per_chunk is None else per_chunk[c] for c in chunks]
    if sources is None:
        return own, List(*(List() for _ in chunks))
    refs = (
        List(*(None if k is None else TaskRef(k) for k in sources[1][c]))
        for c in chunks
    )
    return own, List(*refs)


def _tree_sum(graph, name, parts, combine):
    """Add sum tasks of ``_SPLIT_EVERY`` parts each to ``graph`` until at most
    that many parts are left; their keys."""
    level = 0
    while len(parts) > _SPLIT_EVERY:
        grouped = []
        for start in range(0, len(parts), _SPLIT_EVERY):
            key = (f"{name}-sum{level}", start)
            members = parts[start : start + _SPLIT_EVERY]
            graph[key] = Task(key, combine, *(TaskRef(k) for k in members))
            grouped.append(key)
        parts = grouped
        level += 1
    return parts


def _compute(graph, name, plan, kept_keys, parts, sources):
    """Run ``graph`` on the active scheduler: handles of ``kept_keys`` (left on
    the workers with a distributed client) and the values of ``parts``."""
    wanted = [*kept_keys, *parts]
    get = _active_get()
    client = _client_of(get)
    if client is None:
        values = get(graph, wanted)
        kept = [
            (key, DataNode(key, value))
            for key, value in zip(kept_keys, values, strict=False)
        ]
        return kept, values[len(kept_keys) :]
    if sources is not None and any(plan.workers):
        submitted = _placed(graph, sources[0], name, plan.workers)
    else:
        submitted = _named(graph, name)
    # Futures: the kept states stay on the workers, only the small results
    # are gathered.
    futures = client.get(submitted, wanted, sync=False)
    kept = list(zip(kept_keys, futures[: len(kept_keys)], strict=True))
    return kept, client.gather(futures[len(kept_keys) :])
