/*
 * dynlib.c - load a shared library on first use and resolve its symbols
 * into a table of function pointers (see dynlib.h), and the tables of
 * the four libraries mlops loads that way.
 */
#include "dynlib.h"
#include "error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The four library headers, without the renaming macros. */
#define MLOPS_DYNLIB_IMPL
#include "dl_archive.h"
#include "dl_curl.h"
#include "dl_git2.h"
#include "dl_mhd.h"

static void load(struct mlops_dynlib *lib)
{
	void *h;
	size_t i;

	h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		snprintf(lib->message, sizeof(lib->message),
			 "unable to load '%s': %s (install the package %s)",
			 lib->soname, why ? why : "not found", lib->package);
		lib->status = MLOPS_ERROR;
		return;
	}
	for (i = 0; i < lib->n; i++) {
		lib->slots[i] = dlsym(h, lib->names[i]);
		if (!lib->slots[i]) {
			snprintf(lib->message, sizeof(lib->message),
				 "'%s' has no symbol '%s' (install the package %s)",
				 lib->soname, lib->names[i], lib->package);
			lib->status = MLOPS_ERROR;
			return;
		}
	}
	lib->status = 0;
}

int mlops_dynlib_load(struct mlops_dynlib *lib)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int status;

	/* Loads are rare (a client, a server, an archive): one lock for all. */
	pthread_mutex_lock(&mu);
	if (!lib->tried) {
		load(lib);
		lib->tried = 1;
	}
	status = lib->status;
	pthread_mutex_unlock(&mu);
	if (status < 0)
		return mlops_error_set(status, "%s", lib->message);
	return 0;
}

/*
 * The tables.  Each header lists its symbols once, as
 * X(library_symbol, member); the struct of pointers, the names and the
 * loader are generated from that list.
 */
#define MLOPS_DYNLIB_DEFINE(api, list, soname_, package_)                 \
	struct mlops_##api##_api mlops_##api;                             \
	static const char *const api##_names[] = {                         \
		list(MLOPS_DYNLIB_NAME)                                   \
	};                                                                 \
	/* The table is filled as an array of pointers: no padding. */    \
	_Static_assert(sizeof(struct mlops_##api##_api) ==                 \
		       sizeof(api##_names) / sizeof(api##_names[0]) *      \
		       sizeof(void *), #api " table layout");              \
	static struct mlops_dynlib api##_lib = {                           \
		.soname = soname_, .package = package_,                    \
		.names = api##_names, .slots = (void **)&mlops_##api,      \
		.n = sizeof(api##_names) / sizeof(api##_names[0]),         \
	};                                                                 \
	int mlops_##api##_load(void)                                       \
	{                                                                  \
		return mlops_dynlib_load(&api##_lib);                      \
	}
#define MLOPS_DYNLIB_NAME(sym, member) #sym,

MLOPS_DYNLIB_DEFINE(archive, MLOPS_ARCHIVE_SYMBOLS, "libarchive.so.13", "libarchive13")
MLOPS_DYNLIB_DEFINE(curl, MLOPS_CURL_SYMBOLS, "libcurl.so.4", "libcurl4")
MLOPS_DYNLIB_DEFINE(mhd, MLOPS_MHD_SYMBOLS, "libmicrohttpd.so.12", "libmicrohttpd12")
/* libgit2's soname changes with each minor release: the one built against. */
MLOPS_DYNLIB_DEFINE(git2, MLOPS_GIT2_SYMBOLS, MLOPS_GIT2_SONAME, MLOPS_GIT2_PACKAGE)

atomic_int mlops_git2_ready;

const struct mlops_git2_api *mlops_git2_need(void)
{
	if (mlops_git2_load() < 0) {
		fprintf(stderr, "mlops: %s\n", mlops_error_message());
		exit(1);
	}
	atomic_store_explicit(&mlops_git2_ready, 1, memory_order_release);
	return &mlops_git2;
}
