/*
 * test_drift.c - unit tests of core/drift.c and core/mathfn.c.
 *
 * Three kinds of evidence: small cases whose answers are worked out by hand
 * in the comments; the committed SciPy/NumPy reference values in
 * tests/fixtures/drift/expected.h (samples regenerated here from the same
 * splitmix64 stream as gen.py); and, when /usr/bin/python3 with SciPy is
 * present, random cases computed live by gen.py --live and compared here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/drift.h"
#include "core/mathfn.h"
#include "store/error.h"

/* Tolerances: statistics 1e-9, p-values 1e-4 absolute (the contract). */
#define STAT_TOL 1e-9
#define P_TOL 1e-4

struct fx_sample {
	int kind;
	size_t n;
	uint64_t seed;
	double loc, scale;
};
struct fx_ks {
	struct fx_sample a, b;
	double statistic, pvalue, location;
	int sign, method;
};
struct fx_wass {
	struct fx_sample a, b;
	double distance, norm;
};
struct fx_edges {
	struct fx_sample s;
	size_t nbins;
	struct fx_sample v;
	size_t nedges;
	double edges[32];
	double counts[32];
};
struct fx_chi2 {
	size_t k;
	double base[16], cur[16];
	double stat, p;
	size_t dof;
	double hstat, hp, hystat, hyp;
};
struct fx_psi {
	size_t k;
	double base[16], cur[16];
	double psi;
};
struct fx_js {
	size_t k;
	double p[16], q[16];
	double js_e, js_2;
};
struct fx_point {
	double n, d, sf;
};
struct fx_gamma {
	double a, x, p, q;
};

#include "../fixtures/drift/expected.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* The sample gen.py names (kind, n, seed, loc, scale); caller frees. */
static double *make_sample(const struct fx_sample *s)
{
	double *v = malloc((s->n ? s->n : 1) * sizeof(double));
	uint64_t st = s->seed;
	assert_non_null(v);
#define U() ((double)(splitmix(&st) >> 11) * 0x1.0p-53)
	for (size_t i = 0; i < s->n; i++) {
		switch (s->kind) {
		case 0:
			v[i] = s->loc + s->scale * U();
			break;
		case 1: {
			double u1 = U(), u2 = U(), u3 = U(), u4 = U();
			v[i] = s->loc + s->scale * (((u1 + u2) + u3) + u4 - 2.0);
			break;
		}
		case 2:
			v[i] = s->loc + floor(U() * s->scale);
			break;
		case 3: {
			double u = U();
			v[i] = s->loc + s->scale * (u * u);
			break;
		}
		default:
			fail_msg("unknown sample kind %d", s->kind);
		}
	}
#undef U
	return v;
}

static double max_err_p; /* largest p-value error seen against SciPy */

static void check_close(double got, double want, double abs_tol, double rel_tol,
			const char *what, size_t i)
{
	double err = fabs(got - want);
	if (!(err <= abs_tol + rel_tol * fabs(want)))
		fail_msg("%s #%zu: got %.17g, want %.17g (error %.3g)", what, i, got, want, err);
}

static void check_p(double got, double want, const char *what, size_t i)
{
	double err = fabs(got - want);
	if (err > max_err_p)
		max_err_p = err;
	check_close(got, want, P_TOL, 0.0, what, i);
}

/* ---- sorting ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_sort_matches_qsort(void **state)
{
	(void)state;
	size_t sizes[] = {0, 1, 2, 5, 47, 48, 49, 1000, 100003};
	uint64_t st = 42;
	for (size_t s = 0; s < COUNT(sizes); s++) {
		size_t n = sizes[s];
		double *v = malloc((n + 1) * sizeof(double)), *w = malloc((n + 1) * sizeof(double));
		assert_true(v && w);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = splitmix(&st);
			switch (r % 5) {
			case 0: v[i] = (double)(int64_t)(r >> 40) - 8e6; break;
			case 1: v[i] = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 1e-300; break;
			case 2: v[i] = (r & 8) ? -0.0 : 0.0; break;
			case 3: v[i] = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 1e300; break;
			default: v[i] = (double)(r % 7) - 3.0; break;
			}
			w[i] = v[i] + 0.0;
		}
		assert_int_equal(mlops_drift_sort(v, n), 0);
		qsort(w, n, sizeof(double), cmp_double);
		for (size_t i = 0; i < n; i++) {
			if (v[i] != w[i])
				fail_msg("n=%zu: position %zu holds %g, want %g", n, i, v[i], w[i]);
			assert_false(signbit(v[i]) && v[i] == 0.0); /* -0.0 normalised */
		}
		free(v);
		free(w);
	}
}

static void test_sort_rejects_nonfinite(void **state)
{
	(void)state;
	double v[] = {3.0, 1.0, NAN, 2.0};
	assert_int_equal(mlops_drift_sort(v, 4), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "value 3 is not finite"));
	assert_true(v[0] == 3.0 && v[1] == 1.0); /* untouched */
	double w[] = {1.0, INFINITY};
	assert_int_equal(mlops_drift_sort(w, 2), MLOPS_EINVALID);
}

