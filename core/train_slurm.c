/*
 * train_slurm.c - training runs on a Slurm cluster: write a job's batch
 * script, submit it with sbatch, keep the job as a pending run until it
 * ends, ask Slurm for its state (squeue, then sacct), cancel it (scancel),
 * and ingest what it left into a run record like a local run's (see
 * "Pending runs" in run.h).
 *
 * Design notes:
 *   - No shell string is built from input for us to run: Slurm's commands
 *     are spawned with an argument vector.  The batch script that the job
 *     runs is generated, and every word of it that comes from the run
 *     (paths, the command, its arguments, the environment's values) is
 *     single-quoted by mlops_sh_quote, in which every byte but NUL is
 *     literal.  The command is started through /usr/bin/env, so that it
 *     is found with execvp semantics as a local run's is, not as a shell
 *     builtin or function.
 *   - The job directory below the shared directory holds the run's
 *     inputs, params.json, output/, metrics.json, the script (job.sh), the
 *     command's output (log), Slurm's own messages (slurm.out), and the
 *     files the script writes: start ("<epoch> <host>"), end and exit
 *     ("<status> <interrupted>", renamed into place last).  An exit file
 *     means the command has ended, whatever Slurm says.
 *   - Ingesting holds an flock() on <dir>/ingest.lock, then checks that the
 *     pending ref still names the record: of two processes ingesting one
 *     job, the second finds the run the first recorded.  Objects are
 *     written and synced before the refs change under the repository
 *     lock (run.h's write protocol); the job directory goes last.
 */
#include "run.h"
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LOCK_TIMEOUT_MS 10000
#define CAPTURE_MAX (1u << 20)
#define CANCEL_WAIT_S 120.0

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

/* ---- quoting and the batch script ------------------------------------- */

