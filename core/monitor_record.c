/*
 * monitor_record.c - the record of each check and the log of checks.
 *
 * A check is stored as a canonical JSON record {"type":"monitor-check",
 * "model","version","model_record",...the report...}, and named by the
 * ref monitor/<model>/<YYYYmmddTHHMMSSZ>-<8 hex of the record id>, so
 * that a model's refs sort by time.  Write protocol: the record is stored
 * and the store synced, then the ref is written under the repository lock.
 */
#include "core/monitor.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/registry.h"
#include "core/rev.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"

#define LOCK_TIMEOUT_MS -1

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

int mlops_monitor_record(mlops_oid *id, char **ref, struct mlops_repo *repo,
			 const struct cJSON *report, const char *name, const char *version,
			 const mlops_oid *model_record, double when)
{
	cJSON *rec = NULL;
	struct mlops_lock *lock = NULL;
	char hex[MLOPS_OID_HEXSZ + 1], stamp[32], *refname = NULL;
	struct tm tm;
	time_t t = (time_t)floor(when);
	int err;

	if (ref)
		*ref = NULL;
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "invalid model name '%s'", name);
	if (!(rec = cJSON_Duplicate(report, 1)))
		return oom();
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "type");
	cJSON_AddStringToObject(rec, "type", "monitor-check");
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "model");
	cJSON_AddStringToObject(rec, "model", name);
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "version");
	if (version)
		cJSON_AddStringToObject(rec, "version", version);
	else
		cJSON_AddNullToObject(rec, "version");
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "model_record");
	if (model_record)
		mlops_json_add_oid(rec, "model_record", model_record);
	else
		cJSON_AddNullToObject(rec, "model_record");
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "time");
	cJSON_AddNumberToObject(rec, "time", when);
	if ((err = mlops_json_store(id, repo->odb, rec, NULL)) < 0 ||
	    (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (!(refname = mlops_strdupf("monitor/%s/%s-%.8s", name, stamp, mlops_oid_fmt(hex, id)))) {
		err = oom();
		goto done;
	}
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	err = mlops_ref_write(repo, refname, id, NULL, "monitor check");
	mlops_lock_release(lock);
	if (err < 0)
		goto done;
	if (ref) {
		*ref = refname;
		refname = NULL;
	}
done:
	free(refname);
	cJSON_Delete(rec);
	return err;
}

/* The summary of one recorded check, as listed. */
static cJSON *summary(const cJSON *rec, const mlops_oid *id, const char *ref)
{
	static const char *const copy[] = {
		"model", "version", "time", "verdict", "drift", "degraded", "source",
		"tested_columns", "drifted_columns", "share", "dataset_drift",
		"prediction_drift", "schema_drift", NULL,
	};
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, id));
	cJSON_AddStringToObject(o, "ref", ref);
	for (size_t i = 0; copy[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, copy[i]);
		cJSON_AddItemToObject(o, copy[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
	}
	/* the headline metric's relative drop: null without labels, as without a figure */
	const cJSON *drop = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "quality"), "relative_drop");
	cJSON_AddItemToObject(o, "quality_drop", cJSON_IsNumber(drop) ? cJSON_CreateNumber(drop->valuedouble)
								       : cJSON_CreateNull());
	return o;
}

