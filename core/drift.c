/*
 * drift.c - drift statistics of a live column against its training
 * baseline: Kolmogorov-Smirnov, chi-squared, PSI, Wasserstein-1,
 * Jensen-Shannon, quantile binning and a seeded reservoir sample.
 *
 * Design notes.
 *  - Samples are sorted with an LSD radix sort on the order-preserving
 *    bit pattern of each double (11-bit digits, passes whose digit is the
 *    same for every key skipped): a million values sort in a few ms,
 *    several times faster than qsort.
 *  - KS and Wasserstein then walk the two sorted samples once, taking all
 *    copies of a value together, so ties are handled as SciPy's
 *    searchsorted(side='right') handles them.  The ECDF differences are
 *    formed exactly as NumPy forms them (i/n1 - j/n2 in doubles), so the
 *    statistic, its location and the exact-method rounding to h/lcm are
 *    SciPy's own.
 *  - The p-value distributions live in mathfn.c.
 */
#include "core/drift.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/mathfn.h"
#include "store/error.h"

/* ---- sorting ---------------------------------------------------------- */

#define SIGN_BIT (UINT64_C(1) << 63)
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES 6 /* 6 * 11 >= 64 */
#define SMALL_SORT 48

/* An unsigned key with the order of the doubles. */
static inline uint64_t key_of(double v)
{
	uint64_t u;
	v += 0.0; /* -0.0 -> 0.0 */
	memcpy(&u, &v, sizeof(u));
	return (u & SIGN_BIT) ? ~u : (u | SIGN_BIT);
}

static inline double value_of(uint64_t k)
{
	uint64_t u = (k & SIGN_BIT) ? (k & ~SIGN_BIT) : ~k;
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static int check_finite(const double *v, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return mlops_error_set(MLOPS_EINVALID, "%s value %zu is not finite (%g)",
					       what, i + 1, v[i]);
	return 0;
}

static void insertion_sort_keys(uint64_t *k, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = k[i];
		size_t j = i;
		for (; j > 0 && k[j - 1] > x; j--)
			k[j] = k[j - 1];
		k[j] = x;
	}
}

