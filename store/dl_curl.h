/*
 * dl_curl.h - libcurl, the HTTP client of the S3 remote,
 * loaded on first use (see dynlib.h).
 *
 * Include this instead of <curl/curl.h> and call mlops_curl_load() before the
 * first library call of a code path; the library's function names below
 * then call through the table it fills.  Only the functions mlops uses
 * are listed: add a line to use another.
 */
#ifndef MLOPS_DL_CURL
#define MLOPS_DL_CURL

#include <curl/curl.h>

#define MLOPS_CURL_SYMBOLS(X) \
	X(curl_easy_cleanup, easy_cleanup) \
	X(curl_easy_getinfo, easy_getinfo) \
	X(curl_easy_init, easy_init) \
	X(curl_easy_perform, easy_perform) \
	X(curl_easy_reset, easy_reset) \
	X(curl_easy_setopt, easy_setopt) \
	X(curl_easy_strerror, easy_strerror) \
	X(curl_global_init, global_init) \
	X(curl_multi_add_handle, multi_add_handle) \
	X(curl_multi_cleanup, multi_cleanup) \
	X(curl_multi_info_read, multi_info_read) \
	X(curl_multi_init, multi_init) \
	X(curl_multi_perform, multi_perform) \
	X(curl_multi_poll, multi_poll) \
	X(curl_multi_remove_handle, multi_remove_handle) \
	X(curl_multi_setopt, multi_setopt) \
	X(curl_slist_append, slist_append) \
	X(curl_slist_free_all, slist_free_all) \

struct mlops_curl_api {
#define MLOPS_DYNLIB_MEMBER(sym, member) __typeof__(sym) *member;
	MLOPS_CURL_SYMBOLS(MLOPS_DYNLIB_MEMBER)
};
extern struct mlops_curl_api mlops_curl;

/*
 * Load libcurl once per process; 0, or MLOPS_ERROR with a message naming
 * the library and the package that provides it.  Thread-safe.
 */
int mlops_curl_load(void);

#ifndef MLOPS_DYNLIB_IMPL
/* #undef: a library header may define some of these as type-checking macros. */
#undef curl_easy_cleanup
#define curl_easy_cleanup mlops_curl.easy_cleanup
#undef curl_easy_getinfo
#define curl_easy_getinfo mlops_curl.easy_getinfo
#undef curl_easy_init
#define curl_easy_init mlops_curl.easy_init
#undef curl_easy_perform
#define curl_easy_perform mlops_curl.easy_perform
#undef curl_easy_reset
#define curl_easy_reset mlops_curl.easy_reset
#undef curl_easy_setopt
#define curl_easy_setopt mlops_curl.easy_setopt
#undef curl_easy_strerror
#define curl_easy_strerror mlops_curl.easy_strerror
#undef curl_global_init
#define curl_global_init mlops_curl.global_init
#undef curl_multi_add_handle
#define curl_multi_add_handle mlops_curl.multi_add_handle
#undef curl_multi_cleanup
#define curl_multi_cleanup mlops_curl.multi_cleanup
#undef curl_multi_info_read
#define curl_multi_info_read mlops_curl.multi_info_read
#undef curl_multi_init
#define curl_multi_init mlops_curl.multi_init
#undef curl_multi_perform
#define curl_multi_perform mlops_curl.multi_perform
#undef curl_multi_poll
#define curl_multi_poll mlops_curl.multi_poll
#undef curl_multi_remove_handle
#define curl_multi_remove_handle mlops_curl.multi_remove_handle
#undef curl_multi_setopt
#define curl_multi_setopt mlops_curl.multi_setopt
#undef curl_slist_append
#define curl_slist_append mlops_curl.slist_append
#undef curl_slist_free_all
#define curl_slist_free_all mlops_curl.slist_free_all
#endif

#endif
