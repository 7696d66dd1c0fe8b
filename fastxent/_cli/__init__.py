"""The command line, ``python -m fastxent``: demo, bench and score.

One concept per module: ``main`` parses the arguments and dispatches;
``demo``, ``bench`` and ``score`` are the commands; ``cases`` (kernel
inputs and each peer's call), ``timing``, ``memory``, ``estimators``,
``report``, ``plot`` and ``progress`` are the pieces of ``bench``, which
``benchmarks/`` reuses. ``optional`` turns a missing extra into one line.
"""
