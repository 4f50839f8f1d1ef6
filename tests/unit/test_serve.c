/*
 * test_serve.c - the REST server (core/serve.h) on 127.0.0.1, a free port,
 * through libcurl: both protocols answer what mlops_model_predict_row
 * answers on the same rows (and what numpy computed from the model
 * document, tests/fixtures/serve/expected_*.txt), bad requests get 4xx,
 * metrics count, a replaced model is picked up, predictor processes are
 * restarted and timed out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/deploy.h"
#include "core/learn.h"
#include "core/serve.h"
#include "store/error.h"
#include "store/fsutil.h"

#define FIX "tests/fixtures/serve/"

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *cls)
{
	struct buf *b = cls;
	char *q = realloc(b->p, b->len + size * n + 1);
	assert_non_null(q);
	memcpy(q + b->len, data, size * n);
	b->len += size * n;
	q[b->len] = '\0';
	b->p = q;
	return size * n;
}

/* One request; returns the status, *body the answer (caller frees). */
static long http(char **body, unsigned port, const char *method, const char *path,
		 const char *ctype, const char *data, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 };
	char url[512], ct[128];
	long status = 0;

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (data) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	*body = b.p ? b.p : strdup("");
	return status;
}

static long post_file(cJSON **out, unsigned port, const char *path, const char *ctype,
		      const char *file)
{
	char *data, *body;
	size_t len;
	assert_int_equal(mlops_read_file(&data, &len, file), 0);
	long st = http(&body, port, "POST", path, ctype, data, len);
	*out = cJSON_Parse(body);
	free(data);
	free(body);
	return st;
}

static struct mlops_server *start(const char *path, unsigned workers, size_t max_body,
				  unsigned predict_timeout, const char *log)
{
	struct mlops_serve_opts o;
	struct mlops_server *s = NULL;
	mlops_serve_opts_init(&o);
	o.port = 0;
	o.workers = workers;
	o.log_path = log;
	if (max_body)
		o.max_body = max_body;
	if (predict_timeout)
		o.predict_timeout = predict_timeout;
	int err = mlops_server_start(&s, path, &o);
	if (err < 0)
		fail_msg("start: %s", mlops_error_message());
	assert_true(mlops_server_port(s) > 0);
	return s;
}

/* The rows of a CSV fixture (no quotes) as cells; caller frees both. */
static void read_rows(char **text, struct mlops_cellref **cells, size_t *nrows, size_t *ncols,
		      const char *file)
{
	size_t len, n = 0, cap = 256;
	assert_int_equal(mlops_read_file(text, &len, file), 0);
	*cells = malloc(cap * sizeof(**cells));
	*ncols = 0;
	*nrows = 0;
	for (char *line = *text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		size_t k = 0;
		for (char *f = line;; k++) {
			char *comma = strchr(f, ',');
			if (n == cap)
				*cells = realloc(*cells, (cap *= 2) * sizeof(**cells));
			(*cells)[n].ptr = f;
			(*cells)[n++].len = comma ? (size_t)(comma - f) : strlen(f);
			if (!comma)
				break;
			f = comma + 1;
		}
		if (!*ncols)
			*ncols = k + 1;
		else
			(*nrows)++;
	}
}

/*
 * The model's own answers for the rows of rows_<name>.csv (header in
 * model input order): predictions as JSON numbers or strings, and the
 * probabilities.
 */
static void own_predictions(struct mlops_model **model, struct mlops_prediction **pred,
			    double **proba, size_t *nrows, const char *name)
{
	char path[256], *text, *rows;
	size_t len, ncols;
	struct mlops_cellref *cells;

	snprintf(path, sizeof(path), FIX "%s.json", name);
	assert_int_equal(mlops_read_file(&text, &len, path), 0);
	assert_int_equal(mlops_model_parse(model, text, len), 0);
	free(text);
	snprintf(path, sizeof(path), FIX "rows_%s.csv", name);
	read_rows(&rows, &cells, nrows, &ncols, path);
	assert_int_equal(ncols, (*model)->design.ninputs);
	size_t k = (*model)->nclasses;
	*pred = calloc(*nrows, sizeof(**pred));
	*proba = calloc(*nrows * (k ? k : 1), sizeof(double));
	for (size_t r = 0; r < *nrows; r++)
		assert_int_equal(mlops_model_predict_row(&(*pred)[r], k ? *proba + r * k : NULL, *model,
							 cells + (r + 1) * ncols), 0);
	free(cells);
	free(rows);
}

