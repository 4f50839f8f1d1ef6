/*
 * monitor_quality.c - whether a drop of the headline metric is more than
 * sampling noise.
 *
 * The training value of a metric was measured on the model's validation
 * rows and the current one on the labelled rows of the check: two
 * estimates of the model's quality, each with its own sampling error.  On
 * a few hundred rows either error is of the order of the default
 * quality-drop threshold (accuracy near 0.8 on 120 and 300 rows: a
 * standard error of 0.043 for the difference, 5.4% of the value), so a
 * threshold on the point estimate alone calls a healthy model degraded in
 * nearly one check out of five.  A check is therefore degraded only when the drop passes the
 * threshold and a one-sided test finds it significant:
 *
 *  - accuracy, a proportion: the two-proportion z-test with the pooled
 *    proportion (the textbook test, statsmodels' proportions_ztest; z^2 is
 *    the uncorrected chi-squared of the 2x2 table);
 *  - rmse: a normal approximation with the standard errors of both
 *    estimates, by the delta method: SE(rmse) = sd(e^2) / (2 rmse sqrt(n)).
 *    The validation rows' errors are not kept with the model, so the
 *    relative spread of the squared errors, cv = sd(e^2) / mean(e^2), is
 *    measured on the current rows and applied to both: under the null
 *    hypothesis both samples have the same error distribution, and cv
 *    carries its shape (sqrt(2) for normal errors, more with heavy
 *    tails), where assuming normal errors would understate the noise of
 *    heavy-tailed ones.
 *
 * The standard error reported is the unpooled one, sqrt(se_training^2 +
 * se_current^2), and the interval is drop +/- 1.96 of it (95%, Wald).  A
 * training value with no validation count (a model written by hand) is
 * taken as exact: the limit of the formulas as that count grows.
 */
#include "core/monitor_internal.h"

#include <math.h>

#define Z975 1.959963984540054 /* scipy.stats.norm.ppf(0.975) */

double mon_norm_sf(double z)
{
	return 0.5 * erfc(z / sqrt(2.0));
}

static void test_clear(struct mon_quality_test *t, const char *method, double n_tr, double n_cur)
{
	t->method = method;
	t->n_training = n_tr;
	t->n_current = n_cur;
	t->drop = t->se = t->se_training = t->se_current = NAN;
	t->z = t->pvalue = t->ci_low = t->ci_high = NAN;
	t->ci_level = 0.95;
}

static void test_finish(struct mon_quality_test *t)
{
	t->se = sqrt(t->se_training * t->se_training + t->se_current * t->se_current);
	if (isfinite(t->se)) {
		t->ci_low = t->drop - Z975 * t->se;
		t->ci_high = t->drop + Z975 * t->se;
	}
	if (isfinite(t->z))
		t->pvalue = mon_norm_sf(t->z);
}

void mon_quality_test_accuracy(struct mon_quality_test *t, double p_tr, double n_tr, double p_cur,
			       double n_cur)
{
	test_clear(t, "two-proportion z", n_tr, n_cur);
	if (!isfinite(p_tr) || !isfinite(p_cur) || !(n_cur >= 1) || p_tr < 0 || p_tr > 1 ||
	    p_cur < 0 || p_cur > 1)
		return;
	double inv_tr = n_tr >= 1 ? 1 / n_tr : 0;
	double pooled = n_tr >= 1 ? (p_tr * n_tr + p_cur * n_cur) / (n_tr + n_cur) : p_tr;
	double se0 = sqrt(pooled * (1 - pooled) * (inv_tr + 1 / n_cur));
	t->drop = p_tr - p_cur;
	t->se_training = sqrt(p_tr * (1 - p_tr) * inv_tr);
	t->se_current = sqrt(p_cur * (1 - p_cur) / n_cur);
	/* both estimates 0 or both 1: no spread, no evidence of a drop */
	if (se0 > 0)
		t->z = t->drop / se0;
	test_finish(t);
}

void mon_quality_test_rmse(struct mon_quality_test *t, double rmse_tr, double n_tr,
			   double rmse_cur, double n_cur, double cv)
{
	test_clear(t, "normal", n_tr, n_cur);
	if (!isfinite(rmse_tr) || !isfinite(rmse_cur) || !isfinite(cv) || !(n_cur >= 2) ||
	    rmse_tr < 0 || rmse_cur < 0 || cv < 0)
		return;
	t->drop = rmse_cur - rmse_tr;
	t->se_training = n_tr >= 1 ? cv * rmse_tr / (2 * sqrt(n_tr)) : 0;
	t->se_current = cv * rmse_cur / (2 * sqrt(n_cur));
	double se = sqrt(t->se_training * t->se_training + t->se_current * t->se_current);
	if (se > 0)
		t->z = t->drop / se;
	test_finish(t);
}
