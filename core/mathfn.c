/*
 * mathfn.c - special functions for the drift tests: incomplete gamma, the
 * finite-n Kolmogorov and Smirnov distributions, and the exact two-sample
 * Kolmogorov-Smirnov null distribution.
 *
 * Design notes.
 *  - The KS p-values follow SciPy's selection of algorithms branch for
 *    branch (the constants 140, 0.754693, 2.2, 370, 1.4, 100000, 1000000 are
 *    SciPy's switch points), so that `mlops monitor check` and a notebook
 *    agree on a p-value to well within 1e-4, not just in the limit.
 *  - Scratch memory is only needed by Durbin's matrix (three m*m matrices,
 *    m = 2*ceil(n*d) - 1 <= 115 in the regions that use it) and the exact
 *    two-sample recursion (one column of min(m, n) + 1 doubles).
 *  - Long products are kept in range by scaling with 2^+-128 and carrying
 *    the binary exponent separately.
 */
#include "core/mathfn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/error.h"

#define GAMMA_MAX_ITER 1000000
#define TINY 1e-300
#define LOG_MIN_EXP (-708.3964185322641) /* log(DBL_MIN) */
#define SCALE_EXP 128

static double log_gamma(double a)
{
	int sign;
	return lgamma_r(a, &sign);
}

/* x^a e^-x / Gamma(a), computed in logs. */
static double gamma_prefactor(double a, double x)
{
	return exp(a * log(x) - x - log_gamma(a));
}

/* P(a, x) by its power series; converges quickly for x < a + 1. */
static double gamma_p_series(double a, double x)
{
	double ap = a, term = 1.0 / a, sum = term;
	for (int i = 0; i < GAMMA_MAX_ITER; i++) {
		ap += 1.0;
		term *= x / ap;
		sum += term;
		if (fabs(term) < fabs(sum) * DBL_EPSILON)
			break;
	}
	return sum * gamma_prefactor(a, x);
}

/* Q(a, x) by its continued fraction (modified Lentz); for x >= a + 1. */
static double gamma_q_fraction(double a, double x)
{
	double b = x + 1.0 - a;
	double c = 1.0 / TINY;
	double d = 1.0 / b;
	double f = d;
	for (int i = 1; i < GAMMA_MAX_ITER; i++) {
		double an = -i * (i - a);
		b += 2.0;
		d = an * d + b;
		if (fabs(d) < TINY)
			d = TINY;
		c = b + an / c;
		if (fabs(c) < TINY)
			c = TINY;
		d = 1.0 / d;
		double delta = d * c;
		f *= delta;
		if (fabs(delta - 1.0) < DBL_EPSILON)
			break;
	}
	return f * gamma_prefactor(a, x);
}

double mlops_gamma_p(double a, double x)
{
	if (isnan(a) || isnan(x) || a <= 0.0 || x < 0.0)
		return NAN;
	if (x == 0.0)
		return 0.0;
	if (isinf(x))
		return 1.0;
	if (x < a + 1.0)
		return gamma_p_series(a, x);
	return 1.0 - gamma_q_fraction(a, x);
}

