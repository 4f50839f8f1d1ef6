/*
 * train.c - `mlops train`: run a training command or a built-in trainer as
 * a recorded run, sweep a grid of params, and list, show, compare and read
 * the log of runs; submit runs to Slurm (--executor slurm), wait for them
 * and cancel them.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rev.h"
#include "core/run.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/repo.h"
#include "store/tree.h"

static const char *const train_usage[] = {
	"train [-n NAME] [-d REV]... [-f REV]... [-p KEY=VAL]... [--params FILE] [-m MSG] "
	"[-o DIR] [--force] -- CMD [ARGS...]",
	"train --builtin linear|logistic|auto -d REV --target COL [--valid-frac F] [--seed N] "
	"[-p KEY=VAL]... [-o DIR] [--force]",
	"train ... --sweep KEY=V1,V2,... [--sweep KEY=...] [-j N] [--metric NAME] "
	"[--maximize|--minimize] [--json]",
	"train ... --executor local|slurm [--partition P] [--gpus N] [--cpus N] [--mem SIZE] "
	"[--time T] [--wait] -- CMD [ARGS...]",
	"train wait RUN... [--timeout SECS] [--json]",
	"train cancel RUN... [--json]",
	"train list [--name NAME] [--json]",
	"train show RUN [--diff] [--json]",
	"train compare RUN RUN... [--json]",
	"train log RUN",
	NULL,
};

/* An integer member of a record (records may come from elsewhere); 0 when odd. */
static int record_int(const cJSON *rec, const char *key)
{
	double v = mlops_json_num(rec, key, 0);
	return v > -1e9 && v < 1e9 ? (int)v : 0;
}

static void short_id(char out[16], const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	snprintf(out, 16, "r-%.8s", mlops_oid_fmt(hex, id));
}

/* A pending run's short id: "p-" and 8 hex digits of its record. */
static void pending_id(char out[16], const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	snprintf(out, 16, "p-%.8s", mlops_oid_fmt(hex, id));
}

/* A number as a person reads it: integers plainly, others with 6 digits. */
static const char *fmt_num(char buf[64], double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, 64, "%.0f", v);
	else
		snprintf(buf, 64, "%.6g", v);
	return buf;
}

/*
 * A param or metric value as text for people: strings quoted as
 * cmd_print_name quotes names (only when they hold a control character,
 * '"' or '\\'), other values as JSON.  NULL on no memory.
 */
static char *value_text(const cJSON *v)
{
	char buf[64];
	if (!v)
		return strdup("-");
	if (cJSON_IsNumber(v))
		return strdup(fmt_num(buf, v->valuedouble));
	if (cJSON_IsString(v))
		return cmd_quote_name(v->valuestring);
	return mlops_json_print(v, 0);
}

struct metric_line {
	char *text;
	size_t len, cap, count, max;
};

static void metric_append(const char *key, double value, void *payload)
{
	struct metric_line *m = payload;
	char buf[64], item[600];
	if (m->count++ >= m->max)
		return;
	char *q = cmd_quote_name(key);
	int n = snprintf(item, sizeof(item), "%s%s=%s", m->len ? " " : "", q ? q : "?",
			 fmt_num(buf, value));
	free(q);
	if (n < 0 || m->len + (size_t)n + 1 > m->cap)
		return;
	memcpy(m->text + m->len, item, (size_t)n + 1);
	m->len += (size_t)n;
}

/* "k=v k=v ..." of the first `max` metrics, into buf. */
static const char *metrics_summary(char *buf, size_t cap, const cJSON *record, size_t max)
{
	struct metric_line m = { buf, 0, cap, 0, max };
	buf[0] = '\0';
	mlops_run_metrics_foreach(cJSON_GetObjectItemCaseSensitive(record, "metrics"),
				  metric_append, &m);
	if (m.count > max && m.len + 5 < cap)
		strcat(buf, " ...");
	return buf;
}

static cJSON *run_json(const cJSON *record, const mlops_oid *id, int cached, int with_cached)
{
	char sid[16];
	cJSON *o = cJSON_Duplicate(record, 1);
	if (!o)
		return NULL;
	mlops_json_add_oid(o, "id", id);
	short_id(sid, id);
	cJSON_AddStringToObject(o, "run", sid);
	if (with_cached)
		cJSON_AddBoolToObject(o, "cached", cached);
	return o;
}

/* A pending run as JSON: the record, "id", "pending", "state", "status". */
static cJSON *pending_json(const cJSON *record, const mlops_oid *id, const char *state)
{
	char sid[16];
	cJSON *o = cJSON_Duplicate(record, 1);
	if (!o)
		return NULL;
	mlops_json_add_oid(o, "id", id);
	pending_id(sid, id);
	cJSON_AddStringToObject(o, "pending", sid);
	if (state) {
		const char *st = !strcmp(state, "PENDING") ? "queued" :
				 !strcmp(state, "RUNNING") || !strcmp(state, "CONFIGURING") ||
				 !strcmp(state, "COMPLETING") ? "running" :
				 !strcmp(state, "UNKNOWN") ? "unknown" : "ended";
		cJSON_AddStringToObject(o, "state", state);
		cJSON_AddStringToObject(o, "status", st);
	}
	return o;
}

/* ---- running ---------------------------------------------------------- */

/* A result's warnings, one "mlops: warning: " line each. */
static void print_warnings(const char *w)
{
	while (w && *w) {
		const char *nl = strchr(w, '\n');
		int l = nl ? (int)(nl - w) : (int)strlen(w);
		fprintf(stderr, "mlops: warning: %.*s\n", l, w);
		w = nl ? nl + 1 : w + l;
	}
}

struct str_list {
	const char **v;
	size_t n;
};

static int list_push(struct str_list *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -1;
	v[l->n++] = s;
	v[l->n] = NULL;
	l->v = v;
	return 0;
}

static int set_param(cJSON *params, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return cmd_die(MLOPS_EXIT_USAGE, "-p '%s': expected KEY=VALUE", kv);
	char *key = strndup(kv, (size_t)(eq - kv));
	cJSON *v = mlops_run_param_value(eq + 1);
	if (!key || !v) {
		free(key);
		cJSON_Delete(v);
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(params, key);
	cJSON_AddItemToObject(params, key, v);
	free(key);
	return 0;
}

static int load_params_file(cJSON **out, const char *path)
{
	char *text;
	size_t len;
	int err = mlops_read_file(&text, &len, path);
	if (err < 0)
		return cmd_fail(err, NULL);
	cJSON *doc = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return cmd_die(MLOPS_EXIT_INVALID, "--params '%s': not a JSON object", path);
	}
	*out = doc;
	return 0;
}

struct axis_arg {
	char *key;
	cJSON *values;
};

