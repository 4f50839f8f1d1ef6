/*
 * fuzz_json_records.c - every reader of JSON records on hostile text:
 * what a cloned repository, a pulled store or a model directory can hold.
 *
 * The first byte of the input chooses the reader, the rest is the text:
 *
 *   0  mlops.lock (mlops_lockfile_parse), rendered and parsed again: the
 *      rendering is a fixed point
 *   1  a node (mlops_node_from_json) at every depth of the document, and
 *      back through mlops_node_to_json unchanged
 *   2  a model (mlops_model_parse), written out as text and read back bit
 *      for bit, and asked for a prediction
 *   3  a tree object, listed (mlops_tree_list) and walked
 *   4  a chunk list, walked and streamed
 *   5  a dataset version record (mlops_dataset_load) and its JSON
 *   6  a run record behind a runs/ ref: listed, resolved, its metrics and
 *      log read (core/run.h)
 *   7  a feature set spec file (mlops_feature_add, core/feature.h), checked
 *      against the dataset "src" of the scratch repository
 *   8  the fitted transforms of a materialised feature version
 *      (mlops_feature_transform_load), applied to one row
 *
 * Records are written to a scratch repository's store (fuzz.h) without
 * fsync and removed after use, so that the store does not grow.  The text
 * is handed to the parsers that take a length without a terminating NUL,
 * so that a parser reading past the end is caught.
 */
#include <math.h>
#include <fcntl.h>

#include "tests/fuzz/fuzz.h"
#include "core/dataset.h"
#include "core/feature.h"
#include "core/learn.h"
#include "core/lockfile.h"
#include "core/run.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/tree.h"

enum { REC_LOCK, REC_NODE, REC_MODEL, REC_TREE, REC_CHUNKS, REC_DATASET, REC_RUN, REC_SPEC,
       REC_TRANSFORM, REC_COUNT };

/* The one runs/ ref the run reader is shown (written directly: no reflog). */
#define REC_RUN_REF "runs/00000000000000000000000000000000000000000000000000000000000000aa"

static void rec_lock(const char *text, size_t len)
{
	cJSON *root = NULL, *again = NULL;
	char *r1 = NULL, *r2 = NULL;
	if (mlops_lockfile_parse(&root, text, len, "mlops.lock") < 0)
		goto done;
	FUZZ_CHECK(cJSON_IsObject(root));
	if (mlops_lockfile_render(&r1, root) < 0)
		goto done;
	FUZZ_CHECK(mlops_lockfile_parse(&again, r1, strlen(r1), "rendered") == 0);
	FUZZ_CHECK(mlops_lockfile_render(&r2, again) == 0);
	FUZZ_CHECK(!strcmp(r1, r2));
done:
	mlops_error_clear();
	free(r1);
	free(r2);
	cJSON_Delete(root);
	cJSON_Delete(again);
}

static void rec_node_at(const cJSON *json, int depth)
{
	struct mlops_node node, back;
	if (depth > 64)
		return;
	if (mlops_node_from_json(&node, json) == 0) {
		FUZZ_CHECK(node.kind >= MLOPS_KIND_BLOB && node.kind <= MLOPS_KIND_LINK);
		cJSON *j = mlops_node_to_json(&node);
		if (j) {
			FUZZ_CHECK(mlops_node_from_json(&back, j) == 0);
			FUZZ_CHECK(!mlops_oid_cmp(&back.id, &node.id) && back.kind == node.kind &&
				   back.mode == node.mode);
			cJSON_Delete(j);
		}
	}
	mlops_error_clear();
	const cJSON *c;
	cJSON_ArrayForEach(c, json)
		rec_node_at(c, depth + 1);
}

static void rec_node(const char *text, size_t len)
{
	cJSON *json = cJSON_ParseWithLength(text, len);
	if (json)
		rec_node_at(json, 0);
	cJSON_Delete(json);
}

