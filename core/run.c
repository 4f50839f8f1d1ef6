/*
 * run.c - training runs: prepare a run (inputs, code state, cache key),
 * run the command or the built-in trainer in a per-run directory, record
 * the result, and look runs up again (see run.h for the record format).
 *
 * Design notes:
 *   - A run works in its own directory below .mlops/tmp/ (a working
 *     directory "run-<host>-<pid>-XXXXXX", fsutil.h): params.json,
 *     metrics.json, output/, inputs/<dataset>/ and the log.  One whose
 *     process is gone (a run killed with SIGKILL) is removed by the next
 *     run or gc.
 *   - Recording: objects (outputs, log, diff, record) are written, then
 *     synced, then the refs written under the repository lock (run.h).
 *   - A sweep prepares once (inputs resolved, code state read) and runs
 *     its points on worker threads; each point has its own directory.
 *     Points share the cache: two points with the same key both run only
 *     when started at the same time.
 */
#include "run.h"
#include "feature.h"
#include "dataset.h"
#include "rev.h"
#include "train_internal.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"
#include "store/tree.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <strings.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LOCK_TIMEOUT_MS 10000
#define METRICS_MAX (16u << 20)

/* ---- results ---------------------------------------------------------- */

void mlops_run_result_free(struct mlops_run_result *r)
{
	if (!r)
		return;
	free(r->error_message);
	free(r->warning);
	free(r->job_id);
	cJSON_Delete(r->record);
	free(r);
}

void mlops_run_results_free(struct mlops_run_result **r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		mlops_run_result_free(r[i]);
	free(r);
}

void mlops_run_list_free(struct mlops_run_entry *runs, size_t n)
{
	if (!runs)
		return;
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(runs[i].record);
	free(runs);
}

/* ---- small helpers ---------------------------------------------------- */

/*
 * A decimal in normal form: its significant digits (no leading or trailing
 * zeros; empty for zero) and the exponent e with value 0.DIGITS x 10^e.
 * From a JSON number's text, or from "%.*e" output.  0 when the exponent
 * is out of any double's range (the caller then has inf or 0 anyway).
 */
struct decimal {
	int negative;
	char digits[800];
	long exp;
};

static int decimal_parse(struct decimal *d, const char *p)
{
	size_t n = 0;
	long point = 0, e = 0;
	int seen_nonzero = 0;
	memset(d, 0, sizeof(*d));
	if (*p == '-') {
		d->negative = 1;
		p++;
	}
	for (int frac = 0; isdigit((unsigned char)*p) || (*p == '.' && !frac); p++) {
		if (*p == '.') {
			frac = 1;
			continue;
		}
		if (!frac)
			point++;
		if (*p == '0' && !seen_nonzero) {
			point--; /* a leading zero */
			continue;
		}
		seen_nonzero = 1;
		if (n + 1 >= sizeof(d->digits))
			return 0;
		d->digits[n++] = *p;
	}
	while (n && d->digits[n - 1] == '0')
		n--;
	d->digits[n] = '\0';
	if (*p == 'e' || *p == 'E') {
		char *end;
		errno = 0;
		e = strtol(p + 1, &end, 10);
		if (errno || e > 100000 || e < -100000)
			return 0;
	}
	d->exp = n ? point + e : 0;
	return 1;
}

/* Whether text is a JSON number (RFC 8259's grammar). */
static int json_number_syntax(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

/*
 * Whether text, a JSON number, reads as a double whose shortest decimal
 * form is the same number: nothing lost to rounding (0.1 and 1e3 are
 * exact in this sense; 123456789012345678901 is not).  *out gets it.
 */
static int number_exact(double *out, const char *text)
{
	struct decimal want, got;
	char buf[64];
	double v = strtod(text, NULL);
	if (!isfinite(v) || !decimal_parse(&want, text))
		return 0;
	if (v == 0) /* -0 too: JSON readers take it as 0, and so is it stored */
		return !*want.digits && (*out = 0, 1);
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!decimal_parse(&got, buf))
		return 0;
	if (want.negative != got.negative || want.exp != got.exp || strcmp(want.digits, got.digits))
		return 0;
	*out = v;
	return 1;
}

cJSON *mlops_run_param_value(const char *text)
{
	double v;
	if (!strcmp(text, "true"))
		return cJSON_CreateTrue();
	if (!strcmp(text, "false"))
		return cJSON_CreateFalse();
	if (json_number_syntax(text) && number_exact(&v, text))
		return cJSON_CreateNumber(v);
	return cJSON_CreateString(text);
}

static double now_epoch(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void user_name(char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", pw.pw_name);
	else if (getenv("USER"))
		snprintf(buf, len, "%s", getenv("USER"));
	else
		snprintf(buf, len, "%ld", (long)getuid());
}

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

#define WARNINGS_MAX 20

/*
 * Add a line to *warning (lines separated by '\n'); after WARNINGS_MAX
 * lines only a count of the others is kept.  Out of memory loses the line.
 */
static void __attribute__((format(printf, 2, 3)))
warning_add(char **warning, const char *fmt, ...)
{
	size_t lines = 0, len = *warning ? strlen(*warning) : 0;
	for (const char *p = *warning; p && *p; p++)
		lines += *p == '\n';
	if (*warning)
		lines++;
	char line[1024];
	va_list ap;
	if (lines > WARNINGS_MAX) {
		/* The last line counts the rest: "... and N more". */
		char *last = strrchr(*warning, '\n');
		unsigned long more = 0;
		if (last && sscanf(last + 1, "... and %lu more", &more) == 1) {
			*last = '\0';
			len = strlen(*warning);
		}
		snprintf(line, sizeof(line), "... and %lu more", more + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
	}
	char *w = realloc(*warning, len + strlen(line) + 2);
	if (!w)
		return;
	if (len)
		w[len++] = '\n';
	strcpy(w + len, line);
	*warning = w;
}

/* ---- preparation ------------------------------------------------------ */

/* An input: a dataset version (v) or a materialised feature set (fset). */
struct run_input {
	struct mlops_dataset_version *v;
	cJSON *fset;        /* the feature-set version record, or NULL */
	mlops_oid fid;      /* its id */
	char *env;          /* "MLOPS_INPUT_<NAME>" */
};

static const char *input_name(const struct run_input *in)
{
	if (in->v)
		return in->v->name;
	const char *n = mlops_json_str(in->fset, "name");
	return n ? n : "features";
}

static long input_version(const struct run_input *in)
{
	return in->v ? in->v->version : (long)mlops_json_num(in->fset, "version", 0);
}

static const mlops_oid *input_id(const struct run_input *in)
{
	return in->v ? &in->v->id : &in->fid;
}

/* The input as the run record lists it. */
static cJSON *input_json(const struct run_input *in)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "type", in->v ? "dataset" : "feature-set");
	cJSON_AddStringToObject(o, "name", input_name(in));
	cJSON_AddNumberToObject(o, "version", (double)input_version(in));
	mlops_json_add_oid(o, "record", input_id(in));
	return o;
}

/* What every point of a run or sweep shares. */
struct run_ctx {
	struct mlops_repo *repo;
	struct run_input *inputs;
	size_t ninputs;
	struct mlops_code_state code;
	mlops_oid diff_id;
	char *name;
	char *cwd;          /* where the command runs, relative to the work tree */
	char host[256], user[256];
};

static void ctx_free(struct run_ctx *c)
{
	for (size_t i = 0; i < c->ninputs; i++) {
		mlops_dataset_version_free(c->inputs[i].v);
		cJSON_Delete(c->inputs[i].fset);
		free(c->inputs[i].env);
	}
	free(c->inputs);
	mlops_code_state_clear(&c->code);
	free(c->name);
	free(c->cwd);
}

char *mlops_run_cwd_rel(const struct mlops_repo *repo, const char *abs)
{
	char top[PATH_MAX];
	const char *wd = realpath(repo->workdir, top) ? top : repo->workdir;
	size_t wl = strlen(wd);
	if (!strcmp(abs, wd))
		return strdup(".");
	if (!strncmp(abs, wd, wl) && abs[wl] == '/' && abs[wl + 1])
		return strdup(abs + wl + 1);
	return strdup(abs);
}

/* The current directory, relative to the work tree (*out, the caller's). */
static int cwd_read(char **out, const struct mlops_repo *repo)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return mlops_error_sys(errno, "unable to read the current directory");
	*out = mlops_run_cwd_rel(repo, cwd);
	return *out ? 0 : oom();
}

/* An interpreter: how its options name a script, code or a module. */
struct interpreter {
	const char *name;      /* base name, or a prefix when it ends with '*' */
	const char *arg;       /* short options taking an argument */
	const char *code;      /* short options whose argument is code (no script) */
	const char *module;    /* short options naming a module (python -m) */
	const char *const *long_arg;  /* long options taking an argument */
	const char *const *long_code; /* long options taking code */
	int plus;              /* options also start with '+' (sh +o NAME) */
};

static const char *const node_long_code[] = { "--eval", "--print", NULL };
static const char *const node_long_arg[] = { "--require", NULL };
static const char *const sh_long_arg[] = { "--rcfile", "--init-file", NULL };
static const char *const uv_long_arg[] = {
	"--with", "--with-requirements", "--with-editable", "--python", "--project",
	"--directory", "--package", "--extra", "--group", "--env-file", "--index", NULL,
};

