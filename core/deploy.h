/*
 * deploy.h - model directories, releases and deployment targets: what
 * `mlops deploy` puts where, and the record of every deployment.
 *
 * A model directory is a folder holding either model.json (a built-in
 * model, core/learn.h) or the files of any other model together with a
 * predictor command.  It may hold record.json, the release record:
 *
 *   {"format": "mlops-release", "name": "iris", "version": "1.2.0",
 *    "model": "model.json", "predict": "python3 predict.py"}
 *
 * (every member optional).  A model JSON file may be given instead of a
 * directory.  Without a record, the name is the directory's (or the file's
 * without .json) and the version is the first 12 hex digits of the
 * SHA-256 of the MANIFEST of its files, so the same files always have the
 * same version.
 *
 * A model directory may also hold features.json: the fitted transforms of
 * the feature set the model was trained on (`mlops train --builtin -f`),
 *
 *   {"format": "mlops-features", "name": "customer", "version": 3,
 *    "record": "<feature-set version record id>", "params": {...}}
 *
 * ("params" as in the version record, core/feature.h), written in
 * canonical JSON when a registered version whose run had one feature-set
 * input is materialised, so that serving can turn raw rows into the
 * model's inputs with the parameters of training.
 *
 * A release is what a target receives: the model's files, record.json and
 * MANIFEST, which lists "<sha256>  <path>" for every other file, sorted by
 * path (`sha256sum -c MANIFEST` checks a release).
 *
 * Targets are sections of .mlops/config:
 *
 *   [deploy "prod"]
 *           type = dir | archive | command
 *           path = /srv/models/iris     (dir: the release folder;
 *                                        archive: where .tar.gz files go)
 *           command = ./ship.sh --fast  (command: split on white space,
 *                                        run with execvp)
 *           stage = production          (optional: only versions holding
 *                                        this stage)
 *           predict = python3 predict.py (optional: the predictor command
 *                                        written into the release record)
 *
 *   dir      PATH/releases/<release>/ holds each release; PATH/current is
 *            a symbolic link to releases/<release>, replaced atomically (a
 *            new link renamed over the old).  Deploying the live version
 *            again changes nothing.
 *   archive  PATH/<name>-<version>.tar.gz, reproducible: entries in path
 *            order, time 0, owner 0, fixed modes, no gzip time stamp.
 *   command  the program runs in the work tree with MLOPS_MODEL_DIR (a
 *            staged release), MLOPS_MODEL_NAME, MLOPS_MODEL_VERSION and
 *            MLOPS_TARGET in its environment and its stdout sent to
 *            stderr; its exit status decides.
 *
 * Design notes.  Each target has .mlops/deploy/<target>/: `lock` (flock()ed
 * for the whole deployment, so two deployments to one target never mix),
 * `history` (one JSON object a line, appended and fsynced: success,
 * failure and refusal alike) and, for archive and command targets,
 * `releases/<release>/` (the staged releases that rollback deploys again).
 *
 * A release folder is named NAME-VERSION-ID, ID the first 12 hex digits
 * of the SHA-256 of its MANIFEST, which lists the checksum of every file,
 * record.json (name, version, predictor) included: two models, or two
 * contents under one version, never share a folder, and the name checks
 * the MANIFEST.  A folder that exists is used again only when it matches
 * its MANIFEST (no file changed, missing or added) and the MANIFEST is
 * the model's; otherwise it is rebuilt beside and exchanged with the
 * damaged one (renameat2 RENAME_EXCHANGE).  Folders named releases/VERSION
 * by earlier versions of mlops stay where they are: rollback to one
 * checks it against its MANIFEST and deploys it as a new folder.
 *
 * The live version of a target is the version of its last successful
 * entry; `previous`, `previous_model` and `previous_release` in an entry
 * say what was live before it.  Rollback deploys that release of the last
 * successful entry (checked against its MANIFEST first), so a second
 * rollback returns to where the first started (like `cd -`).  A release
 * record without the list of executable files (written by builds before
 * it, or of a model without any) is checked there against the model's
 * own content: the registered version it names (the artifact's modes in
 * the store), else the model folder the history says it was deployed
 * from; with neither, the executable bits are taken as they are.
 */
#ifndef MLOPS_DEPLOY_H
#define MLOPS_DEPLOY_H

#include <stddef.h>

struct cJSON;
struct mlops_repo;

/* ---- model directories ---- */