static int buf_add(char **buf, size_t *len, const char *s, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);
	if (!nb)
		return oom();
	memcpy(nb + *len, s, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

static int buf_str(char **buf, size_t *len, const char *s)
{
	return buf_add(buf, len, s, strlen(s));
}

int mlops_sh_quote(char **buf, size_t *len, const char *s)
{
	int err = buf_add(buf, len, "'", 1);
	while (err == 0 && *s) {
		size_t run = strcspn(s, "'");
		if (run)
			err = buf_add(buf, len, s, run);
		s += run;
		if (err == 0 && *s == '\'') {
			err = buf_add(buf, len, "'\\''", 4);
			s++;
		}
	}
	return err ? err : buf_add(buf, len, "'", 1);
}

/* Append the quoted path <dir>/<name>. */
static int quote_path(char **buf, size_t *len, const char *dir, const char *name)
{
	char *p = mlops_path_join(dir, name);
	if (!p)
		return oom();
	int err = mlops_sh_quote(buf, len, p);
	free(p);
	return err;
}

int mlops_slurm_script(char **out, const struct mlops_slurm_script *s)
{
	char *b = NULL;
	size_t n = 0;
	int err = 0;
	*out = NULL;
	if (!s->argv || !s->argv[0])
		return mlops_error_set(MLOPS_EUSAGE, "no command to run");
	for (size_t i = 0; i < s->nenv; i++) {
		const char *eq = strchr(s->env[i], '=');
		size_t nl = eq ? (size_t)(eq - s->env[i]) : 0;
		if (!nl || isdigit((unsigned char)s->env[i][0]) ||
		    strspn(s->env[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789_") != nl)
			return mlops_error_set(MLOPS_EUSAGE, "'%.*s' is not a valid environment name",
					       (int)(eq ? nl : strlen(s->env[i])), s->env[i]);
	}
#define ADD(x) do { if (err == 0) err = buf_str(&b, &n, (x)); } while (0)
#define QUOTE(x) do { if (err == 0) err = mlops_sh_quote(&b, &n, (x)); } while (0)
#define QPATH(x) do { if (err == 0) err = quote_path(&b, &n, s->dir, (x)); } while (0)
	ADD("#!/bin/sh\n"
	    "# A training run of mlops, submitted with 'mlops train --executor slurm'.\n"
	    "exec >");
	QPATH("log");
	ADD(" 2>&1 </dev/null\n"
	    "printf '%s %s\\n' \"$(date +%s.%N)\" \"$(hostname)\" >");
	QPATH("start");
	ADD("\ncd ");
	QUOTE(s->cwd);
	ADD(" || { printf '127 0\\n' >");
	QPATH("exit");
	ADD("; exit 127; }\n");
	for (size_t i = 0; i < s->nenv; i++) {
		const char *eq = strchr(s->env[i], '=');
		ADD("export ");
		if (err == 0)
			err = buf_add(&b, &n, s->env[i], (size_t)(eq - s->env[i]) + 1);
		QUOTE(eq + 1);
		ADD("\n");
	}
	ADD("interrupted=0\n"
	    "trap 'interrupted=1' INT TERM HUP\n");
	/* env treats a first word with '=' as an assignment: run those directly. */
	if (!strchr(s->argv[0], '='))
		ADD("/usr/bin/env -- ");
	for (size_t i = 0; s->argv[i]; i++) {
		if (i)
			ADD(" ");
		QUOTE(s->argv[i]);
	}
	ADD("\nstatus=$?\n"
	    "date +%s.%N >");
	QPATH("end");
	ADD("\nprintf '%s %s\\n' \"$status\" \"$interrupted\" >");
	QPATH("exit.tmp");
	ADD(" && mv -f ");
	QPATH("exit.tmp");
	ADD(" ");
	QPATH("exit");
	ADD("\nexit \"$status\"\n");
#undef ADD
#undef QUOTE
#undef QPATH
	if (err < 0) {
		free(b);
		return err;
	}
	*out = b;
	return 0;
}

/* ---- running Slurm's commands ----------------------------------------- */

/* The environment of our own MLOPS_* variables removed (as for a local run). */
static int env_is_ours(const char *e)
{
	static const char *const ours[] = { "MLOPS_RUN_ID=", "MLOPS_PARAMS=", "MLOPS_OUTPUT=",
					    "MLOPS_METRICS=", "MLOPS_INPUT_", NULL };
	for (size_t i = 0; ours[i]; i++)
		if (!strncmp(e, ours[i], strlen(ours[i])))
			return 1;
	return 0;
}

/*
 * Run argv (posix_spawnp, stdin /dev/null) and collect its stdout and
 * stderr (each capped at 1 MiB) into *out and *errout (the caller's,
 * NUL-terminated) and its exit status into *status (-1 when killed).
 * MLOPS_ENOTFOUND when the program is not installed.
 */
static int capture(char **out, char **errout, int *status, const char *const *argv)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, err = 0, fa_init = 0;
	posix_spawn_file_actions_t fa;
	char **envp = NULL;
	size_t ne = 0, k = 0;
	pid_t pid;
	char *bufs[2] = { NULL, NULL };
	size_t lens[2] = { 0, 0 };

	*out = *errout = NULL;
	*status = -1;
	while (environ[ne])
		ne++;
	if (!(envp = calloc(ne + 1, sizeof(*envp))))
		return oom();
	for (size_t i = 0; i < ne; i++)
		if (!env_is_ours(environ[i]))
			envp[k++] = environ[i];
	if (!(bufs[0] = calloc(1, 1)) || !(bufs[1] = calloc(1, 1))) {
		err = oom();
		goto done;
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		err = mlops_error_sys(errno, "unable to create a pipe");
		goto done;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		err = oom();
		goto done;
	}
	fa_init = 1;
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pe[1], STDERR_FILENO);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
	if (rc != 0) {
		err = mlops_error_set(rc == ENOENT || rc == EACCES ? MLOPS_ENOTFOUND : MLOPS_EIO,
				      "unable to run '%s': %s%s", argv[0], strerror(rc),
				      rc == ENOENT ? " (is Slurm installed?)" : "");
		goto done;
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	struct pollfd pfd[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char chunk[4096];
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(pfd[i].fd, chunk, sizeof(chunk));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			if (lens[i] + (size_t)r <= CAPTURE_MAX && err == 0)
				err = buf_add(&bufs[i], &lens[i], chunk, (size_t)r);
		}
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			if (!err)
				err = mlops_error_sys(errno, "unable to wait for '%s'", argv[0]);
			goto done;
		}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
done:
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(envp);
	if (err < 0) {
		free(bufs[0]);
		free(bufs[1]);
		return err;
	}
	*out = bufs[0];
	*errout = bufs[1];
	return 0;
}

/* The first line of text, without trailing space, in place. */
static char *first_line(char *text)
{
	while (*text && isspace((unsigned char)*text))
		text++;
	text[strcspn(text, "\n")] = '\0';
	size_t l = strlen(text);
	while (l && isspace((unsigned char)text[l - 1]))
		text[--l] = '\0';
	return text;
}

/* A failed Slurm command: its first line of stderr as the message. */
static int slurm_failed(const char *what, char *errtext, int status)
{
	char *line = first_line(errtext);
	if (*line)
		return mlops_error_set(MLOPS_EREMOTE, "%s", line);
	return mlops_error_set(MLOPS_EREMOTE, "%s failed (exit %d)", what, status);
}

/* ---- configuration ---------------------------------------------------- */

/* opts' value, else executor.slurm.<key>; *out is the caller's or NULL. */
static int setting(char **out, struct mlops_repo *repo, const char *given, const char *key)
{
	char name[64];
	*out = NULL;
	if (given) {
		if (!(*out = strdup(given)))
			return oom();
		return 0;
	}
	snprintf(name, sizeof(name), "executor.slurm.%s", key);
	int err = mlops_config_get_string(out, repo, name);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		*out = NULL;
		return 0;
	}
	return err;
}

int mlops_slurm_shared_dir(char **out, struct mlops_repo *repo, const struct mlops_slurm_opts *opts)
{
	char *dir = NULL, abs[PATH_MAX];
	int err;
	*out = NULL;
	if ((err = setting(&dir, repo, opts ? opts->shared_dir : NULL, "shared-dir")) < 0)
		return err;
	if (!dir)
		dir = mlops_path_join(repo->tmpdir, "slurm");
	else if (dir[0] != '/') {
		char *rel = dir;
		dir = mlops_path_join(repo->workdir, rel);
		free(rel);
	}
	if (!dir)
		return oom();
	if ((err = mlops_mkdir_p(dir)) < 0) {
		free(dir);
		return err;
	}
	if (!realpath(dir, abs)) {
		err = mlops_error_sys(errno, "unable to resolve '%s'", dir);
		free(dir);
		return err;
	}
	free(dir);
	if (!(*out = strdup(abs)))
		return oom();
	return 0;
}

/* ---- submitting ------------------------------------------------------- */

static const struct {
	const char *key, *flag;
} resources[] = {
	{ "partition", "--partition=" },
	{ "gpus", "--gpus=" },
	{ "cpus", "--cpus-per-task=" },
	{ "mem", "--mem=" },
	{ "time", "--time=" },
};
#define NRES (sizeof(resources) / sizeof(resources[0]))

static const char *opt_value(const struct mlops_slurm_opts *o, size_t i)
{
	if (!o)
		return NULL;
	switch (i) {
	case 0: return o->partition;
	case 1: return o->gpus;
	case 2: return o->cpus;
	case 3: return o->mem;
	default: return o->time;
	}
}

static int write_text(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to create '%s'", path);
	int err = 0;
	if (mlops_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", path);
	if (close(fd) < 0 && !err)
		err = mlops_error_sys(errno, "unable to write '%s'", path);
	return err;
}

static void scancel_quiet(const char *job_id)
{
	const char *argv[] = { "scancel", job_id, NULL };
	char *o = NULL, *e = NULL;
	int st;
	if (capture(&o, &e, &st, argv) < 0)
		mlops_error_clear();
	free(o);
	free(e);
}

int mlops_slurm_submit(char **job_id, mlops_oid *id, struct mlops_repo *repo, cJSON *pending,
		       const char *const *argv, const char *const *env, size_t nenv,
		       const struct mlops_slurm_opts *opts)
{
	const char *dir = mlops_json_str(pending, "dir");
	const char *cwd = mlops_json_str(pending, "cwd");
	const char *name = mlops_json_str(pending, "name");
	char *vals[NRES] = { 0 }, *script = NULL, *spath = NULL, *opath = NULL, *jname = NULL;
	char *sout = NULL, *serr = NULL, *flags[NRES] = { 0 };
	const char *sargv[8 + NRES];
	struct mlops_lock *lock = NULL;
	cJSON *res;
	size_t na = 0;
	int err = 0, st, submitted = 0;

	*job_id = NULL;
	if (!dir || !cwd || !name)
		return mlops_error_set(MLOPS_EUSAGE, "the pending record lacks dir, cwd or name");
	struct mlops_slurm_script s = { dir, cwd, argv, env, nenv };
	if ((err = mlops_slurm_script(&script, &s)) < 0)
		goto done;
	if (!(spath = mlops_path_join(dir, "job.sh"))) {
		err = oom();
		goto done;
	}
	if ((err = write_text(spath, script, 0755)) < 0)
		goto done;
	/* Slurm expands %-patterns (and a backslash turns them off) in --output. */
	opath = strpbrk(dir, "%\\") ? strdup("/dev/null") : mlops_path_join(dir, "slurm.out");
	jname = mlops_strdupf("--job-name=mlops-%s", name);
	if (!opath || !jname) {
		err = oom();
		goto done;
	}
	sargv[na++] = "sbatch";
	sargv[na++] = "--parsable";
	sargv[na++] = jname;
	sargv[na++] = "--output";
	sargv[na++] = opath;
	res = cJSON_AddObjectToObject(pending, "slurm");
	if (!res) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < NRES; i++) {
		if ((err = setting(&vals[i], repo, opt_value(opts, i), resources[i].key)) < 0)
			goto done;
		if (!vals[i])
			continue;
		if (!*vals[i] || strchr(vals[i], '\n')) {
			err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid value for %s", vals[i],
					      resources[i].key);
			goto done;
		}
		if (!(flags[i] = mlops_strdupf("%s%s", resources[i].flag, vals[i]))) {
			err = oom();
			goto done;
		}
		sargv[na++] = flags[i];
		cJSON_AddStringToObject(res, resources[i].key, vals[i]);
	}
	sargv[na++] = spath;
	sargv[na] = NULL;
	if ((err = capture(&sout, &serr, &st, sargv)) < 0)
		goto done;
	if (st != 0) {
		err = slurm_failed("sbatch", serr, st);
		goto done;
	}
	char *line = first_line(sout);
	line[strcspn(line, ";")] = '\0';
	if (!*line || strspn(line, "0123456789_") != strlen(line) || strlen(line) > 64) {
		err = mlops_error_set(MLOPS_EREMOTE, "sbatch answered '%s', not a job id", line);
		goto done;
	}
	submitted = 1;
	if (!(*job_id = strdup(line))) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(pending, "job_id", *job_id);
	if ((err = mlops_json_store(id, repo->odb, pending, NULL)) < 0 ||
	    (err = mlops_odb_sync(repo->odb)) < 0 ||
	    (err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	char ref[128], msg[300];
	snprintf(ref, sizeof(ref), "runs-pending/%s", *job_id);
	snprintf(msg, sizeof(msg), "train: %s submitted as Slurm job %s", name, *job_id);
	err = mlops_ref_write(repo, ref, id, NULL, msg);
	mlops_lock_release(lock);
done:
	if (err < 0 && submitted)
		scancel_quiet(*job_id);
	if (err < 0) {
		free(*job_id);
		*job_id = NULL;
	}
	for (size_t i = 0; i < NRES; i++) {
		free(vals[i]);
		free(flags[i]);
	}
	free(script);
	free(spath);
	free(opath);
	free(jname);
	free(sout);
	free(serr);
	return err;
}

/* ---- pending runs ----------------------------------------------------- */

void mlops_pending_free(struct mlops_pending *p, size_t n)
{
	if (!p)
		return;
	for (size_t i = 0; i < n; i++) {
		free(p[i].job_id);
		cJSON_Delete(p[i].record);
	}
	free(p);
}

/* Load runs-pending/<job> into *p. */
static int pending_load(struct mlops_pending *p, struct mlops_repo *repo, const char *job)
{
	char ref[128];
	int err;
	memset(p, 0, sizeof(*p));
	snprintf(ref, sizeof(ref), "runs-pending/%s", job);
	if ((err = mlops_ref_read(&p->id, repo, ref)) < 0)
		return err;
	if ((err = mlops_json_load(&p->record, repo->odb, &p->id)) < 0)
		return err;
	const char *type = mlops_json_str(p->record, "type");
	if (!type || strcmp(type, "pending-run") || !mlops_json_str(p->record, "dir")) {
		cJSON_Delete(p->record);
		p->record = NULL;
		return mlops_error_set(MLOPS_ECORRUPT, "'%s' does not name a pending run", ref);
	}
	if (!(p->job_id = strdup(job))) {
		cJSON_Delete(p->record);
		p->record = NULL;
		return oom();
	}
	snprintf(p->state, sizeof(p->state), "UNKNOWN");
	return 0;
}

static int is_ended_state(const char *s)
{
	static const char *const ended[] = {
		"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
		"BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED", "ENDED", NULL,
	};
	for (size_t i = 0; ended[i]; i++)
		if (!strcmp(s, ended[i]))
			return 1;
	return 0;
}

static char *job_file(const struct mlops_pending *p, const char *name)
{
	return mlops_path_join(mlops_json_str(p->record, "dir"), name);
}

static int job_file_exists(const struct mlops_pending *p, const char *name)
{
	char *f = job_file(p, name);
	int r = f && access(f, F_OK) == 0;
	free(f);
	return r;
}

/*
 * Ask Slurm for the job's state into p->state: squeue (which knows jobs
 * until MinJobAge after they end), then sacct (with accounting).  A job
 * neither knows is "ENDED"; when Slurm cannot be asked, "UNKNOWN" and
 * *warning says why.
 */
static void query_state(struct mlops_pending *p, char **warning)
{
	char *o = NULL, *e = NULL;
	int st;
	const char *sq[] = { "squeue", "-h", "-t", "all", "-j", p->job_id, "-o", "%T", NULL };
	int exited = job_file_exists(p, "exit");
	if (capture(&o, &e, &st, sq) < 0) {
		if (warning && !*warning && !exited)
			*warning = strdup(mlops_error_message());
		mlops_error_clear();
		snprintf(p->state, sizeof(p->state), exited ? "ENDED" : "UNKNOWN");
		return;
	}
	char *line = first_line(o);
	if (st == 0 && *line) {
		line[strcspn(line, " ")] = '\0';
		/* The script has written its status: ended, whatever Slurm says yet. */
		snprintf(p->state, sizeof(p->state), "%s",
			 exited && !is_ended_state(line) ? "ENDED" : line);
		goto done;
	}
	if (exited) {
		snprintf(p->state, sizeof(p->state), "ENDED");
		goto done;
	}
	int gone = st == 0 || strstr(e, "Invalid job id") != NULL;
	if (!gone && warning && !*warning)
		*warning = mlops_strdupf("squeue: %s", first_line(e));
	free(o);
	free(e);
	o = e = NULL;
	const char *sa[] = { "sacct", "-n", "-P", "-X", "-j", p->job_id, "-o", "State", NULL };
	if (capture(&o, &e, &st, sa) == 0 && st == 0 && *(line = first_line(o))) {
		line[strcspn(line, " ")] = '\0';
		snprintf(p->state, sizeof(p->state), "%s", line);
	} else {
		mlops_error_clear();
		snprintf(p->state, sizeof(p->state), gone ? "ENDED" : "UNKNOWN");
	}
done:
	free(o);
	free(e);
}

static double read_num_file(const struct mlops_pending *p, const char *name, char *word,
			    size_t wlen)
{
	char *f = job_file(p, name), *text = NULL;
	size_t len;
	double v = NAN;
	if (word && wlen)
		word[0] = '\0';
	if (f && mlops_read_file(&text, &len, f) == 0) {
		char *end;
		v = strtod(text, &end);
		if (end == text)
			v = NAN;
		else if (word && wlen)
			sscanf(end, "%*[ \t]%63s", word), word[wlen - 1] = '\0';
	}
	mlops_error_clear();
	free(text);
	free(f);
	return v;
}

/* Append a file's content (when there is some) to a buffer. */
static int append_file(char **buf, size_t *len, const char *path, const char *sep)
{
	char *text = NULL;
	size_t tl = 0;
	if (mlops_read_file(&text, &tl, path) < 0) {
		mlops_error_clear();
		return 0;
	}
	int err = 0;
	if (tl && sep && *len)
		err = buf_str(buf, len, sep);
	if (err == 0 && tl)
		err = buf_add(buf, len, text, tl);
	free(text);
	return err;
}

static int find_job_run(struct mlops_run_result *res, struct mlops_repo *repo, const char *job)
{
	return mlops_run_find_job(&res->record, &res->id, repo, job);
}

/*
 * Record the ended job as a run (see run.h): res gets the run, or, for a
 * job that never started, record NULL and error_message.  The caller has
 * queried p->state.
 */
static int ingest(struct mlops_run_result *res, struct mlops_repo *repo,
		  const struct mlops_pending *p)
{
	const char *dir = mlops_json_str(p->record, "dir");
	char *lockpath = NULL, *path = NULL, *log = NULL, hex[MLOPS_OID_HEXSZ + 1];
	char host[64], ref[128], msg[300], interrupted_word[64];
	size_t loglen = 0;
	cJSON *rec = NULL, *metrics = NULL;
	struct mlops_lock *lock = NULL;
	struct mlops_node out_node;
	mlops_oid log_id, cur, key;
	int err = 0, lfd = -1, have_outputs = 0;

	if (!(lockpath = mlops_path_join(dir, "ingest.lock")))
		return oom();
	lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lfd >= 0)
		while (flock(lfd, LOCK_EX) < 0 && errno == EINTR)
			;
	/* Still pending?  Else another process has recorded it. */
	snprintf(ref, sizeof(ref), "runs-pending/%s", p->job_id);
	err = mlops_ref_read(&cur, repo, ref);
	if (err == MLOPS_ENOTFOUND || (err == 0 && mlops_oid_cmp(&cur, &p->id))) {
		mlops_error_clear();
		err = find_job_run(res, repo, p->job_id);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = 0;
			res->exit_status = 1;
			res->error = MLOPS_ERROR;
			res->error_message = mlops_strdupf("Slurm job %s ended without running",
							   p->job_id);
		}
		goto done;
	}
	if (err < 0)
		goto done;
	if (lfd < 0) {
		err = mlops_error_sys(errno, "unable to open '%s'", lockpath);
		goto done;
	}

	double start = read_num_file(p, "start", host, sizeof(host));
	double end = read_num_file(p, "end", NULL, 0);
	double status_num = read_num_file(p, "exit", interrupted_word, sizeof(interrupted_word));
	int started = !isnan(start), exit_status, interrupted;
	if (!isnan(status_num)) {
		exit_status = (int)status_num;
		interrupted = !strcmp(interrupted_word, "1");
	} else {
		/* Ended without writing its status: killed, timed out, node failure. */
		interrupted = !strcmp(p->state, "CANCELLED") || !strcmp(p->state, "TIMEOUT") ||
			      !strcmp(p->state, "PREEMPTED");
		exit_status = interrupted ? 128 + SIGTERM : 1;
	}
	if (!started) {
		/* Cancelled or failed before the command began: nothing to record. */
		if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
			goto done;
		snprintf(msg, sizeof(msg), "train: Slurm job %s ended (%s) before it started",
			 p->job_id, p->state);
		err = mlops_ref_delete(repo, ref, msg);
		mlops_lock_release(lock);
		if (err < 0)
			goto done;
		mlops_remove_tree(dir);
		res->exit_status = interrupted ? 130 : 1;
		res->error = MLOPS_ERROR;
		res->error_message = mlops_strdupf("Slurm job %s ended (%s) before its command started",
						   p->job_id, p->state);
		goto done;
	}
	if (isnan(end))
		end = start;

	/* Objects: outputs, log (the command's, then Slurm's own messages). */
	if (!(path = mlops_path_join(dir, "output"))) {
		err = oom();
		goto done;
	}
	if ((err = mlops_run_store_outputs(&out_node, &have_outputs, repo, path,
					   &res->warning)) < 0)
		goto done;
	free(path);
	if (!(path = mlops_path_join(dir, "log")) || !(log = calloc(1, 1))) {
		err = oom();
		goto done;
	}
	if ((err = append_file(&log, &loglen, path, NULL)) < 0)
		goto done;
	free(path);
	if (!(path = mlops_path_join(dir, "slurm.out"))) {
		err = oom();
		goto done;
	}
	if ((err = append_file(&log, &loglen, path, loglen && log[loglen - 1] != '\n' ? "\n" : NULL)) < 0)
		goto done;
	if ((err = mlops_odb_write(&log_id, repo->odb, log, loglen, NULL)) < 0)
		goto done;
	free(path);
	if (!(path = mlops_path_join(dir, "metrics.json"))) {
		err = oom();
		goto done;
	}
	if (!(metrics = mlops_run_read_metrics(path, &res->warning))) {
		err = oom();
		goto done;
	}

	/* The record: the pending one, less what only a pending run has. */
	if (!(rec = cJSON_Duplicate(p->record, 1))) {
		err = oom();
		goto done;
	}
	static const char *const drop[] = { "type", "dir", "cwd", "out_dir", "submitted",
					    "job_id", "slurm", "host", NULL };
	for (size_t i = 0; drop[i]; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(rec, drop[i]);
	const char *status = interrupted ? "interrupted" : exit_status == 0 ? "succeeded" : "failed";
	cJSON_AddStringToObject(rec, "type", "run");
	const char *pcwd = mlops_json_str(p->record, "cwd");
	if (pcwd) {
		char *rel = mlops_run_cwd_rel(repo, pcwd);
		if (!rel) {
			err = oom();
			goto done;
		}
		cJSON_AddStringToObject(rec, "cwd", rel);
		free(rel);
	}
	cJSON_AddNumberToObject(rec, "start", round(start * 1000.0) / 1000.0);
	cJSON_AddNumberToObject(rec, "duration", round((end - start) * 1000.0) / 1000.0);
	cJSON_AddNumberToObject(rec, "exit_status", exit_status);
	cJSON_AddStringToObject(rec, "status", status);
	cJSON_AddNumberToObject(rec, "peak_rss_kb", 0);
	if (have_outputs)
		cJSON_AddItemToObject(rec, "outputs", mlops_node_to_json(&out_node));
	cJSON_AddItemToObject(rec, "metrics", metrics);
	metrics = NULL;
	mlops_json_add_oid(rec, "log", &log_id);
	cJSON_AddStringToObject(rec, "host", *host ? host :
				(mlops_json_str(p->record, "host") ? mlops_json_str(p->record, "host") : ""));
	cJSON *sl = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p->record, "slurm"), 1);
	if (!sl)
		sl = cJSON_CreateObject();
	cJSON_AddStringToObject(sl, "job_id", p->job_id);
	/* Slurm's final state; while it has not caught up, what it will say. */
	cJSON_AddStringToObject(sl, "state", strcmp(p->state, "ENDED") ? p->state :
				interrupted ? "CANCELLED" : exit_status ? "FAILED" : "COMPLETED");
	cJSON_AddNumberToObject(sl, "submitted", mlops_json_num(p->record, "submitted", 0));
	cJSON_AddItemToObject(rec, "slurm", sl);
	if (!rec->child || mlops_json_get_oid(&key, rec, "cache_key") < 0) {
		err = mlops_error_set(MLOPS_ECORRUPT, "the pending record of job %s has no cache key",
				      p->job_id);
		goto done;
	}

	if ((err = mlops_json_store(&res->id, repo->odb, rec, NULL)) < 0 ||
	    (err = mlops_odb_sync(repo->odb)) < 0 ||
	    (err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	char rref[300];
	snprintf(rref, sizeof(rref), "runs/%s", mlops_oid_fmt(hex, &res->id));
	snprintf(msg, sizeof(msg), "train: %s %s (Slurm job %s)", mlops_json_str(rec, "name"),
		 status, p->job_id);
	err = mlops_ref_write(repo, rref, &res->id, NULL, msg);
	if (err == 0 && !strcmp(status, "succeeded")) {
		snprintf(rref, sizeof(rref), "runcache/%s", mlops_oid_fmt(hex, &key));
		err = mlops_ref_write(repo, rref, &res->id, NULL, msg);
	}
	if (err == 0)
		err = mlops_ref_delete(repo, ref, msg);
	mlops_lock_release(lock);
	if (err < 0)
		goto done;
	res->exit_status = interrupted && exit_status == 0 ? 130 : exit_status;
	res->record = rec;
	rec = NULL;
	const char *od = mlops_json_str(p->record, "out_dir");
	if (have_outputs && od && mlops_run_checkout_outputs(repo, res->record, od) < 0) {
		if (!res->warning)
			res->warning = mlops_strdupf("outputs not written to '%s': %s", od,
						     mlops_error_message());
		mlops_error_clear();
	}
	mlops_remove_tree(dir);
done:
	if (lfd >= 0)
		close(lfd);
	free(lockpath);
	free(path);
	free(log);
	cJSON_Delete(rec);
	cJSON_Delete(metrics);
	return err;
}

static int pending_cmp(const void *a, const void *b)
{
	const struct mlops_pending *x = a, *y = b;
	double sx = mlops_json_num(x->record, "submitted", 0);
	double sy = mlops_json_num(y->record, "submitted", 0);
	if (sx != sy)
		return sx < sy ? -1 : 1;
	size_t lx = strlen(x->job_id), ly = strlen(y->job_id);
	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->job_id, y->job_id);
}