/* ---- Kolmogorov-Smirnov ------------------------------------------------- */

static void test_ks_hand_cases(void **state)
{
	(void)state;
	struct mlops_ks_result r;

	/* Identical samples: the ECDFs coincide, D = 0, p = 1. */
	double a[] = {0.5, -1.0, 2.0, 2.0, 7.0};
	assert_int_equal(mlops_drift_ks(&r, a, 5, a, 5), 0);
	assert_true(r.statistic == 0.0);
	assert_true(r.pvalue == 1.0);
	assert_int_equal(r.method, MLOPS_KS_EXACT);

	/* Disjoint samples of 5 and 5: D = 1.  Of the C(10,5) = 252
	 * orderings only "all of a first" and "all of b first" reach D = 1,
	 * so p = 2/252. */
	double lo[] = {1, 2, 3, 4, 5}, hi[] = {10, 11, 12, 13, 14};
	assert_int_equal(mlops_drift_ks(&r, lo, 5, hi, 5), 0);
	assert_true(r.statistic == 1.0);
	check_close(r.pvalue, 2.0 / 252.0, 1e-15, 0, "disjoint 5/5 p", 0);
	assert_true(r.location == 5.0); /* F1 - F2 reaches 1 at x = 5 */
	assert_int_equal(r.sign, 1);

	/* Disjoint 3 and 4, current below: D = 1, sign -1, p = 2/C(7,3). */
	double c3[] = {7, 8, 9}, c4[] = {1, 2, 3, 4};
	assert_int_equal(mlops_drift_ks(&r, c3, 3, c4, 4), 0);
	assert_true(r.statistic == 1.0);
	assert_int_equal(r.sign, -1);
	assert_true(r.location == 4.0);
	check_close(r.pvalue, 2.0 / 35.0, 1e-15, 0, "disjoint 3/4 p", 0);

	/* {1,2,3} vs {2,3,4,5}: F1 - F2 at 1,2,3 = 1/3, 2/3-1/4, 1-1/2; D = 1/2
	 * at x = 3.  Enumerating the C(7,3) = 35 interleavings of 3 a's and
	 * 4 b's, 23 reach D >= 1/2: p = 23/35. */
	double d1[] = {1, 2, 3}, d2[] = {2, 3, 4, 5};
	assert_int_equal(mlops_drift_ks(&r, d1, 3, d2, 4), 0);
	check_close(r.statistic, 0.5, 1e-15, 0, "small D", 0);
	check_close(r.pvalue, 23.0 / 35.0, 1e-12, 0, "small p", 0);
	assert_true(r.location == 3.0);

	/* Input order does not matter, and inputs are not modified. */
	double s1[] = {3, 1, 2}, s2[] = {5, 2, 4, 3};
	assert_int_equal(mlops_drift_ks(&r, s1, 3, s2, 4), 0);
	check_close(r.statistic, 0.5, 1e-15, 0, "unsorted D", 0);
	assert_true(s1[0] == 3 && s2[0] == 5);
}

static void test_ks_exact_underflow(void **state)
{
	(void)state;
	/* 10000 vs 9999 disjoint: D = 1, n1 n2/(n1+n2) D^2 ~ 5000 is far past
	 * MLOPS_KS_UNDERFLOW, so p = 0 at once (the smallest possible exact
	 * p-value, 2/C(19999, 9999), is ~1e-6000). */
	size_t na = 10000, nb = 9999;
	double *a = malloc(na * sizeof(double)), *b = malloc(nb * sizeof(double));
	assert_true(a && b);
	for (size_t i = 0; i < na; i++)
		a[i] = (double)i;
	for (size_t i = 0; i < nb; i++)
		b[i] = 1e5 + (double)i;
	struct mlops_ks_result r;
	assert_int_equal(mlops_drift_ks(&r, a, na, b, nb), 0);
	assert_true(r.statistic == 1.0 && r.pvalue == 0.0);
	assert_int_equal(r.method, MLOPS_KS_EXACT);
	assert_int_equal(r.sign, 1);
	assert_true(r.location == 9999.0);
	free(a);
	free(b);
}

static void test_ks_errors(void **state)
{
	(void)state;
	struct mlops_ks_result r;
	double a[] = {1, 2, 3}, unsorted[] = {2, 1, 3}, bad[] = {1, NAN};

	assert_int_equal(mlops_drift_ks(&r, a, 0, a, 3), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "empty baseline sample"));
	assert_int_equal(mlops_drift_ks(&r, a, 3, bad, 2), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "current value 2 is not finite"));
	assert_int_equal(mlops_drift_ks_sorted(&r, a, 3, unsorted, 3), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "not sorted"));
	assert_int_equal(mlops_drift_ks_sorted(&r, a, 3, a, 3), 0);
}