static int parse_sweep(struct axis_arg *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return cmd_die(MLOPS_EXIT_USAGE, "--sweep '%s': expected KEY=V1,V2,...", arg);
	a->key = strndup(arg, (size_t)(eq - arg));
	a->values = cJSON_CreateArray();
	char *vals = strdup(eq + 1);
	if (!a->key || !a->values || !vals) {
		free(vals);
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	}
	for (char *t = vals, *comma; t; t = comma ? comma + 1 : NULL) {
		if ((comma = strchr(t, ',')))
			*comma = '\0';
		if (!*t) {
			free(vals);
			return cmd_die(MLOPS_EXIT_USAGE, "--sweep '%s': an empty value", arg);
		}
		cJSON *v = mlops_run_param_value(t), *e;
		if (!v) {
			free(vals);
			return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		}
		cJSON_ArrayForEach(e, a->values)
			if (cJSON_Compare(e, v, 1)) {
				cJSON_Delete(v);
				int rc = cmd_die(MLOPS_EXIT_USAGE, "--sweep '%s': the value '%s' is "
						 "given twice", arg, t);
				free(vals);
				return rc;
			}
		cJSON_AddItemToArray(a->values, v);
	}
	free(vals);
	return 0;
}

/* Whether -p (or an earlier --sweep) already sets the key of a sweep. */
static int sweep_key_check(const struct axis_arg *axes, size_t naxes, const struct str_list *pargs)
{
	for (size_t a = 0; a < naxes; a++) {
		for (size_t b = 0; b < a; b++)
			if (!strcmp(axes[a].key, axes[b].key))
				return cmd_die(MLOPS_EXIT_USAGE, "--sweep '%s' is given twice: "
					       "list all its values in one --sweep", axes[a].key);
		size_t kl = strlen(axes[a].key);
		for (size_t i = 0; i < pargs->n; i++)
			if (!strncmp(pargs->v[i], axes[a].key, kl) && pargs->v[i][kl] == '=')
				return cmd_die(MLOPS_EXIT_USAGE, "'%s' is both swept (--sweep) and set "
					       "with -p", axes[a].key);
	}
	return 0;
}

/* Whether a metric is better when larger, from its name. */
static int metric_maximize(const char *name)
{
	static const char *const lower[] = { "loss", "error", "rmse", "mae", "mse", "mape", NULL };
	char low[256];
	size_t i = 0;
	for (; name[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	for (i = 0; lower[i]; i++)
		if (strstr(low, lower[i]))
			return 0;
	return 1;
}

static void print_run_line(const struct mlops_run_result *r)
{
	char sid[16], m[512], t[64];
	const cJSON *rec = r->record;
	short_id(sid, &r->id);
	const char *status = mlops_json_str(rec, "status");
	const char *name = mlops_json_str(rec, "name");
	metrics_summary(m, sizeof(m), rec, 6);
	if (r->cached)
		printf("%s %s: cached: the same command, params, inputs and code ran %s%s%s\n", sid,
		       name ? name : "", cmd_human_time(t, (long long)mlops_json_u64(rec, "start", 0)),
		       *m ? "; " : "", m);
	else
		printf("%s %s: %s%s%s in %.2f s (exit %d)%s%s\n", sid, name ? name : "",
		       !strcmp(status, "succeeded") ? cmd_color("green") : cmd_color("red"), status,
		       cmd_color("reset"), mlops_json_num(rec, "duration", 0),
		       record_int(rec, "exit_status"), *m ? "; " : "", m);
}

struct ranked {
	size_t idx;
	double value;
	int has;
};

static int cmp_ranked_max;

static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->has != y->has)
		return x->has ? -1 : 1;
	if (x->has && x->value != y->value)
		return (x->value > y->value) == cmp_ranked_max ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* A point stopped by a signal: its command's, or one never started. */
static int point_interrupted(const struct mlops_run_result *r)
{
	if (r->error)
		return r->exit_status > 128;
	const char *st = mlops_json_str(r->record, "status");
	return st && !strcmp(st, "interrupted");
}

/*
 * A sweep's exit status: that of the first interrupted point (grid order)
 * when a signal stopped it, else that of the first point that failed.
 */
static int sweep_status(struct mlops_run_result **res, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (point_interrupted(res[i]))
			return res[i]->exit_status ? res[i]->exit_status : 130;
	for (size_t i = 0; i < n; i++) {
		if (res[i]->error)
			return res[i]->exit_status ? res[i]->exit_status :
			       mlops_error_exit_code(res[i]->error);
		if (res[i]->exit_status)
			return res[i]->exit_status;
	}
	return 0;
}

static int print_sweep(struct mlops_run_result **res, size_t n, const struct axis_arg *axes,
		       size_t naxes, const char *metric, int maximize)
{
	struct ranked *rk = calloc(n ? n : 1, sizeof(*rk));
	int status = 0;
	if (!rk)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		rk[i].idx = i;
		if (res[i]->error || !res[i]->record)
			continue;
		const char *st = mlops_json_str(res[i]->record, "status");
		cJSON *flat = metric ? mlops_run_metrics_flat(cJSON_GetObjectItemCaseSensitive(
							res[i]->record, "metrics")) : NULL;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(flat, metric);
		if (st && !strcmp(st, "succeeded") && cJSON_IsNumber(v) && !isnan(v->valuedouble)) {
			rk[i].has = 1;
			rk[i].value = v->valuedouble;
		}
		cJSON_Delete(flat);
	}
	cmp_ranked_max = maximize;
	qsort(rk, n, sizeof(*rk), cmp_ranked);
	if (metric && n && !rk[0].has) {
		int any = 0;
		for (size_t i = 0; i < n && !any; i++)
			any = !res[i]->error && res[i]->record &&
			      !strcmp(mlops_json_str(res[i]->record, "status") ?
				      mlops_json_str(res[i]->record, "status") : "", "succeeded");
		if (any)
			fprintf(stderr, "mlops: warning: no point has the metric '%s': the sweep is "
				"not ranked\n", metric);
	}

	status = sweep_status(res, n);

	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject(), *arr;
		if (metric)
			cJSON_AddStringToObject(o, "metric", metric);
		else
			cJSON_AddNullToObject(o, "metric");
		cJSON_AddStringToObject(o, "direction", maximize ? "maximize" : "minimize");
		if (n && rk[0].has) {
			char sid[16];
			short_id(sid, &res[rk[0].idx]->id);
			cJSON_AddStringToObject(o, "best", sid);
		} else {
			cJSON_AddNullToObject(o, "best");
		}
		arr = cJSON_AddArrayToObject(o, "runs");
		for (size_t i = 0; i < n; i++) {
			const struct mlops_run_result *r = res[rk[i].idx];
			cJSON *e;
			if (r->error) {
				e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "error", r->error_message ? r->error_message : "");
			} else {
				e = run_json(r->record, &r->id, r->cached, 1);
			}
			if (rk[i].has) {
				cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
				cJSON_AddNumberToObject(e, "value", rk[i].value);
			} else {
				cJSON_AddNullToObject(e, "rank");
			}
			cJSON_AddBoolToObject(e, "best", i == 0 && rk[i].has);
			cJSON_AddItemToArray(arr, e);
		}
		free(rk);
		cmd_print_json(o);
		return status;
	}
	printf("%-4s  %-10s  %-11s", "rank", "run", "status");
	for (size_t a = 0; a < naxes; a++) {
		char *q = cmd_quote_name(axes[a].key);
		printf("  ");
		cmd_print_cell(stdout, q ? q : "?", 10);
		free(q);
	}
	putchar(' ');
	putchar(' ');
	cmd_print_name(stdout, metric ? metric : "");
	putchar('\n');
	for (size_t i = 0; i < n; i++) {
		const struct mlops_run_result *r = res[rk[i].idx];
		char rank[24] = "-", sid[16] = "-", val[64] = "-";
		if (rk[i].has) {
			snprintf(rank, sizeof(rank), "%zu", i + 1);
			fmt_num(val, rk[i].value);
		}
		if (r->error) {
			printf("%-4s  %-10s  %-11s  %s\n", rank, sid, "error",
			       r->error_message ? r->error_message : "");
			continue;
		}
		short_id(sid, &r->id);
		printf("%-4s  %-10s  %-11s", rank, sid,
		       r->cached ? "cached" : mlops_json_str(r->record, "status"));
		const cJSON *params = cJSON_GetObjectItemCaseSensitive(r->record, "params");
		for (size_t a = 0; a < naxes; a++) {
			char *t = value_text(cJSON_GetObjectItemCaseSensitive(params, axes[a].key));
			printf("  ");
			cmd_print_cell(stdout, t ? t : "?", 10);
			free(t);
		}
		printf("  %s%s%s%s\n", i == 0 && rk[i].has ? cmd_color("bold") : "", val,
		       i == 0 && rk[i].has ? "  <- best" : "", cmd_color("reset"));
	}
	free(rk);
	return status;
}

