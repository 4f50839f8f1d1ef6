/*
 * monitor.c - `mlops monitor check`: current data (a table or a serve
 * request log) against a model's baseline, column by column, its
 * predictions and, with labels, its quality; thresholds from config; the
 * check's record and the log of checks.
 *
 * Design notes.
 *  - The current data is read once.  Each baseline column gets an
 *    accumulator (monitor_acc.c): numeric columns count every value into
 *    the baseline's bins and keep moments and a reservoir sample of
 *    MLOPS_MONITOR_CURRENT_SAMPLE values; categorical columns count the
 *    baseline's categories and up to MLOPS_MONITOR_CATEGORIES unseen ones.
 *    Memory is bounded by the number of columns, not of rows.
 *  - With a built-in model and a table, each row is predicted as it is
 *    read; the predictions are one more column.  A log brings its
 *    predictions.  With labels (--target), the training metrics are
 *    recomputed in the same pass, from sums and a confusion matrix (the
 *    ROC AUC of a binary classifier keeps one score per row).
 *  - KS and Wasserstein compare the baseline's stored sample with the
 *    current sample; both are the whole columns up to their capacities,
 *    so small checks are exact and agree with SciPy.  PSI, chi-squared,
 *    the z-test and Jensen-Shannon use counts over every value.
 *  - Which test decides a column is Evidently's default rule
 *    (mlops_monitor_default_test) unless one test is asked for.  Every
 *    figure goes into the report either way.
 */
#include "core/monitor_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/drift.h"
#include "core/learn.h"
#include "core/metrics.h"
#include "store/error.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"

#define CUR_SEED UINT64_C(0x63757272656e7431)
#define NONNUM_EXAMPLES 100 /* texts kept of a numeric column's non-numbers */
#define NEW_COLUMNS 1000

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

/* ---- thresholds --------------------------------------------------------- */

void mlops_monitor_thresholds_init(struct mlops_monitor_thresholds *t)
{
	t->psi = 0.2;
	t->ks_pvalue = 0.05;
	t->wasserstein = 0.1;
	t->jensenshannon = 0.1;
	t->chi2_pvalue = 0.05;
	t->share = 0.5;
	t->quality_drop = 0.05;
	t->quality_pvalue = 0.05;
}

int mlops_monitor_threshold_check(const char *name, double v)
{
	int prob = !strcmp(name, "ks_pvalue") || !strcmp(name, "chi2_pvalue") ||
		   !strcmp(name, "share") || !strcmp(name, "quality_pvalue");
	if (!isfinite(v) || (prob ? (v <= 0 || v > 1) : v < 0))
		return mlops_error_set(MLOPS_EINVALID, "threshold %s = %g is out of range (%s)", name,
				       v, prob ? "0 < value <= 1" : "value >= 0");
	return 0;
}

int mlops_monitor_threshold_parse(double *out, const char *name, const char *text)
{
	double v;
	int err;
	if (!mon_parse_number(text, strlen(text), &v))
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not a decimal number", text);
	if ((err = mlops_monitor_threshold_check(name, v)) < 0)
		return err;
	*out = v;
	return 0;
}

int mlops_monitor_thresholds_load(struct mlops_monitor_thresholds *t, struct mlops_repo *repo,
				  unsigned given)
{
	/* git-config names allow letters, digits and '-', not '_' */
	struct {
		const char *name, *key;
		double *v;
	} keys[] = {
		{ "psi", "psi", &t->psi }, { "ks_pvalue", "ks-pvalue", &t->ks_pvalue },
		{ "wasserstein", "wasserstein", &t->wasserstein },
		{ "jensenshannon", "jensenshannon", &t->jensenshannon },
		{ "chi2_pvalue", "chi2-pvalue", &t->chi2_pvalue }, { "share", "share", &t->share },
		{ "quality_drop", "quality-drop", &t->quality_drop },
		{ "quality_pvalue", "quality-pvalue", &t->quality_pvalue },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char key[64], *text = NULL;
		int err;
		if (given & (1u << i))
			continue;
		snprintf(key, sizeof(key), "monitor.%s", keys[i].key);
		err = mlops_config_get_string(&text, repo, key);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			continue;
		}
		if (err == 0)
			err = mlops_monitor_threshold_parse(keys[i].v, keys[i].name, text);
		free(text);
		if (err < 0)
			return mlops_error_wrap(err, "configuration '%s'", key);
	}
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static const char *const test_names[] = {
	"auto", "ks", "psi", "wasserstein", "jensenshannon", "chisquare", "z",
};

const char *mlops_monitor_test_name(enum mlops_monitor_test t)
{
	return (size_t)t < sizeof(test_names) / sizeof(test_names[0]) ? test_names[t] : "?";
}

int mlops_monitor_test_parse(enum mlops_monitor_test *out, const char *name)
{
	for (size_t i = 0; i < sizeof(test_names) / sizeof(test_names[0]); i++)
		if (!strcmp(name, test_names[i])) {
			*out = (enum mlops_monitor_test)i;
			return 0;
		}
	if (!strcmp(name, "chi2")) {
		*out = MLOPS_TEST_CHISQUARE;
		return 0;
	}
	return mlops_error_set(MLOPS_EUSAGE, "unknown test '%s' (expected auto, ks, psi, "
			       "wasserstein, jensenshannon, chisquare or z)", name);
}

enum mlops_monitor_test mlops_monitor_default_test(int numeric, uint64_t baseline_count,
						   uint64_t n_values)
{
	if (baseline_count <= MLOPS_MONITOR_EXACT_ROWS) {
		if (numeric && n_values > 5)
			return MLOPS_TEST_KS;
		return n_values > 2 ? MLOPS_TEST_CHISQUARE : MLOPS_TEST_Z;
	}
	if (numeric && n_values > 5)
		return MLOPS_TEST_WASSERSTEIN;
	return MLOPS_TEST_JENSENSHANNON;
}

/* ---- time --------------------------------------------------------------- */

double mlops_monitor_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

