/*
 * dataset_stats.c - `dataset stats`: column profiles (core/colstats.h) of a
 * table file in the work tree or in a dataset version.
 *
 * A stored file is streamed, never materialised: a raw one-object file is
 * read in place, anything else goes through a pipe fed by a thread that
 * streams and verifies its chunks (mlops_tree_file_stream).
 */
#include "dataset.h"
#include "dataset_stats.h"
#include "colstats.h"
#include "csv.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mlops_is_table_path(const char *path)
{
	size_t l = strlen(path);
	static const char *const ext[] = { ".csv", ".tsv", ".jsonl", ".ndjson", ".txt", NULL };
	for (size_t i = 0; ext[i]; i++) {
		size_t el = strlen(ext[i]);
		if (l > el && !strcasecmp(path + l - el, ext[i]) && strcmp(ext[i], ".txt"))
			return 1;
	}
	return 0;
}

/* Read every record of the table on fd through rd. */
static int read_fd(int fd, const char *name, const struct mlops_table_reader *rd)
{
	struct mlops_csv_options opts;
	struct mlops_csv *csv = NULL;
	const struct mlops_csv_field *f;
	const char *const *names;
	size_t n, ncols;
	int err;
	memset(&opts, 0, sizeof(opts));
	opts.name = name;
	opts.new_keys = rd->columns != NULL;
	if ((err = mlops_csv_open_fd(&csv, fd, &opts)) < 0)
		goto done;
	names = mlops_csv_names(csv, &ncols);
	if ((err = rd->header(rd->payload, names, ncols)) < 0)
		goto done;
	while ((err = mlops_csv_next(csv, &f, &n)) == 1) {
		if (n > ncols) {
			size_t had = ncols;
			names = mlops_csv_names(csv, &ncols);
			if ((err = rd->columns(rd->payload, names + had, ncols - had)) < 0)
				goto done;
		}
		if ((err = rd->row(rd->payload, f, n)) < 0)
			goto done;
	}
done:
	mlops_csv_free(csv);
	return err;
}

static int profile_header(void *payload, const char *const *names, size_t n)
{
	return mlops_colstats_new((struct mlops_colstats **)payload, names, n);
}

static int profile_row(void *payload, const struct mlops_csv_field *f, size_t n)
{
	return mlops_colstats_add_row(*(struct mlops_colstats **)payload, f, n);
}

static int profile_columns(void *payload, const char *const *names, size_t n)
{
	return mlops_colstats_add_columns(*(struct mlops_colstats **)payload, names, n);
}

/* Profile the table that read_table reads (from fd, or a stored node through a pipe). */
static int profile(cJSON **out, int (*read_table)(void *arg, const struct mlops_table_reader *rd),
		   void *arg)
{
	struct mlops_colstats *st = NULL;
	struct mlops_table_reader rd = { profile_header, profile_row, &st, profile_columns };
	int err;
	*out = NULL;
	if ((err = read_table(arg, &rd)) < 0 || (err = mlops_colstats_finish(st)) < 0)
		goto done;
	if (!(*out = mlops_colstats_to_json(st)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
done:
	mlops_colstats_free(st);
	return err;
}

int mlops_table_read_file(const char *path, const struct mlops_table_reader *rd)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return mlops_error_set(MLOPS_ENOTFOUND, "unable to open '%s': %s", path, strerror(errno));
		return mlops_error_sys(errno, "unable to open '%s'", path);
	}
	int err = read_fd(fd, path, rd);
	close(fd);
	return err;
}

static int read_file_cb(void *arg, const struct mlops_table_reader *rd)
{
	return mlops_table_read_file(arg, rd);
}

int mlops_stats_file(cJSON **out, const char *path)
{
	return profile(out, read_file_cb, (void *)path);
}

struct feeder {
	struct mlops_odb *odb;
	const struct mlops_node *node;
	int fd;
	int err;
	char msg[1024];
};