/* Sort keys; the result ends in *keys (buffers may be swapped). */
static void radix_sort_keys(uint64_t **keys, uint64_t **tmp, size_t n)
{
	size_t hist[RADIX_PASSES][RADIX_SIZE]; /* 96 KiB */
	uint64_t *src = *keys, *dst = *tmp;

	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = src[i];
		for (int p = 0; p < RADIX_PASSES; p++)
			hist[p][(k >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
	}
	for (int p = 0; p < RADIX_PASSES; p++) {
		size_t *h = hist[p];
		unsigned shift = (unsigned)(p * RADIX_BITS);
		if (h[(src[0] >> shift) & (RADIX_SIZE - 1)] == n)
			continue; /* every key has the same digit */
		size_t sum = 0;
		for (unsigned d = 0; d < RADIX_SIZE; d++) {
			size_t c = h[d];
			h[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t k = src[i];
			dst[h[(k >> shift) & (RADIX_SIZE - 1)]++] = k;
		}
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	*keys = src;
	*tmp = dst;
}

/*
 * Sorted keys of src[0..n), n >= 1: *keys_out holds them, *spare_out is a
 * scratch buffer of the same size (or NULL); the caller frees both.
 */
static int sort_keys(uint64_t **keys_out, uint64_t **spare_out, const double *src, size_t n,
		     const char *what)
{
	uint64_t *keys = NULL, *tmp = NULL;
	int error = 0;

	*keys_out = *spare_out = NULL;
	keys = malloc(n * sizeof(*keys));
	if (n > SMALL_SORT)
		tmp = malloc(n * sizeof(*tmp));
	if (!keys || (n > SMALL_SORT && !tmp)) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory sorting %zu values", n);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(src[i])) {
			error = check_finite(src, n, what);
			goto cleanup;
		}
		keys[i] = key_of(src[i]);
	}
	if (n <= SMALL_SORT)
		insertion_sort_keys(keys, n);
	else
		radix_sort_keys(&keys, &tmp, n);
	*keys_out = keys;
	*spare_out = tmp;
	keys = tmp = NULL;

cleanup:
	free(keys);
	free(tmp);
	return error;
}

int mlops_drift_sort(double *values, size_t n)
{
	uint64_t *keys, *spare;
	int error;

	if (n == 0)
		return 0;
	if ((error = sort_keys(&keys, &spare, values, n, "sample")) < 0)
		return error;
	for (size_t i = 0; i < n; i++)
		values[i] = value_of(keys[i]);
	free(keys);
	free(spare);
	return 0;
}

/*
 * A sorted copy of v[0..n) (n >= 1), or NULL with the error set.  The
 * keys are turned back into doubles in their own buffer, element by
 * element through memcpy, so no third buffer is needed.
 */
static int sorted_copy(double **out, const double *v, size_t n, const char *what)
{
	uint64_t *keys, *spare;
	int error;

	*out = NULL;
	if ((error = sort_keys(&keys, &spare, v, n, what)) < 0)
		return error;
	free(spare);
	unsigned char *bytes = (unsigned char *)keys;
	for (size_t i = 0; i < n; i++) {
		uint64_t k;
		memcpy(&k, bytes + i * sizeof(k), sizeof(k));
		double x = value_of(k);
		memcpy(bytes + i * sizeof(x), &x, sizeof(x));
	}
	*out = (double *)(void *)keys;
	return 0;
}

static int check_sorted(const double *v, size_t n, const char *what)
{
	int error;
	if ((error = check_finite(v, n, what)) < 0)
		return error;
	for (size_t i = 1; i < n; i++)
		if (v[i] < v[i - 1])
			return mlops_error_set(MLOPS_EINVALID, "%s sample is not sorted at value %zu",
					       what, i + 1);
	return 0;
}

/* ---- Kolmogorov-Smirnov ------------------------------------------------ */

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Extremes of F1 - F2 over the values of one sample, first occurrence. */
struct ks_extremes {
	double max, min;
	double at_max, at_min;
};

static void ks_walk(struct mlops_ks_result *out, const double *a, size_t na,
		   const double *b, size_t nb)
{
	struct ks_extremes ea = {-INFINITY, INFINITY, 0, 0};
	struct ks_extremes eb = {-INFINITY, INFINITY, 0, 0};
	double dna = (double)na, dnb = (double)nb;
	size_t i = 0, j = 0;

	while (i < na || j < nb) {
		double x;
		if (j >= nb || (i < na && a[i] <= b[j]))
			x = a[i];
		else
			x = b[j];
		bool in_a = false, in_b = false;
		while (i < na && a[i] == x)
			i++, in_a = true;
		while (j < nb && b[j] == x)
			j++, in_b = true;
		double diff = (double)i / dna - (double)j / dnb;
		if (in_a) {
			if (diff > ea.max)
				ea.max = diff, ea.at_max = x;
			if (diff < ea.min)
				ea.min = diff, ea.at_min = x;
		}
		if (in_b) {
			if (diff > eb.max)
				eb.max = diff, eb.at_max = x;
			if (diff < eb.min)
				eb.min = diff, eb.at_min = x;
		}
	}

	/* SciPy takes argmax/argmin over concat(sorted a, sorted b): a value
	 * of a wins a tie with a value of b. */
	double max_s = ea.max >= eb.max ? ea.max : eb.max;
	double at_max = ea.max >= eb.max ? ea.at_max : eb.at_max;
	double min_raw = ea.min <= eb.min ? ea.min : eb.min;
	double at_min = ea.min <= eb.min ? ea.at_min : eb.at_min;
	double min_s = -min_raw;
	if (min_s < 0.0)
		min_s = 0.0;
	if (min_s > 1.0)
		min_s = 1.0;

	if (min_s > max_s) {
		out->statistic = min_s;
		out->location = at_min;
		out->sign = -1;
	} else {
		out->statistic = max_s;
		out->location = at_max;
		out->sign = 1;
	}
}

/* The statistic and p-value of two sorted, non-empty samples. */
static int ks_core(struct mlops_ks_result *out, const double *a, size_t na,
		   const double *b, size_t nb)
{
	int error;
	double p;

	ks_walk(out, a, na, b, nb);

	double m = (double)(na > nb ? na : nb), n = (double)(na > nb ? nb : na);
	double en = m * n / (m + n);
	if (na <= MLOPS_KS_EXACT_MAX_N && nb <= MLOPS_KS_EXACT_MAX_N) {
		uint64_t g = gcd_u64(na, nb);
		uint64_t lcm = (uint64_t)(na / g) * nb;
		double h = nearbyint(out->statistic * (double)lcm);
		out->statistic = h / (double)lcm;
		if (en * out->statistic * out->statistic >= MLOPS_KS_UNDERFLOW)
			p = 0.0;
		else if ((error = mlops_ks2_exact_sf(&p, na, nb, (uint64_t)h)) < 0)
			return error;
		out->method = MLOPS_KS_EXACT;
	} else {
		if ((error = mlops_kolmogorov_sf(&p, nearbyint(en), out->statistic)) < 0)
			return error;
		out->method = MLOPS_KS_ASYMP;
	}
	out->pvalue = p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
	return 0;
}

int mlops_drift_ks_sorted(struct mlops_ks_result *out, const double *a, size_t na,
			  const double *b, size_t nb)
{
	int error;

	if (na == 0 || nb == 0)
		return mlops_error_set(MLOPS_EINVALID, "empty %s sample in ks test",
				       na == 0 ? "baseline" : "current");
	if ((error = check_sorted(a, na, "baseline")) < 0 ||
	    (error = check_sorted(b, nb, "current")) < 0)
		return error;
	return ks_core(out, a, na, b, nb);
}

int mlops_drift_ks(struct mlops_ks_result *out, const double *a, size_t na,
		   const double *b, size_t nb)
{
	double *sa = NULL, *sb = NULL;
	int error;

	if (na == 0 || nb == 0)
		return mlops_error_set(MLOPS_EINVALID, "empty %s sample in ks test",
				       na == 0 ? "baseline" : "current");
	if ((error = sorted_copy(&sa, a, na, "baseline")) < 0 ||
	    (error = sorted_copy(&sb, b, nb, "current")) < 0)
		goto cleanup;
	error = ks_core(out, sa, na, sb, nb);

cleanup:
	free(sa);
	free(sb);
	return error;
}

/* ---- chi-squared ------------------------------------------------------- */

static int check_weights(const double *v, size_t k, const char *what, double *sum_out)
{
	double sum = 0.0;
	for (size_t i = 0; i < k; i++) {
		if (!isfinite(v[i]) || v[i] < 0.0)
			return mlops_error_set(MLOPS_EINVALID,
					       "%s count %zu is not a finite non-negative number (%g)",
					       what, i + 1, v[i]);
		sum += v[i];
	}
	if (!(sum > 0.0))
		return mlops_error_set(MLOPS_EINVALID, "%s counts are all zero", what);
	*sum_out = sum;
	return 0;
}

int mlops_drift_chi2(struct mlops_chi2_result *out, const double *baseline,
		     const double *current, size_t k)
{
	double bsum, csum, psum = 0.0, stat = 0.0;
	size_t used = 0;
	int error;

	if (k == 0)
		return mlops_error_set(MLOPS_EINVALID, "no categories for the chi-squared test");
	if ((error = check_weights(baseline, k, "baseline", &bsum)) < 0 ||
	    (error = check_weights(current, k, "current", &csum)) < 0)
		return error;

	for (size_t i = 0; i < k; i++) {
		if (baseline[i] == 0.0 && current[i] == 0.0)
			continue;
		double p = baseline[i] / bsum;
		psum += p > 0.0 ? p : MLOPS_DRIFT_CHI2_EPS;
		used++;
	}
	for (size_t i = 0; i < k; i++) {
		if (baseline[i] == 0.0 && current[i] == 0.0)
			continue;
		double p = baseline[i] / bsum;
		if (!(p > 0.0))
			p = MLOPS_DRIFT_CHI2_EPS;
		double e = p / psum * csum;
		double d = current[i] - e;
		stat += d * d / e;
	}
	out->categories = used;
	out->dof = used - 1;
	out->statistic = used > 1 ? stat : 0.0;
	out->pvalue = used > 1 ? mlops_chi2_sf(stat, (double)(used - 1)) : 1.0;
	return 0;
}

int mlops_drift_chi2_homogeneity(struct mlops_chi2_result *out, const double *baseline,
				 const double *current, size_t k, int yates)
{
	double bsum, csum, stat = 0.0;
	size_t used = 0;
	int error;

	if (k == 0)
		return mlops_error_set(MLOPS_EINVALID, "no categories for the chi-squared test");
	if ((error = check_weights(baseline, k, "baseline", &bsum)) < 0 ||
	    (error = check_weights(current, k, "current", &csum)) < 0)
		return error;

	for (size_t i = 0; i < k; i++)
		if (baseline[i] != 0.0 || current[i] != 0.0)
			used++;
	out->categories = used;
	out->dof = used - 1;
	if (used < 2) {
		out->statistic = 0.0;
		out->pvalue = 1.0;
		return 0;
	}

	double total = bsum + csum;
	bool correct = yates && used == 2;
	for (size_t i = 0; i < k; i++) {
		double col = baseline[i] + current[i];
		if (col == 0.0)
			continue;
		const double obs[2] = {baseline[i], current[i]};
		const double rows[2] = {bsum, csum};
		for (int r = 0; r < 2; r++) {
			double e = rows[r] * col / total;
			double o = obs[r];
			if (correct) {
				double diff = e - o;
				double mag = fabs(diff) < 0.5 ? fabs(diff) : 0.5;
				o += diff > 0 ? mag : (diff < 0 ? -mag : 0.0);
			}
			double d = o - e;
			stat += d * d / e;
		}
	}
	out->statistic = stat;
	out->pvalue = mlops_chi2_sf(stat, (double)(used - 1));
	return 0;
}

/* ---- PSI and binning --------------------------------------------------- */

int mlops_drift_psi(double *out, const double *baseline_prop, const double *current,
		    size_t k)
{
	double bsum, csum, psi = 0.0;
	int error;

	if (k == 0)
		return mlops_error_set(MLOPS_EINVALID, "no bins for the population stability index");
	if ((error = check_weights(baseline_prop, k, "baseline", &bsum)) < 0 ||
	    (error = check_weights(current, k, "current", &csum)) < 0)
		return error;
	for (size_t i = 0; i < k; i++) {
		double b = baseline_prop[i] / bsum;
		double c = current[i] / csum;
		if (b == 0.0)
			b = MLOPS_DRIFT_PSI_EPS;
		if (c == 0.0)
			c = MLOPS_DRIFT_PSI_EPS;
		psi += (c - b) * log(c / b);
	}
	*out = psi;
	return 0;
}

/* numpy.quantile(sorted, q) with linear interpolation (its _lerp). */
static double quantile_sorted(const double *s, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	double lo_f = floor(pos);
	size_t lo = (size_t)lo_f;
	if (lo >= n - 1)
		return s[n - 1];
	double t = pos - lo_f;
	double a = s[lo], b = s[lo + 1], diff = b - a;
	return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

int mlops_drift_quantile_edges(double **out, size_t *nedges_out, const double *sample,
			       size_t n, size_t nbins)
{
	double *sorted = NULL, *edges = NULL;
	size_t ne = 0;
	int error;

	*out = NULL;
	*nedges_out = 0;
	if (n == 0 || nbins == 0)
		return mlops_error_set(MLOPS_EINVALID, "%s",
				       n == 0 ? "empty baseline sample for bin edges"
					      : "zero bins requested");
	if ((error = sorted_copy(&sorted, sample, n, "baseline")) < 0)
		goto cleanup;
	edges = malloc((nbins + 1) * sizeof(*edges));
	if (!edges) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory for %zu bin edges", nbins + 1);
		goto cleanup;
	}
	for (size_t i = 0; i <= nbins; i++) {
		double e = quantile_sorted(sorted, n, (double)i / (double)nbins);
		if (ne == 0 || e != edges[ne - 1])
			edges[ne++] = e;
	}
	if (ne == 1)
		edges[ne++] = edges[0];
	*out = edges;
	*nedges_out = ne;
	edges = NULL;

cleanup:
	free(sorted);
	free(edges);
	return error;
}

void mlops_drift_edges_free(double *edges)
{
	free(edges);
}

int mlops_drift_bin_counts(double *counts_out, const double *edges, size_t nedges,
			   const double *values, size_t n)
{
	int error;

	if (nedges < 2)
		return mlops_error_set(MLOPS_EINVALID, "fewer than two bin edges");
	if ((error = check_finite(values, n, "current")) < 0)
		return error;
	size_t nbins = nedges - 1;
	const double *inner = edges + 1;
	size_t ninner = nedges - 2;
	memset(counts_out, 0, nbins * sizeof(*counts_out));
	for (size_t i = 0; i < n; i++) {
		double v = values[i];
		size_t lo = 0, hi = ninner; /* count of inner edges <= v */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (inner[mid] <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
		counts_out[lo] += 1.0;
	}
	return 0;
}

/* ---- Wasserstein ------------------------------------------------------- */

/* Neumaier's compensated sum. */
struct ksum {
	double sum, comp;
};

static void ksum_add(struct ksum *s, double x)
{
	double t = s->sum + x;
	if (fabs(s->sum) >= fabs(x))
		s->comp += (s->sum - t) + x;
	else
		s->comp += (x - t) + s->sum;
	s->sum = t;
}

/* The integral of |F_a - F_b| for two sorted, non-empty samples. */
static double wasserstein_core(const double *a, size_t na, const double *b, size_t nb)
{
	struct ksum acc = {0, 0};
	double dna = (double)na, dnb = (double)nb, prev;
	size_t i = 0, j = 0;

	prev = a[0] < b[0] ? a[0] : b[0];
	while (i < na || j < nb) {
		double x;
		if (j >= nb || (i < na && a[i] <= b[j]))
			x = a[i];
		else
			x = b[j];
		if (x > prev)
			ksum_add(&acc, fabs((double)i / dna - (double)j / dnb) * (x - prev));
		while (i < na && a[i] == x)
			i++;
		while (j < nb && b[j] == x)
			j++;
		prev = x;
	}
	return acc.sum + acc.comp;
}

int mlops_drift_wasserstein_sorted(double *out, const double *a, size_t na,
				   const double *b, size_t nb)
{
	int error;

	if (na == 0 || nb == 0)
		return mlops_error_set(MLOPS_EINVALID, "empty %s sample for wasserstein distance",
				       na == 0 ? "baseline" : "current");
	if ((error = check_sorted(a, na, "baseline")) < 0 ||
	    (error = check_sorted(b, nb, "current")) < 0)
		return error;
	*out = wasserstein_core(a, na, b, nb);
	return 0;
}

int mlops_drift_wasserstein(double *out, const double *a, size_t na, const double *b,
			    size_t nb)
{
	double *sa = NULL, *sb = NULL;
	int error;

	if (na == 0 || nb == 0)
		return mlops_error_set(MLOPS_EINVALID, "empty %s sample for wasserstein distance",
				       na == 0 ? "baseline" : "current");
	if ((error = sorted_copy(&sa, a, na, "baseline")) < 0 ||
	    (error = sorted_copy(&sb, b, nb, "current")) < 0)
		goto cleanup;
	*out = wasserstein_core(sa, na, sb, nb);

cleanup:
	free(sa);
	free(sb);
	return error;
}

int mlops_drift_wasserstein_norm(double *out, const double *baseline, size_t nbase,
				 const double *current, size_t ncur)
{
	double w, mean = 0.0, ss = 0.0;
	int error;

	if ((error = mlops_drift_wasserstein(&w, baseline, nbase, current, ncur)) < 0)
		return error;
	for (size_t i = 0; i < nbase; i++)
		mean += baseline[i];
	mean /= (double)nbase;
	for (size_t i = 0; i < nbase; i++) {
		double d = baseline[i] - mean;
		ss += d * d;
	}
	double sd = sqrt(ss / (double)nbase);
	if (!(sd > MLOPS_DRIFT_WASSERSTEIN_MIN_STD))
		sd = MLOPS_DRIFT_WASSERSTEIN_MIN_STD;
	*out = w / sd;
	return 0;
}

/* ---- Jensen-Shannon ---------------------------------------------------- */

static double rel_entr(double x, double y)
{
	if (x > 0.0 && y > 0.0)
		return x * log(x / y);
	if (x == 0.0 && y >= 0.0)
		return 0.0;
	return INFINITY;
}

int mlops_drift_jensenshannon(double *out, const double *p, const double *q, size_t k,
			      double base)
{
	double psum, qsum, left = 0.0, right = 0.0;
	int error;

	if (k == 0)
		return mlops_error_set(MLOPS_EINVALID, "no categories for jensen-shannon distance");
	if (base == 1.0)
		return mlops_error_set(MLOPS_EINVALID, "logarithm base 1 for jensen-shannon distance");
	if ((error = check_weights(p, k, "baseline", &psum)) < 0 ||
	    (error = check_weights(q, k, "current", &qsum)) < 0)
		return error;
	for (size_t i = 0; i < k; i++) {
		double pi = p[i] / psum, qi = q[i] / qsum;
		double m = (pi + qi) / 2.0;
		left += rel_entr(pi, m);
		right += rel_entr(qi, m);
	}
	double js = left + right;
	if (base > 0.0)
		js /= log(base);
	js /= 2.0;
	*out = js > 0.0 ? sqrt(js) : 0.0;
	return 0;
}

/* ---- reservoir --------------------------------------------------------- */

struct mlops_reservoir {
	double *values;
	size_t capacity;
	uint64_t seen;
	uint64_t next;  /* 1-based position of the next value to take */
	double w;       /* Algorithm L's running maximum weight */
	uint64_t state; /* splitmix64 */
};

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform on the open interval (0, 1). */
static double rng_open01(uint64_t *state)
{
	return ((double)(rng_next(state) >> 11) + 0.5) * 0x1.0p-53;
}

/* Draw the gap to the next accepted value and advance next. */
static void reservoir_skip(struct mlops_reservoir *r)
{
	double gap = floor(log(rng_open01(&r->state)) / log1p(-r->w));
	if (!(gap < 1.8e19 - (double)r->next))
		r->next = UINT64_MAX;
	else
		r->next += (uint64_t)gap + 1;
}

int mlops_reservoir_new(struct mlops_reservoir **out, size_t capacity, uint64_t seed)
{
	struct mlops_reservoir *r = NULL;

	*out = NULL;
	if (capacity == 0)
		return mlops_error_set(MLOPS_EINVALID, "reservoir capacity is zero");
	r = calloc(1, sizeof(*r));
	if (!r || !(r->values = malloc(capacity * sizeof(double)))) {
		free(r);
		return mlops_error_set(MLOPS_ERROR, "out of memory for a reservoir of %zu values",
				       capacity);
	}
	r->capacity = capacity;
	r->state = seed;
	*out = r;
	return 0;
}

void mlops_reservoir_add(struct mlops_reservoir *r, double value)
{
	r->seen++;
	if (r->seen <= r->capacity) {
		r->values[r->seen - 1] = value;
		if (r->seen == r->capacity) {
			r->w = exp(log(rng_open01(&r->state)) / (double)r->capacity);
			r->next = r->seen;
			reservoir_skip(r);
		}
		return;
	}
	if (r->seen != r->next)
		return;
	r->values[rng_next(&r->state) % r->capacity] = value;
	r->w *= exp(log(rng_open01(&r->state)) / (double)r->capacity);
	reservoir_skip(r);
}

void mlops_reservoir_add_many(struct mlops_reservoir *r, const double *values, size_t n)
{
	size_t i = 0;
	/* Fill, then jump straight from one accepted value to the next. */
	while (i < n && r->seen < r->capacity)
		mlops_reservoir_add(r, values[i++]);
	while (i < n) {
		uint64_t ahead = r->next - r->seen; /* >= 1 */
		if (ahead > n - i) {
			r->seen += n - i;
			return;
		}
		i += ahead - 1;
		r->seen += ahead - 1;
		mlops_reservoir_add(r, values[i++]);
	}
}

const double *mlops_reservoir_values(const struct mlops_reservoir *r, size_t *n_out)
{
	*n_out = r->seen < r->capacity ? (size_t)r->seen : r->capacity;
	return r->values;
}

uint64_t mlops_reservoir_seen(const struct mlops_reservoir *r)
{
	return r->seen;
}

void mlops_reservoir_free(struct mlops_reservoir *r)
{
	if (!r)
		return;
	free(r->values);
	free(r);
}
