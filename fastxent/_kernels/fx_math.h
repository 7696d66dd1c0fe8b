/*
 * Math shared by fastxent's kernels: an exp for non-positive arguments and
 * log1p for non-negative ones, branch-free so that loops calling them
 * vectorise, and the row loops of the softmax kernels.
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

/* Math and loop bodies that must be inlined into their loops (and
   specialised for their constant arguments), never called out of line:
   GCC left a large one out of line once, where it ran scalar. */
#if defined(__GNUC__) || defined(__clang__)
#define FX_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define FX_ALWAYS_INLINE static inline
#endif

/* Lanes of the clone's vectors for float and for double entries: the
   target's widest vectors (AVX-512 clones are built to use all 512 bits). */
#if defined(__AVX512F__)
#define FX_LANES_f32 16
#define FX_LANES_f64 8
#elif defined(__AVX2__)
#define FX_LANES_f32 8
#define FX_LANES_f64 4
#else
#define FX_LANES_f32 4
#define FX_LANES_f64 2
#endif

/* Ask for the cache line holding x[offset] ahead of its use (a hint, which
   never faults: the address may lie past the array, so it is formed as an
   integer, not by pointer arithmetic). */
#if defined(__GNUC__) || defined(__clang__)
#define FX_PREFETCH(x, offset, for_write)                                     \
    __builtin_prefetch(                                                       \
        (const void *)((uintptr_t)(x) + (uintptr_t)(offset) * sizeof *(x)),   \
        (for_write), 3)
#else
#define FX_PREFETCH(x, offset, for_write) ((void)0)
#endif

/*
 * exp(x) for x <= 0, x = -inf or NaN.
 *
 * Range reduction x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 split
 * in a high part with trailing zero bits, so k * LN2_HI is exact, and a low
 * part), exp(r) by a polynomial of degree 11, and 2^k assembled in the
 * exponent bits. The polynomial keeps Taylor's 1 + r + r^2 / 2 and fits the
 * other nine coefficients for the least largest relative error over
 * |r| <= ln2 / 2: 5.8e-18 with the coefficients rounded to double (0.05
 * ulp), where Taylor's series needs degree 13 for 4e-18. Measured against
 * mpmath on 10^6 random arguments in [-745, 0]: at most 1 ulp.
 *
 * It is evaluated as exp(r) = 1 + (r + r^2 P(r)), P by Estrin's scheme
 * (pairs of terms, then pairs of pairs with r^2, r^4, r^8): the chain of
 * dependent operations is 6 deep instead of Horner's 11. That
 * chain, not the number of operations, set the speed of a vectorised loop
 * of exps: at four cycles per FMA the CPU could not find enough independent
 * work to hide it.
 * The leading 1 + r, the only terms near 1, enter last and exactly once.
 *
 * Every step is branch-free arithmetic, so loops calling it vectorise
 * (given -fno-trapping-math, which lets GCC turn the selects into blends).
 * k is rounded with a shift of 1.5 * 2^52 (plus the exponent bias): after
 * the addition the low bits of `shifted` hold the biased exponent of 2^k,
 * which the exponent field is built from without a float-to-int conversion
 * (none exists for 64-bit lanes before AVX-512). Subnormal results
 * (arguments below -708) need no case of their own: see fx_exp_reduce.
 */
/* The range reduction shared by both exps: x = k ln2 + r, returning r and
   the scale 2^(k + 64); the caller multiplies by 2^-64 last. */
FX_ALWAYS_INLINE double fx_exp_reduce(double x, double *scale)
{
    const double inv_ln2 = 1.44269504088896338700e+00;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    /* 1.5 * 2^52 + 1023 + 64: the sum's low bits hold k + 1023 + 64, the
       biased exponent of 2^(k + 64), which the shift below moves into
       place (the bits of 1.5 * 2^52 are shifted out). */
    const double shift = 6755399441056831.0;
    /* exp(-746) rounds to 0: clamping keeps k in range and maps -inf to 0.
       A NaN becomes -746 here; the callers detect NaN rows by other means. */
    x = x > -746.0 ? x : -746.0;
    double shifted = x * inv_ln2 + shift;
    double k = shifted - shift;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    /* Below -708, 2^k is subnormal. 2^(k + 64) is a normal double for every
       k in [-1076, 0], so the product with it is exact and the one rounding
       happens in the final product with 2^-64: exact again for normal
       results, correctly rounded for subnormal ones. This replaced a select
       of 2^k or 2^(k + 64) by x < -708, which GCC turned into two builds of
       the scale, two products and four blends, with bitwise the same
       results on 4 * 10^6 arguments over [-760, 0], -inf, NaN and -0. */
    uint64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits <<= 52;
    memcpy(scale, &bits, sizeof *scale);
    return r;
}

