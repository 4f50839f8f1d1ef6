/*
 * rev.c - parsing the revision syntax (see rev.h).
 */
#include "rev.h"
#include "store/error.h"
#include "store/oid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mlops_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128 || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return strstr(name, "..") == NULL;
}

static int all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 9)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int mlops_rev_parse(struct mlops_rev *out, const char *text)
{
	memset(out, 0, sizeof(*out));
	size_t len = strlen(text);
	if (len > 260)
		return mlops_error_set(MLOPS_EUSAGE, "revision '%.32s...' is too long (at most 260 characters)", text);
	if (!strncmp(text, "r-", 2) && mlops_oid_is_prefix(text + 2)) {
		out->kind = MLOPS_REV_RUN;
		snprintf(out->arg, sizeof(out->arg), "%s", text + 2);
		return 0;
	}
	const char *at = strchr(text, '@'), *hash = strchr(text, '#');
	const char *sep = at ? at : hash;
	if (at && hash)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a revision: use NAME@VERSION or NAME#STAGE", text);
	size_t nl = sep ? (size_t)(sep - text) : len;
	if (nl > 128 || nl == 0)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a revision: a name has 1 to 128 characters", text);
	memcpy(out->name, text, nl);
	out->name[nl] = '\0';
	if (!mlops_name_valid(out->name))
		return mlops_error_set(MLOPS_EUSAGE,
			"'%s' is not a valid name (letters, digits, '.', '_', '-'; starting with a letter or digit)",
			out->name);
	if (!sep) {
		out->kind = MLOPS_REV_LATEST;
		return 0;
	}
	const char *arg = sep + 1;
	size_t al = strlen(arg);
	if (al == 0 || al > 128)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a revision: nothing after '%c'", text, *sep);
	snprintf(out->arg, sizeof(out->arg), "%s", arg);
	if (*sep == '#') {
		if (!mlops_name_valid(arg))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid stage name", arg);
		out->kind = MLOPS_REV_STAGE;
		return 0;
	}
	if (arg[0] == 'v' && all_digits(arg + 1, al - 1)) {
		out->kind = MLOPS_REV_NUMBER;
		out->number = strtol(arg + 1, NULL, 10);
		if (out->number < 1)
			return mlops_error_set(MLOPS_EUSAGE, "'%s': versions start at v1", text);
		return 0;
	}
	if (arg[0] == 'v') {
		const char *p = arg + 1;
		int parts[3];
		for (int i = 0; i < 3; i++) {
			size_t dl = strspn(p, "0123456789");
			if (!all_digits(p, dl) || (dl > 1 && p[0] == '0'))
				goto not_semver;
			parts[i] = atoi(p);
			p += dl;
			if (i < 2) {
				if (*p != '.')
					goto not_semver;
				p++;
			}
		}
		if (*p)
			goto not_semver;
		out->kind = MLOPS_REV_SEMVER;
		out->major = parts[0];
		out->minor = parts[1];
		out->patch = parts[2];
		return 0;
	}
not_semver:
	if (mlops_oid_is_prefix(arg)) {
		out->kind = MLOPS_REV_PREFIX;
		for (char *c = out->arg; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		return 0;
	}
	return mlops_error_set(MLOPS_EUSAGE,
		"'%s' is not a revision: after '@' use vN, vX.Y.Z or at least 4 hex digits of an id", text);
}
