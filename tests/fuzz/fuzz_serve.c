/*
 * fuzz_serve.c - the REST server's request handling (core/serve.h) on
 * hostile requests, through a real socket.
 *
 * One server is started per process on 127.0.0.1 and a free port, serving
 * the built-in model tests/fixtures/serve/mixed.json (or
 * $MLOPS_FUZZ_MODEL) with a 64 KiB body limit.  The first byte of the
 * input chooses how the rest is sent:
 *
 *   0  as it is: request line, headers and body all hostile
 *   1  the body of POST /invocations, application/json
 *   2  the body of POST /invocations, text/csv
 *   3  the body of POST /v2/models/mixed/infer
 *   4  POST /invocations with the first line as Content-Type, the rest body
 *   5  the first line as the target of a GET
 *   6  the body of POST /invocations in chunked transfer encoding, cut in
 *      pieces of a size the second byte chooses
 *   7  as 1, with a Content-Length that lies (larger than the body)
 *
 * The client half-closes after sending and reads the answer until the
 * server closes (or, for modes 0 and 7, which may leave a request
 * incomplete, until 200 ms pass without a byte).  Promises checked: a well-framed request (1 to 6) gets
 * an HTTP answer, never a 5xx (the built-in model cannot fail), and a 4xx
 * answer is JSON with an "error"; whatever came before, the server still
 * answers the next request (the next input checks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/socket.h>

#include "tests/fuzz/fuzz.h"
#include "core/serve.h"
#include "store/fsutil.h"

static struct mlops_server *serve_server;
static unsigned serve_port;

static void serve_stop(void)
{
	mlops_server_stop(serve_server, 0);
	serve_server = NULL;
}

static void serve_start(void)
{
	struct mlops_serve_opts o;
	const char *model = getenv("MLOPS_FUZZ_MODEL");
	if (serve_server)
		return;
	signal(SIGPIPE, SIG_IGN);
	mlops_serve_opts_init(&o);
	o.port = 0;
	o.workers = 2;
	o.max_body = 64 * 1024;
	o.timeout = 5;
	if (mlops_server_start(&serve_server, model && *model ? model :
			       "tests/fixtures/serve/mixed.json", &o) < 0) {
		fprintf(stderr, "fuzz_serve: unable to start the server: %s\n", mlops_error_message());
		abort();
	}
	serve_port = mlops_server_port(serve_server);
	atexit(serve_stop);
}

struct serve_buf {
	char *p;
	size_t len, cap;
};

static void serve_add(struct serve_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void serve_printf(struct serve_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void serve_printf(struct serve_buf *b, const char *fmt, ...)
{
	char *tmp = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	serve_add(b, tmp, (size_t)n);
	free(tmp);
}

/* Send the request, half-close, read the answer; -1 when no connection. */
static int serve_exchange(struct serve_buf *ans, const char *req, size_t len, int wait_ms)
{
	struct sockaddr_in sa = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)serve_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the server may answer (413) and close before reading it all */
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[4096];
		int r = poll(&p, 1, wait_ms);
		if (r <= 0)
			break;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		serve_add(ans, buf, (size_t)n);
	}
	close(fd);
	return 0;
}

/* The status of the first answer, 0 when there is none. */
static int serve_status(const struct serve_buf *ans)
{
	int status = 0;
	if (ans->len < 12 || strncmp(ans->p, "HTTP/1.", 7))
		return 0;
	if (sscanf(ans->p + 9, "%3d", &status) != 1)
		return 0;
	return status;
}

static void serve_post(struct serve_buf *req, const char *path, const char *ctype,
		       const uint8_t *body, size_t len, size_t claimed)
{
	serve_printf(req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %.*s\r\n"
		  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		  path, (int)strcspn(ctype, "\r\n"), ctype, claimed);
	serve_add(req, body, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	serve_start();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serve_buf req = { 0 }, ans = { 0 };
	if (size == 0)
		return 0;
	serve_start();
	int mode = data[0] % 8;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	switch (mode) {
	case 0:
		serve_add(&req, body, len);
		break;
	case 1:
		serve_post(&req, "/invocations", "application/json", body, len, len);
		break;
	case 2:
		serve_post(&req, "/invocations", "text/csv", body, len, len);
		break;
	case 3:
		serve_post(&req, "/v2/models/mixed/infer", "application/json", body, len, len);
		break;
	case 4: {
		const uint8_t *nl = memchr(body, '\n', len);
		size_t cl = nl ? (size_t)(nl - body) : len;
		char *ctype = fuzz_strndup(body, cl);
		if (!ctype)
			return 0;
		if (strlen(ctype) != cl) /* a NUL in a header cannot be sent */
			ctype[0] = '\0';
		for (char *c = ctype; *c; c++) /* nor other control characters */
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '_';
		size_t skip = nl ? cl + 1 : cl;
		serve_post(&req, "/invocations", ctype, body + skip, len - skip, len - skip);
		free(ctype);
		break;
	}
	case 5: {
		size_t cl = 0;
		while (cl < len && body[cl] != '\r' && body[cl] != '\n')
			cl++;
		char *target = fuzz_strndup(body, cl);
		if (!target)
			return 0;
		for (char *c = target; *c; c++)
			if (*c == ' ' || (unsigned char)*c < 0x21 || *c == 0x7f)
				*c = '_';
		serve_printf(&req, "GET %s%.400s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
			  *target == '/' ? "" : "/", target);
		free(target);
		break;
	}
	case 6: {
		size_t piece = len ? 1 + body[0] % 64 : 1;
		if (len) {
			body++;
			len--;
		}
		serve_printf(&req, "POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
			  "Connection: close\r\n\r\n");
		for (size_t off = 0; off < len; off += piece) {
			size_t n = len - off < piece ? len - off : piece;
			serve_printf(&req, "%zx\r\n", n);
			serve_add(&req, body + off, n);
			serve_add(&req, "\r\n", 2);
		}
		serve_add(&req, "0\r\n\r\n", 5);
		break;
	}
	default:
		serve_post(&req, "/invocations", "application/json", body, len, len + 1 + len % 7);
		break;
	}
	/*
	 * An incomplete request is held until the server's timeout: give up on
	 * its answer sooner (modes 0 and 7), and close.
	 */
	int wait_ms = mode >= 1 && mode <= 6 ? 10000 : 200;
	if (serve_exchange(&ans, req.p ? req.p : "", req.len, wait_ms) < 0) {
		fprintf(stderr, "fuzz_serve: the server does not accept connections\n");
		abort();
	}
	int status = serve_status(&ans);
	if (mode >= 1 && mode <= 6) {
		if (status == 0 || status >= 500)
			fprintf(stderr, "fuzz_serve: answer to mode %d: %.300s\n", mode,
				ans.p ? ans.p : "(nothing)");
		FUZZ_CHECK(status >= 200 && status < 500);
		if (status >= 400) {
			const char *b = strstr(ans.p, "\r\n\r\n");
			FUZZ_CHECK(b && strstr(b, "\"error\""));
		}
	}
	free(req.p);
	free(ans.p);
	return 0;
}
