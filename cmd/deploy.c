/*
 * deploy.c - `mlops deploy`: put a model on a target (REV TARGET), roll a
 * target back, list targets and their history, and serve a model over
 * HTTP (serve).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/deploy.h"
#include "core/serve.h"
#include "store/repo.h"

static const char *const deploy_usage[] = {
	"deploy REV TARGET",
	"deploy serve REV|PATH [--host ADDR] [--port N] [--workers N] [--log FILE] [--max-body BYTES] "
	"[--timeout SECONDS] [--predict-timeout MS] [--predict CMD]",
	"deploy rollback TARGET",
	"deploy list",
	"deploy history TARGET",
	NULL,
};

/* The subcommands that work on targets need the repository. */
static int need_repo(void)
{
	if (g_repo)
		return 0;
	int err = mlops_repo_open(&g_repo, ".");
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOREPO ? "run 'mlops init' to create one" : NULL);
	return 0;
}

static int simple_args(int argc, char **argv, const char *const *usage, int n)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	return cmd_check_args(argc, argv, n, n, usage);
}

static int get_target(struct mlops_deploy_target **t, const char *name)
{
	int err = mlops_deploy_target_get(t, g_repo, name);
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOTFOUND ?
				"'mlops deploy list' shows the targets; add one with "
				"'git config -f .mlops/config deploy.NAME.type dir'" : NULL);
	return 0;
}

static void print_deployment(const struct mlops_deployment *d, const char *what)
{
	if (g_opts.json) {
		cJSON *o = mlops_deployment_to_json(d);
		cJSON_AddBoolToObject(o, "unchanged", d->unchanged);
		cmd_print_json(o);
		return;
	}
	if (g_opts.quiet)
		return;
	if (d->unchanged) {
		printf("%s %s is already live on '%s'\n", d->model, d->version, d->target);
		return;
	}
	printf("%s %s %s '%s' (%s)", what, d->model, d->version, d->target, d->kind);
	if (d->previous)
		printf(", was %s%s%s", d->previous_model ? d->previous_model : "",
		       d->previous_model ? " " : "", d->previous);
	putchar('\n');
	if (d->location)
		printf("location: %s\n", d->location);
	if (d->checksum)
		printf("sha256: %s\n", d->checksum);
}

/* ---- deploy REV TARGET ---- */

static const char *const to_usage[] = { "deploy REV TARGET", NULL };

static int deploy_to(int argc, char **argv)
{
	struct mlops_deploy_target *t = NULL;
	struct mlops_model_dir *md = NULL;
	struct mlops_deployment *d = NULL;
	int rc = simple_args(argc, argv, to_usage, 2), err;

	if (rc >= 0)
		return rc;
	argv += optind;
	if ((rc = need_repo()) || (rc = get_target(&t, argv[1])))
		return rc;
	if ((err = mlops_model_dir_resolve(&md, g_repo, argv[0], t->predict)) < 0) {
		if (err != MLOPS_EUSAGE)
			err = mlops_deploy_record_failure(g_repo, t, argv[0], err);
		mlops_deploy_target_free(t);
		return cmd_fail(err, NULL);
	}
	err = mlops_deploy(&d, g_repo, t, md, argv[0]);
	int deprecated = md->deprecated;
	mlops_model_dir_free(md);
	mlops_deploy_target_free(t);
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ECONFLICT && !deprecated ? "deploy a version "
				"promoted to that stage ('mlops register promote')" : NULL);
	print_deployment(d, "deployed");
	mlops_deployment_free(d);
	return 0;
}

/* ---- rollback ---- */

static const char *const rollback_usage[] = { "deploy rollback TARGET", NULL };

static int deploy_rollback(int argc, char **argv)
{
	struct mlops_deploy_target *t = NULL;
	struct mlops_deployment *d = NULL;
	int rc = simple_args(argc, argv, rollback_usage, 1), err;

	if (rc >= 0)
		return rc;
	if ((rc = need_repo()) || (rc = get_target(&t, argv[optind])))
		return rc;
	err = mlops_deploy_rollback(&d, g_repo, t);
	mlops_deploy_target_free(t);
	if (err < 0)
		return cmd_fail(err, NULL);
	print_deployment(d, "rolled back to");
	mlops_deployment_free(d);
	return 0;
}