static int feed_cb(const void *data, size_t len, void *payload)
{
	struct feeder *f = payload;
	if (mlops_write_all(f->fd, data, len) < 0) {
		if (errno == EPIPE)
			return 1; /* the reader stopped (an error it reports itself) */
		return mlops_error_sys(errno, "unable to feed the table reader");
	}
	return 0;
}

static void *feed_thread(void *arg)
{
	struct feeder *f = arg;
	int err = mlops_tree_file_stream(f->odb, f->node, feed_cb, f);
	if (err < 0) {
		f->err = err;
		snprintf(f->msg, sizeof(f->msg), "%s", mlops_error_message());
	}
	close(f->fd);
	return NULL;
}

int mlops_table_read_node(struct mlops_repo *repo, const struct mlops_node *node, const char *name,
			  const struct mlops_table_reader *rd)
{
	int err;
	/* Every object is read through the store, which verifies it. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return mlops_error_sys(errno, "unable to create a pipe");
	struct feeder f = { .odb = repo->odb, .node = node, .fd = p[1] };
	pthread_t th;
	struct sigaction ign, old;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	if (pthread_create(&th, NULL, feed_thread, &f) != 0) {
		close(p[0]);
		close(p[1]);
		sigaction(SIGPIPE, &old, NULL);
		return mlops_error_set(MLOPS_ERROR, "unable to start a thread");
	}
	err = read_fd(p[0], name, rd);
	close(p[0]);
	pthread_join(th, NULL);
	sigaction(SIGPIPE, &old, NULL);
	if (f.err < 0)
		return mlops_error_set(f.err, "%s", f.msg);
	return err;
}

struct node_arg {
	struct mlops_repo *repo;
	const struct mlops_node *node;
	const char *name;
};

static int read_node_cb(void *arg, const struct mlops_table_reader *rd)
{
	struct node_arg *a = arg;
	return mlops_table_read_node(a->repo, a->node, a->name, rd);
}

int mlops_stats_node(cJSON **out, struct mlops_repo *repo, const struct mlops_node *node,
		     const char *name)
{
	struct node_arg a = { repo, node, name };
	return profile(out, read_node_cb, &a);
}

int mlops_stats_version(struct mlops_table_stats **out, size_t *n, struct mlops_repo *repo,
			const struct mlops_dataset_version *v, const char *only)
{
	struct mlops_table_stats *res = NULL;
	size_t cnt = 0;
	int err = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < v->nentries && err == 0; i++) {
		struct mlops_tree_list l;
		if ((err = mlops_tree_list(&l, repo->odb, &v->entries[i].node, 0)) < 0)
			break;
		for (size_t k = 0; k < l.count && err == 0; k++) {
			const char *rel = l.files[k].path;
			char *full = *rel ? mlops_path_join(v->entries[i].path, rel) : strdup(v->entries[i].path);
			if (!full) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			int wanted = only ? !strcmp(full, only) :
					    mlops_is_table_path(full) && l.files[k].node.kind != MLOPS_KIND_LINK;
			if (!wanted) {
				free(full);
				continue;
			}
			struct mlops_table_stats *nr = realloc(res, (cnt + 1) * sizeof(*nr));
			if (!nr) {
				free(full);
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			res = nr;
			res[cnt].path = full;
			res[cnt].stats = NULL;
			cnt++;
			err = mlops_stats_node(&res[cnt - 1].stats, repo, &l.files[k].node, full);
		}
		mlops_tree_list_free(&l);
	}
	if (err == 0 && cnt == 0)
		err = only ? mlops_error_set(MLOPS_ENOTFOUND, "%s@v%ld has no file '%s'", v->name, v->version, only) :
			     mlops_error_set(MLOPS_ENOTFOUND,
					     "%s@v%ld has no table (.csv, .tsv, .jsonl); name a file with --path",
					     v->name, v->version);
	if (err < 0) {
		mlops_table_stats_free(res, cnt);
		return err;
	}
	*out = res;
	*n = cnt;
	return 0;
}

void mlops_table_stats_free(struct mlops_table_stats *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		free(s[i].path);
		cJSON_Delete(s[i].stats);
	}
	free(s);
}
