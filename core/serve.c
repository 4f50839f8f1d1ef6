/*
 * serve.c - the REST server (see serve.h): request routing on
 * libmicrohttpd, the two scoring protocols turned into one table of cells,
 * in-process prediction of built-in models, the predictor process pool,
 * the request log and the Prometheus counters.
 *
 * A request flows: handler() collects the body (refusing more than
 * max_body bytes), route() picks the endpoint, the protocol reader fills a
 * struct table (column names and, per cell, a borrowed JSON value or CSV
 * field), predict() answers it with the model it took a reference on, the
 * protocol writer renders the answer, reply() queues it and counts status
 * and latency, and the log line is appended.
 */
#include "core/serve.h"
#include "core/csv.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/csv.h"
#include "core/deploy.h"
#include "core/feature.h"
#include "core/learn.h"
#include "store/dl_mhd.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"

#ifndef MLOPS_VERSION
#define MLOPS_VERSION "0.0.0"
#endif

#define DEFAULT_MAX_BODY (8u << 20)
#define INLINE_BODY 4096
#define MAX_PREDICTOR_LINE (256u << 20)
#define CELL_SCRATCH 32
#define PREDICTOR_DIED 1000

extern char **environ;

/* ---- time ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void utc_stamp(char buf[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* ---- predictor processes ---- */

struct predictor {
	pthread_mutex_t lock;
	pid_t pid;          /* 0 when not running */
	int in, out;        /* the child's stdin (we write), stdout (we read) */
	int started;        /* ran before: the next start is a restart */
	char *buf;          /* bytes read and not yet consumed */
	size_t len, cap;
};

struct pool {
	size_t n;
	struct predictor *p;
	atomic_size_t next;
	char **argv;
	char **envp;
	char *cwd;
	unsigned timeout_ms;
	atomic_ullong *restarts;   /* the server's counter */
	/* The limit of open files the server started with: the server
	 * raises its own (connection_limit), and its children get this one
	 * back, the limit the predictor would have had run by itself. */
	struct rlimit nofile;
	int restore_nofile;
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start the child of p.  Only async-signal-safe calls after fork. */
static int predictor_spawn(struct predictor *p, struct pool *pool)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		if (in[0] >= 0) {
			close(in[0]);
			close(in[1]);
		}
		return mlops_error_sys(e, "unable to start predictor '%s'", pool->argv[0]);
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		return mlops_error_sys(e, "unable to start predictor '%s'", pool->argv[0]);
	}
	if (pid == 0) {
		sigset_t none;
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &dfl, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (pool->restore_nofile)
			setrlimit(RLIMIT_NOFILE, &pool->nofile);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || chdir(pool->cwd) < 0)
			_exit(126);
		execvpe(pool->argv[0], pool->argv, pool->envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	set_nonblock(in[1]);
	set_nonblock(out[0]);
	p->in = in[1];
	p->out = out[0];
	p->pid = pid;
	p->len = 0;
	if (p->started)
		atomic_fetch_add_explicit(pool->restarts, 1, memory_order_relaxed);
	p->started = 1;
	return 0;
}

/* Describe how the child ended into msg (it must have exited or be killed). */
static void predictor_reap(struct predictor *p, int force, char *msg, size_t msglen)
{
	int st = 0;

	if (p->pid <= 0)
		return;
	close(p->in);
	close(p->out);
	p->in = p->out = -1;
	if (force)
		kill(p->pid, SIGKILL);
	else {
		/* Give a child that got EOF a moment to end by itself. */
		for (int i = 0; i < 50; i++) {
			if (waitpid(p->pid, &st, WNOHANG) == p->pid)
				goto reaped;
			usleep(10000);
		}
		kill(p->pid, SIGKILL);
	}
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
reaped:
	if (msg) {
		if (WIFEXITED(st))
			snprintf(msg, msglen, "exited with status %d", WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			snprintf(msg, msglen, "was killed by signal %d", WTERMSIG(st));
	}
	p->pid = 0;
	p->len = 0;
}

static void pool_free(struct pool *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < pool->n; i++) {
		predictor_reap(&pool->p[i], 0, NULL, 0);
		pthread_mutex_destroy(&pool->p[i].lock);
		free(pool->p[i].buf);
	}
	free(pool->p);
	mlops_argv_free(pool->argv);
	if (pool->envp) {
		for (size_t i = 0; pool->envp[i]; i++)
			free(pool->envp[i]);
		free(pool->envp);
	}
	free(pool->cwd);
	free(pool);
}

/*
 * The environment of the predictors: ours without MLOPS_MODEL_*, plus the
 * model's directory, name and version.
 */
static char **predictor_env(const struct mlops_model_dir *md)
{
	size_t n = 0, k = 0;
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + 4, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "MLOPS_MODEL_", 12))
			continue;
		if (!(envp[k++] = strdup(environ[i])))
			goto fail;
	}
	if (!(envp[k++] = mlops_strdupf("MLOPS_MODEL_DIR=%s", md->path)) ||
	    !(envp[k++] = mlops_strdupf("MLOPS_MODEL_NAME=%s", md->name)) ||
	    !(envp[k++] = mlops_strdupf("MLOPS_MODEL_VERSION=%s", md->version)))
		goto fail;
	return envp;
fail:
	for (size_t i = 0; i < k; i++)
		free(envp[i]);
	free(envp);
	return NULL;
}

/*
 * A pool of n predictors for md, all started now; nofile (NULL: unknown)
 * is the limit of open files they start with.
 */
static int pool_new(struct pool **out, const struct mlops_model_dir *md, size_t n,
		    unsigned timeout_ms, atomic_ullong *restarts, const struct rlimit *nofile)
{
	struct pool *pool = calloc(1, sizeof(*pool));
	int err = 0;

	*out = NULL;
	if (!pool)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pool->restarts = restarts;
	if (nofile) {
		pool->nofile = *nofile;
		pool->restore_nofile = 1;
	}
	pool->timeout_ms = timeout_ms;
	if ((err = mlops_argv_split(&pool->argv, md->predict)) < 0)
		goto fail;
	pool->envp = predictor_env(md);
	pool->cwd = strdup(md->path);
	pool->p = calloc(n, sizeof(*pool->p));
	if (!pool->envp || !pool->cwd || !pool->p) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_init(&pool->p[i].lock, NULL);
		pool->p[i].in = pool->p[i].out = -1;
		pool->n++;
		if ((err = predictor_spawn(&pool->p[i], pool)) < 0)
			goto fail;
	}
	*out = pool;
	return 0;
fail:
	pool_free(pool);
	return err;
}

static struct predictor *pool_acquire(struct pool *pool)
{
	size_t start = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
	for (size_t i = 0; i < pool->n; i++) {
		struct predictor *p = &pool->p[(start + i) % pool->n];
		if (pthread_mutex_trylock(&p->lock) == 0)
			return p;
	}
	struct predictor *p = &pool->p[start % pool->n];
	pthread_mutex_lock(&p->lock);
	return p;
}

/* Milliseconds left until deadline (ns), at least 0. */
static int ms_left(uint64_t deadline)
{
	uint64_t t = now_ns();
	return t >= deadline ? 0 : (int)((deadline - t + 999999) / 1000000);
}

/*
 * Send one request line (req, len bytes, ending in '\n') and read one
 * answer line into *line (NUL-terminated, in p->buf, valid until the next
 * call; *line_len without the newline).  Returns 0, or an HTTP status:
 * 502 when the child broke the protocol, 504 on timeout, PREDICTOR_DIED
 * when it ended without answering; msg then says why.  The child is killed on every failure and started again on
 * the next call.
 */
static unsigned predictor_call(char **line, size_t *line_len, struct predictor *p,
			       struct pool *pool, const char *req, size_t len,
			       char *msg, size_t msglen)
{
	uint64_t deadline = now_ns() + (uint64_t)pool->timeout_ms * 1000000u;
	size_t off = 0, scanned = 0;
	char how[96] = "closed its output";
	int st;

	if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) {
		/* Died since the last request: forget it and start again. */
		close(p->in);
		close(p->out);
		p->pid = 0;
	}
	if (p->pid <= 0 && predictor_spawn(p, pool) < 0) {
		snprintf(msg, msglen, "%s", mlops_error_message());
		return 502;
	}
	/* Drop what an earlier answer left. */
	p->len = 0;
	while (off < len) {
		ssize_t w = write(p->in, req + off, len - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = p->in, .events = POLLOUT };
			int left = ms_left(deadline);
			if (left == 0 || poll(&pf, 1, left) == 0)
				goto timeout;
			continue;
		}
		goto died;
	}
	for (;;) {
		char *nl = p->len > scanned ? memchr(p->buf + scanned, '\n', p->len - scanned) : NULL;
		if (nl) {
			*nl = '\0';
			*line = p->buf;
			*line_len = (size_t)(nl - p->buf);
			return 0;
		}
		scanned = p->len;
		if (p->cap - p->len < 4096) {
			size_t cap = p->cap ? p->cap * 2 : 65536;
			char *b;
			if (cap > MAX_PREDICTOR_LINE) {
				snprintf(msg, msglen, "predictor answered more than %u bytes in one line",
					 MAX_PREDICTOR_LINE);
				predictor_reap(p, 1, NULL, 0);
				return 502;
			}
			if (!(b = realloc(p->buf, cap))) {
				snprintf(msg, msglen, "out of memory");
				predictor_reap(p, 1, NULL, 0);
				return 502;
			}
			p->buf = b;
			p->cap = cap;
		}
		ssize_t r = read(p->out, p->buf + p->len, p->cap - p->len - 1);
		if (r > 0) {
			p->len += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = p->out, .events = POLLIN };
			int left = ms_left(deadline);
			if (left == 0 || poll(&pf, 1, left) == 0)
				goto timeout;
			continue;
		}
		goto died;
	}
timeout:
	predictor_reap(p, 1, NULL, 0);
	snprintf(msg, msglen, "predictor '%s' did not answer within %u ms", pool->argv[0],
		 pool->timeout_ms);
	return 504;
died:
	predictor_reap(p, 0, how, sizeof(how));
	snprintf(msg, msglen, "predictor '%s' %s", pool->argv[0], how);
	return PREDICTOR_DIED;
}

/* ---- the served model ---- */

struct served {
	atomic_int refs;
	struct mlops_model_dir *md;
	struct mlops_model *model;   /* built-in, or NULL */
	struct pool *pool;           /* predictor model, or NULL */
	const char **input_names;    /* built-in: the columns a request
					carries (the design's inputs, or with
					feature transforms their raw columns) */
	size_t ninput_names;
	struct mlops_feature_transform *ft; /* features.json, or NULL */
	cJSON *features;             /* features.json without its params */
	long *input_src;             /* ft: per design input, the transform
					output it takes (>= 0), or -1 - k for
					request column input_names[k] */
	unsigned char *input_numeric;/* ft: per input_names entry */
	int classes_numeric;         /* every class label is a number */
	double *class_values;
	char *metadata;              /* GET /v2/models/NAME */
	size_t metadata_len;
	char *ready;                 /* GET /v2/models/NAME/ready */
	size_t ready_len;
	char *real;                  /* the model path resolved */
	uint64_t signature;          /* of its files' identities */
};

