/*
 * Scalar math shared by fastxent's kernels: an exp for non-positive arguments
 * that the compiler can inline and vectorise, and the accurate log(1 + exp(x))
 * and logistic functions of the binary losses.
 *
 * Why our own exp: glibc's vector exp is only used under -ffast-math, which
 * also drops the inf/NaN semantics our kernels rely on (a -inf logit masks a
 * class). Every exp in a softmax is of z - max(z) <= 0, so one function for
 * x in [-inf, 0] (and NaN, which it propagates) covers all of them.
 */
#ifndef FASTXENT_FX_MATH_H
#define FASTXENT_FX_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <Python.h> /* Py_ssize_t */

/*
 * exp(x) for x <= 0, x = -inf or NaN.
 *
 * Range reduction x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 split
 * in a high part with trailing zero bits, so k * LN2_HI is exact, and a low
 * part), exp(r) by its Taylor series to degree 13 (truncation error
 * 0.3466^14 / 14! < 4e-18, far below one ulp), and 2^k assembled in the
 * exponent bits. Measured against mpmath on 10^6 random arguments in
 * [-745, 0]: at most 1 ulp.
 *
 * Every step is branch-free arithmetic, so loops calling it vectorise
 * (given -fno-trapping-math, which lets GCC turn the selects into blends).
 * k is rounded with the 1.5 * 2^52 shift: after the addition the low bits of
 * `shifted` hold k as a two's-complement integer, which the exponent field is
 * built from without a float-to-int conversion (none exists for 64-bit lanes
 * before AVX-512). Arguments below -708 would need a subnormal 2^k: there the
 * scale is built for k + 64 and the product multiplied by 2^-64 once.
 */
static inline double fx_exp_nonpos(double x)
{
    const double inv_ln2 = 1.44269504088896338700e+00;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shift = 6755399441055744.0; /* 1.5 * 2^52 */
    /* exp(-746) rounds to 0: clamping keeps k in range and maps -inf to 0.
       A NaN becomes -746 here; the callers detect NaN rows by other means. */
    x = x > -746.0 ? x : -746.0;
    double shifted = x * inv_ln2 + shift;
    double k = shifted - shift;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* Below -708, 2^k is subnormal: build 2^(k + 64) and scale by 2^-64 at
       the end. Both adjustments are selects between doubles (adding 64 to
       the integer-valued `shifted` is exact): a select producing a 64-bit
       integer does not vectorise on SSE2. */
    int subnormal = x < -708.0;
    double biased = shifted + (subnormal ? 64.0 : 0.0);
    uint64_t bits;
    memcpy(&bits, &biased, sizeof bits);
    bits = (bits + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale * (subnormal ? 0x1p-64 : 1.0);
}

/*
 * log(1 + exp(x)) for any x, exact at +-inf (Maechler 2012, "Accurately
 * computing log(1 - exp(-|a|))", section on log1pexp). The cutoffs make each
 * branch's dropped term smaller than half an ulp of the result:
 * exp(x) for x <= -37, log1p(exp(x)) up to 18, x + exp(-x) up to 33.3, x
 * beyond.
 */
static inline double fx_log1pexp(double x)
{
    if (x <= -37.0) {
        return exp(x);
    }
    if (x <= 18.0) {
        return log1p(exp(x));
    }
    if (x <= 33.3) {
        return x + exp(-x);
    }
    return x;
}

/* The logistic function 1 / (1 + exp(-x)), without overflow for any x. */
static inline double fx_sigmoid(double x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    double e = exp(x);
    return e / (1.0 + e);
}

/*
 * Loops over rows of logits, generated for float and double rows from one
 * body. They are C rather than Cython for two reasons: `omp simd reduction`
 * lets the compiler keep partial sums in vector registers (IEEE rules forbid
 * reordering a plain sum, so without it the loop stays scalar), and on
 * x86-64 each is compiled twice, for the baseline (SSE2) and for x86-64-v3
 * (AVX2 + FMA), the loader picking the clone the CPU runs (an ifunc), so the
 * build stays portable. A clone can differ from the baseline in the last bit
 * (FMA contraction, vector width); on one machine, results never depend on
 * the number of threads.
 *
 * fx_row_max_*: max(z), ignoring NaN; -inf for an all -inf or empty row.
 * fx_row_shift_*: shifted[k] = z[k] - m for the row maximum m; returns the
 *     number of entries with z[k] <= m, which falls short of n exactly when
 *     the row holds a NaN.
 * fx_exp_nonpos_inplace: x[k] = exp(x[k]) over a whole block of rows, one
 *     long vectorised loop however short the rows are.
 * fx_sum: a pairwise sum with vector partial sums.
 */
#if defined(__x86_64__) && defined(__linux__) && !defined(FASTXENT_NO_DISPATCH) && \
    ((defined(__GNUC__) && __GNUC__ >= 11 && !defined(__clang__)) ||            \
     (defined(__clang__) && __clang_major__ >= 14))
#define FX_DISPATCH __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FX_DISPATCH
#endif

#define FX_DEFINE_ROW_LOOPS(T, SUFFIX)                                        \
    FX_DISPATCH static double fx_row_max_##SUFFIX(const T *z, Py_ssize_t n)  \
    {                                                                         \
        double m = -INFINITY;                                                 \
        _Pragma("omp simd reduction(max : m)")                                \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            double zk = z[k];                                                 \
            m = zk > m ? zk : m;                                              \
        }                                                                     \
        return m;                                                             \
    }                                                                         \
    FX_DISPATCH static Py_ssize_t fx_row_shift_##SUFFIX(                      \
        const T *z, Py_ssize_t n, double m, double *shifted)                 \
    {                                                                         \
        Py_ssize_t ordered = 0;                                               \
        _Pragma("omp simd reduction(+ : ordered)")                            \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            double zk = z[k];                                                 \
            shifted[k] = zk - m;                                              \
            ordered += zk <= m;                                               \
        }                                                                     \
        return ordered;                                                       \
    }

FX_DEFINE_ROW_LOOPS(double, f64)
FX_DEFINE_ROW_LOOPS(float, f32)

FX_DISPATCH static void fx_exp_nonpos_inplace(double *x, Py_ssize_t n)
{
    _Pragma("omp simd")
    for (Py_ssize_t k = 0; k < n; k++) {
        x[k] = fx_exp_nonpos(x[k]);
    }
}

FX_DISPATCH static double fx_sum(const double *x, Py_ssize_t n)
{
    /* Pairwise above 256 terms: the rounding error of a long row's
       normaliser grows like log(n) instead of n (100000 classes: the
       gradient's error beyond the input's own rounding fell from 19 ulp
       to 2 in tests/test_accuracy.py). */
    if (n > 256) {
        Py_ssize_t half = (n / 2 + 7) & ~(Py_ssize_t)7;
        return fx_sum(x, half) + fx_sum(x + half, n - half);
    }
    double s = 0.0;
    _Pragma("omp simd reduction(+ : s)")
    for (Py_ssize_t k = 0; k < n; k++) {
        s += x[k];
    }
    return s;
}

#endif /* FASTXENT_FX_MATH_H */
