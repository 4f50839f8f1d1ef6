/*
 * monitor_retrain.c - the monitor's side of the registry: loading what a
 * check of a registered version needs (its built-in model, its baseline),
 * and retraining a version after a failed check.
 *
 * Retraining runs the version's training run again through run.h (same
 * command or built-in trainer, same params) on the newest version of each
 * dataset it used (or the one named), then registers the outcome through
 * registry.h with "drift_check" naming the check, and promotes it only
 * when the stage's gates pass.  It runs once: the environment variable
 * MLOPS_RETRAINING is set for the training command, and a retraining
 * asked for while it is set is refused, so a training script that checks
 * and retrains cannot start a loop.
 */
#include "core/monitor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/learn.h"
#include "core/registry.h"
#include "core/rev.h"
#include "core/run.h"
#include "core/train_internal.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/repo.h"
#include "store/tree.h"

#define MODEL_FILE "model.json"
#define MODEL_MAX (256u << 20)

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

/* ---- reading a version's model and baseline ------------------------------- */

struct membuf {
	char *p;
	size_t len, cap;
};

static int append(const void *data, size_t len, void *payload)
{
	struct membuf *b = payload;
	if (b->len + len + 1 > MODEL_MAX)
		return mlops_error_set(MLOPS_EINVALID, "the model file is larger than %u bytes", MODEL_MAX);
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return oom();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
	return 0;
}

int mlops_monitor_artifact_model(struct mlops_model **model, char **note,
				 struct mlops_repo *repo, const struct cJSON *artifact)
{
	struct mlops_node node, file;
	struct mlops_tree_list list = { 0 };
	struct membuf buf = { 0 };
	int err, found = 0;

	*model = NULL;
	*note = NULL;
	if (mlops_node_from_json(&node, artifact) < 0) {
		mlops_error_clear();
		*note = strdup("the version has no artifact");
		return *note ? 0 : oom();
	}
	if (node.kind == MLOPS_KIND_TREE) {
		if ((err = mlops_tree_list(&list, repo->odb, &node, 0)) < 0)
			return err;
		for (size_t i = 0; i < list.count; i++)
			if (!strcmp(list.files[i].path, MODEL_FILE)) {
				file = list.files[i].node;
				found = 1;
			}
		mlops_tree_list_free(&list);
	} else if (node.kind == MLOPS_KIND_BLOB || node.kind == MLOPS_KIND_CHUNKS) {
		file = node;
		found = node.size <= MODEL_MAX;
	}
	if (!found) {
		*note = strdup("the artifact holds no built-in model (" MODEL_FILE ")");
		return *note ? 0 : oom();
	}
	if ((err = mlops_tree_file_stream(repo->odb, &file, append, &buf)) < 0) {
		free(buf.p);
		return err;
	}
	err = mlops_model_parse(model, buf.p ? buf.p : "", buf.len);
	free(buf.p);
	if (err < 0) {
		*note = mlops_strdupf("the artifact is not a built-in model: %s", mlops_error_message());
		mlops_error_clear();
		*model = NULL;
		return *note ? 0 : oom();
	}
	return 0;
}

/* A baseline computed from the first dataset or feature set the version's run used. */
static int baseline_from_run(struct mlops_baseline **base, char **note, struct mlops_repo *repo,
			     const cJSON *record, const struct mlops_model *model)
{
	const cJSON *in;
	struct mlops_dataset_version *v = NULL;
	char *tmp = NULL, *table = NULL;
	const char *rel;
	cJSON *ds = NULL;
	int err = 0;
	mlops_oid did;

	*base = NULL;
	cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(record, "inputs")) {
		const char *type = mlops_json_str(in, "type");
		if (type && (!strcmp(type, "dataset") || !strcmp(type, "feature-set")) &&
		    mlops_json_get_oid(&did, in, "record") == 0)
			break;
	}
	if (!in) {
		mlops_error_clear();
		*note = strdup(mlops_json_str(record, "run") ?
			       "no monitoring baseline: the version's run took no dataset or feature set" :
			       "no monitoring baseline: the version was registered from a path, not from a "
			       "run, so no table it was trained on is known");
		return *note ? 0 : oom();
	}
	if (!strcmp(mlops_json_str(in, "type"), "feature-set")) {
		if ((err = mlops_baseline_feature_set(base, repo, in, model)) < 0)
			return err;
		*note = mlops_strdupf("baseline computed from feature set %s@v%.0f (the version has "
				      "none stored)", mlops_json_str(in, "name") ? mlops_json_str(in, "name") : "?",
				      mlops_json_num(in, "version", 0));
		return *note ? 0 : oom();
	}
	if ((err = mlops_dataset_load(&v, repo, &did)) < 0)
		return err;
	err = mlops_dataset_table_checkout(&tmp, &table, &rel, repo, v, "baseline");
	if (err == MLOPS_EINVALID) {
		/* not one table (a command's inputs can be anything) */
		*note = mlops_strdupf("no monitoring baseline: %s@v%ld is not one table (%s)", v->name,
				      v->version, mlops_error_message());
		mlops_error_clear();
		err = *note ? 0 : oom();
		goto done;
	}
	if (err < 0)
		goto done;
	if (!(ds = cJSON_CreateObject())) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(ds, "name", v->name);
	cJSON_AddNumberToObject(ds, "version", (double)v->version);
	mlops_json_add_oid(ds, "record", &v->id);
	cJSON_AddStringToObject(ds, "path", rel);
	if ((err = mlops_baseline_compute(base, table, model, ds)) < 0)
		goto done;
	*note = mlops_strdupf("baseline computed from %s@v%ld (the version has none stored)",
			      v->name, v->version);
	if (!*note)
		err = oom();