static void served_free(struct served *m)
{
	if (!m)
		return;
	pool_free(m->pool);
	mlops_model_free(m->model);
	mlops_model_dir_free(m->md);
	free(m->input_names);
	mlops_feature_transform_free(m->ft);
	cJSON_Delete(m->features);
	free(m->input_src);
	free(m->input_numeric);
	free(m->class_values);
	free(m->metadata);
	free(m->ready);
	free(m->real);
	free(m);
}

static void served_release(struct served *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1)
		served_free(m);
}

/* FNV-1a over bytes, for the identity of the model's files. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t stat_signature(uint64_t h, const char *path)
{
	struct stat st;
	h = fnv(h, path, strlen(path) + 1);
	if (stat(path, &st) < 0)
		return fnv(h, "-", 1);
	h = fnv(h, &st.st_dev, sizeof(st.st_dev));
	h = fnv(h, &st.st_ino, sizeof(st.st_ino));
	h = fnv(h, &st.st_size, sizeof(st.st_size));
	h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
	return h;
}

/*
 * The identity of what path names now: where it resolves and the
 * device, inode, size and time of the files that make the model.
 * *real is the caller's.
 */
static uint64_t path_signature(char **real, const char *path, const struct mlops_model_dir *md)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char *r = realpath(path, NULL);
	h = fnv(h, r ? r : "", r ? strlen(r) : 0);
	if (md) {
		for (size_t i = 0; i < md->nfiles; i++)
			h = stat_signature(h, md->sources[i]);
		char *rec = mlops_path_join(md->path, "record.json");
		if (rec)
			h = stat_signature(h, rec);
		free(rec);
		char *cur = mlops_path_join(path, "current");
		if (cur) {
			char *rc = realpath(cur, NULL);
			h = fnv(h, rc ? rc : "", rc ? strlen(rc) : 0);
			free(rc);
		}
		free(cur);
	}
	if (real)
		*real = r;
	else
		free(r);
	return h;
}

static int number_text(const char *s, double *out)
{
	char *end;
	if (!*s)
		return 0;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno == 0 && isfinite(*out);
}

static char *print_json(cJSON *v, size_t *len)
{
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	cJSON_Delete(v);
	if (s && len)
		*len = strlen(s);
	return s;
}

/* Pre-render the metadata and ready documents of m. */
static int served_render(struct served *m)
{
	cJSON *o = cJSON_CreateObject(), *ins, *outs, *vers, *t;
	const struct mlops_model *mod = m->model;

	if (!o)
		return -1;
	cJSON_AddStringToObject(o, "name", m->md->name);
	vers = cJSON_AddArrayToObject(o, "versions");
	cJSON_AddItemToArray(vers, cJSON_CreateString(m->md->version));
	cJSON_AddStringToObject(o, "platform", mod ? "mlops" : "mlops-predictor");
	ins = cJSON_AddArrayToObject(o, "inputs");
	outs = cJSON_AddArrayToObject(o, "outputs");
	if (mod && m->ft) {
		for (size_t i = 0; i < m->ninput_names; i++) {
			cJSON_AddItemToArray(ins, t = cJSON_CreateObject());
			cJSON_AddStringToObject(t, "name", m->input_names[i]);
			cJSON_AddStringToObject(t, "datatype", m->input_numeric[i] ? "FP64" : "BYTES");
			cJSON_AddItemToObject(t, "shape", cJSON_CreateIntArray((int[]){ -1 }, 1));
		}
	}
	if (mod && !m->ft) {
		for (size_t i = 0; i < mod->design.ninputs; i++) {
			const struct mlops_input *in = &mod->design.inputs[i];
			cJSON_AddItemToArray(ins, t = cJSON_CreateObject());
			cJSON_AddStringToObject(t, "name", in->name);
			cJSON_AddStringToObject(t, "datatype",
						in->type == MLOPS_INPUT_NUMERIC ? "FP64" : "BYTES");
			cJSON_AddItemToObject(t, "shape", cJSON_CreateIntArray((int[]){ -1 }, 1));
		}
	}
	if (mod) {
		cJSON_AddItemToArray(outs, t = cJSON_CreateObject());
		cJSON_AddStringToObject(t, "name", "predict");
		cJSON_AddStringToObject(t, "datatype",
					!mod->nclasses ? "FP64" : m->classes_numeric ? "FP64" : "BYTES");
		cJSON_AddItemToObject(t, "shape", cJSON_CreateIntArray((int[]){ -1 }, 1));
		if (mod->nclasses) {
			cJSON_AddItemToArray(outs, t = cJSON_CreateObject());
			cJSON_AddStringToObject(t, "name", "predict_proba");
			cJSON_AddStringToObject(t, "datatype", "FP64");
			cJSON_AddItemToObject(t, "shape",
					      cJSON_CreateIntArray((int[]){ -1, (int)mod->nclasses }, 2));
		}
		t = cJSON_AddObjectToObject(o, "parameters");
		cJSON_AddStringToObject(t, "kind", mod->kind == MLOPS_MODEL_LINEAR ? "linear" : "logistic");
		cJSON_AddStringToObject(t, "target", mod->target);
		if (mod->nclasses)
			cJSON_AddItemToObject(t, "classes",
					      cJSON_CreateStringArray((const char *const *)mod->classes,
								      (int)mod->nclasses));
		if (m->features)
			cJSON_AddItemToObject(t, "features", cJSON_Duplicate(m->features, 1));
	}
	/*
	 * A predictor model lists no inputs and no outputs: what it reads is
	 * its own, and the datatype of its answer's `predict` (FP64 when every
	 * prediction is a number, else BYTES) is known only from that answer.
	 */
	if (!(m->metadata = print_json(o, &m->metadata_len)))
		return -1;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", m->md->name);
	cJSON_AddBoolToObject(o, "ready", 1);
	return (m->ready = print_json(o, &m->ready_len)) ? 0 : -1;
}

/* Add name to the request's columns (once); its index. */
static size_t add_input_name(struct served *m, const char *name, int numeric)
{
	for (size_t k = 0; k < m->ninput_names; k++)
		if (!strcmp(m->input_names[k], name)) {
			m->input_numeric[k] &= (unsigned char)numeric;
			return k;
		}
	m->input_names[m->ninput_names] = name;
	m->input_numeric[m->ninput_names] = (unsigned char)numeric;
	return m->ninput_names++;
}

/*
 * Load the fitted feature transforms of a built-in model (features.json)
 * and bind the model's inputs: an input named like a transform output
 * takes that output, computed from the raw column it is made of; any other
 * input (a windowed aggregate, which one row cannot give, an entity or
 * time column) is a column of the request as it is.  A features.json that
 * is not in the mlops-features format is one of the model's files.
 */
static int served_features(struct served *m)
{
	const struct mlops_model *mod = m->model;
	size_t ni = mod->design.ninputs;
	cJSON *doc = NULL;
	char *text = NULL;
	size_t len;
	int err;

	if ((err = mlops_read_file(&text, &len, m->md->features_file)) < 0)
		return err;
	doc = cJSON_ParseWithLength(text, len);
	free(text);
	const char *fmt = mlops_json_str(doc, "format");
	if (!fmt || strcmp(fmt, "mlops-features")) {
		cJSON_Delete(doc);
		return 0;
	}
	if ((err = mlops_feature_transform_load(&m->ft, doc)) < 0) {
		mlops_error_wrap(err, "'%s'", m->md->features_file);
		goto done;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "params");
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "format");
	m->features = doc;
	doc = NULL;
	m->input_src = calloc(ni + 1, sizeof(long));
	m->input_numeric = calloc(ni + 1, 1);
	if (!m->input_src || !m->input_numeric) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	m->ninput_names = 0;
	const struct mlops_feature_transform *ft = m->ft;
	size_t nout = mlops_feature_transform_noutputs(ft);
	for (size_t i = 0; i < ni; i++) {
		const struct mlops_input *in = &mod->design.inputs[i];
		int numeric = in->type == MLOPS_INPUT_NUMERIC;
		size_t j = 0;
		while (j < nout && strcmp(mlops_feature_transform_output(ft, j), in->name))
			j++;
		long src = j < nout && !mlops_feature_transform_is_window(ft, j) ?
			   mlops_feature_transform_output_input(ft, j) : -1;
		if (src < 0) {
			m->input_src[i] = -1 - (long)add_input_name(m, in->name, numeric);
			continue;
		}
		const char *kind = mlops_feature_transform_output_kind(ft, j);
		if (!strcmp(kind, "one-hot"))
			numeric = 0;
		else if (strcmp(kind, "identity") && strcmp(kind, "fill-missing"))
			numeric = 1;
		add_input_name(m, mlops_feature_transform_input(ft, (size_t)src), numeric);
		m->input_src[i] = (long)j;
	}
done:
	cJSON_Delete(doc);
	return err;
}

/* Load the model that path names now (nofile: as for pool_new). */
static int served_load(struct served **out, const char *path, const struct mlops_serve_opts *opts,
		       atomic_ullong *restarts, const struct rlimit *nofile)
{
	struct served *m = calloc(1, sizeof(*m));
	char *text = NULL;
	size_t len;
	int err;

	*out = NULL;
	if (!m)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	atomic_init(&m->refs, 1);
	if ((err = mlops_model_dir_open(&m->md, path, opts->predict)) < 0)
		goto fail;
	m->signature = path_signature(&m->real, path, m->md);
	if (m->md->model_file) {
		if ((err = mlops_read_file(&text, &len, m->md->model_file)) < 0)
			goto fail;
		if ((err = mlops_model_parse(&m->model, text, len)) < 0) {
			mlops_error_wrap(err, "'%s'", m->md->model_file);
			goto fail;
		}
		const struct mlops_model *mod = m->model;
		m->input_names = calloc(mod->design.ninputs + 1, sizeof(char *));
		m->class_values = calloc(mod->nclasses + 1, sizeof(double));
		if (!m->input_names || !m->class_values) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < mod->design.ninputs; i++)
			m->input_names[i] = mod->design.inputs[i].name;
		m->ninput_names = mod->design.ninputs;
		if (m->md->features_file && (err = served_features(m)) < 0)
			goto fail;
		m->classes_numeric = mod->nclasses > 0;
		for (size_t i = 0; i < mod->nclasses; i++)
			if (!number_text(mod->classes[i], &m->class_values[i]))
				m->classes_numeric = 0;
	} else {
		if ((err = pool_new(&m->pool, m->md, opts->workers, opts->predict_timeout, restarts,
				    nofile)) < 0)
			goto fail;
	}
	if (served_render(m) < 0) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	free(text);
	*out = m;
	return 0;
fail:
	free(text);
	served_free(m);
	return err;
}

/* ---- the server ---- */