static const struct interpreter interpreters[] = {
	{ "sh", "oO", "c", "", sh_long_arg, NULL, 1 },
	{ "bash", "oO", "c", "", sh_long_arg, NULL, 1 },
	{ "dash", "oO", "c", "", NULL, NULL, 1 },
	{ "zsh", "oO", "c", "", NULL, NULL, 1 },
	{ "ksh", "oO", "c", "", NULL, NULL, 1 },
	{ "python*", "WXQ", "c", "m", NULL, NULL, 0 },
	{ "pypy*", "WXQ", "c", "m", NULL, NULL, 0 },
	{ "Rscript", "", "e", "", NULL, NULL, 0 },
	{ "julia", "ptJLC", "eE", "", NULL, node_long_code, 0 },
	{ "node", "r", "ep", "", node_long_arg, node_long_code, 0 },
	{ "perl", "", "eE", "", NULL, NULL, 0 },
	{ "ruby", "", "e", "", NULL, NULL, 0 },
	{ "uv", "p", "", "", uv_long_arg, NULL, 0 },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0 },
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static const struct interpreter *interpreter_find(const char *base)
{
	for (const struct interpreter *in = interpreters; in->name; in++) {
		size_t l = strlen(in->name);
		if (in->name[l - 1] == '*') {
			/* python, python3, python3.12 */
			if (!strncmp(base, in->name, l - 1) &&
			    strspn(base + l - 1, "0123456789.") == strlen(base + l - 1))
				return in;
		} else if (!strcmp(base, in->name)) {
			return in;
		}
	}
	return NULL;
}

static int in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list && list[i]; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

/*
 * What names a run of argv: the script an interpreter runs (its path), a
 * module (python -m pkg.mod: "mod"), the interpreter itself when it runs
 * code given inline (sh -c, python -c) or nothing, and otherwise the
 * program.  env and uv run are looked through.  Borrowed from argv, or
 * *buf (of len bytes).
 */
static const char *name_source(const char *const *argv, char *buf, size_t len, int depth)
{
	const char *base = base_name(argv[0]);
	size_t i = 1;
	if (depth < 4 && !strcmp(base, "env")) {
		static const char *const env_arg[] = { "-u", "-C", "-S", "--unset", "--chdir",
						       "--split-string", NULL };
		for (; argv[i]; i++) {
			if (!strcmp(argv[i], "--")) {
				i++;
				break;
			}
			if (in_list(env_arg, argv[i]) && argv[i + 1])
				i++;
			else if (argv[i][0] != '-' && !strchr(argv[i], '='))
				break;
		}
		return argv[i] ? name_source(argv + i, buf, len, depth + 1) : "env";
	}
	const struct interpreter *in = interpreter_find(base);
	if (!in)
		return argv[0];
	if (!strcmp(in->name, "uv")) {
		if (!argv[1] || strcmp(argv[1], "run"))
			return base;
		i = 2;
	}
	for (; argv[i]; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] == '-' && a[1] == '-') {
			if (in_list(in->long_code, a))
				return base;
			if (in_list(in->long_arg, a) && argv[i + 1])
				i++;
			continue;
		}
		if ((a[0] == '-' || (a[0] == '+' && in->plus)) && a[1]) {
			/* A cluster of short options; one taking an argument ends it. */
			for (const char *o = a + 1; *o; o++) {
				if (strchr(in->code, *o))
					return base;
				if (strchr(in->module, *o)) {
					const char *mod = o[1] ? o + 1 : argv[i + 1];
					if (!mod)
						return base;
					const char *dot = strrchr(mod, '.');
					snprintf(buf, len, "%s", dot && dot[1] ? dot + 1 : mod);
					return buf;
				}
				if (strchr(in->arg, *o)) {
					if (!o[1] && argv[i + 1])
						i++;
					break;
				}
			}
			continue;
		}
		break;
	}
	if (!argv[i])
		return base;
	if (depth < 4 && !strcmp(in->name, "uv") && interpreter_find(base_name(argv[i])))
		return name_source(argv + i, buf, len, depth + 1);
	return argv[i];
}

/*
 * The default run name: the script's or the program's base name without
 * its extension; for built-ins, the input's name and the kind.
 */
static char *default_name(const struct mlops_run_spec *spec)
{
	char modbuf[256];
	if (spec->builtin) {
		const char *rev = spec->ndatasets ? spec->datasets[0] :
				  spec->nfeatures ? spec->features[0] : NULL;
		if (rev) {
			struct mlops_rev r;
			if (mlops_rev_parse(&r, rev) == 0)
				return mlops_strdupf("%s-%s", r.name, spec->builtin->kind);
			mlops_error_clear();
		}
		return strdup(spec->builtin->kind);
	}
	const char *base = base_name(name_source(spec->argv, modbuf, sizeof(modbuf), 0));
	char *name = strdup(*base ? base : "run");
	if (!name)
		return NULL;
	char *dot = strrchr(name, '.');
	if (dot && dot != name)
		*dot = '\0';
	for (char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			*p = '_';
	if (!isalnum((unsigned char)name[0]))
		name[0] = 'r';
	if (strlen(name) > 128)
		name[128] = '\0';
	return name;
}

/* Whether git tracks a file at or below the work-tree path rel. */
static int git_tracks(int *out, git_repository *git, const char *rel)
{
	git_index *idx = NULL;
	size_t pos;
	*out = 0;
	if (git_repository_index(&idx, git) < 0)
		return mlops_git_error(MLOPS_ERROR, "unable to read git's index");
	char *below = mlops_strdupf("%s/", rel);
	if (!below) {
		git_index_free(idx);
		return oom();
	}
	*out = git_index_get_bypath(idx, rel, 0) != NULL ||
	       git_index_find_prefix(&pos, idx, below) == 0;
	free(below);
	git_index_free(idx);
	git_error_clear();
	return 0;
}

/*
 * Keep the outputs directory out of the code state: when abs (resolved)
 * is below the work tree's top, outside .git and .mlops, not ignored by
 * git and holding no file git tracks, its path is added to .gitignore.
 */
static int out_dir_ignore(struct mlops_repo *repo, const char *abs)
{
	char *rel = mlops_run_cwd_rel(repo, abs);
	int err = 0, ignored = 0, tracked = 0;
	struct mlops_lock *lock = NULL;
	git_repository *git;
	if (!rel)
		return oom();
	if (rel[0] == '/' || !strcmp(rel, ".") || strpbrk(rel, "\n\r") ||
	    !strcmp(rel, ".git") || !strncmp(rel, ".git/", 5) ||
	    !strcmp(rel, ".mlops") || !strncmp(rel, ".mlops/", 7))
		goto done;
	if (!(git = mlops_repo_git(repo))) {
		err = mlops_error_code() ? mlops_error_code() : MLOPS_ERROR;
		goto done;
	}
	char *dir = mlops_strdupf("%s/", rel); /* a directory, existing or not */
	if (!dir) {
		err = oom();
		goto done;
	}
	int rc = git_ignore_path_is_ignored(&ignored, git, dir);
	free(dir);
	if (rc < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to read the ignore rules");
		goto done;
	}
	if (ignored || (err = git_tracks(&tracked, git, rel)) < 0 || tracked)
		goto done;
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	err = mlops_gitignore_add(repo, rel);
	mlops_lock_release(lock);
done:
	free(rel);
	return err;
}

/*
 * Check the outputs directory before anything runs: it, or the nearest of
 * its parents that exists, must be a directory.  Then out_dir_ignore.
 */
static int out_dir_prepare(struct mlops_repo *repo, const char *out_dir)
{
	char head[PATH_MAX], real[PATH_MAX], abs[PATH_MAX];
	struct stat st;
	size_t len = strlen(out_dir);
	const char *tail = "";
	if (!len)
		return mlops_error_set(MLOPS_EUSAGE, "the output directory is an empty name");
	if (len >= sizeof(head))
		return mlops_error_set(MLOPS_EUSAGE, "'%s': the path is too long", out_dir);
	memcpy(head, out_dir, len + 1);
	while (len > 1 && head[len - 1] == '/')
		head[--len] = '\0';
	while (stat(head, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return mlops_error_sys(errno, "unable to read '%s'", head);
		char *slash = strrchr(head, '/');
		if (!slash) {
			tail = out_dir;
			strcpy(head, ".");
		} else {
			tail = out_dir + (slash - head) + 1;
			if (slash == head)
				slash[1] = '\0';
			else
				*slash = '\0';
		}
	}
	if (!S_ISDIR(st.st_mode))
		return mlops_error_set(MLOPS_EUSAGE, "the output directory '%s': '%s' is not a "
				       "directory", out_dir, head);
	if (!realpath(head, real))
		return mlops_error_sys(errno, "unable to resolve '%s'", head);
	/* abs: real plus the parts of tail that do not exist yet. */
	size_t al = strlen(real);
	memcpy(abs, real, al + 1);
	while (*tail) {
		size_t pl = strcspn(tail, "/");
		if (pl == 2 && !strncmp(tail, "..", 2)) {
			/* The parent of a directory made on the way, or of real. */
			char *slash = strrchr(abs, '/');
			if (slash == abs)
				slash[1] = '\0';
			else if (slash)
				*slash = '\0';
			al = strlen(abs);
		} else if (pl && !(pl == 1 && *tail == '.')) {
			if (al + pl + 2 > sizeof(abs))
				return mlops_error_set(MLOPS_EUSAGE, "'%s': the path is too long", out_dir);
			if (al > 1)
				abs[al++] = '/';
			memcpy(abs + al, tail, pl);
			al += pl;
			abs[al] = '\0';
		}
		tail += pl + (tail[pl] == '/');
	}
	return out_dir_ignore(repo, abs);
}

static int ctx_prepare(struct run_ctx *c, struct mlops_repo *repo, const struct mlops_run_spec *spec)
{
	int err = 0;
	memset(c, 0, sizeof(*c));
	c->repo = repo;
	mlops_host_name(c->host, sizeof(c->host));
	user_name(c->user, sizeof(c->user));

	if (spec->builtin) {
		if (spec->argv && spec->argv[0])
			return mlops_error_set(MLOPS_EUSAGE, "a built-in trainer runs no command");
		if (spec->ndatasets + spec->nfeatures != 1)
			return mlops_error_set(MLOPS_EUSAGE,
					       "a built-in trainer needs exactly one input "
					       "(-d DATASET or -f FEATURE-SET)");
		if (!spec->builtin->target || !*spec->builtin->target)
			return mlops_error_set(MLOPS_EUSAGE, "a built-in trainer needs --target COL");
		if (strcmp(spec->builtin->kind, "linear") && strcmp(spec->builtin->kind, "logistic"))
			return mlops_error_set(MLOPS_EUSAGE, "unknown built-in trainer '%s'",
					       spec->builtin->kind);
		if (!(spec->builtin->valid_frac >= 0 && spec->builtin->valid_frac < 1))
			return mlops_error_set(MLOPS_EUSAGE, "the validation fraction must be in [0, 1)");
	} else if (!spec->argv || !spec->argv[0]) {
		return mlops_error_set(MLOPS_EUSAGE, "no command to run");
	}
	if (spec->params && !cJSON_IsObject(spec->params))
		return mlops_error_set(MLOPS_EUSAGE, "params must be a JSON object");

	c->name = spec->name ? strdup(spec->name) : default_name(spec);
	if (!c->name)
		return oom();
	if (!mlops_name_valid(c->name)) {
		err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid run name%s", c->name,
				      spec->name ? "" : "; give one with -n NAME");
		goto fail;
	}
	if (!strncmp(c->name, "r-", 2) || !strncmp(c->name, "p-", 2)) {
		/* Those name runs and pending runs by id. */
		err = mlops_error_set(MLOPS_EUSAGE, "'%s': a run name cannot start with 'r-' or "
				      "'p-'%s", c->name, spec->name ? "" : "; give one with -n NAME");
		goto fail;
	}
	c->inputs = calloc(spec->ndatasets + spec->nfeatures + 1, sizeof(*c->inputs));
	if (!c->inputs) {
		err = oom();
		goto fail;
	}
	for (size_t i = 0; i < spec->ndatasets + spec->nfeatures; i++) {
		struct run_input *in = &c->inputs[c->ninputs];
		if (i < spec->ndatasets)
			err = mlops_dataset_resolve(&in->v, repo, spec->datasets[i]);
		else
			err = mlops_feature_resolve(&in->fset, &in->fid, repo,
						    spec->features[i - spec->ndatasets]);
		if (err < 0)
			goto fail;
		c->ninputs++;
		in->env = mlops_strdupf("MLOPS_INPUT_%s", input_name(in));
		if (!in->env) {
			err = oom();
			goto fail;
		}
		for (char *p = in->env + 12; *p; p++)
			*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
		for (size_t k = 0; k < c->ninputs - 1; k++)
			if (!strcmp(c->inputs[k].env, in->env)) {
				err = mlops_error_set(MLOPS_EUSAGE,
					"inputs '%s' and '%s' would both be %s", input_name(&c->inputs[k]),
					input_name(in), in->env);
				goto fail;
			}
	}
	if ((err = cwd_read(&c->cwd, repo)) < 0)
		goto fail;
	if (spec->out_dir && (err = out_dir_prepare(repo, spec->out_dir)) < 0)
		goto fail;
	if ((err = mlops_code_state_read(&c->code, repo)) < 0)
		goto fail;
	if (c->code.dirty)
		mlops_hash_buf(&c->diff_id, c->code.diff, c->code.diff_len);
	mlops_workdir_clean(repo->tmpdir);
	return 0;
fail:
	ctx_free(c);
	return err;
}

/* ---- cache ------------------------------------------------------------ */

static cJSON *builtin_json(const struct mlops_builtin_spec *b)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "kind", b->kind);
	cJSON_AddStringToObject(o, "target", b->target);
	cJSON_AddNumberToObject(o, "valid_frac", b->valid_frac);
	cJSON_AddNumberToObject(o, "seed", (double)b->seed);
	return o;
}