double mlops_gamma_q(double a, double x)
{
	if (isnan(a) || isnan(x) || a <= 0.0 || x < 0.0)
		return NAN;
	if (x == 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	if (x < a + 1.0)
		return 1.0 - gamma_p_series(a, x);
	return gamma_q_fraction(a, x);
}

double mlops_chi2_sf(double x, double dof)
{
	if (isnan(x) || isnan(dof) || dof <= 0.0)
		return NAN;
	if (x <= 0.0)
		return 1.0;
	return mlops_gamma_q(dof / 2.0, x / 2.0);
}

static double clip01(double p)
{
	if (p < 0.0)
		return 0.0;
	if (p > 1.0)
		return 1.0;
	return p;
}

/*
 * Birnbaum-Tingey:  P(D+_n >= d) = d * sum_{v=0}^{floor(n(1-d))}
 *     C(n, v) (d + v/n)^(v-1) (1 - d - v/n)^(n-v).
 * All terms are positive; each is formed in logs, the binomial coefficient
 * carried incrementally.  The terms spread over most of 0..n (their tail is
 * heavy), so the sum usually runs to the end, ~15 ns a term; it stops
 * early only once the remaining terms, bounded by the current one, cannot
 * change it.
 */
static double smirnov_sum(double n, double d)
{
	double vmax = floor(n - n * d);
	double logc = 0.0, logc_comp = 0.0, sum = 0.0;
	double nterms = vmax + 1.0;

	for (double v = 0.0; v <= vmax; v += 1.0) {
		double base_hi = (n - v) / n - d;
		if (base_hi > 0.0) {
			double lt = logc + (n - v) * log(base_hi);
			if (v == 0.0)
				lt -= log(d);
			else
				lt += (v - 1.0) * log(d + v / n);
			double term = lt < LOG_MIN_EXP - 40.0 ? 0.0 : exp(lt);
			sum += term;
			if (term != 0.0) {
				if (4.0 * (nterms - v) * term < DBL_EPSILON * sum && v < vmax)
					break;
			} else if (v > n / 2.0) {
				break;
			}
		}
		/* log C(n, v+1), compensated: the running value reaches
		 * n log 2 and plain summation would lose 1e-7 over 1e6 steps. */
		double step = log((n - v) / (v + 1.0)) - logc_comp;
		double next = logc + step;
		logc_comp = (next - logc) - step;
		logc = next;
	}
	return d * sum;
}

double mlops_smirnov_sf(double n, double d)
{
	if (isnan(n) || isnan(d) || n < 1.0 || n != floor(n) || d < 0.0 || d > 1.0)
		return NAN;
	if (n == 1.0)
		return 1.0 - d;
	if (d == 0.0)
		return 1.0;
	if (d == 1.0)
		return 0.0;

	/* floor(n d) and its fraction from the exact product (fma gives the
	 * rounding error), so d = k/n is classified as SciPy classifies it. */
	double nd = n * d;
	double nd_err = fma(n, d, -nd);
	double nd_floor = floor(nd);
	double alpha = (nd - nd_floor) + nd_err;
	if (alpha < 0.0) {
		nd_floor -= 1.0;
		alpha += 1.0;
	}
	if (alpha >= 1.0) {
		nd_floor += 1.0;
		alpha = 0.0;
	}
	if (nd_floor == 0.0 || (nd_floor == 1.0 && alpha == 0.0))
		return clip01(1.0 - d * exp((n - 1.0) * log1p(d)));
	if (-2.0 * n * d * d < LOG_MIN_EXP)
		return 0.0;
	if (nd_floor >= n - 1.0)
		return clip01(exp(n * log1p(-d)));
	if (n > 1000000.0) {
		double t = 6.0 * nd + 1.0;
		return clip01(exp(-t * t / 18.0 / n));
	}
	return clip01(smirnov_sum(n, d));
}

/* out = a * b for m x m row-major matrices; out must not alias a or b. */
static void matmul(double *out, const double *a, const double *b, int m)
{
	memset(out, 0, sizeof(*out) * (size_t)m * (size_t)m);
	for (int i = 0; i < m; i++) {
		double *row = out + (size_t)i * m;
		for (int k = 0; k < m; k++) {
			double aik = a[(size_t)i * m + k];
			if (aik == 0.0)
				continue;
			const double *brow = b + (size_t)k * m;
			for (int j = 0; j < m; j++)
				row[j] += aik * brow[j];
		}
	}
}

/*
 * P(D_n < d) by Durbin's matrix in the form of Marsaglia, Tsang and Wang:
 * with d = (k - h)/n, 0 <= h < 1, the answer is n!/n^n times the centre
 * element of H^n for a (2k-1) x (2k-1) matrix H built from h.
 */
static int durbin_cdf(double *out, double n, double d)
{
	double *h_mat = NULL, *pw = NULL, *tmp = NULL;
	int error = 0;

	if (d >= 1.0) {
		*out = 1.0;
		return 0;
	}
	double nd = n * d;
	if (nd <= 0.5) {
		*out = 0.0;
		return 0;
	}
	int k = (int)ceil(nd);
	double h = k - nd;
	int m = 2 * k - 1;
	size_t mm = (size_t)m * (size_t)m;

	h_mat = calloc(mm, sizeof(double));
	pw = calloc(mm, sizeof(double));
	tmp = calloc(mm, sizeof(double));
	if (!h_mat || !pw || !tmp) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}

	/* H[i][j] = 1/(i-j+1)! on and below the superdiagonal. */
	for (int i = 0; i < m; i++) {
		double inv_fact = 1.0;
		for (int j = i + 1; j >= 0; j--) {
			if (j < m)
				h_mat[(size_t)i * m + j] = inv_fact;
			inv_fact /= (double)(i - j + 2);
		}
	}
	/* First column and last row: (1 - h^r)/r!; the corner gets the
	 * (2h-1)^m correction. */
	{
		double inv_fact = 1.0;
		for (int r = 1; r <= m; r++) {
			inv_fact /= r;
			double v = (1.0 - pow(h, r)) * inv_fact;
			h_mat[(size_t)(r - 1) * m] = v;
			h_mat[(size_t)(m - 1) * m + (m - r)] = v;
		}
		double corr = 2.0 * h - 1.0 > 0.0 ? pow(2.0 * h - 1.0, m) : 0.0;
		h_mat[(size_t)(m - 1) * m] = (1.0 - 2.0 * pow(h, m) + corr) * inv_fact;
	}

	for (int i = 0; i < m; i++)
		pw[(size_t)i * m + i] = 1.0;
	long pw_exp = 0, h_exp = 0;
	unsigned long nn = (unsigned long)n;
	size_t centre = (size_t)(k - 1) * m + (k - 1);
	while (nn > 0) {
		double *t;
		if (nn & 1) {
			matmul(tmp, pw, h_mat, m);
			t = pw, pw = tmp, tmp = t;
			pw_exp += h_exp;
		}
		nn >>= 1;
		if (nn == 0)
			break;
		matmul(tmp, h_mat, h_mat, m);
		t = h_mat, h_mat = tmp, tmp = t;
		h_exp *= 2;
		if (fabs(h_mat[centre]) > ldexp(1.0, SCALE_EXP)) {
			for (size_t i = 0; i < mm; i++)
				h_mat[i] = ldexp(h_mat[i], -SCALE_EXP);
			h_exp += SCALE_EXP;
		}
	}

	double p = pw[centre];
	long total_exp = pw_exp;
	for (unsigned long i = 1; i <= (unsigned long)n; i++) {
		p = (double)i * p / n;
		if (fabs(p) < ldexp(1.0, -SCALE_EXP)) {
			p = ldexp(p, SCALE_EXP);
			total_exp -= SCALE_EXP;
		}
	}
	if (total_exp > 4096)
		total_exp = 4096;
	if (total_exp < -4096)
		total_exp = -4096;
	*out = clip01(ldexp(p, (int)total_exp));

cleanup:
	free(h_mat);
	free(pw);
	free(tmp);
	return error;
}

