/*
 * registry.h - the model registry: model versions and stages as annotated
 * git tags in GTO's grammar, with a version record in the store.
 *
 * Tags (GTO's names, so `gto show` reads this registry and GTO's own tags
 * are read here):
 *
 *   NAME@vX.Y.Z           register a version (on the run's commit or HEAD)
 *   NAME@vX.Y.Z!#N        deregister it (mlops register deprecate NAME@VER)
 *   NAME#STAGE#N          assign STAGE to the version of the tag's commit
 *   NAME#STAGE!#N         unassign it (demote)
 *   NAME@deprecated#N     deprecate the whole model
 *
 * NAME and STAGE follow GTO's name rule [a-z][a-z0-9-]*[a-z0-9]; N is
 * 1 + the highest counter among the model's tags, as GTO counts.  Every
 * tag is annotated; its message starts with a sentence for people and
 * carries "key: value" lines for mlops: "version: vX.Y.Z" (stage tags, so
 * that several versions on one commit stay apart), "artifact:
 * sha256:<hex>" and "record: <hex>" (the version record's id).
 *
 * The version record (canonical JSON in the store, ref
 * models/NAME/vX.Y.Z -> its id):
 *   {"type":"model","name","version":"vX.Y.Z","artifact":{node},
 *    "run":"<run record id>"?,"inputs":[...]?,"metrics":{...},
 *    "baseline":"<stats record id>"?,"drift_check":"<check record id>"?,
 *    "author","time","message","git_commit"}
 * The baseline record, for built-in runs:
 *   {"type":"baseline","datasets":[{"name","version","record","path",
 *    "stats":{colstats JSON}}]}
 *
 * State from events.  Events of a model are ordered by tag time, then
 * counter.  A (version, stage) pair is active when its last event is an
 * assignment; NAME#STAGE is the active pair assigned most recently, so
 * demoting the holder gives the stage back to the previous holder that was
 * never demoted, as in GTO.  A version is deprecated after a
 * deregistration; a model after @deprecated.  Reading lists refs/tags/
 * once (libgit2's iterator), skips names outside the grammar without
 * reading them, and reads each remaining tag object once.
 *
 * Write protocol: the artifact is stored and the store synced first; then,
 * under the repository lock, the registry is read again, the version
 * chosen, the record stored and synced, the ref written and the tag
 * created (the ref is removed again when the tag cannot be).  Stage tags
 * are created under the lock as well, so two promotions never share a
 * counter.  Nothing here prints.
 */
#ifndef MLOPS_REGISTRY_H
#define MLOPS_REGISTRY_H

#include <stddef.h>

#include "store/oid.h"
#include "store/tree.h"

struct mlops_repo;
struct cJSON;

enum mlops_reg_action {
	MLOPS_REG_REGISTER,
	MLOPS_REG_DEREGISTER,
	MLOPS_REG_ASSIGN,
	MLOPS_REG_UNASSIGN,
	MLOPS_REG_DEPRECATE,
	MLOPS_REG_CREATE,
};

/* "register", "deregister", "assign", "unassign", "deprecate", "create". */
const char *mlops_reg_action_name(enum mlops_reg_action action);

/* A tag name taken apart (all strings point into `buf`). */
struct mlops_reg_tagname {
	enum mlops_reg_action action;
	const char *model;
	const char *version;  /* "v1.2.3..." for register and deregister */
	const char *stage;    /* for assign and unassign */
	long counter;         /* 0 when the name has none */
	char buf[512];
};

/*
 * Parse a tag name by GTO's tag_re.  Returns 1 and fills *out when the
 * name is a registry tag, 0 when it is not (never an error).
 */
int mlops_reg_tag_parse(struct mlops_reg_tagname *out, const char *tag);

/* 1 when s matches GTO's name rule [a-z][a-z0-9-/]*[a-z0-9] without '/'. */
int mlops_reg_name_valid(const char *s);

/* One registry tag. */
struct mlops_reg_event {
	enum mlops_reg_action action;
	char *tag;
	char *model;
	char *version;   /* register/deregister: from the name; stage tags: from
			    the message, else the version registered on the
			    commit (NULL when none is) */
	char *stage;
	long counter;
	long long time;  /* tagger time, seconds since the epoch */
	char *tagger;    /* "Name <email>" */
	char *message;
	char commit[41]; /* the commit the tag points at */
	int has_record, has_artifact;
	mlops_oid record, artifact;
};

/* Every registry tag of a repository, in event order. */
struct mlops_registry {
	struct mlops_reg_event *events;
	size_t n;
	long max_counter; /* highest counter among the names read, lightweight
			     tags included (GTO counts those too) */
};

/*
 * Read the registry tags of `model` (NULL: of every model).  Annotated tags
 * only (GTO ignores lightweight ones too).  *out is the caller's
 * (mlops_registry_free).  Errors from libgit2 are MLOPS_EIO.
 */
int mlops_registry_load(struct mlops_registry **out, struct mlops_repo *repo, const char *model);
void mlops_registry_free(struct mlops_registry *reg);

