/*
 * registry.c - the model registry on annotated git tags in GTO's grammar
 * (see registry.h for the tag names, the records and the write protocol):
 * parsing tag names, reading the tags once through libgit2, the state of
 * a model at a moment, registering, promoting, demoting, deprecating,
 * resolving revisions, gates, lineage and impact.
 */
#include "registry.h"
#include "learn.h"
#include "monitor.h"
#include "dataset.h"
#include "run.h"
#include "train_internal.h"
#include "rev.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000

#define OOM() mlops_error_set(MLOPS_ERROR, "out of memory")

const char *mlops_reg_action_name(enum mlops_reg_action action)
{
	switch (action) {
	case MLOPS_REG_REGISTER: return "register";
	case MLOPS_REG_DEREGISTER: return "deregister";
	case MLOPS_REG_ASSIGN: return "assign";
	case MLOPS_REG_UNASSIGN: return "unassign";
	case MLOPS_REG_DEPRECATE: return "deprecate";
	case MLOPS_REG_CREATE: return "create";
	}
	return "unknown";
}

/* ---- names and versions ------------------------------------------------ */

/* GTO's name: [a-z][a-z0-9-/]*[a-z0-9], '/' allowed only when slash. */
static int gto_name(const char *s, size_t n, int slash)
{
	if (n < 2 || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      (slash && c == '/')))
			return 0;
	}
	char last = s[n - 1];
	return (last >= 'a' && last <= 'z') || (last >= '0' && last <= '9');
}

int mlops_reg_name_valid(const char *s)
{
	size_t n = strlen(s);
	return n <= 128 && gto_name(s, n, 0);
}

/* 0|[1-9][0-9]* */
static int semver_number(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return n == 1 || s[0] != '0';
}

/* A pre-release identifier: a number without leading zero, or [0-9A-Za-z-]+ with a non-digit. */
static int semver_pre_ident(const char *s, size_t n)
{
	int nondigit = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-') || c >= 0x80)
			return 0;
		if (!isdigit(c))
			nondigit = 1;
	}
	return nondigit || semver_number(s, n);
}

static int semver_build_ident(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-') || c >= 0x80)
			return 0;
	}
	return 1;
}

/* Check dot-separated identifiers of s[0..n) with ok(). */
static int dotted(const char *s, size_t n, int (*ok)(const char *, size_t))
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!ok(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

/* s[0..n) is "v" + a semantic version as GTO's regular expression has it. */
static int semver_valid(const char *s, size_t n)
{
	if (n < 6 || s[0] != 'v')
		return 0;
	s++;
	n--;
	const char *plus = memchr(s, '+', n);
	size_t core_n = plus ? (size_t)(plus - s) : n;
	if (plus && !dotted(plus + 1, n - core_n - 1, semver_build_ident))
		return 0;
	const char *dash = memchr(s, '-', core_n);
	size_t nums_n = dash ? (size_t)(dash - s) : core_n;
	if (dash && !dotted(dash + 1, core_n - nums_n - 1, semver_pre_ident))
		return 0;
	int parts = 0;
	size_t start = 0;
	for (size_t i = 0; i <= nums_n; i++) {
		if (i == nums_n || s[i] == '.') {
			if (!semver_number(s + start, i - start))
				return 0;
			parts++;
			start = i + 1;
		}
	}
	return parts == 3;
}

/* Only vX.Y.Z (what mlops writes), each part fitting an int. */
static int semver_plain(const char *s, int v[3])
{
	size_t n = strlen(s);
	if (!semver_valid(s, n) || strpbrk(s, "-+"))
		return 0;
	const char *p = s + 1;
	for (int i = 0; i < 3; i++) {
		char *end;
		errno = 0;
		long x = strtol(p, &end, 10);
		if (errno || x > 99999999)
			return 0;
		v[i] = (int)x;
		p = end + 1;
	}
	return 1;
}

static int cmp_pre_ident(const char *a, size_t an, const char *b, size_t bn)
{
	int ad = semver_number(a, an), bd = semver_number(b, bn);
	if (ad && bd) {
		if (an != bn)
			return an < bn ? -1 : 1;
		return memcmp(a, b, an);
	}
	if (ad != bd)
		return ad ? -1 : 1;
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

int mlops_semver_cmp(const char *a, const char *b)
{
	if (*a == 'v')
		a++;
	if (*b == 'v')
		b++;
	for (int i = 0; i < 3; i++) {
		size_t al = strspn(a, "0123456789"), bl = strspn(b, "0123456789");
		while (al > 1 && *a == '0')
			a++, al--;
		while (bl > 1 && *b == '0')
			b++, bl--;
		if (al != bl)
			return al < bl ? -1 : 1;
		int c = memcmp(a, b, al);
		if (c)
			return c < 0 ? -1 : 1;
		a += al;
		b += bl;
		if (i < 2) {
			if (*a == '.')
				a++;
			if (*b == '.')
				b++;
		}
	}
	/* Pre-release: a version without one ranks higher. */
	int ap = *a == '-', bp = *b == '-';
	if (!ap || !bp)
		return ap == bp ? 0 : ap ? -1 : 1;
	a++;
	b++;
	for (;;) {
		size_t al = strcspn(a, ".+"), bl = strcspn(b, ".+");
		int c = cmp_pre_ident(a, al, b, bl);
		if (c)
			return c < 0 ? -1 : 1;
		a += al;
		b += bl;
		int amore = *a == '.', bmore = *b == '.';
		if (!amore || !bmore)
			return amore == bmore ? 0 : amore ? 1 : -1;
		a++;
		b++;
	}
}

/* ---- tag names ----------------------------------------------------------- */

/* "!"? "#" digits? at the end of p; returns 1 when that is all there is. */
static int tag_tail(const char *p, int allow_cancel, int *cancel, long *counter)
{
	*cancel = 0;
	*counter = 0;
	if (allow_cancel && *p == '!') {
		*cancel = 1;
		p++;
	}
	if (*p == '#') {
		p++;
		size_t d = strspn(p, "0123456789");
		if (d == 0 || p[d])
			return 0;
		long v = 0;
		for (size_t i = 0; i < d; i++)
			v = v > (LONG_MAX - 9) / 10 ? LONG_MAX : v * 10 + (p[i] - '0');
		*counter = v;
		return 1;
	}
	return *p == '\0';
}

int mlops_reg_tag_parse(struct mlops_reg_tagname *out, const char *tag)
{
	size_t len = strlen(tag);
	int cancel;
	memset(out, 0, offsetof(struct mlops_reg_tagname, buf));
	if (len + 2 > sizeof(out->buf))
		return 0; /* room for the name and one more byte (see below) */
	memcpy(out->buf, tag, len + 1);
	char *sep = strpbrk(out->buf, "@#");
	if (!sep || !gto_name(out->buf, (size_t)(sep - out->buf), 1))
		return 0;
	char kind = *sep;
	*sep = '\0';
	out->model = out->buf;
	char *rest = sep + 1;
	if (kind == '#') {
		size_t sl = strcspn(rest, "!#");
		if (!gto_name(rest, sl, 1))
			return 0;
		char *tail = rest + sl;
		if (!tag_tail(tail, 1, &cancel, &out->counter))
			return 0;
		/* Move the tail one byte on to terminate the stage in place. */
		memmove(tail + 1, tail, strlen(tail) + 1);
		*tail = '\0';
		out->stage = rest;
		out->action = cancel ? MLOPS_REG_UNASSIGN : MLOPS_REG_ASSIGN;
		return 1;
	}
	if (!strncmp(rest, "deprecated", 10) || !strncmp(rest, "created", 7)) {
		int dep = rest[0] == 'd';
		char *tail = rest + (dep ? 10 : 7);
		if (tag_tail(tail, 0, &cancel, &out->counter)) {
			out->action = dep ? MLOPS_REG_DEPRECATE : MLOPS_REG_CREATE;
			return 1;
		}
		return 0;
	}
	size_t vl = strcspn(rest, "!#");
	if (!semver_valid(rest, vl))
		return 0;
	char *tail = rest + vl;
	if (!tag_tail(tail, 1, &cancel, &out->counter))
		return 0;
	memmove(tail + 1, tail, strlen(tail) + 1);
	*tail = '\0';
	out->version = rest;
	out->action = cancel ? MLOPS_REG_DEREGISTER : MLOPS_REG_REGISTER;
	return 1;
}

/* ---- reading the tags ------------------------------------------------------ */

static void event_clear(struct mlops_reg_event *e)
{
	free(e->tag);
	free(e->model);
	free(e->version);
	free(e->stage);
	free(e->tagger);
	free(e->message);
}

void mlops_registry_free(struct mlops_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		event_clear(&reg->events[i]);
	free(reg->events);
	free(reg);
}

/* The "key: value" lines mlops writes at the end of a tag message. */
static void parse_message(struct mlops_reg_event *e)
{
	const char *p = e->message;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char hex[MLOPS_OID_HEXSZ + 1];
		if (l == 17 + 64 && !strncmp(p, "artifact: sha256:", 17)) {
			memcpy(hex, p + 17, 64);
			hex[64] = '\0';
			if (mlops_oid_parse(&e->artifact, hex) == 0)
				e->has_artifact = 1;
		} else if (l == 8 + 64 && !strncmp(p, "record: ", 8)) {
			memcpy(hex, p + 8, 64);
			hex[64] = '\0';
			if (mlops_oid_parse(&e->record, hex) == 0)
				e->has_record = 1;
		} else if (l > 9 && l < 200 && !strncmp(p, "version: ", 9) && !e->version &&
			   semver_valid(p + 9, l - 9)) {
			e->version = strndup(p + 9, l - 9);
		}
		p = nl ? nl + 1 : p + l;
	}
	mlops_error_clear();
}

static int event_cmp(const void *pa, const void *pb)
{
	const struct mlops_reg_event *a = pa, *b = pb;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->counter != b->counter)
		return a->counter < b->counter ? -1 : 1;
	return strcmp(a->tag, b->tag);
}

static char *sig_text(const git_signature *s)
{
	if (!s)
		return strdup("");
	return mlops_strdupf("%s <%s>", s->name ? s->name : "", s->email ? s->email : "");
}

/* Read one annotated tag into e; 1 done, 0 not annotated, <0 error. */
static int read_tag(struct mlops_reg_event *e, struct mlops_repo *repo, const git_oid *oid,
		    const char *name, const struct mlops_reg_tagname *tn)
{
	git_tag *tag = NULL;
	git_object *peeled = NULL;
	int rc = git_tag_lookup(&tag, mlops_repo_git(repo), oid);
	if (rc < 0) {
		git_error_clear();
		return 0; /* a lightweight tag (or an unreadable one): not an event */
	}
	const git_oid *target = git_tag_target_id(tag);
	if (git_tag_target_type(tag) != GIT_OBJECT_COMMIT) {
		if (git_tag_peel(&peeled, tag) < 0 || git_object_type(peeled) != GIT_OBJECT_COMMIT) {
			git_error_clear();
			git_object_free(peeled);
			git_tag_free(tag);
			return 0;
		}
		target = git_object_id(peeled);
	}
	git_oid_tostr(e->commit, sizeof(e->commit), target);
	const git_signature *sig = git_tag_tagger(tag);
	const char *msg = git_tag_message(tag);
	e->action = tn->action;
	e->counter = tn->counter;
	e->time = sig ? (long long)sig->when.time : 0;
	e->tag = strdup(name);
	e->model = strdup(tn->model);
	e->version = tn->version ? strdup(tn->version) : NULL;
	e->stage = tn->stage ? strdup(tn->stage) : NULL;
	e->tagger = sig_text(sig);
	e->message = strdup(msg ? msg : "");
	git_object_free(peeled);
	git_tag_free(tag);
	if (!e->tag || !e->model || !e->tagger || !e->message || (tn->version && !e->version) ||
	    (tn->stage && !e->stage))
		return OOM();
	if (tn->action == MLOPS_REG_ASSIGN || tn->action == MLOPS_REG_UNASSIGN ||
	    tn->action == MLOPS_REG_DEPRECATE || tn->action == MLOPS_REG_CREATE || tn->version)
		parse_message(e);
	return 1;
}