int mlops_monitor_time_parse(double *out, const char *text, double now)
{
	struct tm tm;
	const char *s = text;
	char *end;
	double frac = 0;
	long off = 0;

	if (*s == '@') {
		errno = 0;
		double v = strtod(s + 1, &end);
		if (end == s + 1 || *end || errno || !isfinite(v))
			goto bad;
		*out = v;
		return 0;
	}
	if (*s >= '0' && *s <= '9') {
		/* a duration: decimal digits [. digits] and a unit */
		size_t n = strspn(s, "0123456789");
		if (s[n] == '.' && s[n + 1] >= '0' && s[n + 1] <= '9')
			n += 1 + strspn(s + n + 1, "0123456789");
		end = (char *)s + n;
		double unit = !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 :
			      !strcmp(end, "d") ? 86400 : 0;
		if (unit) {
			double v = strtod(s, NULL) * unit;
			if (!isfinite(v) || v > now)
				return mlops_error_set(MLOPS_EUSAGE, "invalid time '%s': the duration "
						       "reaches back before 1970", text);
			*out = now - v;
			return 0;
		}
	}
	memset(&tm, 0, sizeof(tm));
	int n = 0, y, mo, d, h = 0, mi = 0, sec = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		goto bad;
	s += n;
	if (*s == 'T' || *s == ' ') {
		if (sscanf(s + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
			goto bad;
		s += 1 + n;
		if (*s == '.') {
			const char *f = s;
			s++;
			while (*s >= '0' && *s <= '9')
				s++;
			if (s == f + 1)
				goto bad;
			frac = strtod(f, NULL);
		}
		if (*s == 'Z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int oh, om;
			if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
				goto bad;
			off = (oh * 3600L + om * 60L) * (*s == '-' ? -1 : 1);
			s += 1 + n;
		}
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		goto bad;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (double)timegm(&tm) - (double)off + frac;
	return 0;
bad:
	return mlops_error_set(MLOPS_EUSAGE, "invalid time '%s' (expected 2026-01-02, "
			       "2026-01-02T03:04:05Z, @EPOCH or a duration such as 24h or 7d)", text);
}

/* ---- quality ------------------------------------------------------------- */

struct quality {
	int on, classify;
	size_t k;
	uint64_t n, skipped, unknown;
	/* regression; e2mean and e2m2: the running mean and sum of squared
	   deviations of the squared errors (Welford), for their spread */
	double sse, sae, yshift, ys1, ys2, e2mean, e2m2;
	int has_yshift;
	/* classification */
	uint64_t correct;
	uint64_t *conf;         /* k x k: true row, predicted column */
	double logloss;
	int have_proba;
	double *scores;
	size_t *ybin;
	size_t nscores, capscores;
};

static void quality_free(struct quality *q)
{
	free(q->conf);
	free(q->scores);
	free(q->ybin);
}

static long class_index(const struct mlops_model *m, const char *p, size_t len)
{
	for (size_t c = 0; c < m->nclasses; c++)
		if (strlen(m->classes[c]) == len && !memcmp(m->classes[c], p, len))
			return (long)c;
	return -1;
}

/* One labelled row: the label text, the predicted class or value. */
static int quality_add(struct quality *q, const struct mlops_model *m, const char *lp, size_t ll,
		       double pred_value, long pred_class, const double *proba)
{
	if (mon_is_missing(lp, ll)) {
		q->skipped++;
		return 0;
	}
	if (!q->classify) {
		double y;
		if (!mon_parse_number(lp, ll, &y)) {
			q->unknown++;
			return 0;
		}
		double e = y - pred_value;
		q->sse += e * e;
		q->sae += fabs(e);
		if (!q->has_yshift) {
			q->has_yshift = 1;
			q->yshift = y;
		}
		q->ys1 += y - q->yshift;
		q->ys2 += (y - q->yshift) * (y - q->yshift);
		q->n++;
		double d = e * e - q->e2mean;
		q->e2mean += d / (double)q->n;
		q->e2m2 += d * (e * e - q->e2mean);
		return 0;
	}
	long y = class_index(m, lp, ll);
	if (y < 0 || pred_class < 0) {
		q->unknown++;
		return 0;
	}
	q->n++;
	q->correct += y == pred_class;
	q->conf[(size_t)y * q->k + (size_t)pred_class]++;
	if (proba) {
		size_t yy = (size_t)y;
		q->logloss += mlops_metric_log_loss(&yy, proba, 1, q->k);
		if (q->k == 2) {
			if (q->nscores == q->capscores) {
				size_t cap = q->capscores ? q->capscores * 2 : 4096;
				double *s = realloc(q->scores, cap * sizeof(double));
				if (s)
					q->scores = s;
				size_t *b = s ? realloc(q->ybin, cap * sizeof(size_t)) : NULL;
				if (b)
					q->ybin = b;
				if (!s || !b)
					return oom();
				q->capscores = cap;
			}
			q->scores[q->nscores] = proba[1];
			q->ybin[q->nscores++] = yy;
		}
	} else {
		q->have_proba = 0;
	}
	return 0;
}

/* ---- the check's state ---------------------------------------------------- */

struct check {
	const struct mlops_baseline *base;
	const struct mlops_model *model;
	const struct mlops_monitor_input *in;
	struct mon_acc *acc;      /* one per baseline column */
	int *seen;
	struct mon_acc pred;
	int do_pred;              /* predictions are compared */
	uint64_t pred_errors;
	char *pred_error;         /* the first one's message */
	char *pred_note;          /* why predictions were not compared */
	struct quality q;
	long target_col;          /* the baseline column the labels go to, or -1 */
	struct mon_strmap newcols;
	struct mon_strmap versions; /* model@version of the log's lines */
	uint64_t rows, lines_skipped;
	double first_time, last_time;
	int has_times;
};

static int init_column_acc(struct mon_acc *a, const struct mon_column *c, uint64_t seed)
{
	int err;
	switch (c->kind) {
	case MON_NUMERIC:
		if ((err = mon_acc_init(a, MLOPS_MONITOR_CURRENT_SAMPLE, seed, NONNUM_EXAMPLES)) < 0)
			return err;
		a->nonfinite_ok = 1;
		a->edges = c->edges;
		a->nbins = c->nbins;
		if (!(a->bins = calloc(c->nbins, sizeof(uint64_t))))
			return oom();
		a->track_few = c->few_exact && c->nfew <= 5;
		return 0;
	case MON_CATEGORICAL:
		if ((err = mon_acc_init(a, 0, seed, MLOPS_MONITOR_CATEGORIES)) < 0)
			return err;
		a->parse = 0;
		a->cats = &c->cats;
		if (!(a->catc = calloc(c->ncat, sizeof(uint64_t))))
			return oom();
		return 0;
	default:
		if ((err = mon_acc_init(a, 0, seed, 0)) < 0)
			return err;
		a->parse = 0;
		return 0;
	}
}

static void check_clear(struct check *ck)
{
	for (size_t i = 0; ck->acc && i < ck->base->ncols; i++)
		mon_acc_free(&ck->acc[i]);
	free(ck->acc);
	free(ck->seen);
	mon_acc_free(&ck->pred);
	free(ck->pred_error);
	free(ck->pred_note);
	quality_free(&ck->q);
	mon_strmap_free(&ck->newcols);
	mon_strmap_free(&ck->versions);
}

static int check_init(struct check *ck, const struct mlops_baseline *base,
		      const struct mlops_model *model, const struct mlops_monitor_input *in)
{
	int err;
	memset(ck, 0, sizeof(*ck));
	ck->base = base;
	ck->model = model;
	ck->in = in;
	ck->target_col = -1;
	ck->acc = calloc(base->ncols ? base->ncols : 1, sizeof(*ck->acc));
	ck->seen = calloc(base->ncols ? base->ncols : 1, sizeof(int));
	if (!ck->acc || !ck->seen)
		return oom();
	for (size_t i = 0; i < base->ncols; i++) {
		if ((err = init_column_acc(&ck->acc[i], &base->cols[i], CUR_SEED + i)) < 0)
			return err;
		if (base->target && !strcmp(base->cols[i].name, base->target))
			ck->target_col = (long)i;
	}
	if (in->target && ck->target_col < 0)
		for (size_t i = 0; i < base->ncols; i++)
			if (!strcmp(base->cols[i].name, in->target))
				ck->target_col = (long)i;
	if ((err = mon_strmap_init(&ck->newcols, NEW_COLUMNS)) < 0 ||
	    (err = mon_strmap_init(&ck->versions, 100)) < 0)
		return err;
	if (base->pred) {
		if ((err = init_column_acc(&ck->pred, base->pred, CUR_SEED - 1)) < 0)
			return err;
		ck->do_pred = 1;
	}
	if (in->target) {
		if (!model)
			return mlops_error_set(MLOPS_EUSAGE, "--target needs the model, to recompute its metrics");
		ck->q.on = 1;
		ck->q.classify = model->nclasses > 0;
		ck->q.k = model->nclasses;
		ck->q.have_proba = 1;
		if (ck->q.classify && !(ck->q.conf = calloc(ck->q.k * ck->q.k, sizeof(uint64_t))))
			return oom();
	}
	return 0;
}

/* The baseline column a current column name feeds, or -1. */
static long column_index(const struct check *ck, const char *name)
{
	const struct mlops_baseline *b = ck->base;
	if (ck->in->target && !strcmp(name, ck->in->target) && ck->target_col >= 0)
		return ck->target_col;
	for (size_t i = 0; i < b->ncols; i++)
		if (!strcmp(b->cols[i].name, name))
			return (long)i;
	return -1;
}

static int note_pred_error(struct check *ck)
{
	ck->pred_errors++;
	if (!ck->pred_error && !(ck->pred_error = strdup(mlops_error_message())))
		return oom();
	mlops_error_clear();
	return 0;
}

/* ---- reading a table ------------------------------------------------------ */

/*
 * A table is read in batches of BATCH_ROWS rows copied out of the reader.
 * The work on a batch is split in tasks: one per column, and one for the
 * predictions and labels.  Tasks touch disjoint state, so worker threads
 * take a share of them each while the reader fills the next batch; every
 * accumulator still sees its values in row order, so the result does not
 * depend on the number of threads.
 */
#define BATCH_ROWS 8192
#define MAX_THREADS 8

struct batch {
	char *buf;
	size_t len, cap;
	size_t *off, *flen;   /* nrows x ncols */
	size_t nrows;
};

struct table_ctx {
	struct check *ck;
	size_t ncols;
	long *map;            /* table column -> baseline column, or -1 */
	long label;
	int predict;
	size_t *pos;          /* model input -> table column */
	size_t ninputs;
};

struct worker {
	struct table_ctx *tc;
	pthread_t thread;
	size_t *tasks;        /* table columns; ncols stands for the predictions */
	size_t ntasks;
	struct mlops_cellref *cells;
	double *proba;
	int err;
	char *errmsg;
};

static void batch_free(struct batch *b)
{
	free(b->buf);
	free(b->off);
	free(b->flen);
}

static int batch_init(struct batch *b, size_t ncols)
{
	memset(b, 0, sizeof(*b));
	b->off = malloc(BATCH_ROWS * ncols * sizeof(size_t));
	b->flen = malloc(BATCH_ROWS * ncols * sizeof(size_t));
	return b->off && b->flen ? 0 : oom();
}

static int batch_add(struct batch *b, const struct mlops_csv_field *f, size_t n)
{
	size_t need = 0;
	for (size_t j = 0; j < n; j++)
		need += f[j].len;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : (1u << 20);
		while (cap < b->len + need)
			cap *= 2;
		char *p = realloc(b->buf, cap);
		if (!p)
			return oom();
		b->buf = p;
		b->cap = cap;
	}
	size_t *off = b->off + b->nrows * n, *len = b->flen + b->nrows * n;
	for (size_t j = 0; j < n; j++) {
		memcpy(b->buf + b->len, f[j].ptr, f[j].len);
		off[j] = b->len;
		len[j] = f[j].len;
		b->len += f[j].len;
	}
	b->nrows++;
	return 0;
}

/* The predictions and labels of a batch's rows. */
static int predict_task(struct worker *w, const struct batch *b)
{
	struct table_ctx *tc = w->tc;
	struct check *ck = tc->ck;
	const struct mlops_model *m = ck->model;
	int err;
	for (size_t r = 0; r < b->nrows; r++) {
		const size_t *off = b->off + r * tc->ncols, *len = b->flen + r * tc->ncols;
		struct mlops_prediction p;
		for (size_t i = 0; i < tc->ninputs; i++) {
			w->cells[i].ptr = b->buf + off[tc->pos[i]];
			w->cells[i].len = len[tc->pos[i]];
		}
		if (mlops_model_predict_row(&p, m->nclasses ? w->proba : NULL, m, w->cells) < 0) {
			if ((err = note_pred_error(ck)) < 0)
				return err;
			continue;
		}
		if (ck->do_pred) {
			err = m->nclasses ? mon_acc_text(&ck->pred, p.label, strlen(p.label))
					  : mon_acc_number(&ck->pred, p.value);
			if (err < 0)
				return err;
		}
		if (ck->q.on && (err = quality_add(&ck->q, m, b->buf + off[tc->label], len[tc->label],
						   p.value, m->nclasses ? (long)p.class_index : -1,
						   m->nclasses ? w->proba : NULL)) < 0)
			return err;
	}
	return 0;
}

static int run_tasks(struct worker *w, const struct batch *b)
{
	struct table_ctx *tc = w->tc;
	int err;
	for (size_t t = 0; t < w->ntasks; t++) {
		size_t j = w->tasks[t];
		if (j == tc->ncols) {
			if ((err = predict_task(w, b)) < 0)
				return err;
			continue;
		}
		struct mon_acc *a = &tc->ck->acc[tc->map[j]];
		for (size_t r = 0; r < b->nrows; r++) {
			size_t k = r * tc->ncols + j;
			if ((err = mon_acc_text(a, b->buf + b->off[k], b->flen[k])) < 0)
				return err;
		}
	}
	return 0;
}

/* The hand-off between the reader and the workers. */
struct pool {
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	const struct batch *batch;
	unsigned long gen;     /* batches handed out */
	size_t busy;           /* workers still on the current batch */
	int stop;
};

struct worker_arg {
	struct pool *pool;
	struct worker *w;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct pool *pl = wa->pool;
	unsigned long seen = 0;
	for (;;) {
		pthread_mutex_lock(&pl->lock);
		while (!pl->stop && pl->gen == seen)
			pthread_cond_wait(&pl->go, &pl->lock);
		if (pl->stop && pl->gen == seen) {
			pthread_mutex_unlock(&pl->lock);
			return NULL;
		}
		seen = pl->gen;
		const struct batch *b = pl->batch;
		pthread_mutex_unlock(&pl->lock);
		if (!wa->w->err && (wa->w->err = run_tasks(wa->w, b)) < 0)
			wa->w->errmsg = strdup(mlops_error_message());
		pthread_mutex_lock(&pl->lock);
		if (--pl->busy == 0)
			pthread_cond_signal(&pl->done);
		pthread_mutex_unlock(&pl->lock);
	}
}

static void pool_wait(struct pool *pl)
{
	pthread_mutex_lock(&pl->lock);
	while (pl->busy)
		pthread_cond_wait(&pl->done, &pl->lock);
	pthread_mutex_unlock(&pl->lock);
}

static void pool_start(struct pool *pl, const struct batch *b, size_t nworkers)
{
	pthread_mutex_lock(&pl->lock);
	pl->batch = b;
	pl->busy = nworkers;
	pl->gen++;
	pthread_cond_broadcast(&pl->go);
	pthread_mutex_unlock(&pl->lock);
}

/* Share the tasks among n workers by their rough cost. */
static int assign_tasks(struct worker *ws, size_t n, struct table_ctx *tc)
{
	double load[MAX_THREADS] = { 0 };
	size_t ntasks = tc->ncols + 1;
	for (size_t i = 0; i < n; i++)
		if (!(ws[i].tasks = malloc(ntasks * sizeof(size_t))))
			return oom();
	for (size_t t = ntasks; t-- > 0;) {
		double cost;
		if (t == tc->ncols) {
			if (!tc->predict)
				continue;
			cost = 0.6 * (double)tc->ninputs + 1;
		} else {
			if (tc->map[t] < 0)
				continue;
			cost = tc->ck->base->cols[tc->map[t]].kind == MON_NUMERIC ? 1 : 0.5;
		}
		size_t best = 0;
		for (size_t i = 1; i < n; i++)
			if (load[i] < load[best])
				best = i;
		load[best] += cost;
		ws[best].tasks[ws[best].ntasks++] = t;
	}
	return 0;
}

static size_t thread_count(size_t ncols)
{
	const char *env = getenv("MLOPS_MONITOR_THREADS");
	long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if ((size_t)n > ncols + 1)
		n = (long)ncols + 1;
	return (size_t)n;
}

/*
 * MLOPS_EINVALID naming a column that appears twice among names (of the
 * table at path, or of its line `lineno` when not 0); else 0.
 */
static int duplicate_column(const char *const *names, size_t n, const char *path, size_t lineno)
{
	size_t a, b;
	int u = mon_names_unique(&a, &b, names, n);
	if (u < 0)
		return u;
	if (u)
		return 0;
	if (lineno)
		return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: column '%s' appears twice "
				       "(columns %zu and %zu)", path, lineno, names[b], a + 1, b + 1);
	return mlops_error_set(MLOPS_EINVALID, "'%s': column '%s' appears twice (columns %zu "
			       "and %zu)", path, names[b], a + 1, b + 1);
}

static int feed_table(struct check *ck)
{
	struct mlops_csv *csv = NULL;
	const struct mlops_csv_field *f;
	const char *const *names;
	const char *path = ck->in->data_path;
	struct table_ctx tc;
	struct batch batches[2];
	struct worker ws[MAX_THREADS];
	struct worker_arg args[MAX_THREADS];
	struct pool pl;
	size_t n, nthreads = 1, started = 0, cur = 0;
	int err = 0, rc = 0, have_pool = 0;
	const struct mlops_model *m = ck->model;

	memset(&tc, 0, sizeof(tc));
	memset(ws, 0, sizeof(ws));
	memset(batches, 0, sizeof(batches));
	tc.ck = ck;
	tc.label = -1;
	if ((err = mlops_csv_open(&csv, path, NULL)) < 0)
		return err;
	names = mlops_csv_names(csv, &tc.ncols);
	if ((err = duplicate_column(names, tc.ncols, path, 0)) < 0)
		goto done;
	if (!(tc.map = calloc(tc.ncols ? tc.ncols : 1, sizeof(long))))
		goto oom;
	for (size_t j = 0; j < tc.ncols; j++) {
		tc.map[j] = column_index(ck, names[j]);
		if (tc.map[j] >= 0)
			ck->seen[tc.map[j]] = 1;
		else if ((err = mon_strmap_add(&ck->newcols, names[j], strlen(names[j]), 1)) < 0)
			goto done;
		if (ck->in->target && !strcmp(names[j], ck->in->target))
			tc.label = (long)j;
	}
	if (ck->in->target && tc.label < 0) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' has no label column '%s'", path,
				      ck->in->target);
		goto done;
	}
	if (m && (ck->do_pred || ck->q.on)) {
		tc.ninputs = m->design.ninputs;
		if (!(tc.pos = calloc(tc.ninputs ? tc.ninputs : 1, sizeof(size_t))))
			goto oom;
		if (mlops_design_bind(tc.pos, &m->design, names, tc.ncols) < 0) {
			if (!(ck->pred_note = strdup(mlops_error_message())))
				goto oom;
			mlops_error_clear();
			ck->do_pred = 0;
			ck->q.on = 0;
		} else {
			tc.predict = 1;
		}
	} else if (!m && ck->do_pred) {
		ck->do_pred = 0;
		if (!(ck->pred_note = strdup("no model to predict with")))
			goto oom;
	}
	if ((err = batch_init(&batches[0], tc.ncols)) < 0 ||
	    (err = batch_init(&batches[1], tc.ncols)) < 0)
		goto done;
	for (;;) {
		struct batch *b = &batches[cur];
		b->nrows = b->len = 0;
		while (b->nrows < BATCH_ROWS && (rc = mlops_csv_next(csv, &f, &n)) == 1)
			if ((err = batch_add(b, f, n)) < 0)
				goto done;
		if (rc < 0) {
			err = rc;
			goto done;
		}
		ck->rows += b->nrows;
		if (!started) {
			/* threads only for tables of more than one batch */
			nthreads = b->nrows == BATCH_ROWS ? thread_count(tc.ncols) : 1;
			for (size_t i = 0; i < nthreads; i++) {
				ws[i].tc = &tc;
				ws[i].cells = calloc(tc.ninputs ? tc.ninputs : 1, sizeof(*ws[i].cells));
				ws[i].proba = calloc(m && m->nclasses ? m->nclasses : 1, sizeof(double));
				if (!ws[i].cells || !ws[i].proba)
					goto oom;
			}
			if ((err = assign_tasks(ws, nthreads, &tc)) < 0)
				goto done;
			started = 1;
			if (nthreads > 1) {
				memset(&pl, 0, sizeof(pl));
				pthread_mutex_init(&pl.lock, NULL);
				pthread_cond_init(&pl.go, NULL);
				pthread_cond_init(&pl.done, NULL);
				have_pool = 1;
				for (size_t i = 0; i < nthreads; i++) {
					args[i].pool = &pl;
					args[i].w = &ws[i];
					if (pthread_create(&ws[i].thread, NULL, worker_main, &args[i]) != 0) {
						err = mlops_error_set(MLOPS_ERROR, "unable to start a thread");
						pl.stop = 1;
						nthreads = i;
						goto done;
					}
				}
			}
		}
		if (nthreads > 1) {
			pool_wait(&pl);           /* the other batch is free again */
			for (size_t i = 0; i < nthreads; i++)
				if (ws[i].err < 0) {
					err = ws[i].err;
					goto done;
				}
			if (b->nrows)
				pool_start(&pl, b, nthreads);
			cur ^= 1;
		} else if ((err = run_tasks(&ws[0], b)) < 0) {
			goto done;
		}
		if (b->nrows < BATCH_ROWS)
			break;
	}
	goto done;
