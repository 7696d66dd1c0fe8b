/*
 * Softmax rows of a few classes (2 to 16), reduced across rows.
 *
 * A 10-class row is too short for a vector loop of its own: prologues,
 * remainders and per-row calls (glibc's log1p alone took two thirds of the
 * row's time) outweigh its ten exponentials. Here a block of
 * rows is first copied class-major (t[k * n_rows + r] = z[r][k]), so that
 * every later loop runs over rows with unit stride: vector lane i holds
 * row r + i, the row maxima, maxima counts, tail sums and log1p are computed
 * for four (AVX2) rows per instruction, and no loop is shorter than a block.
 * Each row still adds its classes in class order, so its results do not
 * depend on which lane, block or thread it lands in.
 *
 * As in _row.pxd, with m = max(z) and the first maximal entry "top":
 *
 *     s = sum_{k != top} exp(z_k - m),    logsumexp(z) = m + log1p(s).
 *
 * fx_short_rows_*: t <- exp(z - m) (class-major), m, s and tail = log1p(s);
 *     a row holding NaN or +inf, or all -inf, gets s = tail = NaN.
 * fx_class_major_to_rows: e[r][k] = t[k * n_rows + r], for callers that
 *     finish rows one at a time.
 * fx_short_rows_hard_*: loss and gradient of a block of rows with hard
 *     labels and no label smoothing, straight from the class-major
 *     exponentials (one exp per element, no per-row call); weight_step 0
 *     gives every row sample_weight[0].
 */
#ifndef FASTXENT_FX_SHORT_ROWS_H
#define FASTXENT_FX_SHORT_ROWS_H

#include "fx_math.h"

#define FX_DEFINE_SHORT_ROWS(T, SUFFIX)                                       \
    FX_LOOP static void fx_short_rows_##SUFFIX(                           \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, double *t, double *m,    \
        double *s, double *tail, double *row_sum)                             \
    {                                                                         \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            for (Py_ssize_t k = 0; k < n; k++) {                              \
                t[k * n_rows + r] = z[r * n + k];                             \
            }                                                                 \
        }                                                                     \
        /* `row_sum` sums each row's entries times 2^-1000, NaN exactly       \
           when the row holds a NaN or +inf beside -inf (which m = +inf       \
           flags anyway): scaled, up to 16 finite entries cannot overflow,    \
           so a partial sum of +inf meeting a masked -inf class cannot fake   \
           a NaN. One FMA per element where the column is loaded anyway,      \
           instead of counting the ordered entries in the exp pass. NaN is    \
           never the maximum (v > m fails). `tail` first counts the maximal   \
           entries (below), then holds log1p(s). */                           \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            m[r] = -INFINITY;                                                 \
            row_sum[r] = 0.0;                                                 \
            s[r] = 0.0;                                                       \
            tail[r] = 0.0;                                                    \
        }                                                                     \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            const double *column = t + k * n_rows;                            \
            _Pragma("omp simd")                                               \
            for (Py_ssize_t r = 0; r < n_rows; r++) {                         \
                double v = column[r];                                         \
                m[r] = v > m[r] ? v : m[r];                                   \
                row_sum[r] += v * 0x1p-1000;                                  \
            }                                                                 \
        }                                                                     \
        /* s sums the entries below the maximum; `tail` counts the maximal    \
           ones, whose exp(0) = 1 is exact: all but one of them are added to  \
           s at the end, and the one left out is log1p's 1. (Tracking "the    \
           first maximal entry" instead took two more selects and a store    \
           per element.) */                                                   \
        for (Py_ssize_t k = 0; k < n; k++) {                                  \
            double *column = t + k * n_rows;                                  \
            _Pragma("omp simd")                                               \
            for (Py_ssize_t r = 0; r < n_rows; r++) {                         \
                double v = column[r];                                         \
                double e = fx_exp_for_##SUFFIX(v - m[r]);                     \
                column[r] = e;                                                \
                s[r] += v < m[r] ? e : 0.0;                                   \
                tail[r] += v == m[r] ? 1.0 : 0.0;                             \
            }                                                                 \
        }                                                                     \
        _Pragma("omp simd")                                                   \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            int finite = row_sum[r] == row_sum[r] && m[r] > -INFINITY &&      \
                         m[r] < INFINITY;                                     \
            s[r] = finite ? s[r] + (tail[r] - 1.0) : NAN;                     \
            tail[r] = fx_log1p_nonneg(s[r]);                                  \
        }                                                                     \
    }                                                                         \
                                                                              \
    FX_LOOP static void fx_short_rows_hard_##SUFFIX(                      \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, const double *t,         \
        const double *m, const double *s, const double *tail,                 \
        const Py_ssize_t *labels, const double *class_weight,                 \
        const double *sample_weight, Py_ssize_t weight_step,                  \
        double loss_scale, double grad_scale, double *loss_out, T *grad)      \
    {                                                                         \
        /* loss = w_y ((m - z_y) + log1p(s)) and, with q = softmax(z),        \
           d loss / d z_k = w_y q_k (k != y), -w_y (1 - q_y) for k = y, where \
           1 - q_y = ((1 - exp(z_y - m)) + s) / (1 + s) does not cancel.      \
           Rows with s = NaN or an ignored label (y < 0) get arbitrary        \
           values here: the caller redoes them on the general path. */        \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            Py_ssize_t y = labels[r] < 0 ? 0 : labels[r];                     \
            double w_y = class_weight[y];                                     \
            double w = sample_weight[weight_step * r];                        \
            double loss = w_y > 0.0                                           \
                ? w_y * ((m[r] - (double)z[r * n + y]) + tail[r]) : 0.0;      \
            loss_out[r] = fx_weighted_loss(loss, w, loss_scale);              \
        }                                                                     \
        if (grad == NULL) {                                                   \
            return; /* the loss alone: no division per row */                 \
        }                                                                     \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            Py_ssize_t y = labels[r] < 0 ? 0 : labels[r];                     \
            double w_y = class_weight[y];                                     \
            double w = sample_weight[weight_step * r];                        \
            double inv = 1.0 / (1.0 + s[r]);                                  \
            double e_y = t[y * n_rows + r];                                   \
            double coef = w_y * inv * (w * grad_scale);                       \
            T *row = grad + r * n;                                            \
            for (Py_ssize_t k = 0; k < n; k++) {                              \
                row[k] = (T)(coef * t[k * n_rows + r]);                       \
            }                                                                 \
            row[y] = (T)(-(w_y * (((1.0 - e_y) + s[r]) * inv)) *              \
                         (w * grad_scale));                                   \
        }                                                                     \
    }

FX_DEFINE_SHORT_ROWS(double, f64)
FX_DEFINE_SHORT_ROWS(float, f32)

FX_LOOP static void fx_class_major_to_rows(
    const double *t, Py_ssize_t n_rows, Py_ssize_t n, double *e)
{
    for (Py_ssize_t r = 0; r < n_rows; r++) {
        for (Py_ssize_t k = 0; k < n; k++) {
            e[r * n + k] = t[k * n_rows + r];
        }
    }
}

#endif /* FASTXENT_FX_SHORT_ROWS_H */
