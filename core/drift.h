/*
 * drift.h - the statistics behind `mlops monitor check`: how far a column of
 * live data has moved from the training baseline.
 *
 * Numeric columns: the two-sample Kolmogorov-Smirnov test, the population
 * stability index on quantile bins of the baseline, and the Wasserstein-1
 * distance.  Categorical columns: the chi-squared test, PSI and the
 * Jensen-Shannon distance on category counts.  A bounded reservoir keeps
 * the baseline sample small enough to store with a model.
 *
 * The API takes plain arrays: the caller extracts a column (doubles) or
 * counts its categories (counts as doubles, one slot per category, the
 * same category order in baseline and current).  Values must be finite;
 * missing values are the caller's to drop.  Every function agrees with the
 * SciPy function named in its comment (statistics to 1e-9, p-values to
 * 1e-4; tests/fixtures/drift/gen.py produces the reference numbers).
 * Nothing here prints or keeps state between calls, except the reservoir.
 */
#ifndef MLOPS_DRIFT_H
#define MLOPS_DRIFT_H

#include <stddef.h>
#include <stdint.h>

/* How a KS p-value was computed. */
enum mlops_ks_method {
	MLOPS_KS_EXACT = 1, /* exact null distribution (max(n1, n2) <= 10000) */
	MLOPS_KS_ASYMP = 2, /* kstwo.sf(D, round(n1 n2 / (n1 + n2))) */
};

/* Samples of up to this many values get the exact KS p-value (SciPy's
 * MAX_AUTO_N). */
#define MLOPS_KS_EXACT_MAX_N 10000

/* In exact mode, once n1 n2/(n1+n2) D^2 reaches this, the p-value is far
 * below 1e-300 (of the order of exp(-800)), where SciPy's recursion itself
 * has underflowed to denormals; 0 is reported without running it. */
#define MLOPS_KS_UNDERFLOW 400.0

struct mlops_ks_result {
	double statistic; /* D = sup |F1(x) - F2(x)| */
	double pvalue;
	int method;       /* enum mlops_ks_method */
	double location;  /* the value x at which D is attained */
	int sign;         /* +1 if F1(x) > F2(x) there, -1 if below */
};

/* Expected-count floor for categories absent from the baseline. */
#define MLOPS_DRIFT_CHI2_EPS 1e-4
/* Proportion floor for empty bins in PSI (as Evidently). */
#define MLOPS_DRIFT_PSI_EPS 1e-4
/* Smallest baseline standard deviation used to normalise Wasserstein. */
#define MLOPS_DRIFT_WASSERSTEIN_MIN_STD 1e-3

struct mlops_chi2_result {
	double statistic;
	double pvalue;
	size_t dof;        /* degrees of freedom */
	size_t categories; /* categories that took part (not empty in both) */
};

/*
 * Sort `values` ascending in place (LSD radix sort on the IEEE bit
 * patterns; -0.0 becomes 0.0).  Returns 0, MLOPS_EINVALID if a value is
 * NaN or infinite (nothing is reordered then), or MLOPS_ERROR when out of
 * memory.  O(n) time, 16n bytes of scratch.
 */
int mlops_drift_sort(double *values, size_t n);

/*
 * Two-sample, two-sided Kolmogorov-Smirnov test of a baseline sample `a`
 * against a current sample `b`, as scipy.stats.ks_2samp(a, b,
 * method='auto'):
 *   - exact p-value when max(na, nb) <= MLOPS_KS_EXACT_MAX_N (then D is
 *     reported as round(D * lcm)/lcm as SciPy does; see mlops_ks2_exact_sf
 *     and MLOPS_KS_UNDERFLOW).  SciPy falls back to the asymptotic method
 *     only when the exact computation fails numerically, which cannot
 *     happen for the two-sided test, so this rule is the whole story;
 *   - otherwise kstwo.sf(D, round(na nb / (na + nb))), the one-sample
 *     distribution at the effective sample size (mlops_kolmogorov_sf).
 * Cost: the sorts, O(na + nb); the exact p-value is O(na + nb) for equal
 * sizes and O(max * min * D) otherwise (at most ~75 ms at 10000 vs 9999).
 * location and sign follow SciPy's statistic_location / statistic_sign.
 * Inputs are copied and sorted (radix, O(n)).  Returns 0; MLOPS_EINVALID
 * for an empty sample, a non-finite value or samples too large to count
 * exactly (na * nb >= 2^62); MLOPS_ERROR when out of memory.
 */