static void rec_model(const char *text, size_t len)
{
	struct mlops_model *m = NULL, *back = NULL;
	cJSON *json = NULL;
	char *printed = NULL;
	struct mlops_cellref *fields = NULL;
	double *proba = NULL;
	if (mlops_model_parse(&m, text, len) < 0) {
		FUZZ_CHECK(m == NULL);
		goto done;
	}
	/* Written out as text and read back: the same model, bit for bit. */
	FUZZ_CHECK(mlops_model_to_json(&json, m) == 0);
	printed = cJSON_PrintUnformatted(json);
	FUZZ_CHECK(printed != NULL);
	FUZZ_CHECK(mlops_model_parse(&back, printed, strlen(printed)) == 0);
	FUZZ_CHECK(back->design.nfeatures == m->design.nfeatures &&
		   back->design.ninputs == m->design.ninputs && back->nclasses == m->nclasses &&
		   back->nout == m->nout);
	FUZZ_CHECK(!memcmp(back->coef, m->coef, m->nout * m->design.nfeatures * sizeof(double)));
	FUZZ_CHECK(!memcmp(back->intercept, m->intercept, m->nout * sizeof(double)));
	size_t ni = m->design.ninputs;
	fields = calloc(ni ? ni : 1, sizeof(*fields));
	proba = calloc(m->nclasses ? m->nclasses : 1, sizeof(*proba));
	if (!fields || !proba)
		goto done;
	/* A number for numeric inputs, a known category for the others. */
	for (size_t i = 0; i < ni; i++) {
		const struct mlops_input *in = &m->design.inputs[i];
		const char *v = in->type == MLOPS_INPUT_CATEGORICAL && in->ncategories ?
				in->categories[0] : "1.5";
		fields[i].ptr = v;
		fields[i].len = strlen(v);
	}
	struct mlops_prediction p;
	if (mlops_model_predict_row(&p, proba, m, fields) == 0) {
		if (m->nclasses) {
			FUZZ_CHECK(p.class_index < m->nclasses && p.label != NULL);
		}
	}
done:
	mlops_error_clear();
	free(fields);
	free(proba);
	free(printed);
	cJSON_Delete(json);
	mlops_model_free(m);
	mlops_model_free(back);
}

/* Store the text as an object; 0 with *id set, or -1. */
static int rec_put(mlops_oid *id, struct mlops_repo *repo, const char *text, size_t len)
{
	mlops_odb_set_fsync(repo->odb, 0);
	if (mlops_odb_write(id, repo->odb, text, len, NULL) < 0 || mlops_odb_sync(repo->odb) < 0) {
		mlops_error_clear();
		return -1;
	}
	return 0;
}

static void rec_drop(struct mlops_repo *repo, const mlops_oid *id)
{
	mlops_odb_remove(repo->odb, id);
	mlops_error_clear();
}

static int rec_count_cb(const mlops_oid *id, void *payload)
{
	(void)id;
	(*(size_t *)payload)++;
	return 0;
}

static int rec_stream_cb(const void *data, size_t len, void *payload)
{
	(void)data;
	*(size_t *)payload += len;
	return 0;
}

static void rec_tree(struct mlops_repo *repo, const char *text, size_t len, int chunks)
{
	struct mlops_node node = { 0 };
	struct mlops_tree_list list;
	size_t count = 0, bytes = 0;
	if (rec_put(&node.id, repo, text, len) < 0)
		return;
	node.kind = chunks ? MLOPS_KIND_CHUNKS : MLOPS_KIND_TREE;
	node.mode = chunks ? 0644 : 040000;
	if (chunks) {
		/* The size the list claims, so that reading gets past the sum check. */
		cJSON *j = cJSON_ParseWithLength(text, len);
		double s = mlops_json_num(j, "size", 0);
		node.size = s > 0 && s < 1e15 ? (uint64_t)s : 0;
		cJSON_Delete(j);
	}
	for (int inc = 0; inc < 2; inc++) {
		if (mlops_tree_list(&list, repo->odb, &node, inc) == 0) {
			for (size_t i = 0; i < list.count; i++)
				FUZZ_CHECK(list.files[i].path != NULL);
			mlops_tree_list_free(&list);
		}
		mlops_error_clear();
	}
	mlops_tree_walk_objects(repo->odb, &node, rec_count_cb, &count);
	mlops_error_clear();
	if (chunks) {
		mlops_tree_file_stream(repo->odb, &node, rec_stream_cb, &bytes);
		mlops_error_clear();
	}
	rec_drop(repo, &node.id);
}

static void rec_dataset(struct mlops_repo *repo, const char *text, size_t len)
{
	struct mlops_dataset_version *v = NULL;
	mlops_oid id;
	if (rec_put(&id, repo, text, len) < 0)
		return;
	if (mlops_dataset_load(&v, repo, &id) == 0) {
		FUZZ_CHECK(v->name != NULL);
		for (size_t i = 0; i < v->nentries; i++)
			FUZZ_CHECK(v->entries[i].path != NULL);
		cJSON *j = mlops_dataset_version_to_json(v, 1, repo);
		cJSON_Delete(j);
	}
	mlops_error_clear();
	mlops_dataset_version_free(v);
	rec_drop(repo, &id);
}

static void rec_metric_cb(const char *key, double value, void *payload)
{
	FUZZ_CHECK(key != NULL && strlen(key) < 512);
	(void)value;
	(*(size_t *)payload)++;
}

