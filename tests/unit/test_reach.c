/*
 * test_reach.c - the ids a record names, and the hint of how many files
 * its trees hold: what the walk sizes its map by.  A record can claim any
 * count, so the hint is bounded and a walk through a record claiming far
 * too many still reaches exactly what is there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reach.h"
#include "store/error.h"

static char *hex_of(char out[MLOPS_OID_HEXSZ + 1], unsigned char fill)
{
	mlops_oid id;
	memset(id.id, fill, sizeof(id.id));
	return mlops_oid_fmt(out, &id);
}

/* A record naming a tree (claiming `files`) and a blob. */
static char *record(const char *tree, const char *blob, const char *files)
{
	char *r = malloc(1024);
	snprintf(r, 1024,
		 "{\"type\":\"dataset\",\"data\":{\"id\":\"%s\",\"kind\":\"tree\",\"size\":10,"
		 "\"files\":%s},\"extra\":{\"id\":\"%s\",\"kind\":\"blob\",\"size\":3}}",
		 tree, files, blob);
	return r;
}

static void test_children_hint(void **state)
{
	(void)state;
	char t[MLOPS_OID_HEXSZ + 1], b[MLOPS_OID_HEXSZ + 1];
	char *rec = record(hex_of(t, 0x11), hex_of(b, 0x22), "50000");
	struct mlops_reach_item *kids;
	size_t n;
	uint64_t below = 7;
	assert_int_equal(mlops_reach_children(&kids, &n, &below, rec, strlen(rec), 1), 0);
	assert_int_equal(n, 2);
	assert_int_equal(below, 50000);
	for (size_t i = 0; i < n; i++) {
		char h[MLOPS_OID_HEXSZ + 1];
		mlops_oid_fmt(h, &kids[i].id);
		if (!strcmp(h, t))
			assert_true(kids[i].flags & MLOPS_REACH_INSPECT);
		else
			assert_string_equal(h, b);
	}
	free(kids);
	free(rec);

	/* A claim of 10^15 files is a hint of at most MLOPS_REACH_HINT_MAX. */
	rec = record(t, b, "1000000000000000");
	assert_int_equal(mlops_reach_children(&kids, &n, &below, rec, strlen(rec), 1), 0);
	assert_int_equal(n, 2);
	assert_int_equal(below, MLOPS_REACH_HINT_MAX);
	free(kids);
	free(rec);

	/* No tree, no hint; and below may be NULL. */
	rec = strdup("{\"type\":\"x\",\"a\":{\"id\":\"2222222222222222222222222222222222222222222222222222222222222222\",\"kind\":\"blob\",\"size\":1}}");
	assert_int_equal(mlops_reach_children(&kids, &n, &below, rec, strlen(rec), 1), 0);
	assert_int_equal(n, 1);
	assert_int_equal(below, 0);
	free(kids);
	assert_int_equal(mlops_reach_children(&kids, &n, NULL, rec, strlen(rec), 1), 0);
	assert_int_equal(n, 1);
	free(kids);
	free(rec);
}

/* An in-memory source: the root record, its tree (one entry) and two blobs. */
struct mem {
	char root[MLOPS_OID_HEXSZ + 1], tree[MLOPS_OID_HEXSZ + 1];
	char *root_rec, *tree_rec;
	size_t visited;
};

static int mem_visit(void *ctx, const struct mlops_reach_item *items, size_t n,
		     mlops_reach_found_cb cb, void *walk)
{
	struct mem *m = ctx;
	for (size_t i = 0; i < n; i++) {
		char h[MLOPS_OID_HEXSZ + 1];
		mlops_oid_fmt(h, &items[i].id);
		const char *data = !strcmp(h, m->root) ? m->root_rec :
				   !strcmp(h, m->tree) ? m->tree_rec : "blob";
		m->visited++;
		int err = cb(walk, i, 0, data, strlen(data));
		if (err < 0)
			return err;
	}
	return 0;
}

static void test_walk_with_a_false_claim(void **state)
{
	(void)state;
	struct mem m = { 0 };
	char b1[MLOPS_OID_HEXSZ + 1], b2[MLOPS_OID_HEXSZ + 1];
	hex_of(m.root, 0x01);
	hex_of(m.tree, 0x02);
	hex_of(b1, 0x03);
	hex_of(b2, 0x04);
	/* The record says its tree holds 10^15 files; the tree has one. */
	m.root_rec = record(m.tree, b2, "1000000000000000");
	m.tree_rec = malloc(512);
	snprintf(m.tree_rec, 512,
		 "{\"type\":\"tree\",\"entries\":[{\"name\":\"a\",\"id\":\"%s\",\"kind\":\"blob\","
		 "\"size\":4}]}", b1);
	struct mlops_reach *r;
	mlops_oid root;
	assert_int_equal(mlops_reach_new(&r, NULL, NULL), 0);
	assert_int_equal(mlops_oid_parse(&root, m.root), 0);
	assert_int_equal(mlops_reach_add(r, &root, MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT |
						     MLOPS_REACH_RECORD), 0);
	struct mlops_reach_source src = { mem_visit, &m };
	assert_int_equal(mlops_reach_run(r, &src), 0);
	/* The root, its tree, the tree's blob and the record's other blob. */
	assert_int_equal(mlops_reach_count(r), 4);
	assert_int_equal(m.visited, 4);
	mlops_reach_free(r);
	free(m.root_rec);
	free(m.tree_rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_hint),
		cmocka_unit_test(test_walk_with_a_false_claim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
