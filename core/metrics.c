/*
 * metrics.c - regression and classification scores (see metrics.h).
 *
 * ROC AUC is computed as the Mann-Whitney statistic: scores are sorted,
 * tied scores share their average rank, and AUC = (R+ - P(P+1)/2) / (P N)
 * where R+ is the rank sum of the P positives among N negatives.  This
 * equals the trapezoidal area under the ROC curve whose points are taken
 * at distinct thresholds, which is what scikit-learn reports.
 */
#include "core/metrics.h"
#include "store/error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double mlops_metric_rmse(const double *y, const double *pred, size_t n)
{
	double s = 0;

	if (!n)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		double e = y[i] - pred[i];
		s += e * e;
	}
	return sqrt(s / (double)n);
}

double mlops_metric_mae(const double *y, const double *pred, size_t n)
{
	double s = 0;

	if (!n)
		return NAN;
	for (size_t i = 0; i < n; i++)
		s += fabs(y[i] - pred[i]);
	return s / (double)n;
}

double mlops_metric_r2(const double *y, const double *pred, size_t n)
{
	double mean = 0, ss_res = 0, ss_tot = 0;

	if (n < 2)
		return NAN;
	for (size_t i = 0; i < n; i++)
		mean += y[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double e = y[i] - pred[i], t = y[i] - mean;
		ss_res += e * e;
		ss_tot += t * t;
	}
	if (ss_tot == 0)
		return ss_res == 0 ? 1.0 : 0.0;
	return 1 - ss_res / ss_tot;
}

double mlops_metric_accuracy(const size_t *y, const size_t *pred, size_t n)
{
	size_t hits = 0;

	if (!n)
		return NAN;
	for (size_t i = 0; i < n; i++)
		hits += y[i] == pred[i];
	return (double)hits / (double)n;
}

double mlops_metric_log_loss(const size_t *y, const double *proba, size_t n, size_t k)
{
	const double eps = DBL_EPSILON;
	double s = 0;

	if (!n || !k)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		const double *p = proba + i * k;
		double sum = 0, py = 0;
		for (size_t c = 0; c < k; c++) {
			double v = fmin(fmax(p[c], eps), 1 - eps);
			sum += v;
			if (c == y[i])
				py = v;
		}
		s -= log(py / sum);
	}
	return s / (double)n;
}

struct scored {
	double score;
	size_t label;
};

static int cmp_scored(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->score, y = ((const struct scored *)b)->score;
	return (x > y) - (x < y);
}

int mlops_metric_roc_auc(double *out, const size_t *y, const double *score, size_t n)
{
	struct scored *v;
	double npos = 0, nneg = 0, rank_sum = 0;
	size_t i = 0;

	*out = NAN;
	for (size_t j = 0; j < n; j++) {
		if (y[j])
			npos++;
		else
			nneg++;
	}
	if (npos == 0 || nneg == 0)
		return mlops_error_set(MLOPS_EINVALID, "roc auc is undefined with a single class");
	v = malloc(n * sizeof(*v));
	if (!v)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t j = 0; j < n; j++) {
		v[j].score = score[j];
		v[j].label = y[j] != 0;
	}
	qsort(v, n, sizeof(*v), cmp_scored);
	while (i < n) {
		size_t j = i, pos = 0;
		double avg_rank;
		while (j < n && v[j].score == v[i].score) {
			pos += v[j].label;
			j++;
		}
		/* ranks i+1 .. j share their mean */
		avg_rank = ((double)(i + 1) + (double)j) / 2;
		rank_sum += avg_rank * (double)pos;
		i = j;
	}
	free(v);
	*out = (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
	return 0;
}

double mlops_metric_macro_f1(const size_t *y, const size_t *pred, size_t n, size_t k)
{
	size_t stack[3 * 64], *tp, *fp, *fn, *heap = NULL;
	double sum = 0;
	size_t present = 0;

	if (!n || !k)
		return NAN;
	if (k <= 64) {
		tp = stack;
	} else {
		heap = calloc(3 * k, sizeof(size_t));
		if (!heap)
			return NAN;
		tp = heap;
	}
	memset(tp, 0, 3 * k * sizeof(size_t));
	fp = tp + k;
	fn = fp + k;
	for (size_t i = 0; i < n; i++) {
		if (y[i] >= k || pred[i] >= k) {
			free(heap);
			return NAN;
		}
		if (y[i] == pred[i]) {
			tp[y[i]]++;
		} else {
			fp[pred[i]]++;
			fn[y[i]]++;
		}
	}
	for (size_t c = 0; c < k; c++) {
		size_t den = 2 * tp[c] + fp[c] + fn[c];
		if (!den)
			continue;
		present++;
		sum += 2.0 * (double)tp[c] / (double)den;
	}
	free(heap);
	return sum / (double)present;
}