/* Check an array of predictions against the model's own. */
static void check_predictions(const cJSON *arr, const struct mlops_model *m,
			      const struct mlops_prediction *pred, size_t nrows)
{
	assert_true(cJSON_IsArray(arr));
	assert_int_equal(cJSON_GetArraySize(arr), nrows);
	size_t r = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, arr) {
		assert_true(cJSON_IsNumber(v));
		if (m->nclasses)
			assert_true(v->valuedouble == atof(pred[r].label));
		else
			assert_true(v->valuedouble == pred[r].value);
		r++;
	}
}

/* Check against numpy's answers from the model document. */
static void check_numpy(const cJSON *arr, const char *name)
{
	char path[256], *text;
	size_t len;
	snprintf(path, sizeof(path), FIX "expected_%s.txt", name);
	assert_int_equal(mlops_read_file(&text, &len, path), 0);
	const cJSON *v = arr->child;
	for (char *line = text, *nl; *line; line = nl + 1, v = v->next) {
		nl = strchr(line, '\n');
		*nl = '\0';
		assert_non_null(v);
		double want = atof(line);
		assert_true(fabs(v->valuedouble - want) <= 1e-9 * fmax(1, fabs(want)));
	}
	assert_null(v);
	free(text);
}

static void test_protocols_match_model(void **state)
{
	static const char *const models[] = { "breast", "mixed", "wine" };
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const char *name = models[i];
		struct mlops_model *m;
		struct mlops_prediction *pred;
		double *proba;
		size_t nrows;
		char path[256], url[256];
		cJSON *ans;

		own_predictions(&m, &pred, &proba, &nrows, name);
		snprintf(path, sizeof(path), FIX "%s.json", name);
		struct mlops_server *s = start(path, 2, 0, 0, NULL);
		unsigned port = mlops_server_port(s);
		static const char *const bodies[] = { "split", "records", "instances" };
		for (size_t b = 0; b < 3; b++) {
			snprintf(path, sizeof(path), FIX "req_%s_%s.json", name, bodies[b]);
			assert_int_equal(post_file(&ans, port, "/invocations", "application/json", path), 200);
			const cJSON *p = cJSON_GetObjectItem(ans, "predictions");
			check_predictions(p, m, pred, nrows);
			check_numpy(p, name);
			cJSON_Delete(ans);
		}
		snprintf(path, sizeof(path), FIX "rows_%s.csv", name);
		assert_int_equal(post_file(&ans, port, "/invocations", "text/csv", path), 200);
		check_predictions(cJSON_GetObjectItem(ans, "predictions"), m, pred, nrows);
		cJSON_Delete(ans);

		snprintf(path, sizeof(path), FIX "req_%s_v2.json", name);
		snprintf(url, sizeof(url), "/v2/models/%s/infer", name);
		assert_int_equal(post_file(&ans, port, url, "application/json", path), 200);
		assert_string_equal(cJSON_GetObjectItem(ans, "model_name")->valuestring, name);
		assert_string_equal(cJSON_GetObjectItem(ans, "id")->valuestring,
				    strcmp(name, "breast") ? (strcmp(name, "mixed") ? "t-wine" : "t-mixed") :
				    "t-breast");
		const cJSON *outs = cJSON_GetObjectItem(ans, "outputs");
		const cJSON *o0 = cJSON_GetArrayItem(outs, 0);
		assert_string_equal(cJSON_GetObjectItem(o0, "name")->valuestring, "predict");
		check_predictions(cJSON_GetObjectItem(o0, "data"), m, pred, nrows);
		if (m->nclasses) {
			const cJSON *o1 = cJSON_GetArrayItem(outs, 1), *v;
			assert_string_equal(cJSON_GetObjectItem(o1, "name")->valuestring, "predict_proba");
			size_t k = 0;
			cJSON_ArrayForEach(v, cJSON_GetObjectItem(o1, "data"))
				assert_true(v->valuedouble == proba[k++]);
			assert_int_equal(k, nrows * m->nclasses);
		} else {
			assert_int_equal(cJSON_GetArraySize(outs), 1);
		}
		cJSON_Delete(ans);

		/* Metadata names the inputs in order. */
		char *body;
		snprintf(url, sizeof(url), "/v2/models/%s", name);
		assert_int_equal(http(&body, port, "GET", url, NULL, NULL, 0), 200);
		ans = cJSON_Parse(body);
		free(body);
		const cJSON *ins = cJSON_GetObjectItem(ans, "inputs");
		assert_int_equal(cJSON_GetArraySize(ins), m->design.ninputs);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ins, 0), "name")->valuestring,
				    m->design.inputs[0].name);
		cJSON_Delete(ans);

		mlops_server_stop(s, 1000);
		free(pred);
		free(proba);
		mlops_model_free(m);
	}
}

