/*
 * Rows of more than SHORT_ROW classes, hard labels, no label smoothing: the
 * loss and gradient of each row in three passes over the logits, with no
 * scratch row.
 *
 *   1. m = max(z)
 *   2. e_k = exp(z_k - m), written into the gradient row (when asked for),
 *      s = sum of e_k over z_k < m, plus 1 for each further entry equal
 *      to m (as in _row.pxd: the leading 1 never enters the sum)
 *   3. grad_k = c e_k with c = a_y w / (1 + s), and the label's entry
 *      -a_y w ((1 - e_y) + s) / (1 + s), which subtracts nothing close to 1
 *
 * and loss = a_y ((m - z_y) + log1p(s)). The general path (exp_block, then
 * hard_row) makes the same values through a double scratch row: z - m
 * written out, exponentiated in place, then read again.
 *
 * float32 rows run in float32 lanes, twice the lanes of double: the exp
 * below is within 1.2 float32 ulp (0.27 on average, against the double exp
 * of the exact difference over 5e7 arguments), s is summed in double, and
 * each gradient entry is a product made in double and rounded once, so the
 * loss and gradient stay within 2 float32 ulp of the exact values
 * (tests/test_accuracy.py). float64 rows use the double exp of fx_math.h
 * and sum s pairwise (as fx_exp_sum_inplace does), which keeps 2 ulp over
 * 100,000 classes where running sums in vector lanes would not.
 *
 * Rows these paths do not finish are handed back with a NaN loss for the
 * caller's general path: a row holding NaN, a +inf maximum, an all -inf
 * row, ignored rows (label < 0), and the float32 case named below.
 */
#ifndef FASTXENT_FX_LONG_ROWS_H
#define FASTXENT_FX_LONG_ROWS_H

#include <limits.h>

#include "fx_math.h"

/*
 * 2^64 exp(z - m) in float32 arithmetic, for z <= m (m finite, z finite or
 * -inf), with z - m taken exactly: the rounded difference d and its
 * rounding error (Knuth's TwoSum) both enter the reduced argument, so the
 * result is that of the exact difference. Rounding d alone would cost up
 * to |d| 2^-24 relative (20 float32 ulp at d = -20).
 *
 * Then d + err = k ln2 + r, |r| <= ln2 / 2 (Cody-Waite: ln2_hi has 15
 * significant bits, so k ln2_hi is exact for |k| < 512), exp(r) by a
 * polynomial of degree 6 fitted for the least largest relative error over
 * |r| <= ln2 / 2 (3.7e-9 with its float32 coefficients, 0.07 ulp; Taylor's
 * series needs degree 7 for as little), evaluated as 1 + (r + r^2 P(r)),
 * times 2^(k + 64) built in the exponent bits. The factor 2^64 keeps
 * every result down to d = -131 a normal float32 with its full 24 bits,
 * where exp(d) itself would lose bits to subnormals from d = -87 on: the
 * caller scales by 2^-64 in double, so a gradient entry e c with a large c
 * keeps its accuracy. Below -131 the result is 0 (also for a -inf z); the
 * caller hands back rows whose scale c could lift such a term to float32's
 * range (FX_LONG_ROW_MAX_SCALE).
 */
#define FX_EXP_SCALE 0x1p64
#define FX_EXP_FLOOR -131.0f
#define FX_LONG_ROW_MAX_SCALE 0x1p38
FX_ALWAYS_INLINE float fx_expf_of_difference(float z, float m)
{
    const float inv_ln2 = 1.44269502e+00f;
    const float ln2_hi = 6.93145752e-01f;
    const float ln2_lo = 1.42860677e-06f;
    /* 1.5 * 2^23 + 127 + 64: the sum's low bits hold k + 127 + 64, the
       biased exponent of 2^(k + 64), which the shift below moves into
       place (the bits of 1.5 * 2^23 are shifted out). */
    const float shift = 12583103.0f;
    float d = z - m;
    float back = d - z;
    float err = (z - (d - back)) - (m + back);
    float x = d > FX_EXP_FLOOR ? d : FX_EXP_FLOOR;
    float shifted = x * inv_ln2 + shift;
    float k = shifted - shift;
    float r = ((x - k * ln2_hi) - k * ln2_lo) + (d > FX_EXP_FLOOR ? err : 0.0f);
    float r2 = r * r;
    /* P(r) ~ (exp(r) - 1 - r) / r^2, the minimax fit of degree 4 */
    float p01 = 0x1.fffffcp-2f + r * 0x1.555492p-3f;
    float p23 = 0x1.5558f2p-5f + r * 0x1.123a2p-7f;
    float p = p01 + r2 * (p23 + r2 * 0x1.6a23ccp-10f);
    p = 1.0f + (r + r2 * p);
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits <<= 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return d > FX_EXP_FLOOR ? p * scale : 0.0f;
}