static void test_ks_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(fx_ks_cases); i++) {
		const struct fx_ks *c = &fx_ks_cases[i];
		double *a = make_sample(&c->a), *b = make_sample(&c->b);
		struct mlops_ks_result r;
		assert_int_equal(mlops_drift_ks(&r, a, c->a.n, b, c->b.n), 0);
		check_close(r.statistic, c->statistic, STAT_TOL, 0, "ks statistic", i);
		check_p(r.pvalue, c->pvalue, "ks p-value", i);
		/* Beyond the contract: agree in relative terms too. */
		check_close(r.pvalue, c->pvalue, 1e-300, 1e-6, "ks p-value (relative)", i);
		assert_int_equal(r.method, c->method);
		if (r.location != c->location || r.sign != c->sign)
			fail_msg("ks #%zu: location %.17g sign %d, want %.17g %d", i, r.location,
				 r.sign, c->location, c->sign);
		free(a);
		free(b);
	}
}

static void test_kolmogorov_points(void **state)
{
	(void)state;
	double worst = 0;
	for (size_t i = 0; i < COUNT(fx_kolmogorov_points); i++) {
		const struct fx_point *pt = &fx_kolmogorov_points[i];
		double sf;
		assert_int_equal(mlops_kolmogorov_sf(&sf, pt->n, pt->d), 0);
		check_p(sf, pt->sf, "kstwo.sf", i);
		check_close(sf, pt->sf, 1e-13, 1e-7, "kstwo.sf (tight)", i);
		if (fabs(sf - pt->sf) > worst)
			worst = fabs(sf - pt->sf);
	}
	print_message("kstwo.sf: %zu points, largest error %.2g\n",
		      COUNT(fx_kolmogorov_points), worst);
	double sf;
	assert_int_equal(mlops_kolmogorov_sf(&sf, 0.0, 0.5), 0);
	assert_true(isnan(sf));
	assert_int_equal(mlops_kolmogorov_sf(&sf, 2.5, 0.5), 0);
	assert_true(isnan(sf));
}

static void test_smirnov_points(void **state)
{
	(void)state;
	double worst = 0;
	for (size_t i = 0; i < COUNT(fx_smirnov_points); i++) {
		const struct fx_point *pt = &fx_smirnov_points[i];
		double sf = mlops_smirnov_sf(pt->n, pt->d);
		check_p(sf, pt->sf, "smirnov", i);
		check_close(sf, pt->sf, 1e-13, 1e-8, "smirnov (tight)", i);
		if (fabs(sf - pt->sf) > worst)
			worst = fabs(sf - pt->sf);
	}
	print_message("smirnov: %zu points, largest error %.2g\n", COUNT(fx_smirnov_points),
		      worst);
	/* n = 1: the single point is uniform, P(D+ >= d) = 1 - d. */
	check_close(mlops_smirnov_sf(1, 0.25), 0.75, 1e-15, 0, "smirnov n=1", 0);
	assert_true(isnan(mlops_smirnov_sf(3, 1.5)));
}

static void test_gamma_points(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(fx_gamma_points); i++) {
		const struct fx_gamma *g = &fx_gamma_points[i];
		check_close(mlops_gamma_p(g->a, g->x), g->p, 1e-14, 1e-10, "gammainc", i);
		check_close(mlops_gamma_q(g->a, g->x), g->q, 1e-14, 1e-10, "gammaincc", i);
	}
	/* Q(1, x) = e^-x;  Q(1/2, x) = erfc(sqrt(x)). */
	check_close(mlops_gamma_q(1.0, 3.0), exp(-3.0), 0, 1e-14, "Q(1,3)", 0);
	check_close(mlops_gamma_q(0.5, 2.0), erfc(sqrt(2.0)), 0, 1e-13, "Q(1/2,2)", 0);
	/* chi2 with 2 dof: sf(x) = e^(-x/2). */
	check_close(mlops_chi2_sf(5.0, 2.0), exp(-2.5), 0, 1e-14, "chi2 sf", 0);
	assert_true(mlops_chi2_sf(-1.0, 3.0) == 1.0);
	assert_true(isnan(mlops_gamma_q(-1.0, 1.0)));
	assert_true(isnan(mlops_chi2_sf(1.0, 0.0)));
}

static void test_ks2_exact_direct(void **state)
{
	(void)state;
	double p;
	/* m = n = 2, D = 1 (h = 2): 2 of the C(4,2) = 6 paths. */
	assert_int_equal(mlops_ks2_exact_sf(&p, 2, 2, 2), 0);
	check_close(p, 2.0 / 6.0, 1e-15, 0, "ks2 2/2", 0);
	/* m = 2, n = 1, lcm 2: D >= 1 (h = 2) for orderings aab and baa only:
	 * 2 of 3. */
	assert_int_equal(mlops_ks2_exact_sf(&p, 2, 1, 2), 0);
	check_close(p, 2.0 / 3.0, 1e-15, 0, "ks2 2/1", 0);
	assert_int_equal(mlops_ks2_exact_sf(&p, 1, 2, 2), 0);
	check_close(p, 2.0 / 3.0, 1e-15, 0, "ks2 1/2", 0);
	/* D >= 1/2 (h = 1) always holds. */
	assert_int_equal(mlops_ks2_exact_sf(&p, 2, 1, 1), 0);
	check_close(p, 1.0, 1e-15, 0, "ks2 h=1", 0);
	assert_int_equal(mlops_ks2_exact_sf(&p, 0, 1, 1), MLOPS_EINVALID);
}

