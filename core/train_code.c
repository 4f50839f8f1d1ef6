/*
 * train_code.c - the state of the code a run ran: HEAD's commit and tree,
 * and, when the work tree differs, a patch from HEAD to it that restores
 * the exact code (`git apply` on a checkout of the commit).
 *
 * The patch covers tracked changes (staged or not) and untracked files
 * that git does not ignore, with their content; binary files are written
 * as git binary patches.  mlops.lock is left out: it names data versions,
 * which a run records as its inputs.
 */
#include "train_internal.h"
#include "store/error.h"
#include "store/repo.h"

#include <stdlib.h>
#include <string.h>

void mlops_code_state_clear(struct mlops_code_state *cs)
{
	if (!cs)
		return;
	free(cs->commit);
	free(cs->tree);
	free(cs->diff);
	memset(cs, 0, sizeof(*cs));
}

struct patch_buf {
	char *data;
	size_t len, cap;
	int failed;
};

static int is_excluded(const git_diff_delta *delta)
{
	const char *p = delta->new_file.path ? delta->new_file.path : delta->old_file.path;
	return p && !strcmp(p, "mlops.lock");
}

static int patch_line(const git_diff_delta *delta, const git_diff_hunk *hunk,
		      const git_diff_line *line, void *payload)
{
	struct patch_buf *b = payload;
	(void)hunk;
	if (is_excluded(delta))
		return 0;
	size_t extra = line->content_len + 1;
	if (b->len + extra + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + extra + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = 1;
			return -1;
		}
		b->data = d;
		b->cap = cap;
	}
	if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
	    line->origin == GIT_DIFF_LINE_DELETION)
		b->data[b->len++] = line->origin;
	memcpy(b->data + b->len, line->content, line->content_len);
	b->len += line->content_len;
	b->data[b->len] = '\0';
	return 0;
}

int mlops_code_state_read(struct mlops_code_state *out, struct mlops_repo *repo)
{
	git_reference *head = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_diff *diff = NULL;
	struct patch_buf pb = { 0 };
	char hex[GIT_OID_HEXSZ + 1];
	int err = 0, rc;

	memset(out, 0, sizeof(*out));
	rc = git_repository_head(&head, mlops_repo_git(repo));
	if (rc == 0) {
		if ((rc = git_reference_peel((git_object **)&commit, head, GIT_OBJECT_COMMIT)) < 0 ||
		    (rc = git_commit_tree(&tree, commit)) < 0) {
			err = mlops_git_error(MLOPS_ERROR, "unable to read HEAD");
			goto done;
		}
		git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
		out->commit = strdup(hex);
		git_oid_tostr(hex, sizeof(hex), git_tree_id(tree));
		out->tree = strdup(hex);
		if (!out->commit || !out->tree) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
	} else if (rc != GIT_EUNBORNBRANCH && rc != GIT_ENOTFOUND) {
		err = mlops_git_error(MLOPS_ERROR, "unable to read HEAD");
		goto done;
	}
	git_error_clear();

	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
		     GIT_DIFF_SHOW_UNTRACKED_CONTENT | GIT_DIFF_SHOW_BINARY;
	if (git_diff_tree_to_workdir_with_index(&diff, mlops_repo_git(repo), tree, &opts) < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to compare the work tree with HEAD");
		goto done;
	}
	size_t n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n; i++)
		if (!is_excluded(git_diff_get_delta(diff, i)))
			out->dirty = 1;
	if (out->dirty) {
		if (git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, patch_line, &pb) < 0) {
			err = pb.failed ? mlops_error_set(MLOPS_ERROR, "out of memory") :
					  mlops_git_error(MLOPS_ERROR, "unable to write the work tree's diff");
			goto done;
		}
		out->diff = pb.data ? pb.data : strdup("");
		out->diff_len = pb.len;
		pb.data = NULL;
		if (!out->diff)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
	}
done:
	free(pb.data);
	git_diff_free(diff);
	git_tree_free(tree);
	git_commit_free(commit);
	git_reference_free(head);
	if (err < 0)
		mlops_code_state_clear(out);
	return err;
}