/*
 * The passes below run their vector loops over the first n_main = n - n %
 * lanes entries, then once over the last `lanes` entries (the row has
 * more than SHORT_ROW = 16 of them), where the entries below n_main, seen
 * already, count for nothing. A scalar loop over the remainder would cost
 * as much as the whole vector loop of a row of 100 classes. The tail is one
 * vector of the clone's (FX_LANES_*, fx_math.h).
 */

/* Pass 1: max(z) in T's lanes (a maximum is exact in any precision). */
#define FX_DEFINE_LONG_ROW_MAX(T, SUFFIX)                                     \
    FX_ALWAYS_INLINE T fx_long_row_max_##SUFFIX(const T *z, Py_ssize_t n)     \
    {                                                                         \
        T m = (T)fx_row_max_##SUFFIX(z, n - n % FX_LANES_##SUFFIX);           \
        const T *tail = z + n - FX_LANES_##SUFFIX;                            \
        _Pragma("omp simd reduction(max : m)")                                \
        for (int k = 0; k < FX_LANES_##SUFFIX; k++)                           \
            m = tail[k] > m ? tail[k] : m;                                    \
        return m;                                                             \
    }

FX_DEFINE_LONG_ROW_MAX(float, f32)
FX_DEFINE_LONG_ROW_MAX(double, f64)

/*
 * The exp of pass 2 for each row type: float rows 2^64 exp(z - m) with z - m
 * taken exactly (above); double rows exp(z - m) from the double exp, z - m
 * rounded (the |d| ulp the float64 bounds allow).
 */
FX_ALWAYS_INLINE float fx_long_exp_f32(float z, float m)
{
    return fx_expf_of_difference(z, m);
}

FX_ALWAYS_INLINE double fx_long_exp_f64(double z, double m)
{
    return fx_exp_for_f64(z - m);
}

/*
 * Pass 2: one entry's term. Adds to `acc` the e_k (fx_long_exp) of an entry
 * below the maximum and to `top` 1 for an entry at it, unless `seen` (an
 * entry the tail vector meets a second time); e_k is written to grad when
 * asked for. A NaN entry makes acc NaN (it adds z_k - m, which is 0 for the
 * maximum). The term is selected in T's lanes, then widened (for float, one
 * conversion). `seen` enters by `&`, not `&&`: a branch would keep GCC from
 * vectorising the loop.
 */
#define FX_LONG_ROW_TERM(T, SUFFIX, z, k, m, grad, want_grad, seen, acc,      \
                         top)                                                 \
    do {                                                                      \
        T e = fx_long_exp_##SUFFIX(z[k], m);                                  \
        if (want_grad)                                                        \
            grad[k] = e;                                                      \
        T term = z[k] < m ? e : z[k] - m;                                     \
        acc += (seen) ? 0.0 : (double)term;                                   \
        top += !(seen) & (z[k] == m);                                         \
    } while (0)