static void rec_run(struct mlops_repo *repo, const char *text, size_t len)
{
	struct mlops_run_entry *runs = NULL;
	size_t n = 0, metrics = 0;
	cJSON *record = NULL;
	mlops_oid id, got;
	char hex[MLOPS_OID_HEXSZ + 2];
	if (rec_put(&id, repo, text, len) < 0)
		return;
	char *ref = mlops_strdupf("%s/refs/" REC_RUN_REF, repo->dir);
	mlops_oid_fmt(hex, &id);
	strcat(hex, "\n");
	if (!ref || mlops_write_file_atomic(ref, hex, strlen(hex), repo->tmpdir, 0) < 0)
		goto done;
	if (mlops_run_list(&runs, &n, repo, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			char *log = NULL;
			size_t loglen = 0;
			mlops_run_metrics_foreach(cJSON_GetObjectItemCaseSensitive(runs[i].record, "metrics"),
						  rec_metric_cb, &metrics);
			if (mlops_run_log(&log, &loglen, repo, runs[i].record) == 0)
				FUZZ_CHECK(log != NULL);
			free(log);
			mlops_error_clear();
		}
		mlops_run_list_free(runs, n);
	}
	mlops_error_clear();
	if (mlops_run_resolve(&record, &got, repo, "r-00000000") == 0)
		FUZZ_CHECK(!mlops_oid_cmp(&got, &id));
	mlops_error_clear();
	cJSON_Delete(record);
done:
	if (ref)
		unlink(ref);
	free(ref);
	mlops_error_clear();
	rec_drop(repo, &id);
}

static void rec_spec(struct mlops_repo *repo, const char *text, size_t len)
{
	cJSON *record = NULL;
	mlops_oid id;
	long version = 0;
	int created = 0;
	char *path = mlops_strdupf("%s/spec.json", repo->tmpdir);
	if (!path || mlops_write_file_atomic(path, text, len, repo->tmpdir, 0) < 0)
		goto done;
	if (mlops_feature_add(&record, &id, &version, &created, repo, path) == 0)
		FUZZ_CHECK(record != NULL && version >= 1);
done:
	mlops_error_clear();
	cJSON_Delete(record);
	if (path)
		unlink(path);
	free(path);
}

static void rec_transform(const char *text, size_t len)
{
	struct mlops_feature_transform *t = NULL;
	cJSON *record = cJSON_ParseWithLength(text, len);
	const char **names = NULL, **values = NULL;
	double *out = NULL;
	if (!record || mlops_feature_transform_load(&t, record) < 0)
		goto done;
	size_t ni = mlops_feature_transform_ninputs(t), no = mlops_feature_transform_noutputs(t);
	names = calloc(ni + 1, sizeof(*names));
	values = calloc(ni + 1, sizeof(*values));
	out = calloc(no + 1, sizeof(*out));
	if (!names || !values || !out)
		goto done;
	for (size_t i = 0; i < ni; i++) {
		names[i] = mlops_feature_transform_input(t, i);
		values[i] = i % 3 == 0 ? "1.5" : i % 3 == 1 ? "red" : "";
		FUZZ_CHECK(names[i] != NULL);
	}
	for (size_t i = 0; i < no; i++)
		FUZZ_CHECK(mlops_feature_transform_output(t, i) != NULL);
	mlops_feature_transform_apply(out, t, names, values, ni);
done:
	mlops_error_clear();
	free(names);
	free(values);
	free(out);
	mlops_feature_transform_free(t);
	cJSON_Delete(record);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct mlops_repo *repo = fuzz_repo();
	char *runs = mlops_strdupf("%s/refs/runs", repo->dir);
	if (!runs || mlops_mkdir_p(runs) < 0)
		abort();
	free(runs);
	/* The dataset feature specs are checked against. */
	static const char src[] = "id,ts,x,c\na,2024-01-01,1,red\na,2024-01-02,3,blue\n"
				  "b,2024-01-01,,red\nb,2024-01-03,7,green\nc,2024-01-02,-1,red\n";
	char *csv = mlops_strdupf("%s/src.csv", repo->workdir);
	struct mlops_dataset_version *v = NULL;
	int created = 0;
	if (!csv || mlops_write_file_atomic(csv, src, sizeof(src) - 1, repo->tmpdir, 0) < 0 ||
	    mlops_dataset_add(&v, &created, repo, (const char *const *)&csv, 1, "src", NULL, NULL) < 0) {
		fprintf(stderr, "fuzz: unable to add the dataset: %s\n", mlops_error_message());
		abort();
	}
	mlops_dataset_version_free(v);
	free(csv);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int which = data[0] % REC_COUNT;
	char *text = fuzz_memdup(data + 1, size - 1);
	size_t len = size - 1;
	if (!text)
		return 0;
	switch (which) {
	case REC_LOCK:
		rec_lock(text, len);
		break;
	case REC_NODE:
		rec_node(text, len);
		break;
	case REC_MODEL:
		rec_model(text, len);
		break;
	case REC_TREE:
	case REC_CHUNKS:
		rec_tree(fuzz_repo(), text, len, which == REC_CHUNKS);
		break;
	case REC_DATASET:
		rec_dataset(fuzz_repo(), text, len);
		break;
	case REC_RUN:
		rec_run(fuzz_repo(), text, len);
		break;
	case REC_SPEC:
		rec_spec(fuzz_repo(), text, len);
		break;
	case REC_TRANSFORM:
		rec_transform(text, len);
		break;
	}
	free(text);
	return 0;
}