oom:
	err = oom();
done:
	if (have_pool) {
		pool_wait(&pl);
		pthread_mutex_lock(&pl.lock);
		pl.stop = 1;
		pthread_cond_broadcast(&pl.go);
		pthread_mutex_unlock(&pl.lock);
		for (size_t i = 0; i < nthreads; i++)
			pthread_join(ws[i].thread, NULL);
		for (size_t i = 0; err == 0 && i < nthreads; i++)
			if (ws[i].err < 0)
				err = mlops_error_set(ws[i].err, "%s", ws[i].errmsg ? ws[i].errmsg : "failed");
		pthread_mutex_destroy(&pl.lock);
		pthread_cond_destroy(&pl.go);
		pthread_cond_destroy(&pl.done);
	}
	for (size_t i = 0; i < MAX_THREADS; i++) {
		free(ws[i].tasks);
		free(ws[i].cells);
		free(ws[i].proba);
		free(ws[i].errmsg);
	}
	batch_free(&batches[0]);
	batch_free(&batches[1]);
	free(tc.map);
	free(tc.pos);
	mlops_csv_free(csv);
	return err;
}

/* ---- reading a serve log --------------------------------------------------- */

static int feed_json_value(struct mon_acc *a, const cJSON *v)
{
	char buf[32];
	if (!v || cJSON_IsNull(v))
		return mon_acc_text(a, "", 0);
	if (cJSON_IsNumber(v)) {
		if (a->parse && !a->cats)
			return mon_acc_number(a, v->valuedouble);
		const char *t = mon_number_text(buf, v->valuedouble);
		return mon_acc_text(a, t, strlen(t));
	}
	if (cJSON_IsString(v))
		return mon_acc_text(a, v->valuestring, strlen(v->valuestring));
	if (cJSON_IsBool(v))
		return mon_acc_text(a, cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5);
	return mon_acc_text(a, "<object>", 8);
}