/* What was submitted: one line (or JSON object) per pending or cached run. */
static int print_submitted(struct mlops_run_result **res, size_t n)
{
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mlops_run_result *r = res[i];
		char sid[16];
		if (r->error) {
			fprintf(stderr, "mlops: %s\n", r->error_message ? r->error_message : "error");
			if (!status)
				status = mlops_error_exit_code(r->error);
			if (arr) {
				cJSON *e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "error", r->error_message ? r->error_message : "");
				cJSON_AddItemToArray(arr, e);
			}
			continue;
		}
		if (arr) {
			cJSON_AddItemToArray(arr, r->job_id ? pending_json(r->record, &r->id, "PENDING") :
					     run_json(r->record, &r->id, r->cached, 1));
			continue;
		}
		if (g_opts.quiet)
			continue;
		if (!r->job_id) {
			print_run_line(r);
			continue;
		}
		pending_id(sid, &r->id);
		printf("%s %s: submitted as Slurm job %s", sid, mlops_json_str(r->record, "name"),
		       r->job_id);
		const cJSON *p, *params = cJSON_GetObjectItemCaseSensitive(r->record, "params");
		if (n > 1)
			cJSON_ArrayForEach(p, params) {
				char *t = value_text(p);
				putchar(' ');
				cmd_print_name(stdout, p->string);
				printf("=%s", t ? t : "?");
				free(t);
			}
		putchar('\n');
	}
	if (arr) {
		if (n == 1 && cJSON_GetArraySize(arr) == 1) {
			cJSON *one = cJSON_DetachItemFromArray(arr, 0);
			cJSON_Delete(arr);
			arr = one;
		}
		cmd_print_json(arr);
	} else if (!g_opts.quiet && n) {
		fprintf(stderr, "hint: 'mlops train wait JOB' waits and records the run; "
			"'mlops train list' shows the state\n");
	}
	return status;
}

/*
 * Wait for a submitted run and put the run in its place; a failure to
 * wait becomes the result's error.
 */
static void wait_result(struct mlops_run_result **slot)
{
	struct mlops_run_result *r = *slot, *done = NULL;
	struct mlops_pending *p = NULL;
	if (r->error || !r->job_id)
		return;
	int err = mlops_pending_resolve(&p, g_repo, r->job_id);
	if (err == 0)
		err = mlops_pending_wait(&done, g_repo, p, 0);
	else if (err == MLOPS_ENOTFOUND) {
		/* Recorded meanwhile by another process. */
		mlops_error_clear();
		if ((done = calloc(1, sizeof(*done))) == NULL)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else if ((err = mlops_run_find_job(&done->record, &done->id, g_repo, r->job_id)) == 0)
			done->exit_status = (int)mlops_json_num(done->record, "exit_status", 0);
	}
	mlops_pending_free(p, 1);
	if (err < 0) {
		mlops_run_result_free(done);
		free(r->error_message);
		r->error = err;
		r->error_message = strdup(mlops_error_message());
		mlops_error_clear();
		return;
	}
	mlops_run_result_free(r);
	*slot = done;
}

/*
 * Once runs are recorded, a reader that closed stdout early (mlops train
 * ... | head -1) is no failure of the run: stdout then goes to /dev/null,
 * so that the final flush succeeds and the run's status stands.  Only a
 * pipe without readers is forgiven; other write errors are reported.
 */
static void forgive_closed_stdout(void)
{
	struct pollfd p = { STDOUT_FILENO, POLLOUT, 0 };
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLERR))
		return;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (dup2(fd, STDOUT_FILENO) >= 0)
		clearerr(stdout);
	close(fd);
}

/*
 * Whether the last error is the command's own program failing to start
 * ("unable to run 'PROG': ..."), not a dataset, feature set or other
 * input that was not found, nor a Slurm program.
 */
static int exec_failed(const char *prog)
{
	static const char prefix[] = "unable to run '";
	const char *m = mlops_error_message();
	size_t n = strlen(prog);

	return m && !strncmp(m, prefix, sizeof(prefix) - 1) &&
	       !strncmp(m + sizeof(prefix) - 1, prog, n) && m[sizeof(prefix) - 1 + n] == '\'';
}