/* ---- chi-squared, PSI, Jensen-Shannon ----------------------------------- */

static void test_chi2_hand_cases(void **state)
{
	(void)state;
	struct mlops_chi2_result r;

	/* Baseline 1:1, current 60/40: expected 50/50, stat = 2 * 100/50 = 4,
	 * p = chi2.sf(4, 1) = erfc(sqrt(2)). */
	double b[] = {1, 1}, c[] = {60, 40};
	assert_int_equal(mlops_drift_chi2(&r, b, c, 2), 0);
	check_close(r.statistic, 4.0, 1e-15, 0, "chi2 stat", 0);
	check_close(r.pvalue, erfc(sqrt(2.0)), 1e-14, 0, "chi2 p", 0);
	assert_int_equal(r.dof, 1);

	/* Same proportions: stat 0, p 1. */
	double b2[] = {10, 20, 30}, c2[] = {1, 2, 3};
	assert_int_equal(mlops_drift_chi2(&r, b2, c2, 3), 0);
	check_close(r.statistic, 0.0, 1e-15, 0, "chi2 same", 0);
	check_close(r.pvalue, 1.0, 1e-15, 0, "chi2 same p", 0);

	/* A category empty on both sides is left out. */
	double b3[] = {1, 0, 1}, c3[] = {60, 0, 40};
	assert_int_equal(mlops_drift_chi2(&r, b3, c3, 3), 0);
	check_close(r.statistic, 4.0, 1e-15, 0, "chi2 dropped", 0);
	assert_int_equal(r.categories, 2);

	/* A new category: baseline proportions {0.5, 0.5, 1e-4}/1.0001. */
	double b4[] = {5, 5, 0}, c4[] = {50, 50, 1};
	assert_int_equal(mlops_drift_chi2(&r, b4, c4, 3), 0);
	double e1 = 0.5 / 1.0001 * 101, e3 = 1e-4 / 1.0001 * 101;
	double want = 2 * (50 - e1) * (50 - e1) / e1 + (1 - e3) * (1 - e3) / e3;
	check_close(r.statistic, want, 0, 1e-12, "chi2 new category", 0);

	/* One category: nothing to test. */
	double one[] = {5}, one_c[] = {7};
	assert_int_equal(mlops_drift_chi2(&r, one, one_c, 1), 0);
	assert_true(r.statistic == 0.0 && r.pvalue == 1.0 && r.dof == 0);

	double neg[] = {1, -1};
	assert_int_equal(mlops_drift_chi2(&r, neg, c, 2), MLOPS_EINVALID);
	double zero[] = {0, 0};
	assert_int_equal(mlops_drift_chi2(&r, b, zero, 2), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "current counts are all zero"));
}

static void test_chi2_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(fx_chi2_cases); i++) {
		const struct fx_chi2 *c = &fx_chi2_cases[i];
		struct mlops_chi2_result r;
		assert_int_equal(mlops_drift_chi2(&r, c->base, c->cur, c->k), 0);
		check_close(r.statistic, c->stat, 1e-12, STAT_TOL, "chisquare stat", i);
		check_p(r.pvalue, c->p, "chisquare p", i);
		check_close(r.pvalue, c->p, 1e-14, 1e-9, "chisquare p (tight)", i);
		assert_int_equal(r.dof, c->dof);
		assert_int_equal(mlops_drift_chi2_homogeneity(&r, c->base, c->cur, c->k, 0), 0);
		check_close(r.statistic, c->hstat, 1e-12, STAT_TOL, "contingency stat", i);
		check_close(r.pvalue, c->hp, 1e-14, 1e-9, "contingency p", i);
		assert_int_equal(mlops_drift_chi2_homogeneity(&r, c->base, c->cur, c->k, 1), 0);
		check_close(r.statistic, c->hystat, 1e-12, STAT_TOL, "contingency yates stat", i);
		check_close(r.pvalue, c->hyp, 1e-14, 1e-9, "contingency yates p", i);
	}
}

