"""Kernels against numpy/scipy, scikit-learn and PyTorch, and the copy limit.

Run with ``pytest benchmarks/bench_kernels.py --benchmark-only
--benchmark-group-by=param:case_name,param:n_threads``: each group holds fastxent,
its peers and ``copy`` (copying as many bytes as the kernel reads and
writes) on one case and thread count; the ratios of their medians are the
figures to read. ``extra_info`` holds the peak extra memory of one call
(tracemalloc, and the resident set where Linux can measure it).
``python -m fastxent bench`` measures the same cases interleaved in one
process and prints the ratios.
"""

import pytest

from fastxent._cli import cases, memory

NAMES = (cases.FASTXENT, *cases.PEERS, cases.LIMIT)
# By readable name, which pytest-benchmark shows as the group.
CASES = {
    f"{c.kernel}-{c.shape_label.replace(',', '')}-{c.dtype_label}": c
    for c in cases.kernel_cases()
}


@pytest.fixture(scope="module")
def inputs_of():
    """The inputs of each case, made once (the largest cost of a case)."""
    made = {}

    def inputs(case):
        if case not in made:
            made.clear()
            made[case] = case.inputs()
        return made[case]

    return inputs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case_name", list(CASES))
def test_kernel(benchmark, case_name, name, n_threads, inputs_of):
    """One implementation of one case; skipped if that peer is not installed."""
    case = CASES[case_name]
    implementations = cases.implementations(case, inputs_of(case), n_threads)
    if name not in implementations:
        pytest.skip(f"{name} does not apply to {case.kernel} or is not installed")
    call = implementations[name].call
    if name != cases.LIMIT:
        call()
        benchmark.extra_info["peak_traced_bytes"] = memory.peak_traced_bytes(call)
        if memory.rss_supported():
            benchmark.extra_info["peak_rss_bytes"] = memory.peak_rss_bytes(call)
    benchmark(call)