/*
 * P(D_n < x) by Pelz and Good's expansion of the Li-Chien/Korolyuk series
 * K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n^1.5 with z = x sqrt(n), each
 * term rewritten through Jacobi's theta identity so that it converges for
 * small z.
 */
static double pelz_good_cdf(double n, double x)
{
	const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
	const double sqrt2pi = sqrt(2.0 * M_PI);

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	double z = sqrt(n) * x;
	double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
	double qlog = -pi2 / 8.0 / z2;
	if (qlog < -708.0)
		return 0.0;
	double q = exp(qlog);

	double k1a = -z2, k1b = pi2 / 4.0;
	double k2a = 6.0 * z6 + 2.0 * z4;
	double k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
	double k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
	double k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
	double k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
	double k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
	double k3a = -30.0 * z6 - 90.0 * z4 * z4;

	/* Sums over odd j of c(j) q^(j^2), in Horner form: consecutive odd
	 * squares (2k-1)^2 and (2k+1)^2 differ by 8k. */
	double kk[4] = {0, 0, 0, 0};
	int maxk = (int)ceil(16.0 * z / M_PI);
	for (int k = maxk; k >= 1; k--) {
		double j = 2.0 * k - 1.0;
		double j2 = j * j, j4 = j2 * j2, j6 = j4 * j2;
		double qp = pow(q, 8.0 * k);
		kk[0] = kk[0] * qp + 1.0;
		kk[1] = kk[1] * qp + (k1a + k1b * j2);
		kk[2] = kk[2] * qp + (k2a + k2b * j2 + k2c * j4);
		kk[3] = kk[3] * qp + (k3a + k3b * j2 + k3c * j4 + k3d * j6);
	}
	double div[4] = {z, 6.0 * z4, 72.0 * z6 * z, 6480.0 * z4 * z6};
	for (int i = 0; i < 4; i++)
		kk[i] = kk[i] * q * sqrt2pi / div[i];

	/* The terms of K2 and K3 that run over all integers k. */
	double q2 = exp(-pi2 / 2.0 / z2);
	double s2 = 0.0, s3 = 0.0, sqrt3z = sqrt(3.0) * z;
	for (int k = maxk; k >= 1; k--) {
		double kd = k, k2 = kd * kd;
		double qp = pow(q2, k2);
		s2 += k2 * qp;
		s3 += (sqrt3z + kd * M_PI) * (sqrt3z - kd * M_PI) * k2 * qp;
	}
	kk[2] += s2 * pi2 * sqrt2pi / (-36.0 * z3);
	kk[3] += s3 * pi2 * sqrt2pi / (216.0 * z6);

	return kk[0] + kk[1] / sqrt(n) + kk[2] / n + kk[3] / (n * sqrt(n));
}