/* A JSON value as label text (numbers in their shortest form). */
static const char *json_text(char buf[32], const cJSON *v, size_t *len)
{
	const char *t = "";
	if (cJSON_IsNumber(v))
		t = mon_number_text(buf, v->valuedouble);
	else if (cJSON_IsString(v))
		t = v->valuestring;
	else if (cJSON_IsBool(v))
		t = cJSON_IsTrue(v) ? "true" : "false";
	*len = strlen(t);
	return t;
}

static int log_line(struct check *ck, const cJSON *o, const char *path, size_t lineno)
{
	const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(o, "inputs");
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(inputs, "columns");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(inputs, "data");
	const cJSON *preds = cJSON_GetObjectItemCaseSensitive(o, "predictions");
	const char *model = mlops_json_str(o, "model"), *ts = mlops_json_str(o, "time");
	const cJSON *c, *row;
	long map[256], *mp = map, label = -1;
	size_t nc, r = 0;
	int err = 0;
	double t = 0;

	if (!cJSON_IsArray(cols) || !cJSON_IsArray(data))
		return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: not a request record "
				       "(no \"inputs\" with \"columns\" and \"data\")", path, lineno);
	if (ck->in->model && model && strcmp(model, ck->in->model))
		return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: a request to model '%s', not "
				       "'%s'", path, lineno, model, ck->in->model);
	if (ts) {
		if (mlops_monitor_time_parse(&t, ts, 0) < 0)
			return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: invalid time '%s'", path,
					       lineno, ts);
		if (ck->in->has_since && t < ck->in->since) {
			ck->lines_skipped++;
			return 0;
		}
	} else if (ck->in->has_since) {
		return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: no \"time\" for --since", path,
				       lineno);
	}
	{
		const char *ver = mlops_json_str(o, "version");
		char who[300];
		snprintf(who, sizeof(who), "%s@%s", model ? model : "?", ver ? ver : "?");
		if ((err = mon_strmap_add(&ck->versions, who, strlen(who), 1)) < 0)
			return err;
	}
	nc = (size_t)cJSON_GetArraySize(cols);
	if (nc > sizeof(map) / sizeof(map[0]) && !(mp = malloc(nc * sizeof(long))))
		return oom();
	size_t j = 0;
	cJSON_ArrayForEach(c, cols) {
		if (!cJSON_IsString(c)) {
			err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: a column name is not a string",
					      path, lineno);
			goto done;
		}
		for (const cJSON *d = cols->child; d != c; d = d->next)
			if (!strcmp(d->valuestring, c->valuestring)) {
				err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: column '%s' "
						      "appears twice", path, lineno, c->valuestring);
				goto done;
			}
		mp[j] = column_index(ck, c->valuestring);
		if (mp[j] >= 0)
			ck->seen[mp[j]] = 1;
		else if ((err = mon_strmap_add(&ck->newcols, c->valuestring, strlen(c->valuestring), 1)) < 0)
			goto done;
		if (ck->in->target && !strcmp(c->valuestring, ck->in->target))
			label = (long)j;
		j++;
	}
	size_t nrows = (size_t)cJSON_GetArraySize(data);
	if (preds && (!cJSON_IsArray(preds) || (size_t)cJSON_GetArraySize(preds) != nrows)) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: \"predictions\" does not have "
				      "one value per row", path, lineno);
		goto done;
	}
	const cJSON *p = preds ? preds->child : NULL;
	cJSON_ArrayForEach(row, data) {
		const cJSON *v;
		const cJSON *lv = NULL;
		if (!cJSON_IsArray(row) || (size_t)cJSON_GetArraySize(row) != nc) {
			err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: row %zu does not have %zu values",
					      path, lineno, r + 1, nc);
			goto done;
		}
		j = 0;
		cJSON_ArrayForEach(v, row) {
			if (mp[j] >= 0 && (err = feed_json_value(&ck->acc[mp[j]], v)) < 0)
				goto done;
			if ((long)j == label)
				lv = v;
			j++;
		}
		if (p && ck->do_pred && (err = feed_json_value(&ck->pred, p)) < 0)
			goto done;
		if (p && ck->q.on && label >= 0) {
			char b1[32], b2[32];
			size_t ll, pl;
			const char *lt = json_text(b1, lv, &ll), *pt = json_text(b2, p, &pl);
			double pv = 0;
			long pc = -1;
			if (ck->q.classify)
				pc = class_index(ck->model, pt, pl);
			else if (!mon_parse_number(pt, pl, &pv))
				pv = NAN;
			if (!ck->q.classify && !isfinite(pv))
				ck->q.unknown++;
			else if ((err = quality_add(&ck->q, ck->model, lt, ll, pv, pc, NULL)) < 0)
				goto done;
		}
		if (p)
			p = p->next;
		ck->rows++;
		r++;
	}
	if (ts) {
		if (!ck->has_times || t < ck->first_time)
			ck->first_time = t;
		if (!ck->has_times || t > ck->last_time)
			ck->last_time = t;
		ck->has_times = 1;
	}
done:
	if (mp != map)
		free(mp);
	return err;
}

static int feed_log(struct check *ck)
{
	/* messages name the log as given (the one read may be its transformed copy) */
	const char *file = ck->in->log_path, *path = ck->in->name ? ck->in->name : file;
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int err = 0, label_seen = 0;

	if (!f) {
		int e = errno;
		return mlops_error_set(e == ENOENT ? MLOPS_ENOTFOUND : MLOPS_EIO,
				       "unable to open '%s': %s", path, strerror(e));
	}
	if (!ck->model && ck->q.on)
		ck->q.on = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		int complete = line[len - 1] == '\n';
		size_t l = (size_t)len;
		while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
			l--;
		if (!l)
			continue;
		cJSON *o = cJSON_ParseWithLength(line, l);
		if (!cJSON_IsObject(o)) {
			cJSON_Delete(o);
			if (!complete) {
				mlops_warning_add("'%s' line %zu: an incomplete last line was left out",
						  path, lineno);
				break;
			}
			err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: not a JSON object", path,
					      lineno);
			goto done;
		}
		if (ck->in->target && !label_seen) {
			const cJSON *c;
			cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
						      cJSON_GetObjectItemCaseSensitive(o, "inputs"), "columns"))
				if (cJSON_IsString(c) && !strcmp(c->valuestring, ck->in->target))
					label_seen = 1;
		}
		err = log_line(ck, o, path, lineno);
		cJSON_Delete(o);
		if (err < 0)
			goto done;
	}
	if (ferror(f)) {
		err = mlops_error_sys(errno, "unable to read '%s'", path);
		goto done;
	}
	if (ck->in->target && !label_seen && ck->rows) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' has no label column '%s'", path,
				      ck->in->target);
		goto done;
	}
