/*
 * metrics.h - scores of predictions against true values.
 *
 * Regression: root mean squared error, mean absolute error, R^2.
 * Classification (classes are indices 0..k-1): accuracy, log loss, ROC AUC
 * for two classes, macro-averaged F1.  Each follows the definition of the
 * scikit-learn function of the same name, edge cases included; they are
 * noted per function.
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

#include <stddef.h>

/* sqrt(mean((y - pred)^2)); NaN when n == 0. */
double mlops_metric_rmse(const double *y, const double *pred, size_t n);

/* mean(|y - pred|); NaN when n == 0. */
double mlops_metric_mae(const double *y, const double *pred, size_t n);

/*
 * 1 - SS_res / SS_tot.  As sklearn's r2_score: when y is constant, 1 for a
 * perfect prediction and 0 otherwise; NaN when n < 2.
 */
double mlops_metric_r2(const double *y, const double *pred, size_t n);

/* Fraction of i with y[i] == pred[i]; NaN when n == 0. */
double mlops_metric_accuracy(const size_t *y, const size_t *pred, size_t n);

/*
 * Mean of -log p[i][y[i]] where proba is n x k row-major.  As sklearn's
 * log_loss: each probability is clipped to [eps, 1 - eps] with eps the
 * machine epsilon of double and each row renormalised.  NaN when n == 0.
 */
double mlops_metric_log_loss(const size_t *y, const double *proba, size_t n, size_t k);

/*
 * Area under the ROC curve of scores for the labels y (1 positive, 0
 * negative): the probability that a random positive scores above a random
 * negative, ties counting one half (the trapezoidal area, as sklearn's
 * roc_auc_score).  Written to *out.  MLOPS_EINVALID when only one class is
 * present ("roc auc is undefined with a single class"); MLOPS_ERROR when
 * memory runs out.
 */
int mlops_metric_roc_auc(double *out, const size_t *y, const double *score, size_t n);

/*
 * Unweighted mean over classes of the F1 score, over the classes that occur
 * in y or pred (as sklearn's f1_score(average="macro") with its default
 * labels); a class with no true and no predicted positives contributes 0.
 * Classes are < k.  NaN when n == 0.
 */
double mlops_metric_macro_f1(const size_t *y, const size_t *pred, size_t n, size_t k);

#endif