static void test_psi(void **state)
{
	(void)state;
	double psi;
	/* Identical distributions: 0. */
	double b[] = {0.25, 0.75}, c[] = {25, 75};
	assert_int_equal(mlops_drift_psi(&psi, b, c, 2), 0);
	check_close(psi, 0.0, 1e-15, 0, "psi same", 0);
	/* {0.5, 0.5} -> {0.75, 0.25}: 0.25 ln 1.5 - 0.25 ln 0.5 = 0.25 ln 3. */
	double b2[] = {0.5, 0.5}, c2[] = {75, 25};
	assert_int_equal(mlops_drift_psi(&psi, b2, c2, 2), 0);
	check_close(psi, 0.25 * log(3.0), 1e-15, 0, "psi hand", 0);
	/* An empty current bin counts as 1e-4. */
	double c3[] = {100, 0};
	assert_int_equal(mlops_drift_psi(&psi, b2, c3, 2), 0);
	double want = (1.0 - 0.5) * log(1.0 / 0.5) + (1e-4 - 0.5) * log(1e-4 / 0.5);
	check_close(psi, want, 1e-15, 1e-14, "psi eps", 0);

	for (size_t i = 0; i < COUNT(fx_psi_cases); i++) {
		const struct fx_psi *f = &fx_psi_cases[i];
		assert_int_equal(mlops_drift_psi(&psi, f->base, f->cur, f->k), 0);
		check_close(psi, f->psi, 1e-14, STAT_TOL, "psi", i);
	}
	assert_int_equal(mlops_drift_psi(&psi, b, c, 0), MLOPS_EINVALID);
}

static void test_jensenshannon(void **state)
{
	(void)state;
	double js;
	/* Disjoint supports: JS divergence = ln 2, distance in base 2 = 1. */
	double p[] = {1, 0}, q[] = {0, 1};
	assert_int_equal(mlops_drift_jensenshannon(&js, p, q, 2, 2.0), 0);
	check_close(js, 1.0, 1e-15, 0, "js disjoint base 2", 0);
	assert_int_equal(mlops_drift_jensenshannon(&js, p, q, 2, 0), 0);
	check_close(js, sqrt(log(2.0)), 1e-15, 0, "js disjoint base e", 0);
	double r[] = {2, 6};
	double s[] = {1, 3};
	assert_int_equal(mlops_drift_jensenshannon(&js, r, s, 2, 0), 0);
	check_close(js, 0.0, 1e-15, 0, "js same", 0);

	for (size_t i = 0; i < COUNT(fx_js_cases); i++) {
		const struct fx_js *f = &fx_js_cases[i];
		assert_int_equal(mlops_drift_jensenshannon(&js, f->p, f->q, f->k, 0), 0);
		check_close(js, f->js_e, 1e-12, STAT_TOL, "jensenshannon", i);
		assert_int_equal(mlops_drift_jensenshannon(&js, f->p, f->q, f->k, 2.0), 0);
		check_close(js, f->js_2, 1e-12, STAT_TOL, "jensenshannon base 2", i);
	}
	assert_int_equal(mlops_drift_jensenshannon(&js, p, q, 2, 1.0), MLOPS_EINVALID);
}

/* ---- Wasserstein, binning ------------------------------------------------ */

static void test_wasserstein(void **state)
{
	(void)state;
	double w;
	/* A shift by 5 moves every unit of mass 5. */
	double a[] = {0, 1, 3}, b[] = {5, 6, 8};
	assert_int_equal(mlops_drift_wasserstein(&w, a, 3, b, 3), 0);
	check_close(w, 5.0, 1e-15, 0, "wasserstein shift", 0);
	/* {0} vs {0, 2}: |F1 - F2| = 1/2 on [0, 2): 1. */
	double z[] = {0}, z2[] = {2, 0};
	assert_int_equal(mlops_drift_wasserstein(&w, z, 1, z2, 2), 0);
	check_close(w, 1.0, 1e-15, 0, "wasserstein half", 0);
	/* Normalised by std({0, 1, 3}) = sqrt(14/9). */
	assert_int_equal(mlops_drift_wasserstein_norm(&w, a, 3, b, 3), 0);
	check_close(w, 5.0 / sqrt(14.0 / 9.0), 1e-14, 0, "wasserstein norm", 0);
	/* A constant baseline divides by 1e-3. */
	assert_int_equal(mlops_drift_wasserstein_norm(&w, z, 1, z2, 2), 0);
	check_close(w, 1000.0, 1e-9, 0, "wasserstein norm floor", 0);

	for (size_t i = 0; i < COUNT(fx_wass_cases); i++) {
		const struct fx_wass *c = &fx_wass_cases[i];
		double *sa = make_sample(&c->a), *sb = make_sample(&c->b);
		assert_int_equal(mlops_drift_wasserstein(&w, sa, c->a.n, sb, c->b.n), 0);
		check_close(w, c->distance, 1e-13, STAT_TOL, "wasserstein", i);
		assert_int_equal(mlops_drift_wasserstein_norm(&w, sa, c->a.n, sb, c->b.n), 0);
		check_close(w, c->norm, 1e-13, STAT_TOL, "wasserstein norm", i);
		free(sa);
		free(sb);
	}
	assert_int_equal(mlops_drift_wasserstein(&w, a, 0, b, 3), MLOPS_EINVALID);
}