int mlops_drift_ks(struct mlops_ks_result *out, const double *a, size_t na,
		   const double *b, size_t nb);

/*
 * As mlops_drift_ks() for samples already sorted ascending (e.g. a
 * baseline sorted once and kept); nothing is copied.  MLOPS_EINVALID also
 * when a sample is not sorted.
 */
int mlops_drift_ks_sorted(struct mlops_ks_result *out, const double *a, size_t na,
			  const double *b, size_t nb);

/*
 * Chi-squared goodness of fit of current category counts against the
 * baseline's frequencies: scipy.stats.chisquare(current, f_exp) where
 * f_exp is the baseline scaled to the current total.  baseline[i] and
 * current[i] are counts (or any non-negative weights for baseline) of
 * category i, k categories.
 *   - A category empty in both is left out (it adds nothing, and counts
 *     toward neither the categories nor the degrees of freedom).
 *   - A category absent from the baseline but seen now gets baseline
 *     proportion MLOPS_DRIFT_CHI2_EPS; the proportions are then
 *     renormalised to sum to 1 before scaling (SciPy itself would divide
 *     by zero).
 *   - dof = categories - 1.  With a single category the statistic is 0 and
 *     the p-value 1 (SciPy returns NaN).
 * Returns 0, or MLOPS_EINVALID for k == 0, negative or non-finite counts,
 * or an all-zero baseline or current.
 */
int mlops_drift_chi2(struct mlops_chi2_result *out, const double *baseline,
		     const double *current, size_t k);

/*
 * Chi-squared test of homogeneity of two count vectors (the 2 x k table
 * [baseline; current]): scipy.stats.chi2_contingency(table,
 * correction=yates) after dropping categories empty in both rows.  Yates'
 * continuity correction applies only when dof == 1, as in SciPy.  With a
 * single category the statistic is 0 and the p-value 1.  Errors as
 * mlops_drift_chi2().
 */
int mlops_drift_chi2_homogeneity(struct mlops_chi2_result *out, const double *baseline,
				 const double *current, size_t k, int yates);

/*
 * Population stability index over k fixed bins:
 *   PSI = sum_i (c_i - b_i) ln(c_i / b_i)
 * with b_i = baseline_prop[i] / sum(baseline_prop) and c_i = current[i] /
 * sum(current); a proportion of exactly 0 on either side is replaced by
 * MLOPS_DRIFT_PSI_EPS (without renormalising), as Evidently does.
 * Returns 0, or MLOPS_EINVALID for k == 0, negative or non-finite inputs
 * or an all-zero side.
 */
int mlops_drift_psi(double *out, const double *baseline_prop, const double *current,
		    size_t k);

/*
 * Quantile bin edges of a baseline sample: edges at the quantiles i/nbins,
 * i = 0..nbins (numpy.quantile, linear interpolation), with equal edges
 * merged, so *nedges_out - 1 <= nbins bins remain; edges[0] is the minimum
 * and edges[last] the maximum.  A constant sample gives the two edges
 * {v, v} (one bin).  *out is the caller's, freed with
 * mlops_drift_edges_free().  Returns 0, MLOPS_EINVALID for n == 0,
 * nbins == 0 or a non-finite value, MLOPS_ERROR when out of memory.
 */
int mlops_drift_quantile_edges(double **out, size_t *nedges_out, const double *sample,
			       size_t n, size_t nbins);