FX_ALWAYS_INLINE double fx_exp_nonpos(double x)
{
    double scale;
    double r = fx_exp_reduce(x, &scale);
    double r2 = r * r;
    double r4 = r2 * r2;
    double r8 = r4 * r4;
    /* P(r) ~ (exp(r) - 1 - r) / r^2: 1/2, then the fitted coefficients */
    double p01 = 0.5 + r * 0x1.5555555555501p-3;
    double p23 = 0x1.5555555553206p-5 + r * 0x1.1111111128880p-7;
    double p45 = 0x1.6c16c17cc378fp-10 + r * 0x1.a01a011c217d2p-13;
    double p67 = 0x1.a019ab2c592a4p-16 + r * 0x1.71df5543ad69bp-19;
    double p89 = 0x1.289f8bb03365ap-22 + r * 0x1.ad20155dc63fep-26;
    double p03 = p01 + r2 * p23;
    double p47 = p45 + r2 * p67;
    double p = (p03 + r4 * p47) + r8 * p89;
    p = 1.0 + (r + r2 * p);
    return (p * scale) * 0x1p-64;
}

/*
 * exp(x) for x <= 0, to 2^-31 relative: for kernels whose results are
 * rounded to float32 (ulp 2^-24 to 2^-23 relative), where the double
 * precision exp's last ten bits are rounded away anyway.
 *
 * The same reduction, and the Taylor series to degree 8 only (truncation
 * 0.3466^9 / 9! < 2.1e-10 < 2^-32): six FMAs and two products for the
 * polynomial instead of nine and three. The exp is most of the time of a
 * short-row kernel, and this one takes 6 of fx_exp_nonpos's 19 multiplies
 * away. Checked against mpmath over [-745, 0] in tests/test_kernel_math.py.
 */
FX_ALWAYS_INLINE double fx_exp_nonpos_single(double x)
{
    double scale;
    double r = fx_exp_reduce(x, &scale);
    double r2 = r * r;
    double r4 = r2 * r2;
    /* P(r) = sum_{i=0}^{6} r^i / (i + 2)! */
    double p01 = 1.0 / 2.0 + r * (1.0 / 6.0);
    double p23 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double p45 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double p03 = p01 + r2 * p23;
    double p46 = p45 + r2 * (1.0 / 40320.0);
    double p = p03 + r4 * p46;
    p = 1.0 + (r + r2 * p);
    return (p * scale) * 0x1p-64;
}

/* The exp for kernels over each input type: full double precision for
   float64 inputs, fx_exp_nonpos_single for float32 ones. */
#define fx_exp_for_f64 fx_exp_nonpos
#define fx_exp_for_f32 fx_exp_nonpos_single

/*
 * log1p(u) for u >= 0, +inf or NaN, branch-free so that loops over rows
 * (the tail sums s of a block) or elements (the binary losses) vectorise;
 * glibc's scalar log1p, a call per value, cost more than a 10-class row's
 * exponentials.
 *
 * w = 1 + u is rounded; log1p(u) = log(w) + c with the first-order
 * correction c = (u - (w - 1)) / w, where u - (w - 1) is the exact rounding
 * error of the addition (w - 1 is exact for 1 <= w < 2^53). Then
 * w = 2^k x with x in [sqrt(1/2), sqrt(2)): subtracting the bits of
 * sqrt(1/2) from those of w leaves k in the exponent field, and adding them
 * back to the remaining mantissa bits gives x. With f = x - 1 (exact) and
 * s = f / (2 + f), |s| <= 0.1716,
 *
 *     log(x) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R),
 *     R = sum_{j>=1} 2 s^(2j) / (2j + 1),
 *
 * (using 2s = f - s f), so the large term f enters exactly and the
 * rounding of the division only touches the small correction. Ten terms of
 * R leave a truncation below 2^-56 relative (R by Estrin's scheme, as in
 * fx_exp_nonpos). Measured against mpmath on
 * 10^6 arguments spread over [2^-1074, 2^1023] (tests/test_kernel_math.py):
 * under 1 ulp.
 */