done:
	free(line);
	fclose(f);
	return err;
}

/* ---- figures ----------------------------------------------------------------- */

static cJSON *num(double v)
{
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static double rate(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0;
}

static cJSON *summary_json(uint64_t count, uint64_t missing, double mean, double std, double min,
			   double max, int numeric)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "count", (double)count);
	cJSON_AddNumberToObject(o, "missing", (double)missing);
	cJSON_AddNumberToObject(o, "missing_rate", rate(missing, count + missing));
	if (numeric) {
		cJSON_AddItemToObject(o, "mean", num(mean));
		cJSON_AddItemToObject(o, "std", num(std));
		cJSON_AddItemToObject(o, "min", num(count ? min : NAN));
		cJSON_AddItemToObject(o, "max", num(count ? max : NAN));
	}
	return o;
}

/* Proportions of counts (each / total), as a JSON array. */
static cJSON *props_json(const double *c, size_t k)
{
	double t = 0;
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < k; i++)
		t += c[i];
	for (size_t i = 0; i < k; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(t > 0 ? c[i] / t : 0));
	return a;
}

struct verdict {
	enum mlops_monitor_test test;
	double score, threshold;
	int drift, pvalue;
};

static void decide(struct verdict *v, enum mlops_monitor_test t, double score,
		   const struct mlops_monitor_thresholds *th)
{
	v->test = t;
	v->score = score;
	switch (t) {
	case MLOPS_TEST_KS:
		v->threshold = th->ks_pvalue, v->pvalue = 1;
		break;
	case MLOPS_TEST_CHISQUARE:
	case MLOPS_TEST_Z:
		v->threshold = th->chi2_pvalue, v->pvalue = 1;
		break;
	case MLOPS_TEST_PSI:
		v->threshold = th->psi, v->pvalue = 0;
		break;
	case MLOPS_TEST_WASSERSTEIN:
		v->threshold = th->wasserstein, v->pvalue = 0;
		break;
	default:
		v->threshold = th->jensenshannon, v->pvalue = 0;
		break;
	}
	v->drift = isfinite(score) && (v->pvalue ? score < v->threshold : score >= v->threshold);
}

/* Figures of a set of categories: chi-squared, z, PSI, JS into `tests`. */
struct catfig {
	double chi2, chi2_p, z, z_p, psi, js;
	size_t dof, n_values;
	int ok;
};

static int category_figures(struct catfig *f, cJSON *tests, const double *b, const double *c,
			    size_t k)
{
	struct mlops_chi2_result r;
	int err;
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < k; i++)
		f->n_values += b[i] > 0 || c[i] > 0;
	if ((err = mlops_drift_chi2(&r, b, c, k)) < 0)
		return err;
	f->chi2 = r.statistic, f->chi2_p = r.pvalue, f->dof = r.dof;
	if ((err = mlops_drift_chi2_homogeneity(&r, b, c, k, 0)) < 0)
		return err;
	f->z = sqrt(r.statistic), f->z_p = r.pvalue;
	if ((err = mlops_drift_psi(&f->psi, b, c, k)) < 0 ||
	    (err = mlops_drift_jensenshannon(&f->js, b, c, k, 0)) < 0)
		return err;
	cJSON *o = cJSON_AddObjectToObject(tests, "chisquare");
	cJSON_AddItemToObject(o, "statistic", num(f->chi2));
	cJSON_AddItemToObject(o, "pvalue", num(f->chi2_p));
	cJSON_AddNumberToObject(o, "dof", (double)f->dof);
	if (f->n_values <= 2) {
		o = cJSON_AddObjectToObject(tests, "z");
		cJSON_AddItemToObject(o, "statistic", num(f->z));
		cJSON_AddItemToObject(o, "pvalue", num(f->z_p));
	}
	cJSON_AddItemToObject(tests, "psi", num(f->psi));
	cJSON_AddItemToObject(tests, "jensenshannon", num(f->js));
	f->ok = 1;
	return 0;
}

static void add_verdict(cJSON *o, const struct verdict *v)
{
	cJSON_AddStringToObject(o, "test", mlops_monitor_test_name(v->test));
	cJSON_AddItemToObject(o, "score", num(v->score));
	cJSON_AddNumberToObject(o, "threshold", v->threshold);
	cJSON_AddStringToObject(o, "score_is", v->pvalue ? "pvalue" : "distance");
	cJSON_AddBoolToObject(o, "drift", v->drift);
}

static enum mlops_monitor_test pick(enum mlops_monitor_test asked, enum mlops_monitor_test dflt,
				    const enum mlops_monitor_test *allowed, size_t nallowed)
{
	for (size_t i = 0; asked && i < nallowed; i++)
		if (allowed[i] == asked)
			return asked;
	return dflt;
}

static double score_of(enum mlops_monitor_test t, const struct mlops_ks_result *ks, double psi,
		       double wass, double js, const struct catfig *cf)
{
	switch (t) {
	case MLOPS_TEST_KS: return ks->pvalue;
	case MLOPS_TEST_PSI: return psi;
	case MLOPS_TEST_WASSERSTEIN: return wass;
	case MLOPS_TEST_CHISQUARE: return cf->chi2_p;
	case MLOPS_TEST_Z: return cf->z_p;
	default: return js;
	}
}