#define NBUCKETS 16
static const double bucket_le[NBUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct mlops_server {
	struct MHD_Daemon *daemon;
	int quiesced;                /* mlops_server_drain was called */
	MHD_socket listen_fd;        /* returned by MHD_quiesce_daemon */
	struct mlops_serve_opts opts;
	char *path;
	char *host;
	char *log_path;
	char *predict;
	unsigned port;

	pthread_mutex_t model_lock;
	struct served *model;

	FILE *log;
	pthread_mutex_t log_lock;
	char *log_buf;

	char start_error[256];

	atomic_ullong inflight;
	atomic_ullong status[600];
	atomic_ullong buckets[NBUCKETS + 1];
	atomic_ullong latency_ns;
	atomic_ullong rows;
	atomic_ullong reloads;
	atomic_ullong reload_failures;
	atomic_ullong restarts;
	atomic_ullong log_errors;

	struct rlimit nofile;        /* the limit of open files before it was raised */
	int nofile_known;
};

static struct served *model_get(struct mlops_server *s)
{
	pthread_mutex_lock(&s->model_lock);
	struct served *m = s->model;
	atomic_fetch_add(&m->refs, 1);
	pthread_mutex_unlock(&s->model_lock);
	return m;
}

/* ---- requests ---- */

struct request {
	uint64_t start;
	const char *allow;   /* the Allow header of a 405 answer */
	int answered;
	int too_large;
	char *body;
	size_t len, cap;
	char inline_body[INLINE_BODY];
};

static void count(struct mlops_server *s, struct request *rq, unsigned status)
{
	uint64_t ns = now_ns() - rq->start;
	double sec = (double)ns / 1e9;
	size_t b = 0;

	while (b < NBUCKETS && sec > bucket_le[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->latency_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->status[status < 600 ? status : 599], 1, memory_order_relaxed);
	rq->answered = 1;
}

/* Queue body (len bytes, malloc'd, owned) as the answer. */
static enum MHD_Result reply(struct mlops_server *s, struct MHD_Connection *c, struct request *rq,
			     unsigned status, char *body, size_t len, const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (rq->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rq->allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	count(s, rq, status);
	return ret;
}

static enum MHD_Result reply_static(struct mlops_server *s, struct MHD_Connection *c,
				    struct request *rq, unsigned status, const char *body,
				    size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	count(s, rq, status);
	return ret;
}

static enum MHD_Result reply_copy(struct mlops_server *s, struct MHD_Connection *c,
				  struct request *rq, unsigned status, const char *body, size_t len)
{
	char *b = malloc(len + 1);
	if (!b)
		return MHD_NO;
	memcpy(b, body, len);
	return reply(s, c, rq, status, b, len, "application/json");
}

static enum MHD_Result reply_error(struct mlops_server *s, struct MHD_Connection *c,
				   struct request *rq, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static enum MHD_Result reply_error(struct mlops_server *s, struct MHD_Connection *c,
				   struct request *rq, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *o;
	size_t len = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	char *body = print_json(o, &len);
	return reply(s, c, rq, status, body, len, "application/json");
}

/* ---- tables: what both protocols reduce a request to ---- */

struct table {
	size_t nrows, ncols;
	const char **names;          /* ncols */
	const cJSON **items;         /* nrows x ncols (JSON), NULL entries = missing */
	struct mlops_cellref *cells; /* nrows x ncols (CSV), NUL-terminated */
	char *csv;                   /* decoded CSV fields */
	int names_owned;
	int status;                  /* HTTP status of a failure */
	char error[400];
};

static void table_free(struct table *t)
{
	if (t->names_owned)
		free(t->names);
	free(t->items);
	free(t->cells);
	free(t->csv);
}

static int table_fail(struct table *t, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int table_fail(struct table *t, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
	t->status = status;
	return -1;
}

static int table_alloc(struct table *t, size_t nrows, size_t ncols)
{
	t->nrows = nrows;
	t->ncols = ncols;
	if (ncols && nrows > SIZE_MAX / sizeof(void *) / ncols)
		return table_fail(t, 413, "request too large");
	t->items = calloc(nrows * ncols + 1, sizeof(*t->items));
	if (!t->items)
		return table_fail(t, 500, "out of memory");
	return 0;
}

/* Positional columns: the model's own inputs. */
static int positional_names(struct table *t, const struct served *m, size_t ncols)
{
	if (!m->model)
		return table_fail(t, 400, "rows without column names need a model with known inputs");
	if (ncols != m->ninput_names)
		return table_fail(t, 400, "rows have %zu values, the model takes %zu inputs", ncols,
				  m->ninput_names);
	t->names = m->input_names;
	return 0;
}

static int set_names(struct table *t, const cJSON *cols)
{
	size_t n = (size_t)cJSON_GetArraySize(cols), i = 0;
	const cJSON *c;

	t->names = calloc(n + 1, sizeof(char *));
	if (!t->names)
		return table_fail(t, 500, "out of memory");
	t->names_owned = 1;
	cJSON_ArrayForEach(c, cols) {
		if (!cJSON_IsString(c))
			return table_fail(t, 400, "'columns' must hold strings");
		for (size_t k = 0; k < i; k++)
			if (!strcmp(t->names[k], c->valuestring))
				return table_fail(t, 400, "column '%s' appears twice", c->valuestring);
		t->names[i++] = c->valuestring;
	}
	return 0;
}

/* Rows as arrays (dataframe_split data, instances of lists). */
static int table_from_rows(struct table *t, const cJSON *rows, const cJSON *cols,
			   const struct served *m)
{
	size_t nrows = (size_t)cJSON_GetArraySize(rows), r = 0, ncols;
	const cJSON *row, *v;

	if (cols) {
		if (!cJSON_IsArray(cols))
			return table_fail(t, 400, "'columns' must be an array");
		ncols = (size_t)cJSON_GetArraySize(cols);
		if (set_names(t, cols) < 0)
			return -1;
	} else {
		const cJSON *first = rows->child;
		ncols = first && cJSON_IsArray(first) ? (size_t)cJSON_GetArraySize(first) : 0;
		if (positional_names(t, m, ncols) < 0)
			return -1;
	}
	if (table_alloc(t, nrows, ncols) < 0)
		return -1;
	cJSON_ArrayForEach(row, rows) {
		size_t c = 0;
		if (!cJSON_IsArray(row))
			return table_fail(t, 400, "row %zu is not an array", r + 1);
		cJSON_ArrayForEach(v, row) {
			if (c == ncols)
				break;
			t->items[r * ncols + c++] = v;
		}
		if (c != ncols || v)
			return table_fail(t, 400, "row %zu has %d values, expected %zu", r + 1,
					  cJSON_GetArraySize(row), ncols);
		r++;
	}
	return 0;
}

/* Rows as objects (dataframe_records, instances of objects). */
static int table_from_records(struct table *t, const cJSON *recs)
{
	size_t nrows = (size_t)cJSON_GetArraySize(recs), r = 0, ncols = 0, i = 0;
	const cJSON *rec, *v;

	if (!nrows)
		return table_alloc(t, 0, 0);
	if (!cJSON_IsObject(recs->child))
		return table_fail(t, 400, "record 1 is not an object");
	cJSON_ArrayForEach(v, recs->child)
		ncols++;
	t->names = calloc(ncols + 1, sizeof(char *));
	if (!t->names)
		return table_fail(t, 500, "out of memory");
	t->names_owned = 1;
	cJSON_ArrayForEach(v, recs->child)
		t->names[i++] = v->string;
	if (table_alloc(t, nrows, ncols) < 0)
		return -1;
	cJSON_ArrayForEach(rec, recs) {
		if (!cJSON_IsObject(rec))
			return table_fail(t, 400, "record %zu is not an object", r + 1);
		size_t n = 0, c = 0;
		/* Fast path: the same keys in the same order as the first record. */
		v = rec->child;
		for (c = 0; c < ncols && v && !strcmp(v->string, t->names[c]); c++, v = v->next)
			t->items[r * ncols + c] = v;
		if (c < ncols || v) {
			for (c = 0; c < ncols; c++) {
				v = cJSON_GetObjectItemCaseSensitive(rec, t->names[c]);
				if (!v)
					return table_fail(t, 400, "record %zu has no column '%s'", r + 1,
							  t->names[c]);
				t->items[r * ncols + c] = v;
			}
			cJSON_ArrayForEach(v, rec)
				n++;
			if (n != ncols)
				return table_fail(t, 400, "record %zu has %zu columns, expected %zu", r + 1,
						  n, ncols);
		}
		r++;
	}
	return 0;
}

/* Columns as an object of arrays ({"x1": [...], "x2": [...]}). */
static int table_from_columns(struct table *t, const cJSON *obj)
{
	size_t ncols = 0, nrows = 0, c = 0;
	const cJSON *col, *v;

	cJSON_ArrayForEach(col, obj) {
		if (!cJSON_IsArray(col))
			return table_fail(t, 400, "column '%s' is not an array", col->string);
		if (ncols++ == 0)
			nrows = (size_t)cJSON_GetArraySize(col);
		else if ((size_t)cJSON_GetArraySize(col) != nrows)
			return table_fail(t, 400, "column '%s' has %d values, expected %zu", col->string,
					  cJSON_GetArraySize(col), nrows);
	}
	t->names = calloc(ncols + 1, sizeof(char *));
	if (!t->names)
		return table_fail(t, 500, "out of memory");
	t->names_owned = 1;
	if (table_alloc(t, nrows, ncols) < 0)
		return -1;
	cJSON_ArrayForEach(col, obj) {
		size_t r = 0;
		t->names[c] = col->string;
		cJSON_ArrayForEach(v, col)
			t->items[r++ * ncols + c] = v;
		c++;
	}
	return 0;
}

/* MLflow's JSON input. */
static int table_from_mlflow(struct table *t, const cJSON *req, const struct served *m)
{
	const cJSON *v;

	if (!cJSON_IsObject(req))
		return table_fail(t, 400, "the request must be a JSON object");
	static const char *const forms[] = { "dataframe_split", "dataframe_records", "instances",
					     "inputs" };
	const char *form = NULL;
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		if (!cJSON_GetObjectItemCaseSensitive(req, forms[i]))
			continue;
		if (form)
			return table_fail(t, 400, "the request holds both '%s' and '%s': send one",
					  form, forms[i]);
		form = forms[i];
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(req, "dataframe_split"))) {
		if (!cJSON_IsObject(v))
			return table_fail(t, 400, "'dataframe_split' must be an object");
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(v, "data");
		if (!cJSON_IsArray(data))
			return table_fail(t, 400, "'dataframe_split' needs a 'data' array");
		return table_from_rows(t, data, cJSON_GetObjectItemCaseSensitive(v, "columns"), m);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(req, "dataframe_records"))) {
		if (!cJSON_IsArray(v))
			return table_fail(t, 400, "'dataframe_records' must be an array");
		return table_from_records(t, v);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(req, "instances")) ||
	    (v = cJSON_GetObjectItemCaseSensitive(req, "inputs"))) {
		if (cJSON_IsObject(v))
			return table_from_columns(t, v);
		if (!cJSON_IsArray(v))
			return table_fail(t, 400, "'%s' must be an array or an object", v->string);
		if (v->child && cJSON_IsObject(v->child))
			return table_from_records(t, v);
		if (v->child && !cJSON_IsArray(v->child)) {
			/* A list of scalars: one input. */
			size_t n = (size_t)cJSON_GetArraySize(v), r = 0;
			const cJSON *x;
			if (positional_names(t, m, 1) < 0 || table_alloc(t, n, 1) < 0)
				return -1;
			cJSON_ArrayForEach(x, v)
				t->items[r++] = x;
			return 0;
		}
		return table_from_rows(t, v, NULL, m);
	}
	return table_fail(t, 400, "expected one of 'dataframe_split', 'dataframe_records', "
			  "'instances' or 'inputs'");
}

/* A string member, or NULL. */
static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Count the leaves of nested arrays; -1 when deeper than 8. */
static long count_leaves(const cJSON *v, int depth)
{
	long n = 0;
	const cJSON *x;

	if (!cJSON_IsArray(v))
		return 1;
	if (depth > 8)
		return -1;
	cJSON_ArrayForEach(x, v) {
		long k = count_leaves(x, depth + 1);
		if (k < 0)
			return -1;
		n += k;
	}
	return n;
}

static void fill_leaves(const cJSON *v, const cJSON **dst, size_t stride, size_t *i)
{
	const cJSON *x;

	if (!cJSON_IsArray(v)) {
		dst[(*i)++ * stride] = v;
		return;
	}
	cJSON_ArrayForEach(x, v)
		fill_leaves(x, dst, stride, i);
}

/*
 * KServe V2's datatypes and the values each holds.  An integer type takes
 * whole numbers from lo to hi; the bounds of INT64 and UINT64 are compared
 * as the doubles JSON numbers are read into, where 2^63 - 1 is 2^63, so a
 * value that rounds to them is taken.  A floating-point type takes the
 * numbers that do not round to infinity in it (below `over` in magnitude:
 * its largest value and half a unit in the last place).
 */
enum dt_kind { DT_BYTES, DT_BOOL, DT_INT, DT_FLOAT };
struct datatype {
	const char *name;
	enum dt_kind kind;
	double lo, hi;            /* DT_INT: the range */
	double over;              /* DT_FLOAT: the magnitude that rounds to infinity */
	const char *lo_text, *hi_text;   /* the range as text; DT_FLOAT: the largest value */
};

static const struct datatype datatypes[] = {
	{ "BYTES", DT_BYTES, 0, 0, 0, NULL, NULL },
	{ "BOOL", DT_BOOL, 0, 0, 0, NULL, NULL },
	{ "UINT8", DT_INT, 0, 255, 0, "0", "255" },
	{ "UINT16", DT_INT, 0, 65535, 0, "0", "65535" },
	{ "UINT32", DT_INT, 0, 4294967295.0, 0, "0", "4294967295" },
	{ "UINT64", DT_INT, 0, 18446744073709551616.0, 0, "0", "18446744073709551615" },
	{ "INT8", DT_INT, -128, 127, 0, "-128", "127" },
	{ "INT16", DT_INT, -32768, 32767, 0, "-32768", "32767" },
	{ "INT32", DT_INT, -2147483648.0, 2147483647.0, 0, "-2147483648", "2147483647" },
	{ "INT64", DT_INT, -9223372036854775808.0, 9223372036854775808.0, 0,
	  "-9223372036854775808", "9223372036854775807" },
	/* largest (2 - 2^-10) * 2^15, rounding to infinity from (2 - 2^-11) * 2^15 */
	{ "FP16", DT_FLOAT, 0, 0, 65520, NULL, "65504" },
	/* largest (2 - 2^-23) * 2^127, to infinity from (2 - 2^-24) * 2^127 */
	{ "FP32", DT_FLOAT, 0, 0, 0x1.ffffffp127, NULL, "3.4028234663852886e+38" },
	/* largest (2 - 2^-7) * 2^127, to infinity from (2 - 2^-8) * 2^127 */
	{ "BF16", DT_FLOAT, 0, 0, 0x1.ffp127, NULL, "3.3895313892515355e+38" },
	{ "FP64", DT_FLOAT, 0, 0, 0, NULL, NULL },
};

/* The shortest of %.15g, %.16g and %.17g that reads back as v. */
static const char *shortest_text(char buf[32], double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* Check that a tensor's values match its datatype. */
static int check_datatype(struct table *t, const char *name, const char *dt,
			  const cJSON *const *items, size_t n, size_t stride)
{
	const struct datatype *d = NULL;
	char num[32];

	for (size_t i = 0; !d && i < sizeof(datatypes) / sizeof(*datatypes); i++)
		if (!strcmp(dt, datatypes[i].name))
			d = &datatypes[i];
	if (!d)
		return table_fail(t, 400, "input '%s' has unknown datatype '%s'", name, dt);
	for (size_t i = 0; i < n; i++) {
		const cJSON *v = items[i * stride];
		int ok = cJSON_IsNull(v) || (d->kind == DT_BYTES ? cJSON_IsString(v) :
					     d->kind == DT_BOOL ? cJSON_IsBool(v) : cJSON_IsNumber(v));
		if (!ok)
			return table_fail(t, 400, "input '%s' of datatype %s holds %s at position %zu",
					  name, dt, cJSON_IsString(v) ? "a string" :
					  cJSON_IsNumber(v) ? "a number" : cJSON_IsBool(v) ? "a boolean" :
					  "an array or object", i);
		if (!cJSON_IsNumber(v))
			continue;
		double x = v->valuedouble;
		if (d->kind == DT_INT && !(x >= d->lo && x <= d->hi && x == floor(x)))
			return table_fail(t, 400, "input '%s' of datatype %s holds %s at position %zu, "
					  "not a whole number from %s to %s", name, dt,
					  shortest_text(num, x), i, d->lo_text, d->hi_text);
		if (d->kind == DT_FLOAT && d->over && !(fabs(x) < d->over))
			return table_fail(t, 400, "input '%s' of datatype %s holds %s at position %zu, "
					  "beyond its largest value %s", name, dt,
					  shortest_text(num, x), i, d->hi_text);
	}
	return 0;
}

static int tensor_shape(struct table *t, const cJSON *tensor, const char *name, long shape[2],
			int *ndim)
{
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(tensor, "shape"), *d;
	*ndim = 0;
	if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) < 1 || cJSON_GetArraySize(sh) > 2)
		return table_fail(t, 400, "input '%s' needs a shape of [rows] or [rows, columns]",
				  name);
	cJSON_ArrayForEach(d, sh) {
		if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e9 ||
		    d->valuedouble != floor(d->valuedouble))
			return table_fail(t, 400, "input '%s' has a bad shape", name);
		shape[(*ndim)++] = (long)d->valuedouble;
	}
	if (*ndim == 1)
		shape[1] = 1;
	return 0;
}