static void expect(unsigned port, const char *method, const char *path, const char *ctype,
		   const char *data, long status, const char *needle)
{
	char *body;
	long st = http(&body, port, method, path, ctype, data, data ? strlen(data) : 0);
	if (st != status || (needle && !strstr(body, needle)))
		fail_msg("%s %s: got %ld '%s', want %ld with '%s'", method, path, st, body, status,
			 needle ? needle : "");
	if (status >= 400 && !strstr(body, "{\"error\":"))
		fail_msg("no error object in '%s'", body);
	free(body);
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct mlops_server *s = start(FIX "mixed.json", 2, 4096, 0, NULL);
	unsigned p = mlops_server_port(s);
	const char *js = "application/json";

	expect(p, "POST", "/invocations", js, "{\"dataframe_split\": ", 400, "malformed JSON");
	expect(p, "POST", "/invocations", js, "", 400, "malformed JSON");
	expect(p, "POST", "/invocations", js, "[1,2]", 400, "must be a JSON object");
	expect(p, "POST", "/invocations", js, "{\"rows\": []}", 400, "expected one of");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_split\": {\"columns\": [\"x1\"], \"data\": [[1]]}}", 400,
	       "missing column 'x2'");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_records\": [{\"x1\": 1, \"x2\": \"abc\", \"const\": 0, \"color\": \"red\"}]}",
	       400, "row 1: column 'x2' holds a string, expected a number");
	expect(p, "POST", "/invocations", "text/csv", "x1,x2,const,color\n1,abc,0,red\n", 400,
	       "'abc' of column 'x2' is not a number");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_records\": [{\"x1\": 1, \"x2\": 2, \"const\": 0, \"color\": {}}]}",
	       400, "array or object");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_records\": [{\"x1\": 1, \"x2\": 2, \"const\": 0, \"color\": \"red\"},"
	       " {\"x1\": 1}]}", 400, "record 2 has no column 'x2'");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_split\": {\"columns\": [\"x1\", \"x2\", \"const\", \"color\"],"
	       " \"data\": [[1, 2, 0]]}}", 400, "row 1 has 3 values, expected 4");
	expect(p, "POST", "/invocations", "text/csv", "x1,x2,const,color\n1,2,\"0\n", 400,
	       "unterminated quote");
	expect(p, "POST", "/invocations", "text/csv", "x1,x2,const,color\n1,2,0\n", 400,
	       "line 2 has 3 fields");
	expect(p, "POST", "/invocations", "application/xml", "<a/>", 415, "unsupported content type");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x1\", \"shape\": [2], \"datatype\": \"FP64\", \"data\": [1]}]}",
	       400, "has 1 values, its shape says 2");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x1\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [\"a\"]}]}",
	       400, "holds a string");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"UINT8\","
	       " \"data\": [-5, 3.5, 1, 300]}]}",
	       400, "input 'x' of datatype UINT8 holds -5 at position 0, not a whole number from 0 to 255");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"INT32\","
	       " \"data\": [1, 1, 0.25, 1]}]}",
	       400, "holds 0.25 at position 2, not a whole number from -2147483648 to 2147483647");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP16\","
	       " \"data\": [1, 70000, 0, 1]}]}",
	       400, "holds 70000 at position 1, beyond its largest value 65504");
	expect(p, "POST", "/v2/models/mixed/infer", js,
	       "{\"inputs\": [{\"name\": \"x1\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [1]}]}",
	       400, "missing column 'x2'");
	expect(p, "POST", "/v2/models/mixed/infer", js, "{\"inputs\": []}", 400, "non-empty");
	expect(p, "POST", "/v2/models/other/infer", js, "{}", 404, "model not found");
	expect(p, "GET", "/v2/models/mixed/infer", NULL, NULL, 405, "not allowed");
	expect(p, "GET", "/nowhere", NULL, NULL, 404, "no such endpoint");

	/* Over the body limit: refused by its Content-Length, and when streamed. */
	char *big = malloc(10000);
	memset(big, ' ', 9999);
	big[9999] = '\0';
	expect(p, "POST", "/invocations", js, big, 413, "over the limit");
	free(big);

	/* The server still answers after all that. */
	expect(p, "GET", "/v2/health/live", NULL, NULL, 200, "\"live\":true");
	expect(p, "GET", "/v2/health/ready", NULL, NULL, 200, "\"ready\":true");
	expect(p, "GET", "/ping", NULL, NULL, 200, NULL);
	expect(p, "GET", "/v2/models/mixed/ready", NULL, NULL, 200, "\"ready\":true");
	expect(p, "POST", "/invocations", js,
	       "{\"instances\": [{\"x1\": 13.528, \"x2\": -2.039, \"const\": 0.1, \"color\": \"green\"}]}",
	       200, "\"predictions\":[29.93155925660");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_requests_total{code=\"400\"} 19");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_requests_total{code=\"413\"} 1");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_rows_predicted_total 1\n");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_model_info{name=\"mixed\"");

	struct mlops_serve_stats st;
	mlops_server_stats(&st, s);
	assert_int_equal(st.rows, 1);
	assert_true(st.errors >= 19);
	mlops_server_stop(s, 1000);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/test_serve.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void copy(const char *from, const char *to)
{
	char *text;
	size_t len;
	assert_int_equal(mlops_read_file(&text, &len, from), 0);
	FILE *f = fopen(to, "w");
	assert_non_null(f);
	fwrite(text, 1, len, f);
	fclose(f);
	free(text);
}