done:
	if (tmp)
		mlops_remove_tree(tmp);
	cJSON_Delete(ds);
	free(tmp);
	free(table);
	mlops_dataset_version_free(v);
	return err;
}

int mlops_monitor_load_model(struct cJSON **record, mlops_oid *record_id, char **name,
			     char **version, struct mlops_model **model,
			     struct mlops_baseline **base, char **note,
			     struct mlops_repo *repo, const char *rev)
{
	cJSON *rec = NULL;
	mlops_oid rid, bid;
	char *ver = NULL, *nm = NULL, *mnote = NULL, *bnote = NULL;
	struct mlops_model *m = NULL;
	struct mlops_baseline *b = NULL;
	int err;

	*record = NULL;
	*name = *version = *note = NULL;
	*model = NULL;
	*base = NULL;
	if ((err = mlops_model_resolve(&rec, &rid, &ver, repo, rev)) < 0)
		return err;
	if (!mlops_json_str(rec, "name") || !(nm = strdup(mlops_json_str(rec, "name")))) {
		err = mlops_json_str(rec, "name") ? oom() :
		      mlops_error_set(MLOPS_ECORRUPT, "the record of '%s' has no name", rev);
		goto fail;
	}
	if ((err = mlops_monitor_artifact_model(&m, &mnote, repo,
						cJSON_GetObjectItemCaseSensitive(rec, "artifact"))) < 0)
		goto fail;
	if (mlops_json_get_oid(&bid, rec, "baseline") == 0) {
		err = mlops_baseline_load(&b, repo, &bid);
		if (err == MLOPS_EINVALID) {
			mlops_error_clear();
			err = 0;
		} else if (err < 0) {
			goto fail;
		}
	} else {
		mlops_error_clear();
	}
	if (!b && (err = baseline_from_run(&b, &bnote, repo, rec, m)) < 0)
		goto fail;
	if (mnote && bnote) {
		*note = mlops_strdupf("%s; %s", mnote, bnote);
		free(mnote);
		free(bnote);
	} else {
		*note = mnote ? mnote : bnote;
	}
	*record = rec;
	*record_id = rid;
	*name = nm;
	*version = ver;
	*model = m;
	*base = b;
	return 0;
fail:
	cJSON_Delete(rec);
	free(ver);
	free(nm);
	free(mnote);
	free(bnote);
	mlops_model_free(m);
	mlops_baseline_free(b);
	return err;
}

/* ---- retraining ------------------------------------------------------------- */

void mlops_retrain_result_free(struct mlops_retrain_result *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->version);
	free(r->tag);
	free(r->dataset);
	free(r->stage);
	free(r->not_promoted);
	free(r->note);
	free(r);
}

static int set_note(struct mlops_retrain_result *r, char *note)
{
	r->note = note;
	return note ? 0 : oom();
}

/*
 * The version `rev` names, its name and its run record: *rec, *ver, *name,
 * *runid and *run are the caller's.  MLOPS_ENOTFOUND when the version was
 * not registered from a run.
 */
static int load_version_run(cJSON **rec, char **ver, char **name, mlops_oid *runid, cJSON **run,
			    struct mlops_repo *repo, const char *rev)
{
	mlops_oid rid;
	int err;
	*rec = *run = NULL;
	*ver = *name = NULL;
	if ((err = mlops_model_resolve(rec, &rid, ver, repo, rev)) < 0)
		return err;
	if (!(*name = strdup(mlops_json_str(*rec, "name") ? mlops_json_str(*rec, "name") : "")))
		return oom();
	if (mlops_json_get_oid(runid, *rec, "run") < 0)
		return mlops_error_set(MLOPS_ENOTFOUND, "%s@%s was not registered from a run: "
				       "there is nothing to run again", *name, *ver);
	return mlops_json_load(run, repo->odb, runid);
}

