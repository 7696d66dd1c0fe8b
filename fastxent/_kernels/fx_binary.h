/*
 * Binary cross-entropy from logits, element by element, in loops that
 * vectorise: one exp, one log1p and (for the gradient) one division per
 * element, all branch-free (fx_math.h), where the scalar log1pexp /
 * sigmoid pair called glibc's exp three times and log1p once, behind
 * branches.
 *
 * With a = |z|, e = exp(-a) in (0, 1] and l = log1p(e),
 *
 *     log1pexp(z) = max(z, 0) + l,     log1pexp(-z) = max(-z, 0) + l,
 *     sigmoid(-a) = e / (1 + e),       sigmoid(a) = 1 - sigmoid(-a),
 *
 * sums of non-negative terms, a quotient, and 1 minus at most 1/2: nothing
 * cancels. This is Maechler's log1pexp without its cutoffs:
 * below -37 log1p(e) returns e itself, and above 33.3 the added l falls
 * under half an ulp of z. Infinite logits give e = 0 and l = 0 exactly.
 *
 * For a target y in [0, 1] (after label smoothing) with positive-class
 * weight w_pos, pos = w_pos y and neg = 1 - y:
 *
 *     loss = pos log1pexp(-z) + neg log1pexp(z)
 *     d loss / d z = neg sigmoid(z) - pos sigmoid(-z)
 *
 * Both are computed from the shared l and q = sigmoid(-a) <= 1/2, with
 * c = neg for z >= 0 and -pos for z < 0, as
 *
 *     loss = (pos + neg) l + c z,
 *     d loss / d z = c - sign(z) (pos + neg) q,
 *
 * so each needs one product of the coefficients and no select per term.
 * c z is the only product that can meet an infinity: c = 0 leaves it out,
 * so (z, y) = (+inf, 1) and (-inf, 0) give 0 rather than 0 * inf = NaN.
 * A NaN logit gives a NaN loss and gradient, which the caller reports.
 * (Writing out both terms, each behind its own zero-coefficient select, as
 * the formulas above read, kept enough values live that GCC spilled
 * registers in the vector loop, which ran slower.)
 *
 * fx_bce_steps_* (below) returns the sum of the weighted losses of a span's
 * elements, added in a fixed order for a given count (vector partial sums),
 * so it does not depend on the number of threads.
 */
#ifndef FASTXENT_FX_BINARY_H
#define FASTXENT_FX_BINARY_H

#include "fx_math.h"

FX_ALWAYS_INLINE void fx_bce_element(
    double z, double y, double pos_weight, double smoothing, int want_grad,
    int single, double *loss, double *grad)
{
    double target = (1.0 - smoothing) * y + 0.5 * smoothing;
    double pos = pos_weight * target;
    double neg = 1.0 - target;
    double a = z < 0.0 ? -z : z;
    /* `single` (a constant in each caller): results rounded to float32. */
    double e = single ? fx_exp_nonpos_single(-a) : fx_exp_nonpos(-a);
    double l = single ? fx_log1p_unit_single(e) : fx_log1p_unit(e);
    int nonneg = z >= 0.0;
    double c = nonneg ? neg : -pos;
    double mass = pos + neg;
    /* z != z: with c = 0 a NaN logit must still give a NaN loss. */
    double linear = c == 0.0 && z == z ? 0.0 : c * z;
    *loss = mass * l + linear;
    if (want_grad) {
        /* q <= 1/2: for z >= 0, c - mass q keeps neg - q >= 1/2 - q when
           y = 0, and -q when y = 1 (pos_weight 1); nothing cancels for
           hard targets. The exp maps a NaN to 0, hence the select. */
        double q = e / (1.0 + e);
        double mass_q = mass * q;
        double slope = c - (nonneg ? mass_q : -mass_q);
        *grad = z != z ? z : slope;
    }
}

/*
 * The loop bodies take the outputs' presence as constant flags: the
 * dispatching functions below call them with literal 0 / 1, so each copy
 * is compiled without the stores (and the gradient's division) it does not
 * need, instead of masked stores behind a test in every iteration.
 * `weight_step` is 1 when each element has its own row weight, 0 when they
 * share one; `pos_step` likewise for the positive-class weights.
 */