/*
 * What a built-in model reads from the request column `name`: 1 a number,
 * 0 text (a category), -1 not a column it reads (or a predictor model).
 */
static int column_numeric(const struct served *m, const char *name)
{
	if (!m->model)
		return -1;
	if (m->ft) {
		for (size_t k = 0; k < m->ninput_names; k++)
			if (!strcmp(m->input_names[k], name))
				return m->input_numeric[k];
		return -1;
	}
	for (size_t i = 0; i < m->model->design.ninputs; i++)
		if (!strcmp(m->model->design.inputs[i].name, name))
			return m->model->design.inputs[i].type == MLOPS_INPUT_NUMERIC;
	return -1;
}

static int datatype_numeric(const char *dt)
{
	return strcmp(dt, "BYTES") && strcmp(dt, "BOOL");
}

/* KServe V2's inference request. */
static int table_from_v2(struct table *t, const cJSON *req, const struct served *m)
{
	const cJSON *inputs, *tensor;
	size_t ntensors, c = 0;

	if (!cJSON_IsObject(req))
		return table_fail(t, 400, "the request must be a JSON object");
	inputs = cJSON_GetObjectItemCaseSensitive(req, "inputs");
	if (!cJSON_IsArray(inputs) || !inputs->child)
		return table_fail(t, 400, "'inputs' must be a non-empty array of tensors");
	ntensors = (size_t)cJSON_GetArraySize(inputs);
	long first[2];
	int ndim;
	const char *name0 = json_str(inputs->child, "name");
	if (!cJSON_IsObject(inputs->child) || !name0)
		return table_fail(t, 400, "input 1 needs a 'name'");
	if (tensor_shape(t, inputs->child, name0, first, &ndim) < 0)
		return -1;
	if (ntensors == 1 && ndim == 2 && first[1] > 1) {
		/* One [rows, columns] tensor, columns in the model's input order. */
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(inputs->child, "data");
		const cJSON *dt = cJSON_GetObjectItemCaseSensitive(inputs->child, "datatype");
		if (positional_names(t, m, (size_t)first[1]) < 0)
			return -1;
		if (!cJSON_IsString(dt))
			return table_fail(t, 400, "input '%s' needs a 'datatype'", name0);
		if (count_leaves(data, 0) != first[0] * first[1] || !cJSON_IsArray(data))
			return table_fail(t, 400, "input '%s' has %ld values, its shape says %ld", name0,
					  count_leaves(data, 0), first[0] * first[1]);
		if (table_alloc(t, (size_t)first[0], (size_t)first[1]) < 0)
			return -1;
		size_t i = 0;
		fill_leaves(data, t->items, 1, &i);
		return check_datatype(t, name0, dt->valuestring, t->items, i, 1);
	}
	t->names = calloc(ntensors + 1, sizeof(char *));
	if (!t->names)
		return table_fail(t, 500, "out of memory");
	t->names_owned = 1;
	if (table_alloc(t, (size_t)first[0], ntensors) < 0)
		return -1;
	cJSON_ArrayForEach(tensor, inputs) {
		const char *name = cJSON_IsObject(tensor) ? json_str(tensor, "name") : NULL;
		const cJSON *data = cJSON_GetObjectItemCaseSensitive(tensor, "data");
		const cJSON *dt = cJSON_GetObjectItemCaseSensitive(tensor, "datatype");
		long shape[2];
		size_t i = 0;

		if (!name)
			return table_fail(t, 400, "input %zu needs a 'name'", c + 1);
		for (size_t k = 0; k < c; k++)
			if (!strcmp(t->names[k], name))
				return table_fail(t, 400, "input '%s' appears twice", name);
		if (tensor_shape(t, tensor, name, shape, &ndim) < 0)
			return -1;
		if (shape[1] != 1 || shape[0] != first[0]) {
			char sent[64];
			if (ndim == 1)
				snprintf(sent, sizeof(sent), "[%ld]", shape[0]);
			else
				snprintf(sent, sizeof(sent), "[%ld, %ld]", shape[0], shape[1]);
			return table_fail(t, 400, "input '%s' has shape %s, expected [%ld] or [%ld, 1] "
					  "like the first input", name, sent, first[0], first[0]);
		}
		if (!cJSON_IsString(dt))
			return table_fail(t, 400, "input '%s' needs a 'datatype'", name);
		int want = column_numeric(m, name);
		if (want >= 0 && want != datatype_numeric(dt->valuestring))
			return table_fail(t, 400, "input '%s' has datatype %s, the model takes %s",
					  name, dt->valuestring, want ? "FP64" : "BYTES");
		if (!cJSON_IsArray(data) || count_leaves(data, 0) != shape[0])
			return table_fail(t, 400, "input '%s' has %ld values, its shape says %ld", name,
					  cJSON_IsArray(data) ? count_leaves(data, 0) : 0, shape[0]);
		fill_leaves(data, t->items + c, t->ncols, &i);
		if (check_datatype(t, name, dt->valuestring, t->items + c, i, t->ncols) < 0)
			return -1;
		t->names[c++] = name;
	}
	return 0;
}

