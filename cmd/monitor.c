/*
 * monitor.c - `mlops monitor`: check current data or a serve log against a
 * model's baseline (check), and list earlier checks (log).
 */
#include "store/json.h"
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/dataset.h"
#include "core/learn.h"
#include "core/monitor.h"
#include "core/rev.h"
#include "core/run.h"
#include "core/child.h"
#include "store/fsutil.h"
#include "store/repo.h"

extern char **environ;

static const char *const monitor_usage[] = {
	"monitor check (REV | --baseline TABLE [--model MODEL.json]) (--data FILE|DATASET | "
	"--log SERVE_LOG)",
	"      [--target COL] [--since TIME] [--html FILE] [--stattest TEST] [--psi X] "
	"[--ks-pvalue P]",
	"      [--wasserstein X] [--jensenshannon X] [--chi2-pvalue P] [--share X] "
	"[--quality-drop X]",
	"      [--quality-pvalue P]",
	"      [--retrain [--promote STAGE]] [--on-drift CMD | -- CMD [ARG...]]",
	"monitor log [REV]",
	NULL,
};

static const char *const check_usage[] = {
	"monitor check (REV | --baseline TABLE [--model MODEL.json]) (--data FILE|DATASET | "
	"--log SERVE_LOG)",
	"      [--target COL] [--since TIME] [--html FILE] [--stattest TEST] [--psi X] "
	"[--ks-pvalue P]",
	"      [--wasserstein X] [--jensenshannon X] [--chi2-pvalue P] [--share X] "
	"[--quality-drop X]",
	"      [--quality-pvalue P]",
	"      [--retrain [--promote STAGE]] [--on-drift CMD | -- CMD [ARG...]]",
	NULL,
};

static const char *const log_usage[] = { "monitor log [REV]", NULL };

/* ---- printing ---------------------------------------------------------------- */