static int train_run(int argc, char **argv)
{
	enum { OPT_PARAMS = 256, OPT_FORCE, OPT_BUILTIN, OPT_TARGET, OPT_VALID, OPT_SEED,
	       OPT_SWEEP, OPT_METRIC, OPT_MAX, OPT_MIN, OPT_JSON, OPT_EXECUTOR, OPT_PARTITION,
	       OPT_GPUS, OPT_CPUS, OPT_MEM, OPT_TIME, OPT_WAIT };
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dataset", required_argument, NULL, 'd' },
		{ "features", required_argument, NULL, 'f' },
		{ "param", required_argument, NULL, 'p' },
		{ "params", required_argument, NULL, OPT_PARAMS },
		{ "message", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "builtin", required_argument, NULL, OPT_BUILTIN },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "valid-frac", required_argument, NULL, OPT_VALID },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "sweep", required_argument, NULL, OPT_SWEEP },
		{ "jobs", required_argument, NULL, 'j' },
		{ "metric", required_argument, NULL, OPT_METRIC },
		{ "maximize", no_argument, NULL, OPT_MAX },
		{ "minimize", no_argument, NULL, OPT_MIN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "executor", required_argument, NULL, OPT_EXECUTOR },
		{ "partition", required_argument, NULL, OPT_PARTITION },
		{ "gpus", required_argument, NULL, OPT_GPUS },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_run_spec spec;
	struct mlops_slurm_opts sopts;
	const char *executor = NULL, *slurm_only = NULL;
	int wait = 0;
	struct mlops_builtin_spec bspec = { NULL, NULL, 0.2, 0 };
	struct str_list datasets = { 0 }, features = { 0 }, pargs = { 0 };
	struct axis_arg axes[16];
	size_t naxes = 0, jobs = 1;
	const char *params_file = NULL, *metric = NULL;
	int c, rc = 0, direction = -1, have_max = 0, have_min = 0, jobs_given = 0;
	cJSON *params = NULL;
	struct mlops_run_result *res = NULL, **results = NULL;
	size_t nresults = 0;
	struct mlops_sweep_axis saxes[16];
	char *end;

	memset(&spec, 0, sizeof(spec));
	memset(&sopts, 0, sizeof(sopts));
	memset(axes, 0, sizeof(axes));
	/* A closed stdout is an EPIPE to forgive, not a death (see above). */
	signal(SIGPIPE, SIG_IGN);
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "+n:d:f:p:m:o:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': spec.name = optarg; break;
		case 'd': if (list_push(&datasets, optarg)) rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory"); break;
		case 'f': if (list_push(&features, optarg)) rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory"); break;
		case 'p': if (list_push(&pargs, optarg)) rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory"); break;
		case OPT_PARAMS: params_file = optarg; break;
		case 'm': spec.message = optarg; break;
		case 'o': spec.out_dir = optarg; break;
		case OPT_FORCE: spec.force = 1; break;
		case OPT_BUILTIN: bspec.kind = optarg; break;
		case OPT_TARGET: bspec.target = optarg; break;
		case OPT_VALID:
			bspec.valid_frac = strtod(optarg, &end);
			if (*end || end == optarg || !(bspec.valid_frac >= 0 && bspec.valid_frac < 1))
				rc = cmd_die(MLOPS_EXIT_USAGE, "--valid-frac '%s': expected a number in [0, 1)", optarg);
			break;
		case OPT_SEED:
			bspec.seed = strtoull(optarg, &end, 10);
			if (*end || end == optarg || *optarg == '-')
				rc = cmd_die(MLOPS_EXIT_USAGE, "--seed '%s': expected a non-negative integer", optarg);
			break;
		case OPT_SWEEP:
			if (naxes == 16)
				rc = cmd_die(MLOPS_EXIT_USAGE, "at most 16 --sweep options");
			else
				rc = parse_sweep(&axes[naxes++], optarg);
			break;
		case 'j': {
			long j = strtol(optarg, &end, 10);
			if (*end || j < 1 || j > 64)
				rc = cmd_die(MLOPS_EXIT_USAGE, "-j '%s': expected 1 to 64", optarg);
			jobs = (size_t)j;
			jobs_given = 1;
			break;
		}
		case OPT_METRIC: metric = optarg; break;
		case OPT_MAX: direction = 1; have_max = 1; break;
		case OPT_MIN: direction = 0; have_min = 1; break;
		case OPT_JSON: g_opts.json = 1; break;
		case OPT_EXECUTOR:
			executor = optarg;
			if (strcmp(optarg, "local") && strcmp(optarg, "slurm"))
				rc = cmd_die(MLOPS_EXIT_USAGE, "--executor '%s': expected local or slurm", optarg);
			break;
		case OPT_PARTITION: sopts.partition = optarg; slurm_only = "--partition"; break;
		case OPT_GPUS: sopts.gpus = optarg; slurm_only = "--gpus"; break;
		case OPT_CPUS: sopts.cpus = optarg; slurm_only = "--cpus"; break;
		case OPT_MEM: sopts.mem = optarg; slurm_only = "--mem"; break;
		case OPT_TIME: sopts.time = optarg; slurm_only = "--time"; break;
		case OPT_WAIT: wait = 1; slurm_only = "--wait"; break;
		case 'h': rc = cmd_usage(train_usage, 1); goto done;
		default: rc = cmd_usage(train_usage, 0); goto done;
		}
		if (rc)
			goto done;
	}
	if (bspec.kind && optind < argc) {
		rc = cmd_die(MLOPS_EXIT_USAGE, "--builtin runs no command; drop '%s'", argv[optind]);
		goto done;
	}
	if (!bspec.kind && optind >= argc) {
		rc = cmd_usage_error(train_usage, "no command to run: give one after '--', or use --builtin");
		goto done;
	}
	if (have_max && have_min) {
		rc = cmd_die(MLOPS_EXIT_USAGE, "--maximize and --minimize exclude each other");
		goto done;
	}
	if (!naxes && !(bspec.kind && !strcmp(bspec.kind, "auto"))) {
		const char *opt = metric ? "--metric" : jobs_given ? "-j" : have_max ? "--maximize" :
				  have_min ? "--minimize" : NULL;
		if (opt) {
			rc = cmd_die(MLOPS_EXIT_USAGE, "%s goes with --sweep (or --builtin auto)", opt);
			goto done;
		}
	}
	if ((rc = sweep_key_check(axes, naxes, &pargs)) != 0)
		goto done;
	if (!bspec.kind && bspec.target) {
		rc = cmd_die(MLOPS_EXIT_USAGE, "--target goes with --builtin");
		goto done;
	}
	int slurm = executor && !strcmp(executor, "slurm");
	if (slurm_only && !slurm) {
		rc = cmd_die(MLOPS_EXIT_USAGE, "%s goes with --executor slurm", slurm_only);
		goto done;
	}
	if (slurm && bspec.kind) {
		rc = cmd_die(MLOPS_EXIT_USAGE, "--builtin trains in-process; it cannot run on Slurm");
		goto done;
	}
	if (params_file) {
		if ((rc = load_params_file(&params, params_file)) != 0)
			goto done;
	} else if (!(params = cJSON_CreateObject())) {
		rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < pargs.n; i++)
		if ((rc = set_param(params, pargs.v[i])) != 0)
			goto done;

	if (!g_repo) {
		int err = mlops_repo_open(&g_repo, ".");
		if (err < 0) {
			rc = cmd_fail(err, err == MLOPS_ENOREPO ? "run 'mlops init' to create one" : NULL);
			goto done;
		}
	}
	spec.argv = bspec.kind ? NULL : (const char *const *)argv + optind;
	spec.params = params;
	spec.datasets = datasets.v;
	spec.ndatasets = datasets.n;
	spec.features = features.v;
	spec.nfeatures = features.n;
	spec.builtin = bspec.kind ? &bspec : NULL;
	spec.out_fd = g_opts.json ? STDERR_FILENO : STDOUT_FILENO;
	spec.err_fd = STDERR_FILENO;
	if (slurm)
		spec.slurm = &sopts;

	if (bspec.kind && !strcmp(bspec.kind, "auto")) {
		const char *kind;
		if (datasets.n != 1 || !bspec.target) {
			rc = cmd_die(MLOPS_EXIT_USAGE, "--builtin auto needs one -d REV and --target COL");
			goto done;
		}
		int err = mlops_builtin_detect_kind(&kind, g_repo, datasets.v[0], bspec.target);
		if (err < 0) {
			rc = cmd_fail(err, NULL);
			goto done;
		}
		bspec.kind = kind;
		int linear = !strcmp(kind, "linear");
		if (!g_opts.quiet && !g_opts.json)
			printf("auto: '%s' is %s: %s over %s = 0.01, 0.1, 1, 10, 100\n", bspec.target,
			       linear ? "a number with many values" : "a class label",
			       linear ? "ridge regression (linear)" : "logistic regression",
			       linear ? "alpha" : "C");
		if (naxes == 0) {
			if (parse_sweep(&axes[naxes++], linear ? "alpha=0.01,0.1,1,10,100" :
					"C=0.01,0.1,1,10,100")) {
				rc = MLOPS_EXIT_FAILURE;
				goto done;
			}
			if ((rc = sweep_key_check(axes, naxes, &pargs)) != 0)
				goto done;
		}
		if (!metric) {
			metric = linear ? "rmse" : "log_loss";
			direction = 0;
		}
		if (jobs == 1)
			jobs = (size_t)(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1);
	}
	if (naxes) {
		for (size_t a = 0; a < naxes; a++) {
			saxes[a].key = axes[a].key;
			saxes[a].values = axes[a].values;
		}
		if (direction < 0)
			direction = metric ? metric_maximize(metric) : 1;
		if (jobs > 1 && !g_opts.verbose)
			spec.out_fd = spec.err_fd = -1;
		if (spec.builtin && jobs > 1)
			spec.threads = 1;
		int err = mlops_run_sweep(&results, &nresults, g_repo, &spec, saxes, naxes, jobs);
		if (err < 0) {
			rc = cmd_fail(err, NULL);
			goto done;
		}
		if (slurm && !wait) {
			rc = print_submitted(results, nresults);
			goto done;
		}
		if (slurm)
			for (size_t i = 0; i < nresults; i++)
				wait_result(&results[i]);
		for (size_t i = 0; i < nresults; i++)
			print_warnings(results[i]->warning);
		rc = print_sweep(results, nresults, axes, naxes, metric, direction);
		goto done;
	}

	int err = mlops_run_exec(&res, g_repo, &spec);
	if (err < 0) {
		rc = cmd_fail(err, err == MLOPS_ENOTFOUND && spec.argv && exec_failed(spec.argv[0]) ?
			      "the command runs with execvp; use 'sh -c ...' for a shell" : NULL);
		goto done;
	}
	if (res->job_id && !wait) {
		rc = print_submitted(&res, 1);
		goto done;
	}
	if (res->job_id)
		wait_result(&res);
	if (res->error) {
		/* Nothing recorded: a job that never started, a run interrupted before. */
		rc = cmd_die(res->exit_status ? res->exit_status : mlops_error_exit_code(res->error),
			     "%s", res->error_message ? res->error_message : "error");
		goto done;
	}
	print_warnings(res->warning);
	if (g_opts.json)
		cmd_print_json(run_json(res->record, &res->id, res->cached, 1));
	else if (!g_opts.quiet) {
		print_run_line(res);
		if (spec.out_dir && cJSON_GetObjectItemCaseSensitive(res->record, "outputs"))
			printf("outputs %s to %s\n", res->cached ? "restored" : "written", spec.out_dir);
	}
	rc = res->exit_status;