/* A version as it stands. */
struct mlops_model_version {
	const struct mlops_reg_event *reg; /* its registration (borrowed) */
	const char *version;               /* borrowed from reg */
	int deprecated;                    /* deregistered */
	char **stages;                     /* stages it holds, sorted */
	size_t nstages;
};

/* A stage and the version that holds it. */
struct mlops_stage_holder {
	const char *stage;                 /* borrowed from the events */
	const char *version;
	long long since;                   /* time of the assignment */
	const struct mlops_reg_event *assign;
};

/* A model at a moment: versions (ascending semver) and stage holders. */
struct mlops_model_state {
	char *name;
	int deprecated;
	struct mlops_model_version *versions;
	size_t nversions;
	struct mlops_stage_holder *stages; /* sorted by stage name */
	size_t nstages;
	size_t nevents;                    /* events of the model up to `at` */
};

/*
 * The state of `name` from reg's events up to time `at` (inclusive; -1:
 * all).  Borrowed pointers point into reg, which must outlive *out.
 * MLOPS_ENOTFOUND when the model has no event by then.
 */
int mlops_model_state_get(struct mlops_model_state **out, const struct mlops_registry *reg,
			  const char *name, long long at);
void mlops_model_state_free(struct mlops_model_state *st);

/* The latest version that is not deprecated (borrowed), or NULL. */
const struct mlops_model_version *mlops_model_state_latest(const struct mlops_model_state *st);

/* The holder of `stage` (borrowed), or NULL. */
const struct mlops_stage_holder *mlops_model_state_stage(const struct mlops_model_state *st,
							 const char *stage);

/* Sorted names of the models in reg; free with mlops_strlist_free (refs.h). */
int mlops_registry_models(char ***out, size_t *n, const struct mlops_registry *reg);

/*
 * Compare two versions ("v1.2.3", with optional -prerelease and +build, as
 * semver orders them; build metadata ignored): <0, 0, >0.
 */
int mlops_semver_cmp(const char *a, const char *b);

/* What to register. */
struct mlops_register_opts {
	const char *name;
	const char *run;      /* a run revision (r-<prefix>), or NULL */
	const char *path;     /* an artifact file or directory, or NULL */
	const char *bump;     /* "major", "minor", "patch"; NULL = patch */
	const char *version;  /* an explicit "vX.Y.Z", or NULL */
	const char *message;  /* NULL = "" */
	int allow_same;       /* allow an artifact another version has */
	const char *drift_check; /* the monitor check (64 hex) that caused this
				    version, recorded as "drift_check", or NULL */
};

struct mlops_register_result {
	char *name, *version, *tag;
	char commit[41];
	mlops_oid record;
	struct mlops_node artifact;
	int has_run, has_baseline;
	mlops_oid run, baseline;
	char *baseline_note;  /* why no baseline was made, or NULL */
	char *commit_version; /* another live version of the model tagged on
				 the same commit (GTO cannot tell the two
				 apart), or NULL */
};

void mlops_register_result_free(struct mlops_register_result *r);

/*
 * Register a new version.  Exactly one of opts->run and opts->path.  The
 * version is opts->version, or the highest registered version bumped (the
 * first is v0.0.1 by patch, v0.1.0 by minor, v1.0.0 by major).  Errors:
 * MLOPS_EUSAGE (bad name, version or bump), MLOPS_ENOTFOUND (path, run,
 * no commit to tag), MLOPS_EINVALID (a run that did not succeed or has no
 * outputs), MLOPS_ECONFLICT (the artifact equals version X: the message
 * names it; the version exists; the model is deprecated; the commit holds
 * another live version and registry.oneVersionPerCommit is true),
 * MLOPS_ELOCKED, store and git errors.  Without that setting, a second
 * version on one commit is registered and named in commit_version: GTO
 * refuses it (VersionExistsForCommit) and attributes a stage tag to a
 * version by the commit it points at, so it cannot tell them apart.
 */
int mlops_model_register(struct mlops_register_result **out, struct mlops_repo *repo,
			 const struct mlops_register_opts *opts);

/*
 * Resolve a model revision: NAME (the latest version not deprecated),
 * NAME@vX.Y.Z, NAME@<record id prefix>, NAME#stage (the version holding
 * it now).  A deprecated model has no latest version and no stages: NAME
 * and NAME#stage are MLOPS_ENOTFOUND for it; its versions are deprecated.  *record (cJSON_Delete) and *id get the version record, *version
 * (free) its version; any of them may be NULL when not wanted.
 * MLOPS_ENOTFOUND (no such model, version or holder; a record missing from
 * the store says to run mlops pull), MLOPS_EAMBIGUOUS, MLOPS_EUSAGE.
 */
int mlops_model_resolve(struct cJSON **record, mlops_oid *id, char **version,
			struct mlops_repo *repo, const char *rev);

/*
 * *out = 0 when version of model name is live, 1 when it is deprecated,
 * 2 when the whole model is.  MLOPS_ENOTFOUND for an unknown model.
 */
int mlops_model_version_deprecated(int *out, struct mlops_repo *repo, const char *name,
				   const char *version);

