/*
 * register.c - `mlops register`: register model versions, promote, demote
 * and deprecate them, and read the registry (list, show, history,
 * lineage, impact).  The registry lives in git tags (core/registry.h).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/feature.h"
#include "core/registry.h"
#include "core/run.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/refs.h"
#include "store/repo.h"

static const char *const register_usage[] = {
	"register NAME (--run RUN | PATH) [--bump major|minor|patch | --version vX.Y.Z] [-m MSG] [--allow-same]",
	"register promote NAME@VER STAGE [-m MSG]",
	"register demote NAME STAGE [-m MSG]",
	"register deprecate NAME[@VER] [-m MSG]",
	"register list [--at TIME]",
	"register show REV [--at TIME]",
	"register history NAME",
	"register lineage REV [--dot]",
	"register impact DATASET@REV",
	NULL,
};

static const char *const *usage_of(const char *sub)
{
	static const char *one[2];
	for (size_t i = 1; register_usage[i]; i++) {
		size_t l = strlen(sub);
		if (!strncmp(register_usage[i] + 9, sub, l) && register_usage[i][9 + l] == ' ') {
			one[0] = register_usage[i];
			one[1] = NULL;
			return one;
		}
	}
	one[0] = register_usage[0];
	one[1] = NULL;
	return one;
}

static char *short_hex(char buf[MLOPS_OID_HEXSZ + 1], const mlops_oid *id)
{
	mlops_oid_fmt(buf, id);
	buf[12] = '\0';
	return buf;
}

/* ---- register NAME ... ----------------------------------------------------- */

static int register_new(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run", required_argument, NULL, 'r' },
		{ "bump", required_argument, NULL, 'b' },
		{ "version", required_argument, NULL, 'V' },
		{ "message", required_argument, NULL, 'm' },
		{ "allow-same", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_register_opts o = { 0 };
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.run = optarg; break;
		case 'b': o.bump = optarg; break;
		case 'V': o.version = optarg; break;
		case 'm': o.message = optarg; break;
		case 'a': o.allow_same = 1; break;
		case 'h': return cmd_usage(usage_of(""), 1);
		default: return cmd_usage(usage_of(""), 0);
		}
	}
	int npos = argc - optind;
	if (npos < 1 || npos > 2 || (npos == 2) == (o.run != NULL))
		return cmd_usage_error(usage_of(""), npos ? "give a NAME and either --run RUN or a PATH" : "missing NAME");
	o.name = argv[optind];
	o.path = npos == 2 ? argv[optind + 1] : NULL;
	struct mlops_register_result *r;
	int err = mlops_model_register(&r, g_repo, &o);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (r->commit_version)
		fprintf(stderr, "mlops: warning: %s@%s is on commit %.12s too: GTO cannot tell two "
			"versions on one commit apart (it refuses the second and gives a stage tag "
			"to the version of its commit); commit between registrations, or set "
			"registry.oneVersionPerCommit to refuse\n", r->name, r->commit_version,
			r->commit);
	char a[MLOPS_OID_HEXSZ + 1], b[MLOPS_OID_HEXSZ + 1];
	if (g_opts.json) {
		cJSON *j = cJSON_CreateObject();
		char buf[80];
		cJSON_AddStringToObject(j, "name", r->name);
		cJSON_AddStringToObject(j, "version", r->version);
		cJSON_AddStringToObject(j, "tag", r->tag);
		cJSON_AddStringToObject(j, "commit", r->commit);
		cJSON_AddStringToObject(j, "id", mlops_oid_fmt(a, &r->record));
		snprintf(buf, sizeof(buf), "sha256:%s", mlops_oid_fmt(b, &r->artifact.id));
		cJSON_AddStringToObject(j, "artifact", buf);
		if (r->has_run)
			cJSON_AddStringToObject(j, "run", mlops_oid_fmt(a, &r->run));
		else
			cJSON_AddNullToObject(j, "run");
		if (r->has_baseline)
			cJSON_AddStringToObject(j, "baseline", mlops_oid_fmt(a, &r->baseline));
		else
			cJSON_AddNullToObject(j, "baseline");
		mlops_register_result_free(r);
		return cmd_print_json(j);
	}
	if (!g_opts.quiet) {
		printf("%s@%s registered: tag %s on %.12s, artifact sha256:%s, record %s\n", r->name,
		       r->version, r->tag, r->commit, short_hex(b, &r->artifact.id),
		       short_hex(a, &r->record));
		if (r->baseline_note)
			fprintf(stderr, "note: %s\n", r->baseline_note);
	}
	mlops_register_result_free(r);
	return 0;
}