static int cmp_fewpair(const void *a, const void *b)
{
	const double *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The number of distinct values in two sorted arrays together. */
static uint64_t distinct_union(const double *a, size_t na, const double *b, size_t nb)
{
	size_t i = 0, j = 0;
	uint64_t n = 0;
	double last = 0;
	while (i < na || j < nb) {
		double v = j >= nb || (i < na && a[i] <= b[j]) ? a[i++] : b[j++];
		if (!n || v != last)
			n++;
		last = v;
	}
	return n;
}

/* A numeric column's figures and verdict into o. */
static int numeric_result(cJSON *o, const struct mon_column *bc, struct mon_acc *a,
			  const struct mlops_monitor_opts *opts, int *drift)
{
	double *cur = NULL, psi = NAN, wass = NAN, js = NAN, *cb = NULL;
	size_t ncur;
	struct mlops_ks_result ks;
	struct catfig cf;
	struct verdict v;
	cJSON *tests = cJSON_AddObjectToObject(o, "tests"), *t, *h;
	int err = 0;
	uint64_t n_values = 0;
	int few = 0, n_exact = 0;

	memset(&cf, 0, sizeof(cf));
	const double *sv = mlops_reservoir_values(a->res, &ncur);
	if (!(cur = malloc(ncur * sizeof(double))) || !(cb = malloc(bc->nbins * sizeof(double)))) {
		err = oom();
		goto done;
	}
	memcpy(cur, sv, ncur * sizeof(double));
	if ((err = mlops_drift_sort(cur, ncur)) < 0)
		goto done;
	if ((err = mlops_drift_ks_sorted(&ks, bc->sample, bc->nsample, cur, ncur)) < 0)
		goto done;
	t = cJSON_AddObjectToObject(tests, "ks");
	cJSON_AddItemToObject(t, "statistic", num(ks.statistic));
	cJSON_AddItemToObject(t, "pvalue", num(ks.pvalue));
	cJSON_AddStringToObject(t, "method", ks.method == MLOPS_KS_EXACT ? "exact" : "asymp");
	cJSON_AddNumberToObject(t, "baseline_sample", (double)bc->nsample);
	cJSON_AddNumberToObject(t, "current_sample", (double)ncur);
	for (size_t i = 0; i < bc->nbins; i++)
		cb[i] = (double)a->bins[i];
	if ((err = mlops_drift_psi(&psi, bc->counts, cb, bc->nbins)) < 0)
		goto done;
	cJSON_AddItemToObject(tests, "psi", num(psi));
	double raw;
	if ((err = mlops_drift_wasserstein_sorted(&raw, bc->sample, bc->nsample, cur, ncur)) < 0)
		goto done;
	double sd = isfinite(bc->std) && bc->count > 1 ?
		    bc->std * sqrt((double)(bc->count - 1) / (double)bc->count) : 0;
	wass = raw / (sd > MLOPS_DRIFT_WASSERSTEIN_MIN_STD ? sd : MLOPS_DRIFT_WASSERSTEIN_MIN_STD);
	t = cJSON_AddObjectToObject(tests, "wasserstein");
	cJSON_AddItemToObject(t, "distance", num(raw));
	cJSON_AddItemToObject(t, "normalised", num(wass));
	if (bc->few_exact && bc->nfew <= 5 && !a->few_over) {
		/* few distinct values: compare them as categories */
		double vals[2 * MLOPS_MONITOR_FEW][3];
		size_t k = 0;
		for (size_t i = 0; i < bc->nfew; i++) {
			vals[k][0] = bc->fewv[i], vals[k][1] = bc->fewc[i], vals[k][2] = 0;
			k++;
		}
		for (size_t i = 0; i < a->nfew; i++) {
			size_t j;
			for (j = 0; j < k && vals[j][0] != a->fewv[i]; j++)
				;
			if (j == k) {
				vals[k][0] = a->fewv[i], vals[k][1] = 0;
				vals[k++][2] = 0;
			}
			vals[j][2] = (double)a->fewc[i];
		}
		qsort(vals, k, sizeof(vals[0]), cmp_fewpair);
		n_values = k;
		n_exact = 1;
		if (k <= 5) {
			double bv[2 * MLOPS_MONITOR_FEW], cv[2 * MLOPS_MONITOR_FEW];
			cJSON *vs = cJSON_CreateArray();
			for (size_t i = 0; i < k; i++) {
				bv[i] = vals[i][1];
				cv[i] = vals[i][2];
				cJSON_AddItemToArray(vs, cJSON_CreateNumber(vals[i][0]));
			}
			cJSON *vt = cJSON_AddObjectToObject(tests, "values");
			if ((err = category_figures(&cf, vt, bv, cv, k)) < 0) {
				cJSON_Delete(vs);
				goto done;
			}
			few = 1;
			js = cf.js;
			h = cJSON_AddObjectToObject(o, "values");
			cJSON_AddItemToObject(h, "values", vs);
			cJSON_AddItemToObject(h, "baseline", props_json(bv, k));
			cJSON_AddItemToObject(h, "current", props_json(cv, k));
		}
	}
	if (!few) {
		if ((err = mlops_drift_jensenshannon(&js, bc->counts, cb, bc->nbins, 0)) < 0)
			goto done;
		cJSON_AddItemToObject(tests, "jensenshannon", num(js));
	}
	if (!n_exact) {
		/* the distinct values of the two samples: every value's when
		   each sample holds its whole column */
		n_values = distinct_union(bc->sample, bc->nsample, cur, ncur);
		n_exact = bc->nsample == bc->count && ncur == a->numbers;
	}
	cJSON_AddNumberToObject(o, "n_values", (double)n_values);
	cJSON_AddBoolToObject(o, "n_values_exact", n_exact);
	static const enum mlops_monitor_test allowed_many[] = {
		MLOPS_TEST_KS, MLOPS_TEST_PSI, MLOPS_TEST_WASSERSTEIN, MLOPS_TEST_JENSENSHANNON,
	};
	static const enum mlops_monitor_test allowed_few[] = {
		MLOPS_TEST_KS, MLOPS_TEST_PSI, MLOPS_TEST_WASSERSTEIN, MLOPS_TEST_JENSENSHANNON,
		MLOPS_TEST_CHISQUARE, MLOPS_TEST_Z,
	};
	/* a column not compared value by value has more than 5 distinct
	   values (the baseline or the current data has more than it lists):
	   only sampling can count fewer */
	enum mlops_monitor_test dt = mlops_monitor_default_test(1, bc->count,
								few || n_values > 5 ? n_values : 6);
	enum mlops_monitor_test tt = few ? pick(opts->test, dt, allowed_few, 6)
					 : pick(opts->test, dt, allowed_many, 4);
	if (tt == MLOPS_TEST_Z && cf.n_values > 2)
		tt = dt;
	decide(&v, tt, score_of(tt, &ks, psi, wass, js, &cf), &opts->th);
	add_verdict(o, &v);
	*drift = v.drift;
	h = cJSON_AddObjectToObject(o, "histogram");
	cJSON_AddItemToObject(h, "edges", cJSON_CreateDoubleArray(bc->edges, (int)bc->nbins + 1));
	cJSON_AddItemToObject(h, "baseline", props_json(bc->counts, bc->nbins));
	cJSON_AddItemToObject(h, "current", props_json(cb, bc->nbins));
done:
	free(cur);
	free(cb);
	return err;
}

struct catsort {
	const char *key;
	uint64_t count;
};

static int cmp_cat(const void *a, const void *b)
{
	const struct catsort *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* The most frequent texts of a table as [{"value","count"}] (at most max). */
static cJSON *top_texts(const struct mon_strmap *m, size_t max)
{
	cJSON *arr = cJSON_CreateArray();
	struct catsort *cs = malloc((m->n ? m->n : 1) * sizeof(*cs));
	if (!cs || !arr) {
		free(cs);
		cJSON_Delete(arr);
		return NULL;
	}
	for (size_t i = 0; i < m->n; i++) {
		cs[i].key = mon_strmap_key(m, i);
		cs[i].count = m->count[i];
	}
	qsort(cs, m->n, sizeof(*cs), cmp_cat);
	for (size_t i = 0; i < m->n && i < max; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "value", cs[i].key);
		cJSON_AddNumberToObject(o, "count", (double)cs[i].count);
		cJSON_AddItemToArray(arr, o);
	}
	free(cs);
	return arr;
}

/* A categorical column's figures and verdict into o. */
static int categorical_result(cJSON *o, const struct mon_column *bc, struct mon_acc *a,
			      const struct mlops_monitor_opts *opts, int *drift)
{
	size_t k = bc->ncat + a->text.n + (a->text.overflow > 0);
	double *b = calloc(k, sizeof(double)), *c = calloc(k, sizeof(double));
	struct catfig cf;
	struct verdict v;
	cJSON *tests, *h, *vals;
	int err = 0;
	if (!b || !c) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < bc->ncat; i++) {
		b[i] = bc->catc[i];
		c[i] = (double)a->catc[i];
	}
	for (size_t i = 0; i < a->text.n; i++)
		c[bc->ncat + i] = (double)a->text.count[i];
	if (a->text.overflow)
		c[k - 1] = (double)a->text.overflow;
	tests = cJSON_AddObjectToObject(o, "tests");
	if ((err = category_figures(&cf, tests, b, c, k)) < 0)
		goto done;
	cJSON_AddNumberToObject(o, "n_values", (double)cf.n_values);
	cJSON_AddBoolToObject(o, "n_values_exact", !a->text.overflow);
	static const enum mlops_monitor_test allowed[] = {
		MLOPS_TEST_CHISQUARE, MLOPS_TEST_Z, MLOPS_TEST_PSI, MLOPS_TEST_JENSENSHANNON,
	};
	enum mlops_monitor_test dt = mlops_monitor_default_test(0, bc->count, cf.n_values);
	enum mlops_monitor_test tt = pick(opts->test, dt, allowed, 4);
	if (tt == MLOPS_TEST_Z && cf.n_values > 2)
		tt = dt;
	decide(&v, tt, score_of(tt, NULL, cf.psi, NAN, cf.js, &cf), &opts->th);
	add_verdict(o, &v);
	*drift = v.drift;
	cJSON_AddNumberToObject(o, "unseen_count", (double)a->nonnum);
	cJSON_AddItemToObject(o, "unseen", top_texts(&a->text, 10));
	h = cJSON_AddObjectToObject(o, "categories");
	vals = cJSON_AddArrayToObject(h, "values");
	for (size_t i = 0; i < bc->ncat; i++)
		cJSON_AddItemToArray(vals, cJSON_CreateString(mon_strmap_key(&bc->cats, i)));
	for (size_t i = 0; i < a->text.n; i++)
		cJSON_AddItemToArray(vals, cJSON_CreateString(mon_strmap_key(&a->text, i)));
	if (a->text.overflow)
		cJSON_AddItemToArray(vals, cJSON_CreateString("(other unseen)"));
	cJSON_AddItemToObject(h, "baseline", props_json(b, k));
	cJSON_AddItemToObject(h, "current", props_json(c, k));
done:
	free(b);
	free(c);
	return err;
}

/* The baseline's distribution beside whatever was counted (no tests). */
static void baseline_histogram(cJSON *o, const struct mon_column *bc, const struct mon_acc *a)
{
	size_t k = bc->kind == MON_NUMERIC ? bc->nbins : bc->ncat;
	double *c = calloc(k ? k : 1, sizeof(double));
	cJSON *h;
	if (!c || (bc->kind != MON_NUMERIC && bc->kind != MON_CATEGORICAL)) {
		free(c);
		return;
	}
	for (size_t i = 0; i < k; i++)
		c[i] = bc->kind == MON_NUMERIC ? (a->bins ? (double)a->bins[i] : 0)
					       : (a->catc ? (double)a->catc[i] : 0);
	if (bc->kind == MON_NUMERIC) {
		h = cJSON_AddObjectToObject(o, "histogram");
		cJSON_AddItemToObject(h, "edges", cJSON_CreateDoubleArray(bc->edges, (int)bc->nbins + 1));
		cJSON_AddItemToObject(h, "baseline", props_json(bc->counts, k));
	} else {
		h = cJSON_AddObjectToObject(o, "categories");
		cJSON *vals = cJSON_AddArrayToObject(h, "values");
		for (size_t i = 0; i < k; i++)
			cJSON_AddItemToArray(vals, cJSON_CreateString(mon_strmap_key(&bc->cats, i)));
		cJSON_AddItemToObject(h, "baseline", props_json(bc->catc, k));
	}
	cJSON_AddItemToObject(h, "current", props_json(c, k));
	free(c);
}

static const char *current_type(const struct mon_column *bc, const struct mon_acc *a)
{
	if (bc->kind == MON_NUMERIC) {
		if (a->nonnum)
			return a->text.full ? "text" : "categorical";
		if (!a->numbers)
			return bc->type;
		return a->all_int ? "integer" : "float";
	}
	return bc->type;
}

/*
 * One column's result.  *tested: it counts toward the share; *drift: it
 * drifted; *type_changed: numbers became text.
 */