/* Stage tags without a "version:" line get the version registered on their commit. */
static void fill_stage_versions(struct mlops_registry *reg)
{
	for (size_t i = 0; i < reg->n; i++) {
		struct mlops_reg_event *e = &reg->events[i];
		if (e->version || (e->action != MLOPS_REG_ASSIGN && e->action != MLOPS_REG_UNASSIGN))
			continue;
		const char *best = NULL;
		for (size_t k = 0; k < reg->n; k++) {
			const struct mlops_reg_event *r = &reg->events[k];
			if (r->action == MLOPS_REG_REGISTER && !strcmp(r->model, e->model) &&
			    !strcmp(r->commit, e->commit) && (!best || mlops_semver_cmp(r->version, best) > 0))
				best = r->version;
		}
		if (best)
			e->version = strdup(best);
	}
}

int mlops_registry_load(struct mlops_registry **out, struct mlops_repo *repo, const char *model)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	struct mlops_registry *reg = calloc(1, sizeof(*reg));
	size_t cap = 0;
	int err = 0, rc;

	*out = NULL;
	if (!reg)
		return OOM();
	if (git_reference_iterator_glob_new(&it, mlops_repo_git(repo), "refs/tags/*") < 0) {
		err = mlops_git_error(MLOPS_EIO, "unable to list tags");
		goto done;
	}
	while ((rc = git_reference_next(&ref, it)) == 0) {
		struct mlops_reg_tagname tn;
		const char *name = git_reference_name(ref) + 10;
		const git_oid *oid = git_reference_target(ref);
		if (!oid || !mlops_reg_tag_parse(&tn, name) || (model && strcmp(tn.model, model))) {
			git_reference_free(ref);
			ref = NULL;
			continue;
		}
		if (tn.counter > reg->max_counter)
			reg->max_counter = tn.counter;
		if (reg->n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct mlops_reg_event *ne = realloc(reg->events, nc * sizeof(*ne));
			if (!ne) {
				err = OOM();
				goto done;
			}
			reg->events = ne;
			cap = nc;
		}
		struct mlops_reg_event *e = &reg->events[reg->n];
		memset(e, 0, sizeof(*e));
		rc = read_tag(e, repo, oid, name, &tn);
		if (rc < 0) {
			event_clear(e);
			err = rc;
			goto done;
		}
		if (rc == 1)
			reg->n++;
		git_reference_free(ref);
		ref = NULL;
	}
	if (rc != GIT_ITEROVER) {
		err = mlops_git_error(MLOPS_EIO, "unable to list tags");
		goto done;
	}
	git_error_clear();
	if (reg->n > 1)
		qsort(reg->events, reg->n, sizeof(*reg->events), event_cmp);
	fill_stage_versions(reg);
	*out = reg;
	reg = NULL;
done:
	git_reference_free(ref);
	git_reference_iterator_free(it);
	mlops_registry_free(reg);
	return err;
}

/* ---- state ------------------------------------------------------------------- */

struct pair {
	const char *version, *stage;
	int active;
	size_t order;                       /* index of the last assignment */
	const struct mlops_reg_event *assign;
};

void mlops_model_state_free(struct mlops_model_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nversions; i++)
		free(st->versions[i].stages);
	free(st->versions);
	free(st->stages);
	free(st->name);
	free(st);
}

static struct mlops_model_version *find_version(struct mlops_model_state *st, const char *v)
{
	for (size_t i = 0; i < st->nversions; i++)
		if (!strcmp(st->versions[i].version, v))
			return &st->versions[i];
	return NULL;
}

static int cmp_version(const void *a, const void *b)
{
	return mlops_semver_cmp(((const struct mlops_model_version *)a)->version,
				((const struct mlops_model_version *)b)->version);
}

static int cmp_holder(const void *a, const void *b)
{
	return strcmp(((const struct mlops_stage_holder *)a)->stage,
		      ((const struct mlops_stage_holder *)b)->stage);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mlops_model_state_get(struct mlops_model_state **out, const struct mlops_registry *reg,
			  const char *name, long long at)
{
	struct mlops_model_state *st = calloc(1, sizeof(*st));
	struct pair *pairs = NULL;
	size_t np = 0;
	int err = 0;

	*out = NULL;
	if (!st || !(st->name = strdup(name)))
		goto oom;
	st->versions = calloc(reg->n ? reg->n : 1, sizeof(*st->versions));
	pairs = calloc(reg->n ? reg->n : 1, sizeof(*pairs));
	if (!st->versions || !pairs)
		goto oom;
	size_t later = 0; /* the model's events after `at` */
	for (size_t i = 0; i < reg->n; i++) {
		const struct mlops_reg_event *e = &reg->events[i];
		if (strcmp(e->model, name))
			continue;
		if (at >= 0 && e->time > at) {
			later++;
			continue;
		}
		st->nevents++;
		if (e->action == MLOPS_REG_REGISTER) {
			if (!find_version(st, e->version)) {
				struct mlops_model_version *v = &st->versions[st->nversions++];
				v->reg = e;
				v->version = e->version;
			}
		} else if (e->action == MLOPS_REG_DEREGISTER) {
			struct mlops_model_version *v = find_version(st, e->version);
			if (v)
				v->deprecated = 1;
		} else if (e->action == MLOPS_REG_DEPRECATE) {
			st->deprecated = 1;
		} else if (e->action == MLOPS_REG_CREATE) {
			st->deprecated = 0;
		} else if ((e->action == MLOPS_REG_ASSIGN || e->action == MLOPS_REG_UNASSIGN) &&
			   e->version) {
			struct pair *p = NULL;
			for (size_t k = 0; k < np; k++)
				if (!strcmp(pairs[k].version, e->version) && !strcmp(pairs[k].stage, e->stage))
					p = &pairs[k];
			if (!p) {
				p = &pairs[np++];
				p->version = e->version;
				p->stage = e->stage;
			}
			p->active = e->action == MLOPS_REG_ASSIGN;
			if (p->active) {
				p->order = i;
				p->assign = e;
			}
		}
	}
	if (st->nevents == 0) {
		if (later) {
			char when[64];
			time_t t = (time_t)at;
			struct tm tm;
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
			err = mlops_error_set(MLOPS_ENOTFOUND, "model '%s' was not registered yet at %s",
					      name, when);
		} else {
			err = mlops_error_set(MLOPS_ENOTFOUND, "model '%s' not found", name);
		}
		goto done;
	}
	/* A deprecated model's versions are deprecated: none is the latest or holds a stage. */
	if (st->deprecated)
		for (size_t i = 0; i < st->nversions; i++)
			st->versions[i].deprecated = 1;
	/* The holder of each stage: the active pair assigned last, of a live version. */
	st->stages = calloc(np ? np : 1, sizeof(*st->stages));
	if (!st->stages)
		goto oom;
	for (size_t k = 0; k < np; k++) {
		const struct mlops_model_version *v = find_version(st, pairs[k].version);
		if (!pairs[k].active || !v || v->deprecated)
			continue;
		struct mlops_stage_holder *h = NULL;
		for (size_t j = 0; j < st->nstages; j++)
			if (!strcmp(st->stages[j].stage, pairs[k].stage))
				h = &st->stages[j];
		if (h && (size_t)(h->assign - reg->events) > pairs[k].order)
			continue;
		if (!h)
			h = &st->stages[st->nstages++];
		h->stage = pairs[k].stage;
		h->version = pairs[k].version;
		h->since = pairs[k].assign->time;
		h->assign = pairs[k].assign;
	}
	qsort(st->stages, st->nstages, sizeof(*st->stages), cmp_holder);
	qsort(st->versions, st->nversions, sizeof(*st->versions), cmp_version);
	for (size_t j = 0; j < st->nstages; j++) {
		struct mlops_model_version *v = find_version(st, st->stages[j].version);
		char **ns = realloc(v->stages, (v->nstages + 1) * sizeof(*ns));
		if (!ns)
			goto oom;
		v->stages = ns;
		v->stages[v->nstages++] = (char *)st->stages[j].stage;
	}
	for (size_t i = 0; i < st->nversions; i++)
		if (st->versions[i].nstages > 1)
			qsort(st->versions[i].stages, st->versions[i].nstages, sizeof(char *), cmp_cstr);
	*out = st;
	st = NULL;
	goto done;
oom:
	err = OOM();
done:
	free(pairs);
	mlops_model_state_free(st);
	return err;
}

const struct mlops_model_version *mlops_model_state_latest(const struct mlops_model_state *st)
{
	for (size_t i = st->nversions; i-- > 0;)
		if (!st->versions[i].deprecated)
			return &st->versions[i];
	return NULL;
}

const struct mlops_stage_holder *mlops_model_state_stage(const struct mlops_model_state *st,
							 const char *stage)
{
	for (size_t i = 0; i < st->nstages; i++)
		if (!strcmp(st->stages[i].stage, stage))
			return &st->stages[i];
	return NULL;
}

int mlops_registry_models(char ***out, size_t *n, const struct mlops_registry *reg)
{
	char **names = calloc(reg->n ? reg->n : 1, sizeof(*names));
	size_t k = 0;
	*out = NULL;
	*n = 0;
	if (!names)
		return OOM();
	for (size_t i = 0; i < reg->n; i++)
		names[k++] = reg->events[i].model;
	qsort(names, k, sizeof(*names), cmp_cstr);
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (u && !strcmp(names[u - 1], names[i]))
			continue;
		names[u++] = names[i];
	}
	for (size_t i = 0; i < u; i++) {
		if (!(names[i] = strdup(names[i]))) {
			mlops_strlist_free(names, i);
			return OOM();
		}
	}
	*out = names;
	*n = u;
	return 0;
}