/*
 * CSV with a header line (RFC 4180: quotes, doubled quotes, CRLF).
 * Fields are decoded into t->csv, each NUL-terminated.
 */
static int table_from_csv(struct table *t, const char *body, size_t len)
{
	size_t cap = 64, n = 0, ncols = 0, line = 1, nrows;
	const char *p = body, *end = body + len;
	char *o;
	struct mlops_cellref *cells = NULL;

	if (!(t->csv = malloc(len + 1)) || !(cells = malloc(cap * sizeof(*cells))))
		goto oom;
	o = t->csv;
	while (p < end) {
		size_t fields = 0;
		for (;;) {
			const char *start = o;
			if (p < end && *p == '"') {
				p++;
				for (;;) {
					if (p >= end) {
						free(cells);
						return table_fail(t, 400, "line %zu: unterminated quote", line);
					}
					if (*p == '"') {
						if (p + 1 < end && p[1] == '"') {
							*o++ = '"';
							p += 2;
							continue;
						}
						p++;
						break;
					}
					if (*p == '\n')
						line++;
					*o++ = *p++;
				}
				if (p < end && *p != ',' && *p != '\n' && *p != '\r') {
					free(cells);
					return table_fail(t, 400, "line %zu: text after a closing quote", line);
				}
			} else {
				while (p < end && *p != ',' && *p != '\n' && *p != '\r')
					*o++ = *p++;
			}
			*o++ = '\0';
			if (n == cap) {
				struct mlops_cellref *b = realloc(cells, (cap *= 2) * sizeof(*cells));
				if (!b)
					goto oom;
				cells = b;
			}
			cells[n].ptr = start;
			cells[n++].len = (size_t)(o - start - 1);
			fields++;
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			break;
		}
		if (p < end && *p == '\r')
			p++;
		if (p < end && *p == '\n')
			p++;
		if (line == 1)
			ncols = fields;
		else if (fields == 1 && cells[n - 1].len == 0)
			n--; /* a blank line */
		else if (fields != ncols) {
			free(cells);
			return table_fail(t, 400, "line %zu has %zu fields, the header %zu", line, fields,
					  ncols);
		}
		line++;
	}
	if (!ncols) {
		free(cells);
		return table_fail(t, 400, "the CSV body needs a header line");
	}
	nrows = n / ncols - 1;
	t->names = calloc(ncols + 1, sizeof(char *));
	if (!t->names)
		goto oom;
	t->names_owned = 1;
	for (size_t c = 0; c < ncols; c++) {
		t->names[c] = cells[c].ptr;
		for (size_t k = 0; k < c; k++)
			if (!strcmp(t->names[k], t->names[c])) {
				free(cells);
				return table_fail(t, 400, "column '%s' appears twice", t->names[c]);
			}
	}
	memmove(cells, cells + ncols, nrows * ncols * sizeof(*cells));
	t->cells = cells;
	t->nrows = nrows;
	t->ncols = ncols;
	return 0;
oom:
	free(cells);
	return table_fail(t, 500, "out of memory");
}

/* ---- prediction ---- */

struct answer {
	size_t nrows;
	struct mlops_prediction *pred;  /* built-in */
	double *proba;                  /* built-in classification: nrows x k */
	cJSON *reply;                   /* predictor: its answer */
	const cJSON *preds;             /* predictor: the predictions in it */
	int status;
	char error[512];
};

/* One JSON value as a raw field; scratch holds number text. */
static int item_field(struct mlops_cellref *f, char *scratch, const cJSON *v)
{
	if (!v || cJSON_IsNull(v)) {
		f->ptr = "";
		f->len = 0;
	} else if (cJSON_IsString(v)) {
		f->ptr = v->valuestring;
		f->len = strlen(v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		int n = snprintf(scratch, CELL_SCRATCH, "%.17g", v->valuedouble);
		f->ptr = scratch;
		f->len = (size_t)n;
	} else if (cJSON_IsBool(v)) {
		f->ptr = cJSON_IsTrue(v) ? "true" : "false";
		f->len = strlen(f->ptr);
	} else {
		return -1;
	}
	return 0;
}

static int answer_fail(struct answer *a, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int answer_fail(struct answer *a, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->error, sizeof(a->error), fmt, ap);
	va_end(ap);
	a->status = status;
	return -1;
}

/* Round up to a multiple of 16 bytes. */
static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * A built-in model behind feature transforms: each raw row goes through
 * mlops_feature_transform_apply_fields(), which gives the values as the
 * feature table the model was trained on holds them, then through the
 * model.  Columns of the request are bound once; the buffers live on the
 * stack unless the model is wide.
 */
static int predict_features(struct answer *a, const struct served *m, const struct table *t)
{
	const struct mlops_model *mod = m->model;
	const struct mlops_feature_transform *ft = m->ft;
	size_t ni = mod->design.ninputs, k = mod->nclasses, nn = m->ninput_names;
	size_t nti = mlops_feature_transform_ninputs(ft), nto = mlops_feature_transform_noutputs(ft);
	union {
		double align;
		char bytes[16384];
	} stack;
	size_t o_work = 0;
	size_t o_outf = o_work + align16(mlops_feature_transform_work_size(ft));
	size_t o_inf = o_outf + align16(nto * sizeof(struct mlops_csv_field));
	size_t o_tpos = o_inf + align16(nti * sizeof(struct mlops_csv_field));
	size_t o_pos = o_tpos + align16(nti * sizeof(long));
	size_t o_raw = o_pos + align16(nn * sizeof(size_t));
	size_t o_fields = o_raw + align16(nn * sizeof(struct mlops_cellref));
	size_t o_scratch = o_fields + align16(ni * sizeof(struct mlops_cellref));
	size_t total = o_scratch + (nti + nn) * CELL_SCRATCH;
	char *buf = total <= sizeof(stack.bytes) ? stack.bytes : malloc(total);
	int ret = -1;

	if (!buf)
		return answer_fail(a, 500, "out of memory");
	struct mlops_csv_field *outf = (struct mlops_csv_field *)(buf + o_outf);
	struct mlops_csv_field *inf = (struct mlops_csv_field *)(buf + o_inf);
	long *tpos = (long *)(buf + o_tpos);
	size_t *pos = (size_t *)(buf + o_pos);
	struct mlops_cellref *raw = (struct mlops_cellref *)(buf + o_raw);
	struct mlops_cellref *fields = (struct mlops_cellref *)(buf + o_fields);
	char *tscratch = buf + o_scratch, *rscratch = tscratch + nti * CELL_SCRATCH;

	/* Every column the model needs must be there; other raw inputs may be. */
	for (size_t i = 0; i < nn; i++) {
		size_t c = 0;
		while (c < t->ncols && strcmp(t->names[c], m->input_names[i]))
			c++;
		if (c == t->ncols) {
			const char *name = m->input_names[i];
			int window = 0;
			for (size_t j = 0; j < nto; j++)
				if (!strcmp(mlops_feature_transform_output(ft, j), name))
					window = mlops_feature_transform_is_window(ft, j);
			if (window)
				answer_fail(a, 400, "missing column '%s': a windowed aggregate over the "
					    "entity's history cannot be computed from one row; send its "
					    "value (mlops feature get)", name);
			else
				answer_fail(a, 400, "missing column '%s'", name);
			goto done;
		}
		pos[i] = c;
	}
	for (size_t i = 0; i < nti; i++) {
		const char *name = mlops_feature_transform_input(ft, i);
		tpos[i] = -1;
		for (size_t c = 0; c < t->ncols; c++)
			if (!strcmp(t->names[c], name))
				tpos[i] = (long)c;
	}
	a->nrows = t->nrows;
	a->pred = malloc((t->nrows + 1) * sizeof(*a->pred));
	if (k)
		a->proba = malloc((t->nrows * k + 1) * sizeof(double));
	if (!a->pred || (k && !a->proba)) {
		answer_fail(a, 500, "out of memory");
		goto done;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		const struct mlops_cellref *row = t->cells ? t->cells + r * t->ncols : NULL;
		const cJSON *const *items = t->items ? t->items + r * t->ncols : NULL;
		size_t bad = SIZE_MAX;
		for (size_t i = 0; i < nti && bad == SIZE_MAX; i++) {
			struct mlops_cellref f = { "", 0 };
			if (tpos[i] >= 0 && row)
				f = row[tpos[i]];
			else if (tpos[i] >= 0 && item_field(&f, tscratch + i * CELL_SCRATCH, items[tpos[i]]) < 0)
				bad = (size_t)tpos[i];
			inf[i].ptr = f.ptr;
			inf[i].len = f.len;
		}
		for (size_t i = 0; i < nn && bad == SIZE_MAX; i++) {
			if (row)
				raw[i] = row[pos[i]];
			else if (item_field(&raw[i], rscratch + i * CELL_SCRATCH, items[pos[i]]) < 0)
				bad = pos[i];
		}
		if (bad != SIZE_MAX) {
			answer_fail(a, 400, "row %zu: column '%s' holds an array or object, expected a "
				    "number or a string", r + 1, t->names[bad]);
			goto done;
		}
		if (mlops_feature_transform_apply_fields(outf, buf + o_work, ft, inf) < 0) {
			answer_fail(a, mlops_error_code() == MLOPS_EINVALID ? 400 : 500, "row %zu: %s",
				    r + 1, mlops_error_message());
			goto done;
		}
		for (size_t i = 0; i < ni; i++) {
			long src = m->input_src[i];
			if (src >= 0) {
				fields[i].ptr = outf[src].ptr;
				fields[i].len = outf[src].len;
			} else {
				fields[i] = raw[-1 - src];
			}
		}
		if (mlops_model_predict_row(&a->pred[r], k ? a->proba + r * k : NULL, mod, fields) < 0) {
			answer_fail(a, mlops_error_code() == MLOPS_EINVALID ? 400 : 500, "row %zu: %s",
				    r + 1, mlops_error_message());
			goto done;
		}
	}
	ret = 0;
done:
	if (buf != stack.bytes)
		free(buf);
	return ret;
}

/*
 * A JSON request to a built-in model: a column the model reads as a number
 * must hold numbers (or null, missing); a string or a boolean there is an
 * error naming the column, not text parsed as a number.
 */
static int check_json_types(struct answer *a, const struct served *m, const struct table *t)
{
	if (!m->model || t->cells || !t->items)
		return 0;
	for (size_t c = 0; c < t->ncols; c++) {
		if (column_numeric(m, t->names[c]) != 1)
			continue;
		for (size_t r = 0; r < t->nrows; r++) {
			const cJSON *v = t->items[r * t->ncols + c];
			if (v && (cJSON_IsString(v) || cJSON_IsBool(v)))
				return answer_fail(a, 400, "row %zu: column '%s' holds %s, expected a "
						   "number", r + 1, t->names[c],
						   cJSON_IsString(v) ? "a string" : "a boolean");
		}
	}
	return 0;
}

static int predict_builtin(struct answer *a, const struct served *m, const struct table *t)
{
	const struct mlops_model *mod = m->model;
	size_t ni = mod->design.ninputs, k = mod->nclasses;
	size_t stack_pos[64];
	struct mlops_cellref stack_fields[64];
	char stack_scratch[64 * CELL_SCRATCH];
	size_t *pos = stack_pos;
	struct mlops_cellref *fields = stack_fields;
	char *scratch = stack_scratch;
	void *heap = NULL;
	int ret = -1;

	if (m->ft)
		return predict_features(a, m, t);
	if (ni > 64) {
		heap = malloc(ni * (sizeof(size_t) + sizeof(*fields) + CELL_SCRATCH));
		if (!heap)
			return answer_fail(a, 500, "out of memory");
		pos = heap;
		fields = (struct mlops_cellref *)(pos + ni);
		scratch = (char *)(fields + ni);
	}
	if (mlops_design_bind(pos, &mod->design, t->names, t->ncols) < 0) {
		answer_fail(a, 400, "%s", mlops_error_message());
		goto done;
	}
	a->nrows = t->nrows;
	a->pred = malloc((t->nrows + 1) * sizeof(*a->pred));
	if (k)
		a->proba = malloc((t->nrows * k + 1) * sizeof(double));
	if (!a->pred || (k && !a->proba)) {
		answer_fail(a, 500, "out of memory");
		goto done;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < ni; i++) {
			size_t at = r * t->ncols + pos[i];
			if (t->cells) {
				fields[i] = t->cells[at];
			} else if (item_field(&fields[i], scratch + i * CELL_SCRATCH, t->items[at]) < 0) {
				answer_fail(a, 400, "row %zu: column '%s' holds an array or object, "
					    "expected a number or a string", r + 1, mod->design.inputs[i].name);
				goto done;
			}
		}
		if (mlops_model_predict_row(&a->pred[r], k ? a->proba + r * k : NULL, mod, fields) < 0) {
			answer_fail(a, mlops_error_code() == MLOPS_EINVALID ? 400 : 500, "row %zu: %s",
				    r + 1, mlops_error_message());
			goto done;
		}
	}
	ret = 0;
done:
	free(heap);
	return ret;
}