/*
 * Pass 2 over a row: the vector loop, then the tail vector, both into the
 * same per-lane sums, which are then added as a tree: one reduction per
 * row, of log2(lanes) steps. With `ahead` > 0 the vector loop also asks for
 * the cache lines `ahead` entries on, those of the next row (and of its
 * gradient row, to be written): passes 1 and 2 of a row otherwise wait for
 * memory and compute in turn, where a row of many classes comes from
 * memory, not cache. The hardware's own prefetcher streams short rows in
 * time; for them `ahead` is 0. An `omp simd reduction` adds its lanes one
 * after another instead, a chain of 16 dependent additions after each of
 * the two loops, and GCC left its tail loop scalar. The count runs in lanes
 * as wide as T's (COUNT).
 */
#define FX_DEFINE_LONG_ROW_PIECE(T, SUFFIX, COUNT)                            \
    FX_ALWAYS_INLINE double fx_long_row_piece_##SUFFIX(                       \
        const T *z, Py_ssize_t n, Py_ssize_t ahead, T m, T *grad,             \
        const int want_grad, Py_ssize_t *n_top)                               \
    {                                                                         \
        enum { LANES = FX_LANES_##SUFFIX };                                   \
        Py_ssize_t n_main = n - n % LANES;                                    \
        double acc[LANES] = {0};                                              \
        COUNT top[LANES] = {0};                                               \
        for (Py_ssize_t j = 0; j < n_main; j += LANES) {                      \
            if (ahead > 0) {                                                  \
                FX_PREFETCH(z, j + ahead, 0);                                 \
                if (want_grad)                                                \
                    FX_PREFETCH(grad, j + ahead, 1);                          \
            }                                                                 \
            _Pragma("omp simd")                                               \
            for (int l = 0; l < LANES; l++)                                   \
                FX_LONG_ROW_TERM(T, SUFFIX, z, j + l, m, grad, want_grad, 0,  \
                                 acc[l], top[l]);                             \
        }                                                                     \
        if (n_main < n) {                                                     \
            const T *z_tail = z + n - LANES;                                  \
            T *grad_tail = want_grad ? grad + n - LANES : NULL;               \
            int seen = (int)(n_main - (n - LANES));                           \
            _Pragma("omp simd")                                               \
            for (int l = 0; l < LANES; l++)                                   \
                FX_LONG_ROW_TERM(T, SUFFIX, z_tail, l, m, grad_tail,          \
                                 want_grad, l < seen, acc[l], top[l]);        \
        }                                                                     \
        for (int width = LANES / 2; width > 0; width /= 2)                    \
            for (int l = 0; l < width; l++) {                                 \
                acc[l] += acc[l + width];                                     \
                top[l] += top[l + width];                                     \
            }                                                                 \
        *n_top += top[0];                                                     \
        return acc[0];                                                        \
    }

FX_DEFINE_LONG_ROW_PIECE(float, f32, int)
FX_DEFINE_LONG_ROW_PIECE(double, f64, Py_ssize_t)

/* The prefetch distance of pass 2 (above): one row, for rows of at least
   FX_PREFETCH_ROW_BYTES. The next row of the last row of a block may lie
   past the logits' end: a prefetch never faults. */
#define FX_PREFETCH_ROW_BYTES 1024
FX_ALWAYS_INLINE Py_ssize_t fx_long_row_ahead(Py_ssize_t n, size_t size)
{
    return (size_t)n * size >= FX_PREFETCH_ROW_BYTES ? n : 0;
}

/* s = sum of e_k over z_k < m plus (number of z_k == m) - 1; NaN for a
   row holding NaN. The float row's running sums in double lanes are far
   more precise than its results. */
FX_ALWAYS_INLINE double fx_long_row_sum_f32(const float *z, Py_ssize_t n,
                                            float m, float *grad,
                                            const int want_grad)
{
    Py_ssize_t n_top = 0;
    double s = fx_long_row_piece_f32(z, n, fx_long_row_ahead(n, sizeof *z), m,
                                     grad, want_grad, &n_top);
    return s * (1.0 / FX_EXP_SCALE) + (double)(n_top - 1);
}

/* The double row's sum of pieces of at most 256 entries, pairwise, as in
   fx_exp_sum_inplace: its error grows like log(n), not n. */
static double fx_long_row_pieces_f64(const double *z, Py_ssize_t n,
                                     Py_ssize_t ahead, double m, double *grad,
                                     const int want_grad, Py_ssize_t *n_top)
{
    if (n > 256) {
        Py_ssize_t half = (n / 2 + 7) & ~(Py_ssize_t)7;
        return fx_long_row_pieces_f64(z, half, ahead, m, grad, want_grad,
                                      n_top) +
               fx_long_row_pieces_f64(z + half, n - half, ahead, m,
                                      want_grad ? grad + half : NULL,
                                      want_grad, n_top);
    }
    return fx_long_row_piece_f64(z, n, ahead, m, grad, want_grad, n_top);
}

FX_ALWAYS_INLINE double fx_long_row_sum_f64(const double *z, Py_ssize_t n,
                                            double m, double *grad,
                                            const int want_grad)
{
    Py_ssize_t n_top = 0;
    double s = fx_long_row_pieces_f64(z, n, fx_long_row_ahead(n, sizeof *z),
                                      m, grad, want_grad, &n_top);
    return s + (double)(n_top - 1);
}

/* grad[k] *= c for k in [counted, n), made in double, rounded once. */
FX_ALWAYS_INLINE void fx_long_row_scale_part(float *grad, Py_ssize_t n,
                                             Py_ssize_t counted, double c)
{
#pragma omp simd
    for (Py_ssize_t k = 0; k < n; k++) {
        float scaled = (float)((double)grad[k] * c);
        grad[k] = k >= counted ? scaled : grad[k];
    }
}

/* row[k] = e_k c 2^-64 for a float row of 2^64-scaled e_k (pass 2), and
   row[k] = e_k c for a double row: the product made in double, rounded
   once. */
FX_ALWAYS_INLINE void fx_long_row_scale_f32(float *row, Py_ssize_t n,
                                            double c)
{
    Py_ssize_t n_main = n - n % FX_LANES_f32;
    c *= 1.0 / FX_EXP_SCALE;
    fx_long_row_scale_part(row, n_main, 0, c);
    if (n_main < n)
        fx_long_row_scale_part(row + n - FX_LANES_f32, FX_LANES_f32,
                               n_main - (n - FX_LANES_f32), c);
}

FX_ALWAYS_INLINE void fx_long_row_scale_f64(double *row, Py_ssize_t n,
                                            double c)
{
#pragma omp simd
    for (Py_ssize_t k = 0; k < n; k++)
        row[k] *= c;
}

/* e_y, unscaled, of a row pass 2 wrote. */
FX_ALWAYS_INLINE double fx_long_row_e_f32(const float *row, Py_ssize_t y)
{
    return (double)row[y] * (1.0 / FX_EXP_SCALE);
}

FX_ALWAYS_INLINE double fx_long_row_e_f64(const double *row, Py_ssize_t y)
{
    return row[y];
}

/*
 * Pass 3: grad_k = c e_k with c = a_y w / (1 + s) (grad_scale holds a_y w
 * and the caller's scale); the label's entry is -a_y w ((1 - e_y) + s) /
 * (1 + s), which subtracts nothing close to 1.
 */
#define FX_DEFINE_LONG_ROW_GRAD(T, SUFFIX)                                    \
    FX_ALWAYS_INLINE void fx_long_row_grad_##SUFFIX(                          \
        T *grad, Py_ssize_t n, Py_ssize_t y, double s, double grad_scale)     \
    {                                                                         \
        double inv = 1.0 / (1.0 + s);                                         \
        double e_y = fx_long_row_e_##SUFFIX(grad, y);                         \
        fx_long_row_scale_##SUFFIX(grad, n, grad_scale * inv);                \
        grad[y] = (T)(-grad_scale * (((1.0 - e_y) + s) * inv));               \
    }