done:
	if (res || results)
		forgive_closed_stdout();
	mlops_run_result_free(res);
	mlops_run_results_free(results, nresults);
	for (size_t a = 0; a < naxes; a++) {
		free(axes[a].key);
		cJSON_Delete(axes[a].values);
	}
	cJSON_Delete(params);
	free(datasets.v);
	free(features.v);
	free(pargs.v);
	return rc;
}

/* ---- list, show, compare, log ----------------------------------------- */

/* Options of the reading subcommands; returns -1 to go on. */
static int read_args(int argc, char **argv, const char *const *usage, int min, int max,
		     const char **name, int *diff, int json_ok)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "diff", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'n' && name)
			*name = optarg;
		else if (c == 'D' && diff)
			*diff = 1;
		else if (c == 'J' && json_ok)
			g_opts.json = 1;
		else
			return cmd_usage(usage, c == 'h');
	}
	return cmd_check_args(argc, argv, min, max, usage);
}

static const char *const list_usage[] = { "train list [--name NAME] [--json]", NULL };

static int train_list(int argc, char **argv)
{
	const char *name = NULL;
	int rc = read_args(argc, argv, list_usage, 0, 0, &name, NULL, 1);
	if (rc >= 0)
		return rc;
	if (name && !mlops_name_valid(name))
		return cmd_die(MLOPS_EXIT_USAGE, "--name '%s': not a valid run name", name);
	struct mlops_run_entry *runs;
	struct mlops_pending *pend = NULL;
	size_t n, np = 0, k = 0;
	char *warning = NULL;
	/* Pending runs first: those that have ended are recorded as runs. */
	int err = mlops_pending_list(&pend, &np, g_repo, &warning);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (warning)
		fprintf(stderr, "warning: %s\n", warning);
	free(warning);
	for (size_t i = 0; i < np; i++) {
		const char *pn = mlops_json_str(pend[i].record, "name");
		if (!name || (pn && !strcmp(pn, name)))
			pend[k++] = pend[i];
		else {
			free(pend[i].job_id);
			cJSON_Delete(pend[i].record);
		}
	}
	np = k;
	err = mlops_run_list(&runs, &n, g_repo, name);
	if (err < 0) {
		mlops_pending_free(pend, np);
		return cmd_fail(err, NULL);
	}
	if (g_opts.json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = np; i-- > 0;)
			cJSON_AddItemToArray(arr, pending_json(pend[i].record, &pend[i].id, pend[i].state));
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, run_json(runs[i].record, &runs[i].id, 0, 0));
		mlops_run_list_free(runs, n);
		mlops_pending_free(pend, np);
		return cmd_print_json(arr);
	}
	if (n == 0 && np == 0 && !g_opts.quiet)
		printf("no runs%s%s\n", name ? " named " : "", name ? name : "");
	for (size_t i = np; i-- > 0;) {
		const cJSON *r = pend[i].record;
		char sid[16], t[64];
		cJSON *pj = pending_json(r, &pend[i].id, pend[i].state);
		pending_id(sid, &pend[i].id);
		printf("%s  %.16s  %-16s %-11s %9s  Slurm job %s (%s)\n", sid,
		       cmd_human_time(t, (long long)mlops_json_num(r, "submitted", 0)),
		       mlops_json_str(r, "name") ? mlops_json_str(r, "name") : "",
		       mlops_json_str(pj, "status") ? mlops_json_str(pj, "status") : "?", "",
		       pend[i].job_id, pend[i].state);
		cJSON_Delete(pj);
	}
	mlops_pending_free(pend, np);
	for (size_t i = 0; i < n; i++) {
		const cJSON *r = runs[i].record;
		char sid[16], t[64], m[512];
		short_id(sid, &runs[i].id);
		const char *st = mlops_json_str(r, "status");
		printf("%s  %.16s  %-16s %s%-11s%s %8.2fs  %s\n", sid,
		       cmd_human_time(t, (long long)mlops_json_u64(r, "start", 0)),
		       mlops_json_str(r, "name") ? mlops_json_str(r, "name") : "",
		       st && !strcmp(st, "succeeded") ? "" : cmd_color("red"), st ? st : "?",
		       st && !strcmp(st, "succeeded") ? "" : cmd_color("reset"),
		       mlops_json_num(r, "duration", 0), metrics_summary(m, sizeof(m), r, 4));
	}
	mlops_run_list_free(runs, n);
	return 0;
}