static int column_result(cJSON **out, const struct mon_column *bc, struct mon_acc *a, int seen,
			 const struct mlops_monitor_opts *opts, int *tested, int *drift,
			 int *type_changed)
{
	cJSON *o = cJSON_CreateObject();
	const char *ctype = current_type(bc, a);
	int err = 0, numeric = bc->kind == MON_NUMERIC;
	*tested = *drift = *type_changed = 0;
	*out = o;
	if (!o)
		return oom();
	cJSON_AddStringToObject(o, "name", bc->name);
	cJSON_AddStringToObject(o, "kind", mon_kind_name(bc->kind));
	cJSON_AddStringToObject(o, "type", bc->type);
	cJSON_AddStringToObject(o, "current_type", seen ? ctype : "missing");
	cJSON_AddItemToObject(o, "baseline", summary_json(bc->count, bc->missing, bc->mean, bc->std,
							  bc->min, bc->max, numeric));
	cJSON *cur = summary_json(a->count, a->missing, mon_acc_mean(a), mon_acc_std(a),
				  a->numbers ? a->min : NAN, a->numbers ? a->max : NAN, numeric);
	if (numeric)
		cJSON_AddNumberToObject(cur, "non_finite", (double)a->nonfinite);
	cJSON_AddItemToObject(o, "current", cur);
	if (!seen) {
		cJSON_AddStringToObject(o, "status", "missing");
		cJSON_AddBoolToObject(o, "drift", 1);
		baseline_histogram(o, bc, a);
		*drift = 1;
		return 0;
	}
	if (bc->kind == MON_TEXT || bc->kind == MON_EMPTY) {
		cJSON_AddStringToObject(o, "status", "skipped");
		cJSON_AddBoolToObject(o, "drift", 0);
		return 0;
	}
	if (numeric && a->nonnum) {
		*type_changed = 1;
		*drift = 1;
		cJSON_AddStringToObject(o, "status", "type_changed");
		cJSON_AddNumberToObject(o, "non_numeric_count", (double)a->nonnum);
		cJSON_AddItemToObject(o, "non_numeric", top_texts(&a->text, 10));
	}
	if (a->count == 0 && a->missing == 0) {
		/* no rows at all: nothing to compare */
		cJSON_AddStringToObject(o, "status", "no_data");
		cJSON_AddBoolToObject(o, "drift", 0);
		baseline_histogram(o, bc, a);
		return 0;
	}
	if ((numeric ? a->numbers : a->count) == 0) {
		/* every value missing, or none a number */
		if (!*type_changed)
			cJSON_AddStringToObject(o, "status", "all_missing");
		cJSON_AddBoolToObject(o, "drift", 1);
		baseline_histogram(o, bc, a);
		*tested = 1;
		*drift = 1;
		return 0;
	}
	int d = 0;
	err = numeric ? numeric_result(o, bc, a, opts, &d) : categorical_result(o, bc, a, opts, &d);
	if (err < 0)
		return err;
	*tested = 1;
	*drift |= d;
	if (*type_changed)
		cJSON_ReplaceItemInObjectCaseSensitive(o, "drift", cJSON_CreateBool(1));
	else
		cJSON_AddStringToObject(o, "status", "ok");
	return 0;
}

/* ---- quality figures ---------------------------------------------------------- */

struct metricdef {
	const char *name;
	int higher_better;
};

static cJSON *quality_json(struct quality *q, const struct mlops_model *m, const char *target,
			   const struct mlops_monitor_thresholds *th, int *degraded)
{
	cJSON *o = cJSON_CreateObject(), *ms;
	double cur[4] = { NAN, NAN, NAN, NAN };
	static const struct metricdef reg[] = { { "rmse", 0 }, { "mae", 0 }, { "r2", 1 } };
	static const struct metricdef cls[] = {
		{ "accuracy", 1 }, { "f1_macro", 1 }, { "log_loss", 0 }, { "roc_auc", 1 },
	};
	const struct metricdef *defs = q->classify ? cls : reg;
	size_t nd = q->classify ? 4 : 3;
	double n = (double)q->n;

	*degraded = 0;
	cJSON_AddStringToObject(o, "target", target);
	cJSON_AddNumberToObject(o, "rows", n);
	cJSON_AddNumberToObject(o, "missing_labels", (double)q->skipped);
	cJSON_AddNumberToObject(o, "unknown_labels", (double)q->unknown);
	if (q->n) {
		if (!q->classify) {
			cur[0] = sqrt(q->sse / n);
			cur[1] = q->sae / n;
			double sstot = q->ys2 - q->ys1 * q->ys1 / n;
			if (q->n < 2)
				cur[2] = NAN;
			else if (sstot <= 0)
				cur[2] = q->sse == 0 ? 1 : 0;
			else
				cur[2] = 1 - q->sse / sstot;
		} else {
			size_t k = q->k, present = 0;
			double f1 = 0;
			cur[0] = (double)q->correct / n;
			for (size_t c = 0; c < k; c++) {
				uint64_t tp = q->conf[c * k + c], fp = 0, fn = 0;
				for (size_t r = 0; r < k; r++)
					if (r != c) {
						fp += q->conf[r * k + c];
						fn += q->conf[c * k + r];
					}
				if (tp + fp + fn == 0)
					continue;
				present++;
				f1 += 2.0 * (double)tp / (double)(2 * tp + fp + fn);
			}
			cur[1] = present ? f1 / (double)present : NAN;
			if (q->have_proba) {
				cur[2] = q->logloss / n;
				if (k == 2 && mlops_metric_roc_auc(&cur[3], q->ybin, q->scores,
								   q->nscores) < 0) {
					mlops_error_clear();
					cur[3] = NAN;
				}
			}
		}
	}
	ms = cJSON_AddObjectToObject(o, "metrics");
	for (size_t i = 0; i < nd; i++) {
		double tr = mlops_model_metric(m, defs[i].name);
		if (!isfinite(tr) && !isfinite(cur[i]))
			continue;
		cJSON *x = cJSON_AddObjectToObject(ms, defs[i].name);
		cJSON_AddItemToObject(x, "training", num(tr));
		cJSON_AddItemToObject(x, "current", num(cur[i]));
		cJSON_AddItemToObject(x, "change", num(cur[i] - tr));
		cJSON_AddBoolToObject(x, "higher_is_better", defs[i].higher_better);
	}
	/* the headline metric decides: a drop past the threshold that
	   sampling noise does not explain (monitor_quality.c) */
	double tr = mlops_model_metric(m, defs[0].name), worse = NAN;
	double cv = NAN;
	struct mon_quality_test t;
	if (isfinite(tr) && isfinite(cur[0]) && tr != 0)
		worse = (defs[0].higher_better ? tr - cur[0] : cur[0] - tr) / fabs(tr);
	if (q->classify) {
		mon_quality_test_accuracy(&t, tr, (double)m->nvalid, cur[0], n);
	} else {
		if (q->n >= 2 && q->e2mean > 0)
			cv = sqrt(q->e2m2 / (n - 1)) / q->e2mean;
		mon_quality_test_rmse(&t, tr, (double)m->nvalid, cur[0], n, cv);
	}
	int past = isfinite(worse) && worse > th->quality_drop;
	int significant = isfinite(t.pvalue) && t.pvalue < th->quality_pvalue;
	cJSON_AddStringToObject(o, "headline", defs[0].name);
	cJSON_AddItemToObject(o, "relative_drop", num(worse));
	cJSON_AddNumberToObject(o, "threshold", th->quality_drop);
	cJSON *x = cJSON_AddObjectToObject(o, "test");
	cJSON_AddStringToObject(x, "method", t.method);
	cJSON_AddNumberToObject(x, "training_rows", t.n_training);
	cJSON_AddNumberToObject(x, "current_rows", t.n_current);
	if (!q->classify)
		cJSON_AddItemToObject(x, "squared_error_cv", num(cv));
	cJSON_AddItemToObject(x, "drop", num(t.drop));
	cJSON_AddItemToObject(x, "standard_error", num(t.se));
	cJSON_AddItemToObject(x, "training_standard_error", num(t.se_training));
	cJSON_AddItemToObject(x, "current_standard_error", num(t.se_current));
	cJSON_AddNumberToObject(x, "ci_level", t.ci_level);
	cJSON_AddItemToObject(x, "ci_low", num(t.ci_low));
	cJSON_AddItemToObject(x, "ci_high", num(t.ci_high));
	cJSON_AddItemToObject(x, "z", num(t.z));
	cJSON_AddItemToObject(x, "pvalue", num(t.pvalue));
	cJSON_AddNumberToObject(x, "significance", th->quality_pvalue);
	cJSON_AddBoolToObject(x, "significant", significant);
	*degraded = past && significant;
	cJSON_AddBoolToObject(o, "degraded", *degraded);
	return o;
}

/* ---- the check ------------------------------------------------------------------ */

void mlops_monitor_result_free(struct mlops_monitor_result *r)
{
	if (!r)
		return;
	cJSON_Delete(r->report);
	free(r);
}