/* ---- time ------------------------------------------------------------------- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

int mlops_time_parse(long long *out, const char *text)
{
	int y, mo, d, h = 0, mi = 0, s = 0, used = 0;
	const char *p = text;
	if (*p == '@') {
		char *end;
		errno = 0;
		long long v = strtoll(p + 1, &end, 10);
		if (errno || end == p + 1 || *end)
			goto bad;
		*out = v;
		return 0;
	}
	if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
		goto bad;
	p += used;
	if (*p == 'T' || *p == ' ') {
		used = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &used) != 2 || used != 5)
			goto bad;
		p += 1 + used;
		if (*p == ':') {
			used = 0;
			if (sscanf(p + 1, "%2d%n", &s, &used) != 1 || used != 2)
				goto bad;
			p += 3;
		}
	}
	long long offset = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		used = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &used) != 2 || used != 5)
			goto bad;
		offset = (oh * 3600LL + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || h < 0 ||
	    mi < 0 || s < 0)
		goto bad;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL + mi * 60 + s -
	       offset;
	return 0;
bad:
	return mlops_error_set(MLOPS_EUSAGE,
			       "'%s' is not a time: use 2026-01-02, 2026-01-02T03:04:05[Z|+hh:mm] or @EPOCH",
			       text);
}

/* ---- revisions -------------------------------------------------------------- */

struct model_rev {
	char name[129];
	char arg[200];
	enum { MR_LATEST, MR_VERSION, MR_PREFIX, MR_STAGE } kind;
};

static int model_rev_parse(struct model_rev *out, const char *text)
{
	memset(out, 0, sizeof(*out));
	size_t nl = strcspn(text, "@#");
	if (nl == 0 || nl > 128)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a model revision", text);
	memcpy(out->name, text, nl);
	if (!mlops_name_valid(out->name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid model name", out->name);
	if (!text[nl]) {
		out->kind = MR_LATEST;
		return 0;
	}
	const char *arg = text + nl + 1;
	size_t al = strlen(arg);
	if (al == 0 || al >= sizeof(out->arg))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a model revision: nothing after '%c'",
				       text, text[nl]);
	memcpy(out->arg, arg, al + 1);
	if (text[nl] == '#') {
		if (!gto_name(arg, al, 0))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid stage name", arg);
		out->kind = MR_STAGE;
		return 0;
	}
	if (semver_valid(arg, al)) {
		out->kind = MR_VERSION;
		return 0;
	}
	if (mlops_oid_is_prefix(arg)) {
		for (char *c = out->arg; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		out->kind = MR_PREFIX;
		return 0;
	}
	return mlops_error_set(MLOPS_EUSAGE,
			       "'%s' is not a model revision: after '@' use vX.Y.Z or at least 4 hex digits "
			       "of a record id", text);
}

/* The record id of a version: from its tag, else from the ref. */
static int version_record_id(mlops_oid *out, struct mlops_repo *repo,
			     const struct mlops_reg_event *reg)
{
	char ref[300];
	if (reg->has_record) {
		*out = reg->record;
		return 0;
	}
	snprintf(ref, sizeof(ref), "models/%s/%s", reg->model, reg->version);
	int err = mlops_ref_read(out, repo, ref);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND, "%s@%s has no mlops record (a tag made by another tool)",
				       reg->model, reg->version);
	return err;
}

/* Find the registration of the version `mr` names in st. */
static int pick_version(const struct mlops_model_version **out, struct mlops_repo *repo,
			const struct mlops_model_state *st, const struct model_rev *mr,
			const char *text)
{
	*out = NULL;
	if (st->deprecated && (mr->kind == MR_LATEST || mr->kind == MR_STAGE))
		return mlops_error_set(MLOPS_ENOTFOUND, "model '%s' is deprecated: it has no latest "
				       "version and no stages (name a version: %s@vX.Y.Z)",
				       mr->name, mr->name);
	if (mr->kind == MR_LATEST) {
		*out = mlops_model_state_latest(st);
		if (!*out)
			return mlops_error_set(MLOPS_ENOTFOUND, "model '%s' has no version that is not deprecated",
					       mr->name);
		return 0;
	}
	if (mr->kind == MR_STAGE) {
		const struct mlops_stage_holder *h = mlops_model_state_stage(st, mr->arg);
		if (!h)
			return mlops_error_set(MLOPS_ENOTFOUND, "no version of '%s' holds stage '%s'",
					       mr->name, mr->arg);
		for (size_t i = 0; i < st->nversions; i++)
			if (!strcmp(st->versions[i].version, h->version))
				*out = &st->versions[i];
		return 0;
	}
	if (mr->kind == MR_VERSION) {
		for (size_t i = 0; i < st->nversions; i++)
			if (!strcmp(st->versions[i].version, mr->arg))
				*out = &st->versions[i];
		if (!*out)
			return mlops_error_set(MLOPS_ENOTFOUND, "model '%s' has no version %s", mr->name, mr->arg);
		return 0;
	}
	size_t found = 0, plen = strlen(mr->arg);
	char cands[1024] = "";
	for (size_t i = 0; i < st->nversions; i++) {
		mlops_oid id;
		char hex[MLOPS_OID_HEXSZ + 1];
		if (version_record_id(&id, repo, st->versions[i].reg) < 0)
			continue;
		if (strncmp(mlops_oid_fmt(hex, &id), mr->arg, plen))
			continue;
		found++;
		*out = &st->versions[i];
		size_t cl = strlen(cands);
		snprintf(cands + cl, sizeof(cands) - cl, "%s%s@%s (%.12s)", found > 1 ? ", " : "",
			 mr->name, st->versions[i].version, hex);
	}
	mlops_error_clear();
	if (found == 0)
		return mlops_error_set(MLOPS_ENOTFOUND, "model '%s' has no version with record id %s",
				       mr->name, mr->arg);
	if (found > 1) {
		*out = NULL;
		return mlops_error_set(MLOPS_EAMBIGUOUS, "'%s' is ambiguous: it could be %s", text, cands);
	}
	return 0;
}

/* Load the registry of rev's model and the state at `at`. */
static int load_state(struct mlops_registry **reg, struct mlops_model_state **st,
		      struct mlops_repo *repo, const char *name, long long at)
{
	int err = mlops_registry_load(reg, repo, name);
	if (err == 0)
		err = mlops_model_state_get(st, *reg, name, at);
	if (err < 0) {
		mlops_registry_free(*reg);
		*reg = NULL;
	}
	return err;
}

int mlops_model_resolve_version(char **version, char **tag, struct mlops_repo *repo,
				const char *rev, long long at)
{
	struct model_rev mr;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	const struct mlops_model_version *v;
	int err;
	if (version)
		*version = NULL;
	if (tag)
		*tag = NULL;
	if ((err = model_rev_parse(&mr, rev)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, mr.name, at)) < 0)
		return err;
	if ((err = pick_version(&v, repo, st, &mr, rev)) == 0) {
		if (version && !(*version = strdup(v->version)))
			err = OOM();
		if (err == 0 && tag && !(*tag = strdup(v->reg->tag)))
			err = OOM();
	}
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	return err;
}

int mlops_model_version_deprecated(int *out, struct mlops_repo *repo, const char *name,
				   const char *version)
{
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	int err;

	*out = 0;
	if ((err = load_state(&reg, &st, repo, name, -1)) < 0)
		return err;
	for (size_t i = 0; i < st->nversions; i++)
		if (!strcmp(st->versions[i].version, version))
			*out = st->versions[i].deprecated ? 1 + st->deprecated : 0;
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	return 0;
}

static int load_record(cJSON **out, struct mlops_repo *repo, const mlops_oid *id,
		       const char *model, const char *version)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = mlops_json_load(out, repo->odb, id);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND,
				       "the record of %s@%s (%.12s) is not in the store; "
				       "'mlops pull' fetches it", model, version, mlops_oid_fmt(hex, id));
	if (err == 0) {
		const char *type = mlops_json_str(*out, "type");
		if (!type || strcmp(type, "model")) {
			cJSON_Delete(*out);
			*out = NULL;
			return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a model version",
					       mlops_oid_fmt(hex, id));
		}
	}
	return err;
}

int mlops_model_resolve(cJSON **record, mlops_oid *id, char **version,
			struct mlops_repo *repo, const char *rev)
{
	struct model_rev mr;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	const struct mlops_model_version *v;
	mlops_oid rid;
	cJSON *rec = NULL;
	int err;
	if (record)
		*record = NULL;
	if (version)
		*version = NULL;
	if ((err = model_rev_parse(&mr, rev)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, mr.name, -1)) < 0)
		return err;
	if ((err = pick_version(&v, repo, st, &mr, rev)) < 0)
		goto done;
	if ((err = version_record_id(&rid, repo, v->reg)) < 0)
		goto done;
	if (record && (err = load_record(&rec, repo, &rid, mr.name, v->version)) < 0)
		goto done;
	if (version && !(*version = strdup(v->version))) {
		err = OOM();
		goto done;
	}
	if (id)
		*id = rid;
	if (record) {
		*record = rec;
		rec = NULL;
	}
done:
	cJSON_Delete(rec);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	return err;
}

/* ---- tags: writing ------------------------------------------------------------ */

/* The tagger: GIT_COMMITTER_NAME/EMAIL/DATE as git honours them, else git config. */
static int tagger_signature(git_signature **out, struct mlops_repo *repo)
{
	const char *en = getenv("GIT_COMMITTER_NAME"), *ee = getenv("GIT_COMMITTER_EMAIL");
	const char *date = getenv("GIT_COMMITTER_DATE");
	git_signature *def = NULL;
	char *name = NULL, *email = NULL;
	long long when = (long long)time(NULL);
	int offset = 0, err = 0;

	if (git_signature_default(&def, mlops_repo_git(repo)) < 0)
		git_error_clear();
	if (en && *en)
		name = strdup(en);
	else if (def)
		name = strdup(def->name);
	else
		name = strdup(getenv("USER") ? getenv("USER") : "unknown");
	email = strdup(ee ? ee : def ? def->email : "");
	if (!name || !email) {
		err = OOM();
		goto done;
	}
	if (date && *date) {
		/* git's internal form "<epoch> <+hhmm>", "@<epoch>", or a time we parse. */
		char *end;
		const char *p = date[0] == '@' ? date + 1 : date;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (!errno && end != p && (*end == '\0' || *end == ' ')) {
			when = v;
			int tz;
			if (*end == ' ' && sscanf(end + 1, "%d", &tz) == 1)
				offset = (tz / 100) * 60 + (tz % 100);
		} else if ((err = mlops_time_parse(&when, date)) < 0) {
			err = mlops_error_wrap(err, "GIT_COMMITTER_DATE");
			goto done;
		}
	}
	if (git_signature_new(out, name, email, (git_time_t)when, offset) < 0)
		err = mlops_git_error(MLOPS_EINVALID, "unable to make the tagger signature");
done:
	git_signature_free(def);
	free(name);
	free(email);
	return err;
}

/*
 * Keep tag refs packed: reading thousands of loose ref files costs five
 * system calls each, a packed-refs file one read.  After a tag is written,
 * when refs/tags/ holds more than LOOSE_TAGS_MAX loose files, the refs are
 * packed as `git pack-refs --all` does.  A failure (another process holds
 * packed-refs.lock) only postpones it.
 */
#define LOOSE_TAGS_MAX 64

static void maybe_pack_refs(struct mlops_repo *repo)
{
	char *dir = mlops_path_join(git_repository_commondir(mlops_repo_git(repo)), "refs/tags");
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	size_t loose = 0;
	while (d && (de = readdir(d)) && loose <= LOOSE_TAGS_MAX)
		if (de->d_name[0] != '.')
			loose++;
	if (d)
		closedir(d);
	free(dir);
	if (loose > LOOSE_TAGS_MAX) {
		git_refdb *db = NULL;
		if (git_repository_refdb(&db, mlops_repo_git(repo)) == 0)
			git_refdb_compress(db);
		git_refdb_free(db);
		git_error_clear();
	}
}