FX_DEFINE_LONG_ROW_GRAD(float, f32)
FX_DEFINE_LONG_ROW_GRAD(double, f64)

/* Whether pass 3 may scale a row's e_k by c. A float row's e_k were
   flushed to 0 below 2^-131 relative, which a large c could lift into
   float32's range; such rows go to the general path. */
FX_ALWAYS_INLINE int fx_long_row_scale_ok_f32(double c)
{
    return fabs(c) <= FX_LONG_ROW_MAX_SCALE;
}

FX_ALWAYS_INLINE int fx_long_row_scale_ok_f64(double c)
{
    (void)c;
    return 1;
}

/*
 * Rows go in chunks of FX_LONG_CHUNK: the passes above run row by row and
 * leave each row's gap m - z_y and sum s; then one loop over the chunk
 * turns them into losses, so that the logarithm, a long chain of
 * dependent operations for one row, runs in vector lanes across rows.
 * A row handed back keeps gap = s = NaN.
 */
#define FX_LONG_CHUNK 32

/*
 * Pass 1 of row r of a chunk of `rows`. Pass 2 waits for the maximum, the
 * end of a chain of dependent operations (a reduction across lanes); rows
 * too short to be prefetched (fx_long_row_ahead) take it one row early,
 * into *next, so that it runs while the row before is summed. Prefetched
 * rows keep the order: their maximum would otherwise come before the
 * prefetch that brings them.
 */