static cJSON *command_json(const struct mlops_run_spec *spec)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && spec->argv && spec->argv[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(spec->argv[i]));
	return a;
}

/*
 * The cache key: the id of the canonical document of what decides the
 * result (*text, the caller's), which is stored with the run so that the
 * key names an object like every other id in the record.
 */
static int cache_key(mlops_oid *out, char **text, const struct run_ctx *c,
		     const struct mlops_run_spec *spec, const cJSON *params)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON *k = cJSON_CreateObject(), *inputs;
	int err;
	if (!k)
		return oom();
	cJSON_AddItemToObject(k, "params", cJSON_Duplicate(params, 1));
	inputs = cJSON_AddArrayToObject(k, "inputs");
	for (size_t i = 0; i < c->ninputs; i++)
		cJSON_AddItemToArray(inputs, cJSON_CreateString(mlops_oid_fmt(hex, input_id(&c->inputs[i]))));
	if (spec->builtin) {
		cJSON_AddItemToObject(k, "builtin", builtin_json(spec->builtin));
		cJSON_AddStringToObject(k, "engine", "mlops " MLOPS_VERSION);
	} else {
		cJSON *code = cJSON_AddObjectToObject(k, "code");
		cJSON_AddItemToObject(k, "command", command_json(spec));
		cJSON_AddStringToObject(k, "cwd", c->cwd);
		if (c->code.tree)
			cJSON_AddStringToObject(code, "tree", c->code.tree);
		else
			cJSON_AddNullToObject(code, "tree");
		if (c->code.dirty)
			mlops_json_add_oid(code, "diff", &c->diff_id);
		else
			cJSON_AddNullToObject(code, "diff");
	}
	cJSON_AddStringToObject(k, "type", "runkey");
	err = mlops_json_canonical(text, k);
	if (err == 0)
		mlops_hash_buf(out, *text, strlen(*text));
	cJSON_Delete(k);
	return err;
}

/* A run's outputs are all in the store (a cache hit must be restorable). */
static int outputs_present(struct mlops_repo *repo, const cJSON *record)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(record, "outputs");
	struct mlops_node node;
	if (!o)
		return 1;
	if (mlops_node_from_json(&node, o) < 0) {
		mlops_error_clear();
		return 0;
	}
	return mlops_odb_exists(repo->odb, &node.id);
}

/* 1 with *record and *id set on a hit, 0 on a miss, or an error. */
static int cache_lookup(cJSON **record, mlops_oid *id, struct mlops_repo *repo,
			const mlops_oid *key)
{
	char ref[300], hex[MLOPS_OID_HEXSZ + 1];
	snprintf(ref, sizeof(ref), "runcache/%s", mlops_oid_fmt(hex, key));
	int err = mlops_ref_read(id, repo, ref);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	snprintf(ref, sizeof(ref), "runs/%s", mlops_oid_fmt(hex, id));
	mlops_oid check;
	if (mlops_ref_read(&check, repo, ref) < 0 || mlops_json_load(record, repo->odb, id) < 0) {
		mlops_error_clear();
		return 0;
	}
	const char *status = mlops_json_str(*record, "status");
	if (!status || strcmp(status, "succeeded") || !outputs_present(repo, *record)) {
		cJSON_Delete(*record);
		*record = NULL;
		return 0;
	}
	return 1;
}

/* ---- outputs ---------------------------------------------------------- */

int mlops_run_checkout_outputs(struct mlops_repo *repo, const cJSON *record, const char *dir)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(record, "outputs");
	struct mlops_node node;
	cJSON *tree = NULL;
	char abs[PATH_MAX];
	int err;
	if (!o)
		return mlops_error_set(MLOPS_ENOTFOUND, "the run has no outputs");
	if ((err = mlops_node_from_json(&node, o)) < 0)
		return mlops_error_set(MLOPS_ECORRUPT, "the run's outputs are malformed");
	if ((err = mlops_mkdir_p(dir)) < 0)
		return err;
	if (!realpath(dir, abs))
		return mlops_error_sys(errno, "unable to resolve '%s'", dir);
	if (node.kind != MLOPS_KIND_TREE)
		return mlops_error_set(MLOPS_ECORRUPT, "the run's outputs are not a directory");
	/* Entry by entry, so that files of dir the outputs lack are kept. */
	if ((err = mlops_json_load(&tree, repo->odb, &node.id)) < 0)
		return err;
	const cJSON *e, *entries = cJSON_GetObjectItemCaseSensitive(tree, "entries");
	cJSON_ArrayForEach(e, entries) {
		struct mlops_node en;
		const char *name = mlops_json_str(e, "name");
		if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
		    mlops_node_from_json(&en, e) < 0) {
			err = mlops_error_set(MLOPS_ECORRUPT, "the run's outputs have a malformed entry");
			break;
		}
		char *dest = mlops_path_join(abs, name);
		if (!dest) {
			err = oom();
			break;
		}
		struct stat st;
		if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode) != (en.kind == MLOPS_KIND_TREE)) {
			if (S_ISDIR(st.st_mode))
				mlops_remove_tree(dest);
			else
				unlink(dest);
		}
		err = mlops_tree_checkout(repo->odb, NULL, &en, dest, NULL, NULL);
		free(dest);
		if (err < 0)
			break;
	}
	cJSON_Delete(tree);
	return err;
}