static void print_kv(const char *k, double v, void *payload)
{
	char buf[64], *q = cmd_quote_name(k);
	printf("%s  ", (const char *)payload);
	cmd_print_cell(stdout, q ? q : "?", 24);
	printf(" %s\n", fmt_num(buf, v));
	free(q);
}

static const char *const show_usage[] = { "train show RUN [--diff] [--json]", NULL };

static int show_diff(const cJSON *rec)
{
	mlops_oid id;
	void *data;
	size_t len;
	if (!mlops_json_str(rec, "git_diff")) {
		if (!g_opts.quiet)
			fprintf(stderr, "the work tree was clean when the run started\n");
		return 0;
	}
	int err = mlops_json_get_oid(&id, rec, "git_diff");
	if (err == 0)
		err = mlops_odb_read(&data, &len, g_repo->odb, &id);
	if (err < 0)
		return cmd_fail(err, NULL);
	fwrite(data, 1, len, stdout);
	free(data);
	return 0;
}

static int train_show(int argc, char **argv)
{
	int diff = 0;
	int rc = read_args(argc, argv, show_usage, 1, 1, NULL, &diff, 1);
	if (rc >= 0)
		return rc;
	cJSON *rec;
	mlops_oid id;
	int err = mlops_run_resolve(&rec, &id, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, "'mlops train list' shows the runs");
	if (diff) {
		rc = show_diff(rec);
		cJSON_Delete(rec);
		return rc;
	}
	if (g_opts.json) {
		cJSON *o = run_json(rec, &id, 0, 0);
		cJSON_Delete(rec);
		return cmd_print_json(o);
	}
	char hex[MLOPS_OID_HEXSZ + 1], t[64], a[32], buf[64];
	const cJSON *e, *cmdv = cJSON_GetObjectItemCaseSensitive(rec, "command");
	printf("run %s\n", mlops_oid_fmt(hex, &id));
	printf("name:     %s\n", mlops_json_str(rec, "name") ? mlops_json_str(rec, "name") : "");
	printf("status:   %s (exit %d)\n", mlops_json_str(rec, "status") ? mlops_json_str(rec, "status") : "?",
	       record_int(rec, "exit_status"));
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(rec, "builtin");
	if (b) {
		printf("builtin:  %s, target '%s', valid_frac %s", mlops_json_str(b, "kind"),
		       mlops_json_str(b, "target"), fmt_num(buf, mlops_json_num(b, "valid_frac", 0)));
		printf(", seed %s%s\n", fmt_num(buf, mlops_json_num(b, "seed", 0)),
		       cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "converged")) ?
		       "; did not converge" : "");
	} else {
		printf("command: ");
		cJSON_ArrayForEach(e, cmdv) {
			putchar(' ');
			cmd_print_name(stdout, cJSON_IsString(e) ? e->valuestring : "?");
		}
		putchar('\n');
	}
	printf("start:    %s\n", cmd_human_time(t, (long long)mlops_json_u64(rec, "start", 0)));
	printf("duration: %.3f s\n", mlops_json_num(rec, "duration", 0));
	printf("memory:   %s peak\n", cmd_human_size(a, (unsigned long long)mlops_json_num(rec, "peak_rss_kb", 0) * 1024));
	printf("git:      %s%s\n", mlops_json_str(rec, "git_commit") ? mlops_json_str(rec, "git_commit") : "(no commit)",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "git_dirty")) ?
	       " + uncommitted changes (see 'mlops train show --diff')" : "");
	printf("host:     %s (%s)\n", mlops_json_str(rec, "host") ? mlops_json_str(rec, "host") : "",
	       mlops_json_str(rec, "user") ? mlops_json_str(rec, "user") : "");
	if (mlops_json_str(rec, "message") && *mlops_json_str(rec, "message"))
		printf("message:  %s\n", mlops_json_str(rec, "message"));
	printf("inputs:\n");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "inputs"))
		printf("  %s@v%.0f  %.12s\n", mlops_json_str(e, "name"), mlops_json_num(e, "version", 0),
		       mlops_json_str(e, "record") ? mlops_json_str(e, "record") : "");
	printf("params:\n");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "params")) {
		char *v = value_text(e), *q = cmd_quote_name(e->string);
		printf("  ");
		cmd_print_cell(stdout, q ? q : "?", 24);
		printf(" %s\n", v ? v : "?");
		free(v);
		free(q);
	}
	printf("metrics:\n");
	mlops_run_metrics_foreach(cJSON_GetObjectItemCaseSensitive(rec, "metrics"), print_kv, "");
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(rec, "outputs");
	if (outs) {
		struct mlops_node node;
		struct mlops_tree_list l;
		printf("outputs:  %.0f file%s, %s\n", mlops_json_num(outs, "files", 0),
		       mlops_json_num(outs, "files", 0) == 1 ? "" : "s",
		       cmd_human_size(a, (unsigned long long)mlops_json_num(outs, "size", 0)));
		if (mlops_node_from_json(&node, outs) == 0 &&
		    mlops_tree_list(&l, g_repo->odb, &node, 0) == 0) {
			for (size_t k = 0; k < l.count; k++)
				printf("  %10s  %s\n", cmd_human_size(a, l.files[k].node.size), l.files[k].path);
			mlops_tree_list_free(&l);
		}
	} else {
		printf("outputs:  none\n");
	}
	cJSON_Delete(rec);
	return 0;
}

static const char *const compare_usage[] = { "train compare RUN RUN... [--json]", NULL };