/*
 * git's lock file of the tag's ref, left by a process killed while
 * creating the tag, would refuse that tag name for good.  Registry tags are
 * made only under the repository lock, which the caller holds; a git
 * command writing the same name meanwhile holds its lock for milliseconds.
 * So a lock file that stays for a second (or is older than that) is stale:
 * it is removed, with a warning.
 */
static void clear_stale_tag_lock(struct mlops_repo *repo, const char *name)
{
	char *tags = mlops_path_join(git_repository_commondir(mlops_repo_git(repo)), "refs/tags");
	char *path = tags ? mlops_strdupf("%s/%s.lock", tags, name) : NULL;
	struct stat st;
	for (int i = 0; path && i < 20 && lstat(path, &st) == 0; i++) {
		if (time(NULL) - st.st_mtime >= 2)
			break;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
		mlops_warning_add("removed '%s', the lock of a process killed while it created tag '%s'",
				  path, name);
	free(path);
	free(tags);
}

/* Create annotated tag `name` on commit_hex; ECONFLICT when it exists. */
static int tag_create(struct mlops_repo *repo, const char *name, const char *commit_hex,
		      const char *message)
{
	git_oid oid, tag_oid;
	git_object *target = NULL;
	git_signature *sig = NULL;
	int err;
	if (git_oid_fromstr(&oid, commit_hex) < 0 ||
	    git_object_lookup(&target, mlops_repo_git(repo), &oid, GIT_OBJECT_COMMIT) < 0)
		return mlops_git_error(MLOPS_ENOTFOUND, "unable to find the commit to tag");
	if ((err = tagger_signature(&sig, repo)) < 0)
		goto done;
	clear_stale_tag_lock(repo, name);
	int rc = git_tag_create(&tag_oid, mlops_repo_git(repo), name, target, sig, message, 0);
	if (rc == GIT_EEXISTS) {
		git_error_clear();
		err = mlops_error_set(MLOPS_ECONFLICT, "tag '%s' already exists", name);
	} else if (rc < 0) {
		err = mlops_git_error(MLOPS_EIO, "unable to create the tag");
	} else {
		maybe_pack_refs(repo);
	}
done:
	git_signature_free(sig);
	git_object_free(target);
	return err;
}

static int head_commit(char out[41], struct mlops_repo *repo)
{
	git_oid oid;
	if (git_reference_name_to_id(&oid, mlops_repo_git(repo), "HEAD") < 0) {
		git_error_clear();
		return mlops_error_set(MLOPS_ENOTFOUND,
				       "no commit to tag: the repository has no commit yet; commit first");
	}
	git_oid_tostr(out, 41, &oid);
	return 0;
}

static int commit_exists(struct mlops_repo *repo, const char *hex)
{
	git_oid oid;
	git_object *obj = NULL;
	if (!hex || strlen(hex) != 40 || git_oid_fromstr(&oid, hex) < 0) {
		git_error_clear();
		return 0;
	}
	int ok = git_object_lookup(&obj, mlops_repo_git(repo), &oid, GIT_OBJECT_COMMIT) == 0;
	git_object_free(obj);
	git_error_clear();
	return ok;
}

/* ---- register ------------------------------------------------------------------- */

void mlops_register_result_free(struct mlops_register_result *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->version);
	free(r->tag);
	free(r->baseline_note);
	free(r->commit_version);
	free(r);
}

static int name_check(const char *name, const char *what)
{
	if (!mlops_reg_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE,
				       "'%s' is not a valid %s name: lower-case letters, digits and '-', "
				       "starting with a letter, ending with a letter or digit, "
				       "at least 2 characters (GTO's rule)", name, what);
	return 0;
}

/* Store the artifact at path; inside the work tree the stat cache helps. */
static int store_path(struct mlops_node *node, struct mlops_repo *repo, const char *path)
{
	char abs[PATH_MAX];
	struct mlops_index *idx = NULL;
	const char *key = NULL;
	int err;
	if (!realpath(path, abs)) {
		if (errno == ENOENT)
			return mlops_error_set(MLOPS_ENOTFOUND, "'%s' does not exist", path);
		return mlops_error_sys(errno, "unable to resolve '%s'", path);
	}
	size_t wl = strlen(repo->workdir);
	if (!strncmp(abs, repo->workdir, wl) && abs[wl] == '/' && abs[wl + 1]) {
		const char *rel = abs + wl + 1;
		if (!strncmp(rel, ".git/", 5) || !strcmp(rel, ".git") || !strncmp(rel, ".mlops/", 7) ||
		    !strcmp(rel, ".mlops"))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' belongs to git or mlops", path);
		key = rel;
		char *ip = mlops_repo_path(repo, "index");
		if (!ip)
			return OOM();
		err = mlops_index_load(&idx, ip, repo->tmpdir);
		free(ip);
		if (err < 0)
			return err;
	}
	err = mlops_tree_store(node, repo->odb, idx, abs, key, NULL);
	if (err == 0)
		err = mlops_odb_sync(repo->odb);
	if (err == 0 && idx)
		err = mlops_index_save(idx);
	mlops_index_free(idx);
	return err;
}

static int bump_version(char out[64], const char *highest, const char *bump)
{
	int v[3] = { 0, 0, 0 };
	if (highest && !semver_plain(highest, v)) {
		/* A pre-release or build from another tool: bump its numbers. */
		if (sscanf(highest, "v%d.%d.%d", &v[0], &v[1], &v[2]) != 3)
			return mlops_error_set(MLOPS_EINVALID, "cannot bump '%s'", highest);
		if (strpbrk(highest, "-") && (!bump || !strcmp(bump, "patch"))) {
			snprintf(out, 64, "v%d.%d.%d", v[0], v[1], v[2]);
			return 0;
		}
	}
	if (!bump || !strcmp(bump, "patch"))
		v[2]++;
	else if (!strcmp(bump, "minor"))
		v[1]++, v[2] = 0;
	else if (!strcmp(bump, "major"))
		v[0]++, v[1] = v[2] = 0;
	else
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a bump: use major, minor or patch", bump);
	snprintf(out, 64, "v%d.%d.%d", v[0], v[1], v[2]);
	return 0;
}

static char *key_lines(const char *version, const mlops_oid *artifact, const mlops_oid *record,
		       const mlops_oid *run)
{
	char a[MLOPS_OID_HEXSZ + 1], r[MLOPS_OID_HEXSZ + 1], u[MLOPS_OID_HEXSZ + 1];
	return mlops_strdupf("version: %s\n%s%s%s%s%s%s%s%s%s", version,
			     artifact ? "artifact: sha256:" : "", artifact ? mlops_oid_fmt(a, artifact) : "",
			     artifact ? "\n" : "", record ? "record: " : "",
			     record ? mlops_oid_fmt(r, record) : "", record ? "\n" : "",
			     run ? "run: " : "", run ? mlops_oid_fmt(u, run) : "", run ? "\n" : "");
}

/* "First line\n\n[message\n\n]key lines". */
static char *tag_message(const char *sentence, const char *message, const char *keys)
{
	int has = message && *message;
	return mlops_strdupf("%s\n\n%s%s%s", sentence, has ? message : "", has ? "\n\n" : "", keys);
}

/*
 * The monitoring baseline of a built-in run (core/monitor.h): the table
 * its first dataset holds, or the table of the feature set it trained on
 * (the model's columns of it), profiled with bins, categories and a
 * sample, and the predictions of its model (the artifact's model.json) on its
 * validation rows.  Other runs get none (*made = 0, and *note says why):
 * their data is whatever their command made of it.
 */
static int make_baseline(int *made, mlops_oid *id, char **note, struct mlops_repo *repo,
			 const cJSON *run, const struct mlops_node *artifact)
{
	struct mlops_dataset_version *v = NULL;
	struct mlops_model *model = NULL;
	struct mlops_baseline *fb = NULL;
	cJSON *ds = NULL, *art = NULL;
	char *tmp = NULL, *table = NULL, *mnote = NULL;
	const char *rel;
	int err = 0;
	const cJSON *in;
	mlops_oid did;
	*made = 0;
	*note = NULL;
	if (!run)
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(run, "builtin")) {
		*note = strdup("no monitoring baseline: the run is a command, not a built-in trainer, "
			       "so which table it trained on is its own affair");
		return *note ? 0 : OOM();
	}
	cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(run, "inputs")) {
		const char *type = mlops_json_str(in, "type");
		if (type && (!strcmp(type, "dataset") || !strcmp(type, "feature-set")) &&
		    mlops_json_get_oid(&did, in, "record") == 0)
			break;
	}
	if (!in) {
		*note = strdup("no monitoring baseline: the run has no dataset or feature set input");
		return *note ? 0 : OOM();
	}
	if (!strcmp(mlops_json_str(in, "type"), "feature-set")) {
		/* the feature columns of the set's table the model was trained on */
		if (!(art = mlops_node_to_json(artifact)))
			goto oom;
		if ((err = mlops_monitor_artifact_model(&model, &mnote, repo, art)) < 0 ||
		    (err = mlops_baseline_feature_set(&fb, repo, in, model)) < 0 ||
		    (err = mlops_baseline_store(id, repo, fb)) < 0)
			goto done;
		*made = 1;
		goto done;
	}
	if ((err = mlops_dataset_load(&v, repo, &did)) < 0)
		return err;
	if ((err = mlops_dataset_table_checkout(&tmp, &table, &rel, repo, v, "baseline")) < 0)
		goto done;
	if (!(art = mlops_node_to_json(artifact)))
		goto oom;
	if ((err = mlops_monitor_artifact_model(&model, &mnote, repo, art)) < 0)
		goto done;
	if (!(ds = cJSON_CreateObject()))
		goto oom;
	cJSON_AddStringToObject(ds, "name", v->name);
	cJSON_AddNumberToObject(ds, "version", (double)v->version);
	mlops_json_add_oid(ds, "record", &did);
	cJSON_AddStringToObject(ds, "path", rel);
	if ((err = mlops_baseline_build(id, repo, table, model, ds)) < 0)
		goto done;
	*made = 1;
	goto done;
oom:
	err = OOM();
done:
	if (tmp)
		mlops_remove_tree(tmp);
	mlops_dataset_version_free(v);
	mlops_model_free(model);
	mlops_baseline_free(fb);
	cJSON_Delete(ds);
	cJSON_Delete(art);
	free(tmp);
	free(table);
	free(mnote);
	return err;
}