static cJSON *exact_number(double v);

/* The table as {"columns": [...], "data": [[...]]}, values referenced or copied. */
static cJSON *table_json(const struct table *t)
{
	cJSON *o = cJSON_CreateObject(), *cols, *data;

	if (!o)
		return NULL;
	cols = cJSON_AddArrayToObject(o, "columns");
	data = cJSON_AddArrayToObject(o, "data");
	for (size_t c = 0; c < t->ncols; c++)
		cJSON_AddItemToArray(cols, cJSON_CreateStringReference(t->names[c]));
	for (size_t r = 0; r < t->nrows; r++) {
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(data, row);
		for (size_t c = 0; c < t->ncols; c++) {
			size_t at = r * t->ncols + c;
			if (t->cells) {
				double d;
				const char *s = t->cells[at].ptr;
				cJSON_AddItemToArray(row, !*s ? cJSON_CreateNull() :
						     number_text(s, &d) ? exact_number(d) :
						     cJSON_CreateStringReference(s));
			} else {
				/*
				 * Numbers in text that reads back (cJSON's %.15g
				 * wrote DBL_MAX as 1.79769313486232e+308, which
				 * reads back as inf).
				 */
				const cJSON *v = t->items[at];
				if (!v || cJSON_IsNull(v))
					cJSON_AddItemToArray(row, cJSON_CreateNull());
				else if (cJSON_IsNumber(v))
					cJSON_AddItemToArray(row, exact_number(v->valuedouble));
				else
					cJSON_AddItemReferenceToArray(row, (cJSON *)v);
			}
		}
	}
	return o;
}

static int predict_process(struct answer *a, const struct served *m, const struct table *t)
{
	cJSON *req = table_json(t);
	char *text = req ? cJSON_PrintUnformatted(req) : NULL, *line = NULL;
	size_t len, line_len = 0;
	int ret = -1;
	unsigned status;
	struct predictor *p;

	cJSON_Delete(req);
	if (!text)
		return answer_fail(a, 500, "out of memory");
	len = strlen(text);
	text[len] = '\n';   /* cJSON's buffer holds the NUL: room for the newline */
	p = pool_acquire(m->pool);
	status = predictor_call(&line, &line_len, p, m->pool, text, len + 1, a->error,
				sizeof(a->error));
	if (status == PREDICTOR_DIED) {
		/* Predictions are pure: ask a fresh child once more. */
		status = predictor_call(&line, &line_len, p, m->pool, text, len + 1, a->error,
					sizeof(a->error));
	}
	if (status == PREDICTOR_DIED)
		status = 502;
	if (status) {
		a->status = (int)status;
		goto done;
	}
	a->reply = cJSON_ParseWithLength(line, line_len);
	p->len = 0;
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(a->reply, "error");
	if (cJSON_IsString(err)) {
		answer_fail(a, 400, "%s", err->valuestring);
		goto done;
	}
	a->preds = cJSON_GetObjectItemCaseSensitive(a->reply, "predictions");
	if (!cJSON_IsArray(a->preds) || (size_t)cJSON_GetArraySize(a->preds) != t->nrows) {
		answer_fail(a, 502, "predictor '%s' broke the protocol: expected "
			    "{\"predictions\": [...]} with %zu values", m->pool->argv[0], t->nrows);
		predictor_reap(p, 1, NULL, 0);
		goto done;
	}
	a->nrows = t->nrows;
	ret = 0;
done:
	pthread_mutex_unlock(&p->lock);
	free(text);
	return ret;
}

static void answer_free(struct answer *a)
{
	free(a->pred);
	free(a->proba);
	cJSON_Delete(a->reply);
}

/*
 * A number that reads back bit for bit: the shortest of %.15g, %.16g and
 * %.17g that round-trips (cJSON's own printer settles for "close").
 * Non-finite values become null.
 */
static cJSON *exact_number(double v)
{
	char buf[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	return cJSON_CreateRaw(shortest_text(buf, v));
}

/* The predictions as a JSON array: values, or class labels. */
static cJSON *predictions_json(const struct answer *a, const struct served *m)
{
	cJSON *arr;

	if (a->preds)
		return cJSON_Duplicate(a->preds, 1);
	arr = cJSON_CreateArray();
	for (size_t r = 0; arr && r < a->nrows; r++) {
		const struct mlops_prediction *p = &a->pred[r];
		cJSON_AddItemToArray(arr, !m->model->nclasses ? exact_number(p->value) :
				     m->classes_numeric ? exact_number(m->class_values[p->class_index]) :
				     cJSON_CreateStringReference(p->label));
	}
	return arr;
}

static int all_numbers(const cJSON *arr)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, arr)
		if (!cJSON_IsNumber(v))
			return 0;
	return 1;
}

/* KServe V2's answer. */
static cJSON *v2_answer(const struct answer *a, const struct served *m, cJSON *preds,
			const cJSON *req)
{
	cJSON *o = cJSON_CreateObject(), *outs, *t;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	double nrows = (double)a->nrows;

	cJSON_AddStringToObject(o, "model_name", m->md->name);
	cJSON_AddStringToObject(o, "model_version", m->md->version);
	if (cJSON_IsString(id))
		cJSON_AddStringToObject(o, "id", id->valuestring);
	outs = cJSON_AddArrayToObject(o, "outputs");
	cJSON_AddItemToArray(outs, t = cJSON_CreateObject());
	cJSON_AddStringToObject(t, "name", "predict");
	cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(&nrows, 1));
	cJSON_AddStringToObject(t, "datatype", m->model ? (!m->model->nclasses || m->classes_numeric ?
							   "FP64" : "BYTES") :
				all_numbers(preds) ? "FP64" : "BYTES");
	cJSON_AddItemReferenceToObject(t, "data", preds);
	if (a->proba) {
		size_t k = m->model->nclasses;
		double shape[2] = { nrows, (double)k };
		cJSON_AddItemToArray(outs, t = cJSON_CreateObject());
		cJSON_AddStringToObject(t, "name", "predict_proba");
		cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(shape, 2));
		cJSON_AddStringToObject(t, "datatype", "FP64");
		cJSON *data = cJSON_AddArrayToObject(t, "data");
		for (size_t i = 0; i < a->nrows * k; i++)
			cJSON_AddItemToArray(data, exact_number(a->proba[i]));
	}
	return o;
}

static void log_request(struct mlops_server *s, const struct served *m, const struct table *t,
			cJSON *preds, const char *protocol, uint64_t start)
{
	char stamp[40];
	cJSON *o = cJSON_CreateObject();
	char *line;

	utc_stamp(stamp);
	cJSON_AddStringToObject(o, "time", stamp);
	cJSON_AddStringToObject(o, "model", m->md->name);
	cJSON_AddStringToObject(o, "version", m->md->version);
	cJSON_AddStringToObject(o, "protocol", protocol);
	cJSON_AddItemToObject(o, "inputs", table_json(t));
	cJSON_AddItemReferenceToObject(o, "predictions", preds);
	cJSON_AddNumberToObject(o, "latency_ms", (double)((now_ns() - start) / 1000) / 1000.0);
	line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line) {
		atomic_fetch_add_explicit(&s->log_errors, 1, memory_order_relaxed);
		return;
	}
	pthread_mutex_lock(&s->log_lock);
	if (fputs(line, s->log) < 0 || putc('\n', s->log) == EOF)
		atomic_fetch_add_explicit(&s->log_errors, 1, memory_order_relaxed);
	pthread_mutex_unlock(&s->log_lock);
	free(line);
}

/*
 * Check a request body before it is parsed: UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF, no NUL byte), so that what is logged
 * is valid JSON text, and, for JSON, no \u0000 escape in a string (cJSON
 * would cut the string there: "r\u0000d" read as "r").  0, or -1 with
 * *at the offending byte and *why the reason.
 */