static const cJSON *item(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static double numf(const cJSON *o, const char *key)
{
	const cJSON *v = item(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *strf(const cJSON *o, const char *key)
{
	const cJSON *v = item(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_score(double v)
{
	if (!isfinite(v))
		printf("%-10s", "-");
	else if (v != 0 && (fabs(v) < 1e-4 || fabs(v) >= 1e6))
		printf("%-10.3g", v);
	else
		printf("%-10.4f", v);
}

static void print_row(const cJSON *col, const char *label)
{
	const char *test = strf(col, "test");
	int drift = cJSON_IsTrue(item(col, "drift"));
	char name[64];
	snprintf(name, sizeof(name), "%s%s", label ? label : "", strf(col, "name"));
	printf("%-24s %-14s ", name, *test ? test : strf(col, "status"));
	print_score(numf(col, "score"));
	printf(" ");
	print_score(numf(col, "threshold"));
	printf(" %s%s%s", drift ? cmd_color("red") : "", drift ? "yes" : "no", cmd_color("reset"));
	const char *status = strf(col, "status");
	if (*status && strcmp(status, "ok"))
		printf("  (%s)", status);
	printf("\n");
}

/* A figure of the quality test, or "-" when it could not be had. */
static void print_fig(const char *fmt, double v)
{
	if (isfinite(v))
		printf(fmt, v);
	else
		printf("-");
}

/* A metric's value in `width` columns (0: its own), or "-" when it could not be had. */
static void print_metric_value(double v, int width, int sign)
{
	if (isfinite(v))
		printf(sign ? "%+-*.4g" : "%-*.4g", width, v);
	else
		printf("%-*s", width, "-");
}

/* Why the headline metric has no relative drop to weigh. */
static void print_not_compared(const cJSON *q)
{
	const cJSON *head = item(item(q, "metrics"), strf(q, "headline"));
	printf("  %s not compared: ", strf(q, "headline"));
	if (!isfinite(numf(head, "training")))
		printf("the model has no training value (none measured on validation rows)\n");
	else if (!isfinite(numf(head, "current")))
		printf("no current value\n");
	else
		printf("its training value is 0, so a relative drop has no meaning\n");
}

/*
 * The headline metric's drop and its test: the verdict, then the drop with
 * its standard error, interval and p-value, so that a reader sees how much
 * of it sampling noise explains.  Without a relative drop, why, and the
 * test only when it has a drop.
 */
static void print_quality_drop(const cJSON *q)
{
	const cJSON *t = item(q, "test");
	double drop = numf(q, "relative_drop"), p = numf(t, "pvalue");
	int past = isfinite(drop) && drop > numf(q, "threshold");
	if (!isfinite(drop)) {
		print_not_compared(q);
		if (!isfinite(numf(t, "drop")))
			return;
	} else {
		printf("  %s %s by %.1f%% (threshold %.1f%% worse): ", strf(q, "headline"),
		       drop < 0 ? "better" : "worse", 100 * fabs(drop), 100 * numf(q, "threshold"));
		if (cJSON_IsTrue(item(q, "degraded")))
			printf("degraded\n");
		else if (!past)
			printf("within threshold\n");
		else if (isfinite(p))
			printf("not significant (p = %.3g, not below %g)\n", p, numf(t, "significance"));
		else
			printf("not significant (too few rows to test)\n");
	}
	if (!cJSON_IsObject(t))
		return;
	printf("  drop ");
	print_fig("%.4g", numf(t, "drop"));
	printf(", standard error ");
	print_fig("%.4g", numf(t, "standard_error"));
	printf(", %.0f%% CI ", 100 * numf(t, "ci_level"));
	print_fig("%.4g", numf(t, "ci_low"));
	printf(" to ");
	print_fig("%.4g", numf(t, "ci_high"));
	printf(", one-sided p = ");
	print_fig("%.3g", p);
	printf(" (%s test; %.0f validation rows, %.0f current)\n", strf(t, "method"),
	       numf(t, "training_rows"), numf(t, "current_rows"));
}

static void print_report(const cJSON *r, const char *model, const char *ref)
{
	const cJSON *cols = item(r, "columns"), *col, *src = item(r, "source");
	const cJSON *schema = item(r, "schema"), *v;
	if (model)
		printf("model %s, ", model);
	printf("%s %s: %.0f rows against a baseline of %.0f rows\n\n", strf(src, "kind"),
	       strf(src, "path"), numf(r, "rows"), numf(r, "baseline_rows"));
	printf("%-24s %-14s %-10s %-10s %s\n", "COLUMN", "TEST", "SCORE", "THRESHOLD", "DRIFT");
	cJSON_ArrayForEach(col, cols)
		print_row(col, NULL);
	if (cJSON_IsObject(item(r, "predictions")))
		print_row(item(r, "predictions"), "(predictions) ");
	if (cJSON_IsObject(item(r, "target")))
		print_row(item(r, "target"), "(labels) ");
	printf("\n");
	printf("drifted columns: %.0f of %.0f (share %.2f, dataset drift at %.2f): %s\n",
	       numf(r, "drifted_columns"), numf(r, "tested_columns"), numf(r, "share"),
	       numf(item(r, "thresholds"), "share"),
	       cJSON_IsTrue(item(r, "dataset_drift")) ? "dataset drift" : "no dataset drift");
	if (!cJSON_IsObject(item(r, "predictions")) && *strf(r, "predictions_note"))
		printf("predictions not compared: %s\n", strf(r, "predictions_note"));
	else if (cJSON_IsObject(item(r, "predictions")) && numf(item(r, "predictions"), "errors") > 0)
		printf("predictions: %.0f rows could not be predicted (%s)\n",
		       numf(item(r, "predictions"), "errors"), strf(item(r, "predictions"), "first_error"));
	cJSON_ArrayForEach(v, item(schema, "missing_columns"))
		printf("missing column: %s\n", v->valuestring);
	cJSON_ArrayForEach(v, item(schema, "new_columns"))
		printf("new column: %s\n", v->valuestring);
	cJSON_ArrayForEach(v, item(schema, "type_changes"))
		printf("type change: %s %s -> %s\n", strf(v, "column"), strf(v, "baseline"),
		       strf(v, "current"));
	cJSON_ArrayForEach(col, cols) {
		const cJSON *u;
		if (numf(item(col, "current"), "non_finite") > 0)
			printf("non-finite values in %s: %.0f (infinities, left out of the tests)\n",
			       strf(col, "name"), numf(item(col, "current"), "non_finite"));
		if (numf(col, "unseen_count") > 0) {
			printf("unseen categories in %s (%.0f values):", strf(col, "name"),
			       numf(col, "unseen_count"));
			cJSON_ArrayForEach(u, item(col, "unseen"))
				printf(" '%s' (%.0f)", strf(u, "value"), numf(u, "count"));
			printf("\n");
		}
	}
	const cJSON *q = item(r, "quality");
	if (cJSON_IsObject(q)) {
		const cJSON *m;
		printf("quality on labels '%s' (%.0f rows):\n", strf(q, "target"), numf(q, "rows"));
		cJSON_ArrayForEach(m, item(q, "metrics")) {
			printf("  %-10s training ", m->string);
			print_metric_value(numf(m, "training"), 10, 0);
			printf(" current ");
			print_metric_value(numf(m, "current"), 10, 0);
			printf(" change ");
			print_metric_value(numf(m, "change"), 0, 1);
			printf("\n");
		}
		print_quality_drop(q);
	}
	const char *verdict = strf(r, "verdict");
	printf("verdict: %s%s%s\n", strcmp(verdict, "ok") ? cmd_color("red") : cmd_color("green"),
	       verdict, cmd_color("reset"));
	if (ref)
		printf("recorded as %s\n", ref);
}

/* ---- helpers -------------------------------------------------------------------- */

static int parse_threshold(double *out, const char *name, const char *text)
{
	char key[32];
	snprintf(key, sizeof(key), "%s", name);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	if (mlops_monitor_threshold_parse(out, key, text) < 0) {
		mlops_error_wrap(MLOPS_EUSAGE, "monitor check: --%s", name);
		return cmd_fail(MLOPS_EUSAGE, NULL);
	}
	return -1;
}

/* Check out a dataset revision into a temporary directory; *table is its data file. */
static int checkout_dataset(char **tmpdir, char **table, char **rev_out, const char *rev)
{
	struct mlops_dataset_version *v = NULL;
	const char *rel;
	int err;
	*tmpdir = *table = *rev_out = NULL;
	if ((err = mlops_dataset_resolve(&v, g_repo, rev)) < 0)
		return err;
	if ((err = mlops_dataset_table_checkout(tmpdir, table, &rel, g_repo, v, "monitor")) == 0 &&
	    !(*rev_out = mlops_strdupf("%s@v%ld", v->name, v->version)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	mlops_dataset_version_free(v);
	return err;
}

/* Write the report to a temporary file and run the on-drift command. */
static int run_on_drift(char *const *argv, const cJSON *report, const char *check_id)
{
	char *path = NULL, *text = mlops_json_print(report, 1);
	char *e_json = NULL, *e_id = NULL, *e_verdict = NULL;
	char **env = NULL;
	int fd = -1, rc = 0;
	size_t n = 0;

	if (!text)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	if (mlops_tempfile(&fd, &path, g_repo->tmpdir, "check-") < 0) {
		free(text);
		return cmd_fail(mlops_error_code(), NULL);
	}
	if (mlops_write_all(fd, text, strlen(text)) < 0) {
		rc = cmd_die(MLOPS_EXIT_IO, "unable to write '%s': %s", path, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	while (environ[n])
		n++;
	env = calloc(n + 4, sizeof(char *));
	e_json = mlops_strdupf("MLOPS_CHECK_JSON=%s", path);
	e_verdict = mlops_strdupf("MLOPS_CHECK_VERDICT=%s", cJSON_GetStringValue(
					  cJSON_GetObjectItemCaseSensitive(report, "verdict")));
	e_id = check_id ? mlops_strdupf("MLOPS_CHECK_ID=%s", check_id) : NULL;
	if (!env || !e_json || !e_verdict || (check_id && !e_id)) {
		rc = cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		goto done;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MLOPS_CHECK_", 12))
			env[k++] = environ[i];
	env[k++] = e_json;
	env[k++] = e_verdict;
	if (e_id)
		env[k++] = e_id;
	fflush(stdout);
	struct mlops_child_result cr;
	if (mlops_child_run(&cr, (const char *const *)argv, env, 1, 2, -1) < 0) {
		rc = cmd_fail(mlops_error_code(), NULL);
		goto done;
	}
	if (cr.signal)
		fprintf(stderr, "mlops: warning: on-drift command '%s' was killed by signal %d\n",
			argv[0], cr.signal);
	else if (cr.exit_status != 0)
		fprintf(stderr, "mlops: warning: on-drift command '%s' exited with %d\n", argv[0],
			cr.exit_status);
done:
	if (fd >= 0)
		close(fd);
	if (path) {
		unlink(path);
		mlops_tempfile_forget(path);
	}
	free(path);
	free(text);
	free(env);
	free(e_json);
	free(e_id);
	free(e_verdict);
	return rc;
}

static cJSON *retrain_json(const struct mlops_retrain_result *rt)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "run", mlops_oid_fmt(hex, &rt->run));
	cJSON_AddBoolToObject(o, "cached", rt->cached);
	cJSON_AddNumberToObject(o, "exit_status", rt->exit_status);
	cJSON_AddBoolToObject(o, "registered", rt->registered);
	if (rt->dataset)
		cJSON_AddStringToObject(o, "dataset", rt->dataset);
	if (rt->registered) {
		cJSON_AddStringToObject(o, "name", rt->name);
		cJSON_AddStringToObject(o, "version", rt->version);
		cJSON_AddStringToObject(o, "tag", rt->tag);
		cJSON_AddStringToObject(o, "record", mlops_oid_fmt(hex, &rt->record));
	}
	cJSON_AddItemToObject(o, "promoted", rt->stage ? cJSON_CreateString(rt->stage) : cJSON_CreateNull());
	if (rt->not_promoted)
		cJSON_AddStringToObject(o, "not_promoted", rt->not_promoted);
	if (rt->note)
		cJSON_AddStringToObject(o, "note", rt->note);
	return o;
}

/* ---- check ------------------------------------------------------------------------ */

enum {
	OPT_BASELINE = 256, OPT_MODEL, OPT_DATA, OPT_LOG, OPT_TARGET, OPT_SINCE, OPT_HTML,
	OPT_STATTEST, OPT_PSI, OPT_KS, OPT_WASS, OPT_JS, OPT_CHI2, OPT_SHARE, OPT_QDROP, OPT_QPVALUE,
	OPT_RETRAIN, OPT_PROMOTE, OPT_ON_DRIFT,
};

struct check_args {
	const char *rev, *baseline, *model, *data, *log, *target, *since, *html, *stattest;
	const char *promote, *on_drift;
	int retrain;
	char **cmd_argv;   /* after -- */
	struct mlops_monitor_opts opts;
	double th[8];
	int th_set[8];
};

static int parse_check(struct check_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "baseline", required_argument, NULL, OPT_BASELINE },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "stattest", required_argument, NULL, OPT_STATTEST },
		{ "psi", required_argument, NULL, OPT_PSI },
		{ "ks-pvalue", required_argument, NULL, OPT_KS },
		{ "wasserstein", required_argument, NULL, OPT_WASS },
		{ "jensenshannon", required_argument, NULL, OPT_JS },
		{ "chi2-pvalue", required_argument, NULL, OPT_CHI2 },
		{ "share", required_argument, NULL, OPT_SHARE },
		{ "quality-drop", required_argument, NULL, OPT_QDROP },
		{ "quality-pvalue", required_argument, NULL, OPT_QPVALUE },
		{ "retrain", no_argument, NULL, OPT_RETRAIN },
		{ "promote", required_argument, NULL, OPT_PROMOTE },
		{ "on-drift", required_argument, NULL, OPT_ON_DRIFT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const th_names[8] = {
		"psi", "ks-pvalue", "wasserstein", "jensenshannon", "chi2-pvalue", "share", "quality-drop",
		"quality-pvalue",
	};
	int c, rc;
	memset(a, 0, sizeof(*a));
	/* everything after "--" is the on-drift command */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			a->cmd_argv = argv + i + 1;
			if (!a->cmd_argv[0])
				return cmd_usage_error(check_usage, "no command after --");
			argc = i;
			break;
		}
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BASELINE: a->baseline = optarg; break;
		case OPT_MODEL: a->model = optarg; break;
		case OPT_DATA: a->data = optarg; break;
		case OPT_LOG: a->log = optarg; break;
		case OPT_TARGET: a->target = optarg; break;
		case OPT_SINCE: a->since = optarg; break;
		case OPT_HTML: a->html = optarg; break;
		case OPT_STATTEST: a->stattest = optarg; break;
		case OPT_RETRAIN: a->retrain = 1; break;
		case OPT_PROMOTE: a->promote = optarg; break;
		case OPT_ON_DRIFT: a->on_drift = optarg; break;
		case OPT_PSI: case OPT_KS: case OPT_WASS: case OPT_JS: case OPT_CHI2:
		case OPT_SHARE: case OPT_QDROP: case OPT_QPVALUE: {
			int k = c - OPT_PSI;
			if ((rc = parse_threshold(&a->th[k], th_names[k], optarg)) >= 0)
				return rc;
			a->th_set[k] = 1;
			break;
		}
		case 'h': return cmd_usage(check_usage, 1);
		default: return cmd_usage(check_usage, 0);
		}
	}
	if (optind < argc)
		a->rev = argv[optind++];
	if (optind < argc)
		return cmd_usage_error(check_usage, "unexpected argument '%s'", argv[optind]);
	return -1;
}

static int usage_error(const char *msg)
{
	return cmd_usage_error(check_usage, "%s", msg);
}

static int monitor_check(int argc, char **argv)
{
	struct check_args a;
	struct mlops_monitor_input in;
	struct mlops_monitor_result *res = NULL;
	struct mlops_retrain_result *rt = NULL;
	struct mlops_baseline *base = NULL;
	struct mlops_model *model = NULL;
	cJSON *record = NULL;
	mlops_oid rid, cid;
	char *name = NULL, *version = NULL, *note = NULL, *ref = NULL, *tmpdir = NULL;
	char *table = NULL, *data_rev = NULL, *text = NULL, *html = NULL, *label = NULL;
	char **split = NULL, chex[MLOPS_OID_HEXSZ + 1], *html_tmp = NULL, *featured = NULL;
	int rc, err = 0, status = 0, recorded = 0;

	if ((rc = parse_check(&a, argc, argv)) >= 0)
		return rc;
	if (!a.rev == !a.baseline)
		return usage_error("give a model revision or --baseline TABLE");
	if (a.rev && a.model)
		return usage_error("--model goes with --baseline; a revision brings its own model");
	if (!a.data == !a.log)
		return usage_error("give one of --data and --log");
	if (a.since && !a.log)
		return usage_error("--since applies to --log");
	if ((a.retrain || a.promote) && !a.rev)
		return usage_error("--retrain needs a registered model revision");
	if (a.promote && !a.retrain)
		return usage_error("--promote goes with --retrain");
	if (a.on_drift && a.cmd_argv)
		return usage_error("give the on-drift command once: --on-drift CMD or -- CMD ARGS");

	/* the options first: a configured value they override is not read */
	mlops_monitor_thresholds_init(&a.opts.th);
	double *th[8] = { &a.opts.th.psi, &a.opts.th.ks_pvalue, &a.opts.th.wasserstein,
			  &a.opts.th.jensenshannon, &a.opts.th.chi2_pvalue, &a.opts.th.share,
			  &a.opts.th.quality_drop, &a.opts.th.quality_pvalue };
	unsigned given = 0;
	for (int k = 0; k < 8; k++)
		if (a.th_set[k]) {
			*th[k] = a.th[k];
			given |= 1u << k;
		}
	if ((err = mlops_monitor_thresholds_load(&a.opts.th, g_repo, given)) < 0)
		return cmd_fail(err, NULL);
	if (a.stattest && (err = mlops_monitor_test_parse(&a.opts.test, a.stattest)) < 0)
		return cmd_fail(err, NULL);
	memset(&in, 0, sizeof(in));
	if (a.since) {
		in.has_since = 1;
		if ((err = mlops_monitor_time_parse(&in.since, a.since, (double)time(NULL))) < 0)
			return cmd_fail(err, NULL);
	}
	if (a.on_drift) {
		/* split on white space: no shell */
		size_t n = 0, cap = 8;
		char *save = NULL, *tok, *copy = strdup(a.on_drift);
		split = calloc(cap + 1, sizeof(char *));
		if (!copy || !split)
			return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
			if (n == cap) {
				char **p = realloc(split, (2 * cap + 1) * sizeof(char *));
				if (!p)
					return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
				split = p;
				cap *= 2;
			}
			split[n++] = tok;
		}
		split[n] = NULL;
		if (!n) {
			free(copy);
			free(split);
			return usage_error("--on-drift needs a command");
		}
		a.cmd_argv = split;
	}

	/* the model and its baseline */
	if (a.rev) {
		if ((err = mlops_monitor_load_model(&record, &rid, &name, &version, &model, &base, &note,
						    g_repo, a.rev)) < 0)
			goto fail;
		if (!base) {
			mlops_error_set(MLOPS_ENOTFOUND, "%s@%s: %s", name, version,
					note ? note : "no monitoring baseline");
			err = MLOPS_ENOTFOUND;
			goto fail_hint;
		}
		if (note && g_opts.verbose)
			fprintf(stderr, "mlops: %s\n", note);
		label = mlops_strdupf("%s@%s", name, version);
	} else {
		if (a.model) {
			size_t len;
			if ((err = mlops_read_file(&text, &len, a.model)) < 0 ||
			    (err = mlops_model_parse(&model, text, len)) < 0) {
				mlops_error_wrap(err, "'%s'", a.model);
				goto fail;
			}
		}
		if ((err = mlops_baseline_compute(&base, a.baseline, model, NULL)) < 0)
			goto fail;
	}

	/* the current data: a file, or a dataset revision */
	in.target = a.target;
	if (a.data) {
		struct stat st;
		if (stat(a.data, &st) == 0 || strchr(a.data, '/')) {
			in.data_path = a.data;
		} else {
			if ((err = checkout_dataset(&tmpdir, &table, &data_rev, a.data)) < 0) {
				if (err == MLOPS_ENOTFOUND)
					mlops_error_set(MLOPS_ENOTFOUND, "'%s' is neither a file nor a dataset",
							a.data);
				goto fail;
			}
			in.data_path = table;
			in.name = data_rev;
		}
	} else {
		in.log_path = a.log;
		in.model = name;
	}
	/* a model trained on a feature set: raw columns become its feature columns */
	if (record && (err = mlops_monitor_feature_data(&featured, g_repo, record, model,
							in.data_path ? in.data_path : in.log_path,
							!in.data_path)) < 0)
		goto fail;
	if (featured) {
		if (!in.name)
			in.name = in.data_path ? in.data_path : in.log_path;
		*(in.data_path ? &in.data_path : &in.log_path) = featured;
	}
	if (a.retrain) {
		/* whatever retraining would refuse is refused before the check */
		struct mlops_retrain_opts ro = {
			.model = a.rev, .dataset = data_rev, .promote = a.promote,
		};
		if ((err = mlops_monitor_retrain_check(g_repo, &ro)) < 0)
			goto fail;
	}
	if ((err = mlops_monitor_check(&res, base, model, &in, &a.opts)) < 0)
		goto fail;
	status = res->drift || res->degraded ? MLOPS_EXIT_CHECK : 0;

	if (a.html) {
		/* the page is written beside its destination before the check is
		   recorded, and put in place after: a page that cannot be written
		   leaves no record, a record no page half made */
		char title[300];
		snprintf(title, sizeof(title), "Drift check%s%s", label ? " of " : "", label ? label : "");
		if ((err = mlops_monitor_html(&html, res->report, title)) < 0)
			goto fail;
		char *dcopy = strdup(a.html);
		if (!dcopy) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto fail;
		}
		err = mlops_write_file_prepare(&html_tmp, a.html, html, strlen(html), dirname(dcopy), 0);
		free(dcopy);
		if (err < 0)
			goto fail;
	}
	if (a.rev) {
		if ((err = mlops_monitor_record(&cid, &ref, g_repo, res->report, name, version, &rid,
						numf(res->report, "time"))) < 0)
			goto fail;
		recorded = 1;
		mlops_oid_fmt(chex, &cid);
		cJSON_AddStringToObject(res->report, "id", chex);
		cJSON_AddStringToObject(res->report, "ref", ref);
		cJSON_AddStringToObject(res->report, "model", name);
		cJSON_AddStringToObject(res->report, "version", version);
	}
	if (html_tmp) {
		err = mlops_write_file_finish(html_tmp, a.html, 0);
		html_tmp = NULL;
		if (err < 0)
			goto fail;
	}
	if (!g_opts.json && !g_opts.quiet)
		print_report(res->report, label, ref);

	if (status && a.cmd_argv) {
		int r = run_on_drift(a.cmd_argv, res->report, recorded ? chex : NULL);
		if (r)
			status = r;
	}
	if (a.retrain) {
		if (!status) {
			if (!g_opts.json && !g_opts.quiet)
				printf("no drift: not retraining\n");
		} else {
			struct mlops_retrain_opts ro = {
				.model = a.rev, .dataset = data_rev, .check = recorded ? &cid : NULL,
				.promote = a.promote, .out_fd = 2, .err_fd = 2,
			};
			if (!g_opts.json && !g_opts.quiet) {
				printf("retraining %s on %s\n", label, data_rev ? data_rev : "the newest data");
				fflush(stdout);
			}
			if ((err = mlops_monitor_retrain(&rt, g_repo, &ro)) < 0)
				goto fail;
			if (g_opts.json) {
				cJSON_AddItemToObject(res->report, "retrain", retrain_json(rt));
			} else if (!g_opts.quiet) {
				char hex[MLOPS_OID_HEXSZ + 1];
				printf("run r-%.12s%s\n", mlops_oid_fmt(hex, &rt->run),
				       rt->cached ? " (from the run cache)" : "");
				if (rt->registered)
					printf("registered %s@%s (tag %s), lineage: drift check %.12s\n",
					       rt->name, rt->version, rt->tag, recorded ? chex : "-");
				if (rt->note)
					printf("%s\n", rt->note);
				if (rt->stage)
					printf("promoted %s@%s to %s\n", rt->name, rt->version, rt->stage);
				if (rt->not_promoted)
					printf("not promoted to %s: %s\n", a.promote, rt->not_promoted);
			}
		}
	}
	if (g_opts.json) {
		cmd_print_json(res->report);
		res->report = NULL;
	}
	goto done;
fail:
	status = cmd_fail(err, NULL);
	goto done;
fail_hint:
	/* a version from a run has its data, which --baseline can name; one from a path has none */
	status = cmd_fail(err, mlops_json_str(record, "run") ?
			  "check against the table it was trained on with --baseline TABLE "
			  "[--model MODEL.json]" :
			  "register the built-in run that made the model (mlops register NAME --run "
			  "RUN) to have a baseline, or check against a table with --baseline TABLE "
			  "[--model MODEL.json]");
done:
	mlops_write_file_abort(html_tmp);
	if (featured) {
		unlink(featured);
		mlops_tempfile_forget(featured);
		free(featured);
	}
	if (tmpdir) {
		mlops_remove_tree(tmpdir);
		free(tmpdir);
	}
	if (split) {
		free(split[0]);
		free(split);
	}
	mlops_retrain_result_free(rt);
	mlops_monitor_result_free(res);
	mlops_baseline_free(base);
	mlops_model_free(model);
	cJSON_Delete(record);
	free(name);
	free(version);
	free(note);
	free(ref);
	free(table);
	free(data_rev);
	free(text);
	free(html);
	free(label);
	return status;
}

/* ---- log -------------------------------------------------------------------------- */

static int monitor_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rev = NULL;
	cJSON *arr, *e;
	int c, err;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(log_usage, c == 'h');
	if ((c = cmd_check_args(argc, argv, 0, 1, log_usage)) >= 0)
		return c;
	if (optind < argc)
		rev = argv[optind];
	if ((err = mlops_monitor_log(&arr, g_repo, rev)) < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json)
		return cmd_print_json(arr);
	cJSON_ArrayForEach(e, arr) {
		char t[64], who[200];
		const char *verdict = strf(e, "verdict");
		const cJSON *src = item(e, "source");
		snprintf(who, sizeof(who), "%s@%s", strf(e, "model"), strf(e, "version"));
		printf("%.12s  %s  %-20s %s%-8s%s %.0f/%.0f columns  %s %s\n", strf(e, "id"),
		       cmd_human_time(t, (long long)numf(e, "time")), who,
		       strcmp(verdict, "ok") ? cmd_color("red") : cmd_color("green"), verdict,
		       cmd_color("reset"), numf(e, "drifted_columns"), numf(e, "tested_columns"),
		       strf(src, "kind"), strf(src, "path"));
	}
	cJSON_Delete(arr);
	return 0;
}

static const struct subcmd subs[] = {
	{ "check", monitor_check, "check (REV | --baseline TABLE) (--data FILE|DATASET | --log SERVE_LOG) ...", 0 },
	{ "log", monitor_log, "log [REV]", 0 },
};

int cmd_monitor(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cmd_usage(monitor_usage, 1);
	if (argc < 2)
		return cmd_usage_error(monitor_usage, "missing subcommand");
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), NULL);
}