int mlops_model_register(struct mlops_register_result **out, struct mlops_repo *repo,
			 const struct mlops_register_opts *o)
{
	struct mlops_register_result *res = NULL;
	struct mlops_registry *reg = NULL;
	struct mlops_lock *lock = NULL;
	cJSON *run = NULL, *rec = NULL;
	mlops_oid run_id;
	char commit[41], version[64], *author = NULL, *keys = NULL, *msg = NULL, *tagname = NULL;
	int err, ref_written = 0;
	char ref[300];

	*out = NULL;
	if ((err = name_check(o->name, "model")) < 0)
		return err;
	if (!o->run == !o->path)
		return mlops_error_set(MLOPS_EUSAGE, "give either --run RUN or a PATH to register");
	if (o->version && o->bump)
		return mlops_error_set(MLOPS_EUSAGE, "give either --version or --bump, not both");
	int vparts[3];
	if (o->version && !semver_plain(o->version, vparts))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a version: use vX.Y.Z", o->version);
	if (o->bump && strcmp(o->bump, "major") && strcmp(o->bump, "minor") && strcmp(o->bump, "patch"))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a bump: use major, minor or patch", o->bump);
	mlops_oid check_id;
	if (o->drift_check && mlops_oid_parse(&check_id, o->drift_check) < 0)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a check id (64 hex digits)", o->drift_check);
	if (!(res = calloc(1, sizeof(*res))))
		return OOM();

	/* The artifact, stored and synced before the lock. */
	if (o->run) {
		if ((err = mlops_run_resolve(&run, &run_id, repo, o->run)) < 0)
			goto done;
		const char *status = mlops_json_str(run, "status");
		if (status && strcmp(status, "succeeded")) {
			err = mlops_error_set(MLOPS_EINVALID, "run '%s' %s (exit status %d); register a run that "
					      "succeeded", o->run, status,
					      (int)mlops_json_num(run, "exit_status", -1));
			goto done;
		}
		const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(run, "outputs");
		if (!cJSON_IsObject(outputs) || mlops_node_from_json(&res->artifact, outputs) < 0) {
			err = mlops_error_set(MLOPS_EINVALID, "run '%s' has no outputs to register "
					      "(it wrote nothing into MLOPS_OUTPUT)", o->run);
			goto done;
		}
		if (!mlops_odb_exists(repo->odb, &res->artifact.id)) {
			err = mlops_error_set(MLOPS_ENOTFOUND, "the outputs of run '%s' are not in the store; "
					      "'mlops pull' fetches them", o->run);
			goto done;
		}
		res->has_run = 1;
		res->run = run_id;
		const char *gc = mlops_json_str(run, "git_commit");
		if (commit_exists(repo, gc))
			memcpy(commit, gc, 41);
		else if ((err = head_commit(commit, repo)) < 0)
			goto done;
	} else {
		if ((err = head_commit(commit, repo)) < 0)
			goto done;
		if ((err = store_path(&res->artifact, repo, o->path)) < 0)
			goto done;
	}
	if ((err = make_baseline(&res->has_baseline, &res->baseline, &res->baseline_note, repo, run,
				 &res->artifact)) < 0)
		goto done;
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;

	/* Under the lock: version, duplicate check, record, ref, tag. */
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	if ((err = mlops_registry_load(&reg, repo, o->name)) < 0)
		goto done;
	const char *highest = NULL, *deprecated = NULL;
	for (size_t i = 0; i < reg->n; i++) {
		const struct mlops_reg_event *e = &reg->events[i];
		if (e->action == MLOPS_REG_DEPRECATE || e->action == MLOPS_REG_CREATE)
			deprecated = e->action == MLOPS_REG_DEPRECATE ? e->tag : NULL;
		if (e->action != MLOPS_REG_REGISTER)
			continue;
		if (!o->allow_same && e->has_artifact && !mlops_oid_cmp(&e->artifact, &res->artifact.id)) {
			char hex[MLOPS_OID_HEXSZ + 1];
			err = mlops_error_set(MLOPS_ECONFLICT,
					      "the artifact (sha256:%.12s) is already registered as %s@%s; "
					      "--allow-same registers it again",
					      mlops_oid_fmt(hex, &res->artifact.id), o->name, e->version);
			goto done;
		}
		if (o->version && !strcmp(e->version, o->version)) {
			err = mlops_error_set(MLOPS_ECONFLICT, "%s@%s is already registered", o->name, o->version);
			goto done;
		}
		if (!highest || mlops_semver_cmp(e->version, highest) > 0)
			highest = e->version;
	}
	if (deprecated) {
		err = mlops_error_set(MLOPS_ECONFLICT, "model '%s' is deprecated (tag %s) and takes no "
				      "new version; deleting that tag makes it live again", o->name,
				      deprecated);
		goto done;
	}
	/* GTO allows one version a commit: say so, or refuse when configured to. */
	struct mlops_model_state *cst = NULL;
	if (mlops_model_state_get(&cst, reg, o->name, -1) == 0) {
		for (size_t i = 0; i < cst->nversions && !res->commit_version; i++)
			if (!cst->versions[i].deprecated && !strcmp(cst->versions[i].reg->commit, commit) &&
			    !(res->commit_version = strdup(cst->versions[i].version))) {
				mlops_model_state_free(cst);
				err = OOM();
				goto done;
			}
		mlops_model_state_free(cst);
	}
	mlops_error_clear();
	if (res->commit_version) {
		int strict = 0;
		if ((err = mlops_config_get_bool(&strict, repo, "registry.oneVersionPerCommit", 0)) < 0)
			goto done;
		if (strict) {
			err = mlops_error_set(MLOPS_ECONFLICT, "%s@%s is registered on commit %.12s "
					      "already, and registry.oneVersionPerCommit is set (GTO "
					      "allows one version a commit): commit first", o->name,
					      res->commit_version, commit);
			goto done;
		}
	}
	if (o->version)
		snprintf(version, sizeof(version), "%s", o->version);
	else if ((err = bump_version(version, highest, o->bump)) < 0)
		goto done;

	git_signature *sig = NULL;
	if ((err = tagger_signature(&sig, repo)) < 0)
		goto done;
	long long when = (long long)sig->when.time;
	git_signature_free(sig);
	author = mlops_repo_author(repo);
	rec = cJSON_CreateObject();
	if (!author || !rec) {
		err = OOM();
		goto done;
	}
	cJSON_AddStringToObject(rec, "type", "model");
	cJSON_AddStringToObject(rec, "name", o->name);
	cJSON_AddStringToObject(rec, "version", version);
	cJSON_AddItemToObject(rec, "artifact", mlops_node_to_json(&res->artifact));
	if (run) {
		mlops_json_add_oid(rec, "run", &run_id);
		const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(run, "inputs");
		if (inputs)
			cJSON_AddItemToObject(rec, "inputs", cJSON_Duplicate(inputs, 1));
	}
	const cJSON *metrics = run ? cJSON_GetObjectItemCaseSensitive(run, "metrics") : NULL;
	cJSON_AddItemToObject(rec, "metrics", cJSON_IsObject(metrics) ? cJSON_Duplicate(metrics, 1) :
								     cJSON_CreateObject());
	if (res->has_baseline)
		mlops_json_add_oid(rec, "baseline", &res->baseline);
	if (o->drift_check)
		mlops_json_add_oid(rec, "drift_check", &check_id);
	cJSON_AddStringToObject(rec, "author", author);
	cJSON_AddNumberToObject(rec, "time", (double)when);
	cJSON_AddStringToObject(rec, "message", o->message ? o->message : "");
	cJSON_AddStringToObject(rec, "git_commit", commit);
	if ((err = mlops_json_store(&res->record, repo->odb, rec, NULL)) < 0)
		goto done;
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;

	snprintf(ref, sizeof(ref), "models/%s/%s", o->name, version);
	/*
	 * The ref is written before the tag.  A ref without a tag of its
	 * version (the registry, read under this lock, has none) is what a
	 * register killed between the two left: not a registration, so it is
	 * replaced rather than blocking the version for good.
	 */
	mlops_oid expect;
	if (mlops_ref_read(&expect, repo, ref) < 0) {
		mlops_error_clear();
		memset(&expect, 0, sizeof(expect));
	}
	char logmsg[300];
	snprintf(logmsg, sizeof(logmsg), "register: %s", o->message ? o->message : "");
	if ((err = mlops_ref_write(repo, ref, &res->record, &expect, logmsg)) < 0)
		goto done;
	ref_written = 1;
	tagname = mlops_strdupf("%s@%s", o->name, version);
	char *sentence = mlops_strdupf("Registering artifact %s version %s", o->name, version);
	keys = key_lines(version, &res->artifact.id, &res->record, run ? &run_id : NULL);
	msg = sentence && keys ? tag_message(sentence, o->message, keys) : NULL;
	free(sentence);
	if (!tagname || !msg) {
		err = OOM();
		goto done;
	}
	if ((err = tag_create(repo, tagname, commit, msg)) < 0)
		goto done;
	ref_written = 0;
	res->name = strdup(o->name);
	res->version = strdup(version);
	res->tag = tagname;
	tagname = NULL;
	memcpy(res->commit, commit, 41);
	if (!res->name || !res->version) {
		err = OOM();
		goto done;
	}
	*out = res;
	res = NULL;
done:
	if (ref_written) {
		int code = mlops_error_code();
		char saved[1024];
		snprintf(saved, sizeof(saved), "%s", mlops_error_message());
		mlops_ref_delete(repo, ref, "register: undone");
		mlops_error_set(code, "%s", saved);
	}
	mlops_lock_release(lock);
	mlops_registry_free(reg);
	mlops_register_result_free(res);
	cJSON_Delete(run);
	cJSON_Delete(rec);
	free(author);
	free(keys);
	free(msg);
	free(tagname);
	return err;
}

int mlops_model_tag_record(char **tag, struct mlops_repo *repo, const cJSON *rec,
			   const mlops_oid *record, int check)
{
	const char *name = mlops_json_str(rec, "name"), *version = mlops_json_str(rec, "version");
	const char *type = mlops_json_str(rec, "type"), *gc = mlops_json_str(rec, "git_commit");
	const char *message = mlops_json_str(rec, "message");
	const cJSON *art = cJSON_GetObjectItemCaseSensitive(rec, "artifact");
	struct mlops_node artifact;
	mlops_oid run;
	int has_run = mlops_json_get_oid(&run, rec, "run") == 0, v[3], err;
	char commit[41], *keys = NULL, *sentence = NULL, *msg = NULL, *name_tag = NULL;

	if (tag)
		*tag = NULL;
	mlops_error_clear();
	if (!type || strcmp(type, "model") || !name || !version || !semver_plain(version, v) ||
	    !cJSON_IsObject(art) || mlops_node_from_json(&artifact, art) < 0)
		return mlops_error_set(MLOPS_EINVALID, "record %.12s is not a model version",
				       mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, record));
	if ((err = name_check(name, "model")) < 0)
		return err;
	if (commit_exists(repo, gc))
		memcpy(commit, gc, 41);
	else if ((err = head_commit(commit, repo)) < 0)
		return err;
	if (check)
		return 0;
	name_tag = mlops_strdupf("%s@%s", name, version);
	sentence = mlops_strdupf("Registering artifact %s version %s", name, version);
	keys = key_lines(version, &artifact.id, record, has_run ? &run : NULL);
	msg = sentence && keys ? tag_message(sentence, message, keys) : NULL;
	if (!name_tag || !msg)
		err = OOM();
	else
		err = tag_create(repo, name_tag, commit, msg);
	if (err == 0 && tag) {
		*tag = name_tag;
		name_tag = NULL;
	}
	free(name_tag);
	free(sentence);
	free(keys);
	free(msg);
	return err;
}

/* ---- stages and gates ---------------------------------------------------------- */