FX_ALWAYS_INLINE double fx_log1p_nonneg(double u)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const uint64_t sqrt_half_bits = 0x3fe6a09e667f3bcdULL; /* sqrt(1/2) */
    const uint64_t mantissa = 0x000fffffffffffffULL;
    double w = 1.0 + u;
    /* Past 2^53 the correction is below an ulp of log(w) anyway. */
    double c = w < 0x1p53 ? (u - (w - 1.0)) / w : 0.0;
    uint64_t bits;
    memcpy(&bits, &w, sizeof bits);
    bits -= sqrt_half_bits;
    /* k = bits >> 52 (w >= 1, so no sign), as a double without an int64
       conversion (none vectorises before AVX-512): the exponent field of
       2^52 + k is k's own bits. */
    uint64_t k_bits = (bits >> 52) | 0x4330000000000000ULL;
    double k;
    memcpy(&k, &k_bits, sizeof k);
    k -= 0x1p52;
    uint64_t x_bits = (bits & mantissa) + sqrt_half_bits;
    double x;
    memcpy(&x, &x_bits, sizeof x);
    double f = x - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double z2 = z * z;
    double z4 = z2 * z2;
    double z8 = z4 * z4;
    /* R / z = sum_{i=0}^{9} 2 z^i / (2i + 3), by Estrin's scheme (as in
       fx_exp_nonpos): R only corrects f, so its rounding hardly shows. */
    double r01 = 2.0 / 3.0 + z * (2.0 / 5.0);
    double r23 = 2.0 / 7.0 + z * (2.0 / 9.0);
    double r45 = 2.0 / 11.0 + z * (2.0 / 13.0);
    double r67 = 2.0 / 15.0 + z * (2.0 / 17.0);
    double r89 = 2.0 / 19.0 + z * (2.0 / 21.0);
    double r = z * (((r01 + z2 * r23) + z4 * (r45 + z2 * r67)) + z8 * r89);
    double half_f2 = 0.5 * f * f;
    double result =
        k * ln2_hi + (f - (half_f2 - (s * (half_f2 + r) + (k * ln2_lo + c))));
    result = u == INFINITY ? u : result;
    return u != u ? u : result;
}

/*
 * log1p(u) for u in [0, 1] (and NaN), with no rounded 1 + u and so no
 * correction term or second division: the binary losses take log1p of
 * exp(-|z|), one call per element. With
 *
 *     u <= 1/2:  1 + u = 1 + f,         f = u
 *     u > 1/2:   1 + u = 2 (1 + f),     f = (u - 1) / 2 in (-1/4, 0]
 *
 * f is exact either way (u - 1 by Sterbenz's lemma, the halving by the
 * exponent), and log(1 + f) = f - f^2/2 + s (f^2/2 + R) as in
 * fx_log1p_nonneg, now with |s| = |f / (2 + f)| <= 1/5, so R takes twelve
 * terms for a truncation below 2^-56. Same accuracy (under 1 ulp).
 */
FX_ALWAYS_INLINE double fx_log1p_unit_series(double u, const int for_float32)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    int upper = u > 0.5;
    double f = upper ? (u - 1.0) * 0.5 : u;
    double k = upper ? 1.0 : 0.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double z2 = z * z;
    double z4 = z2 * z2;
    double r01 = 2.0 / 3.0 + z * (2.0 / 5.0);
    double r23 = 2.0 / 7.0 + z * (2.0 / 9.0);
    double r45 = 2.0 / 11.0 + z * (2.0 / 13.0);
    double r05 = (r01 + z2 * r23) + z4 * r45;
    /* for_float32 is a constant at every call: one of the two is compiled. */
    if (!for_float32) {
        double r67 = 2.0 / 15.0 + z * (2.0 / 17.0);
        double r89 = 2.0 / 19.0 + z * (2.0 / 21.0);
        double r1011 = 2.0 / 23.0 + z * (2.0 / 25.0);
        r05 = ((r01 + z2 * r23) + z4 * (r45 + z2 * r67)) +
              (z4 * z4) * (r89 + z2 * r1011);
    }
    double r = z * r05;
    double half_f2 = 0.5 * f * f;
    return k * ln2_hi + (f - (half_f2 - (s * (half_f2 + r) + k * ln2_lo)));
}

FX_ALWAYS_INLINE double fx_log1p_unit(double u)
{
    return fx_log1p_unit_series(u, 0);
}

/*
 * fx_log1p_unit for results rounded to float32: R to six terms, whose
 * truncation (2 z^7 / 15 / (1 - z) < 2.3e-11 for z <= 1/25, times s <= 1/5
 * against a log1p of at least s) is below 2^-35 relative, where float32's
 * last bit is 2^-24. Checked through the float32 binary paths in
 * tests/test_kernel_math.py.
 */
FX_ALWAYS_INLINE double fx_log1p_unit_single(double u)
{
    return fx_log1p_unit_series(u, 1);
}

