/*
 * monitor_internal.h - what the monitor's files share and nothing else
 * needs: a bounded string counter, the value classifier (missing, number),
 * the streaming column accumulator, and the baseline as held in memory.
 */
#ifndef MLOPS_MONITOR_INTERNAL_H
#define MLOPS_MONITOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/monitor.h"

struct mlops_reservoir;
struct cJSON;

/* ---- a bounded string -> count table (monitor_acc.c) ------------------- */

/*
 * Keys in insertion order; at most `limit` of them.  Adding a new key to
 * a full table counts it in `overflow` instead (and sets `full`).
 */
struct mon_strmap {
	size_t n, limit;
	size_t *off;        /* key i at arena + off[i], NUL-terminated */
	uint32_t *len;
	uint64_t *count;
	uint32_t *slots;    /* open addressing: index + 1, 0 = empty */
	size_t nslots;      /* a power of two, >= 2 * limit */
	char *arena;
	size_t arena_len, arena_cap;
	int full;
	uint64_t overflow;
};

int mon_strmap_init(struct mon_strmap *m, size_t limit);
void mon_strmap_free(struct mon_strmap *m);
/* Index of the key, or -1. */
long mon_strmap_find(const struct mon_strmap *m, const char *p, size_t len);
/* Add n to the key's count (inserting it); 0, or MLOPS_ERROR on memory. */
int mon_strmap_add(struct mon_strmap *m, const char *p, size_t len, uint64_t n);
static inline const char *mon_strmap_key(const struct mon_strmap *m, size_t i)
{
	return m->arena + m->off[i];
}

/*
 * 1 when the n names are distinct; 0 when one repeats, with *first and
 * *dup the indices of its first and second occurrences; MLOPS_ERROR when
 * out of memory.
 */
int mon_names_unique(size_t *first, size_t *dup, const char *const *names, size_t n);

/* ---- values ----------------------------------------------------------- */

/*
 * 1 when the field is missing: empty, or one of pandas' NA strings (as
 * core/colstats.h lists them).
 */
int mon_is_missing(const char *p, size_t len);

/*
 * Parse a decimal number ([blanks][+-](digits[.digits]|.digits)[e[+-]digits]
 * [blanks]), correctly rounded: 1 for an integer literal, 2 for any other
 * number, 0 when the field is not a number (inf and nan are not).
 */
int mon_parse_number(const char *p, size_t len, double *out);

/*
 * 1 when the field is an infinity as NumPy and pandas read one: [blanks]
 * [+-] inf or infinity in any case [blanks].
 */
int mon_is_infinity(const char *p, size_t len);

/* The shortest text that reads back as v (%.15g .. %.17g) into buf. */
const char *mon_number_text(char buf[32], double v);

/* ---- the column accumulator (monitor_acc.c) ---------------------------- */

struct mon_acc {
	uint64_t count;        /* values that are not missing */
	uint64_t missing;
	uint64_t nonnum;       /* values that are not numbers (when parsing) */
	uint64_t numbers;      /* values that are finite numbers */
	uint64_t nonfinite;    /* infinities (when nonfinite_ok) */
	int parse;             /* try numbers */
	int nonfinite_ok;      /* an infinity is a number left out of the
				  figures (counted in nonfinite), not text */
	int all_int;           /* every number an integer literal */
	int text_all;          /* count every value's text (baseline) */
	int track_text;        /* count the text of values that are not numbers */
	int binonly;           /* second pass: numbers go to the bins only */
	int has_shift;
	double shift, s1, s2, min, max;
	struct mlops_reservoir *res;
	struct mon_strmap text;
	int track_few, few_over;
	size_t nfew;
	double fewv[MLOPS_MONITOR_FEW];
	uint64_t fewc[MLOPS_MONITOR_FEW];
	const double *edges;   /* bins: nbins + 1 edges, or NULL */
	size_t nbins;
	uint64_t *bins;
	const struct mon_strmap *cats; /* check of a categorical column */
	uint64_t *catc;        /* counts of the baseline's categories */
};

