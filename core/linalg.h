/*
 * linalg.h - the small dense linear algebra the built-in trainers need.
 *
 * A row-major matrix of doubles, a few vector kernels (dot, axpy, scale),
 * a Cholesky factorisation and solve for symmetric positive definite systems
 * (ridge regression's normal equations) and an L-BFGS minimiser with a line
 * search satisfying the strong Wolfe conditions (logistic regression).
 * Nothing here knows about data sets or models.
 */
#ifndef MLOPS_LINALG_H
#define MLOPS_LINALG_H

#include <stddef.h>

/* A dense row-major matrix: element (i, j) is data[i * cols + j]. */
struct mlops_matrix {
	size_t rows, cols;
	double *data;
};

/*
 * Allocate a rows x cols matrix filled with zeros into *out (the caller's,
 * freed with mlops_matrix_free).  MLOPS_ERROR when the size overflows or
 * memory runs out.
 */
int mlops_matrix_new(struct mlops_matrix **out, size_t rows, size_t cols);

/* Free a matrix; NULL is accepted. */
void mlops_matrix_free(struct mlops_matrix *m);

/* Row i of m (borrowed). */
static inline double *mlops_matrix_row(const struct mlops_matrix *m, size_t i)
{
	return m->data + i * m->cols;
}

/* sum x[i] * y[i] over n elements. */
double mlops_vec_dot(const double *x, const double *y, size_t n);

/* y += a * x over n elements. */
void mlops_vec_axpy(double *y, double a, const double *x, size_t n);

/* x *= a over n elements. */
void mlops_vec_scale(double *x, double a, size_t n);

/* max |x[i]| over n elements (0 for n == 0). */
double mlops_vec_amax(const double *x, size_t n);

/*
 * Factor the symmetric positive definite n x n matrix a (row-major; only
 * the lower triangle is read) in place into L with a = L L^T; the lower
 * triangle of a then holds L and the strict upper triangle is zeroed.
 * MLOPS_EINVALID when a is not (numerically) positive definite.
 */
int mlops_cholesky_factor(double *a, size_t n);

/*
 * Solve L L^T x = b in place (b becomes x), with L from
 * mlops_cholesky_factor.  Cannot fail.
 */
void mlops_cholesky_solve(const double *l, size_t n, double *b);

/*
 * An objective for mlops_lbfgs_minimize: return f(x) and write its gradient
 * into grad (n doubles).  A non-finite return value is treated as "too far"
 * by the line search.
 */
typedef double (*mlops_objective_fn)(void *ctx, const double *x, double *grad);

struct mlops_lbfgs_opts {
	size_t memory;      /* correction pairs kept (default 10) */
	size_t max_iter;    /* iterations (default 1000) */
	size_t max_ls;      /* function evaluations per line search (default 40) */
	double gtol;        /* stop when max |grad| <= gtol (default 1e-6) */
	double ftol;        /* stop when the relative decrease of f is <= ftol
			       (default 64 * DBL_EPSILON, as scikit-learn's lbfgs) */
};

/* Fill opts with the defaults above. */
void mlops_lbfgs_opts_init(struct mlops_lbfgs_opts *opts);

/* What mlops_lbfgs_minimize did. */
struct mlops_lbfgs_result {
	double f;           /* objective at the returned x */
	double gnorm;       /* max |grad| at the returned x */
	size_t iterations;
	size_t evaluations;
	int converged;      /* 1 when gtol or ftol was met */
};

/*
 * Minimise f starting from x (n doubles), leaving the minimiser in x.  The
 * search direction is the L-BFGS two-loop recursion; the step satisfies the
 * strong Wolfe conditions (c1 = 1e-4, c2 = 0.9; bracketing then zoom with
 * safeguarded cubic interpolation, Nocedal & Wright algorithms 3.5 and 3.6).
 * When the line search cannot make progress (the objective is flat to
 * rounding) the best point found is kept and result->converged tells
 * whether the tolerances were met.  opts may be NULL for the defaults;
 * result may be NULL.  MLOPS_ERROR when memory runs out, MLOPS_EINVALID
 * when f or its gradient is not finite at the starting point.
 */
int mlops_lbfgs_minimize(double *x, size_t n, mlops_objective_fn f, void *ctx,
			 const struct mlops_lbfgs_opts *opts,
			 struct mlops_lbfgs_result *result);

#endif
