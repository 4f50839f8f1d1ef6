/*
 * mathfn.h - special functions behind the drift statistics: the regularised
 * incomplete gamma functions (chi-squared tail), the one-sided Smirnov and
 * two-sided Kolmogorov distributions of the one-sample KS statistic for a
 * finite n, and the exact null distribution of the two-sample KS statistic.
 *
 * Each function reproduces the SciPy function named in its comment to well
 * within 1e-4 absolute (usually to ~1e-12); where SciPy switches between
 * algorithms this module switches at the same points, so a p-value moves
 * with SciPy's rather than with the textbook limit.
 *
 * Pure functions of their arguments, safe from any thread.  Those that
 * return a double give NaN for arguments outside their domain; those that
 * need scratch memory return 0 or MLOPS_ERROR (out of memory, message set).
 */
#ifndef MLOPS_MATHFN_H
#define MLOPS_MATHFN_H

#include <stdint.h>

/*
 * Regularised lower and upper incomplete gamma functions P(a, x) and
 * Q(a, x) = 1 - P(a, x) for a > 0, x >= 0 (scipy.special.gammainc and
 * gammaincc).  Power series for x < a + 1, Lentz's continued fraction
 * otherwise; the smaller of P and Q is computed directly, so a tiny tail
 * keeps its relative precision.  NaN if a <= 0, x < 0 or either is NaN.
 */
double mlops_gamma_p(double a, double x);
double mlops_gamma_q(double a, double x);

/*
 * Survival function of the chi-squared distribution with `dof` degrees of
 * freedom at x: Q(dof/2, x/2) (scipy.stats.chi2.sf).  1 for x <= 0; NaN
 * if dof <= 0.
 */
double mlops_chi2_sf(double x, double dof);

/*
 * P(D+_n >= d), the one-sided one-sample Smirnov statistic for a sample of
 * n (scipy.special.smirnov(n, d)).  Birnbaum-Tingey's sum for n up to
 * 1,000,000 and SciPy's asymptotic exp(-(6nd+1)^2/(18n)) above.  `n` is a
 * positive integer held in a double; NaN outside n >= 1, 0 <= d <= 1.
 */
double mlops_smirnov_sf(double n, double d);

/*
 * *out = P(D_n >= d) for the two-sided one-sample Kolmogorov-Smirnov
 * statistic of a sample of n (scipy.stats.kstwo.sf(d, n)), choosing as
 * SciPy does (Simard and L'Ecuyer): the Ruben-Gambino closed forms at the
 * ends, 2 * smirnov where the two tails cannot overlap or the overlap is
 * negligible, Durbin's matrix (Marsaglia-Tsang-Wang) for small n*d^2 and
 * the Pelz-Good expansion for large n.  Where SciPy uses Pomeranz's
 * recursion (n <= 140, 0.754693 < n*d^2 <= 4) this computes the same exact
 * probability with Durbin's matrix.  Returns 0, or MLOPS_ERROR if scratch
 * memory cannot be had; *out is NaN for n < 1 or d NaN.
 */
int mlops_kolmogorov_sf(double *out, double n, double d);

/*
 * *out = P(D_{m,n} >= h / lcm(m, n)) under the null hypothesis, for the
 * two-sided two-sample statistic of samples of m and n with no ties; the
 * exact p-value of scipy.stats.ks_2samp(method='exact').  For m == n the
 * reflection (alternating binomial) series; otherwise the lattice-path
 * recursion of Hodges in the form of Viehmann that carries the probability
 * of having left the band |i/m - j/n| < h/lcm, which stays in [0, 1] and
 * cannot overflow.  Time O(m * min(n, 2h/(m/g))), memory O(m + n).
 * Returns 0, MLOPS_EINVALID for m or n zero, or MLOPS_ERROR if memory
 * cannot be had.
 */
int mlops_ks2_exact_sf(double *out, uint64_t m, uint64_t n, uint64_t h);

#endif