static void test_edges_and_counts(void **state)
{
	(void)state;
	double *edges = NULL;
	size_t ne;

	/* 0..10 in 5 bins: quantiles at 0, 2, 4, 6, 8, 10. */
	double lin[11];
	for (int i = 0; i <= 10; i++)
		lin[i] = 10 - i;
	assert_int_equal(mlops_drift_quantile_edges(&edges, &ne, lin, 11, 5), 0);
	assert_int_equal(ne, 6);
	for (size_t i = 0; i < ne; i++)
		check_close(edges[i], 2.0 * i, 1e-15, 0, "linear edges", i);
	/* Outside values land in the end bins; an edge value opens its bin. */
	double vals[] = {-5, 0, 1.9, 2, 5, 9.99, 10, 42};
	double counts[5];
	assert_int_equal(mlops_drift_bin_counts(counts, edges, ne, vals, 8), 0);
	const double want[5] = {3, 1, 1, 0, 3};
	for (int i = 0; i < 5; i++)
		check_close(counts[i], want[i], 0, 0, "bin counts", (size_t)i);
	mlops_drift_edges_free(edges);

	/* Ties merged: {1,1,1,1,2} in 4 bins has quantiles 1,1,1,1,2. */
	double ties[] = {1, 1, 2, 1, 1};
	assert_int_equal(mlops_drift_quantile_edges(&edges, &ne, ties, 5, 4), 0);
	assert_int_equal(ne, 2);
	assert_true(edges[0] == 1.0 && edges[1] == 2.0);
	mlops_drift_edges_free(edges);

	for (size_t i = 0; i < COUNT(fx_edges_cases); i++) {
		const struct fx_edges *c = &fx_edges_cases[i];
		double *s = make_sample(&c->s), *v = make_sample(&c->v);
		double got[32];
		assert_int_equal(mlops_drift_quantile_edges(&edges, &ne, s, c->s.n, c->nbins), 0);
		assert_int_equal(ne, c->nedges);
		for (size_t j = 0; j < ne; j++)
			check_close(edges[j], c->edges[j], 1e-15, 1e-12, "quantile edge", i);
		assert_int_equal(mlops_drift_bin_counts(got, edges, ne, v, c->v.n), 0);
		for (size_t j = 0; j + 1 < ne; j++)
			check_close(got[j], c->counts[j], 0, 0, "bin count", i);
		mlops_drift_edges_free(edges);
		free(s);
		free(v);
	}
	mlops_drift_edges_free(NULL);
	assert_int_equal(mlops_drift_quantile_edges(&edges, &ne, lin, 11, 0), MLOPS_EINVALID);
	assert_null(edges);
}

/* ---- reservoir ------------------------------------------------------------ */

static void test_reservoir_fill_and_determinism(void **state)
{
	(void)state;
	struct mlops_reservoir *r = NULL, *r2 = NULL;
	size_t n;
	const double *v;

	assert_int_equal(mlops_reservoir_new(&r, 5, 7), 0);
	for (int i = 0; i < 3; i++)
		mlops_reservoir_add(r, i * 10.0);
	v = mlops_reservoir_values(r, &n);
	assert_int_equal(n, 3);
	assert_true(v[0] == 0 && v[1] == 10 && v[2] == 20);
	mlops_reservoir_free(r);

	/* Same seed and stream, value by value or in bulk: same sample. */
	double *stream = malloc(100000 * sizeof(double));
	assert_non_null(stream);
	for (int i = 0; i < 100000; i++)
		stream[i] = i;
	assert_int_equal(mlops_reservoir_new(&r, 1000, 99), 0);
	assert_int_equal(mlops_reservoir_new(&r2, 1000, 99), 0);
	for (int i = 0; i < 100000; i++)
		mlops_reservoir_add(r, stream[i]);
	mlops_reservoir_add_many(r2, stream, 12345);
	mlops_reservoir_add_many(r2, stream + 12345, 100000 - 12345);
	size_t n2;
	const double *v2 = mlops_reservoir_values(r2, &n2);
	v = mlops_reservoir_values(r, &n);
	assert_int_equal(n, 1000);
	assert_int_equal(n2, 1000);
	assert_int_equal(mlops_reservoir_seen(r), 100000);
	assert_int_equal(mlops_reservoir_seen(r2), 100000);
	assert_memory_equal(v, v2, 1000 * sizeof(double));
	double *first = malloc(1000 * sizeof(double));
	assert_non_null(first);
	memcpy(first, v, 1000 * sizeof(double));

	/* A uniform sample of 0..99999: distinct values, mean near 50000
	 * (sd of the mean ~ 28868/sqrt(1000) = 913; allow 4 sd). */
	double mean = 0;
	double *sorted = malloc(1000 * sizeof(double));
	assert_non_null(sorted);
	memcpy(sorted, v, 1000 * sizeof(double));
	qsort(sorted, 1000, sizeof(double), cmp_double);
	for (int i = 0; i < 1000; i++) {
		mean += sorted[i] / 1000;
		if (i > 0)
			assert_true(sorted[i] > sorted[i - 1]);
	}
	assert_true(fabs(mean - 49999.5) < 4 * 913);
	/* And a KS test against the full stream does not reject. */
	struct mlops_ks_result ks;
	assert_int_equal(mlops_drift_ks(&ks, stream, 100000, sorted, 1000), 0);
	assert_true(ks.pvalue > 0.001);
	mlops_reservoir_free(r);
	mlops_reservoir_free(r2);
	free(sorted);

	/* Another seed, another sample. */
	assert_int_equal(mlops_reservoir_new(&r, 1000, 100), 0);
	mlops_reservoir_add_many(r, stream, 100000);
	v = mlops_reservoir_values(r, &n);
	assert_true(memcmp(v, first, 1000 * sizeof(double)) != 0);
	mlops_reservoir_free(r);
	free(first);
	free(stream);

	mlops_reservoir_free(NULL);
	assert_int_equal(mlops_reservoir_new(&r, 0, 1), MLOPS_EINVALID);
	assert_null(r);
}