static int add_model_checks(cJSON *arr, struct mlops_repo *repo, const char *name)
{
	char **refs = NULL, *dir = mlops_strdupf("monitor/%s", name);
	size_t n = 0;
	int err;
	if (!dir)
		return oom();
	if ((err = mlops_ref_list(&refs, &n, repo, dir)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		char *full = NULL;
		mlops_oid id;
		cJSON *rec = NULL, *o;
		size_t len = strlen(refs[i]);
		if (len && refs[i][len - 1] == '/')
			continue;
		if (!(full = mlops_strdupf("%s/%s", dir, refs[i]))) {
			err = oom();
			goto done;
		}
		if ((err = mlops_ref_read(&id, repo, full)) < 0 ||
		    (err = mlops_json_load(&rec, repo->odb, &id)) < 0) {
			err = mlops_error_wrap(err, "check '%s'", full);
			free(full);
			goto done;
		}
		o = summary(rec, &id, full);
		cJSON_Delete(rec);
		free(full);
		if (!o) {
			err = oom();
			goto done;
		}
		cJSON_AddItemToArray(arr, o);
	}
done:
	mlops_strlist_free(refs, n);
	free(dir);
	return err;
}

/*
 * Newest first.  A check's time has microseconds, so checks made within
 * one second keep their order; records from before that have whole
 * seconds, and ties fall back to the ref's name.
 */
static int cmp_entry(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double tx = mlops_json_num(x, "time", 0), ty = mlops_json_num(y, "time", 0);
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return -strcmp(mlops_json_str(x, "ref"), mlops_json_str(y, "ref"));
}

/* MLOPS_ENOTFOUND unless the registry has events of model `name`. */
static int model_known(struct mlops_repo *repo, const char *name)
{
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	int err = mlops_registry_load(&reg, repo, name);
	if (err == 0)
		err = mlops_model_state_get(&st, reg, name, -1);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND, "model '%s' not found", name);
	return err;
}

/* Keep the entries of arr whose "version" is `version`. */
static void keep_version(cJSON *arr, const char *version)
{
	cJSON *e = arr->child;
	while (e) {
		cJSON *next = e->next;
		const char *v = mlops_json_str(e, "version");
		if (!v || strcmp(v, version))
			cJSON_Delete(cJSON_DetachItemViaPointer(arr, e));
		e = next;
	}
}

int mlops_monitor_log(struct cJSON **out, struct mlops_repo *repo, const char *rev)
{
	cJSON *arr = cJSON_CreateArray(), **items = NULL;
	char **models = NULL, *version = NULL;
	char name[129];
	size_t nmodels = 0;
	int err = 0;

	*out = NULL;
	if (!arr)
		return oom();
	if (rev) {
		size_t nl = strcspn(rev, "@#");
		if (nl == 0 || nl >= sizeof(name)) {
			err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a model revision", rev);
			goto done;
		}
		memcpy(name, rev, nl);
		name[nl] = 0;
		if (!mlops_name_valid(name)) {
			err = mlops_error_set(MLOPS_EUSAGE, "invalid model name '%s'", name);
			goto done;
		}
		/* NAME@VERSION, NAME#STAGE: the checks of the version it names now */
		if (rev[nl] && (err = mlops_model_resolve_version(&version, NULL, repo, rev, -1)) < 0)
			goto done;
		if ((err = add_model_checks(arr, repo, name)) < 0)
			goto done;
		if (!arr->child && !version && (err = model_known(repo, name)) < 0)
			goto done;
		if (version)
			keep_version(arr, version);
	} else {
		if ((err = mlops_ref_list(&models, &nmodels, repo, "monitor")) < 0)
			goto done;
		for (size_t i = 0; i < nmodels; i++) {
			size_t len = strlen(models[i]);
			if (!len || models[i][len - 1] != '/')
				continue;
			models[i][len - 1] = 0;
			if ((err = add_model_checks(arr, repo, models[i])) < 0)
				goto done;
		}
	}
	/* newest first */
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (n > 1) {
		if (!(items = malloc(n * sizeof(*items)))) {
			err = oom();
			goto done;
		}
		for (size_t i = 0; i < n; i++)
			items[i] = cJSON_DetachItemFromArray(arr, 0);
		qsort(items, n, sizeof(*items), cmp_entry);
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, items[i]);
	}
	*out = arr;
	arr = NULL;
done:
	free(items);
	free(version);
	mlops_strlist_free(models, nmodels);
	cJSON_Delete(arr);
	return err;
}
