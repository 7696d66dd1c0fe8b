/*
 * logsumexp, softmax and log_softmax of rows of more than SHORT_ROW entries,
 * by the passes of fx_long_rows.h, with no scratch row: m = max(z), then
 * the sum s (writing e_k = exp(z_k - m) into the output row for softmax),
 * then
 *
 *     logsumexp = m + log1p(s),    log_softmax_k = (z_k - m) - log1p(s),
 *     softmax_k = e_k / (1 + s),
 *
 * each made in double and rounded once to the row's type. float32 rows run
 * in float32 lanes (the exp of fx_long_rows.h, within 1.2 float32 ulp, and
 * s summed in double), which keeps the results within 2 float32 ulp of the
 * exact ones (tests/test_accuracy.py); float64 rows use the double exp and
 * the pairwise s of the cross-entropy's long rows.
 *
 * A row holding NaN or +inf, or all -inf, gets s = NaN and nothing else:
 * the caller's general path gives it scipy's values.
 */
#ifndef FASTXENT_FX_LONG_SOFTMAX_H
#define FASTXENT_FX_LONG_SOFTMAX_H

#include "fx_long_rows.h"

/* What a row kernel of logsumexp.pyx makes of each row. */
typedef enum { FX_LOGSUMEXP, FX_SOFTMAX, FX_LOG_SOFTMAX } fx_output;

/* One chunk of rows: s of each, then their log1p across rows in vector
   lanes (as fx_long_chunk_losses), then each finite row's output. */
#define FX_DEFINE_LONG_SOFTMAX(T, SUFFIX)                                     \
    FX_ALWAYS_INLINE void fx_long_softmax_chunk_##SUFFIX(                     \
        const T *z, Py_ssize_t rows, Py_ssize_t n, const fx_output what,      \
        double *s, double *lse, T *out)                                       \
    {                                                                         \
        double m[FX_LONG_CHUNK], tail[FX_LONG_CHUNK];                         \
        T next_max = 0;                                                       \
        for (Py_ssize_t r = 0; r < rows; r++) {                               \
            const T *row = z + r * n;                                         \
            T row_max = fx_long_chunk_max_##SUFFIX(z, n, r, rows, &next_max); \
            m[r] = (double)row_max;                                           \
            s[r] = fx_long_row_s_##SUFFIX(                                    \
                row, n, row_max, what == FX_SOFTMAX ? out + r * n : NULL,     \
                what == FX_SOFTMAX);                                          \
        }                                                                     \
        _Pragma("omp simd")                                                   \
        for (Py_ssize_t r = 0; r < rows; r++)                                 \
            tail[r] = s[r] == s[r] ? fx_log1p_nonneg(s[r]) : NAN;             \
        for (Py_ssize_t r = 0; r < rows; r++) {                               \
            if (s[r] != s[r])                                                 \
                continue;                                                     \
            if (what == FX_LOGSUMEXP) {                                       \
                lse[r] = m[r] + tail[r];                                      \
            } else if (what == FX_SOFTMAX) {                                  \
                fx_long_row_scale_##SUFFIX(out + r * n, n,                    \
                                           1.0 / (1.0 + s[r]));               \
            } else {                                                          \
                const T *row = z + r * n;                                     \
                T *dst = out + r * n;                                         \
                double shift = m[r], by = tail[r];                            \
                _Pragma("omp simd")                                           \
                for (Py_ssize_t k = 0; k < n; k++)                            \
                    dst[k] = (T)(((double)row[k] - shift) - by);              \
            }                                                                 \
        }                                                                     \
    }                                                                         \
                                                                              \
    FX_ALWAYS_INLINE void fx_long_softmax_body_##SUFFIX(                      \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, const fx_output what,    \
        double *s, double *lse, T *out)                                       \
    {                                                                         \
        for (Py_ssize_t r0 = 0; r0 < n_rows; r0 += FX_LONG_CHUNK) {           \
            Py_ssize_t rows = n_rows - r0 < FX_LONG_CHUNK ? n_rows - r0       \
                                                           : FX_LONG_CHUNK;   \
            fx_long_softmax_chunk_##SUFFIX(                                   \
                z + r0 * n, rows, n, what, s + r0,                            \
                what == FX_LOGSUMEXP ? lse + r0 : NULL,                       \
                what == FX_LOGSUMEXP ? NULL : out + r0 * n);                  \
        }                                                                     \
    }                                                                         \
                                                                              \
    /*                                                                        \
     * Rows z[r] of n entries: s[r] (NaN for a row left to the caller), and   \
     * lse[r] (FX_LOGSUMEXP) or out[r] (the others). `what` reaches the       \
     * body as a constant, as the gradient flag of fx_long_rows_hard does.    \
     */                                                                       \
    FX_LOOP static void fx_long_softmax_##SUFFIX(                             \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, fx_output what,          \
        double *s, double *lse, T *out)                                       \
    {                                                                         \
        if (what == FX_LOGSUMEXP)                                             \
            fx_long_softmax_body_##SUFFIX(z, n_rows, n, FX_LOGSUMEXP, s, lse, \
                                          out);                               \
        else if (what == FX_SOFTMAX)                                          \
            fx_long_softmax_body_##SUFFIX(z, n_rows, n, FX_SOFTMAX, s, lse,   \
                                          out);                               \
        else                                                                  \
            fx_long_softmax_body_##SUFFIX(z, n_rows, n, FX_LOG_SOFTMAX, s,    \
                                          lse, out);                          \
    }

FX_DEFINE_LONG_SOFTMAX(float, f32)
FX_DEFINE_LONG_SOFTMAX(double, f64)

#endif /* FASTXENT_FX_LONG_SOFTMAX_H */