int mlops_registry_stages(char ***out, size_t *n, struct mlops_repo *repo)
{
	char *text = NULL;
	char **list = NULL;
	size_t cnt = 0;
	*out = NULL;
	*n = 0;
	int err = mlops_config_get_string(&text, repo, "registry.stages");
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
		if (!(text = strdup("dev staging prod")))
			return OOM();
	} else if (err < 0) {
		return err;
	}
	list = calloc(strlen(text) / 2 + 2, sizeof(*list));
	if (!list) {
		free(text);
		return OOM();
	}
	for (char *save = NULL, *tok = strtok_r(text, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (!gto_name(tok, strlen(tok), 0)) {
			err = mlops_error_set(MLOPS_EINVALID, "registry.stages: '%s' is not a valid stage name",
					      tok);
			break;
		}
		if (!(list[cnt++] = strdup(tok))) {
			err = OOM();
			break;
		}
	}
	free(text);
	if (err < 0) {
		mlops_strlist_free(list, cnt);
		return err;
	}
	*out = list;
	*n = cnt;
	return 0;
}

static int stage_allowed(struct mlops_repo *repo, const char *stage)
{
	char **list;
	size_t n;
	int err = mlops_registry_stages(&list, &n, repo), ok = 0;
	if (err < 0)
		return err;
	char all[512] = "";
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(list[i], stage))
			ok = 1;
		size_t l = strlen(all);
		snprintf(all + l, sizeof(all) - l, "%s%s", i ? ", " : "", list[i]);
	}
	mlops_strlist_free(list, n);
	if (!ok)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a stage: the stages are %s "
				       "([registry] stages in .mlops/config)", stage, all);
	return 0;
}

int mlops_registry_stage_check(struct mlops_repo *repo, const char *stage)
{
	int err;
	if ((err = name_check(stage, "stage")) < 0)
		return err;
	return stage_allowed(repo, stage);
}

void mlops_gate_failure_free(struct mlops_gate_failure *f)
{
	if (!f)
		return;
	free(f->metric);
	free(f->op);
	free(f);
}

struct gate_ctx {
	const cJSON *metrics; /* by dotted name (mlops_run_metrics_flat) */
	const char *stage;
	struct mlops_gate_failure *fail;
	int err;
};

static int gate_check(const git_config_entry *entry, void *payload)
{
	struct gate_ctx *g = payload;
	const char *p = entry->value;
	char metric[200], op[3] = "";
	while (isspace((unsigned char)*p))
		p++;
	size_t ml = strcspn(p, " \t<>=");
	if (ml == 0 || ml >= sizeof(metric))
		goto bad;
	memcpy(metric, p, ml);
	metric[ml] = '\0';
	p += ml;
	while (isspace((unsigned char)*p))
		p++;
	size_t ol = strspn(p, "<>=");
	if (ol == 0 || ol > 2)
		goto bad;
	memcpy(op, p, ol);
	op[ol] = '\0';
	if (strcmp(op, ">=") && strcmp(op, ">") && strcmp(op, "<=") && strcmp(op, "<") && strcmp(op, "=="))
		goto bad;
	p += ol;
	char *end;
	errno = 0;
	double thr = strtod(p, &end);
	if (end == p || errno || !isfinite(thr))
		goto bad; /* nan, inf: no figure passes or fails them meaningfully */
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		goto bad;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(g->metrics, metric);
	int missing = !cJSON_IsNumber(v), pass = 0;
	double x = missing ? 0 : v->valuedouble;
	if (!missing) {
		if (!strcmp(op, ">="))
			pass = x >= thr;
		else if (!strcmp(op, ">"))
			pass = x > thr;
		else if (!strcmp(op, "<="))
			pass = x <= thr;
		else if (!strcmp(op, "<"))
			pass = x < thr;
		else
			pass = x == thr;
	}
	if (pass || g->fail)
		return 0;
	g->fail = calloc(1, sizeof(*g->fail));
	if (!g->fail || !(g->fail->metric = strdup(metric)) || !(g->fail->op = strdup(op))) {
		g->err = OOM();
		return -1;
	}
	g->fail->threshold = thr;
	g->fail->missing = missing;
	g->fail->value = x;
	return 0;
bad:
	g->err = mlops_error_set(MLOPS_EINVALID, "stage.%s.require: '%s' is not 'METRIC OP NUMBER' "
				 "(OP one of >= > <= < ==)", g->stage, entry->value);
	return -1;
}

/* Check the gates of `stage`; *fail set (and ECONFLICT) when one fails. */
static int gates_check(struct mlops_gate_failure **fail, struct mlops_repo *repo, const char *stage,
		       const cJSON *record, const char *model, const char *version)
{
	char key[200];
	struct gate_ctx g = { 0 };
	cJSON *flat = NULL;
	int err = 0;
	snprintf(key, sizeof(key), "stage.%s.require", stage);
	/* The metrics by the names train show and compare give them. */
	if (!(flat = mlops_run_metrics_flat(record ? cJSON_GetObjectItemCaseSensitive(record, "metrics")
						   : NULL)))
		return MLOPS_ERROR; /* the message says why */
	g.metrics = flat;
	g.stage = stage;
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg) {
		err = MLOPS_EINVALID; /* the message says why */
		goto done;
	}
	int rc = git_config_get_multivar_foreach(cfg, key, NULL, gate_check, &g);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		goto done;
	}
	if (g.err < 0) {
		err = g.err;
		goto done;
	}
	if (rc < 0) {
		err = mlops_git_error(MLOPS_EINVALID, key);
		goto done;
	}
	if (!g.fail)
		goto done;
	err = MLOPS_ECONFLICT;
	if (g.fail->missing)
		mlops_error_set(MLOPS_ECONFLICT, "promotion of %s@%s to '%s' refused: it has no metric '%s' "
				"(the gate requires %s %s %g)", model, version, stage, g.fail->metric,
				g.fail->metric, g.fail->op, g.fail->threshold);
	else
		mlops_error_set(MLOPS_ECONFLICT, "promotion of %s@%s to '%s' refused: %s = %g, the gate "
				"requires %s %s %g", model, version, stage, g.fail->metric, g.fail->value,
				g.fail->metric, g.fail->op, g.fail->threshold);
	if (fail) {
		*fail = g.fail;
		g.fail = NULL;
	}
done:
	mlops_gate_failure_free(g.fail);
	cJSON_Delete(flat);
	return err;
}

static int has_gates(struct mlops_repo *repo, const char *stage)
{
	char key[200];
	git_config_entry *e = NULL;
	snprintf(key, sizeof(key), "stage.%s.require", stage);
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return 0; /* gates_check reports the configuration's fault */
	int rc = git_config_get_entry(&e, cfg, key);
	git_config_entry_free(e);
	git_error_clear();
	return rc == 0;
}

int mlops_model_promote(char **tag, char **version, struct mlops_gate_failure **failure,
			struct mlops_repo *repo, const char *rev, const char *stage,
			const char *message)
{
	struct model_rev mr;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	struct mlops_lock *lock = NULL;
	const struct mlops_model_version *v;
	cJSON *rec = NULL;
	char *name = NULL, *msg = NULL, *keys = NULL, *sentence = NULL;
	int err;

	*tag = NULL;
	if (version)
		*version = NULL;
	if (failure)
		*failure = NULL;
	if ((err = model_rev_parse(&mr, rev)) < 0)
		return err;
	if ((err = mlops_registry_stage_check(repo, stage)) < 0)
		return err;
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, mr.name, -1)) < 0)
		goto done;
	if ((err = pick_version(&v, repo, st, &mr, rev)) < 0)
		goto done;
	if (v->deprecated) {
		err = mlops_error_set(MLOPS_ECONFLICT, "%s@%s is deprecated%s and cannot take a stage",
				      mr.name, v->version, st->deprecated ? " (the whole model is)" : "");
		goto done;
	}
	if (version && !(*version = strdup(v->version))) {
		err = OOM();
		goto done;
	}
	const struct mlops_stage_holder *h = mlops_model_state_stage(st, stage);
	if (h && !strcmp(h->version, v->version))
		goto done; /* holds it already: nothing to do, *tag stays NULL */
	mlops_oid rid;
	int have_rid = version_record_id(&rid, repo, v->reg) == 0;
	mlops_error_clear();
	if (has_gates(repo, stage)) {
		if (!have_rid) {
			err = mlops_error_set(MLOPS_ENOTFOUND, "%s@%s has no mlops record, so its metrics "
					      "cannot pass the gates of '%s'", mr.name, v->version, stage);
			goto done;
		}
		if ((err = load_record(&rec, repo, &rid, mr.name, v->version)) < 0)
			goto done;
		if ((err = gates_check(failure, repo, stage, rec, mr.name, v->version)) < 0)
			goto done;
	}
	name = mlops_strdupf("%s#%s#%ld", mr.name, stage, reg->max_counter + 1);
	sentence = mlops_strdupf("Assigning stage %s to artifact %s version %s", stage, mr.name,
				 v->version);
	keys = key_lines(v->version, NULL, have_rid ? &rid : NULL, NULL);
	msg = sentence && keys ? tag_message(sentence, message, keys) : NULL;
	if (!name || !msg) {
		err = OOM();
		goto done;
	}
	if ((err = tag_create(repo, name, v->reg->commit, msg)) < 0)
		goto done;
	*tag = name;
	name = NULL;
done:
	mlops_lock_release(lock);
	if (err < 0 && version) {
		free(*version);
		*version = NULL;
	}
	cJSON_Delete(rec);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	free(name);
	free(msg);
	free(keys);
	free(sentence);
	return err;
}

int mlops_model_demote(char **tag, char **version, char **now, struct mlops_repo *repo,
		       const char *model, const char *stage, const char *message)
{
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	struct mlops_lock *lock = NULL;
	char *name = NULL, *msg = NULL, *keys = NULL, *sentence = NULL, *ver = NULL;
	int err;

	*tag = NULL;
	*version = NULL;
	*now = NULL;
	if ((err = name_check(model, "model")) < 0 || (err = name_check(stage, "stage")) < 0)
		return err;
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, model, -1)) < 0)
		goto done;
	const struct mlops_stage_holder *h = mlops_model_state_stage(st, stage);
	if (!h) {
		/* A stage not configured is a usage error, unless a version holds it still. */
		if ((err = stage_allowed(repo, stage)) == 0)
			err = mlops_error_set(MLOPS_ENOTFOUND, "no version of '%s' holds stage '%s'",
					      model, stage);
		goto done;
	}
	const struct mlops_reg_event *regv = NULL;
	for (size_t i = 0; i < st->nversions; i++)
		if (!strcmp(st->versions[i].version, h->version))
			regv = st->versions[i].reg;
	mlops_oid rid;
	int have_rid = regv && version_record_id(&rid, repo, regv) == 0;
	mlops_error_clear();
	ver = strdup(h->version);
	name = mlops_strdupf("%s#%s!#%ld", model, stage, reg->max_counter + 1);
	sentence = mlops_strdupf("Unassigning stage %s from artifact %s version %s", stage, model,
				 h->version);
	keys = key_lines(h->version, NULL, have_rid ? &rid : NULL, NULL);
	msg = sentence && keys ? tag_message(sentence, message, keys) : NULL;
	if (!name || !msg || !ver) {
		err = OOM();
		goto done;
	}
	if ((err = tag_create(repo, name, h->assign->commit, msg)) < 0)
		goto done;
	mlops_model_state_free(st);
	st = NULL;
	mlops_registry_free(reg);
	reg = NULL;
	if ((err = load_state(&reg, &st, repo, model, -1)) < 0)
		goto done;
	h = mlops_model_state_stage(st, stage);
	if (h && !(*now = strdup(h->version))) {
		err = OOM();
		goto done;
	}
	*tag = name;
	name = NULL;
	*version = ver;
	ver = NULL;
