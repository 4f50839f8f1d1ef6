/*
 * fuzz_rev.c - the revision syntax (core/rev.h) and the other small
 * syntaxes of names and times on hostile text: registry tag names (they
 * come from git tags of a clone, core/registry.h), moments and durations
 * (core/registry.h, core/feature.h).
 *
 * The input, cut at its first NUL, is parsed as a revision and checked as
 * a name.  A parsed revision must keep the promises of rev.h: a valid name
 * (except for runs), an id prefix of 4 to 64 lower-case hex digits, a
 * version number of at least 1, a stage that is a valid name; a failure
 * is MLOPS_EUSAGE with a message.
 */
#include <ctype.h>

#include "tests/fuzz/fuzz.h"
#include "core/feature.h"
#include "core/registry.h"
#include "core/rev.h"

/* The other syntaxes: no crash, and a tag's parts point into its buffer. */
static void rev_others(const uint8_t *data, size_t size, const char *text)
{
	struct mlops_reg_tagname tag;
	long long t;
	int64_t ms;
	char *exact = fuzz_memdup(data, size);
	if (exact) {
		mlops_feature_parse_time(&ms, exact, size);
		free(exact);
	}
	mlops_feature_parse_duration(&ms, text);
	mlops_time_parse(&t, text);
	if (mlops_reg_tag_parse(&tag, text) == 1) {
		const char *end = tag.buf + sizeof(tag.buf);
		FUZZ_CHECK(tag.model && tag.model >= tag.buf && tag.model < end);
		FUZZ_CHECK(!tag.version || (tag.version >= tag.buf && tag.version < end));
		FUZZ_CHECK(!tag.stage || (tag.stage >= tag.buf && tag.stage < end));
	}
	mlops_error_clear();
}

static int rev_is_hex_prefix(const char *s, int lower)
{
	size_t n = strlen(s);
	if (n < 4 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]) || (lower && isupper((unsigned char)s[i])))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlops_rev r;
	char *text = fuzz_strndup(data, size);
	if (!text)
		return 0;
	rev_others(data, size, text);
	int valid = mlops_name_valid(text);
	FUZZ_CHECK(valid == 0 || valid == 1);
	if (valid)
		FUZZ_CHECK(strlen(text) <= 128);
	int err = mlops_rev_parse(&r, text);
	if (err < 0) {
		FUZZ_CHECK(err == MLOPS_EUSAGE);
		FUZZ_CHECK(*mlops_error_message() != '\0');
		mlops_error_clear();
		free(text);
		return 0;
	}
	FUZZ_CHECK(memchr(r.name, '\0', sizeof(r.name)) && memchr(r.arg, '\0', sizeof(r.arg)));
	switch (r.kind) {
	case MLOPS_REV_RUN:
		FUZZ_CHECK(rev_is_hex_prefix(r.arg, 0));
		break;
	case MLOPS_REV_LATEST:
		FUZZ_CHECK(mlops_name_valid(r.name) && !strcmp(r.name, text));
		break;
	case MLOPS_REV_NUMBER:
		FUZZ_CHECK(mlops_name_valid(r.name) && r.number >= 1);
		break;
	case MLOPS_REV_SEMVER:
		FUZZ_CHECK(mlops_name_valid(r.name) && r.major >= 0 && r.minor >= 0 && r.patch >= 0);
		break;
	case MLOPS_REV_PREFIX:
		FUZZ_CHECK(mlops_name_valid(r.name) && rev_is_hex_prefix(r.arg, 1));
		break;
	case MLOPS_REV_STAGE:
		FUZZ_CHECK(mlops_name_valid(r.name) && mlops_name_valid(r.arg));
		break;
	default:
		FUZZ_CHECK(!"unknown revision kind");
	}
	free(text);
	return 0;
}