static void test_reservoir_inclusion_uniform(void **state)
{
	(void)state;
	/* Over 4000 seeds, keep 10 of 100: every position is kept with
	 * probability 0.1, so each of the first, a middle and the last item
	 * is kept ~400 times (sd 19); allow 5 sd.  An off-by-one in the skip
	 * distribution shows up at the ends. */
	int kept_first = 0, kept_mid = 0, kept_last = 0, kept_11 = 0;
	for (uint64_t seed = 1; seed <= 4000; seed++) {
		struct mlops_reservoir *r = NULL;
		assert_int_equal(mlops_reservoir_new(&r, 10, seed), 0);
		for (int i = 0; i < 100; i++)
			mlops_reservoir_add(r, i);
		size_t n;
		const double *v = mlops_reservoir_values(r, &n);
		for (size_t j = 0; j < n; j++) {
			kept_first += v[j] == 0;
			kept_mid += v[j] == 50;
			kept_last += v[j] == 99;
			kept_11 += v[j] == 10;
		}
		mlops_reservoir_free(r);
	}
	assert_in_range(kept_first, 305, 495);
	assert_in_range(kept_mid, 305, 495);
	assert_in_range(kept_last, 305, 495);
	assert_in_range(kept_11, 305, 495);
}

/* ---- live comparison against SciPy --------------------------------------- */

static int parse_spec(char **p, struct fx_sample *s)
{
	char *end;
	s->kind = (int)strtol(*p, &end, 10);
	s->n = strtoull(end, &end, 10);
	s->seed = strtoull(end, &end, 10);
	s->loc = strtod(end, &end);
	s->scale = strtod(end, &end);
	*p = end;
	return 0;
}

static void test_live_scipy(void **state)
{
	(void)state;
	char gen[4096];
	const char *file = __FILE__;
	const char *slash = strstr(file, "unit/test_drift.c");
	if (!slash || access("/usr/bin/python3", X_OK) != 0) {
		print_message("live scipy comparison skipped: no /usr/bin/python3\n");
		return;
	}
	snprintf(gen, sizeof(gen), "%.*sfixtures/drift/gen.py", (int)(slash - file), file);
	if (access(gen, R_OK) != 0) {
		print_message("live scipy comparison skipped: %s not found from here\n", gen);
		return;
	}
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --live 20240611 10 2>/dev/null", gen);
	FILE *fp = popen(cmd, "r");
	assert_non_null(fp);
	char line[8192];
	size_t nks = 0, nw = 0, ncat = 0;
	while (fgets(line, sizeof(line), fp)) {
		char *p = line;
		if (strncmp(line, "ks ", 3) == 0) {
			struct fx_sample a, b;
			p += 3;
			parse_spec(&p, &a);
			parse_spec(&p, &b);
			double d = strtod(p, &p), pv = strtod(p, &p), loc = strtod(p, &p);
			int sign = (int)strtol(p, &p, 10), method = (int)strtol(p, &p, 10);
			double *sa = make_sample(&a), *sb = make_sample(&b);
			struct mlops_ks_result r;
			assert_int_equal(mlops_drift_ks(&r, sa, a.n, sb, b.n), 0);
			check_close(r.statistic, d, STAT_TOL, 0, "live ks statistic", nks);
			check_p(r.pvalue, pv, "live ks p-value", nks);
			assert_int_equal(r.method, method);
			if (r.location != loc || r.sign != sign)
				fail_msg("live ks #%zu: location %.17g/%d want %.17g/%d", nks,
					 r.location, r.sign, loc, sign);
			free(sa);
			free(sb);
			nks++;
		} else if (strncmp(line, "wass ", 5) == 0) {
			struct fx_sample a, b;
			p += 5;
			parse_spec(&p, &a);
			parse_spec(&p, &b);
			double want = strtod(p, &p), want_norm = strtod(p, &p), w;
			double *sa = make_sample(&a), *sb = make_sample(&b);
			assert_int_equal(mlops_drift_wasserstein(&w, sa, a.n, sb, b.n), 0);
			check_close(w, want, 1e-13, STAT_TOL, "live wasserstein", nw);
			assert_int_equal(mlops_drift_wasserstein_norm(&w, sa, a.n, sb, b.n), 0);
			check_close(w, want_norm, 1e-13, STAT_TOL, "live wasserstein norm", nw);
			free(sa);
			free(sb);
			nw++;
		} else if (strncmp(line, "cat ", 4) == 0) {
			double base[64], cur[64], v;
			p += 4;
			size_t k = strtoull(p, &p, 10);
			assert_true(k > 0 && k <= 64);
			for (size_t i = 0; i < k; i++)
				base[i] = strtod(p, &p);
			for (size_t i = 0; i < k; i++)
				cur[i] = strtod(p, &p);
			double st = strtod(p, &p), pv = strtod(p, &p);
			size_t dof = strtoull(p, &p, 10);
			double hs = strtod(p, &p), hp = strtod(p, &p), hys = strtod(p, &p),
			       hyp = strtod(p, &p), psi = strtod(p, &p), je = strtod(p, &p),
			       j2 = strtod(p, &p);
			struct mlops_chi2_result r;
			assert_int_equal(mlops_drift_chi2(&r, base, cur, k), 0);
			check_close(r.statistic, st, 1e-12, STAT_TOL, "live chisquare", ncat);
			check_p(r.pvalue, pv, "live chisquare p", ncat);
			assert_int_equal(r.dof, dof);
			assert_int_equal(mlops_drift_chi2_homogeneity(&r, base, cur, k, 0), 0);
			check_close(r.statistic, hs, 1e-12, STAT_TOL, "live contingency", ncat);
			check_p(r.pvalue, hp, "live contingency p", ncat);
			assert_int_equal(mlops_drift_chi2_homogeneity(&r, base, cur, k, 1), 0);
			check_close(r.statistic, hys, 1e-12, STAT_TOL, "live contingency yates", ncat);
			check_p(r.pvalue, hyp, "live contingency yates p", ncat);
			assert_int_equal(mlops_drift_psi(&v, base, cur, k), 0);
			check_close(v, psi, 1e-13, STAT_TOL, "live psi", ncat);
			assert_int_equal(mlops_drift_jensenshannon(&v, base, cur, k, 0), 0);
			check_close(v, je, 1e-13, STAT_TOL, "live jensenshannon", ncat);
			assert_int_equal(mlops_drift_jensenshannon(&v, base, cur, k, 2), 0);
			check_close(v, j2, 1e-13, STAT_TOL, "live jensenshannon base 2", ncat);
			ncat++;
		}
	}
	int status = pclose(fp);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		print_message("live scipy comparison skipped: scipy not importable\n");
		return;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(nks, 10);
	print_message("live scipy comparison: %zu ks, %zu wasserstein, %zu categorical cases\n",
		      nks, nw, ncat);
}