/* ---- promote, demote, deprecate -------------------------------------------- */

/* Options -m and -h only; returns -1 to go on, else an exit status. */
static int msg_args(int argc, char **argv, const char *sub, int npos, const char **msg)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*msg = NULL;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		if (c == 'm')
			*msg = optarg;
		else
			return cmd_usage(usage_of(sub), c == 'h');
	}
	return cmd_check_args(argc, argv, npos, npos, usage_of(sub));
}

static int register_promote(int argc, char **argv)
{
	const char *msg;
	int rc = msg_args(argc, argv, "promote", 2, &msg);
	if (rc >= 0)
		return rc;
	const char *rev = argv[optind], *stage = argv[optind + 1];
	char *tag, *version;
	struct mlops_gate_failure *fail = NULL;
	int err = mlops_model_promote(&tag, &version, &fail, g_repo, rev, stage, msg);
	if (err < 0) {
		mlops_gate_failure_free(fail);
		return cmd_fail(err, err == MLOPS_ECONFLICT && fail ?
				"the gates are the [stage] require lines of .mlops/config" : NULL);
	}
	char name[200];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(rev, "@#"), rev);
	if (g_opts.json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", name);
		cJSON_AddStringToObject(j, "version", version);
		cJSON_AddStringToObject(j, "stage", stage);
		if (tag)
			cJSON_AddStringToObject(j, "tag", tag);
		else
			cJSON_AddNullToObject(j, "tag");
		cJSON_AddBoolToObject(j, "changed", tag != NULL);
		free(tag);
		free(version);
		return cmd_print_json(j);
	}
	if (!g_opts.quiet) {
		if (tag)
			printf("%s@%s is now %s (tag %s)\n", name, version, stage, tag);
		else
			printf("%s@%s already holds %s\n", name, version, stage);
	}
	free(tag);
	free(version);
	return 0;
}

static int register_demote(int argc, char **argv)
{
	const char *msg;
	int rc = msg_args(argc, argv, "demote", 2, &msg);
	if (rc >= 0)
		return rc;
	const char *name = argv[optind], *stage = argv[optind + 1];
	char *tag, *version, *now;
	int err = mlops_model_demote(&tag, &version, &now, g_repo, name, stage, msg);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", name);
		cJSON_AddStringToObject(j, "stage", stage);
		cJSON_AddStringToObject(j, "version", version);
		cJSON_AddStringToObject(j, "tag", tag);
		if (now)
			cJSON_AddStringToObject(j, "now", now);
		else
			cJSON_AddNullToObject(j, "now");
		rc = cmd_print_json(j);
	} else if (!g_opts.quiet) {
		printf("%s@%s no longer holds %s (tag %s); ", name, version, stage, tag);
		if (now)
			printf("%s is now held by %s@%s\n", stage, name, now);
		else
			printf("no version holds %s now\n", stage);
		rc = 0;
	} else {
		rc = 0;
	}
	free(tag);
	free(version);
	free(now);
	return rc;
}

static int register_deprecate(int argc, char **argv)
{
	const char *msg;
	int rc = msg_args(argc, argv, "deprecate", 1, &msg);
	if (rc >= 0)
		return rc;
	char *tag;
	int err = mlops_model_deprecate(&tag, g_repo, argv[optind], msg);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "rev", argv[optind]);
		cJSON_AddStringToObject(j, "tag", tag);
		free(tag);
		return cmd_print_json(j);
	}
	if (!g_opts.quiet)
		printf("deprecated %s (tag %s)\n", argv[optind], tag);
	free(tag);
	return 0;
}

/* ---- list, show, history ----------------------------------------------------- */

/* Options --at and -h; returns -1 to go on, else an exit status. */
static int at_args(int argc, char **argv, const char *sub, int npos, long long *at)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*at = -1;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 't') {
			int err = mlops_time_parse(at, optarg);
			if (err < 0)
				return cmd_fail(err, NULL);
		} else {
			return cmd_usage(usage_of(sub), c == 'h');
		}
	}
	return cmd_check_args(argc, argv, npos, npos, usage_of(sub));
}

