/*
 * serve.h - the REST server of `mlops deploy serve`: one model behind
 * KServe's V2 inference protocol, MLflow's scoring protocol and a
 * Prometheus /metrics page, on libmicrohttpd.
 *
 * Endpoints:
 *   GET  /v2/health/live, /v2/health/ready, /v2
 *   GET  /v2/models/NAME[/versions/VER]          metadata: inputs, outputs
 *   GET  /v2/models/NAME[/versions/VER]/ready
 *   POST /v2/models/NAME[/versions/VER]/infer    one tensor per column, or
 *                                                one [rows, inputs] tensor
 *   GET  /ping, /health
 *   POST /invocations    application/json with dataframe_split,
 *                        dataframe_records, instances or inputs; text/csv
 *                        with a header line; answers {"predictions": [...]}
 *   GET  /metrics        requests by status, latency histogram, rows
 *                        predicted, model name and version, reloads
 *
 * A built-in model (model.json, core/learn.h) is predicted in-process by
 * mlops_model_predict_row(), the function training scored with, so that
 * serving cannot skew from training.  Any other model is answered by a pool
 * of predictor processes (one per worker): long-lived children started with
 * execvp in the model directory, speaking JSON lines on stdin and stdout:
 *
 *   in:  {"columns": ["x1", "color"], "data": [[1.5, "red"], [2, "blue"]]}
 *   out: {"predictions": [0.7, 0.1]}
 *
 * A child that dies, answers out of protocol or misses the request timeout
 * is killed and restarted on the next request; the request gets 502 (bad
 * answer) or 504 (timeout).
 *
 * Bad requests (malformed JSON or CSV, missing columns, values of the wrong
 * type, bodies over the limit, unknown paths) get a 4xx answer with
 * {"error": "..."}; a client slower than the connection timeout is
 * disconnected; none of them stops or blocks other clients.
 *
 * Design notes.  The served model is reference counted: a request takes a
 * reference under a mutex and works on that model until it answers, so a
 * reload (mlops_server_reload, or mlops_server_poll noticing that the
 * model's path now resolves elsewhere or its file changed) swaps in a new
 * model without dropping or failing requests in flight; the old model, and
 * its predictor processes, go when the last request using it ends.
 * Counters are relaxed atomics.  Each successful prediction appends one
 * JSON line to the request log, under a mutex, through a stdio buffer that
 * mlops_server_poll flushes:
 *
 *   {"time": "2025-01-02T03:04:05.678Z", "model": "iris", "version": "...",
 *    "protocol": "v2"|"mlflow", "inputs": {"columns": [...], "data": [[...]]},
 *    "predictions": [...], "latency_ms": 0.21}
 *
 * The server ignores SIGPIPE (a client or predictor closing its end must
 * not kill the process).  It raises its soft limit of open files to take
 * many connections; predictor processes get back the limit it started with
 * (restored between fork and exec), as they would have run without it.
 */
#ifndef MLOPS_SERVE_H
#define MLOPS_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct mlops_serve_opts {
	const char *host;          /* address to bind, default "127.0.0.1" */
	unsigned port;             /* default 8080; 0 = any free port */
	unsigned workers;          /* worker threads (and predictor processes);
				      0 = online CPUs */
	const char *log_path;      /* request log (appended); NULL = none */
	size_t max_body;           /* largest request body, default 8 MiB */
	unsigned timeout;          /* seconds a connection may stay idle or
				      slow, default 30 */
	unsigned predict_timeout;  /* milliseconds a predictor process may take
				      for one request, default 30000 */
	const char *predict;       /* predictor command overriding the model
				      directory's record; NULL = none */
};

/* Fill opts with the defaults above. */
void mlops_serve_opts_init(struct mlops_serve_opts *opts);

struct mlops_server;

/*
 * Load the model at path (a model directory or a model JSON file, see
 * mlops_model_dir_open in core/deploy.h), open the request log and start
 * answering on host:port.  *out is the caller's, ended with
 * mlops_server_stop.  Errors: those of mlops_model_dir_open and
 * mlops_model_parse for the model; MLOPS_EUSAGE for a bad host or option;
 * MLOPS_EIO when the log cannot be opened or the address cannot be bound
 * ("unable to listen on 127.0.0.1:8080").
 */
int mlops_server_start(struct mlops_server **out, const char *path,
		       const struct mlops_serve_opts *opts);

/* The port the server listens on (the chosen one when asked for 0). */
unsigned mlops_server_port(const struct mlops_server *server);

/* The served model's name and version (borrowed, valid until a reload). */
const char *mlops_server_model_name(const struct mlops_server *server);
const char *mlops_server_model_version(const struct mlops_server *server);

/*
 * Load the model again from the path given to mlops_server_start and
 * serve it from the next request on.  When loading fails, the old model
 * stays in service and the error is returned.  *changed (may be NULL) is
 * set to 1 when the new model has another version than the old one.
 */
int mlops_server_reload(struct mlops_server *server, int *changed);

/*
 * Periodic duties, to call about once a second: flush the request log and
 * reload when the model's path now resolves to another directory (a
 * switched `current` link) or its files changed.  *reloaded (may be NULL)
 * tells whether a reload happened.  Returns the reload's error, if any;
 * the old model then stays in service.
 */
int mlops_server_poll(struct mlops_server *server, int *reloaded);

/* Totals since the start. */
struct mlops_serve_stats {
	uint64_t requests;   /* answered requests */
	uint64_t errors;     /* of which with a 4xx or 5xx status */
	uint64_t rows;       /* rows predicted */
	uint64_t reloads;    /* successful reloads */
};
void mlops_server_stats(struct mlops_serve_stats *out, const struct mlops_server *server);

/*
 * Stop accepting connections and wait up to drain_ms for requests in
 * flight to be answered; the server stays to be read (mlops_server_stats
 * then counts the requests that finished while draining) and stopped.
 */
void mlops_server_drain(struct mlops_server *server, unsigned drain_ms);

/*
 * Stop accepting connections (unless drained already), wait up to drain_ms for requests in flight
 * to be answered, stop, flush and close the log, end the predictor
 * processes and free the server.  NULL is accepted.
 */
void mlops_server_stop(struct mlops_server *server, unsigned drain_ms);

#endif