done:
	mlops_lock_release(lock);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	free(name);
	free(msg);
	free(keys);
	free(sentence);
	free(ver);
	return err;
}

int mlops_model_deprecate(char **tag, struct mlops_repo *repo, const char *rev, const char *message)
{
	struct model_rev mr;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	struct mlops_lock *lock = NULL;
	char *name = NULL, *msg = NULL, *keys = NULL, *sentence = NULL;
	char commit[41];
	int err;

	*tag = NULL;
	if ((err = model_rev_parse(&mr, rev)) < 0)
		return err;
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, mr.name, -1)) < 0)
		goto done;
	if (mr.kind == MR_LATEST) {
		/* The whole model: NAME@deprecated#N. */
		if (st->deprecated) {
			err = mlops_error_set(MLOPS_ECONFLICT, "model '%s' is already deprecated", mr.name);
			goto done;
		}
		if (head_commit(commit, repo) < 0) {
			mlops_error_clear();
			const struct mlops_model_version *l = st->nversions ?
				&st->versions[st->nversions - 1] : NULL;
			if (!l) {
				err = mlops_error_set(MLOPS_ENOTFOUND, "no commit to tag: the repository has no "
						      "commit and model '%s' no version", mr.name);
				goto done;
			}
			memcpy(commit, l->reg->commit, 41);
		}
		name = mlops_strdupf("%s@deprecated#%ld", mr.name, reg->max_counter + 1);
		sentence = mlops_strdupf("Deprecating artifact %s", mr.name);
		keys = strdup("");
	} else {
		const struct mlops_model_version *v;
		if ((err = pick_version(&v, repo, st, &mr, rev)) < 0)
			goto done;
		if (v->deprecated) {
			err = mlops_error_set(MLOPS_ECONFLICT, "%s@%s is already deprecated", mr.name, v->version);
			goto done;
		}
		memcpy(commit, v->reg->commit, 41);
		mlops_oid rid;
		int have_rid = version_record_id(&rid, repo, v->reg) == 0;
		mlops_error_clear();
		name = mlops_strdupf("%s@%s!#%ld", mr.name, v->version, reg->max_counter + 1);
		sentence = mlops_strdupf("Deregistering artifact %s version %s", mr.name, v->version);
		keys = key_lines(v->version, NULL, have_rid ? &rid : NULL, NULL);
	}
	msg = sentence && keys ? tag_message(sentence, message, keys) : NULL;
	if (!name || !msg) {
		err = OOM();
		goto done;
	}
	if ((err = tag_create(repo, name, commit, msg)) < 0)
		goto done;
	*tag = name;
	name = NULL;
done:
	mlops_lock_release(lock);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	free(name);
	free(msg);
	free(keys);
	free(sentence);
	return err;
}

/* ---- history, lineage, impact ------------------------------------------------- */

cJSON *mlops_reg_event_to_json(const struct mlops_reg_event *e)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "action", mlops_reg_action_name(e->action));
	cJSON_AddStringToObject(o, "tag", e->tag);
	cJSON_AddStringToObject(o, "model", e->model);
	if (e->version)
		cJSON_AddStringToObject(o, "version", e->version);
	else
		cJSON_AddNullToObject(o, "version");
	if (e->stage)
		cJSON_AddStringToObject(o, "stage", e->stage);
	cJSON_AddNumberToObject(o, "time", (double)e->time);
	cJSON_AddStringToObject(o, "tagger", e->tagger);
	cJSON_AddStringToObject(o, "commit", e->commit);
	cJSON_AddStringToObject(o, "message", e->message);
	if (e->has_record)
		cJSON_AddStringToObject(o, "record", mlops_oid_fmt(hex, &e->record));
	if (e->has_artifact) {
		char buf[80];
		snprintf(buf, sizeof(buf), "sha256:%s", mlops_oid_fmt(hex, &e->artifact));
		cJSON_AddStringToObject(o, "artifact", buf);
	}
	return o;
}

static int version_match(const char *a, const char *b)
{
	if (!a || !b)
		return 0;
	if (*a == 'v')
		a++;
	if (*b == 'v')
		b++;
	return !strcmp(a, b);
}

/* Deployments of model@version: records under refs deploys/, and deploy histories. */
static int add_deployments(cJSON *lineage, struct mlops_repo *repo, const char *model,
			   const char *version)
{
	char **refs = NULL;
	size_t n = 0;
	int any = 0, err;
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return OOM();
	if ((err = mlops_ref_list_all(&refs, &n, repo, "deploys")) < 0) {
		cJSON_Delete(arr);
		return err;
	}
	any = n > 0;
	for (size_t i = 0; i < n; i++) {
		mlops_oid id;
		cJSON *rec;
		if (mlops_ref_read(&id, repo, refs[i]) < 0 || mlops_json_load(&rec, repo->odb, &id) < 0) {
			mlops_error_clear();
			continue;
		}
		const char *m = mlops_json_str(rec, "model");
		if (!m)
			m = mlops_json_str(rec, "name");
		if (m && !strcmp(m, model) && version_match(mlops_json_str(rec, "version"), version)) {
			cJSON_AddStringToObject(rec, "ref", refs[i]);
			cJSON_AddItemToArray(arr, rec);
		} else {
			cJSON_Delete(rec);
		}
	}
	mlops_strlist_free(refs, n);

	/* Targets' histories: .mlops/deploy/<target>/history, one JSON object a line. */
	char *dir = mlops_repo_path(repo, "deploy");
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = mlops_strdupf("%s/%s/history", dir, de->d_name), *text = NULL;
		size_t len;
		if (!path || mlops_read_file(&text, &len, path) < 0) {
			mlops_error_clear();
			free(path);
			continue;
		}
		any = 1;
		for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			cJSON *o = cJSON_Parse(line);
			const char *m = o ? mlops_json_str(o, "model") : NULL;
			const cJSON *ok = o ? cJSON_GetObjectItemCaseSensitive(o, "ok") : NULL;
			if (m && !strcmp(m, model) && version_match(mlops_json_str(o, "version"), version) &&
			    !cJSON_IsFalse(ok)) {
				if (!cJSON_GetObjectItemCaseSensitive(o, "target"))
					cJSON_AddStringToObject(o, "target", de->d_name);
				cJSON_AddItemToArray(arr, o);
			} else {
				cJSON_Delete(o);
			}
		}
		free(text);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
	if (any)
		cJSON_AddItemToObject(lineage, "deployments", arr);
	else
		cJSON_Delete(arr);
	return 0;
}

/*
 * The source dataset of a run's input `in` when it is a feature set, from
 * the feature set's record: *out a new {"type":"dataset","name","version",
 * "record","feature_set":"<the feature set's record id>"}.  *out is NULL
 * when `in` is no feature set or its record is not in the store (a clone
 * that has not pulled it) or names no source.  Errors only for no memory.
 */
static int feature_source(cJSON **out, struct mlops_repo *repo, const cJSON *in)
{
	const char *type = mlops_json_str(in, "type"), *src, *name;
	cJSON *fs = NULL, *o = NULL;
	mlops_oid id;
	int err = 0;

	*out = NULL;
	if (!type || strcmp(type, "feature-set") || mlops_json_get_oid(&id, in, "record") < 0 ||
	    mlops_json_load(&fs, repo->odb, &id) < 0) {
		mlops_error_clear();
		return 0;
	}
	type = mlops_json_str(fs, "type");
	src = mlops_json_str(fs, "source");
	name = mlops_json_str(fs, "source_name");
	if (!type || strcmp(type, "feature-set") || !src || strlen(src) != MLOPS_OID_HEXSZ || !name)
		goto done;
	/* Keys in the order of the run's own inputs (canonical, sorted). */
	if (!(o = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(o, "feature_set", mlops_json_str(in, "record")) ||
	    !cJSON_AddStringToObject(o, "name", name) || !cJSON_AddStringToObject(o, "record", src) ||
	    !cJSON_AddStringToObject(o, "type", "dataset") ||
	    !cJSON_AddNumberToObject(o, "version", mlops_json_num(fs, "source_version", 0))) {
		err = OOM();
		goto done;
	}
	*out = o;
	o = NULL;
done:
	cJSON_Delete(o);
	cJSON_Delete(fs);
	return err;
}

int mlops_model_lineage(cJSON **out, struct mlops_repo *repo, const char *rev)
{
	struct model_rev mr;
	struct mlops_registry *reg = NULL;
	struct mlops_model_state *st = NULL;
	const struct mlops_model_version *v;
	cJSON *rec = NULL, *run = NULL, *o = NULL;
	mlops_oid rid;
	char hex[MLOPS_OID_HEXSZ + 1], buf[100];
	int err;

	*out = NULL;
	if ((err = model_rev_parse(&mr, rev)) < 0)
		return err;
	if ((err = load_state(&reg, &st, repo, mr.name, -1)) < 0)
		return err;
	if ((err = pick_version(&v, repo, st, &mr, rev)) < 0)
		goto done;
	if ((err = version_record_id(&rid, repo, v->reg)) < 0)
		goto done;
	if ((err = load_record(&rec, repo, &rid, mr.name, v->version)) < 0)
		goto done;
	if (!(o = cJSON_CreateObject())) {
		err = OOM();
		goto done;
	}
	cJSON *m = cJSON_AddObjectToObject(o, "model");
	cJSON_AddStringToObject(m, "name", mr.name);
	cJSON_AddStringToObject(m, "version", v->version);
	cJSON_AddStringToObject(m, "id", mlops_oid_fmt(hex, &rid));
	cJSON_AddStringToObject(m, "tag", v->reg->tag);
	cJSON_AddStringToObject(m, "commit", v->reg->commit);
	struct mlops_node art;
	if (mlops_node_from_json(&art, cJSON_GetObjectItemCaseSensitive(rec, "artifact")) == 0) {
		snprintf(buf, sizeof(buf), "sha256:%s", mlops_oid_fmt(hex, &art.id));
		cJSON_AddStringToObject(m, "artifact", buf);
	}
	mlops_error_clear();
	cJSON_AddStringToObject(m, "author", mlops_json_str(rec, "author") ? mlops_json_str(rec, "author") : "");
	cJSON_AddNumberToObject(m, "time", mlops_json_num(rec, "time", 0));
	cJSON_AddBoolToObject(m, "deprecated", v->deprecated);

	/* The run. */
	mlops_oid run_id;
	const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(rec, "inputs");
	if (mlops_json_str(rec, "run") && mlops_json_get_oid(&run_id, rec, "run") == 0) {
		cJSON *r = cJSON_AddObjectToObject(o, "run");
		cJSON_AddStringToObject(r, "id", mlops_oid_fmt(hex, &run_id));
		if (mlops_json_load(&run, repo->odb, &run_id) == 0) {
			static const char *const keys[] = { "name", "command", "params", "git_commit",
							    "git_dirty", "status", "metrics", "builtin" };
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				const cJSON *x = cJSON_GetObjectItemCaseSensitive(run, keys[k]);
				if (x)
					cJSON_AddItemToObject(r, keys[k], cJSON_Duplicate(x, 1));
			}
			if (!inputs)
				inputs = cJSON_GetObjectItemCaseSensitive(run, "inputs");
		} else {
			cJSON_AddBoolToObject(r, "missing", 1);
		}
		mlops_error_clear();
	} else {
		cJSON_AddNullToObject(o, "run");
	}
	cJSON *ds = cJSON_AddArrayToObject(o, "datasets");
	cJSON *fs = cJSON_AddArrayToObject(o, "features");
	const cJSON *in;
	cJSON_ArrayForEach(in, inputs) {
		const char *type = mlops_json_str(in, "type");
		cJSON *c = cJSON_Duplicate(in, 1);
		cJSON_AddItemToArray(type && !strcmp(type, "dataset") ? ds : fs, c);
	}
	/* The datasets behind the feature sets, after the run's own. */
	cJSON_ArrayForEach(in, inputs) {
		cJSON *src;
		if ((err = feature_source(&src, repo, in)) < 0)
			goto done;
		if (src)
			cJSON_AddItemToArray(ds, src);
	}

	/* Stages of this version, with their events. */
	cJSON *stages = cJSON_AddArrayToObject(o, "stages");
	for (size_t i = 0; i < reg->n; i++) {
		const struct mlops_reg_event *e = &reg->events[i];
		if ((e->action != MLOPS_REG_ASSIGN && e->action != MLOPS_REG_UNASSIGN) || !e->version ||
		    strcmp(e->version, v->version))
			continue;
		cJSON *sobj = NULL, *it;
		cJSON_ArrayForEach(it, stages)
			if (!strcmp(mlops_json_str(it, "stage"), e->stage))
				sobj = it;
		if (!sobj) {
			sobj = cJSON_CreateObject();
			cJSON_AddStringToObject(sobj, "stage", e->stage);
			int active = 0;
			for (size_t k = 0; k < v->nstages; k++)
				if (!strcmp(v->stages[k], e->stage))
					active = 1;
			cJSON_AddBoolToObject(sobj, "active", active);
			cJSON_AddArrayToObject(sobj, "events");
			cJSON_AddItemToArray(stages, sobj);
		}
		cJSON *ev = cJSON_CreateObject();
		cJSON_AddStringToObject(ev, "action", mlops_reg_action_name(e->action));
		cJSON_AddNumberToObject(ev, "time", (double)e->time);
		cJSON_AddStringToObject(ev, "tagger", e->tagger);
		cJSON_AddStringToObject(ev, "tag", e->tag);
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(sobj, "events"), ev);
	}
	if ((err = add_deployments(o, repo, mr.name, v->version)) < 0)
		goto done;
	*out = o;
	o = NULL;