static cJSON *state_to_json(const struct mlops_model_state *st)
{
	cJSON *o = cJSON_CreateObject();
	const struct mlops_model_version *l = mlops_model_state_latest(st);
	cJSON_AddStringToObject(o, "name", st->name);
	if (l)
		cJSON_AddStringToObject(o, "latest", l->version);
	else
		cJSON_AddNullToObject(o, "latest");
	cJSON_AddBoolToObject(o, "deprecated", st->deprecated);
	cJSON *stages = cJSON_AddObjectToObject(o, "stages");
	for (size_t i = 0; i < st->nstages; i++)
		cJSON_AddStringToObject(stages, st->stages[i].stage, st->stages[i].version);
	cJSON *vers = cJSON_AddArrayToObject(o, "versions");
	for (size_t i = st->nversions; i-- > 0;) {
		const struct mlops_model_version *v = &st->versions[i];
		cJSON *vo = cJSON_CreateObject();
		cJSON_AddStringToObject(vo, "version", v->version);
		cJSON_AddStringToObject(vo, "tag", v->reg->tag);
		cJSON_AddStringToObject(vo, "commit", v->reg->commit);
		cJSON_AddNumberToObject(vo, "time", (double)v->reg->time);
		cJSON_AddBoolToObject(vo, "deprecated", v->deprecated);
		cJSON *s = cJSON_AddArrayToObject(vo, "stages");
		for (size_t k = 0; k < v->nstages; k++)
			cJSON_AddItemToArray(s, cJSON_CreateString(v->stages[k]));
		cJSON_AddItemToArray(vers, vo);
	}
	return o;
}

static int register_list(int argc, char **argv)
{
	long long at;
	int rc = at_args(argc, argv, "list", 0, &at);
	if (rc >= 0)
		return rc;
	struct mlops_registry *reg;
	char **names = NULL;
	size_t n = 0;
	int err = mlops_registry_load(&reg, g_repo, NULL);
	if (err == 0)
		err = mlops_registry_models(&names, &n, reg);
	if (err < 0) {
		mlops_registry_free(reg);
		return cmd_fail(err, NULL);
	}
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	for (size_t i = 0; i < n; i++) {
		struct mlops_model_state *st;
		err = mlops_model_state_get(&st, reg, names[i], at);
		if (err == MLOPS_ENOTFOUND) { /* nothing yet at that time */
			mlops_error_clear();
			err = 0;
			continue;
		}
		if (err < 0)
			break;
		if (arr) {
			cJSON_AddItemToArray(arr, state_to_json(st));
		} else {
			const struct mlops_model_version *l = mlops_model_state_latest(st);
			char t[64];
			printf("%-20s %-10s", st->name, l ? l->version : "-");
			for (size_t k = 0; k < st->nstages; k++)
				printf(" %s=%s", st->stages[k].stage, st->stages[k].version);
			printf("%s  (%zu version%s, %s)\n", st->deprecated ? "  deprecated" : "",
			       st->nversions, st->nversions == 1 ? "" : "s",
			       l ? cmd_human_time(t, l->reg->time) : "-");
		}
		mlops_model_state_free(st);
	}
	mlops_strlist_free(names, n);
	mlops_registry_free(reg);
	if (err < 0) {
		cJSON_Delete(arr);
		return cmd_fail(err, NULL);
	}
	return arr ? cmd_print_json(arr) : 0;
}

/* One metric of a record, by its dotted name as train show names it. */
static void print_metric(const char *name, double value, void *payload)
{
	(void)payload;
	printf("  ");
	cmd_print_name(stdout, name);
	printf(" = %.6g\n", value);
}

