/*
 * Two-class softmax rows with hard labels and no label smoothing, the fast
 * path of the categorical kernel (categorical.pyx) for binary problems
 * written as two logits per row.
 */
#ifndef FASTXENT_FX_TWO_CLASS_H
#define FASTXENT_FX_TWO_CLASS_H

#include "fx_math.h"

/*
 * With d = z_other - z_y, softmax cross-entropy is the binary one,
 *
 *     loss = w_y log1pexp(d),    d loss / d z_other = w_y sigmoid(d) = -d loss / d z_y,
 *
 * one exp per row instead of the two (one of them exp(0)) of the general
 * short-row path. d is the same difference the general path rounds
 * (z_other - max or max - z_y), so the accuracy is the same.
 *
 * A row whose maximum is not finite (+inf, all -inf) or that holds a NaN
 * gets a NaN loss here; the caller redoes it, and rows with an ignored
 * label (y < 0), on the general path.
 */
#define FX_DEFINE_TWO_CLASS(T, SUFFIX)                                        \
    FX_ALWAYS_INLINE void fx_two_class_body_##SUFFIX(                         \
        const T *z, Py_ssize_t n_rows, const Py_ssize_t *labels,              \
        const double *class_weight, const double *sample_weight,              \
        double loss_scale, double grad_scale, double *loss_out, T *grad,      \
        const int weight_step, const int want_grad)                           \
    {                                                                         \
        /* Selects between loaded values, not loads behind a select: those    \
           are control flow, which stops the vectoriser. */                   \
        const double weight_0 = class_weight[0], weight_1 = class_weight[1];  \
        _Pragma("omp simd")                                                   \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                             \
            double z0 = z[2 * r], z1 = z[2 * r + 1];                          \
            int y_is_1 = labels[r] == 1;                                      \
            double d = y_is_1 ? z0 - z1 : z1 - z0;                            \
            double w_y = y_is_1 ? weight_1 : weight_0;                        \
            double w = sample_weight[weight_step * r];                        \
            double a = d < 0.0 ? -d : d;                                      \
            double e = fx_exp_for_##SUFFIX(-a);                               \
            double softplus = (d > 0.0 ? d : 0.0) +                           \
                              fx_log1p_unit_for_##SUFFIX(e);                  \
            double loss = w_y > 0.0 ? w_y * softplus : 0.0;                   \
            loss = fx_weighted_loss(loss, w, loss_scale);                     \
            /* Rows handed back: a NaN or two equal infinities (both -inf)   \
               make d NaN; a +inf fails its own test. One -inf beside a       \
               finite logit (a masked class) stays. Fewer tests than the      \
               row maximum's. */                                              \
            int ordinary = d == d && z0 < INFINITY && z1 < INFINITY;          \
            loss_out[r] = ordinary ? loss : NAN;                              \
            if (want_grad) {                                                  \
                double sigmoid_neg_abs = e / (1.0 + e);                       \
                double sigmoid_d = d >= 0.0 ? 1.0 - sigmoid_neg_abs           \
                                            : sigmoid_neg_abs;                \
                double g = w_y * sigmoid_d * (w * grad_scale);                \
                double g0 = y_is_1 ? g : -g;                                  \
                grad[2 * r] = (T)g0;                                          \
                grad[2 * r + 1] = (T)(-g0);                                   \
            }                                                                 \
        }                                                                     \
    }                                                                         \
    /* weight_step 0: one sample weight for every row (none given). */      \
    FX_LOOP static void fx_two_class_hard_##SUFFIX(                       \
        const T *z, Py_ssize_t n_rows, const Py_ssize_t *labels,              \
        const double *class_weight, const double *sample_weight,              \
        int weight_step, double loss_scale, double grad_scale,                \
        double *loss_out, T *grad)                                            \
    {                                                                         \
        if (weight_step != 0 && grad != NULL) {                               \
            fx_two_class_body_##SUFFIX(z, n_rows, labels, class_weight,       \
                sample_weight, loss_scale, grad_scale, loss_out, grad, 1, 1); \
        } else if (weight_step != 0) {                                        \
            fx_two_class_body_##SUFFIX(z, n_rows, labels, class_weight,       \
                sample_weight, loss_scale, grad_scale, loss_out, grad, 1, 0); \
        } else if (grad != NULL) {                                            \
            fx_two_class_body_##SUFFIX(z, n_rows, labels, class_weight,       \
                sample_weight, loss_scale, grad_scale, loss_out, grad, 0, 1); \
        } else {                                                              \
            fx_two_class_body_##SUFFIX(z, n_rows, labels, class_weight,       \
                sample_weight, loss_scale, grad_scale, loss_out, grad, 0, 0); \
        }                                                                     \
    }

FX_DEFINE_TWO_CLASS(double, f64)
FX_DEFINE_TWO_CLASS(float, f32)

#endif /* FASTXENT_FX_TWO_CLASS_H */
