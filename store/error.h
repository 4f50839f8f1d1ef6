/*
 * error.h - status codes and the last-error message.
 *
 * Every function in store/ and core/ that can fail returns an int: 0 on
 * success, one of the negative MLOPS_E* codes on failure.  Before returning
 * a failure it records a message with mlops_error_set(); the caller (in the
 * end cmd/) reads it with mlops_error_message() and turns the code into an
 * exit status with mlops_error_exit_code().  The message is per thread.
 *
 * Messages follow git: lower case, no final period, the subject in quotes,
 * what failed first: "unable to open 'x.csv': No such file or directory".
 */
#ifndef MLOPS_ERROR_H
#define MLOPS_ERROR_H

enum {
	MLOPS_OK = 0,
	MLOPS_ERROR = -1,      /* generic failure */
	MLOPS_EUSAGE = -2,     /* bad arguments, bad names */
	MLOPS_ENOTFOUND = -3,  /* revision, name, file or object not found */
	MLOPS_EEXISTS = -4,    /* already exists */
	MLOPS_EAMBIGUOUS = -5, /* prefix matches several objects */
	MLOPS_EINVALID = -6,   /* malformed input: CSV, JSON, spec, archive */
	MLOPS_ELOCKED = -7,    /* lock held by another process */
	MLOPS_EIO = -8,        /* system call failed */
	MLOPS_ECORRUPT = -9,   /* stored bytes do not match their id */
	MLOPS_ENOREPO = -10,   /* not inside an mlops repository */
	MLOPS_ECONFLICT = -11, /* concurrent update, merge conflict, refusal */
	MLOPS_EREMOTE = -12,   /* remote or network failure */
	MLOPS_ECHECK = -13,    /* a check found something (drift, faults) */
	MLOPS_EFORMAT = -14,   /* the store's format is newer than this build's */
};

/* Exit statuses (documented in mlops(1)). */
enum {
	MLOPS_EXIT_OK = 0,
	MLOPS_EXIT_CHECK = 1,
	MLOPS_EXIT_USAGE = 2,
	MLOPS_EXIT_NOTFOUND = 3,
	MLOPS_EXIT_INVALID = 4,
	MLOPS_EXIT_LOCKED = 5,
	MLOPS_EXIT_IO = 6,
	MLOPS_EXIT_CORRUPT = 7,
	MLOPS_EXIT_NOREPO = 8,
	MLOPS_EXIT_CONFLICT = 9,
	MLOPS_EXIT_REMOTE = 10,
	MLOPS_EXIT_FAILURE = 125,
};

/*
 * Record a message for the calling thread and return `code`, so that
 * `return mlops_error_set(MLOPS_ENOTFOUND, "...")` reads naturally.
 */
int mlops_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like mlops_error_set, appending ": strerror(errno_value)". */
int mlops_error_sys(int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Prefix the current message with "what: ", keeping the code; returns the
 * code passed in.  Used to add context on the way up.
 */
int mlops_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The message of the last failure on this thread ("" if none); borrowed. */
const char *mlops_error_message(void);

/* The code of the last failure on this thread (0 if none). */
int mlops_error_code(void);

/* Forget the last failure. */
void mlops_error_clear(void);

/*
 * Warnings: things the user should know that are not failures (a stale
 * lock recovered, ...).  store/ and core/ add them; cmd/ prints them on
 * stderr as "mlops: warning: ..." when the command ends.  Process-wide.
 */
void mlops_warning_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Call cb for each warning added so far, then forget them. */
void mlops_warnings_flush(void (*cb)(const char *message, void *payload), void *payload);

/*
 * From now on hand each warning to cb as it is added (those kept so far
 * first), instead of keeping it for mlops_warnings_flush: for commands
 * whose warnings matter while they run (a remote that stalls).  cb is
 * called under the warnings' lock, so calls from worker threads never
 * overlap; it must not add a warning.  NULL goes back to keeping them.
 */
void mlops_warnings_live(void (*cb)(const char *message, void *payload), void *payload);

/* Map a status code to the documented exit status. */
int mlops_error_exit_code(int code);

#endif