static int register_show(int argc, char **argv)
{
	long long at;
	int rc = at_args(argc, argv, "show", 1, &at);
	if (rc >= 0)
		return rc;
	const char *rev = argv[optind];
	char *version = NULL, *tag = NULL;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	cJSON *rec = NULL;
	char name[200];
	int err = mlops_model_resolve_version(&version, &tag, g_repo, rev, at);
	if (err < 0)
		return cmd_fail(err, NULL);
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(rev, "@#"), rev);
	if ((err = mlops_registry_load(&reg, g_repo, name)) == 0)
		err = mlops_model_state_get(&st, reg, name, at);
	if (err < 0)
		goto fail;
	const struct mlops_model_version *v = NULL;
	for (size_t i = 0; i < st->nversions; i++)
		if (!strcmp(st->versions[i].version, version))
			v = &st->versions[i];
	char vrev[300];
	mlops_oid id;
	snprintf(vrev, sizeof(vrev), "%s@%s", name, version);
	int have_rec = mlops_model_resolve(&rec, &id, NULL, g_repo, vrev) == 0;
	const char *why = have_rec ? NULL : mlops_error_message();
	char whybuf[512] = "";
	if (why)
		snprintf(whybuf, sizeof(whybuf), "%s", why);
	mlops_error_clear();
	char hex[MLOPS_OID_HEXSZ + 1], t[64];
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "version", version);
		cJSON_AddStringToObject(o, "tag", v->reg->tag);
		cJSON_AddStringToObject(o, "commit", v->reg->commit);
		cJSON_AddNumberToObject(o, "time", (double)v->reg->time);
		cJSON_AddStringToObject(o, "tagger", v->reg->tagger);
		cJSON_AddBoolToObject(o, "deprecated", v->deprecated);
		cJSON *s = cJSON_AddArrayToObject(o, "stages");
		for (size_t k = 0; k < v->nstages; k++)
			cJSON_AddItemToArray(s, cJSON_CreateString(v->stages[k]));
		if (have_rec) {
			cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, &id));
			cJSON_AddItemToObject(o, "record", rec);
			rec = NULL;
		} else {
			cJSON_AddNullToObject(o, "id");
			cJSON_AddNullToObject(o, "record");
		}
		rc = cmd_print_json(o);
	} else {
		printf("model %s@%s%s\n", name, version, v->deprecated ? " (deprecated)" : "");
		printf("tag:      %s\n", v->reg->tag);
		printf("commit:   %s\n", v->reg->commit);
		printf("tagger:   %s\n", v->reg->tagger);
		printf("date:     %s\n", cmd_human_time(t, v->reg->time));
		printf("stages:   ");
		for (size_t k = 0; k < v->nstages; k++)
			printf("%s%s", k ? ", " : "", v->stages[k]);
		printf("%s\n", v->nstages ? "" : "-");
		if (have_rec) {
			const cJSON *art = cJSON_GetObjectItemCaseSensitive(rec, "artifact");
			printf("record:   %s\n", mlops_oid_fmt(hex, &id));
			printf("artifact: sha256:%s (%s, %.0f bytes)\n", mlops_json_str(art, "id") ?
			       mlops_json_str(art, "id") : "?", mlops_json_str(art, "kind") ?
			       mlops_json_str(art, "kind") : "?", mlops_json_num(art, "size", 0));
			if (mlops_json_str(rec, "run"))
				printf("run:      r-%.12s\n", mlops_json_str(rec, "run"));
			const cJSON *in;
			cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(rec, "inputs")) {
				const cJSON *ver = cJSON_GetObjectItemCaseSensitive(in, "version");
				printf("input:    %s %s@", mlops_json_str(in, "type") ? mlops_json_str(in, "type") : "",
				       mlops_json_str(in, "name") ? mlops_json_str(in, "name") : "?");
				if (cJSON_IsNumber(ver))
					printf("v%d", ver->valueint);
				else if (cJSON_IsString(ver))
					printf("%s", ver->valuestring);
				printf(" (%.12s)\n", mlops_json_str(in, "record") ? mlops_json_str(in, "record") : "");
			}
			if (mlops_json_str(rec, "baseline"))
				printf("baseline: %.12s\n", mlops_json_str(rec, "baseline"));
			if (*(mlops_json_str(rec, "message") ? mlops_json_str(rec, "message") : ""))
				printf("message:  %s\n", mlops_json_str(rec, "message"));
			const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(rec, "metrics");
			if (cJSON_GetArraySize(metrics) > 0) {
				printf("metrics:\n");
				mlops_run_metrics_foreach(metrics, print_metric, NULL);
			}
		} else {
			printf("record:   - (%s)\n", whybuf);
		}
		rc = 0;
	}
	cJSON_Delete(rec);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	free(version);
	free(tag);
	return rc;
fail:
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	free(version);
	free(tag);
	return cmd_fail(err, NULL);
}

static int plain_args(int argc, char **argv, const char *sub, int npos)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage_of(sub), c == 'h');
	return cmd_check_args(argc, argv, npos, npos, usage_of(sub));
}