static void test_reload_and_log(void **state)
{
	(void)state;
	char *d = tmpdir(), path[512], tmp[512], logp[512], *body;
	snprintf(path, sizeof(path), "%s/model.json", d);
	snprintf(tmp, sizeof(tmp), "%s/.new", d);
	snprintf(logp, sizeof(logp), "%s/requests.log", d);
	copy(FIX "mixed.json", path);
	struct mlops_server *s = start(d, 1, 0, 0, logp);
	unsigned p = mlops_server_port(s);
	char *v1 = strdup(mlops_server_model_version(s));
	int reloaded = -1;

	assert_int_equal(mlops_server_poll(s, &reloaded), 0);
	assert_int_equal(reloaded, 0);
	expect(p, "POST", "/invocations", "application/json",
	       "{\"instances\": [[13.528, -2.039, 0.1, \"green\"]]}", 200, "29.93155925660");

	/* A broken model does not replace the working one. */
	FILE *f = fopen(tmp, "w");
	fputs("{\"format\": \"mlops-model\"", f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_not_equal(mlops_server_poll(s, &reloaded), 0);
	assert_int_equal(reloaded, 0);
	expect(p, "POST", "/invocations", "application/json",
	       "{\"instances\": [[13.528, -2.039, 0.1, \"green\"]]}", 200, "29.93155925660");

	/* Another model, renamed into place, is picked up. */
	copy(FIX "wine.json", tmp);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(mlops_server_poll(s, &reloaded), 0);
	assert_int_equal(reloaded, 1);
	assert_string_not_equal(mlops_server_model_version(s), v1);
	char *req;
	size_t len;
	assert_int_equal(mlops_read_file(&req, &len, FIX "req_wine_split.json"), 0);
	assert_int_equal(http(&body, p, "POST", "/invocations", "application/json", req, len), 200);
	free(req);
	free(body);
	assert_int_equal(mlops_server_reload(s, &reloaded), 0);
	assert_int_equal(reloaded, 0);
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_model_reloads_total{result=\"ok\"} 2");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_model_reloads_total{result=\"failed\"} 1");
	mlops_server_stop(s, 1000);

	/* One log line per prediction, with inputs and predictions. */
	char *log;
	assert_int_equal(mlops_read_file(&log, &len, logp), 0);
	char *l1 = log, *l3 = strrchr(log, '\n');
	*l3 = '\0';
	l3 = strrchr(log, '\n') + 1;
	*strchr(l1, '\n') = '\0';
	cJSON *a = cJSON_Parse(l1), *c = cJSON_Parse(l3);
	assert_non_null(a);
	assert_non_null(c);
	assert_string_equal(cJSON_GetObjectItem(a, "version")->valuestring, v1);
	assert_string_equal(cJSON_GetObjectItem(a, "model")->valuestring,
			    strrchr(d, '/') + 1);
	assert_string_equal(cJSON_GetObjectItem(a, "protocol")->valuestring, "mlflow");
	const cJSON *in = cJSON_GetObjectItem(a, "inputs");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(in, "columns"), 3)->valuestring,
			    "color");
	assert_true(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(in, "data"), 0), 0)
		    ->valuedouble == 13.528);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(a, "latency_ms")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "predictions")), 20);
	assert_string_not_equal(cJSON_GetObjectItem(c, "version")->valuestring, v1);
	cJSON_Delete(a);
	cJSON_Delete(c);
	free(log);
	free(v1);
	unlink(logp);
	unlink(path);
	rmdir(d);
	free(d);
}

