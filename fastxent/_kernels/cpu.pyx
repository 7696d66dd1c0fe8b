# cython: language_level=3
"""The instruction sets of this CPU, always compiled for the baseline: it
decides which clone of the other kernels may be imported."""


cdef extern from "fx_cpu.h" nogil:
    int fx_cpu_has_x86_64_v3()
    int fx_cpu_has_x86_64_v4()


def runnable_clones():
    """Names of the kernel clones this CPU runs, best first.

    Returns
    -------
    clones : tuple of str
        A subset of ``("avx512", "avx2", "baseline")``, always ending in
        ``"baseline"``.
    """
    clones = []
    if fx_cpu_has_x86_64_v4():
        clones.append("avx512")
    if fx_cpu_has_x86_64_v3():
        clones.append("avx2")
    clones.append("baseline")
    return tuple(clones)