/* The log1p of [0, 1] for kernels over each input type, as fx_exp_for_*. */
#define fx_log1p_unit_for_f64 fx_log1p_unit
#define fx_log1p_unit_for_f32 fx_log1p_unit_single

/*
 * Loops over rows of logits, generated for float and double rows from one
 * body. They are C rather than Cython because `omp simd reduction` lets the
 * compiler keep partial sums in vector registers (IEEE rules forbid
 * reordering a plain sum, so without it the loop stays scalar). Like the
 * rest of each kernel module they are compiled once per clone (baseline,
 * AVX2, AVX-512: setup.py, fastxent/_kernels/__init__.py). A clone can
 * differ from the baseline in the last bit (FMA contraction, vector width);
 * for one clone, results never depend on the number of threads.
 *
 * fx_row_max_*: max(z), ignoring NaN; -inf for an all -inf or empty row.
 * fx_row_shift_*: shifted[k] = z[k] - m for the row maximum m, and *top =
 *     the first k with z[k] == m (n if none); returns the number of entries
 *     with z[k] <= m, which falls short of n exactly when the row holds a
 *     NaN. One pass, where a scalar scan for the argmax cost half an element
 *     read per class.
 * fx_exp_sum_inplace: x[k] = exp(x[k]) and their pairwise sum, in one pass.
 */
#if defined(__GNUC__) || defined(__clang__)
/* Each kernel module includes every loop; most use a few. */
#define FX_LOOP __attribute__((unused))
#else
#define FX_LOOP
#endif

#define FX_DEFINE_ROW_LOOPS(T, SUFFIX)                                        \
    FX_LOOP static double fx_row_max_##SUFFIX(const T *z, Py_ssize_t n)  \
    {                                                                         \
        /* In T's own lanes: a maximum is exact in any precision. */         \
        T m = -INFINITY;                                                      \
        _Pragma("omp simd reduction(max : m)")                                \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            T zk = z[k];                                                      \
            m = zk > m ? zk : m;                                              \
        }                                                                     \
        return (double)m;                                                     \
    }                                                                         \
    FX_LOOP static Py_ssize_t fx_row_shift_##SUFFIX(                      \
        const T *z, Py_ssize_t n, double m, double *shifted, Py_ssize_t *top) \
    {                                                                         \
        Py_ssize_t ordered = 0, first = n;                                    \
        _Pragma("omp simd reduction(+ : ordered) reduction(min : first)")     \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            double zk = z[k];                                                 \
            shifted[k] = zk - m;                                              \
            ordered += zk <= m;                                               \
            Py_ssize_t candidate = zk == m ? k : n;                           \
            first = candidate < first ? candidate : first;                    \
        }                                                                     \
        *top = first;                                                         \
        return ordered;                                                       \
    }

FX_DEFINE_ROW_LOOPS(double, f64)
FX_DEFINE_ROW_LOOPS(float, f32)

/* x <- exp(x) in place, returning the sum; SUFFIX names the input type
   whose precision the exp serves (fx_exp_for_*). */
#define FX_DEFINE_EXP_SUM(SUFFIX)                                             \
    FX_LOOP static double fx_exp_sum_inplace_##SUFFIX(double *x,          \
                                                         Py_ssize_t n)        \
    {                                                                         \
        /* Pairwise above 256 terms: the rounding error of a long row's       \
           normaliser grows like log(n) instead of n (100000 classes: the     \
           gradient's error beyond the input's own rounding fell from 19 ulp  \
           to 2 in tests/test_accuracy.py). */                                \
        if (n > 256) {                                                        \
            Py_ssize_t half = (n / 2 + 7) & ~(Py_ssize_t)7;                   \
            return fx_exp_sum_inplace_##SUFFIX(x, half) +                     \
                   fx_exp_sum_inplace_##SUFFIX(x + half, n - half);           \
        }                                                                     \
        double s = 0.0;                                                       \
        _Pragma("omp simd reduction(+ : s)")                                  \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            double e = fx_exp_for_##SUFFIX(x[k]);                             \
            x[k] = e;                                                         \
            s += e;                                                           \
        }                                                                     \
        return s;                                                             \
    }

FX_DEFINE_EXP_SUM(f64)
FX_DEFINE_EXP_SUM(f32)

/* weight * loss * loss_scale, where a zero weight silences an infinite loss
   (a masked target class; a NaN stays visible): the rule of every kernel's
   weighted row loss. */
FX_ALWAYS_INLINE double fx_weighted_loss(double loss, double weight, double scale)
{
    return weight == 0.0 && loss == loss ? 0.0 : weight * loss * scale;
}

#endif /* FASTXENT_FX_MATH_H */