#define FX_DEFINE_BCE(T, SUFFIX)                                              \
    FX_ALWAYS_INLINE double fx_bce_body_##SUFFIX(                             \
        const T *z, const T *y, Py_ssize_t n, const double *pos_weight,       \
        const double *row_weight, double smoothing, double loss_scale,        \
        double grad_scale, T *loss_out, T *grad_out, const int weight_step,   \
        const int pos_step, const int want_loss, const int want_grad)         \
    {                                                                         \
        double total = 0.0;                                                   \
        _Pragma("omp simd reduction(+ : total)")                              \
        for (Py_ssize_t i = 0; i < n; i++) {                                  \
            double loss, grad = 0.0;                                          \
            double w = row_weight[weight_step * i];                           \
            double pw = pos_weight[pos_step * i];                             \
            fx_bce_element(z[i], y[i], pw, smoothing, want_grad,              \
                           sizeof(T) == sizeof(float), &loss, &grad);         \
            loss = fx_weighted_loss(loss, w, loss_scale);                     \
            if (want_grad) {                                                  \
                grad_out[i] = (T)(w * grad_scale * grad);                     \
            }                                                                 \
            if (want_loss) {                                                  \
                loss_out[i] = (T)loss;                                        \
            }                                                                 \
            total += loss;                                                    \
        }                                                                     \
        return total;                                                         \
    }                                                                         \
    /* The body for the outputs asked for (a NULL pointer is not asked        \
       for), each combination a copy with constant flags. */                  \
    FX_ALWAYS_INLINE double fx_bce_outputs_##SUFFIX(                          \
        const T *z, const T *y, Py_ssize_t n, const double *pos_weight,       \
        const double *row_weight, double smoothing, double loss_scale,        \
        double grad_scale, T *loss_out, T *grad_out, const int weight_step,   \
        const int pos_step)                                                   \
    {                                                                         \
        if (grad_out != NULL && loss_out != NULL) {                           \
            return fx_bce_body_##SUFFIX(z, y, n, pos_weight, row_weight,      \
                smoothing, loss_scale, grad_scale, loss_out, grad_out,        \
                weight_step, pos_step, 1, 1);                                 \
        }                                                                     \
        if (grad_out != NULL) {                                               \
            return fx_bce_body_##SUFFIX(z, y, n, pos_weight, row_weight,      \
                smoothing, loss_scale, grad_scale, loss_out, grad_out,        \
                weight_step, pos_step, 0, 1);                                 \
        }                                                                     \
        if (loss_out != NULL) {                                               \
            return fx_bce_body_##SUFFIX(z, y, n, pos_weight, row_weight,      \
                smoothing, loss_scale, grad_scale, loss_out, grad_out,        \
                weight_step, pos_step, 1, 0);                                 \
        }                                                                     \
        return fx_bce_body_##SUFFIX(z, y, n, pos_weight, row_weight,          \
            smoothing, loss_scale, grad_scale, loss_out, grad_out,            \
            weight_step, pos_step, 0, 0);                                     \
    }                                                                         \
    /* One copy of the body per pair of steps, so that a weight is read per   \
       element only where each element has its own:                           \
       (1, 0) 1-D logits with sample weights; (0, 0) 1-D logits without;     \
       (0, 1) rows of labels without sample weights; (1, 1) rows of labels    \
       with them, repeated along each row. */                                 \
    FX_LOOP static double fx_bce_steps_##SUFFIX(                          \
        int weight_step, int pos_step, const T *z, const T *y, Py_ssize_t n,  \
        const double *pos_weight, const double *row_weight, double smoothing, \
        double loss_scale, double grad_scale, T *loss_out, T *grad_out)       \
    {                                                                         \
        if (weight_step && pos_step) {                                        \
            return fx_bce_outputs_##SUFFIX(z, y, n, pos_weight, row_weight,   \
                smoothing, loss_scale, grad_scale, loss_out, grad_out, 1, 1); \
        }                                                                     \
        if (weight_step) {                                                    \
            return fx_bce_outputs_##SUFFIX(z, y, n, pos_weight, row_weight,   \
                smoothing, loss_scale, grad_scale, loss_out, grad_out, 1, 0); \
        }                                                                     \
        if (pos_step) {                                                       \
            return fx_bce_outputs_##SUFFIX(z, y, n, pos_weight, row_weight,   \
                smoothing, loss_scale, grad_scale, loss_out, grad_out, 0, 1); \
        }                                                                     \
        return fx_bce_outputs_##SUFFIX(z, y, n, pos_weight, row_weight,       \
            smoothing, loss_scale, grad_scale, loss_out, grad_out, 0, 0);     \
    }

FX_DEFINE_BCE(double, f64)
FX_DEFINE_BCE(float, f32)

/*
 * The number of values outside [0, 1] (NaN included: both comparisons fail),
 * for the binary targets' range check: one vector pass where numpy's min and
 * max take two.
 */
#define FX_DEFINE_COUNT_OUTSIDE_UNIT(T, SUFFIX)                               \
    FX_LOOP static Py_ssize_t fx_count_outside_unit_##SUFFIX(             \
        const T *values, Py_ssize_t n)                                        \
    {                                                                         \
        Py_ssize_t outside = 0;                                               \
        _Pragma("omp simd reduction(+ : outside)")                            \
        for (Py_ssize_t i = 0; i < n; i++) {                                  \
            outside += !(values[i] >= 0 && values[i] <= 1);                   \
        }                                                                     \
        return outside;                                                       \
    }

FX_DEFINE_COUNT_OUTSIDE_UNIT(double, f64)
FX_DEFINE_COUNT_OUTSIDE_UNIT(float, f32)

#endif /* FASTXENT_FX_BINARY_H */