/* log(n!/n^n) by Stirling's series; for n > 140. */
static double log_fact_over_pow(double n)
{
	double r = 1.0 / n, r2 = r * r;
	return 0.5 * log(2.0 * M_PI * n) - n +
	       r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 / 1680)));
}

int mlops_kolmogorov_sf(double *out, double n, double x)
{
	double cdf;
	int error;

	if (isnan(n) || isnan(x) || n < 1.0 || n != floor(n)) {
		*out = NAN;
		return 0;
	}
	if (x >= 1.0) {
		*out = 0.0;
		return 0;
	}
	if (x <= 0.0) {
		*out = 1.0;
		return 0;
	}
	double t = n * x;
	if (t <= 1.0) { /* Ruben-Gambino: 1/2n <= x <= 1/n */
		if (t <= 0.5) {
			*out = 1.0;
			return 0;
		}
		if (n <= 140.0) {
			cdf = 1.0;
			for (double i = 1.0; i <= n; i += 1.0)
				cdf *= i * (1.0 / n) * (2.0 * t - 1.0);
		} else {
			cdf = exp(log_fact_over_pow(n) + n * log(2.0 * t - 1.0));
		}
		*out = clip01(1.0 - cdf);
		return 0;
	}
	if (t >= n - 1.0) { /* Ruben-Gambino */
		*out = clip01(2.0 * pow(1.0 - x, n));
		return 0;
	}
	if (x >= 0.5) { /* the two one-sided tails are disjoint */
		*out = clip01(2.0 * mlops_smirnov_sf(n, x));
		return 0;
	}

	double nxx = t * x;
	if (n <= 140.0) {
		if (nxx <= 4.0) {
			if ((error = durbin_cdf(&cdf, n, x)) < 0)
				return error;
			*out = clip01(1.0 - cdf);
			return 0;
		}
		*out = clip01(2.0 * mlops_smirnov_sf(n, x));
		return 0;
	}
	if (nxx >= 370.0) {
		*out = 0.0;
		return 0;
	}
	if (nxx >= 2.2) {
		*out = clip01(2.0 * mlops_smirnov_sf(n, x));
		return 0;
	}
	if (n <= 100000.0 && n * pow(x, 1.5) <= 1.4) {
		if ((error = durbin_cdf(&cdf, n, x)) < 0)
			return error;
	} else {
		cdf = pelz_good_cdf(n, x);
	}
	*out = clip01(1.0 - cdf);
	return 0;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/*
 * m == n:  P(D >= h/n) = 2 sum_{k>=1} (-1)^(k-1) C(2n, n-kh) / C(2n, n).
 * The ratio of consecutive terms is a product of h simple factors, so the
 * alternating sum is evaluated from the far end as r0 (1 - r1 (1 - ...)).
 */
static double ks2_square_sf(uint64_t n, uint64_t h)
{
	double p = 0.0;
	double dn = (double)n, dh = (double)h;
	for (int64_t k = (int64_t)(n / h); k >= 0; k--) {
		double ratio = 1.0, kh = (double)k * dh;
		for (uint64_t j = 0; j < h; j++) {
			double jd = (double)j;
			ratio = (dn - kh - jd) * ratio / (dn + kh + jd + 1.0);
		}
		p = ratio * (1.0 - p);
	}
	return 2.0 * p;
}

/*
 * m > n.  A lattice path from (0,0) to (m,n) stays inside the band when
 * every point satisfies |i*ng - j*mg| < h (ng = n/g, mg = m/g).  q(i,j),
 * the share of paths to (i,j) that have left the band, is 1 outside the
 * band and (i q(i-1,j) + j q(i,j-1)) / (i+j) inside it; the p-value is
 * q(m,n).  One column is kept; the band's ends only move up with i, so
 * each column costs the width of the band.
 */
static int ks2_band_sf(double *out, uint64_t m, uint64_t n, uint64_t h)
{
	uint64_t g = gcd_u64(m, n), mg = m / g, ng = n / g;
	double *col = malloc((n + 1) * sizeof(double));
	double *recip = malloc((m + n + 1) * sizeof(double)); /* recip[k] = 1/k */
	if (!col || !recip) {
		free(col);
		free(recip);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	recip[0] = 0.0;
	for (uint64_t k = 1; k <= m + n; k++)
		recip[k] = 1.0 / (double)k;

	uint64_t hi = (h + mg - 1) / mg;
	if (hi > n + 1)
		hi = n + 1;
	for (uint64_t j = 0; j <= n; j++)
		col[j] = j < hi ? 0.0 : 1.0;

	uint64_t prev_lo = 0;
	for (uint64_t i = 1; i <= m; i++) {
		uint64_t c = ng * i;
		uint64_t lo = c < h ? 0 : (c - h) / mg + 1;
		hi = (c + h + mg - 1) / mg;
		if (hi > n + 1)
			hi = n + 1;
		if (lo > n)
			lo = n;
		if (hi <= lo) {
			*out = 1.0;
			goto done;
		}
		for (uint64_t j = prev_lo; j < lo; j++)
			col[j] = 1.0;
		prev_lo = lo;
		/* below <- (i col[j] + j below) / (i + j), with the division
		 * taken from a table of reciprocals so that only one multiply
		 * and one add sit on the loop-carried dependency. */
		double di = (double)i;
		double below = lo == 0 ? 0.0 : col[lo - 1];
		const double *r = recip + i;
		for (uint64_t j = lo; j < hi; j++) {
			double dj = (double)j;
			below = dj * r[j] * below + col[j] * di * r[j];
			col[j] = below;
		}
	}
	*out = clip01(col[n]);
done:
	free(col);
	free(recip);
	return 0;
}

int mlops_ks2_exact_sf(double *out, uint64_t m, uint64_t n, uint64_t h)
{
	if (m == 0 || n == 0)
		return mlops_error_set(MLOPS_EINVALID, "empty sample in the two-sample ks distribution");
	if (h == 0) {
		*out = 1.0;
		return 0;
	}
	if (m == n) {
		*out = clip01(ks2_square_sf(n, h));
		return 0;
	}
	if (m < n) {
		uint64_t t = m;
		m = n;
		n = t;
	}
	return ks2_band_sf(out, m, n, h);
}