/* ---- speed ---------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_ks_million_rows(void **state)
{
	(void)state;
	const struct fx_sample sa = {1, 1000000, 1001, 0.0, 1.0};
	const struct fx_sample sb = {1, 1000000, 1002, 0.001, 1.0};
	const struct fx_sample sc = {1, 5000, 1003, 0.0, 1.0};
	double *a = make_sample(&sa), *b = make_sample(&sb), *c = make_sample(&sc);
	struct mlops_ks_result r;

	double t0 = now_ms();
	assert_int_equal(mlops_drift_ks(&r, a, sa.n, b, sb.n), 0);
	double t1 = now_ms();
	assert_int_equal(mlops_drift_ks(&r, c, sc.n, b, sb.n), 0);
	double t2 = now_ms();
	double w;
	assert_int_equal(mlops_drift_wasserstein(&w, a, sa.n, b, sb.n), 0);
	double t3 = now_ms();
	print_message("cpu time: 1e6 vs 1e6 ks %.1f ms; 5000 vs 1e6 ks %.1f ms; "
		      "1e6 vs 1e6 wasserstein %.1f ms\n",
		      t1 - t0, t2 - t1, t3 - t2);
	assert_int_equal(r.method, MLOPS_KS_ASYMP);
	free(a);
	free(b);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort_matches_qsort),
		cmocka_unit_test(test_sort_rejects_nonfinite),
		cmocka_unit_test(test_ks_hand_cases),
		cmocka_unit_test(test_ks_exact_underflow),
		cmocka_unit_test(test_ks_errors),
		cmocka_unit_test(test_ks_fixtures),
		cmocka_unit_test(test_kolmogorov_points),
		cmocka_unit_test(test_smirnov_points),
		cmocka_unit_test(test_gamma_points),
		cmocka_unit_test(test_ks2_exact_direct),
		cmocka_unit_test(test_chi2_hand_cases),
		cmocka_unit_test(test_chi2_fixtures),
		cmocka_unit_test(test_psi),
		cmocka_unit_test(test_jensenshannon),
		cmocka_unit_test(test_wasserstein),
		cmocka_unit_test(test_edges_and_counts),
		cmocka_unit_test(test_reservoir_fill_and_determinism),
		cmocka_unit_test(test_reservoir_inclusion_uniform),
		cmocka_unit_test(test_live_scipy),
		cmocka_unit_test(test_ks_million_rows),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	print_message("largest p-value error against scipy: %.3g\n", max_err_p);
	return failed;
}