/* ---- list ---- */

static const char *const list_usage[] = { "deploy list", NULL };

static int deploy_list(int argc, char **argv)
{
	struct mlops_deploy_target **ts;
	size_t n;
	int rc = simple_args(argc, argv, list_usage, 0), err;

	if (rc >= 0)
		return rc;
	if ((rc = need_repo()))
		return rc;
	if ((err = mlops_deploy_targets(&ts, &n, g_repo)) < 0)
		return cmd_fail(err, NULL);
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	if (!n && !g_opts.json && !g_opts.quiet)
		printf("no deploy targets (add one with 'git config -f .mlops/config "
		       "deploy.NAME.type dir')\n");
	const char *problem = NULL;
	for (size_t i = 0; i < n; i++) {
		struct mlops_deployment *live = NULL;
		const struct mlops_deploy_target *t = ts[i];
		if ((err = mlops_deploy_live(&live, g_repo, t->name)) < 0)
			break;
		if (t->problem && !problem)
			problem = t->problem;
		if (arr) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", t->name);
			cJSON_AddItemToObject(o, "type", t->problem ? cJSON_CreateNull() :
					      cJSON_CreateString(mlops_deploy_kind_name(t->kind)));
			cJSON_AddItemToObject(o, "path", t->path ? cJSON_CreateString(t->path) : cJSON_CreateNull());
			cJSON_AddItemToObject(o, "command", t->command ? cJSON_CreateString(t->command) :
					      cJSON_CreateNull());
			cJSON_AddItemToObject(o, "stage", t->stage ? cJSON_CreateString(t->stage) :
					      cJSON_CreateNull());
			cJSON_AddItemToObject(o, "live", live ? mlops_deployment_to_json(live) :
					      cJSON_CreateNull());
			cJSON_AddItemToObject(o, "problem", t->problem ? cJSON_CreateString(t->problem) :
					      cJSON_CreateNull());
			cJSON_AddItemToArray(arr, o);
		} else {
			char tb[64];
			if (t->problem)
				printf("%-16s %-8s %s", t->name, "?", t->problem);
			else
				printf("%-16s %-8s %s", t->name, mlops_deploy_kind_name(t->kind),
				       t->path ? t->path : t->command);
			if (t->stage)
				printf(" [stage %s]", t->stage);
			if (live)
				printf("\n    live: %s %s since %s\n", live->model, live->version,
				       cmd_human_time(tb, live->time));
			else
				printf("\n    live: nothing deployed\n");
		}
		mlops_deployment_free(live);
	}
	if (err < 0) {
		mlops_deploy_targets_free(ts, n);
		cJSON_Delete(arr);
		return cmd_fail(err, NULL);
	}
	rc = arr ? cmd_print_json(arr) : 0;
	if (rc == 0 && problem) { /* listed, and still an error for scripts to see */
		mlops_error_set(MLOPS_EINVALID, "%s", problem);
		rc = cmd_fail(MLOPS_EINVALID, "the other targets are listed; fix this one in .mlops/config");
	}
	mlops_deploy_targets_free(ts, n);
	return rc;
}

/* ---- history ---- */

static const char *const history_usage[] = { "deploy history TARGET", NULL };

