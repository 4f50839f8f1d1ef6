/*
 * dynlib.h - libraries loaded on first use.
 *
 * libcurl (S3 remotes), libmicrohttpd (deploy serve), libarchive
 * (bundles, archive deployments) and libgit2 bring some 30 shared
 * libraries with them; mapping and relocating those at every start would
 * cost each command about 3.5 ms, more than `mlops --version` or `mlops
 * status` need in all (status: 3.5 ms with libgit2 linked, 1.7 ms
 * without).  So the binary does not link them: the modules that use one
 * include its header below (store/dl_curl.h, store/dl_mhd.h,
 * store/dl_archive.h, store/dl_git2.h), which routes the library's
 * function names through a table filled by dlopen() on first use, and
 * call its loader before the first call (libgit2's names load it
 * themselves).  The call sites read as ordinary library calls.
 *
 * This file holds the generic part: resolve a list of symbols from one
 * shared object, once per process.
 */
#ifndef MLOPS_DYNLIB_H
#define MLOPS_DYNLIB_H

#include <stddef.h>

struct mlops_dynlib {
	const char *soname;          /* e.g. "libcurl.so.4" */
	const char *package;         /* the Debian package that ships it */
	const char *const *names;    /* n symbol names */
	void **slots;                /* n function pointers to fill */
	size_t n;
	int tried;                   /* loading was attempted (under a lock) */
	int status;                  /* then: 0 or an MLOPS_E* code */
	char message[256];           /* why loading failed */
};

/*
 * Load lib->soname and fill lib->slots once per process (thread-safe).
 * 0 on success; otherwise MLOPS_ERROR with a message naming the library
 * and the package to install, the same on every later call.  The library
 * stays loaded until the process exits.
 */
int mlops_dynlib_load(struct mlops_dynlib *lib);

#endif