done:
	cJSON_Delete(o);
	cJSON_Delete(rec);
	cJSON_Delete(run);
	mlops_model_state_free(st);
	mlops_registry_free(reg);
	return err;
}

/* Append to a growing string; returns 0 or OOM. */
struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t nc = (b->cap + (size_t)n + 1) * 2;
		char *ns = realloc(b->s, nc);
		if (!ns) {
			b->err = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
}

/* A DOT string literal's content: quotes and backslashes escaped. */
static void sb_dot_str(struct sbuf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			sb_printf(b, "\\n");
		else
			sb_printf(b, "%c", *s);
	}
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = mlops_json_str(o, k);
	return s ? s : "";
}

int mlops_lineage_dot(char **out, const cJSON *l)
{
	struct sbuf b = { 0 };
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(l, "model");
	const cJSON *run = cJSON_GetObjectItemCaseSensitive(l, "run");
	const cJSON *it;
	char model_node[300];
	*out = NULL;
	snprintf(model_node, sizeof(model_node), "model:%s@%s", jstr(m, "name"), jstr(m, "version"));
	sb_printf(&b, "digraph lineage {\n\trankdir=LR;\n\tnode [shape=box, fontname=\"Helvetica\"];\n");
	sb_printf(&b, "\t\"");
	sb_dot_str(&b, model_node);
	sb_printf(&b, "\" [shape=box3d, label=\"model ");
	sb_dot_str(&b, jstr(m, "name"));
	sb_printf(&b, "@");
	sb_dot_str(&b, jstr(m, "version"));
	sb_printf(&b, "\\n%.12s\"];\n", jstr(m, "id"));
	int have_run = cJSON_IsObject(run);
	if (have_run) {
		sb_printf(&b, "\t\"run:%.64s\" [shape=ellipse, label=\"run ", jstr(run, "id"));
		sb_dot_str(&b, jstr(run, "name"));
		sb_printf(&b, "\\nr-%.12s", jstr(run, "id"));
		if (*jstr(run, "git_commit"))
			sb_printf(&b, "\\ncommit %.12s", jstr(run, "git_commit"));
		sb_printf(&b, "\"];\n\t\"run:%.64s\" -> \"", jstr(run, "id"));
		sb_dot_str(&b, model_node);
		sb_printf(&b, "\";\n");
	}
	static const char *const groups[] = { "datasets", "features" };
	for (size_t g = 0; g < 2; g++) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, groups[g])) {
			const cJSON *ver = cJSON_GetObjectItemCaseSensitive(it, "version");
			char vtxt[64] = "";
			if (cJSON_IsNumber(ver))
				snprintf(vtxt, sizeof(vtxt), "v%d", ver->valueint);
			else if (cJSON_IsString(ver))
				snprintf(vtxt, sizeof(vtxt), "%s", ver->valuestring);
			sb_printf(&b, "\t\"in:%.64s\" [shape=cylinder, label=\"%s ", jstr(it, "record"),
				  g ? "feature set" : "dataset");
			sb_dot_str(&b, jstr(it, "name"));
			sb_printf(&b, "@");
			sb_dot_str(&b, vtxt);
			sb_printf(&b, "\\n%.12s\"];\n\t\"in:%.64s\" -> \"", jstr(it, "record"), jstr(it, "record"));
			if (*jstr(it, "feature_set")) /* the source of a feature set */
				sb_printf(&b, "in:%.64s", jstr(it, "feature_set"));
			else if (have_run)
				sb_printf(&b, "run:%.64s", jstr(run, "id"));
			else
				sb_dot_str(&b, model_node);
			sb_printf(&b, "\";\n");
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "stages")) {
		int active = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "active"));
		sb_printf(&b, "\t\"stage:");
		sb_dot_str(&b, jstr(it, "stage"));
		sb_printf(&b, "\" [shape=hexagon, style=%s, label=\"", active ? "bold" : "dashed");
		sb_dot_str(&b, jstr(it, "stage"));
		sb_printf(&b, "%s\"];\n\t\"", active ? "" : " (was)");
		sb_dot_str(&b, model_node);
		sb_printf(&b, "\" -> \"stage:");
		sb_dot_str(&b, jstr(it, "stage"));
		sb_printf(&b, "\";\n");
	}
	size_t k = 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "deployments")) {
		sb_printf(&b, "\t\"deploy:%zu\" [shape=component, label=\"deployed to ", k);
		sb_dot_str(&b, jstr(it, "target"));
		sb_printf(&b, "\"];\n\t\"");
		sb_dot_str(&b, model_node);
		sb_printf(&b, "\" -> \"deploy:%zu\";\n", k);
		k++;
	}
	sb_printf(&b, "}\n");
	if (b.err) {
		free(b.s);
		return OOM();
	}
	*out = b.s;
	return 0;
}

int mlops_model_impact(cJSON **out, struct mlops_repo *repo, const char *rev)
{
	struct mlops_dataset_version *dv = NULL;
	char **models = NULL;
	size_t nm = 0;
	char want[MLOPS_OID_HEXSZ + 1];
	cJSON *arr = NULL;
	int err;

	*out = NULL;
	if ((err = mlops_dataset_resolve(&dv, repo, rev)) < 0)
		return err;
	mlops_oid_fmt(want, &dv->id);
	mlops_dataset_version_free(dv);
	if ((err = mlops_ref_list(&models, &nm, repo, "models")) < 0)
		return err;
	if (!(arr = cJSON_CreateArray())) {
		err = OOM();
		goto done;
	}
	for (size_t i = 0; i < nm && err == 0; i++) {
		size_t l = strlen(models[i]);
		if (!l || models[i][l - 1] != '/')
			continue;
		models[i][l - 1] = '\0';
		char dir[200], **vers = NULL;
		size_t nv = 0;
		snprintf(dir, sizeof(dir), "models/%s", models[i]);
		if ((err = mlops_ref_list(&vers, &nv, repo, dir)) < 0)
			break;
		for (size_t k = 0; k < nv; k++) {
			char ref[400], hex[MLOPS_OID_HEXSZ + 1];
			mlops_oid id;
			cJSON *rec = NULL;
			snprintf(ref, sizeof(ref), "%s/%s", dir, vers[k]);
			if (mlops_ref_read(&id, repo, ref) < 0 || mlops_json_load(&rec, repo->odb, &id) < 0) {
				mlops_error_clear();
				continue;
			}
			const cJSON *in, *via = NULL;
			int hit = 0;
			cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(rec, "inputs")) {
				const char *r = mlops_json_str(in, "record");
				cJSON *src = NULL;
				if (r && !strcmp(r, want))
					hit = 1;
				/* A feature set trained on: its source dataset version. */
				if ((err = feature_source(&src, repo, in)) < 0)
					break;
				if (src && !strcmp(mlops_json_str(src, "record"), want) && !via)
					via = in;
				cJSON_Delete(src);
			}
			if (err == 0 && (hit || via)) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "name", models[i]);
				cJSON_AddStringToObject(o, "version", vers[k]);
				cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, &id));
				char *t = mlops_strdupf("%s@%s", models[i], vers[k]);
				cJSON_AddStringToObject(o, "tag", t ? t : "");
				free(t);
				const char *run = mlops_json_str(rec, "run");
				if (run)
					cJSON_AddStringToObject(o, "run", run);
				if (hit) {
					cJSON_AddNullToObject(o, "feature_set");
				} else {
					cJSON *f = cJSON_AddObjectToObject(o, "feature_set");
					static const char *const keys[] = { "name", "version", "record" };
					for (size_t q = 0; q < sizeof(keys) / sizeof(keys[0]); q++) {
						const cJSON *x = cJSON_GetObjectItemCaseSensitive(via, keys[q]);
						if (x)
							cJSON_AddItemToObject(f, keys[q], cJSON_Duplicate(x, 1));
					}
				}
				cJSON_AddItemToArray(arr, o);
			}
			cJSON_Delete(rec);
			if (err < 0)
				break;
		}
		mlops_strlist_free(vers, nv);
	}
	if (err == 0) {
		*out = arr;
		arr = NULL;
	}
done:
	cJSON_Delete(arr);
	mlops_strlist_free(models, nm);
	return err;
}
