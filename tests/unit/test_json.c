/*
 * test_json.c - canonical records: keys sorted at every depth, and every
 * number printed so that it reads back as the same double (cJSON alone
 * prints 0.1 + 0.2 as 0.3), without changing any number cJSON already
 * prints exactly; text that is UTF-8 whatever the strings hold (a stray
 * byte is U+FFFD), while records keep their bytes; the tree is left as it
 * was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/json.h"
#include "store/utf8.h"

/* Every number of text, parsed back, equals the one in want. */
static void assert_round_trip(const char *text, const double *want, size_t n)
{
	cJSON *back = cJSON_Parse(text);
	assert_non_null(back);
	assert_int_equal((size_t)cJSON_GetArraySize(back), n);
	for (size_t i = 0; i < n; i++) {
		const cJSON *e = cJSON_GetArrayItem(back, (int)i);
		assert_true(cJSON_IsNumber(e));
		assert_true(e->valuedouble == want[i]);
	}
	cJSON_Delete(back);
}

static void test_numbers_exact(void **state)
{
	(void)state;
	const double v[] = { 0.1 + 0.2, 1.0 / 3.0, 2.0 / 3.0 * 1e-300, 1e308 * 1.7976931348623157,
			     0.1, 42, -7, 1234567890123456.0, 5e-324, 1.0 - 1e-16, 0.7 * 3 };
	size_t n = sizeof(v) / sizeof(v[0]);
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	char *plain = cJSON_PrintUnformatted(a), *exact = mlops_json_print(a, 0), *pretty = mlops_json_print(a, 1);
	assert_non_null(exact);
	assert_non_null(pretty);
	/* cJSON itself loses 0.1 + 0.2: the case this guards against. */
	assert_non_null(strstr(plain, "[0.3,"));
	assert_round_trip(exact, v, n);
	assert_round_trip(pretty, v, n);
	assert_non_null(strstr(exact, "[0.30000000000000004,"));
	/* Numbers cJSON prints exactly keep their text (record ids stay). */
	assert_non_null(strstr(exact, ",0.1,42,-7,1234567890123456,"));
	/* The tree is unchanged: numbers again, printed as before. */
	for (cJSON *e = a->child; e; e = e->next) {
		assert_true(cJSON_IsNumber(e));
		assert_null(e->valuestring);
	}
	char *again = cJSON_PrintUnformatted(a);
	assert_string_equal(again, plain);
	free(plain);
	free(exact);
	free(pretty);
	free(again);
	cJSON_Delete(a);
}

static void test_canonical(void **state)
{
	(void)state;
	cJSON *o = cJSON_Parse("{\"b\":{\"z\":1,\"a\":[{\"y\":2,\"x\":0.30000000000000004}]},\"a\":null}");
	assert_non_null(o);
	char *text = NULL;
	assert_int_equal(mlops_json_canonical(&text, o), 0);
	assert_string_equal(text, "{\"a\":null,\"b\":{\"a\":[{\"x\":0.30000000000000004,\"y\":2}],\"z\":1}}");
	free(text);
	cJSON_Delete(o);
	/* Only the value passed is printed, not the items after it. */
	cJSON *arr = cJSON_Parse("[0.30000000000000004,1]");
	char *first = mlops_json_print(arr->child, 0);
	assert_string_equal(first, "0.30000000000000004");
	assert_true(cJSON_IsNumber(arr->child) && cJSON_IsNumber(arr->child->next));
	free(first);
	cJSON_Delete(arr);
}

static void test_text_is_utf8(void **state)
{
	(void)state;
	/* A Latin-1 name as a key and a value, a truncated sequence, valid UTF-8. */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "r\xe9sum\xe9.csv", "\xff\xfe");
	cJSON_AddStringToObject(o, "cut", "a\xe2\x82");
	cJSON_AddStringToObject(o, "ok", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	cJSON *arr = cJSON_AddArrayToObject(o, "deep");
	cJSON_AddItemToArray(arr, cJSON_CreateString("\xc0\xaf\xed\xa0\x80"));
	char *text = mlops_json_print(o, 0), *pretty = mlops_json_print(o, 1);
	assert_string_equal(text, "{\"r\xef\xbf\xbdsum\xef\xbf\xbd.csv\":\"\xef\xbf\xbd\xef\xbf\xbd\","
				  "\"cut\":\"a\xef\xbf\xbd\xef\xbf\xbd\","
				  "\"ok\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
				  "\"deep\":[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"]}");
	assert_null(mlops_utf8_invalid(text));
	assert_null(mlops_utf8_invalid(pretty));
	/* The tree keeps its bytes, and records are written with them. */
	assert_string_equal(o->child->string, "r\xe9sum\xe9.csv");
	assert_string_equal(o->child->valuestring, "\xff\xfe");
	char *exact = mlops_json_print_exact(o, 0), *canon = NULL;
	assert_non_null(strstr(exact, "\"r\xe9sum\xe9.csv\":\"\xff\xfe\""));
	assert_int_equal(mlops_json_canonical(&canon, o), 0);
	assert_non_null(strstr(canon, "\"r\xe9sum\xe9.csv\":\"\xff\xfe\""));
	cJSON *back = cJSON_Parse(canon);
	assert_string_equal(mlops_json_str(back, "r\xe9sum\xe9.csv"), "\xff\xfe");
	cJSON_Delete(back);
	/* A string alone, and the tree printed again the same. */
	char *one = mlops_json_print(cJSON_GetObjectItemCaseSensitive(o, "cut"), 0);
	assert_string_equal(one, "\"a\xef\xbf\xbd\xef\xbf\xbd\"");
	char *again = mlops_json_print_exact(o, 0);
	assert_string_equal(again, canon);
	free(text);
	free(pretty);
	free(exact);
	free(canon);
	free(one);
	free(again);
	cJSON_Delete(o);
}

static void test_utf8_and_quotes(void **state)
{
	(void)state;
	const char *s = "a\xc3\xa9\xe9z";
	assert_ptr_equal(mlops_utf8_invalid(s), s + 3);
	assert_null(mlops_utf8_invalid("\xf4\x8f\xbf\xbf plain"));
	assert_non_null(mlops_utf8_invalid("\xf4\x90\x80\x80")); /* above U+10FFFF */
	assert_non_null(mlops_utf8_invalid("\xe0\x80\xaf"));     /* overlong */
	char *q[] = { mlops_quote_name("data/x.csv"), mlops_quote_name("\xc3\xbcn\xc3\xaf"),
		      mlops_quote_name("r\xe9sum\xe9.csv"), mlops_quote_name("new\nline\t\"q\"\\"),
		      mlops_quote_name("c1\xc2\x85") };
	assert_string_equal(q[0], "'data/x.csv'");
	assert_string_equal(q[1], "'\xc3\xbcn\xc3\xaf'");
	assert_string_equal(q[2], "\"r\\351sum\\351.csv\"");
	assert_string_equal(q[3], "\"new\\nline\\t\\\"q\\\"\\\\\"");
	assert_string_equal(q[4], "\"c1\\302\\205\"");
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		free(q[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers_exact),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_text_is_utf8),
		cmocka_unit_test(test_utf8_and_quotes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