struct mlops_model_dir {
	char *path;          /* absolute directory of the model (symbolic
				links resolved) */
	char *model_file;    /* absolute path of the built-in model JSON;
				NULL for a predictor model */
	char *model_rel;     /* its name inside a release ("model.json") */
	char *features_file; /* absolute path of features.json, the fitted
				transforms of the feature set the model was
				trained on; NULL when there is none */
	char *name;
	char *version;
	char *predict;       /* predictor command line; NULL for built-in */
	size_t nfiles;       /* the model's files, relative, sorted bytewise; */
	char **files;        /* record.json and MANIFEST are not among them */
	char **sources;      /* absolute path of each file */
	char **digests;      /* SHA-256 of each file, in hex */
	unsigned *modes;     /* 0755 for executable files, else 0644 */
	int from_record;     /* name and version came from record.json */
	int registered;      /* resolved from the model registry */
	int deprecated;      /* a registered version that is deprecated: 1,
				or of a deprecated model: 2 */
};

/*
 * Open the model at path: a directory (symbolic links followed) or a model
 * JSON file.  predict, when not NULL, overrides the record's predictor
 * command.  Only regular files and directories may be in a model
 * directory.  Errors: MLOPS_ENOTFOUND when path does not exist;
 * MLOPS_EINVALID for a bad record.json, a symbolic link or special file
 * inside the directory, or a directory holding neither model.json nor a
 * predictor command; MLOPS_EIO on read errors.  *out is the caller's.
 */
int mlops_model_dir_open(struct mlops_model_dir **out, const char *path, const char *predict);

/* Free a model directory; NULL is accepted. */
void mlops_model_dir_free(struct mlops_model_dir *md);

/*
 * Resolve what `mlops deploy` and `serve` take: an existing path (model
 * directory or JSON file), else a revision of a registered model (NAME,
 * NAME@vX.Y.Z, NAME@prefix, NAME#stage), whose artifact is materialised
 * from the store into .mlops/tmp/model-<record id>/ (reused while it is
 * there) with a record.json naming the model and version and, when its
 * run read one feature set, features.json (see above; MLOPS_ENOTFOUND or
 * MLOPS_ECORRUPT when that feature set's record is not in the store).  A malformed
 * revision is MLOPS_EUSAGE; an unknown one MLOPS_ENOTFOUND.  repo may be
 * NULL outside a repository (then only paths work).
 */
int mlops_model_dir_resolve(struct mlops_model_dir **out, struct mlops_repo *repo,
			const char *rev, const char *predict);

/*
 * Split a command line on blanks into a NULL-terminated argument vector
 * (no quoting, no expansion).  MLOPS_EINVALID for an empty command.
 * Free with mlops_argv_free.
 */
int mlops_argv_split(char ***out, const char *cmdline);
void mlops_argv_free(char **argv);

/*
 * Write the release of md into the directory dest (created, must not
 * exist; its parent must): the files, record.json and MANIFEST.  Files are
 * written to a temporary sibling and renamed into place when complete.
 */
int mlops_release_write(const struct mlops_model_dir *md, const char *dest);

/*
 * Write the release of md as a reproducible .tar.gz to path (atomically,
 * through a temporary sibling); sha256_hex (65 bytes) receives the
 * checksum of the archive.
 */
int mlops_release_archive(char *sha256_hex, const struct mlops_model_dir *md, const char *path);

/* ---- targets ---- */

enum mlops_deploy_kind {
	MLOPS_DEPLOY_DIR,
	MLOPS_DEPLOY_ARCHIVE,
	MLOPS_DEPLOY_COMMAND,
};

struct mlops_deploy_target {
	char *name;
	enum mlops_deploy_kind kind;
	char *path;     /* absolute (dir, archive); NULL for command */
	char *command;  /* command; NULL otherwise */
	char *stage;    /* NULL = any version */
	char *predict;  /* NULL = the model's own */
	/*
	 * Set by mlops_deploy_targets only, for a target whose configuration
	 * cannot be used: why (the message mlops_deploy_target_get gave); the
	 * fields above but the name are then unset.
	 */
	char *problem;
};

/* "dir", "archive", "command". */
const char *mlops_deploy_kind_name(enum mlops_deploy_kind kind);

/*
 * Read target `name` from the configuration.  MLOPS_ENOTFOUND when there
 * is no [deploy "name"] section; MLOPS_EINVALID for a missing or unknown
 * type, a missing path or command; MLOPS_EUSAGE for a bad name.
 */