#define FX_DEFINE_LONG_CHUNK_MAX(T, SUFFIX)                                   \
    FX_ALWAYS_INLINE T fx_long_chunk_max_##SUFFIX(                            \
        const T *z, Py_ssize_t n, Py_ssize_t r, Py_ssize_t rows, T *next)     \
    {                                                                         \
        if (fx_long_row_ahead(n, sizeof *z) > 0)                              \
            return fx_long_row_max_##SUFFIX(z + r * n, n);                    \
        T m = r == 0 ? fx_long_row_max_##SUFFIX(z, n) : *next;                \
        if (r + 1 < rows)                                                     \
            *next = fx_long_row_max_##SUFFIX(z + (r + 1) * n, n);             \
        return m;                                                             \
    }

FX_DEFINE_LONG_CHUNK_MAX(float, f32)
FX_DEFINE_LONG_CHUNK_MAX(double, f64)

/* Pass 2 of a row of maximum m: s, or NaN for a row these passes do not
   finish: all -inf, a +inf, only NaN or a NaN entry, or more entries than
   a float row counts in an int. e_k go to `e` when want_e. */
#define FX_DEFINE_LONG_ROW_S(T, SUFFIX)                                       \
    FX_ALWAYS_INLINE double fx_long_row_s_##SUFFIX(                           \
        const T *row, Py_ssize_t n, T m, T *e, const int want_e)              \
    {                                                                         \
        if (n > INT_MAX || !(m > -INFINITY && m < INFINITY))                  \
            return NAN;                                                       \
        return fx_long_row_sum_##SUFFIX(row, n, m, e, want_e);                \
    }

FX_DEFINE_LONG_ROW_S(float, f32)
FX_DEFINE_LONG_ROW_S(double, f64)

/* Passes 2 and 3 of a row of maximum m; its gap and s, or NaN where it is
   handed back (also an ignored row, label < 0, and a scale c too large). */