static void write_predictor(const char *dir, const char *script)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/p.sh", dir);
	FILE *f = fopen(path, "w");
	fputs(script, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/record.json", dir);
	f = fopen(path, "w");
	fputs("{\"name\": \"proc\", \"version\": \"1.0.0\", \"predict\": \"sh p.sh\"}\n", f);
	fclose(f);
}

static void test_predictor_processes(void **state)
{
	(void)state;
	const char *js = "application/json";
	const char *one = "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2.5], [3, 4]]}}";

	/* The shell example: sums of rows. */
	struct mlops_server *s = start("examples/predictor/shell", 2, 0, 0, NULL);
	unsigned p = mlops_server_port(s);
	for (int i = 0; i < 5; i++)
		expect(p, "POST", "/invocations", js, one, 200, "{\"predictions\":[3.5,7]}");
	expect(p, "POST", "/invocations", "text/csv", "a,b\n1,2\n", 200, "{\"predictions\":[3]}");
	expect(p, "POST", "/v2/models/row-sum/infer", js,
	       "{\"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": \"INT64\", \"data\": [1, 2]}]}",
	       200, "\"data\":[1,2]");
	mlops_server_stop(s, 1000);

	/* One answer, then exit: restarted for every request. */
	char *d = tmpdir();
	write_predictor(d, "read line\necho '{\"predictions\": [1, 2]}'\n");
	s = start(d, 1, 0, 0, NULL);
	p = mlops_server_port(s);
	for (int i = 0; i < 3; i++)
		expect(p, "POST", "/invocations", js, one, 200, "{\"predictions\":[1,2]}");
	expect(p, "GET", "/metrics", NULL, NULL, 200, "mlops_predictor_restarts_total 2");
	expect(p, "GET", "/v2/models/proc/versions/1.0.0/ready", NULL, NULL, 200, "true");
	mlops_server_stop(s, 1000);

	/* Out of protocol: 502; an error answer: 400 with its message. */
	write_predictor(d, "while read line; do case \"$line\" in *'[[1'*) echo garbage;; "
			"*) echo '{\"error\": \"no such thing\"}';; esac; done\n");
	s = start(d, 1, 0, 0, NULL);
	p = mlops_server_port(s);
	expect(p, "POST", "/invocations", js, one, 502, "broke the protocol");
	expect(p, "POST", "/invocations", js,
	       "{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [[7]]}}", 400, "no such thing");
	mlops_server_stop(s, 1000);

	/* Too slow: 504 after the timeout, and the server answers others meanwhile. */
	write_predictor(d, "read line\nsleep 30\n");
	s = start(d, 1, 0, 300, NULL);
	p = mlops_server_port(s);
	expect(p, "POST", "/invocations", js, one, 504, "did not answer within 300 ms");
	expect(p, "GET", "/v2/health/live", NULL, NULL, 200, NULL);
	mlops_server_stop(s, 1000);

	char path[512];
	snprintf(path, sizeof(path), "%s/p.sh", d);
	unlink(path);
	snprintf(path, sizeof(path), "%s/record.json", d);
	unlink(path);
	rmdir(d);
	free(d);
}

static void test_start_errors(void **state)
{
	(void)state;
	struct mlops_serve_opts o;
	struct mlops_server *s;
	mlops_serve_opts_init(&o);
	o.port = 0;
	assert_int_equal(mlops_server_start(&s, "/nonexistent/model", &o), MLOPS_ENOTFOUND);
	assert_null(s);
	assert_int_equal(mlops_server_start(&s, "tests/fixtures/learn/mixed.csv", &o), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "mixed.csv"));
	/* A taken port is an error, not a crash. */
	struct mlops_server *a = start(FIX "mixed.json", 1, 0, 0, NULL);
	o.port = mlops_server_port(a);
	assert_int_equal(mlops_server_start(&s, FIX "mixed.json", &o), MLOPS_EIO);
	assert_non_null(strstr(mlops_error_message(), "unable to listen"));
	mlops_server_stop(a, 0);
	o.port = 0;
	o.host = "no.such.host.invalid";
	assert_int_equal(mlops_server_start(&s, FIX "mixed.json", &o), MLOPS_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocols_match_model),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_reload_and_log),
		cmocka_unit_test(test_predictor_processes),
		cmocka_unit_test(test_start_errors),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
