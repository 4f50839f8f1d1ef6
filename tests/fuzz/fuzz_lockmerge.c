/*
 * fuzz_lockmerge.c - the three-way merge of mlops.lock files
 * (core/gitsync.h), which git runs as a merge driver on whatever the two
 * branches and their base hold.
 *
 * The input is split at its first two NUL bytes into base, ours and
 * theirs (missing parts are empty).  Besides the sanitizers' checks: a
 * merge without conflicts yields a lock file that parses again; a merge
 * with conflicts says so in its message and marks them in the text;
 * merging a side with itself never conflicts.
 */
#include "tests/fuzz/fuzz.h"
#include "core/gitsync.h"
#include "core/lockfile.h"

static void lockmerge_one(const char *base, const char *ours, const char *theirs)
{
	char *out = NULL, *message = NULL;
	size_t conflicts = 0;
	int err = mlops_lock_merge(&out, &conflicts, &message, base, ours, theirs);
	if (err < 0) {
		FUZZ_CHECK(out == NULL && message == NULL);
		mlops_error_clear();
		return;
	}
	FUZZ_CHECK(out != NULL);
	if (conflicts == 0) {
		cJSON *again = NULL;
		FUZZ_CHECK(message == NULL);
		FUZZ_CHECK(mlops_lockfile_parse(&again, out, strlen(out), "merged") == 0);
		cJSON_Delete(again);
	} else {
		FUZZ_CHECK(message != NULL);
		FUZZ_CHECK(strstr(out, "<<<<<<< ours\n") != NULL);
	}
	free(out);
	free(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	if (!text)
		return 0;
	const char *part[3] = { "", "", "" };
	char *p = text, *end = text + size;
	for (int i = 0; i < 3 && p <= end; i++) {
		part[i] = p;
		p += strlen(p) + 1;
	}
	lockmerge_one(part[0], part[1], part[2]);
	/* Our side against itself: whatever the base, nothing conflicts. */
	char *out = NULL, *message = NULL;
	size_t conflicts = 0;
	if (mlops_lock_merge(&out, &conflicts, &message, part[0], part[1], part[1]) == 0)
		FUZZ_CHECK(conflicts == 0);
	mlops_error_clear();
	free(out);
	free(message);
	free(text);
	return 0;
}
