/*
 * transfer.c - `mlops push`, `mlops fetch` and `mlops pull`: move versions
 * between the repository and a remote (core/transfer.h).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/transfer.h"
#include "store/remote.h"
#include "store/repo.h"

enum op { OP_PUSH, OP_FETCH, OP_PULL };

static const char *const push_usage[] = { "push [REMOTE] [REV...] [-j N] [--force]", NULL };
static const char *const fetch_usage[] = { "fetch [REMOTE] [REV...] [-j N] [--force]", NULL };
static const char *const pull_usage[] = { "pull [REMOTE] [REV...] [-j N] [--force]", NULL };


static const char *change_name(enum mlops_ref_change c)
{
	switch (c) {
	case MLOPS_REF_UPTODATE: return "up-to-date";
	case MLOPS_REF_NEW: return "new";
	case MLOPS_REF_RENUMBERED: return "renumbered";
	case MLOPS_REF_UPDATED: return "updated";
	case MLOPS_REF_REJECTED: return "rejected";
	case MLOPS_REF_DAMAGED: return "damaged";
	case MLOPS_REF_DAMAGED_KEPT: return "damaged";
	}
	return "?";
}

static void progress_cb(void *payload, uint64_t done, uint64_t total)
{
	cmd_progress((const char *)payload, done, total, 0);
}

/* A wait the user should know of (a gc of the remote): one line, unless -q. */
static void notice_cb(void *payload, const char *message)
{
	(void)payload;
	if (g_opts.quiet)
		return;
	cmd_progress_end();
	fprintf(stderr, "%s\n", message);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int print_result(const struct mlops_transfer_result *res, enum op op, double secs)
{
	const struct mlops_xfer_stats *st = &res->stats;
	if (g_opts.json) {
		char hex[MLOPS_OID_HEXSZ + 1];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "remote", res->remote);
		cJSON_AddStringToObject(o, "url", res->url);
		cJSON_AddNumberToObject(o, "objects", (double)res->reachable);
		cJSON_AddNumberToObject(o, op == OP_PUSH ? "objects_sent" : "objects_received",
					(double)st->objects);
		cJSON_AddNumberToObject(o, op == OP_PUSH ? "bytes_sent" : "bytes_received",
					(double)st->bytes);
		cJSON_AddNumberToObject(o, "objects_present", (double)st->present);
		cJSON_AddNumberToObject(o, "packs", (double)st->packs);
		if (op == OP_PUSH)
			cJSON_AddNumberToObject(o, "packs_linked", (double)st->linked);
		cJSON_AddNumberToObject(o, "listings", (double)st->listings);
		cJSON_AddNumberToObject(o, "checks", (double)st->checks);
		cJSON_AddNumberToObject(o, "seconds", secs);
		cJSON *arr = cJSON_AddArrayToObject(o, "refs");
		for (size_t i = 0; i < res->nrefs; i++) {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "name", res->refs[i].name);
			cJSON_AddStringToObject(r, "new_name", res->refs[i].new_name);
			if (res->refs[i].change == MLOPS_REF_DAMAGED)
				cJSON_AddNullToObject(r, "id"); /* the remote's, which it lacks */
			else
				cJSON_AddStringToObject(r, "id", mlops_oid_fmt(hex, &res->refs[i].id));
			cJSON_AddStringToObject(r, "status", change_name(res->refs[i].change));
			cJSON_AddItemToArray(arr, r);
		}
		if (op == OP_PULL) {
			cJSON_AddNumberToObject(o, "paths", (double)res->paths);
			cJSON_AddNumberToObject(o, "files_written", (double)res->checkout.files_written);
			cJSON_AddNumberToObject(o, "files_removed", (double)res->checkout.files_removed);
			cJSON_AddNumberToObject(o, "files_unchanged", (double)res->checkout.files_unchanged);
			cJSON_AddNumberToObject(o, "bytes_written", (double)res->checkout.bytes_written);
		}
		return cmd_print_json(o);
	}
	for (size_t i = 0; i < res->nrefs; i++) {
		const struct mlops_ref_update *u = &res->refs[i];
		if (u->change == MLOPS_REF_RENUMBERED)
			fprintf(stderr, "note: %s is %s %s: %s (the content id %.12s is what identifies "
				"it)\n", u->name, op == OP_PUSH ? "now" : "kept locally as", u->new_name,
				op == OP_PUSH ? "the number was taken by another version" :
				"version numbers follow the remote's",
				mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, &u->id));
		if (u->change == MLOPS_REF_REJECTED)
			fprintf(stderr, "mlops: %s: rejected: the %s holds another version under this name\n",
				u->name, op == OP_PUSH ? "remote" : "repository");
		if (u->change == MLOPS_REF_DAMAGED_KEPT)
			fprintf(stderr, "mlops: %s: rejected: the remote's ref is damaged (it holds no id; "
				"'mlops fsck --remote %s' reports it)\n", u->name, res->remote);
	}
	if (g_opts.quiet)
		return 0;
	char a[32];
	printf("%s %s (%s)\n", op == OP_PUSH ? "pushed to" : "fetched from", res->remote, res->url);
	char linked[48] = "";
	if (st->linked)
		snprintf(linked, sizeof(linked), ", %llu linked", (unsigned long long)st->linked);
	printf("objects: %llu %s (%s, %llu pack%s%s), %llu already there, in %.2f s\n",
	       (unsigned long long)st->objects, op == OP_PUSH ? "sent" : "received",
	       cmd_human_size(a, st->bytes), (unsigned long long)st->packs,
	       st->packs == 1 ? "" : "s", linked, (unsigned long long)st->present, secs);
	size_t same = 0;
	for (size_t i = 0; i < res->nrefs; i++) {
		const struct mlops_ref_update *u = &res->refs[i];
		if (u->change == MLOPS_REF_UPTODATE) {
			same++;
			continue;
		}
		if (u->change == MLOPS_REF_RENUMBERED)
			printf("  %s -> %s (renumbered)\n", u->name, u->new_name);
		else
			printf("  %s: %s\n", u->name, change_name(u->change));
	}
	if (same)
		printf("  %zu ref%s up to date\n", same, same == 1 ? "" : "s");
	if (op == OP_PULL)
		printf("checked out %zu path%s: %llu file%s written, %llu removed, %llu unchanged\n",
		       res->paths, res->paths == 1 ? "" : "s",
		       (unsigned long long)res->checkout.files_written,
		       res->checkout.files_written == 1 ? "" : "s",
		       (unsigned long long)res->checkout.files_removed,
		       (unsigned long long)res->checkout.files_unchanged);
	return 0;
}

