/*
 * feature_int.h - what the files of the feature module share and nobody
 * else uses: the transform set's layout, spec parsing, fitting, row
 * evaluation, a string map, an in-memory CSV line parser, and the index
 * page format.  Public API: feature.h.
 */
#ifndef MLOPS_FEATURE_INT_H
#define MLOPS_FEATURE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "core/csv.h"
#include "core/feature.h"
#include "store/tree.h"

struct mlops_repo;

enum ft_kind {
	FT_IDENTITY,
	FT_STANDARDIZE,
	FT_MINMAX,
	FT_LOG1P,
	FT_CLIP,
	FT_BUCKETIZE,
	FT_ONEHOT,
	FT_FILL,
	FT_WCOUNT,
	FT_WSUM,
	FT_WMEAN,
	FT_WMIN,
	FT_WMAX,
};

/* The one-hot value of the column for unseen values ("NAME=__other__"). */
#define FT_OTHER "__other__"

enum ft_fill { FT_FILL_MEAN, FT_FILL_MEDIAN, FT_FILL_CONSTANT };

struct ft_feature {
	char *name;
	char *column;          /* NULL only for a count of rows */
	enum ft_kind kind;
	size_t input;          /* index in the set's inputs (when column) */
	int fitted;            /* parameters below are known */
	double mean, std, min, max;
	int has_lo, has_hi;    /* clip */
	double lo, hi;
	double *edges;         /* bucketize */
	size_t nedges;
	long bins;             /* bucketize by fitted equal-width bins (0: edges given) */
	char **vocab;          /* one-hot, sorted bytewise */
	size_t *vocab_len;
	size_t nvocab;
	int vocab_given;
	long max_categories;
	int other;             /* one-hot: unseen -> "NAME=__other__" */
	enum ft_fill fill;
	double fill_num;       /* fill: numeric value (NaN when text) */
	char *fill_text;       /* fill: the value as text */
	int64_t window_ms;     /* windows */
	size_t win;            /* index among the set's windows */
	size_t out, nout;      /* its output columns */
};

struct mlops_feature_transform {
	char **entity;
	size_t nentity;
	char *timestamp;
	char *created;         /* NULL when absent */
	int64_t ttl_ms;        /* 0: none */
	struct ft_feature *f;
	size_t nf;
	char **inputs;         /* entity columns, then feature columns (distinct) */
	size_t ninputs;
	char **outputs;
	int *out_window;
	size_t noutputs;
	size_t nwindows;
};

/* A value produced for one output: text (passed through) or a number. */
struct ft_val {
	double num;            /* NaN: missing (when text is NULL) */
	const char *text;
	size_t len;
};

/*
 * Parse a spec (fitted 0: the user's definition, every field checked,
 * unknown fields refused) or params (fitted 1: with fitted values) into a
 * transform set.  Messages name the field.  With fitted 1, outputs are
 * laid out; with fitted 0 they are laid out after ft_fit_end().
 */
int ft_parse(struct mlops_feature_transform **out, const cJSON *spec, int fitted);

/*
 * The string field key of object o into *out (borrowed; NULL when absent).
 * MLOPS_EINVALID "WHERE.key: must be a string" when it is something else.
 */
int ft_spec_str(const char **out, const cJSON *o, const char *key, const char *where);

/* Lay out the output columns (after every parameter is known). */
int ft_layout(struct mlops_feature_transform *t);

/* Fitting: feed every source row's inputs, then finish (fills params). */
struct ft_fit;
int ft_fit_new(struct ft_fit **out, const struct mlops_feature_transform *t);
int ft_fit_row(struct ft_fit *fit, const struct mlops_csv_field *in);
int ft_fit_end(struct ft_fit *fit, struct mlops_feature_transform *t);
void ft_fit_free(struct ft_fit *fit);

/* The params object of a fitted set (for the version record). */
cJSON *ft_params_json(const struct mlops_feature_transform *t);

/*
 * Evaluate one row: in has ninputs fields, windows has nwindows values
 * (NULL: all NaN); out receives noutputs values (text points into in).
 * MLOPS_EINVALID when a numeric transform gets text.
 */
int ft_eval(struct ft_val *out, const struct mlops_feature_transform *t,
	    const struct mlops_csv_field *in, const double *windows);

/* 1 when the field is a missing value. */
int ft_is_missing(const char *p, size_t len);

/* Parse a number: 0 ok, 1 missing, -1 not a number, -2 too large for a double. */
int ft_number(double *out, const char *p, size_t len);