/*
 * Set up an accumulator: a reservoir of `sample` values (0: none) seeded
 * with `seed`, a text table of up to `text_limit` keys (0: none).
 */
int mon_acc_init(struct mon_acc *a, size_t sample, uint64_t seed, size_t text_limit);
void mon_acc_free(struct mon_acc *a);
int mon_acc_text(struct mon_acc *a, const char *p, size_t len);
int mon_acc_number(struct mon_acc *a, double v);
static inline void mon_acc_missing(struct mon_acc *a)
{
	a->missing++;
}
/* Mean and sample standard deviation (ddof 1; NaN below two values). */
double mon_acc_mean(const struct mon_acc *a);
double mon_acc_std(const struct mon_acc *a);
/* Bin index of v among nbins bins of edges (end bins take the outside). */
size_t mon_bin_of(const double *edges, size_t nbins, double v);

/* ---- is a quality drop significant (monitor_quality.c) ------------------ */

/*
 * One-sided test of a drop of the headline metric between its training
 * (validation) value and its current value, each an estimate from its own
 * rows.  drop > 0 is worse; se is the drop's standard error (unpooled),
 * [ci_low, ci_high] its 95% interval (Wald), z the statistic and pvalue
 * P(Z >= z) under "no drop".  Figures that cannot be had are NaN (too few
 * rows, no spread); a NaN p-value is never significant.
 */
struct mon_quality_test {
	const char *method;          /* "two-proportion z" or "normal" */
	double n_training, n_current; /* rows behind each estimate */
	double drop, se, se_training, se_current;
	double z, pvalue;
	double ci_level, ci_low, ci_high;
};

/* Survival function of the standard normal (scipy.stats.norm.sf). */
double mon_norm_sf(double z);

/*
 * Accuracy p_tr on n_tr validation rows against p_cur on n_cur rows: the
 * pooled two-proportion z-test.  n_tr = 0 takes p_tr as exact.
 */
void mon_quality_test_accuracy(struct mon_quality_test *t, double p_tr, double n_tr, double p_cur,
			       double n_cur);

/*
 * RMSE rmse_tr on n_tr validation rows against rmse_cur on n_cur rows,
 * cv = sd(e^2) / mean(e^2) of the current squared errors (ddof 1): a
 * normal approximation with delta-method standard errors.  n_tr = 0 takes
 * rmse_tr as exact.
 */
void mon_quality_test_rmse(struct mon_quality_test *t, double rmse_tr, double n_tr,
			   double rmse_cur, double n_cur, double cv);

/* ---- the baseline in memory (baseline.c) ------------------------------- */

enum mon_kind { MON_EMPTY, MON_NUMERIC, MON_CATEGORICAL, MON_TEXT };

const char *mon_kind_name(enum mon_kind k);

struct mon_column {
	struct cJSON *obj;     /* its object in the record (borrowed) */
	const char *name;      /* borrowed from the record */
	enum mon_kind kind;
	const char *type;      /* borrowed from the record */
	uint64_t count, missing;
	double mean, std, min, max;
	size_t nbins;          /* numeric: bins (edges: nbins + 1) */
	double *edges, *counts;
	double *sample;        /* sorted */
	size_t nsample;
	size_t nfew;           /* numeric with few values: values, counts */
	double *fewv, *fewc;
	int few_exact;         /* nfew lists every distinct value */
	size_t ncat;           /* categorical */
	double *catc;
	struct mon_strmap cats;
};

struct mlops_baseline {
	struct cJSON *json;    /* the record */
	uint64_t rows;
	size_t ncols;
	struct mon_column *cols;
	struct mon_column *pred; /* NULL without predictions */
	const char *target;    /* borrowed from the record, or NULL */
	int has_id;
	mlops_oid id;
};

#endif