/*
 * The dataset revisions to train on: each dataset input of the run by
 * name (its newest version), or `dataset` in place of the one of its name
 * (or of the only input).  *list and *bufs (nds entries, the strings in
 * bufs) are the caller's.  MLOPS_EUSAGE when `dataset` names none of the
 * run's datasets.
 */
static int dataset_inputs(const char ***list, char ***bufs, size_t *nds, const cJSON *run,
			  const char *dataset, const char *name, const char *ver)
{
	struct mlops_rev want;
	int err, replaced = 0;
	*list = NULL;
	*bufs = NULL;
	*nds = 0;
	if (dataset && (err = mlops_rev_parse(&want, dataset)) < 0)
		return err;
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(run, "inputs"), *in;
	size_t nin = (size_t)cJSON_GetArraySize(ins);
	*list = calloc(nin ? nin : 1, sizeof(char *));
	*bufs = calloc(nin ? nin : 1, sizeof(char *));
	if (!*list || !*bufs)
		return oom();
	cJSON_ArrayForEach(in, ins) {
		const char *type = mlops_json_str(in, "type"), *dn = mlops_json_str(in, "name");
		char *d;
		if (!type || strcmp(type, "dataset") || !dn)
			continue;
		if (dataset && (!strcmp(want.name, dn) || nin == 1)) {
			d = strdup(dataset);
			replaced = 1;
		} else {
			d = strdup(dn);
		}
		if (!d)
			return oom();
		(*bufs)[*nds] = d;
		(*list)[(*nds)++] = d;
	}
	if (dataset && !replaced)
		return mlops_error_set(MLOPS_EUSAGE, "the run of %s@%s did not train on a dataset "
				       "named '%s'", name, ver, want.name);
	return 0;
}

static void strs_free(char **bufs, size_t n)
{
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
}

static int refuse_nested(void)
{
	const char *env = getenv("MLOPS_RETRAINING");
	if (env && *env)
		return mlops_error_set(MLOPS_ECONFLICT, "refusing to retrain from within a retraining "
				       "(MLOPS_RETRAINING is set)");
	return 0;
}

int mlops_monitor_retrain_check(struct mlops_repo *repo, const struct mlops_retrain_opts *o)
{
	cJSON *rec = NULL, *run = NULL;
	const char **list = NULL;
	char **bufs = NULL, *ver = NULL, *name = NULL;
	size_t nds = 0;
	mlops_oid runid;
	int err;

	if ((err = refuse_nested()) < 0)
		return err;
	if (o->promote && (err = mlops_registry_stage_check(repo, o->promote)) < 0)
		return err;
	if ((err = load_version_run(&rec, &ver, &name, &runid, &run, repo, o->model)) == 0)
		err = dataset_inputs(&list, &bufs, &nds, run, o->dataset, name, ver);
	strs_free(bufs, nds);
	free(list);
	free(ver);
	free(name);
	cJSON_Delete(rec);
	cJSON_Delete(run);
	return err;
}