/* Free edges from mlops_drift_quantile_edges(); NULL is fine. */
void mlops_drift_edges_free(double *edges);

/*
 * Count values into the nedges - 1 bins of `edges` (ascending): value v
 * goes into bin i when edges[i] <= v < edges[i+1], except that the first
 * bin also takes everything below edges[1] and the last everything from
 * edges[nedges-2] up (nothing is dropped: a live value beyond the
 * baseline's range lands in an end bin).  Equals numpy.histogram(values,
 * edges) for values inside [edges[0], edges[last]].  counts_out (nedges - 1
 * slots) is overwritten.  Returns 0, or MLOPS_EINVALID for nedges < 2 or a
 * non-finite value.
 */
int mlops_drift_bin_counts(double *counts_out, const double *edges, size_t nedges,
			   const double *values, size_t n);

/*
 * Wasserstein-1 (earth mover's) distance between two samples, the
 * integral of |F_a - F_b|: scipy.stats.wasserstein_distance(a, b).
 * Returns 0, MLOPS_EINVALID for an empty sample or a non-finite value,
 * MLOPS_ERROR when out of memory.
 */
int mlops_drift_wasserstein(double *out, const double *a, size_t na, const double *b,
			    size_t nb);

/* As mlops_drift_wasserstein() for samples already sorted ascending. */
int mlops_drift_wasserstein_sorted(double *out, const double *a, size_t na,
				   const double *b, size_t nb);

/*
 * The Wasserstein distance divided by the baseline's standard deviation
 * (population, ddof = 0), floored at MLOPS_DRIFT_WASSERSTEIN_MIN_STD so a
 * constant baseline does not divide by zero (as Evidently).  `baseline`
 * is the first sample.  Errors as mlops_drift_wasserstein().
 */
int mlops_drift_wasserstein_norm(double *out, const double *baseline, size_t nbase,
				 const double *current, size_t ncur);

/*
 * Jensen-Shannon distance between two discrete distributions over k
 * categories, given as counts or weights (each normalised by its sum):
 * scipy.spatial.distance.jensenshannon(p, q, base).  base <= 0 means the
 * natural logarithm (SciPy's default base=None); base 2 bounds the
 * distance by 1.  Returns 0, or MLOPS_EINVALID for k == 0, negative or
 * non-finite weights, an all-zero side, or base == 1.
 */
int mlops_drift_jensenshannon(double *out, const double *p, const double *q, size_t k,
			      double base);

/*
 * A bounded uniform sample of a stream of values (reservoir sampling,
 * Li's Algorithm L: after the reservoir fills, the gap to the next
 * accepted value is drawn directly, so skipped values cost one compare).
 * Deterministic: the same seed and the same stream give the same sample.
 * While fewer than `capacity` values have been seen, the sample is all of
 * them in arrival order.
 */
struct mlops_reservoir;

/*
 * New empty reservoir keeping at most `capacity` values, its random
 * choices driven by `seed`.  *out is the caller's, freed with
 * mlops_reservoir_free().  Returns 0, MLOPS_EINVALID for capacity 0,
 * MLOPS_ERROR when out of memory.
 */
int mlops_reservoir_new(struct mlops_reservoir **out, size_t capacity, uint64_t seed);

/* Offer one value, or n values in order, to the reservoir. */
void mlops_reservoir_add(struct mlops_reservoir *r, double value);
void mlops_reservoir_add_many(struct mlops_reservoir *r, const double *values, size_t n);

/* The current sample (borrowed, valid until the next add or free) and
 * its length in *n_out (min(seen, capacity)). */
const double *mlops_reservoir_values(const struct mlops_reservoir *r, size_t *n_out);

/* How many values have been offered. */
uint64_t mlops_reservoir_seen(const struct mlops_reservoir *r);

void mlops_reservoir_free(struct mlops_reservoir *r);

#endif