struct cmp_keys {
	char **keys;
	size_t n, cap;
};

static void cmp_add_key(struct cmp_keys *k, const char *key)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->keys[i], key))
			return;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		char **nk = realloc(k->keys, cap * sizeof(*nk));
		if (!nk)
			return;
		k->keys = nk;
		k->cap = cap;
	}
	if ((k->keys[k->n] = strdup(key)))
		k->n++;
}

static void cmp_metric_key(const char *key, double v, void *payload)
{
	char buf[600];
	(void)v;
	snprintf(buf, sizeof(buf), "metrics.%s", key);
	cmp_add_key(payload, buf);
}

/*
 * The member of a run that a row of compare shows (borrowed): a param, a
 * metric of the run's flattened metrics, or a field; NULL when it has none
 * or the row is made up (inputs, git_commit).
 */
static const cJSON *cmp_source(const cJSON *rec, const cJSON *flat, const char *key)
{
	if (!strncmp(key, "params.", 7))
		return cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(rec, "params"), key + 7);
	if (!strncmp(key, "metrics.", 8))
		return cJSON_GetObjectItemCaseSensitive(flat, key + 8);
	if (!strcmp(key, "inputs") || !strcmp(key, "git_commit"))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(rec, key);
}

static char *cmp_value(const cJSON *rec, const cJSON *flat, const char *key)
{
	if (!strncmp(key, "params.", 7) || !strncmp(key, "metrics.", 8))
		return value_text(cmp_source(rec, flat, key));
	if (!strcmp(key, "inputs")) {
		char buf[1024] = "";
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "inputs")) {
			size_t l = strlen(buf);
			snprintf(buf + l, sizeof(buf) - l, "%s%s@v%.0f", l ? "," : "",
				 mlops_json_str(e, "name"), mlops_json_num(e, "version", 0));
		}
		return strdup(*buf ? buf : "-");
	}
	if (!strcmp(key, "git_commit")) {
		const char *c = mlops_json_str(rec, "git_commit");
		int dirty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "git_dirty"));
		return mlops_strdupf("%.10s%s", c ? c : "-", dirty ? "+dirty" : "");
	}
	return value_text(cmp_source(rec, flat, key));
}

static int train_compare(int argc, char **argv)
{
	int rc = read_args(argc, argv, compare_usage, 2, -1, NULL, NULL, 1);
	if (rc >= 0)
		return rc;
	rc = 0;
	size_t n = (size_t)(argc - optind);
	cJSON **recs = calloc(n, sizeof(*recs)), **flat = calloc(n, sizeof(*flat));
	mlops_oid *ids = calloc(n, sizeof(*ids));
	struct cmp_keys keys = { 0 };
	int err = 0;
	if (!recs || !flat || !ids) {
		free(recs);
		free(flat);
		free(ids);
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	}
	for (size_t i = 0; i < n && err == 0; i++)
		err = mlops_run_resolve(&recs[i], &ids[i], g_repo, argv[optind + (int)i]);
	if (err < 0) {
		rc = cmd_fail(err, NULL);
		goto done;
	}
	/* Metrics by their flattened names, as show lists them. */
	for (size_t i = 0; i < n; i++)
		if (!(flat[i] = mlops_run_metrics_flat(cJSON_GetObjectItemCaseSensitive(recs[i],
											  "metrics")))) {
			rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
			goto done;
		}
	static const char *const fixed[] = { "name", "status", "duration", "inputs", "git_commit", NULL };
	for (size_t i = 0; fixed[i]; i++)
		cmp_add_key(&keys, fixed[i]);
	for (size_t i = 0; i < n; i++) {
		const cJSON *p;
		cJSON *sorted = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(recs[i], "params"), 1);
		mlops_json_sort(sorted);
		cJSON_ArrayForEach(p, sorted) {
			char buf[600];
			snprintf(buf, sizeof(buf), "params.%s", p->string);
			cmp_add_key(&keys, buf);
		}
		cJSON_Delete(sorted);
	}
	for (size_t i = 0; i < n; i++) {
		const cJSON *m;
		cJSON_ArrayForEach(m, flat[i])
			cmp_metric_key(m->string, m->valuedouble, &keys);
	}
	cJSON *jo = g_opts.json ? cJSON_CreateObject() : NULL, *jrows = NULL;
	if (jo) {
		cJSON *jr = cJSON_AddArrayToObject(jo, "runs");
		for (size_t i = 0; i < n; i++) {
			char sid[16];
			short_id(sid, &ids[i]);
			cJSON_AddItemToArray(jr, cJSON_CreateString(sid));
		}
		jrows = cJSON_AddArrayToObject(jo, "rows");
	}
	/*
	 * Columns as wide as their widest value, in the columns a terminal
	 * gives it (UTF-8, quoted): nothing runs into its neighbour.
	 */
	size_t kw = 8, *cw = calloc(n, sizeof(*cw));
	if (!cw) {
		rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		cJSON_Delete(jo);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		cw[i] = 10;
	for (size_t k = 0; !jo && k < keys.n; k++) {
		char *label = cmd_quote_name(keys.keys[k]);
		if (label && cmd_text_width(label) > kw)
			kw = cmd_text_width(label);
		free(label);
		for (size_t i = 0; i < n; i++) {
			char *v = cmp_value(recs[i], flat[i], keys.keys[k]);
			if (v && cmd_text_width(v) > cw[i])
				cw[i] = cmd_text_width(v);
			free(v);
		}
	}
	if (!jo) {
		printf("  %-*s", (int)kw, "");
		for (size_t i = 0; i < n; i++) {
			char sid[16];
			short_id(sid, &ids[i]);
			printf("  %-*s", (int)cw[i], sid);
		}
		putchar('\n');
	}
	for (size_t k = 0; k < keys.n; k++) {
		char **vals = calloc(n, sizeof(*vals));
		int differs = 0;
		if (!vals)
			break;
		for (size_t i = 0; i < n; i++) {
			vals[i] = cmp_value(recs[i], flat[i], keys.keys[k]);
			if (i && strcmp(vals[i] ? vals[i] : "", vals[0] ? vals[0] : ""))
				differs = 1;
		}
		if (jo) {
			cJSON *row = cJSON_CreateObject(), *va;
			cJSON_AddStringToObject(row, "key", keys.keys[k]);
			va = cJSON_AddArrayToObject(row, "values");
			for (size_t i = 0; i < n; i++) {
				const cJSON *src = cmp_source(recs[i], flat[i], keys.keys[k]);
				cJSON_AddItemToArray(va, src ? cJSON_Duplicate(src, 1) :
						     vals[i] && strcmp(vals[i], "-") ? cJSON_CreateString(vals[i]) :
						     cJSON_CreateNull());
			}
			cJSON_AddBoolToObject(row, "differs", differs);
			cJSON_AddItemToArray(jrows, row);
		} else {
			char *label = cmd_quote_name(keys.keys[k]);
			printf("%s %s", differs ? "*" : " ", differs ? cmd_color("yellow") : "");
			cmd_print_cell(stdout, label ? label : "?", kw);
			free(label);
			for (size_t i = 0; i < n; i++) {
				printf("  ");
				cmd_print_cell(stdout, vals[i] ? vals[i] : "?", i + 1 < n ? cw[i] : 0);
			}
			printf("%s\n", differs ? cmd_color("reset") : "");
		}
		for (size_t i = 0; i < n; i++)
			free(vals[i]);
		free(vals);
	}
	free(cw);
	if (jo)
		cmd_print_json(jo);
done:
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(recs[i]);
		cJSON_Delete(flat[i]);
	}
	for (size_t k = 0; k < keys.n; k++)
		free(keys.keys[k]);
	free(keys.keys);
	free(recs);
	free(flat);
	free(ids);
	return rc;
}