static int register_history(int argc, char **argv)
{
	int rc = plain_args(argc, argv, "history", 1);
	if (rc >= 0)
		return rc;
	const char *name = argv[optind];
	struct mlops_registry *reg;
	int err = mlops_registry_load(&reg, g_repo, name);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (reg->n == 0) {
		mlops_registry_free(reg);
		mlops_error_set(MLOPS_ENOTFOUND, "model '%s' not found", name);
		return cmd_fail(MLOPS_ENOTFOUND, "'mlops register list' shows the models");
	}
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	/* Columns as wide as their widest entry: a stage or a version never shifts the rest. */
	int vw = 7, sw = 0;
	for (size_t i = 0; i < reg->n; i++) {
		const struct mlops_reg_event *e = &reg->events[i];
		if (e->version && (int)strlen(e->version) > vw)
			vw = (int)strlen(e->version);
		if (e->stage && (int)strlen(e->stage) > sw)
			sw = (int)strlen(e->stage);
	}
	for (size_t i = 0; i < reg->n; i++) {
		const struct mlops_reg_event *e = &reg->events[i];
		if (arr) {
			cJSON_AddItemToArray(arr, mlops_reg_event_to_json(e));
			continue;
		}
		char t[64];
		int whole = e->action == MLOPS_REG_DEPRECATE || e->action == MLOPS_REG_CREATE;
		printf("%s  %-10s %-*s", cmd_human_time(t, e->time), mlops_reg_action_name(e->action),
		       vw, e->version ? e->version : whole ? "(model)" : "?");
		if (sw)
			printf(" %-*s", sw, e->stage ? e->stage : "");
		printf("  by %s  (%s)\n", e->tagger, e->tag);
	}
	mlops_registry_free(reg);
	return arr ? cmd_print_json(arr) : 0;
}

/* ---- lineage, impact ------------------------------------------------------------ */

static void print_input(const cJSON *in, const char *indent)
{
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(in, "version");
	printf("%s%s %s@", indent, mlops_json_str(in, "type") ? mlops_json_str(in, "type") : "input",
	       mlops_json_str(in, "name") ? mlops_json_str(in, "name") : "?");
	if (cJSON_IsNumber(ver))
		printf("v%d", ver->valueint);
	else if (cJSON_IsString(ver))
		printf("%s", ver->valuestring);
	printf("  %.12s\n", mlops_json_str(in, "record") ? mlops_json_str(in, "record") : "");
}

static int register_lineage(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dot", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, dot = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd')
			dot = 1;
		else
			return cmd_usage(usage_of("lineage"), c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, usage_of("lineage"))) >= 0)
		return c;
	cJSON *l;
	int err = mlops_model_lineage(&l, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (dot) {
		char *text;
		err = mlops_lineage_dot(&text, l);
		cJSON_Delete(l);
		if (err < 0)
			return cmd_fail(err, NULL);
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (g_opts.json)
		return cmd_print_json(l);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(l, "model");
	const cJSON *run = cJSON_GetObjectItemCaseSensitive(l, "run"), *it, *d;
	const cJSON *datasets = cJSON_GetObjectItemCaseSensitive(l, "datasets");
	cJSON_ArrayForEach(it, datasets)
		if (!mlops_json_str(it, "feature_set"))
			print_input(it, "");
	/* A feature set after the dataset version it was made from. */
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "features")) {
		const char *rec = mlops_json_str(it, "record");
		int from = 0;
		cJSON_ArrayForEach(d, datasets) {
			const char *fs = mlops_json_str(d, "feature_set");
			if (fs && rec && !strcmp(fs, rec)) {
				print_input(d, "");
				from = 1;
			}
		}
		print_input(it, from ? "  -> " : "");
	}
	if (cJSON_IsObject(run)) {
		printf("  -> run r-%.12s %s", mlops_json_str(run, "id"),
		       mlops_json_str(run, "name") ? mlops_json_str(run, "name") : "");
		if (mlops_json_str(run, "git_commit"))
			printf(" (commit %.12s)", mlops_json_str(run, "git_commit"));
		putchar('\n');
		const cJSON *cmdv = cJSON_GetObjectItemCaseSensitive(run, "command");
		if (cJSON_GetArraySize(cmdv) > 0) {
			printf("       command:");
			cJSON_ArrayForEach(it, cmdv)
				if (cJSON_IsString(it))
					printf(" %s", it->valuestring);
			putchar('\n');
		}
		const cJSON *params = cJSON_GetObjectItemCaseSensitive(run, "params");
		if (cJSON_GetArraySize(params) > 0) {
			char *p = mlops_json_print(params, 0);
			printf("       params: %s\n", p ? p : "");
			free(p);
		}
	}
	printf("  -> model %s@%s  %.12s  (tag %s)\n", mlops_json_str(m, "name"),
	       mlops_json_str(m, "version"), mlops_json_str(m, "id"), mlops_json_str(m, "tag"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "stages"))
		printf("     -> stage %s%s\n", mlops_json_str(it, "stage"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "active")) ? "" : " (no longer)");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "deployments")) {
		char t[64];
		printf("     -> deployed to %s", mlops_json_str(it, "target") ? mlops_json_str(it, "target") : "?");
		const cJSON *tm = cJSON_GetObjectItemCaseSensitive(it, "time");
		if (cJSON_IsNumber(tm))
			printf(" on %s", cmd_human_time(t, (long long)tm->valuedouble));
		putchar('\n');
	}
	cJSON_Delete(l);
	return 0;
}