/*
 * Reading the metrics file a command wrote: an object of numbers and of
 * objects of them.  Python's json.dump writes NaN, Infinity and -Infinity
 * as bare words, which JSON lacks: they are rewritten, outside strings,
 * as strings starting with NONFINITE (a byte JSON text cannot hold
 * unescaped), so that the document parses and each such value is left
 * out with a warning naming it.
 */
#define NONFINITE "\x01"

static int word_at(const char *p, const char *end, const char *word)
{
	size_t l = strlen(word);
	if ((size_t)(end - p) < l || memcmp(p, word, l))
		return 0;
	return p + l == end || !(isalnum((unsigned char)p[l]) || p[l] == '_');
}

/* The text with NaN, Infinity and -Infinity outside strings quoted. */
static char *metrics_quote_nonfinite(const char *text, size_t len, size_t *outlen)
{
	static const char *const words[] = { "NaN", "Infinity", "-Infinity", NULL };
	char *out = malloc(len * 4 + 1), *o = out;
	const char *p = text, *end = text + len;
	int in_string = 0;
	if (!out)
		return NULL;
	while (p < end) {
		if (in_string) {
			if (*p == '\\' && p + 1 < end)
				*o++ = *p++;
			else if (*p == '"')
				in_string = 0;
			*o++ = *p++;
			continue;
		}
		if (*p == '"') {
			in_string = 1;
			*o++ = *p++;
			continue;
		}
		size_t w = 0;
		for (; words[w]; w++)
			if (word_at(p, end, words[w]))
				break;
		if (words[w] && (p == text || !isalnum((unsigned char)p[-1]))) {
			o += sprintf(o, "\"\\u0001%s\"", words[w]);
			p += strlen(words[w]);
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

struct metric_key {
	const char *name;
	size_t index;
};

static int cmp_metric_key(const void *a, const void *b)
{
	const struct metric_key *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * Which members of `in` a later member of the same name overrides (skip[i]
 * set), warning once per repeated name.  NULL on no memory.
 */
static unsigned char *metrics_overridden(const cJSON *in, size_t n, char **warning,
					 const char *prefix)
{
	struct metric_key *keys = calloc(n ? n : 1, sizeof(*keys));
	unsigned char *skip = calloc(n ? n : 1, 1);
	const cJSON *m;
	size_t k = 0;
	if (!keys || !skip) {
		free(keys);
		free(skip);
		return NULL;
	}
	cJSON_ArrayForEach(m, in) {
		keys[k].name = m->string ? m->string : "";
		keys[k].index = k;
		k++;
	}
	qsort(keys, k, sizeof(*keys), cmp_metric_key);
	for (size_t i = 0; i + 1 < k; i++)
		if (!strcmp(keys[i].name, keys[i + 1].name)) {
			skip[keys[i].index] = 1;
			if (i == 0 || strcmp(keys[i - 1].name, keys[i].name))
				warning_add(warning, "metrics: '%s%s' appears more than once; "
					    "the last value was kept", prefix, keys[i].name);
		}
	free(keys);
	return skip;
}

/* The numbers and objects of numbers of `in`; the rest left out, warned. */
static cJSON *metrics_filter(const cJSON *in, char **warning, const char *prefix)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *m;
	size_t n = (size_t)cJSON_GetArraySize(in), i = 0;
	unsigned char *skip = out ? metrics_overridden(in, n, warning, prefix) : NULL;
	if (!skip) {
		cJSON_Delete(out);
		return NULL;
	}
	cJSON_ArrayForEach(m, in) {
		if (!m->string || skip[i++])
			continue;
		if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) {
			cJSON_AddNumberToObject(out, m->string, m->valuedouble);
		} else if (cJSON_IsObject(m)) {
			char *p = mlops_strdupf("%s%s.", prefix, m->string);
			cJSON *sub = p ? metrics_filter(m, warning, p) : NULL;
			free(p);
			if (!sub) {
				free(skip);
				cJSON_Delete(out);
				return NULL;
			}
			if (sub->child)
				cJSON_AddItemToObject(out, m->string, sub);
			else
				cJSON_Delete(sub); /* nothing left in it */
		} else if (cJSON_IsString(m) && !strncmp(m->valuestring, NONFINITE, 1)) {
			warning_add(warning, "metrics: '%s%s' is %s, not a finite number; it was left out",
				    prefix, m->string, m->valuestring + 1);
		} else if (cJSON_IsNumber(m)) {
			warning_add(warning, "metrics: '%s%s' is not a finite number; it was left out",
				    prefix, m->string);
		} else {
			warning_add(warning, "metrics: '%s%s' is not a number; it was left out",
				    prefix, m->string);
		}
	}
	free(skip);
	return out;
}

/*
 * Metric names.  A nested object's members are metrics named with dots:
 * {"val": {"loss": 0.5}} is the metric val.loss, the same name as
 * {"val.loss": 0.5}.  Every reader (show, compare, a sweep's --metric)
 * sees the flattened names, and a metrics file in which two values
 * flatten to one name keeps the last, as for a name given twice.
 */
struct flat_metric {
	char *name;     /* the dotted name */
	cJSON *item;    /* the number, inside the walked document */
	cJSON *parent;  /* the object holding it */
	size_t order;   /* its place in a depth-first walk */
};

struct flat_list {
	struct flat_metric *v;
	size_t n, cap;
};

static void flat_list_free(struct flat_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Append the numbers of o, depth first in member order; MLOPS_ERROR on no memory. */
static int flat_collect(struct flat_list *l, cJSON *o, const char *prefix)
{
	cJSON *m;
	cJSON_ArrayForEach(m, o) {
		if (!m->string || !(cJSON_IsNumber(m) || cJSON_IsObject(m)))
			continue;
		char *name = *prefix ? mlops_strdupf("%s.%s", prefix, m->string) : strdup(m->string);
		if (!name)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		if (cJSON_IsObject(m)) {
			int err = flat_collect(l, m, name);
			free(name);
			if (err < 0)
				return err;
			continue;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 16;
			struct flat_metric *v = realloc(l->v, cap * sizeof(*v));
			if (!v) {
				free(name);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n] = (struct flat_metric){ name, m, o, l->n };
		l->n++;
	}
	return 0;
}

static int cmp_flat_name(const void *a, const void *b)
{
	const struct flat_metric *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int cmp_flat_order(const void *a, const void *b)
{
	const struct flat_metric *x = a, *y = b;
	return (x->order > y->order) - (x->order < y->order);
}

/*
 * The metrics of o by flattened name, each name once: sorted by name, the
 * entries of a name given twice but the last (keep_last) or the first
 * dropped, then back in walk order.  With warning (recording a metrics
 * file) each name given twice is warned about and the dropped values are
 * removed from o; without, o is left as it is.
 */
static int flat_unique(struct flat_list *l, cJSON *o, int keep_last, char **warning)
{
	size_t k = 0;
	int err = flat_collect(l, o, "");
	if (err < 0)
		return err;
	if (l->n < 2)
		return 0; /* nothing given twice, and no array to sort */
	qsort(l->v, l->n, sizeof(*l->v), cmp_flat_name);
	for (size_t i = 0; i < l->n; i++) {
		size_t j = i;
		while (j + 1 < l->n && !strcmp(l->v[j + 1].name, l->v[i].name))
			j++;
		if (j > i && warning)
			warning_add(warning, "metrics: '%s' appears more than once (the members of "
				    "a nested object are named with dots); the last value was kept",
				    l->v[i].name);
		size_t keep = keep_last ? j : i;
		for (size_t d = i; d <= j; d++) {
			if (d == keep) {
				l->v[k++] = l->v[d];
				continue;
			}
			if (warning) /* recording: the value leaves the document */
				cJSON_Delete(cJSON_DetachItemViaPointer(l->v[d].parent, l->v[d].item));
			free(l->v[d].name);
		}
		i = j;
	}
	l->n = k;
	qsort(l->v, l->n, sizeof(*l->v), cmp_flat_order);
	return 0;
}

/* Remove the objects below o that hold nothing any more. */
static void prune_empty(cJSON *o)
{
	cJSON *m = o->child, *next;
	for (; m; m = next) {
		next = m->next;
		if (!cJSON_IsObject(m))
			continue;
		prune_empty(m);
		if (!m->child)
			cJSON_Delete(cJSON_DetachItemViaPointer(o, m));
	}
}

cJSON *mlops_run_metrics_flat(const cJSON *metrics)
{
	struct flat_list l = { 0 };
	cJSON *copy = NULL, *out = cJSON_CreateObject();
	int err = 0;
	if (!out || (cJSON_IsObject(metrics) && !(copy = cJSON_Duplicate(metrics, 1)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	if (!copy)
		goto cleanup; /* no metrics */
	mlops_json_sort(copy);
	/* A record holds a name once; one made before that was checked keeps its first. */
	if ((err = flat_unique(&l, copy, 0, NULL)) < 0)
		goto cleanup;
	for (size_t i = 0; i < l.n; i++) {
		cJSON *v = cJSON_CreateNumber(l.v[i].item->valuedouble);
		if (!v) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto cleanup;
		}
		cJSON_AddItemToObject(out, l.v[i].name, v);
	}
cleanup:
	flat_list_free(&l);
	cJSON_Delete(copy);
	if (err < 0) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

void mlops_run_metrics_foreach(const cJSON *metrics,
			       void (*cb)(const char *key, double value, void *payload),
			       void *payload)
{
	cJSON *flat = mlops_run_metrics_flat(metrics), *m;
	cJSON_ArrayForEach(m, flat)
		cb(m->string, m->valuedouble, payload);
	cJSON_Delete(flat);
}

/*
 * Read at most METRICS_MAX bytes of the metrics file into *text: a
 * regular file only (opened without following a link or blocking on a
 * FIFO the command left there).  1 when there is none, 0 when read, 2
 * when it was ignored with a warning; errors only for no memory.
 */
static int metrics_load(char **text, size_t *len, const char *path, char **warning)
{
	struct stat st;
	size_t cap, n = 0;
	*text = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		if (errno == ELOOP)
			warning_add(warning, "metrics: the command made MLOPS_METRICS a symbolic link; "
				    "it was ignored");
		else
			warning_add(warning, "metrics: unable to open '%s': %s", path, strerror(errno));
		return 2;
	}
	if (fstat(fd, &st) < 0) {
		warning_add(warning, "metrics: unable to read '%s': %s", path, strerror(errno));
		close(fd);
		return 2;
	}
	if (!S_ISREG(st.st_mode)) {
		warning_add(warning, "metrics: the command made MLOPS_METRICS %s, not a file; "
			    "it was ignored", S_ISFIFO(st.st_mode) ? "a FIFO" :
			    S_ISDIR(st.st_mode) ? "a directory" : "something else");
		close(fd);
		return 2;
	}
	cap = st.st_size < METRICS_MAX ? (size_t)st.st_size + 1 : METRICS_MAX + 1;
	if (!(*text = malloc(cap + 1))) {
		close(fd);
		return oom();
	}
	for (;;) {
		ssize_t r = read(fd, *text + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			warning_add(warning, "metrics: unable to read '%s': %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			if (cap > METRICS_MAX)
				break;
			size_t nc = cap * 2 < METRICS_MAX + 1 ? cap * 2 : METRICS_MAX + 1;
			char *t = realloc(*text, nc + 1);
			if (!t) {
				close(fd);
				free(*text);
				*text = NULL;
				return oom();
			}
			*text = t;
			cap = nc;
		}
	}
	close(fd);
	if (n > METRICS_MAX) {
		warning_add(warning, "metrics: the file MLOPS_METRICS names is larger than 16 MiB; "
			    "it was ignored");
		free(*text);
		*text = NULL;
		return 2;
	}
	(*text)[n] = '\0';
	*len = n;
	return 0;
}

static cJSON *read_metrics(const char *path, char **warning)
{
	char *text = NULL, *quoted;
	size_t len = 0, qlen = 0;
	int rc = metrics_load(&text, &len, path, warning);
	if (rc < 0)
		return NULL;
	if (rc > 0)
		return cJSON_CreateObject();
	quoted = metrics_quote_nonfinite(text, len, &qlen);
	free(text);
	if (!quoted)
		return NULL;
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(quoted, qlen, &end, 0);
	int trailing = 0;
	if (doc && end)
		for (const char *p = end; p < quoted + qlen; p++)
			if (!isspace((unsigned char)*p))
				trailing = 1;
	free(quoted);
	if (!cJSON_IsObject(doc) || trailing) {
		warning_add(warning, "metrics: the file MLOPS_METRICS names is not %s; it was ignored",
			    !doc ? "valid JSON" : trailing ? "one JSON object (more text follows it)" :
			    "a JSON object");
		cJSON_Delete(doc);
		return cJSON_CreateObject();
	}
	cJSON *m = metrics_filter(doc, warning, "");
	cJSON_Delete(doc);
	struct flat_list l = { 0 };
	if (m && flat_unique(&l, m, 1, warning) < 0) {
		cJSON_Delete(m);
		m = NULL;
	}
	flat_list_free(&l);
	if (m)
		prune_empty(m);
	return m;
}

cJSON *mlops_run_read_metrics(const char *path, char **warning)
{
	return read_metrics(path, warning);
}

/* ---- one run ---------------------------------------------------------- */

struct run_dir {
	char *dir, *output, *metrics, *params, *log, *inputs;
};

static void run_dir_free(struct run_dir *d, int remove)
{
	if (remove && d->dir)
		mlops_remove_tree(d->dir);
	free(d->dir);
	free(d->output);
	free(d->metrics);
	free(d->params);
	free(d->log);
	free(d->inputs);
}

/* A new run directory below base (on base's file system: tmp files too). */
static int run_dir_make_in(struct run_dir *d, const char *base, const char *prefix)
{
	memset(d, 0, sizeof(*d));
	int err = mlops_workdir_make(&d->dir, base, prefix);
	if (err < 0)
		return err;
	d->output = mlops_path_join(d->dir, "output");
	d->metrics = mlops_path_join(d->dir, "metrics.json");
	d->params = mlops_path_join(d->dir, "params.json");
	d->log = mlops_path_join(d->dir, "log");
	d->inputs = mlops_path_join(d->dir, "inputs");
	if (!d->output || !d->metrics || !d->params || !d->log || !d->inputs)
		return oom();
	if (mkdir(d->output, 0777) < 0)
		return mlops_error_sys(errno, "unable to create '%s'", d->output);
	return 0;
}

static int run_dir_make(struct run_dir *d, struct run_ctx *c)
{
	return run_dir_make_in(d, c->repo->tmpdir, "run");
}

/* Materialise the inputs; paths[i] is what MLOPS_INPUT_<NAME> names. */
static int materialise_inputs(char **paths, struct run_ctx *c, struct run_dir *d)
{
	for (size_t i = 0; i < c->ninputs; i++) {
		const struct mlops_dataset_version *v = c->inputs[i].v;
		if (!v) {
			/* A feature set: its table, as one CSV file. */
			char *file = mlops_strdupf("%s/%s.csv", d->inputs, input_name(&c->inputs[i]));
			if (!file)
				return oom();
			int err = mlops_mkdir_p(d->inputs);
			if (err == 0)
				err = mlops_feature_table_checkout(c->repo, c->inputs[i].fset, file);
			if (err < 0) {
				free(file);
				return err;
			}
			paths[i] = file;
			continue;
		}
		char *dir = mlops_path_join(d->inputs, v->name);
		if (!dir)
			return oom();
		int err = mlops_dataset_checkout(c->repo, v, dir, 1, NULL);
		if (err < 0) {
			free(dir);
			return err;
		}
		if (v->nentries == 1) {
			paths[i] = mlops_path_join(dir, v->entries[0].path);
			free(dir);
		} else {
			paths[i] = dir;
		}
		if (!paths[i])
			return oom();
	}
	return 0;
}

static int env_is_ours(const char *e)
{
	static const char *const ours[] = { "MLOPS_RUN_ID=", "MLOPS_PARAMS=", "MLOPS_OUTPUT=",
					    "MLOPS_METRICS=", "MLOPS_INPUT_", NULL };
	for (size_t i = 0; ours[i]; i++)
		if (!strncmp(e, ours[i], strlen(ours[i])))
			return 1;
	return 0;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static int build_env(char ***out, struct run_ctx *c, struct run_dir *d, const char *run_id,
		     char *const *input_paths)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + c->ninputs + 5, sizeof(*env));
	if (!env)
		return oom();
	for (size_t i = 0; i < n; i++)
		if (!env_is_ours(environ[i]) && !(env[k++] = strdup(environ[i])))
			goto nomem;
	if (!(env[k++] = mlops_strdupf("MLOPS_RUN_ID=%s", run_id)) ||
	    !(env[k++] = mlops_strdupf("MLOPS_PARAMS=%s", d->params)) ||
	    !(env[k++] = mlops_strdupf("MLOPS_OUTPUT=%s", d->output)) ||
	    !(env[k++] = mlops_strdupf("MLOPS_METRICS=%s", d->metrics)))
		goto nomem;
	for (size_t i = 0; i < c->ninputs; i++)
		if (!(env[k++] = mlops_strdupf("%s=%s", c->inputs[i].env, input_paths[i])))
			goto nomem;
	*out = env;
	return 0;
nomem:
	env_free(env);
	return oom();
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;
	if (!d)
		return 1;
	while (empty && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

/* What a directory entry that cannot be stored is, or NULL. */
static const char *unstorable_kind(mode_t mode)
{
	return S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" :
	       S_ISCHR(mode) || S_ISBLK(mode) ? "a device" : NULL;
}

/*
 * Remove the entries below dir (path buffer of PATH_MAX, rel its part
 * below the outputs) that are neither files, links nor directories,
 * naming each in *warning.
 */
static void drop_unstorable(char *path, size_t rel, char **warning, int depth)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t len = strlen(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + strlen(de->d_name) + 2 > PATH_MAX)
			continue;
		path[len] = '/';
		strcpy(path + len + 1, de->d_name);
		if (lstat(path, &st) == 0) {
			const char *kind = unstorable_kind(st.st_mode);
			if (kind) {
				warning_add(warning, "outputs: '%s' is %s, not a file or directory; "
					    "it was left out", path + rel, kind);
				unlink(path);
			} else if (S_ISDIR(st.st_mode) && depth < 256) {
				drop_unstorable(path, rel, warning, depth + 1);
			}
		}
		path[len] = '\0';
	}
	closedir(d);
}

int mlops_run_store_outputs(struct mlops_node *out, int *have, struct mlops_repo *repo,
			    const char *dir, char **warning)
{
	struct stat st;
	char path[PATH_MAX];
	*have = 0;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT) {
			warning_add(warning, "outputs: the command removed the directory "
				    "MLOPS_OUTPUT names; nothing was stored");
			return 0;
		}
		return mlops_error_sys(errno, "unable to read '%s'", dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		warning_add(warning, "outputs: the command replaced the directory MLOPS_OUTPUT "
			    "names with %s; nothing was stored",
			    S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
		return 0;
	}
	if (strlen(dir) + 1 >= sizeof(path))
		return mlops_error_set(MLOPS_EUSAGE, "'%s': the path is too long", dir);
	strcpy(path, dir);
	drop_unstorable(path, strlen(dir) + 1, warning, 0);
	if (dir_is_empty(dir))
		return 0;
	int err = mlops_tree_store(out, repo->odb, NULL, dir, NULL, NULL);
	if (err == 0)
		*have = 1;
	return err;
}

/* Store a whole file as one blob. */
static int store_file_blob(mlops_oid *out, struct mlops_odb *odb, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int err = 0;
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", path);
	if (fstat(fd, &st) < 0) {
		err = mlops_error_sys(errno, "unable to stat '%s'", path);
	} else if (st.st_size == 0) {
		err = mlops_odb_write(out, odb, "", 0, NULL);
	} else {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			err = mlops_error_sys(errno, "unable to map '%s'", path);
		} else {
			err = mlops_odb_write(out, odb, p, (size_t)st.st_size, NULL);
			munmap(p, (size_t)st.st_size);
		}
	}
	close(fd);
	return err;
}

static int new_run_id(char out[33])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return mlops_error_sys(errno, "unable to draw a run id");
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* Write the record and its refs (see the write protocol in run.h). */
static int record_run(mlops_oid *id, struct run_ctx *c, cJSON *rec, const mlops_oid *key,
		      int cache)
{
	struct mlops_lock *lock = NULL;
	char ref[300], hex[MLOPS_OID_HEXSZ + 1], msg[300];
	int err;
	if ((err = mlops_json_store(id, c->repo->odb, rec, NULL)) < 0)
		return err;
	if ((err = mlops_odb_sync(c->repo->odb)) < 0)
		return err;
	if ((err = mlops_lock_acquire(&lock, c->repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	snprintf(ref, sizeof(ref), "runs/%s", mlops_oid_fmt(hex, id));
	snprintf(msg, sizeof(msg), "train: %s %s", c->name, mlops_json_str(rec, "status"));
	err = mlops_ref_write(c->repo, ref, id, NULL, msg);
	if (err == 0 && cache) {
		snprintf(ref, sizeof(ref), "runcache/%s", mlops_oid_fmt(hex, key));
		err = mlops_ref_write(c->repo, ref, id, NULL, msg);
	}
	mlops_lock_release(lock);
	return err;
}

/*
 * Submit one run to Slurm (after a cache miss): its directory below the
 * shared directory, inputs, params, the objects the record will name, the
 * pending record; then mlops_slurm_submit.  The directory is removed on
 * failure.
 */
static int submit_one(struct mlops_run_result *res, struct run_ctx *c,
		      const struct mlops_run_spec *spec, const cJSON *params, const mlops_oid *key,
		      const char *key_text)
{
	struct run_dir d = { 0 };
	char *shared = NULL, **input_paths = NULL, *env[4 + 64], run_id[33], cwd[PATH_MAX];
	char hex[MLOPS_OID_HEXSZ + 1], outabs[PATH_MAX];
	size_t nenv = 0;
	cJSON *rec = NULL;
	int err, keep = 0;

	memset(env, 0, sizeof(env));
	if (spec->builtin)
		return mlops_error_set(MLOPS_EUSAGE, "a built-in trainer runs in-process; "
				       "it cannot be submitted to Slurm");
	if (c->ninputs > 64)
		return mlops_error_set(MLOPS_EUSAGE, "at most 64 inputs for a Slurm job");
	if (!getcwd(cwd, sizeof(cwd)))
		return mlops_error_sys(errno, "unable to read the current directory");
	if ((err = mlops_slurm_shared_dir(&shared, c->repo, spec->slurm)) < 0)
		return err;
	if ((err = new_run_id(run_id)) < 0 || (err = run_dir_make_in(&d, shared, "job")) < 0)
		goto done;
	input_paths = calloc(c->ninputs + 1, sizeof(*input_paths));
	if (!input_paths) {
		err = oom();
		goto done;
	}
	if ((err = materialise_inputs(input_paths, c, &d)) < 0)
		goto done;
	char *ptext = mlops_json_print(params, 1);
	if (!ptext) {
		err = oom();
		goto done;
	}
	err = mlops_write_file_atomic(d.params, ptext, strlen(ptext), d.dir, 0);
	free(ptext);
	if (err < 0)
		goto done;
	if (!(env[nenv++] = mlops_strdupf("MLOPS_RUN_ID=%s", run_id)) ||
	    !(env[nenv++] = mlops_strdupf("MLOPS_PARAMS=%s", d.params)) ||
	    !(env[nenv++] = mlops_strdupf("MLOPS_OUTPUT=%s", d.output)) ||
	    !(env[nenv++] = mlops_strdupf("MLOPS_METRICS=%s", d.metrics))) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < c->ninputs; i++)
		if (!(env[nenv++] = mlops_strdupf("%s=%s", c->inputs[i].env, input_paths[i]))) {
			err = oom();
			goto done;
		}
	/* The objects the record will name exist before the job can end. */
	if ((err = mlops_odb_write_hashed(c->repo->odb, key, key_text, strlen(key_text), NULL)) < 0)
		goto done;
	if (c->code.dirty &&
	    (err = mlops_odb_write_hashed(c->repo->odb, &c->diff_id, c->code.diff, c->code.diff_len,
					  NULL)) < 0)
		goto done;

	if (!(rec = cJSON_CreateObject())) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(rec, "type", "pending-run");
	cJSON_AddStringToObject(rec, "run_id", run_id);
	cJSON_AddStringToObject(rec, "name", c->name);
	cJSON_AddItemToObject(rec, "command", command_json(spec));
	cJSON_AddItemToObject(rec, "params", cJSON_Duplicate(params, 1));
	cJSON *inputs = cJSON_AddArrayToObject(rec, "inputs");
	for (size_t i = 0; i < c->ninputs; i++)
		cJSON_AddItemToArray(inputs, input_json(&c->inputs[i]));
	if (c->code.commit)
		cJSON_AddStringToObject(rec, "git_commit", c->code.commit);
	else
		cJSON_AddNullToObject(rec, "git_commit");
	cJSON_AddBoolToObject(rec, "git_dirty", c->code.dirty);
	if (c->code.dirty)
		mlops_json_add_oid(rec, "git_diff", &c->diff_id);
	cJSON_AddStringToObject(rec, "host", c->host);
	cJSON_AddStringToObject(rec, "user", c->user);
	cJSON_AddStringToObject(rec, "cache_key", mlops_oid_fmt(hex, key));
	cJSON_AddStringToObject(rec, "message", spec->message ? spec->message : "");
	cJSON_AddStringToObject(rec, "dir", d.dir);
	cJSON_AddStringToObject(rec, "cwd", cwd);
	if (spec->out_dir) {
		if (mlops_mkdir_p(spec->out_dir) < 0 || !realpath(spec->out_dir, outabs)) {
			err = mlops_error_sys(errno, "unable to resolve '%s'", spec->out_dir);
			goto done;
		}
		cJSON_AddStringToObject(rec, "out_dir", outabs);
	}
	cJSON_AddNumberToObject(rec, "submitted", floor(now_epoch()));
	if ((err = mlops_slurm_submit(&res->job_id, &res->id, c->repo, rec, spec->argv,
				      (const char *const *)env, nenv, spec->slurm)) < 0)
		goto done;
	res->record = rec;
	rec = NULL;
	keep = 1;
done:
	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	for (size_t i = 0; input_paths && i < c->ninputs; i++)
		free(input_paths[i]);
	free(input_paths);
	cJSON_Delete(rec);
	run_dir_free(&d, !keep);
	free(shared);
	return err;
}

/*
 * Run one point: `since` is the signal count the caller took with the
 * child's handlers installed (a sweep's start), or -1 for now.
 */
static int run_one(struct mlops_run_result *res, struct run_ctx *c,
		   const struct mlops_run_spec *spec, const cJSON *params_in, int since)
{
	struct run_dir d = { 0 };
	char **input_paths = NULL, **env = NULL, run_id[33];
	char *summary = NULL, *key_text = NULL;
	cJSON *params = NULL, *rec = NULL, *metrics = NULL;
	mlops_oid key, log_id;
	struct mlops_node out_node;
	struct mlops_child_result cr = { 0 };
	int err, have_outputs = 0, log_fd = -1, entered = 0, converged = 1;
	char hex[MLOPS_OID_HEXSZ + 1];

	params = params_in ? cJSON_Duplicate(params_in, 1) : cJSON_CreateObject();
	if (!params)
		return oom();
	if ((err = cache_key(&key, &key_text, c, spec, params)) < 0)
		goto done;
	if (!spec->force) {
		cJSON *hit = NULL;
		mlops_oid hid;
		int r = cache_lookup(&hit, &hid, c->repo, &key);
		if (r < 0) {
			err = r;
			goto done;
		}
		if (r == 1) {
			res->record = hit;
			res->id = hid;
			res->cached = 1;
			res->exit_status = 0;
			if (spec->out_dir && cJSON_GetObjectItemCaseSensitive(hit, "outputs"))
				err = mlops_run_checkout_outputs(c->repo, hit, spec->out_dir);
			goto done;
		}
	}
	if (spec->slurm) {
		err = submit_one(res, c, spec, params, &key, key_text);
		goto done;
	}
	if (!spec->builtin) {
		/*
		 * From here a signal is counted rather than fatal: one that
		 * arrives while the inputs are copied stops the run before the
		 * command starts, and one after it ended leaves the recording
		 * whole.
		 */
		mlops_child_signals_enter();
		entered = 1;
		if (since < 0)
			since = mlops_child_interrupts();
	}
	if ((err = new_run_id(run_id)) < 0 || (err = run_dir_make(&d, c)) < 0)
		goto done;
	input_paths = calloc(c->ninputs + 1, sizeof(*input_paths));
	if (!input_paths) {
		err = oom();
		goto done;
	}
	if ((err = materialise_inputs(input_paths, c, &d)) < 0)
		goto done;
	char *ptext = mlops_json_print(params, 1);
	if (!ptext) {
		err = oom();
		goto done;
	}
	err = mlops_write_file_atomic(d.params, ptext, strlen(ptext), c->repo->tmpdir, 0);
	free(ptext);
	if (err < 0)
		goto done;
	log_fd = open(d.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (log_fd < 0) {
		err = mlops_error_sys(errno, "unable to create '%s'", d.log);
		goto done;
	}

	double start = now_epoch(), t0 = now_mono();
	if (spec->builtin) {
		char data_name[300];
		snprintf(data_name, sizeof(data_name), "%s@v%ld", input_name(&c->inputs[0]),
			 input_version(&c->inputs[0]));
		err = mlops_builtin_train(&metrics, &summary, &converged, spec->builtin, params,
					  input_paths[0], data_name, d.output, spec->threads);
		if (err < 0)
			goto done;
		if (!converged)
			warning_add(&res->warning, "%s regression did not converge within max_iter "
				    "iterations: its model may be poor (raise -p max_iter=N, or -p tol)",
				    spec->builtin->kind);
		if (mlops_write_all(log_fd, summary, strlen(summary)) < 0) {
			err = mlops_error_sys(errno, "unable to write '%s'", d.log);
			goto done;
		}
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru) == 0)
			cr.peak_rss_kb = ru.ru_maxrss;
	} else {
		if ((err = build_env(&env, c, &d, run_id, input_paths)) < 0)
			goto done;
		err = mlops_child_run_since(&cr, (const char *const *)spec->argv, env, spec->out_fd,
					    spec->err_fd, log_fd, since);
		if (err < 0)
			goto done;
		if (!cr.started) {
			/* Interrupted before it started: nothing ran, nothing is recorded. */
			res->error = MLOPS_ERROR;
			res->exit_status = cr.exit_status;
			res->error_message = strdup("interrupted before the command started; "
						    "nothing was run or recorded");
			if (!res->error_message)
				err = oom();
			goto done;
		}
		metrics = read_metrics(d.metrics, &res->warning);
		if (!metrics) {
			err = oom();
			goto done;
		}
	}
	double duration = now_mono() - t0;
	close(log_fd);
	log_fd = -1;

	/* Store: outputs, log, diff; then the record and its refs. */
	if ((err = mlops_run_store_outputs(&out_node, &have_outputs, c->repo, d.output,
					   &res->warning)) < 0)
		goto done;
	if ((err = store_file_blob(&log_id, c->repo->odb, d.log)) < 0)
		goto done;
	if ((err = mlops_odb_write_hashed(c->repo->odb, &key, key_text, strlen(key_text), NULL)) < 0)
		goto done;
	if (c->code.dirty &&
	    (err = mlops_odb_write_hashed(c->repo->odb, &c->diff_id, c->code.diff, c->code.diff_len,
					  NULL)) < 0)
		goto done;

	const char *status = cr.interrupted ? "interrupted" :
			     cr.exit_status == 0 ? "succeeded" : "failed";
	rec = cJSON_CreateObject();
	if (!rec) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(rec, "type", "run");
	cJSON_AddStringToObject(rec, "run_id", run_id);
	cJSON_AddStringToObject(rec, "name", c->name);
	cJSON_AddItemToObject(rec, "command", command_json(spec));
	if (!spec->builtin)
		cJSON_AddStringToObject(rec, "cwd", c->cwd);
	cJSON_AddItemToObject(rec, "params", params);
	params = NULL;
	cJSON *inputs = cJSON_AddArrayToObject(rec, "inputs");
	for (size_t i = 0; i < c->ninputs; i++)
		cJSON_AddItemToArray(inputs, input_json(&c->inputs[i]));
	if (c->code.commit)
		cJSON_AddStringToObject(rec, "git_commit", c->code.commit);
	else
		cJSON_AddNullToObject(rec, "git_commit");
	cJSON_AddBoolToObject(rec, "git_dirty", c->code.dirty);
	if (c->code.dirty)
		mlops_json_add_oid(rec, "git_diff", &c->diff_id);
	cJSON_AddNumberToObject(rec, "start", start);
	cJSON_AddNumberToObject(rec, "duration", round(duration * 1000.0) / 1000.0);
	cJSON_AddNumberToObject(rec, "exit_status", cr.exit_status);
	cJSON_AddStringToObject(rec, "status", status);
	cJSON_AddNumberToObject(rec, "peak_rss_kb", (double)cr.peak_rss_kb);
	if (have_outputs)
		cJSON_AddItemToObject(rec, "outputs", mlops_node_to_json(&out_node));
	cJSON_AddItemToObject(rec, "metrics", metrics);
	metrics = NULL;
	mlops_json_add_oid(rec, "log", &log_id);
	cJSON_AddStringToObject(rec, "host", c->host);
	cJSON_AddStringToObject(rec, "user", c->user);
	cJSON_AddStringToObject(rec, "cache_key", mlops_oid_fmt(hex, &key));
	if (spec->builtin) {
		cJSON *b = builtin_json(spec->builtin);
		cJSON_AddBoolToObject(b, "converged", converged);
		cJSON_AddItemToObject(rec, "builtin", b);
	}
	cJSON_AddStringToObject(rec, "message", spec->message ? spec->message : "");

	if ((err = record_run(&res->id, c, rec, &key, !strcmp(status, "succeeded"))) < 0)
		goto done;
	res->record = rec;
	rec = NULL;
	res->exit_status = cr.interrupted && cr.exit_status == 0 ? 130 : cr.exit_status;
	if (have_outputs && spec->out_dir)
		err = mlops_run_checkout_outputs(c->repo, res->record, spec->out_dir);
done:
	if (log_fd >= 0)
		close(log_fd);
	for (size_t i = 0; input_paths && i < c->ninputs; i++)
		free(input_paths[i]);
	free(input_paths);
	env_free(env);
	free(summary);
	free(key_text);
	cJSON_Delete(params);
	cJSON_Delete(rec);
	cJSON_Delete(metrics);
	run_dir_free(&d, 1);
	if (entered)
		mlops_child_signals_leave();
	return err;
}

static struct mlops_run_result *result_new(void)
{
	return calloc(1, sizeof(struct mlops_run_result));
}

int mlops_run_exec(struct mlops_run_result **out, struct mlops_repo *repo,
		   const struct mlops_run_spec *spec)
{
	struct run_ctx c;
	struct mlops_run_result *res;
	int err;
	*out = NULL;
	if ((err = ctx_prepare(&c, repo, spec)) < 0)
		return err;
	if (!(res = result_new())) {
		ctx_free(&c);
		return oom();
	}
	err = run_one(res, &c, spec, spec->params, -1);
	ctx_free(&c);
	if (err < 0) {
		mlops_run_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- sweeps ----------------------------------------------------------- */

struct sweep {
	struct run_ctx *ctx;
	const struct mlops_run_spec *base;
	const struct mlops_sweep_axis *axes;
	size_t naxes, npoints;
	struct mlops_run_result **results;
	atomic_size_t next;
	int interrupts0;
};

static void sweep_point(struct sweep *s, size_t idx)
{
	struct mlops_run_result *res = s->results[idx];
	cJSON *params = s->base->params ? cJSON_Duplicate(s->base->params, 1) : cJSON_CreateObject();
	int err = 0;
	if (!params) {
		err = oom();
	} else {
		/* Decode idx in mixed radix, the last axis fastest. */
		size_t rem = idx;
		for (size_t a = s->naxes; a-- > 0;) {
			size_t nv = (size_t)cJSON_GetArraySize(s->axes[a].values);
			const cJSON *v = cJSON_GetArrayItem(s->axes[a].values, (int)(rem % nv));
			rem /= nv;
			cJSON_DeleteItemFromObjectCaseSensitive(params, s->axes[a].key);
			cJSON_AddItemToObject(params, s->axes[a].key, cJSON_Duplicate(v, 1));
		}
		err = run_one(res, s->ctx, s->base, params, s->interrupts0);
	}
	cJSON_Delete(params);
	if (err < 0) {
		res->error = err;
		res->error_message = strdup(mlops_error_message());
		mlops_error_clear();
	}
}

static void *sweep_worker(void *arg)
{
	struct sweep *s = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&s->next, 1);
		if (i >= s->npoints)
			break;
		if (s->interrupts0 >= 0 && mlops_child_interrupts() != s->interrupts0) {
			int sig = mlops_child_last_signal();
			s->results[i]->error = MLOPS_ERROR;
			s->results[i]->exit_status = 128 + (sig ? sig : SIGINT);
			s->results[i]->error_message = strdup("not run: the sweep was interrupted");
			continue;
		}
		sweep_point(s, i);
	}
	return NULL;
}

int mlops_run_sweep(struct mlops_run_result ***out, size_t *n, struct mlops_repo *repo,
		    const struct mlops_run_spec *base, const struct mlops_sweep_axis *axes,
		    size_t naxes, size_t jobs)
{
	struct run_ctx c;
	struct sweep s;
	size_t npoints = 1;
	int err;
	*out = NULL;
	*n = 0;
	for (size_t a = 0; a < naxes; a++) {
		int nv = cJSON_GetArraySize(axes[a].values);
		if (!cJSON_IsArray(axes[a].values) || nv < 1)
			return mlops_error_set(MLOPS_EUSAGE, "sweep of '%s' has no values", axes[a].key);
		if (npoints > 100000 / (size_t)nv)
			return mlops_error_set(MLOPS_EUSAGE, "the sweep has too many points");
		npoints *= (size_t)nv;
	}
	if ((err = ctx_prepare(&c, repo, base)) < 0)
		return err;
	memset(&s, 0, sizeof(s));
	s.ctx = &c;
	s.base = base;
	s.axes = axes;
	s.naxes = naxes;
	s.npoints = npoints;
	atomic_init(&s.next, 0);
	s.results = calloc(npoints, sizeof(*s.results));
	if (!s.results) {
		ctx_free(&c);
		return oom();
	}
	for (size_t i = 0; i < npoints; i++)
		if (!(s.results[i] = result_new())) {
			mlops_run_results_free(s.results, npoints);
			ctx_free(&c);
			return oom();
		}
	/* A signal between points (or while one is prepared) stops the rest. */
	int signals = !base->builtin && !base->slurm;
	if (signals)
		mlops_child_signals_enter();
	s.interrupts0 = signals ? mlops_child_interrupts() : -1;
	if (jobs < 1 || base->slurm)
		jobs = 1; /* submissions: one after another (config is read per point) */
	if (jobs > npoints)
		jobs = npoints;
	if (jobs > 64)
		jobs = 64;
	pthread_t th[64];
	size_t started = 0;
	for (; jobs > 1 && started < jobs; started++)
		if (pthread_create(&th[started], NULL, sweep_worker, &s) != 0)
			break;
	if (!started)
		sweep_worker(&s);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (signals)
		mlops_child_signals_leave();
	ctx_free(&c);
	*out = s.results;
	*n = npoints;
	return 0;
}

/* ---- lookup ----------------------------------------------------------- */

static int cmp_entries(const void *a, const void *b)
{
	const struct mlops_run_entry *x = a, *y = b;
	double sx = mlops_json_num(x->record, "start", 0), sy = mlops_json_num(y->record, "start", 0);
	if (sx != sy)
		return sx < sy ? 1 : -1;
	return mlops_oid_cmp(&x->id, &y->id);
}

int mlops_run_list(struct mlops_run_entry **out, size_t *n, struct mlops_repo *repo,
		   const char *name)
{
	char **names = NULL;
	size_t cnt = 0, k = 0;
	struct mlops_run_entry *runs = NULL;
	int err;
	*out = NULL;
	*n = 0;
	if ((err = mlops_ref_list(&names, &cnt, repo, "runs")) < 0)
		return err;
	runs = calloc(cnt ? cnt : 1, sizeof(*runs));
	if (!runs) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < cnt; i++) {
		char ref[300];
		if (strchr(names[i], '/'))
			continue;
		snprintf(ref, sizeof(ref), "runs/%s", names[i]);
		if ((err = mlops_ref_read(&runs[k].id, repo, ref)) < 0)
			goto done;
		if ((err = mlops_json_load(&runs[k].record, repo->odb, &runs[k].id)) < 0)
			goto done;
		const char *type = mlops_json_str(runs[k].record, "type");
		if (!type || strcmp(type, "run")) {
			char hex[MLOPS_OID_HEXSZ + 1];
			err = mlops_error_set(MLOPS_ECORRUPT, "object %s is not a run",
					      mlops_oid_fmt(hex, &runs[k].id));
			k++;
			goto done;
		}
		const char *rn = mlops_json_str(runs[k].record, "name");
		if (name && (!rn || strcmp(rn, name))) {
			cJSON_Delete(runs[k].record);
			runs[k].record = NULL;
			continue;
		}
		k++;
	}
	qsort(runs, k, sizeof(*runs), cmp_entries);
done:
	mlops_strlist_free(names, cnt);
	if (err < 0) {
		mlops_run_list_free(runs, k);
		return err;
	}
	*out = runs;
	*n = k;
	return 0;
}

int mlops_run_resolve(cJSON **record, mlops_oid *id, struct mlops_repo *repo, const char *rev)
{
	struct mlops_rev r;
	int err;
	*record = NULL;
	if ((err = mlops_rev_parse(&r, rev)) < 0)
		return err;
	if (!strncmp(rev, "r-", 2) && r.kind != MLOPS_REV_RUN)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a run id: r- and 4 to 64 hex digits",
				       rev);
	if (r.kind == MLOPS_REV_LATEST) {
		struct mlops_run_entry *runs;
		size_t n;
		if ((err = mlops_run_list(&runs, &n, repo, r.name)) < 0)
			return err;
		if (n == 0) {
			mlops_run_list_free(runs, n);
			return mlops_error_set(MLOPS_ENOTFOUND, "run '%s' not found", rev);
		}
		*record = runs[0].record;
		*id = runs[0].id;
		runs[0].record = NULL;
		mlops_run_list_free(runs, n);
		return 0;
	}
	if (r.kind != MLOPS_REV_RUN)
		return mlops_error_set(MLOPS_EUSAGE, "'%s': a run is r-<id prefix> or a run name", rev);
	const char *prefix = rev + 2;
	size_t plen = strlen(prefix), found = 0, cnt = 0;
	char **names = NULL, cands[1024] = "", match[MLOPS_OID_HEXSZ + 1] = "";
	if ((err = mlops_ref_list(&names, &cnt, repo, "runs")) < 0)
		return err;
	for (size_t i = 0; i < cnt; i++) {
		if (strlen(names[i]) != MLOPS_OID_HEXSZ || strncasecmp(names[i], prefix, plen))
			continue;
		found++;
		snprintf(match, sizeof(match), "%s", names[i]);
		size_t cl = strlen(cands);
		snprintf(cands + cl, sizeof(cands) - cl, "%sr-%.12s", found > 1 ? ", " : "", names[i]);
	}
	mlops_strlist_free(names, cnt);
	if (found == 0)
		return mlops_error_set(MLOPS_ENOTFOUND, "run '%s' not found", rev);
	if (found > 1)
		return mlops_error_set(MLOPS_EAMBIGUOUS, "'%s' is ambiguous: it could be %s", rev, cands);
	char ref[300];
	snprintf(ref, sizeof(ref), "runs/%s", match);
	if ((err = mlops_ref_read(id, repo, ref)) < 0)
		return err;
	if ((err = mlops_json_load(record, repo->odb, id)) < 0)
		return err;
	const char *type = mlops_json_str(*record, "type");
	if (!type || strcmp(type, "run")) {
		cJSON_Delete(*record);
		*record = NULL;
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a run", match);
	}
	return 0;
}

int mlops_run_log(char **out, size_t *len, struct mlops_repo *repo, const cJSON *record)
{
	mlops_oid id;
	*out = NULL;
	*len = 0;
	if (!mlops_json_str(record, "log"))
		return mlops_error_set(MLOPS_ENOTFOUND, "the run has no log");
	if (mlops_json_get_oid(&id, record, "log") < 0)
		return mlops_error_set(MLOPS_ECORRUPT, "the run's log id is malformed");
	return mlops_odb_read((void **)out, len, repo->odb, &id);
}

int mlops_builtin_detect_kind(const char **kind, struct mlops_repo *repo, const char *rev,
			      const char *target)
{
	struct mlops_run_spec spec;
	struct run_ctx c;
	struct run_dir d = { 0 };
	char *path = NULL;
	int err;
	*kind = NULL;
	memset(&spec, 0, sizeof(spec));
	spec.name = "auto";
	spec.argv = (const char *const[]){ "true", NULL };
	spec.datasets = &rev;
	spec.ndatasets = 1;
	if ((err = ctx_prepare(&c, repo, &spec)) < 0)
		return err;
	if ((err = run_dir_make(&d, &c)) == 0 && (err = materialise_inputs(&path, &c, &d)) == 0)
		err = mlops_builtin_detect_path(kind, path, target);
	free(path);
	run_dir_free(&d, 1);
	ctx_free(&c);
	return err;
}