static cJSON *thresholds_json(const struct mlops_monitor_thresholds *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "psi", t->psi);
	cJSON_AddNumberToObject(o, "ks_pvalue", t->ks_pvalue);
	cJSON_AddNumberToObject(o, "wasserstein", t->wasserstein);
	cJSON_AddNumberToObject(o, "jensenshannon", t->jensenshannon);
	cJSON_AddNumberToObject(o, "chi2_pvalue", t->chi2_pvalue);
	cJSON_AddNumberToObject(o, "share", t->share);
	cJSON_AddNumberToObject(o, "quality_drop", t->quality_drop);
	cJSON_AddNumberToObject(o, "quality_pvalue", t->quality_pvalue);
	return o;
}

int mlops_monitor_check(struct mlops_monitor_result **out, const struct mlops_baseline *base,
			const struct mlops_model *model, const struct mlops_monitor_input *in,
			const struct mlops_monitor_opts *opts)
{
	struct check ck;
	struct mlops_monitor_result *res = NULL;
	cJSON *rep = NULL, *cols, *schema, *missing, *typech, *src;
	size_t tested = 0, drifted = 0;
	int err, schema_drift = 0, pred_drift = 0, degraded = 0;
	char hex[MLOPS_OID_HEXSZ + 1];

	*out = NULL;
	if (!in->data_path == !in->log_path)
		return mlops_error_set(MLOPS_EUSAGE, "give one of a table (--data) and a log (--log)");
	if ((err = check_init(&ck, base, model, in)) < 0)
		goto done;
	if ((err = in->data_path ? feed_table(&ck) : feed_log(&ck)) < 0)
		goto done;
	if (!(rep = cJSON_CreateObject()))
		goto oom;
	cJSON_AddNumberToObject(rep, "time", mlops_monitor_now());
	src = cJSON_AddObjectToObject(rep, "source");
	cJSON_AddStringToObject(src, "kind", in->data_path ? "data" : "log");
	cJSON_AddStringToObject(src, "path", in->name ? in->name :
				in->data_path ? in->data_path : in->log_path);
	cJSON_AddNumberToObject(src, "rows", (double)ck.rows);
	if (in->log_path) {
		cJSON_AddNumberToObject(src, "lines_skipped", (double)ck.lines_skipped);
		cJSON *vs = cJSON_AddObjectToObject(src, "models");
		for (size_t i = 0; i < ck.versions.n; i++)
			cJSON_AddNumberToObject(vs, mon_strmap_key(&ck.versions, i),
						(double)ck.versions.count[i]);
		cJSON_AddItemToObject(src, "since", in->has_since ? cJSON_CreateNumber(in->since)
								  : cJSON_CreateNull());
		cJSON_AddItemToObject(src, "first_time", ck.has_times ? cJSON_CreateNumber(ck.first_time)
								    : cJSON_CreateNull());
		cJSON_AddItemToObject(src, "last_time", ck.has_times ? cJSON_CreateNumber(ck.last_time)
								   : cJSON_CreateNull());
	}
	if (base->has_id)
		cJSON_AddStringToObject(rep, "baseline", mlops_oid_fmt(hex, &base->id));
	else
		cJSON_AddNullToObject(rep, "baseline");
	cJSON_AddNumberToObject(rep, "baseline_rows", (double)base->rows);
	cJSON_AddItemToObject(rep, "thresholds", thresholds_json(&opts->th));
	cJSON_AddStringToObject(rep, "stattest", mlops_monitor_test_name(opts->test));
	if (ck.rows == 0) {
		/* nothing arrived (an empty table, a quiet log): no drift to see */
		for (size_t i = 0; i < base->ncols; i++)
			ck.seen[i] = 1;
		mlops_warning_add("no rows to check in '%s'", in->data_path ? in->data_path : in->log_path);
	}
	cols = cJSON_AddArrayToObject(rep, "columns");
	schema = cJSON_CreateObject();
	missing = cJSON_AddArrayToObject(schema, "missing_columns");
	cJSON *newc = cJSON_AddArrayToObject(schema, "new_columns");
	typech = cJSON_AddArrayToObject(schema, "type_changes");
	cJSON *newcats = cJSON_AddArrayToObject(schema, "new_categories");
	for (size_t i = 0; i < ck.newcols.n; i++)
		cJSON_AddItemToArray(newc, cJSON_CreateString(mon_strmap_key(&ck.newcols, i)));
	for (size_t i = 0; i < base->ncols; i++) {
		const struct mon_column *bc = &base->cols[i];
		cJSON *o;
		int t, d, tc;
		if ((long)i == ck.target_col)
			continue;
		if ((err = column_result(&o, bc, &ck.acc[i], ck.seen[i], opts, &t, &d, &tc)) < 0) {
			cJSON_Delete(o);
			cJSON_Delete(schema);
			goto done;
		}
		cJSON_AddItemToArray(cols, o);
		tested += t;
		drifted += t && d;
		if (!ck.seen[i]) {
			cJSON_AddItemToArray(missing, cJSON_CreateString(bc->name));
			schema_drift = 1;
		}
		if (bc->kind == MON_CATEGORICAL && ck.acc[i].nonnum) {
			/* values the model never saw in training (as Evidently's
			   TestColumnValueList, any one fails) */
			const struct mon_strmap *u = &ck.acc[i].text;
			cJSON *x = cJSON_CreateObject(), *vals;
			cJSON_AddStringToObject(x, "column", bc->name);
			cJSON_AddNumberToObject(x, "count", (double)ck.acc[i].nonnum);
			vals = cJSON_AddArrayToObject(x, "values");
			for (size_t k = 0; k < u->n && k < 20; k++)
				cJSON_AddItemToArray(vals, cJSON_CreateString(mon_strmap_key(u, k)));
			cJSON_AddItemToArray(newcats, x);
			schema_drift = 1;
		}
		if (tc) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "column", bc->name);
			cJSON_AddStringToObject(x, "baseline", bc->type);
			cJSON_AddStringToObject(x, "current", current_type(bc, &ck.acc[i]));
			cJSON_AddItemToArray(typech, x);
			schema_drift = 1;
		}
	}
	cJSON_AddItemToObject(rep, "schema", schema);
	/* labels: their drift (reported, not counted) */
	if (ck.target_col >= 0 && ck.seen[ck.target_col]) {
		cJSON *o;
		int t, d, tc;
		if ((err = column_result(&o, &base->cols[ck.target_col], &ck.acc[ck.target_col], 1, opts,
					 &t, &d, &tc)) < 0) {
			cJSON_Delete(o);
			goto done;
		}
		cJSON_AddItemToObject(rep, "target", o);
	} else {
		cJSON_AddNullToObject(rep, "target");
	}
	/* predictions */
	int pred_seen = ck.do_pred && (ck.pred.count || ck.pred.missing);
	if (pred_seen) {
		cJSON *o;
		int t, d, tc;
		if ((err = column_result(&o, base->pred, &ck.pred, 1, opts, &t, &d, &tc)) < 0) {
			cJSON_Delete(o);
			goto done;
		}
		cJSON_AddNumberToObject(o, "errors", (double)ck.pred_errors);
		if (ck.pred_error)
			cJSON_AddStringToObject(o, "first_error", ck.pred_error);
		cJSON_AddItemToObject(rep, "predictions", o);
		pred_drift = d;
	} else {
		cJSON_AddNullToObject(rep, "predictions");
		cJSON_AddStringToObject(rep, "predictions_note",
					!ck.rows ? "no rows" :
					ck.pred_note ? ck.pred_note :
					!base->pred ? "the baseline has no predictions" :
					in->log_path ? "the log has no predictions" :
					ck.pred_errors ? (ck.pred_error ? ck.pred_error : "no prediction")
						       : "no rows");
	}
	/* quality */
	if (ck.q.on) {
		cJSON_AddItemToObject(rep, "quality", quality_json(&ck.q, model, in->target, &opts->th,
								   &degraded));
	} else {
		cJSON_AddNullToObject(rep, "quality");
	}
	double share = tested ? (double)drifted / (double)tested : 0;
	int dataset_drift = tested && share >= opts->th.share;
	cJSON_AddNumberToObject(rep, "rows", (double)ck.rows);
	cJSON_AddNumberToObject(rep, "tested_columns", (double)tested);
	cJSON_AddNumberToObject(rep, "drifted_columns", (double)drifted);
	cJSON_AddNumberToObject(rep, "share", share);
	cJSON_AddBoolToObject(rep, "dataset_drift", dataset_drift);
	cJSON_AddBoolToObject(rep, "prediction_drift", pred_drift);
	cJSON_AddBoolToObject(rep, "schema_drift", schema_drift);
	cJSON_AddBoolToObject(rep, "degraded", degraded);
	int drift = dataset_drift || pred_drift || schema_drift;
	cJSON_AddBoolToObject(rep, "drift", drift);
	cJSON_AddStringToObject(rep, "verdict", drift && degraded ? "drift,degraded" :
				drift ? "drift" : degraded ? "degraded" : ck.rows ? "ok" : "no_data");
	if (!(res = calloc(1, sizeof(*res))))
		goto oom;
	res->report = rep;
	res->drift = drift;
	res->degraded = degraded;
	rep = NULL;
	*out = res;
	err = 0;
	goto done;
oom:
	err = oom();
done:
	cJSON_Delete(rep);
	check_clear(&ck);
	return err;
}