/*
 * No such dataset version: when `rev` names a feature set version, the
 * hint names the dataset version it was made from, which impact takes.
 */
static int impact_not_found(const char *rev)
{
	char *msg = strdup(mlops_error_message()), *hint = NULL;
	cJSON *fs = NULL;
	mlops_oid id;
	int rc;
	if (mlops_feature_resolve(&fs, &id, g_repo, rev) == 0 && mlops_json_str(fs, "source_name")) {
		const char *src = mlops_json_str(fs, "source_name");
		double v = mlops_json_num(fs, "source_version", 0);
		hint = mlops_strdupf("%s is a feature set version, made from dataset %s@v%.0f: 'mlops "
				     "register impact %s@v%.0f' lists the models trained on it or on "
				     "feature sets made from it", rev, src, v, src, v);
	}
	mlops_error_set(MLOPS_ENOTFOUND, "%s", msg ? msg : "not found");
	rc = cmd_fail(MLOPS_ENOTFOUND, hint);
	cJSON_Delete(fs);
	free(hint);
	free(msg);
	return rc;
}

static int register_impact(int argc, char **argv)
{
	int rc = plain_args(argc, argv, "impact", 1);
	if (rc >= 0)
		return rc;
	cJSON *arr;
	int err = mlops_model_impact(&arr, g_repo, argv[optind]);
	if (err == MLOPS_ENOTFOUND)
		return impact_not_found(argv[optind]);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json)
		return cmd_print_json(arr);
	const cJSON *it;
	if (cJSON_GetArraySize(arr) == 0 && !g_opts.quiet)
		printf("no registered model was trained on %s\n", argv[optind]);
	cJSON_ArrayForEach(it, arr) {
		printf("%s@%s  %.12s", mlops_json_str(it, "name"), mlops_json_str(it, "version"),
		       mlops_json_str(it, "id"));
		if (mlops_json_str(it, "run"))
			printf("  run r-%.12s", mlops_json_str(it, "run"));
		const cJSON *fs = cJSON_GetObjectItemCaseSensitive(it, "feature_set");
		if (cJSON_IsObject(fs)) {
			const cJSON *ver = cJSON_GetObjectItemCaseSensitive(fs, "version");
			printf("  through feature set %s", mlops_json_str(fs, "name") ?
			       mlops_json_str(fs, "name") : "?");
			if (cJSON_IsNumber(ver))
				printf("@v%d", ver->valueint);
		}
		putchar('\n');
	}
	cJSON_Delete(arr);
	return 0;
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const struct subcmd subs[] = {
	{ "demote", register_demote, NULL, 0 },
	{ "deprecate", register_deprecate, NULL, 0 },
	{ "history", register_history, NULL, 0 },
	{ "impact", register_impact, NULL, 0 },
	{ "lineage", register_lineage, NULL, 0 },
	{ "list", register_list, NULL, 0 },
	{ "promote", register_promote, NULL, 0 },
	{ "show", register_show, NULL, 0 },
};

int cmd_register(int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_error(register_usage, "missing NAME");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_usage(register_usage, 1);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name)) {
			snprintf(g_cmd_name, sizeof(g_cmd_name), "register %s", subs[i].name);
			return subs[i].fn(argc - 1, argv + 1);
		}
	return register_new(argc, argv);
}