/* Shortest text that reads back as v ("" for NaN and infinities); length. */
size_t ft_format_num(char buf[40], double v);

/* ---- string map: bytes -> uint64 ---------------------------------------- */

struct ft_map_slot {
	const char *key;
	uint32_t len;
	uint32_t hash;
	uint64_t value;
};

struct ft_map {
	struct ft_map_slot *slots;
	size_t cap, count;
	char **blocks;         /* copied keys */
	size_t nblocks, block_used, block_cap;
	int copy;              /* keys copied into blocks, else borrowed */
};

int ft_map_init(struct ft_map *m, size_t hint, int copy);
/* The slot of key, inserted with value 0 when new (*isnew); NULL on no memory. */
struct ft_map_slot *ft_map_put(struct ft_map *m, const char *key, size_t len, int *isnew);
struct ft_map_slot *ft_map_get(const struct ft_map *m, const char *key, size_t len);
void ft_map_free(struct ft_map *m);

/* ---- CSV records in memory ------------------------------------------------ */

/*
 * Split the record starting at *pos (before end) into fields, unquoting
 * into scratch (grown as needed).  Returns the number of fields (at most
 * max; extra fields are dropped) and moves *pos past the record's line
 * break; -1 on no memory.  *raw_end receives the end of the record's text
 * before its line break.
 */
long ft_csv_split(const char **pos, const char *end, struct mlops_csv_field *fields,
		  size_t max, char **scratch, size_t *scratch_cap, const char **raw_end);

/* Write a field to buf, quoted when needed; returns the bytes written. */
size_t ft_csv_quote(char *buf, const char *s, size_t len);

/* ---- index pages ---------------------------------------------------------- */

#define FT_PAGE_MAGIC "MLFIDX1\n"
#define FT_PAGE_ENTITIES 512
#define FT_PIECE_TARGET (64u << 10) /* table pieces end at an entity past this */
#define FT_PIECE_MAX (2u << 20)    /* the store's largest chunk */

struct ft_index_entry {
	const char *key;
	uint32_t keylen;
	uint64_t offset, length, rows;
	int64_t first, last;
	int in_piece;          /* the rows are all in one piece of the table: */
	mlops_oid piece;       /* that piece's object */
	uint32_t piece_off;    /* and where they start in it */
};

/* Read entry i of a page (validated); MLOPS_ECORRUPT when malformed. */
int ft_page_entry(struct ft_index_entry *out, const unsigned char *page, size_t len, size_t i);
/* The page's entity count, or -1 when malformed. */
long ft_page_count(const unsigned char *page, size_t len);

/* Entity key of n fields joined by 0x1f into buf (grown); returns the length. */
long ft_key_join(char **buf, size_t *cap, const struct mlops_csv_field *f, size_t n);

/* ---- the source of a feature set (feature.c) ------------------------------ */

/* A dataset file read as CSV while a thread streams it from the store. */
struct stream_job;
struct ft_source {
	struct mlops_csv *csv;
	int fd;
	pthread_t thread;
	int running;
	struct stream_job *job;
};

int ft_source_open(struct ft_source **out, struct mlops_repo *repo, const struct mlops_node *node,
		   const char *name);
/* Close; with err non-NULL, a store failure of the stream replaces *err. */
void ft_source_close(struct ft_source *s, int *err);

/* The dataset version and file a feature set reads. */
struct ft_source_pick {
	mlops_oid id;          /* dataset version record */
	long version;
	char *name;
	char *path;            /* the file's path in the dataset */
	struct mlops_node node;
	cJSON *record;
};

int ft_source_pick(struct ft_source_pick *out, struct mlops_repo *repo, const char *rev,
		   const char *file);
void ft_source_pick_free(struct ft_source_pick *p);

/* Map inputs, time and created column to source columns; errors name the field. */
int ft_bind_columns(size_t *in_idx, long *ts_idx, long *cr_idx, const struct mlops_feature_transform *t,
		    const char *const *names, size_t n, const char *srcname);

/* Pick the source of spec (or source_rev) and check its header. */
int ft_check_source(struct mlops_repo *repo, const struct mlops_feature_transform *t, const cJSON *spec,
		    const char *source_rev, struct ft_source_pick *pick);

/* Record in mlops.lock (spec or record may be NULL); caller holds the lock. */
int ft_lock_record(struct mlops_repo *repo, const char *name, const mlops_oid *spec, long spec_version,
		   const mlops_oid *record, long version);

/* The table node of a version record. */
int ft_record_table(struct mlops_node *out, const cJSON *record);

#endif