static int deploy_history(int argc, char **argv)
{
	struct mlops_deployment **h;
	size_t n;
	int rc = simple_args(argc, argv, history_usage, 1), err;

	if (rc >= 0)
		return rc;
	if ((rc = need_repo()))
		return rc;
	if ((err = mlops_deploy_history(&h, &n, g_repo, argv[optind])) < 0)
		return cmd_fail(err, NULL);
	if (!n) {
		/* No history: a configured target never used, or no target at all. */
		struct mlops_deploy_target *t = NULL;
		err = mlops_deploy_target_get(&t, g_repo, argv[optind]);
		mlops_deploy_target_free(t);
		if (err == MLOPS_ENOTFOUND) {
			mlops_deployments_free(h, n);
			return cmd_fail(err, "'mlops deploy list' shows the targets");
		}
		mlops_error_clear();
	}
	if (g_opts.json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, mlops_deployment_to_json(h[i]));
		mlops_deployments_free(h, n);
		return cmd_print_json(arr);
	}
	if (!n && !g_opts.quiet)
		printf("no deployments to '%s'\n", argv[optind]);
	for (size_t i = n; i-- > 0;) {
		const struct mlops_deployment *d = h[i];
		char tb[64];
		printf("%s  %-8s %s%-6s%s %s %s", cmd_human_time(tb, d->time), d->action,
		       cmd_color(d->ok ? "green" : "red"), d->ok ? "ok" : "failed", cmd_color("reset"),
		       d->model ? d->model : "-", d->version ? d->version : "-");
		if (d->previous)
			printf(" (was %s%s%s)", d->previous_model ? d->previous_model : "",
			       d->previous_model ? " " : "", d->previous);
		printf("  by %s\n", d->user ? d->user : "unknown");
		if (d->error)
			printf("    %s\n", d->error);
	}
	mlops_deployments_free(h, n);
	return 0;
}

/* ---- serve ---- */

static const char *const serve_usage[] = {
	"deploy serve REV|PATH [--host ADDR] [--port N] [--workers N] [--log FILE] [--max-body BYTES] "
	"[--timeout SECONDS] [--predict-timeout MS] [--predict CMD]",
	NULL,
};

