/*
 * rev.h - the revision syntax shared by every command:
 *
 *   NAME          the newest version
 *   NAME@v3       version 3 of a dataset or feature set
 *   NAME@v1.2.0   a registered model version (semantic version)
 *   NAME@3f2a9c1  by object-id prefix (4 to 64 hex digits)
 *   NAME#prod     the model version that holds stage prod
 *   r-3f2a9c1     a training run by id prefix
 *
 * Names: [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 characters.
 */
#ifndef MLOPS_REV_H
#define MLOPS_REV_H

enum mlops_rev_kind {
	MLOPS_REV_LATEST,
	MLOPS_REV_NUMBER,  /* @vN */
	MLOPS_REV_SEMVER,  /* @vX.Y.Z */
	MLOPS_REV_PREFIX,  /* @hex */
	MLOPS_REV_STAGE,   /* #stage */
	MLOPS_REV_RUN,     /* r-hex */
};

struct mlops_rev {
	enum mlops_rev_kind kind;
	char name[129];
	char arg[129];  /* prefix, stage or semver text */
	long number;    /* for NUMBER */
	int major, minor, patch; /* for SEMVER */
};

/* 1 when name is a valid name. */
int mlops_name_valid(const char *name);

/* Parse a revision; MLOPS_EUSAGE with a message saying what is wrong. */
int mlops_rev_parse(struct mlops_rev *out, const char *text);

#endif
