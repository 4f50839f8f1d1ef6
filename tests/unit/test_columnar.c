/*
 * test_columnar.c - the column-major layout of delimited text: exact round
 * trips (CSV, TSV, CRLF, quotes, empty fields, rows cut at both ends, a
 * ragged row that ends the body, no final newline), the layout itself on a
 * known input, what is not laid out, and encodings that are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/columnar.h"

/* Encode (must apply: 1) and decode back to the same bytes. */
static void roundtrip(const char *data, size_t len, int applies)
{
	void *enc = NULL, *dec = NULL;
	size_t elen = 0, dlen = 0;
	const char *why = "";
	int r = mlops_columnar_encode(&enc, &elen, data, len);
	assert_int_equal(r, applies);
	if (!applies) {
		assert_null(enc);
		return;
	}
	assert_true(elen > len && elen < len + 64);
	assert_int_equal(mlops_columnar_decode(&dec, &dlen, enc, elen, &why), 0);
	assert_null(why);
	assert_int_equal(dlen, len);
	assert_memory_equal(dec, data, len);
	assert_int_equal(((char *)dec)[len], '\0');
	free(enc);
	free(dec);
}

/* rows lines made by fmt(i) into a new buffer. */
static char *lines(size_t *len, int rows, const char *prefix, const char *fmt, const char *suffix)
{
	size_t cap = 256 + (size_t)rows * 128;
	char *b = malloc(cap);
	assert_non_null(b);
	size_t n = (size_t)snprintf(b, cap, "%s", prefix);
	for (int i = 0; i < rows; i++)
		n += (size_t)snprintf(b + n, cap - n, fmt, i, i * 7 % 13, i % 3);
	n += (size_t)snprintf(b + n, cap - n, "%s", suffix);
	*len = n;
	return b;
}

static void test_roundtrips(void **state)
{
	(void)state;
	static const struct {
		const char *prefix, *fmt, *suffix;
		int rows, applies;
	} cases[] = {
		{ "id,name,x\n", "%d,name-%d,%d.5\n", "", 100, 1 },
		{ "45,cut row\n", "%d,name-%d,%d.5\n", "99,half a r", 100, 1 },
		{ "a\tb\tc\r\n", "%d\tv%d\t%d\r\n", "", 50, 1 },
		{ "", "%d;%d;%d\n", "", 40, 1 },
		{ "x|y|z\n", "%d|%d|%d\n", "tail without newline", 40, 1 },
		{ "q\n", "%d,\"quoted %d\",%d\n", "", 30, 1 },
		{ "h\n", "%d,,%d,%d,\n", "", 30, 1 },                  /* empty fields */
		{ "h\n", "%d,%d,%d\n", "1,2,3,4,5\n1,2\n7,8,9\n", 20, 1 }, /* ragged: suffix */
		{ "h\n", "%d,%d,%d\n", "", MLOPS_COLUMNAR_MIN_ROWS, 1 },
		{ "h\n", "%d,%d,%d\n", "", MLOPS_COLUMNAR_MIN_ROWS - 1, 0 },
		{ "h\n", "no delimiter %d %d %d\n", "", 100, 0 },
		{ "h\n", "%d,\"a,b\",%d%d\n", "", 100, 1 }, /* a quoted comma: still consistent */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *b = lines(&len, cases[i].rows, cases[i].prefix, cases[i].fmt, cases[i].suffix);
		if (len < 64 && cases[i].applies)
			fail_msg("case %zu is too short to be laid out", i);
		roundtrip(b, len, cases[i].applies);
		free(b);
	}
	/* Short, no newline, one line only: not laid out. */
	roundtrip("a,b,c\n", 6, 0);
	char flat[200];
	memset(flat, 'x', sizeof(flat));
	roundtrip(flat, sizeof(flat), 0);
}

/* Every byte value inside fields survives (NUL, '\r', quotes, high bytes). */
static void test_any_field_bytes(void **state)
{
	(void)state;
	char b[4096];
	size_t n = 0;
	unsigned v = 1;
	n += (size_t)snprintf(b, sizeof(b), "start\n");
	for (int row = 0; row < 60; row++) {
		for (int col = 0; col < 4; col++) {
			for (int k = 0; k < 3; k++) {
				v = v * 1103515245u + 12345u;
				unsigned char c = (unsigned char)(v >> 16);
				if (c == ',' || c == '\n')
					c = 0;
				b[n++] = (char)c;
			}
			b[n++] = col < 3 ? ',' : '\n';
		}
	}
	roundtrip(b, n, 1);
}

/* The layout on a known input: prefix, columns, suffix. */
static void test_layout(void **state)
{
	(void)state;
	char in[1024];
	size_t n = (size_t)snprintf(in, sizeof(in), "tail\n");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%d,r%d\n", i, i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "cut");
	void *enc;
	size_t elen;
	assert_int_equal(mlops_columnar_encode(&enc, &elen, in, n), 1);
	char want[1024];
	size_t w = 0;
	w += (size_t)snprintf(want + w, sizeof(want) - w, "tail\n");
	for (int i = 0; i < 16; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%d\n", i);
	for (int i = 0; i < 16; i++)
		w += (size_t)snprintf(want + w, sizeof(want) - w, "r%d\n", i);
	w += (size_t)snprintf(want + w, sizeof(want) - w, "cut");
	/* Header: magic, delimiter, columns 2, rows 16, prefix 5, suffix 3, total n. */
	const unsigned char hdr[] = { 'M', 'L', 'C', '1', ',', 2, 16, 5, 3, (unsigned char)n };
	assert_true(n < 128);
	assert_int_equal(elen, sizeof(hdr) + w);
	assert_memory_equal(enc, hdr, sizeof(hdr));
	assert_memory_equal((char *)enc + sizeof(hdr), want, w);
	free(enc);
}

static void expect_refused(const void *enc, size_t len)
{
	void *out = (void *)1;
	size_t n;
	const char *why = NULL;
	assert_int_equal(mlops_columnar_decode(&out, &n, enc, len, &why), -1);
	assert_null(out);
	assert_non_null(why);
}

static void test_bad_encodings(void **state)
{
	(void)state;
	char in[2048];
	size_t n = (size_t)snprintf(in, sizeof(in), "h\n");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%d,%d,x%d\n", i, i * i, i);
	unsigned char *enc;
	size_t elen;
	assert_int_equal(mlops_columnar_encode((void **)&enc, &elen, in, n), 1);
	/* Every truncation is refused. */
	for (size_t cut = 0; cut < elen; cut++)
		expect_refused(enc, cut);
	/* A wrong magic, column count, row count or total. */
	unsigned char *bad = malloc(elen + 1);
	assert_non_null(bad);
	static const size_t at[] = { 0, 5, 6, 9 };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memcpy(bad, enc, elen);
		bad[at[i]] ^= 0x01;
		expect_refused(bad, elen);
	}
	/* One byte more: the total disagrees. */
	memcpy(bad, enc, elen);
	bad[elen] = 'x';
	expect_refused(bad, elen + 1);
	/* A newline turned into another byte: a column runs short. */
	memcpy(bad, enc, elen);
	unsigned char *nl = memchr(bad + 20, '\n', elen - 20);
	assert_non_null(nl);
	*nl = 'y';
	expect_refused(bad, elen);
	free(bad);
	free(enc);
	expect_refused("MLC1,\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_any_field_bytes),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_bad_encodings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