int mlops_deploy_target_get(struct mlops_deploy_target **out, struct mlops_repo *repo,
			    const char *name);

/*
 * Every configured target, sorted by name; free with
 * mlops_deploy_targets_free.  A target whose configuration is wrong (no or
 * an unknown type, no path or command, a bad name) is listed with its
 * `problem` rather than failing the whole list.
 */
int mlops_deploy_targets(struct mlops_deploy_target ***out, size_t *n, struct mlops_repo *repo);

void mlops_deploy_target_free(struct mlops_deploy_target *t);
void mlops_deploy_targets_free(struct mlops_deploy_target **t, size_t n);

/* One deployment: an entry of a target's history. */
struct mlops_deployment {
	long long time;    /* seconds since the epoch */
	char *user;        /* "Name <email>" */
	char *host;
	char *target;
	char *kind;        /* "dir", "archive", "command" */
	char *action;      /* "deploy" or "rollback" */
	char *model;
	char *version;
	char *source;      /* what was deployed: the path or revision given */
	char *previous;    /* version live before; NULL when none */
	char *previous_model;   /* the model of that version */
	char *previous_release; /* and its release folder (see release) */
	char *location;    /* dir: the release folder; archive: the file;
			      command: the staged release */
	char *checksum;    /* archive: SHA-256 of the file */
	char *release;     /* the release folder's name below releases/:
			      NAME-VERSION-ID; NULL in entries written
			      before releases were named so (their folder
			      is releases/VERSION) */
	char *error;       /* failure message; NULL on success */
	int ok;
	int unchanged;     /* the version was live already: nothing done */
};

void mlops_deployment_free(struct mlops_deployment *d);
void mlops_deployments_free(struct mlops_deployment **d, size_t n);

/* The entry as a JSON object (fields as in the struct; NULLs as null). */
struct cJSON *mlops_deployment_to_json(const struct mlops_deployment *d);

/*
 * Deploy md to target t; source is what the user named (for the record).
 * On success *out describes the deployment (the caller's).  A failure is
 * returned with its message and recorded in the history as well.  Errors:
 * MLOPS_ECONFLICT when md is a deprecated version, or the target is
 * stage-restricted and md is not a registered version holding that stage; MLOPS_ELOCKED when another
 * deployment to t runs; MLOPS_ERROR when the command fails; MLOPS_EIO.
 * Deploying the live version again is success with unchanged = 1 and is
 * not recorded (when its release is intact; a damaged one is rebuilt).
 * A refusal because another deployment holds the lock is recorded too
 * (appended with one write, which cannot mix with the holder's).
 */
int mlops_deploy(struct mlops_deployment **out, struct mlops_repo *repo,
		 const struct mlops_deploy_target *t, const struct mlops_model_dir *md,
		 const char *source);

/*
 * Record a deployment to t of source that failed before it could start
 * (the model could not be opened or resolved): an entry with ok false,
 * the current error message, and the model and version when source is a
 * revision the registry resolves (null otherwise).  Returns err, with the
 * message kept.
 */
int mlops_deploy_record_failure(struct mlops_repo *repo, const struct mlops_deploy_target *t,
				const char *source, int err);

/*
 * Return target t to the version that was live before its current one
 * (for dir targets by switching the `current` link only).  MLOPS_ENOTFOUND
 * when there is no earlier version or its release is gone; MLOPS_ECORRUPT
 * when its release does not match its MANIFEST; MLOPS_ECONFLICT when
 * that version is deprecated or, on a target with a stage, does not hold
 * it (a rollback goes only where a deployment could).  Every refusal once the
 * target's lock is taken is recorded in the history as a failed rollback
 * (model and version: where it would have returned), as is one refused
 * because another deployment holds the lock (model and version null).
 */
int mlops_deploy_rollback(struct mlops_deployment **out, struct mlops_repo *repo,
			  const struct mlops_deploy_target *t);

/*
 * The history of target `name`, oldest first (an array of *n entries,
 * the caller's).  An unknown or never used target has an empty history.
 */
int mlops_deploy_history(struct mlops_deployment ***out, size_t *n, struct mlops_repo *repo,
			 const char *name);

/*
 * The last successful deployment of target `name` (the caller's), or
 * *out = NULL when none.
 */
int mlops_deploy_live(struct mlops_deployment **out, struct mlops_repo *repo, const char *name);

#endif