int mlops_pending_list(struct mlops_pending **out, size_t *n, struct mlops_repo *repo,
		       char **warning)
{
	char **names = NULL;
	size_t cnt = 0, k = 0;
	struct mlops_pending *ps = NULL;
	int err;
	*out = NULL;
	*n = 0;
	if ((err = mlops_ref_list(&names, &cnt, repo, "runs-pending")) < 0)
		return err;
	if (!(ps = calloc(cnt ? cnt : 1, sizeof(*ps)))) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (strchr(names[i], '/'))
			continue;
		if ((err = pending_load(&ps[k], repo, names[i])) < 0) {
			if (err != MLOPS_ENOTFOUND)
				goto done;
			mlops_error_clear(); /* ingested meanwhile */
			err = 0;
			continue;
		}
		query_state(&ps[k], warning);
		if (is_ended_state(ps[k].state)) {
			struct mlops_run_result r;
			memset(&r, 0, sizeof(r));
			int ie = ingest(&r, repo, &ps[k]);
			if (ie == 0) {
				free(r.error_message);
				free(r.warning);
				free(r.job_id);
				cJSON_Delete(r.record);
				free(ps[k].job_id);
				cJSON_Delete(ps[k].record);
				memset(&ps[k], 0, sizeof(ps[k]));
				continue;
			}
			if (warning && !*warning)
				*warning = mlops_strdupf("Slurm job %s: %s", ps[k].job_id,
							 mlops_error_message());
			mlops_error_clear();
			snprintf(ps[k].state, sizeof(ps[k].state), "ENDED");
		}
		k++;
	}
	qsort(ps, k, sizeof(*ps), pending_cmp);