#define FX_DEFINE_LONG_ROW(T, SUFFIX)                                         \
    FX_ALWAYS_INLINE void fx_long_row_##SUFFIX(                               \
        const T *row, Py_ssize_t n, Py_ssize_t y, double c, T *grad_row,      \
        const int want_grad, T m, double *gap, double *sum)                   \
    {                                                                         \
        *gap = *sum = NAN;                                                    \
        if (y < 0 || (want_grad && !fx_long_row_scale_ok_##SUFFIX(c)))        \
            return;                                                           \
        double s = fx_long_row_s_##SUFFIX(row, n, m, grad_row, want_grad);    \
        if (s != s)                                                           \
            return;                                                           \
        *gap = (double)m - (double)row[y];                                    \
        *sum = s;                                                             \
        if (want_grad)                                                        \
            fx_long_row_grad_##SUFFIX(grad_row, n, y, s, c);                  \
    }

FX_DEFINE_LONG_ROW(float, f32)
FX_DEFINE_LONG_ROW(double, f64)

#define FX_DEFINE_LONG_ROWS(T, SUFFIX)                                        \
    FX_ALWAYS_INLINE void fx_long_rows_body_##SUFFIX(                         \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, const Py_ssize_t *labels, \
        const double *class_weight, const double *sample_weight,              \
        Py_ssize_t weight_step, double loss_scale, double grad_scale,         \
        double *loss_out, T *grad, const int want_grad)                       \
    {                                                                         \
        double gap[FX_LONG_CHUNK], sum[FX_LONG_CHUNK];                        \
        for (Py_ssize_t r0 = 0; r0 < n_rows; r0 += FX_LONG_CHUNK) {           \
            Py_ssize_t rows = n_rows - r0 < FX_LONG_CHUNK ? n_rows - r0       \
                                                           : FX_LONG_CHUNK;   \
            T next_max = 0;                                                   \
            for (Py_ssize_t r = 0; r < rows; r++) {                           \
                Py_ssize_t i = r0 + r, y = labels[i];                         \
                T m = fx_long_chunk_max_##SUFFIX(z + r0 * n, n, r, rows,      \
                                                 &next_max);                  \
                double c = y < 0 ? 0.0                                        \
                                 : class_weight[y] *                          \
                                       sample_weight[i * weight_step] *       \
                                       grad_scale;                            \
                fx_long_row_##SUFFIX(z + i * n, n, y, c,                      \
                                     want_grad ? grad + i * n : NULL,         \
                                     want_grad, m, &gap[r], &sum[r]);         \
            }                                                                 \
            fx_long_chunk_losses(gap, sum, rows, labels + r0, class_weight,   \
                                 sample_weight + r0 * weight_step,            \
                                 weight_step, loss_scale, loss_out + r0);     \
        }                                                                     \
    }                                                                         \
    /* The gradient's presence as a constant flag, as in fx_two_class.h. */   \
    FX_LOOP static void fx_long_rows_hard_##SUFFIX(                           \
        const T *z, Py_ssize_t n_rows, Py_ssize_t n, const Py_ssize_t *labels, \
        const double *class_weight, const double *sample_weight,              \
        Py_ssize_t weight_step, double loss_scale, double grad_scale,         \
        double *loss_out, T *grad)                                            \
    {                                                                         \
        if (grad != NULL)                                                     \
            fx_long_rows_body_##SUFFIX(z, n_rows, n, labels, class_weight,    \
                                       sample_weight, weight_step,            \
                                       loss_scale, grad_scale, loss_out,      \
                                       grad, 1);                              \
        else                                                                  \
            fx_long_rows_body_##SUFFIX(z, n_rows, n, labels, class_weight,    \
                                       sample_weight, weight_step,            \
                                       loss_scale, grad_scale, loss_out,      \
                                       grad, 0);                              \
    }

/* A chunk's losses from its rows' gaps and sums (NaN: handed back). */
FX_ALWAYS_INLINE void fx_long_chunk_losses(
    const double *gap, const double *sum, Py_ssize_t rows,
    const Py_ssize_t *labels, const double *class_weight,
    const double *sample_weight, Py_ssize_t weight_step, double loss_scale,
    double *loss_out)
{
#pragma omp simd
    for (Py_ssize_t r = 0; r < rows; r++) {
        Py_ssize_t y = labels[r];
        double a = class_weight[y < 0 ? 0 : y];
        double w = sample_weight[r * weight_step];
        double s = sum[r];
        double loss = s == s ? gap[r] + fx_log1p_nonneg(s) : NAN;
        /* A zero class weight silences an infinite loss, as in hard_row. */
        loss = a > 0.0 ? a * loss : (loss == loss ? 0.0 : loss);
        loss_out[r] = loss != loss ? loss
                                   : fx_weighted_loss(loss, w, loss_scale);
    }
}

FX_DEFINE_LONG_ROWS(float, f32)
FX_DEFINE_LONG_ROWS(double, f64)

#endif /* FASTXENT_FX_LONG_ROWS_H */