static int body_check(const char *body, size_t len, int json, size_t *at, const char **why)
{
	const unsigned char *p = (const unsigned char *)body;
	int in_string = 0;

	for (size_t i = 0; i < len;) {
		unsigned c = p[i];
		size_t n;
		unsigned cp, min;
		if (c == 0) {
			*at = i;
			*why = "a NUL byte";
			return -1;
		}
		if (c < 0x80) {
			if (json && c == '"') {
				in_string = !in_string;
			} else if (json && in_string && c == '\\' && i + 1 < len) {
				if (p[i + 1] == 'u' && i + 5 < len && !memcmp(p + i + 2, "0000", 4)) {
					*at = i;
					*why = "the escape \\u0000 (a NUL character)";
					return -1;
				}
				i += 2;
				continue;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			goto bad;
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += n + 1;
		continue;
bad:
		*at = i;
		*why = "invalid UTF-8";
		return -1;
	}
	return 0;
}

enum protocol { PROTO_MLFLOW, PROTO_V2 };

static enum MHD_Result infer(struct mlops_server *s, struct MHD_Connection *c, struct request *rq,
			     enum protocol proto, struct served *m)
{
	struct table t;
	struct answer a;
	cJSON *req = NULL, *preds = NULL, *out = NULL;
	enum MHD_Result ret;
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_TYPE);
	int csv = 0;

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	/* No Content-Type is JSON, at both endpoints; CSV only for MLflow's. */
	if (ctype) {
		size_t n = strcspn(ctype, "; \t");
		if (proto == PROTO_MLFLOW && n == 8 && !strncasecmp(ctype, "text/csv", 8))
			csv = 1;
		else if (!(n == 16 && !strncasecmp(ctype, "application/json", 16)))
			return reply_error(s, c, rq, 415, "unsupported content type '%s': send "
					   "application/json%s", ctype,
					   proto == PROTO_MLFLOW ? " or text/csv" : "");
	}
	size_t bad_at;
	const char *why;
	/* A CSV body may start with a byte order mark, as a file for monitor check may. */
	size_t bom = csv && rq->body ? mlops_csv_bom_len(rq->body, rq->len) : 0;
	if (body_check(rq->body ? rq->body + bom : "", rq->len - bom, !csv, &bad_at, &why) < 0)
		return reply_error(s, c, rq, 400, "malformed %s: %s at byte %zu",
				   csv ? "CSV" : "JSON", why, bad_at + bom);
	if (csv) {
		table_from_csv(&t, rq->body ? rq->body + bom : "", rq->len - bom);
	} else {
		const char *end = NULL;
		req = cJSON_ParseWithLengthOpts(rq->body ? rq->body : "", rq->len, &end, 0);
		if (!req) {
			size_t at = end && rq->body && end >= rq->body ? (size_t)(end - rq->body) : 0;
			ret = reply_error(s, c, rq, 400, "malformed JSON at byte %zu", at);
			goto done;
		}
		size_t at = (size_t)(end - rq->body);
		while (at < rq->len && strchr(" \t\r\n", rq->body[at]))
			at++;
		if (at < rq->len) {
			ret = reply_error(s, c, rq, 400, "malformed JSON: data after the JSON value "
					  "at byte %zu", at);
			goto done;
		}
		if (proto == PROTO_V2)
			table_from_v2(&t, req, m);
		else
			table_from_mlflow(&t, req, m);
	}
	if (t.status) {
		ret = reply_error(s, c, rq, (unsigned)t.status, "%s", t.error);
		goto done;
	}
	if (check_json_types(&a, m, &t) < 0 ||
	    (m->model ? predict_builtin(&a, m, &t) : predict_process(&a, m, &t)) < 0) {
		ret = reply_error(s, c, rq, (unsigned)a.status, "%s", a.error);
		goto done;
	}
	preds = predictions_json(&a, m);
	if (proto == PROTO_V2) {
		out = v2_answer(&a, m, preds, req);
	} else {
		out = cJSON_CreateObject();
		cJSON_AddItemReferenceToObject(out, "predictions", preds);
	}
	size_t len = 0;
	char *body = out ? cJSON_PrintUnformatted(out) : NULL;
	if (body)
		len = strlen(body);
	atomic_fetch_add_explicit(&s->rows, a.nrows, memory_order_relaxed);
	ret = reply(s, c, rq, 200, body, len, "application/json");
	if (s->log)
		log_request(s, m, &t, preds, proto == PROTO_V2 ? "v2" : "mlflow", rq->start);
done:
	cJSON_Delete(out);
	cJSON_Delete(preds);
	answer_free(&a);
	table_free(&t);
	cJSON_Delete(req);
	return ret;
}

/* ---- metrics ---- */

struct textbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void tb_printf(struct textbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tb_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void tb_label(struct textbuf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tb_printf(b, "\\%c", *v);
		else if (*v == '\n')
			tb_printf(b, "\\n");
		else
			tb_printf(b, "%c", *v);
	}
}

static uint64_t ld(atomic_ullong *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static enum MHD_Result metrics(struct mlops_server *s, struct MHD_Connection *c, struct request *rq)
{
	struct textbuf b = { 0 };
	struct served *m = model_get(s);
	uint64_t total = 0, cum = 0;

	tb_printf(&b, "# HELP mlops_requests_total HTTP requests answered, by status code.\n"
		  "# TYPE mlops_requests_total counter\n");
	for (unsigned i = 100; i < 600; i++) {
		uint64_t n = ld(&s->status[i]);
		if (n)
			tb_printf(&b, "mlops_requests_total{code=\"%u\"} %llu\n", i, (unsigned long long)n);
	}
	tb_printf(&b, "# HELP mlops_request_duration_seconds Time from request to answer.\n"
		  "# TYPE mlops_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= NBUCKETS; i++)
		total += ld(&s->buckets[i]);
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += ld(&s->buckets[i]);
		tb_printf(&b, "mlops_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i],
			  (unsigned long long)cum);
	}
	tb_printf(&b, "mlops_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		  "mlops_request_duration_seconds_sum %.9f\n"
		  "mlops_request_duration_seconds_count %llu\n",
		  (unsigned long long)total, (double)ld(&s->latency_ns) / 1e9, (unsigned long long)total);
	tb_printf(&b, "# HELP mlops_rows_predicted_total Rows answered with a prediction.\n"
		  "# TYPE mlops_rows_predicted_total counter\nmlops_rows_predicted_total %llu\n",
		  (unsigned long long)ld(&s->rows));
	tb_printf(&b, "# HELP mlops_requests_in_flight Requests being answered.\n"
		  "# TYPE mlops_requests_in_flight gauge\nmlops_requests_in_flight %llu\n",
		  (unsigned long long)ld(&s->inflight));
	tb_printf(&b, "# HELP mlops_model_info The model being served.\n"
		  "# TYPE mlops_model_info gauge\nmlops_model_info{name=\"");
	tb_label(&b, m->md->name);
	tb_printf(&b, "\",version=\"");
	tb_label(&b, m->md->version);
	tb_printf(&b, "\",kind=\"%s\"} 1\n", m->model ? "builtin" : "predictor");
	tb_printf(&b, "# HELP mlops_model_reloads_total Models loaded again, by outcome.\n"
		  "# TYPE mlops_model_reloads_total counter\n"
		  "mlops_model_reloads_total{result=\"ok\"} %llu\n"
		  "mlops_model_reloads_total{result=\"failed\"} %llu\n",
		  (unsigned long long)ld(&s->reloads), (unsigned long long)ld(&s->reload_failures));
	tb_printf(&b, "# HELP mlops_predictor_restarts_total Predictor processes started again.\n"
		  "# TYPE mlops_predictor_restarts_total counter\nmlops_predictor_restarts_total %llu\n",
		  (unsigned long long)ld(&s->restarts));
	tb_printf(&b, "# HELP mlops_log_errors_total Request log lines that could not be written.\n"
		  "# TYPE mlops_log_errors_total counter\nmlops_log_errors_total %llu\n",
		  (unsigned long long)ld(&s->log_errors));
	served_release(m);
	if (b.oom) {
		free(b.p);
		return MHD_NO;
	}
	return reply(s, c, rq, 200, b.p, b.len, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- routing ---- */

static const char live_body[] = "{\"live\":true}";
static const char ready_body[] = "{\"ready\":true}";
static const char ping_body[] = "{\"status\":\"ok\"}";
static const char server_body[] = "{\"name\":\"mlops\",\"version\":\"" MLOPS_VERSION "\","
				  "\"extensions\":[]}";

enum route_kind { R_NONE, R_LIVE, R_READY, R_SERVER, R_PING, R_METRICS, R_META, R_MODEL_READY,
		  R_INFER, R_INVOCATIONS };

/*
 * Match /v2/models/NAME[/versions/VER][/ready|/infer] against the served
 * model; *found is 0 when NAME or VER is another model's.
 */
static enum route_kind route_model(const char *rest, const struct served *m, int *found)
{
	size_t nl = strlen(m->md->name), vl = strlen(m->md->version);
	size_t n = strcspn(rest, "/");

	*found = n == nl && !strncmp(rest, m->md->name, nl);
	rest += n;
	if (!strncmp(rest, "/versions/", 10)) {
		rest += 10;
		n = strcspn(rest, "/");
		if (n != vl || strncmp(rest, m->md->version, vl))
			*found = 0;
		rest += n;
	}
	if (!*rest || !strcmp(rest, "/"))
		return R_META;
	if (!strcmp(rest, "/ready"))
		return R_MODEL_READY;
	if (!strcmp(rest, "/infer"))
		return R_INFER;
	return R_NONE;
}

static enum route_kind route(const char *url, const struct served *m, int *found)
{
	*found = 1;
	if (!strcmp(url, "/invocations"))
		return R_INVOCATIONS;
	if (!strncmp(url, "/v2/models/", 11))
		return route_model(url + 11, m, found);
	if (!strcmp(url, "/v2/health/live"))
		return R_LIVE;
	if (!strcmp(url, "/v2/health/ready"))
		return R_READY;
	if (!strcmp(url, "/v2") || !strcmp(url, "/v2/"))
		return R_SERVER;
	if (!strcmp(url, "/ping") || !strcmp(url, "/health"))
		return R_PING;
	if (!strcmp(url, "/metrics"))
		return R_METRICS;
	return R_NONE;
}

static enum MHD_Result answer(struct mlops_server *s, struct MHD_Connection *c, const char *url,
			      const char *method, struct request *rq)
{
	struct served *m = model_get(s);
	int found, post = !strcmp(method, "POST");
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	enum route_kind k = route(url, m, &found);
	enum MHD_Result ret;

	if (k == R_NONE) {
		ret = reply_error(s, c, rq, 404, "no such endpoint '%s'", url);
	} else if (!found) {
		ret = reply_error(s, c, rq, 404, "model not found: this server serves '%s' version '%s'",
				  m->md->name, m->md->version);
	} else if ((k == R_INFER || k == R_INVOCATIONS) ? !post : !get) {
		rq->allow = k == R_INFER || k == R_INVOCATIONS ? "POST" : "GET, HEAD";
		ret = reply_error(s, c, rq, 405, "method %s not allowed on '%s'", method, url);
	} else {
		switch (k) {
		case R_LIVE: ret = reply_static(s, c, rq, 200, live_body, sizeof(live_body) - 1); break;
		case R_READY: ret = reply_static(s, c, rq, 200, ready_body, sizeof(ready_body) - 1); break;
		case R_PING: ret = reply_static(s, c, rq, 200, ping_body, sizeof(ping_body) - 1); break;
		case R_SERVER: ret = reply_static(s, c, rq, 200, server_body, sizeof(server_body) - 1); break;
		case R_METRICS: ret = metrics(s, c, rq); break;
		case R_META: ret = reply_copy(s, c, rq, 200, m->metadata, m->metadata_len); break;
		case R_MODEL_READY: ret = reply_copy(s, c, rq, 200, m->ready, m->ready_len); break;
		case R_INFER: ret = infer(s, c, rq, PROTO_V2, m); break;
		default: ret = infer(s, c, rq, PROTO_MLFLOW, m); break;
		}
	}
	served_release(m);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct mlops_server *s = cls;
	struct request *rq = *con_cls;

	(void)version;
	if (!rq) {
		if (!(rq = malloc(sizeof(*rq))))
			return MHD_NO;
		rq->start = now_ns();
		rq->allow = NULL;
		rq->answered = rq->too_large = 0;
		rq->body = NULL;
		rq->len = rq->cap = 0;
		*con_cls = rq;
		atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
		if (strcmp(method, "POST") && strcmp(method, "PUT"))
			return answer(s, c, url, method, rq);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > s->opts.max_body)
			return reply_error(s, c, rq, 413, "request body of %s bytes is over the "
					   "limit of %zu bytes", cl, s->opts.max_body);
		return MHD_YES;
	}
	if (rq->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->too_large)
			return MHD_YES;
		if (rq->len + n > s->opts.max_body) {
			rq->too_large = 1;
			return MHD_YES;
		}
		if (rq->len + n + 1 > rq->cap) {
			if (!rq->body && rq->len + n + 1 <= INLINE_BODY) {
				rq->body = rq->inline_body;
				rq->cap = INLINE_BODY;
			} else {
				size_t cap = rq->cap ? rq->cap : INLINE_BODY;
				while (cap < rq->len + n + 1)
					cap *= 2;
				char *b = rq->body == rq->inline_body ? malloc(cap) :
					  realloc(rq->body, cap);
				if (!b)
					return MHD_NO;
				if (rq->body == rq->inline_body)
					memcpy(b, rq->inline_body, rq->len);
				rq->body = b;
				rq->cap = cap;
			}
		}
		memcpy(rq->body + rq->len, upload, n);
		rq->len += n;
		rq->body[rq->len] = '\0';
		return MHD_YES;
	}
	if (rq->too_large)
		return reply_error(s, c, rq, 413, "request body is over the limit of %zu bytes",
				   s->opts.max_body);
	return answer(s, c, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct mlops_server *s = cls;
	struct request *rq = *con_cls;

	(void)c;
	(void)toe;
	if (!rq)
		return;
	if (rq->body != rq->inline_body)
		free(rq->body);
	free(rq);
	*con_cls = NULL;
	atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct mlops_server *s = cls;
	if (!s->daemon) {
		vsnprintf(s->start_error, sizeof(s->start_error), fmt, ap);
		s->start_error[strcspn(s->start_error, "\n")] = '\0';
	}
}

/* ---- public ---- */

void mlops_serve_opts_init(struct mlops_serve_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->host = "127.0.0.1";
	opts->port = 8080;
	opts->max_body = DEFAULT_MAX_BODY;
	opts->timeout = 30;
	opts->predict_timeout = 30000;
}

static int resolve_host(struct sockaddr_storage *ss, socklen_t *sslen, const char *host,
			unsigned port)
{
	struct addrinfo hints, *res = NULL;
	char ps[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if ((rc = getaddrinfo(host, ps, &hints, &res)) != 0 || !res)
		return mlops_error_set(MLOPS_EUSAGE, "unable to resolve host '%s': %s", host,
				       gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * How many connections the server takes at once.  libmicrohttpd's default
 * is FD_SETSIZE - 4 (1020), even with epoll: 1,100 idle clients sending
 * half a request left the next one waiting in the listen queue.  The soft
 * limit on open files is raised to the hard one, and all of it but a
 * reserve (the predictors' pipes, the log, model files, one worker's
 * spare) is for connections.  Predictors get the former limit back
 * (predictor_spawn).
 */
static unsigned connection_limit(unsigned workers)
{
	struct rlimit rl;
	rlim_t reserve = 64 + 4 * (rlim_t)workers;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1000;
	if (rl.rlim_cur != RLIM_INFINITY && (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur < rl.rlim_max)) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ?
				(1u << 20) : rl.rlim_max;
		if (want.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = want.rlim_cur;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	return rl.rlim_cur > reserve + 16 ? (unsigned)(rl.rlim_cur - reserve) : 16;
}

int mlops_server_start(struct mlops_server **out, const char *path,
		       const struct mlops_serve_opts *opts)
{
	struct mlops_server *s;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct served *m = NULL;
	unsigned flags;
	int err;
	struct sigaction ign;

	*out = NULL;
	if ((err = mlops_mhd_load()) < 0)
		return err;
	if (opts->port > 65535)
		return mlops_error_set(MLOPS_EUSAGE, "port %u is out of range", opts->port);
	if (opts->max_body == 0 || opts->timeout == 0 || opts->predict_timeout == 0)
		return mlops_error_set(MLOPS_EUSAGE, "limits and timeouts must be positive");
	if (!(s = calloc(1, sizeof(*s))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_mutex_init(&s->model_lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	s->opts = *opts;
	if (!s->opts.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		s->opts.workers = n > 0 ? (unsigned)n : 1;
	}
	if (s->opts.workers > 256)
		s->opts.workers = 256;
	s->path = strdup(path);
	s->host = strdup(opts->host ? opts->host : "127.0.0.1");
	s->log_path = opts->log_path ? strdup(opts->log_path) : NULL;
	s->predict = opts->predict ? strdup(opts->predict) : NULL;
	if (!s->path || !s->host || (opts->log_path && !s->log_path) ||
	    (opts->predict && !s->predict)) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	s->opts.host = s->host;
	s->opts.log_path = s->log_path;
	s->opts.predict = s->predict;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, NULL);

	if ((err = resolve_host(&ss, &sslen, s->host, s->opts.port)) < 0)
		goto fail;
	s->nofile_known = getrlimit(RLIMIT_NOFILE, &s->nofile) == 0;
	if ((err = served_load(&m, s->path, &s->opts, &s->restarts,
			       s->nofile_known ? &s->nofile : NULL)) < 0)
		goto fail;
	s->model = m;
	if (s->log_path) {
		if (!(s->log = fopen(s->log_path, "a"))) {
			err = mlops_error_sys(errno, "unable to open log '%s'", s->log_path);
			goto fail;
		}
		s->log_buf = malloc(1 << 16);
		if (s->log_buf)
			setvbuf(s->log, s->log_buf, _IOFBF, 1 << 16);
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
		MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	(void)sslen;
	s->daemon = MHD_start_daemon(flags, (uint16_t)s->opts.port, NULL, NULL, handler, s,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opts.timeout,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				     MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
				     MHD_OPTION_CONNECTION_LIMIT, connection_limit(s->opts.workers),
				     /* last: with one worker there is no pool */
				     s->opts.workers > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
				     (unsigned)s->opts.workers,
				     MHD_OPTION_END);
	if (!s->daemon) {
		err = mlops_error_set(MLOPS_EIO, "unable to listen on %s:%u%s%s", s->host,
				      s->opts.port, *s->start_error ? ": " : "", s->start_error);
		goto fail;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : s->opts.port;
	*out = s;
	return 0;
fail:
	mlops_server_stop(s, 0);
	return err;
}

unsigned mlops_server_port(const struct mlops_server *s)
{
	return s->port;
}

const char *mlops_server_model_name(const struct mlops_server *s)
{
	return s->model->md->name;
}

const char *mlops_server_model_version(const struct mlops_server *s)
{
	return s->model->md->version;
}

int mlops_server_reload(struct mlops_server *s, int *changed)
{
	struct served *m, *old;
	int err = served_load(&m, s->path, &s->opts, &s->restarts,
			      s->nofile_known ? &s->nofile : NULL);

	if (changed)
		*changed = 0;
	if (err < 0) {
		atomic_fetch_add(&s->reload_failures, 1);
		return err;
	}
	pthread_mutex_lock(&s->model_lock);
	old = s->model;
	s->model = m;
	pthread_mutex_unlock(&s->model_lock);
	if (changed)
		*changed = strcmp(old->md->version, m->md->version) != 0 ||
			   strcmp(old->md->name, m->md->name) != 0;
	served_release(old);
	atomic_fetch_add(&s->reloads, 1);
	return 0;
}

int mlops_server_poll(struct mlops_server *s, int *reloaded)
{
	char *real = NULL;
	uint64_t sig;
	int err = 0, differs;

	if (reloaded)
		*reloaded = 0;
	if (s->log) {
		pthread_mutex_lock(&s->log_lock);
		if (fflush(s->log) != 0)
			atomic_fetch_add(&s->log_errors, 1);
		pthread_mutex_unlock(&s->log_lock);
	}
	struct served *m = model_get(s);
	sig = path_signature(&real, s->path, m->md);
	differs = sig != m->signature || !real || !m->real || strcmp(real, m->real) != 0;
	served_release(m);
	free(real);
	if (differs) {
		/* A half-written model fails to load: the old one serves until it is whole. */
		err = mlops_server_reload(s, NULL);
		if (err == 0 && reloaded)
			*reloaded = 1;
	}
	return err;
}

void mlops_server_stats(struct mlops_serve_stats *out, const struct mlops_server *server)
{
	struct mlops_server *s = (struct mlops_server *)server;
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < 600; i++) {
		uint64_t n = ld(&s->status[i]);
		out->requests += n;
		if (i >= 400)
			out->errors += n;
	}
	out->rows = ld(&s->rows);
	out->reloads = ld(&s->reloads);
}

void mlops_server_drain(struct mlops_server *s, unsigned drain_ms)
{
	if (!s || !s->daemon || s->quiesced)
		return;
	s->quiesced = 1;
	s->listen_fd = MHD_quiesce_daemon(s->daemon);
	uint64_t deadline = now_ns() + (uint64_t)drain_ms * 1000000u;
	while (ld(&s->inflight) > 0 && now_ns() < deadline)
		usleep(2000);
}

void mlops_server_stop(struct mlops_server *s, unsigned drain_ms)
{
	if (!s)
		return;
	if (s->daemon) {
		mlops_server_drain(s, drain_ms);
		MHD_stop_daemon(s->daemon);
		if (s->listen_fd != MHD_INVALID_SOCKET)
			close(s->listen_fd);
	}
	if (s->log) {
		fclose(s->log);
		free(s->log_buf);
	}
	served_release(s->model);
	pthread_mutex_destroy(&s->model_lock);
	pthread_mutex_destroy(&s->log_lock);
	free(s->path);
	free(s->host);
	free(s->log_path);
	free(s->predict);
	free(s);
}