done:
	mlops_strlist_free(names, cnt);
	if (err < 0) {
		mlops_pending_free(ps, k);
		return err;
	}
	*out = ps;
	*n = k;
	return 0;
}

/* The newest pending run named `name` into *p. */
static int by_name_newest(struct mlops_pending *p, struct mlops_repo *repo, const char *name)
{
	struct mlops_pending *all = NULL;
	size_t n = 0, k = 0, pick = 0;
	int err;
	char **names = NULL;
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s': a pending run is a Slurm job id, "
				       "p-<id prefix> or a run name", name);
	if ((err = mlops_ref_list(&names, &n, repo, "runs-pending")) < 0)
		return err;
	if (!(all = calloc(n ? n : 1, sizeof(*all)))) {
		mlops_strlist_free(names, n);
		return oom();
	}
	for (size_t i = 0; i < n; i++) {
		if (strchr(names[i], '/') || pending_load(&all[k], repo, names[i]) < 0) {
			mlops_error_clear();
			continue;
		}
		const char *pn = mlops_json_str(all[k].record, "name");
		if (pn && !strcmp(pn, name)) {
			k++;
			continue;
		}
		free(all[k].job_id);
		cJSON_Delete(all[k].record);
		memset(&all[k], 0, sizeof(all[k]));
	}
	mlops_strlist_free(names, n);
	if (k == 0) {
		mlops_pending_free(all, k);
		return mlops_error_set(MLOPS_ENOTFOUND, "no pending run named '%s'", name);
	}
	qsort(all, k, sizeof(*all), pending_cmp);
	pick = k - 1;
	*p = all[pick];
	memset(&all[pick], 0, sizeof(all[pick]));
	mlops_pending_free(all, k);
	return 0;
}