/*
 * As mlops_model_resolve, for the state at time `at` (-1: now) and without
 * loading the record: *version (free) and *tag (free, the registration
 * tag) may be NULL when not wanted.
 */
int mlops_model_resolve_version(char **version, char **tag, struct mlops_repo *repo,
				const char *rev, long long at);

/*
 * Register the version record `rec` (id `record`, in the store already),
 * as mlops import does for a model version it brings: the annotated tag
 * NAME@VER, on the record's git_commit when this repository has that
 * commit, else on HEAD.  The ref models/NAME/VER is the caller's, and so
 * is the repository lock.  With check set, only checks that the tag can be
 * made (a valid name and version, a commit to tag) and writes nothing.
 * MLOPS_EINVALID for a record that is not a model version, MLOPS_ENOTFOUND
 * when there is no commit, MLOPS_ECONFLICT when the tag exists.  *tag
 * (free; may be NULL when not wanted) gets the tag's name.
 */
int mlops_model_tag_record(char **tag, struct mlops_repo *repo, const struct cJSON *rec,
			   const mlops_oid *record, int check);

/* The stages allowed ([registry] stages; default dev staging prod). */
int mlops_registry_stages(char ***out, size_t *n, struct mlops_repo *repo);

/*
 * 0 when `stage` is a valid stage name (GTO's rule) and one of the stages
 * allowed; MLOPS_EUSAGE with a message saying which rule it breaks.
 */
int mlops_registry_stage_check(struct mlops_repo *repo, const char *stage);

/* A gate that failed a promotion. */
struct mlops_gate_failure {
	char *metric;
	char *op;
	double threshold;
	int missing;     /* the version has no such metric */
	double value;
};

/*
 * Assign `stage` to the version `rev` names (tag NAME#STAGE#N on its
 * commit).  Gates ([stage "S"] require = METRIC OP NUMBER, several lines
 * allowed, OP one of >= > <= < ==) are checked against the record's
 * metrics; a failing gate refuses with MLOPS_ECONFLICT, a message naming
 * the figure, and *failure (the caller's, may be NULL) describing it.
 * MLOPS_EUSAGE for a stage not allowed, MLOPS_EINVALID for a malformed
 * gate.  *tag (free) gets the tag's name.
 */
int mlops_model_promote(char **tag, char **version, struct mlops_gate_failure **failure,
			struct mlops_repo *repo, const char *rev, const char *stage,
			const char *message);
void mlops_gate_failure_free(struct mlops_gate_failure *f);

/*
 * Unassign `stage` from the version of `name` that holds it (tag
 * NAME#STAGE!#N on that version's commit).  *version (free) gets the
 * version demoted, *now (free, NULL when none) the holder afterwards.
 * MLOPS_ENOTFOUND when no version holds the stage.
 */
int mlops_model_demote(char **tag, char **version, char **now, struct mlops_repo *repo,
		       const char *name, const char *stage, const char *message);

/*
 * Deprecate a version (NAME@VER: tag NAME@VER!#N) or a whole model (NAME:
 * tag NAME@deprecated#N).  MLOPS_ECONFLICT when already deprecated.
 */
int mlops_model_deprecate(char **tag, struct mlops_repo *repo, const char *rev,
			  const char *message);

/* The events of one model as JSON objects (for history); caller owns. */
struct cJSON *mlops_reg_event_to_json(const struct mlops_reg_event *e);

/*
 * The genealogy of the version `rev` names:
 *   {"model":{"name","version","id","tag","commit","artifact","author",
 *    "time"},"run":{"id","name","command","params","git_commit",
 *    "git_dirty","status","metrics"}|null,"datasets":[{"name","version",
 *    "record","type"}],"features":[{...}],"stages":[{"stage","active",
 *    "events":[{"action","time","tagger","tag"}]}],"deployments":[{...}]}
 * "datasets" holds the run's dataset inputs, then the source dataset
 * version of each feature set it trained on (from the feature set's
 * record, when the store has it), with "feature_set" the feature set's
 * record id.  "deployments" is present only when the repository records
 * any.
 */
int mlops_model_lineage(struct cJSON **out, struct mlops_repo *repo, const char *rev);

/* The lineage as a Graphviz digraph; *out (free) is the text. */
int mlops_lineage_dot(char **out, const struct cJSON *lineage);

/*
 * The model versions trained on a dataset version (`rev` as dataset
 * revisions are written), directly or through a feature set made from
 * it: [{"name","version","id","tag","run"?,"feature_set"}], sorted;
 * "feature_set" is null for a direct input, else {"name","version",
 * "record"} of the feature set version the run trained on.
 */
int mlops_model_impact(struct cJSON **out, struct mlops_repo *repo, const char *rev);

/*
 * Parse a moment: "2026-01-02", "2026-01-02T03:04:05" with optional "Z"
 * or "+hh:mm" (no zone: UTC), "2026-01-02 03:04:05", or "@<epoch>".
 * MLOPS_EUSAGE otherwise.
 */
int mlops_time_parse(long long *out, const char *text);

#endif
