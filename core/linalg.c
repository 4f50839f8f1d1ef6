/*
 * linalg.c - dense matrices, vector kernels, Cholesky and L-BFGS.
 *
 * Design notes.  The kernels are plain loops written so that the compiler
 * vectorises them at -O2; the trainers call them on short vectors (one row
 * of features) many times, so they stay inline-friendly and allocation
 * free.  The L-BFGS minimiser keeps its correction pairs in one block of
 * 2 * memory * n doubles used as a ring; a pair is stored only when
 * s.y > 1e-10 * y.y, which keeps the implicit Hessian approximation
 * positive definite.  If the two-loop direction is not a descent direction
 * the history is dropped and the step restarts from steepest descent.
 */
#include "core/linalg.h"
#include "store/error.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int mlops_matrix_new(struct mlops_matrix **out, size_t rows, size_t cols)
{
	struct mlops_matrix *m;

	*out = NULL;
	if (cols && rows > SIZE_MAX / sizeof(double) / cols)
		return mlops_error_set(MLOPS_ERROR, "matrix of %zu x %zu is too large",
				       rows, cols);
	m = calloc(1, sizeof(*m));
	if (!m)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	m->rows = rows;
	m->cols = cols;
	m->data = calloc(rows * cols + 1, sizeof(double));
	if (!m->data) {
		free(m);
		return mlops_error_set(MLOPS_ERROR,
				       "out of memory for a %zu x %zu matrix", rows, cols);
	}
	*out = m;
	return 0;
}

void mlops_matrix_free(struct mlops_matrix *m)
{
	if (!m)
		return;
	free(m->data);
	free(m);
}

double mlops_vec_dot(const double *x, const double *y, size_t n)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += x[i] * y[i];
		s1 += x[i + 1] * y[i + 1];
		s2 += x[i + 2] * y[i + 2];
		s3 += x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

void mlops_vec_axpy(double *y, double a, const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

void mlops_vec_scale(double *x, double a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] *= a;
}

double mlops_vec_amax(const double *x, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double v = fabs(x[i]);
		if (v > m || isnan(v))
			m = v;
	}
	return m;
}

int mlops_cholesky_factor(double *a, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		double *rj = a + j * n;
		double d = rj[j] - mlops_vec_dot(rj, rj, j);

		if (!(d > 0) || !isfinite(d))
			return mlops_error_set(MLOPS_EINVALID,
					       "matrix is not positive definite (pivot %zu)", j);
		d = sqrt(d);
		rj[j] = d;
		for (size_t i = j + 1; i < n; i++) {
			double *ri = a + i * n;
			ri[j] = (ri[j] - mlops_vec_dot(ri, rj, j)) / d;
		}
		for (size_t k = j + 1; k < n; k++)
			rj[k] = 0;
	}
	return 0;
}

void mlops_cholesky_solve(const double *l, size_t n, double *b)
{
	/* L z = b, forward. */
	for (size_t i = 0; i < n; i++)
		b[i] = (b[i] - mlops_vec_dot(l + i * n, b, i)) / l[i * n + i];
	/* L^T x = z, backward. */
	for (size_t i = n; i-- > 0;) {
		double s = b[i];
		for (size_t k = i + 1; k < n; k++)
			s -= l[k * n + i] * b[k];
		b[i] = s / l[i * n + i];
	}
}

void mlops_lbfgs_opts_init(struct mlops_lbfgs_opts *opts)
{
	opts->memory = 10;
	opts->max_iter = 1000;
	opts->max_ls = 40;
	opts->gtol = 1e-6;
	opts->ftol = 64 * DBL_EPSILON;
}

/* State of one line search along d from x0. */
struct ls {
	mlops_objective_fn f;
	void *ctx;
	size_t n;
	const double *x0, *d;
	double *x, *g;     /* the last evaluated point and its gradient */
	double f0, dg0;
	size_t evals;
};

