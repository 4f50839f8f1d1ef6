/*
 * error.c - the per-thread last-error message behind error.h.
 */
#include "error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[2048];
static _Thread_local int last_code;

static int set_v(int code, int errno_value, const char *fmt, va_list ap)
{
	char buf[sizeof(last_message)];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		buf[0] = '\0';
	if (errno_value) {
		const char *es = strerror(errno_value);
		size_t len = strlen(buf), el = strlen(es);
		if (len + 2 + el < sizeof(buf)) {
			memcpy(buf + len, ": ", 2);
			memcpy(buf + len + 2, es, el + 1);
		}
	}
	memcpy(last_message, buf, sizeof(buf));
	last_code = code;
	return code;
}

int mlops_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_v(code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int mlops_error_sys(int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_v(MLOPS_EIO, errno_value, fmt, ap);
	va_end(ap);
	return MLOPS_EIO;
}

int mlops_error_wrap(int code, const char *fmt, ...)
{
	char prefix[512], old[sizeof(last_message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_message, sizeof(old));
	size_t pl = strlen(prefix), ol = strlen(old);
	if (pl > sizeof(last_message) - 3)
		pl = sizeof(last_message) - 3;
	if (ol > sizeof(last_message) - 3 - pl)
		ol = sizeof(last_message) - 3 - pl;
	memcpy(last_message, prefix, pl);
	memcpy(last_message + pl, ": ", 2);
	memcpy(last_message + pl + 2, old, ol);
	last_message[pl + 2 + ol] = '\0';
	last_code = code;
	return code;
}

const char *mlops_error_message(void)
{
	return last_message;
}

int mlops_error_code(void)
{
	return last_code;
}

void mlops_error_clear(void)
{
	last_message[0] = '\0';
	last_code = 0;
}

int mlops_error_exit_code(int code)
{
	switch (code) {
	case MLOPS_OK: return MLOPS_EXIT_OK;
	case MLOPS_ECHECK: return MLOPS_EXIT_CHECK;
	case MLOPS_EUSAGE: return MLOPS_EXIT_USAGE;
	case MLOPS_ENOTFOUND: return MLOPS_EXIT_NOTFOUND;
	case MLOPS_EAMBIGUOUS: return MLOPS_EXIT_NOTFOUND;
	case MLOPS_EINVALID: return MLOPS_EXIT_INVALID;
	case MLOPS_EEXISTS: return MLOPS_EXIT_CONFLICT;
	case MLOPS_ELOCKED: return MLOPS_EXIT_LOCKED;
	case MLOPS_EIO: return MLOPS_EXIT_IO;
	case MLOPS_ECORRUPT: return MLOPS_EXIT_CORRUPT;
	case MLOPS_ENOREPO: return MLOPS_EXIT_NOREPO;
	case MLOPS_EFORMAT: return MLOPS_EXIT_NOREPO;
	case MLOPS_ECONFLICT: return MLOPS_EXIT_CONFLICT;
	case MLOPS_EREMOTE: return MLOPS_EXIT_REMOTE;
	default: return MLOPS_EXIT_FAILURE;
	}
}

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char *warnings[16];
static size_t nwarnings;
static void (*live_cb)(const char *message, void *payload);
static void *live_payload;

void mlops_warning_add(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&warn_lock);
	if (live_cb) {
		live_cb(buf, live_payload);
	} else if (nwarnings < sizeof(warnings) / sizeof(warnings[0])) {
		char *s = strdup(buf);
		if (s)
			warnings[nwarnings++] = s;
	}
	pthread_mutex_unlock(&warn_lock);
}

void mlops_warnings_flush(void (*cb)(const char *message, void *payload), void *payload)
{
	pthread_mutex_lock(&warn_lock);
	for (size_t i = 0; i < nwarnings; i++) {
		if (cb)
			cb(warnings[i], payload);
		free(warnings[i]);
	}
	nwarnings = 0;
	pthread_mutex_unlock(&warn_lock);
}

void mlops_warnings_live(void (*cb)(const char *message, void *payload), void *payload)
{
	pthread_mutex_lock(&warn_lock);
	live_cb = cb;
	live_payload = payload;
	for (size_t i = 0; cb && i < nwarnings; i++) {
		cb(warnings[i], payload);
		free(warnings[i]);
	}
	if (cb)
		nwarnings = 0;
	pthread_mutex_unlock(&warn_lock);
}
