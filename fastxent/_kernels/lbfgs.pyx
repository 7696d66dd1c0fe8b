# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""The L-BFGS two-loop recursion, over curvature pairs kept as rows of a ring.

A solver's helper among the kernels: L-BFGS applies its matrix with 4 m
vector operations of the coefficients' size per iteration (m pairs), and at
the sizes of most fits (tens to thousands of coefficients) numpy's per-call
overhead, not the arithmetic, sets their cost, a large part of a small
fit's time. Here they are m passes over two rows each way.
"""


def two_loop(
    const double[::1] g,        # IN (n,) gradient
    const double[:, ::1] S,     # IN (memory, n) steps s_i, a ring
    const double[:, ::1] Y,     # IN (memory, n) gradient changes y_i
    const double[::1] rho,      # IN (memory,) 1 / (s_i . y_i)
    Py_ssize_t head,            # ring row of the oldest pair
    Py_ssize_t count,           # pairs held, 1 <= count <= memory
    double gamma,               # initial matrix gamma I
    double[::1] alpha,          # SCRATCH (memory,)
    double[::1] out,            # OUT (n,) -H g
):
    """``out = -H g`` for the L-BFGS matrix of the pairs (Nocedal & Wright,
    Algorithm 7.4), pairs oldest first from row ``head`` of the ring."""
    cdef Py_ssize_t n = g.shape[0], memory = S.shape[0]
    cdef Py_ssize_t i, j, k
    cdef double a, b
    with nogil:
        for k in range(n):
            out[k] = -g[k]
        for j in range(count - 1, -1, -1):
            i = (head + j) % memory
            a = 0.0
            for k in range(n):
                a = a + S[i, k] * out[k]
            a = a * rho[i]
            alpha[j] = a
            for k in range(n):
                out[k] -= a * Y[i, k]
        for k in range(n):
            out[k] *= gamma
        for j in range(count):
            i = (head + j) % memory
            b = 0.0
            for k in range(n):
                b = b + Y[i, k] * out[k]
            b = alpha[j] - b * rho[i]
            for k in range(n):
                out[k] += b * S[i, k]