/* Evaluate at x0 + a d; return f, set *dg to the directional derivative. */
static double ls_eval(struct ls *s, double a, double *dg)
{
	double fv;

	for (size_t i = 0; i < s->n; i++)
		s->x[i] = s->x0[i] + a * s->d[i];
	fv = s->f(s->ctx, s->x, s->g);
	s->evals++;
	*dg = mlops_vec_dot(s->g, s->d, s->n);
	if (!isfinite(*dg))
		fv = INFINITY;
	return isnan(fv) ? INFINITY : fv;
}

/*
 * Minimiser of the cubic through (a0, f0, d0) and (a1, f1, d1), kept inside
 * the interval between them away from its ends; the midpoint when the cubic
 * has no usable minimiser.
 */
static double cubic_step(double a0, double f0, double d0, double a1, double f1, double d1)
{
	double lo = fmin(a0, a1), hi = fmax(a0, a1), w = hi - lo;
	double t1 = d0 + d1 - 3 * (f0 - f1) / (a0 - a1);
	double disc = t1 * t1 - d0 * d1;
	double a;

	if (isfinite(f1) && disc >= 0) {
		double t2 = copysign(sqrt(disc), a1 - a0);
		double den = d1 - d0 + 2 * t2;
		a = den != 0 ? a1 - (a1 - a0) * (d1 + t2 - t1) / den : NAN;
	} else {
		a = NAN;
	}
	if (!isfinite(a) || a < lo + 0.1 * w || a > hi - 0.1 * w)
		a = lo + 0.5 * w;
	return a;
}

/*
 * Strong Wolfe line search (Nocedal & Wright 3.5/3.6).  On return s->x and
 * s->g hold the last evaluated point; returns 1 and sets *step, *fout when
 * that point satisfies the conditions, 0 when only a decrease was found
 * (the point is still better than x0), -1 when nothing better was found.
 */
static int line_search(struct ls *s, double a, size_t max_ls, double *step, double *fout)
{
	const double c1 = 1e-4, c2 = 0.9;
	double a_prev = 0, f_prev = s->f0, dg_prev = s->dg0;
	double lo, flo, dlo, hi, fhi, dhi;
	double fa, dga;
	size_t i;

	for (i = 0;; i++) {
		fa = ls_eval(s, a, &dga);
		if (fa > s->f0 + c1 * a * s->dg0 || (i > 0 && fa >= f_prev)) {
			lo = a_prev, flo = f_prev, dlo = dg_prev;
			hi = a, fhi = fa, dhi = dga;
			break;
		}
		if (fabs(dga) <= -c2 * s->dg0) {
			*step = a, *fout = fa;
			return 1;
		}
		if (dga >= 0) {
			lo = a, flo = fa, dlo = dga;
			hi = a_prev, fhi = f_prev, dhi = dg_prev;
			break;
		}
		if (s->evals >= max_ls) {
			*step = a, *fout = fa;
			return 0;
		}
		a_prev = a, f_prev = fa, dg_prev = dga;
		a *= 4;
	}
	/* zoom: lo satisfies sufficient decrease and has the lower f. */
	while (s->evals < max_ls) {
		if (fabs(hi - lo) <= 1e-16 * fmax(1, fabs(lo)))
			break;
		if (isfinite(fhi))
			a = cubic_step(lo, flo, dlo, hi, fhi, dhi);
		else
			a = lo + 0.5 * (hi - lo);
		fa = ls_eval(s, a, &dga);
		if (fa > s->f0 + c1 * a * s->dg0 || fa >= flo) {
			hi = a, fhi = fa, dhi = dga;
		} else {
			if (fabs(dga) <= -c2 * s->dg0) {
				*step = a, *fout = fa;
				return 1;
			}
			if (dga * (hi - lo) >= 0)
				hi = lo, fhi = flo, dhi = dlo;
			lo = a, flo = fa, dlo = dga;
		}
	}
	/* Out of evaluations: fall back on lo if it improves on x0. */
	if (lo > 0 && flo < s->f0) {
		if (a != lo)
			ls_eval(s, lo, &dga);
		*step = lo, *fout = flo;
		return 0;
	}
	return -1;
}

