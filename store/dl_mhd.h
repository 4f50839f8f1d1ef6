/*
 * dl_mhd.h - libmicrohttpd, the HTTP server of deploy serve,
 * loaded on first use (see dynlib.h).
 *
 * Include this instead of <microhttpd.h> and call mlops_mhd_load() before the
 * first library call of a code path; the library's function names below
 * then call through the table it fills.  Only the functions mlops uses
 * are listed: add a line to use another.
 */
#ifndef MLOPS_DL_MHD
#define MLOPS_DL_MHD

#include <microhttpd.h>

#define MLOPS_MHD_SYMBOLS(X) \
	X(MHD_add_response_header, add_response_header) \
	X(MHD_create_response_from_buffer, create_response_from_buffer) \
	X(MHD_destroy_response, destroy_response) \
	X(MHD_get_daemon_info, get_daemon_info) \
	X(MHD_lookup_connection_value, lookup_connection_value) \
	X(MHD_queue_response, queue_response) \
	X(MHD_quiesce_daemon, quiesce_daemon) \
	X(MHD_start_daemon, start_daemon) \
	X(MHD_stop_daemon, stop_daemon) \

struct mlops_mhd_api {
#define MLOPS_DYNLIB_MEMBER(sym, member) __typeof__(sym) *member;
	MLOPS_MHD_SYMBOLS(MLOPS_DYNLIB_MEMBER)
};
extern struct mlops_mhd_api mlops_mhd;

/*
 * Load libmicrohttpd once per process; 0, or MLOPS_ERROR with a message naming
 * the library and the package that provides it.  Thread-safe.
 */
int mlops_mhd_load(void);

#ifndef MLOPS_DYNLIB_IMPL
/* #undef: a library header may define some of these as type-checking macros. */
#undef MHD_add_response_header
#define MHD_add_response_header mlops_mhd.add_response_header
#undef MHD_create_response_from_buffer
#define MHD_create_response_from_buffer mlops_mhd.create_response_from_buffer
#undef MHD_destroy_response
#define MHD_destroy_response mlops_mhd.destroy_response
#undef MHD_get_daemon_info
#define MHD_get_daemon_info mlops_mhd.get_daemon_info
#undef MHD_lookup_connection_value
#define MHD_lookup_connection_value mlops_mhd.lookup_connection_value
#undef MHD_queue_response
#define MHD_queue_response mlops_mhd.queue_response
#undef MHD_quiesce_daemon
#define MHD_quiesce_daemon mlops_mhd.quiesce_daemon
#undef MHD_start_daemon
#define MHD_start_daemon mlops_mhd.start_daemon
#undef MHD_stop_daemon
#define MHD_stop_daemon mlops_mhd.stop_daemon
#endif

#endif