int mlops_pending_resolve(struct mlops_pending **out, struct mlops_repo *repo, const char *rev)
{
	struct mlops_pending *p = NULL;
	char **names = NULL, match[128] = "", cands[512] = "";
	size_t cnt = 0, found = 0;
	int err;
	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return oom();
	size_t rl = strlen(rev);
	if (rl && rl < 64 && strspn(rev, "0123456789_") == rl) {
		err = pending_load(p, repo, rev);
		goto done;
	}
	int by_name = strncmp(rev, "p-", 2) || rl < 6 || rl > 66 ||
		      strspn(rev + 2, "0123456789abcdefABCDEF") != rl - 2;
	if (by_name) {
		err = by_name_newest(p, repo, rev);
		goto done;
	}
	if ((err = mlops_ref_list(&names, &cnt, repo, "runs-pending")) < 0)
		goto done;
	for (size_t i = 0; i < cnt; i++) {
		char ref[300], hex[MLOPS_OID_HEXSZ + 1];
		mlops_oid id;
		if (strchr(names[i], '/'))
			continue;
		snprintf(ref, sizeof(ref), "runs-pending/%s", names[i]);
		if (mlops_ref_read(&id, repo, ref) < 0) {
			mlops_error_clear();
			continue;
		}
		if (strncasecmp(mlops_oid_fmt(hex, &id), rev + 2, rl - 2))
			continue;
		found++;
		snprintf(match, sizeof(match), "%s", names[i]);
		size_t cl = strlen(cands);
		snprintf(cands + cl, sizeof(cands) - cl, "%sp-%.12s (job %s)", found > 1 ? ", " : "",
			 hex, names[i]);
	}
	if (found == 0)
		err = mlops_error_set(MLOPS_ENOTFOUND, "pending run '%s' not found", rev);
	else if (found > 1)
		err = mlops_error_set(MLOPS_EAMBIGUOUS, "'%s' is ambiguous: it could be %s", rev, cands);
	else
		err = pending_load(p, repo, match);
done:
	mlops_strlist_free(names, cnt);
	if (err == MLOPS_ENOTFOUND && rl && strspn(rev, "0123456789_") == rl)
		err = mlops_error_set(MLOPS_ENOTFOUND, "no pending run for Slurm job '%s'", rev);
	if (err < 0) {
		mlops_pending_free(p, 1);
		return err;
	}
	*out = p;
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poll until the job ends (or timeout), then ingest into a new result. */
static int wait_ingest(struct mlops_run_result **out, struct mlops_repo *repo,
		       const struct mlops_pending *p0, double timeout_s, const char *what)
{
	struct mlops_pending p = *p0;
	struct mlops_run_result *res;
	double t0 = mono(), interval = 0.2;
	int err, unknown = 0;
	*out = NULL;
	for (;;) {
		char *warning = NULL;
		query_state(&p, &warning);
		if (is_ended_state(p.state)) {
			free(warning);
			break;
		}
		/* Slurm that cannot be asked for a minute is an error. */
		if (!strcmp(p.state, "UNKNOWN") && ++unknown * interval > 60) {
			err = mlops_error_set(MLOPS_EREMOTE, "Slurm job %s: %s", p.job_id,
					      warning ? warning : "its state is unknown");
			free(warning);
			return err;
		}
		free(warning);
		if (timeout_s > 0 && mono() - t0 >= timeout_s)
			return mlops_error_set(MLOPS_ECHECK, "Slurm job %s has not ended after %.0f s%s",
					       p.job_id, timeout_s, what);
		sleep_s(interval);
		interval = interval * 1.5 > 10 ? 10 : interval * 1.5;
	}
	/* Slurm may know the end before a shared file system shows the files. */
	for (int i = 0; i < 10 && !job_file_exists(&p, "exit") && job_file_exists(&p, "start"); i++)
		sleep_s(0.2);
	if (!(res = calloc(1, sizeof(*res))))
		return oom();
	if ((err = ingest(res, repo, &p)) < 0) {
		mlops_run_result_free(res);
		return err;
	}
	if (!(res->job_id = strdup(p.job_id))) {
		mlops_run_result_free(res);
		return oom();
	}
	*out = res;
	return 0;
}

int mlops_pending_wait(struct mlops_run_result **out, struct mlops_repo *repo,
		       const struct mlops_pending *p, double timeout_s)
{
	return wait_ingest(out, repo, p, timeout_s, "");
}

int mlops_pending_cancel(struct mlops_run_result **out, struct mlops_repo *repo,
			 const struct mlops_pending *p)
{
	const char *argv[] = { "scancel", p->job_id, NULL };
	char *o = NULL, *e = NULL;
	int st, err;
	*out = NULL;
	if ((err = capture(&o, &e, &st, argv)) < 0)
		return err;
	if (st != 0 && !strstr(e, "Invalid job id") && !strstr(e, "already completing or completed"))
		err = slurm_failed("scancel", e, st);
	free(o);
	free(e);
	if (err < 0)
		return err;
	return wait_ingest(out, repo, p, CANCEL_WAIT_S,
			   "; 'mlops train wait' records it when it ends");
}

int mlops_run_find_job(cJSON **record, mlops_oid *id, struct mlops_repo *repo, const char *job_id)
{
	struct mlops_run_entry *runs;
	size_t n;
	int err;
	*record = NULL;
	if ((err = mlops_run_list(&runs, &n, repo, NULL)) < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		const char *j = mlops_json_str(cJSON_GetObjectItemCaseSensitive(runs[i].record, "slurm"),
					       "job_id");
		if (j && !strcmp(j, job_id)) {
			*record = runs[i].record;
			*id = runs[i].id;
			runs[i].record = NULL;
			break;
		}
	}
	mlops_run_list_free(runs, n);
	if (!*record)
		return mlops_error_set(MLOPS_ENOTFOUND, "no run of Slurm job '%s'", job_id);
	return 0;
}