int mlops_lbfgs_minimize(double *x, size_t n, mlops_objective_fn f, void *ctx,
			 const struct mlops_lbfgs_opts *opts,
			 struct mlops_lbfgs_result *result)
{
	struct mlops_lbfgs_opts def;
	struct mlops_lbfgs_result res = {0};
	double *buf = NULL, *g, *d, *xn, *gn, *S, *Y, *rho, *alpha;
	size_t m, head = 0, count = 0;
	double fx;
	int error = 0;

	if (!opts) {
		mlops_lbfgs_opts_init(&def);
		opts = &def;
	}
	m = opts->memory ? opts->memory : 1;
	if (n > SIZE_MAX / sizeof(double) / (2 * m + 6))
		return mlops_error_set(MLOPS_ERROR, "optimisation problem is too large");
	buf = malloc(sizeof(double) * (n * (2 * m + 4) + 2 * m));
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	g = buf;
	d = g + n;
	xn = d + n;
	gn = xn + n;
	S = gn + n;
	Y = S + n * m;
	rho = Y + n * m;
	alpha = rho + m;

	fx = f(ctx, x, g);
	res.evaluations = 1;
	res.gnorm = mlops_vec_amax(g, n);
	if (!isfinite(fx) || !isfinite(res.gnorm)) {
		error = mlops_error_set(MLOPS_EINVALID,
					"objective is not finite at the starting point");
		goto cleanup;
	}
	while (res.gnorm > opts->gtol && res.iterations < opts->max_iter) {
		struct ls s = { f, ctx, n, x, d, xn, gn, fx, 0, 0 };
		double step, fnew, a0;
		int ok;

		/* Two-loop recursion: d = -H g. */
		memcpy(d, g, n * sizeof(double));
		for (size_t k = 0; k < count; k++) {
			size_t j = (head + m - 1 - k) % m;
			alpha[j] = rho[j] * mlops_vec_dot(S + j * n, d, n);
			mlops_vec_axpy(d, -alpha[j], Y + j * n, n);
		}
		if (count) {
			size_t j = (head + m - 1) % m;
			const double *yj = Y + j * n;
			mlops_vec_scale(d, 1 / (rho[j] * mlops_vec_dot(yj, yj, n)), n);
		}
		for (size_t k = count; k-- > 0;) {
			size_t j = (head + m - 1 - k) % m;
			double beta = rho[j] * mlops_vec_dot(Y + j * n, d, n);
			mlops_vec_axpy(d, alpha[j] - beta, S + j * n, n);
		}
		mlops_vec_scale(d, -1, n);
		s.dg0 = mlops_vec_dot(g, d, n);
		if (!(s.dg0 < 0)) {
			/* Not a descent direction: restart from steepest descent. */
			count = 0;
			for (size_t i = 0; i < n; i++)
				d[i] = -g[i];
			s.dg0 = mlops_vec_dot(g, d, n);
		}
		a0 = count ? 1 : fmin(1, 1 / sqrt(-s.dg0));
		ok = line_search(&s, a0, opts->max_ls, &step, &fnew);
		res.evaluations += s.evals;
		if (ok < 0)
			break;
		res.iterations++;
		/* New pair s = xn - x, y = gn - g. */
		{
			double *sj = S + head * n, *yj = Y + head * n, ys, yy;
			for (size_t i = 0; i < n; i++) {
				sj[i] = xn[i] - x[i];
				yj[i] = gn[i] - g[i];
			}
			ys = mlops_vec_dot(yj, sj, n);
			yy = mlops_vec_dot(yj, yj, n);
			if (ys > 1e-10 * yy && yy > 0) {
				rho[head] = 1 / ys;
				head = (head + 1) % m;
				if (count < m)
					count++;
			}
		}
		memcpy(x, xn, n * sizeof(double));
		memcpy(g, gn, n * sizeof(double));
		res.gnorm = mlops_vec_amax(g, n);
		{
			double dec = (fx - fnew) / fmax(fmax(fabs(fx), fabs(fnew)), 1);
			fx = fnew;
			if (dec <= opts->ftol) {
				res.converged = 1;
				break;
			}
		}
		if (ok == 0 && step == 0)
			break;
	}
	if (res.gnorm <= opts->gtol)
		res.converged = 1;
	res.f = fx;
cleanup:
	free(buf);
	if (result)
		*result = res;
	return error;
}