static int run(int argc, char **argv, enum op op, const char *const *usage)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_transfer_opts to = { 0 };
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "j:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			char *end;
			long j = strtol(optarg, &end, 10);
			if (*end || j < 1 || j > 64)
				return cmd_die(MLOPS_EXIT_USAGE, "-j needs a number from 1 to 64");
			to.jobs = (int)j;
			break;
		}
		case 'f': to.force = 1; break;
		case 'h': return cmd_usage(usage, 1);
		default: return cmd_usage(usage, 0);
		}
	}
	if (optind < argc && mlops_remote_exists(g_repo, argv[optind]))
		to.remote = argv[optind++];
	to.revs = (const char *const *)argv + optind;
	to.nrevs = (size_t)(argc - optind);
	const char *what = op == OP_PUSH ? "pushing" : "fetching";
	mlops_warnings_live(cmd_live_warning, NULL);
	to.progress = progress_cb;
	to.notice = notice_cb;
	to.payload = (void *)what;
	struct mlops_transfer_result *res;
	double t0 = now();
	int err = op == OP_PUSH ? mlops_push(&res, g_repo, &to) :
		  op == OP_FETCH ? mlops_fetch(&res, g_repo, &to) : mlops_pull(&res, g_repo, &to);
	cmd_progress_end();
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOTFOUND && !to.remote &&
					     strstr(mlops_error_message(), "no remote") ?
				"add one with 'mlops remote add NAME URL --default'" : NULL);
	int status = print_result(res, op, now() - t0);
	if (status == 0 && mlops_transfer_rejected(res)) {
		fprintf(stderr, "hint: use --force to replace them\n");
		status = MLOPS_EXIT_CONFLICT;
	}
	mlops_transfer_result_free(res);
	return status;
}

int cmd_push(int argc, char **argv)
{
	return run(argc, argv, OP_PUSH, push_usage);
}

int cmd_fetch(int argc, char **argv)
{
	return run(argc, argv, OP_FETCH, fetch_usage);
}

int cmd_pull(int argc, char **argv)
{
	return run(argc, argv, OP_PULL, pull_usage);
}