/* A whole number from min to max, or a usage error naming that range. */
static int parse_uint(unsigned long long *out, const char *s, const char *what,
		      unsigned long long min, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "mlops: deploy serve: %s '%s': expected a whole number from %llu to %llu\n",
			what, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* What `serve` serves: a path, a dir target's folder, or a revision. */
static int serve_path(char **out, const char *arg)
{
	struct stat st;
	struct mlops_model_dir *md = NULL;
	int err;

	*out = NULL;
	if (stat(arg, &st) == 0)
		return (*out = strdup(arg)) ? 0 : cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	if ((err = mlops_repo_open(&g_repo, ".")) < 0 && err != MLOPS_ENOREPO)
		return cmd_fail(err, NULL);
	if (err == 0) {
		struct mlops_deploy_target *t;
		if (mlops_deploy_target_get(&t, g_repo, arg) == 0) {
			if (t->kind == MLOPS_DEPLOY_DIR)
				*out = strdup(t->path);
			mlops_deploy_target_free(t);
			if (*out)
				return 0;
		}
		mlops_error_clear();
	}
	err = mlops_model_dir_resolve(&md, g_repo, arg, NULL);
	if (err == 0) {
		*out = strdup(md->path);
		mlops_model_dir_free(md);
		return 0;
	}
	return cmd_fail(err, NULL);
}

static int deploy_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log", required_argument, NULL, 'l' },
		{ "max-body", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "predict-timeout", required_argument, NULL, 'P' },
		{ "predict", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_serve_opts so;
	struct mlops_server *srv = NULL;
	unsigned long long v;
	char *path = NULL, last_error[512] = "";
	sigset_t set;
	int c, err, rc;

	mlops_serve_opts_init(&so);
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': so.host = optarg; break;
		case 'l': so.log_path = optarg; break;
		case 'c': so.predict = optarg; break;
		case 'p':
			if (parse_uint(&v, optarg, "--port", 0, 65535) < 0)
				return MLOPS_EXIT_USAGE;
			so.port = (unsigned)v;
			break;
		case 'w':
			if (parse_uint(&v, optarg, "--workers", 1, 256) < 0)
				return MLOPS_EXIT_USAGE;
			so.workers = (unsigned)v;
			break;
		case 'B':
			if (parse_uint(&v, optarg, "--max-body", 1, 1ull << 40) < 0)
				return MLOPS_EXIT_USAGE;
			so.max_body = (size_t)v;
			break;
		case 'T':
			if (parse_uint(&v, optarg, "--timeout", 1, 86400) < 0)
				return MLOPS_EXIT_USAGE;
			so.timeout = (unsigned)v;
			break;
		case 'P':
			if (parse_uint(&v, optarg, "--predict-timeout", 1, 86400000) < 0)
				return MLOPS_EXIT_USAGE;
			so.predict_timeout = (unsigned)v;
			break;
		case 'h': return cmd_usage(serve_usage, 1);
		default: return cmd_usage(serve_usage, 0);
		}
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, serve_usage)) >= 0)
		return c;
	if ((rc = serve_path(&path, argv[optind])))
		return rc;
	if (!path)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");

	/* Signals are taken synchronously below; worker threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	err = mlops_server_start(&srv, path, &so);
	free(path);
	if (err < 0) {
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		return cmd_fail(err, NULL);
	}
	const char *host = so.host;
	int v6 = strchr(host, ':') != NULL;
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		char url[300];
		snprintf(url, sizeof(url), "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
			 mlops_server_port(srv));
		cJSON_AddStringToObject(o, "model", mlops_server_model_name(srv));
		cJSON_AddStringToObject(o, "version", mlops_server_model_version(srv));
		cJSON_AddStringToObject(o, "host", host);
		cJSON_AddNumberToObject(o, "port", mlops_server_port(srv));
		cJSON_AddStringToObject(o, "url", url);
		char *s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		printf("serving %s %s on http://%s%s%s:%u\n", mlops_server_model_name(srv),
		       mlops_server_model_version(srv), v6 ? "[" : "", host, v6 ? "]" : "",
		       mlops_server_port(srv));
	}
	fflush(stdout);

	for (;;) {
		struct timespec ts = { 1, 0 };
		siginfo_t info;
		int sig = sigtimedwait(&set, &info, &ts);
		int reloaded = 0;

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			err = mlops_server_reload(srv, NULL);
			reloaded = err == 0;
		} else {
			err = mlops_server_poll(srv, &reloaded);
		}
		if (err < 0) {
			const char *msg = mlops_error_message();
			if (strcmp(msg, last_error)) {
				fprintf(stderr, "mlops: warning: reload failed, still serving %s %s: %s\n",
					mlops_server_model_name(srv), mlops_server_model_version(srv), msg);
				snprintf(last_error, sizeof(last_error), "%s", msg);
			}
		} else if (reloaded) {
			last_error[0] = '\0';
			if (!g_opts.quiet)
				fprintf(stderr, "mlops: reloaded: serving %s %s\n",
					mlops_server_model_name(srv), mlops_server_model_version(srv));
		}
	}
	struct mlops_serve_stats st;
	mlops_server_drain(srv, 10000); /* the summary counts what finishes meanwhile */
	mlops_server_stats(&st, srv);
	mlops_server_stop(srv, 0);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (!g_opts.quiet && !g_opts.json)
		fprintf(stderr, "mlops: stopped: %llu request%s (%llu error%s), %llu row%s predicted, "
			"%llu reload%s\n", (unsigned long long)st.requests, st.requests == 1 ? "" : "s",
			(unsigned long long)st.errors, st.errors == 1 ? "" : "s",
			(unsigned long long)st.rows, st.rows == 1 ? "" : "s",
			(unsigned long long)st.reloads, st.reloads == 1 ? "" : "s");
	return 0;
}

/* ---- dispatch ---- */

static const struct subcmd subs[] = {
	{ "history", deploy_history, "history TARGET", 0 },
	{ "list", deploy_list, "list", 0 },
	{ "rollback", deploy_rollback, "rollback TARGET", 0 },
	{ "serve", deploy_serve, "serve REV|PATH [OPTIONS]", 0 },
};

int cmd_deploy(int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_error(deploy_usage, "missing REV");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_usage(deploy_usage, 1);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name)) {
			snprintf(g_cmd_name, sizeof(g_cmd_name), "deploy %s", subs[i].name);
			return subs[i].fn(argc - 1, argv + 1);
		}
	return deploy_to(argc, argv);
}