static const char *const log_usage[] = { "train log RUN", NULL };

static int train_log(int argc, char **argv)
{
	int rc = read_args(argc, argv, log_usage, 1, 1, NULL, NULL, 0);
	if (rc >= 0)
		return rc;
	cJSON *rec;
	mlops_oid id;
	char *text;
	size_t len;
	int err = mlops_run_resolve(&rec, &id, g_repo, argv[optind]);
	if (err == 0) {
		err = mlops_run_log(&text, &len, g_repo, rec);
		cJSON_Delete(rec);
	}
	if (err < 0)
		return cmd_fail(err, NULL);
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

/* ---- wait, cancel ----------------------------------------------------- */

static const char *const wait_usage[] = { "train wait RUN... [--timeout SECS] [--json]", NULL };
static const char *const cancel_usage[] = { "train cancel RUN... [--json]", NULL };

/*
 * A RUN that is no longer pending: the run recorded for that job id, or a
 * run by r-<prefix> or name.  *out is a new result (the caller's).
 */
static int finished_run(struct mlops_run_result **out, const char *rev)
{
	struct mlops_run_result *r = calloc(1, sizeof(*r));
	int err;
	if (!r)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t l = strlen(rev);
	if (l && strspn(rev, "0123456789_") == l)
		err = mlops_run_find_job(&r->record, &r->id, g_repo, rev);
	else if (!strncmp(rev, "p-", 2))
		err = mlops_error_set(MLOPS_ENOTFOUND, "pending run '%s' not found", rev);
	else
		err = mlops_run_resolve(&r->record, &r->id, g_repo, rev);
	if (err < 0) {
		mlops_run_result_free(r);
		return err;
	}
	r->exit_status = (int)mlops_json_num(r->record, "exit_status", 0);
	*out = r;
	return 0;
}

/* Print results of wait and cancel; the first failing status is returned. */
static int print_ended(struct mlops_run_result **res, size_t n, const char *const *revs)
{
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mlops_run_result *r = res[i];
		if (!r)
			continue;
		print_warnings(r->warning);
		if (r->error) {
			if (arr) {
				cJSON *e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "run", revs[i]);
				cJSON_AddStringToObject(e, "error", r->error_message ? r->error_message : "");
				cJSON_AddItemToArray(arr, e);
			} else if (!g_opts.quiet) {
				printf("%s: %s\n", revs[i], r->error_message ? r->error_message : "");
			}
		} else if (arr) {
			cJSON_AddItemToArray(arr, run_json(r->record, &r->id, 0, 0));
		} else if (!g_opts.quiet) {
			print_run_line(r);
		}
		if (!status && r->exit_status)
			status = r->exit_status;
	}
	if (arr) {
		if (n == 1 && cJSON_GetArraySize(arr) == 1) {
			cJSON *one = cJSON_DetachItemFromArray(arr, 0);
			cJSON_Delete(arr);
			arr = one;
		}
		cmd_print_json(arr);
	}
	return status;
}

static int wait_or_cancel(int argc, char **argv, int cancel)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *const *usage = cancel ? cancel_usage : wait_usage;
	double timeout = 0;
	int c, rc = 0;
	char *end;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'T' && !cancel) {
			timeout = strtod(optarg, &end);
			if (*end || end == optarg || !(timeout > 0))
				return cmd_die(MLOPS_EXIT_USAGE, "--timeout '%s': expected seconds above 0",
					       optarg);
		} else if (c == 'J') {
			g_opts.json = 1;
		} else {
			return cmd_usage(usage, c == 'h');
		}
	}
	if ((c = cmd_check_args(argc, argv, 1, -1, usage)) >= 0)
		return c;
	size_t n = (size_t)(argc - optind);
	struct mlops_run_result **res = calloc(n, sizeof(*res));
	if (!res)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *rev = argv[optind + (int)i];
		struct mlops_pending *p = NULL;
		int err = mlops_pending_resolve(&p, g_repo, rev);
		if (err == 0) {
			err = cancel ? mlops_pending_cancel(&res[i], g_repo, p) :
				       mlops_pending_wait(&res[i], g_repo, p, timeout);
			if (err == 0 && cancel)
				res[i]->exit_status = 0; /* cancelled: what was asked */
		} else if (err == MLOPS_ENOTFOUND || err == MLOPS_EUSAGE) {
			mlops_error_clear();
			err = finished_run(&res[i], rev);
			if (err == 0 && cancel)
				err = mlops_error_set(MLOPS_ECONFLICT, "'%s' has ended already", rev);
		}
		mlops_pending_free(p, 1);
		if (err < 0) {
			rc = cmd_fail(err, err == MLOPS_ENOTFOUND ?
				      "'mlops train list' shows the pending runs and their job ids" : NULL);
			break;
		}
	}
	if (rc == 0)
		rc = print_ended(res, n, (const char *const *)argv + optind);
	else
		print_ended(res, n, (const char *const *)argv + optind);
	for (size_t i = 0; i < n; i++)
		mlops_run_result_free(res[i]);
	free(res);
	return rc;
}

static int train_wait(int argc, char **argv)
{
	return wait_or_cancel(argc, argv, 0);
}

static int train_cancel(int argc, char **argv)
{
	return wait_or_cancel(argc, argv, 1);
}

/* ---- dispatch --------------------------------------------------------- */

static const struct subcmd subs[] = {
	{ "cancel", train_cancel, "cancel RUN... [--json]", 0 },
	{ "compare", train_compare, "compare RUN RUN... [--json]", 0 },
	{ "list", train_list, "list [--name NAME] [--json]", 0 },
	{ "log", train_log, "log RUN", 0 },
	{ "show", train_show, "show RUN [--diff] [--json]", 0 },
	{ "wait", train_wait, "wait RUN... [--timeout SECS] [--json]", 0 },
};

int cmd_train(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cmd_usage(train_usage, 1);
	if (argc < 2)
		return cmd_usage_error(train_usage, "no command to run: give one after '--', or use --builtin");
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), train_run);
}