int mlops_monitor_retrain(struct mlops_retrain_result **out, struct mlops_repo *repo,
			  const struct mlops_retrain_opts *o)
{
	struct mlops_retrain_result *res = NULL;
	struct mlops_run_result *rr = NULL;
	struct mlops_register_result *reg = NULL;
	struct mlops_gate_failure *gate = NULL;
	struct mlops_builtin_spec bspec;
	struct mlops_run_spec spec;
	cJSON *rec = NULL, *run = NULL;
	const char **argv = NULL, **datasets = NULL;
	char **dsbuf = NULL;
	size_t nargs = 0, nds = 0;
	mlops_oid runid;
	char *ver = NULL, runrev[72], hex[MLOPS_OID_HEXSZ + 1], chex[MLOPS_OID_HEXSZ + 1];
	char *msg = NULL, *tag = NULL, *pver = NULL;
	int err;

	*out = NULL;
	if ((err = refuse_nested()) < 0)
		return err;
	if (!(res = calloc(1, sizeof(*res))))
		return oom();
	if ((err = load_version_run(&rec, &ver, &res->name, &runid, &run, repo, o->model)) < 0)
		goto done;

	/* the same command, params and trainer */
	memset(&spec, 0, sizeof(spec));
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(run, "command"), *a;
	if (cJSON_IsArray(cmd) && cJSON_GetArraySize(cmd) > 0) {
		if (!(argv = calloc((size_t)cJSON_GetArraySize(cmd) + 1, sizeof(char *)))) {
			err = oom();
			goto done;
		}
		cJSON_ArrayForEach(a, cmd) {
			if (!cJSON_IsString(a)) {
				err = mlops_error_set(MLOPS_ECORRUPT, "run %s: a command argument is not "
						      "a string", mlops_oid_fmt(hex, &runid));
				goto done;
			}
			argv[nargs++] = a->valuestring;
		}
		spec.argv = argv;
	}
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(run, "builtin");
	if (cJSON_IsObject(b)) {
		memset(&bspec, 0, sizeof(bspec));
		bspec.kind = mlops_json_str(b, "kind");
		bspec.target = mlops_json_str(b, "target");
		bspec.valid_frac = mlops_json_num(b, "valid_frac", 0.2);
		bspec.seed = (uint64_t)mlops_json_num(b, "seed", 0);
		spec.builtin = &bspec;
		spec.argv = NULL;
	}
	if (!spec.argv && !spec.builtin) {
		err = mlops_error_set(MLOPS_EINVALID, "run %s has neither a command nor a built-in trainer",
				      mlops_oid_fmt(hex, &runid));
		goto done;
	}
	spec.name = mlops_json_str(run, "name");
	spec.params = cJSON_GetObjectItemCaseSensitive(run, "params");

	/* the newest version of each dataset, or the one named */
	if ((err = dataset_inputs(&datasets, &dsbuf, &nds, run, o->dataset, res->name, ver)) < 0)
		goto done;
	spec.datasets = datasets;
	spec.ndatasets = nds;
	if (o->check)
		mlops_oid_fmt(chex, o->check);
	msg = mlops_strdupf("retrained after drift check %.12s", o->check ? chex : "(none)");
	if (!msg) {
		err = oom();
		goto done;
	}
	spec.message = msg;
	spec.out_fd = o->out_fd;
	spec.err_fd = o->err_fd;
	if (nds && !(res->dataset = strdup(datasets[0]))) {
		err = oom();
		goto done;
	}

	setenv("MLOPS_RETRAINING", "1", 1);
	err = mlops_run_exec(&rr, repo, &spec);
	unsetenv("MLOPS_RETRAINING");
	if (err < 0)
		goto done;
	if (rr->error) {
		err = mlops_error_set(rr->error, "%s", rr->error_message ? rr->error_message : "run failed");
		goto done;
	}
	res->run = rr->id;
	res->cached = rr->cached;
	res->exit_status = rr->exit_status;
	if (rr->exit_status != 0) {
		err = set_note(res, mlops_strdupf("the training run failed (exit status %d); "
						  "nothing registered", rr->exit_status));
		goto done;
	}
	if (!mlops_oid_cmp(&rr->id, &runid)) {
		err = set_note(res, mlops_strdupf("the data has not changed since %s@%s was trained "
						  "(the run cache answered with its run); nothing "
						  "registered", res->name, ver));
		goto done;
	}

	/* register, with the check as lineage */
	struct mlops_register_opts ro;
	memset(&ro, 0, sizeof(ro));
	snprintf(runrev, sizeof(runrev), "r-%s", mlops_oid_fmt(hex, &rr->id));
	ro.name = res->name;
	ro.run = runrev;
	ro.message = msg;
	ro.drift_check = o->check ? chex : NULL;
	err = mlops_model_register(&reg, repo, &ro);
	if (err == MLOPS_ECONFLICT) {
		err = set_note(res, mlops_strdupf("nothing registered: %s", mlops_error_message()));
		mlops_error_clear();
		goto done;
	}
	if (err < 0)
		goto done;
	res->registered = 1;
	res->record = reg->record;
	if (!(res->version = strdup(reg->version)) || !(res->tag = strdup(reg->tag))) {
		err = oom();
		goto done;
	}
	if (o->promote) {
		char *rev = mlops_strdupf("%s@%s", res->name, res->version);
		if (!rev) {
			err = oom();
			goto done;
		}
		err = mlops_model_promote(&tag, &pver, &gate, repo, rev, o->promote, msg);
		free(rev);
		if (err == MLOPS_ECONFLICT) {
			if (!(res->not_promoted = strdup(mlops_error_message()))) {
				err = oom();
				goto done;
			}
			mlops_error_clear();
			err = 0;
		} else if (err < 0) {
			goto done;
		} else if (!(res->stage = strdup(o->promote))) {
			err = oom();
			goto done;
		}
	}
	err = 0;
done:
	if (err == 0) {
		*out = res;
		res = NULL;
	}
	mlops_retrain_result_free(res);
	mlops_run_result_free(rr);
	mlops_register_result_free(reg);
	mlops_gate_failure_free(gate);
	cJSON_Delete(rec);
	cJSON_Delete(run);
	strs_free(dsbuf, nds);
	free(datasets);
	free(argv);
	free(ver);
	free(msg);
	free(tag);
	free(pver);
	return err;
}
