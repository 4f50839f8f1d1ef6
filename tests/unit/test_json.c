/*
 * test_json.c - canonical records: keys sorted at every depth, and every
 * number printed so that it reads back as the same double (cJSON alone
 * prints 0.1 + 0.2 as 0.3), without changing any number cJSON already
 * prints exactly; the tree is left as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/json.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers_exact),
		cmocka_unit_test(test_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
