/*
 * cmd.h - what every command file shares: the command table entry, global
 * options, and the helpers that print and turn errors into exit codes.
 *
 * Adding a command (the checklist):
 *   1. cmd/<name>.c with `int cmd_<name>(int argc, char **argv)` and its
 *      usage lines; subcommands dispatch through cmd_dispatch(); after the
 *      options, cmd_check_args() counts the operands (or cmd_usage_error()
 *      says what else is wrong), so every usage error names its cause.
 *   2. An entry in the table in cmd/main.c (name, handler, flags, summary).
 *   3. man/mlops-<name>.1.scd, listing every option the usage lists.
 *   4. The command, subcommands and options in completions/ (all three).
 *   5. tests/cli/tNNNN-<name>-*.sh, and a line in t0001's `-h` loop.
 *
 * Only cmd/ prints.  A command returns an exit status; errors from core/
 * and store/ become "mlops: what: why" through cmd_fail().
 */
#ifndef MLOPS_CMD_H
#define MLOPS_CMD_H

#include <stdio.h>
#include <getopt.h>

#include "store/error.h"

struct mlops_repo;

/* Flags of a command table entry. */
enum {
	CMD_NEED_REPO = 1 << 0, /* open the repository first (g_repo) */
	CMD_HIDDEN = 1 << 1,    /* not listed in help (e.g. __complete) */
	CMD_SUB_REPO = 1 << 3,  /* with CMD_NEED_REPO: the repository is opened by
				   cmd_dispatch() for subcommands without
				   SUB_NO_REPO, not by main() */
	CMD_LAZY_GIT = 1 << 2,  /* reaches libgit2 only through mlops_repo_git()
				   and mlops_repo_config(): main() does not start
				   it (status in a prompt, hooks, lookups) */
};

struct cmd_entry {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned flags;
	const char *summary;
};

/* One subcommand: name, handler, usage line (without "mlops CMD "). */
struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	unsigned flags;         /* SUB_NO_REPO */
};

/* Flags of a subcommand table entry. */
enum {
	SUB_NO_REPO = 1 << 0,   /* works outside a repository (opens it itself if needed) */
};

/*
 * Open the repository into g_repo if it is not open yet; on failure print
 * the error (with the 'mlops init' hint) and return the exit status, else 0.
 */
int cmd_need_repo(void);

/*
 * Open the repository into g_repo for a command about to run (main() and
 * cmd_dispatch()).  On failure return 1 with g_repo NULL and keep the error:
 * the command runs, and its first getopt_long() that finds no more options
 * prints the error and exits (cmd_repo_failed_exit), so that a bad option
 * is a usage error (2) even outside a repository.  Every command that
 * needs the repository therefore parses its options before touching g_repo.
 * With with_config, the configuration is read too, and a failure to parse
 * it is kept the same way (exit 4).
 */
int cmd_open_repo_or_defer(int with_config);

/* With a deferred failure to open the repository: print it and exit. */
void cmd_repo_failed_exit(void);

/* Global options, set by main() before any command runs. */
struct global_opts {
	int json;
	int quiet;
	int verbose;
	int color;
	int progress; /* stderr is a terminal and neither -q nor --json */
};
extern struct global_opts g_opts;

/* The repository, opened by main() for CMD_NEED_REPO commands; borrowed. */
extern struct mlops_repo *g_repo;

/* Set by main() for CMD_SUB_REPO commands: cmd_dispatch() opens g_repo. */
extern int g_defer_repo;

/* The command table (cmd/main.c). */
extern const struct cmd_entry cmd_table[];
extern const size_t cmd_table_len;

/*
 * Print "mlops: <message of the last error>" and return the exit status for
 * `code`.  With a non-NULL hint, a second line "hint: ..." follows.
 */
int cmd_fail(int code, const char *hint);

/* Print "mlops: fmt..." to stderr and return `exit_code`. */
int cmd_die(int exit_code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Print "usage: mlops <usage>" lines to stderr (to stdout with to_stdout)
 * and return 2 (0 with to_stdout: the answer to -h).
 */
int cmd_usage(const char *const *usage, int to_stdout);

/*
 * A usage error: print "mlops: CMD: fmt..." (CMD is g_cmd_name), then the
 * usage lines, and return 2.
 */
int cmd_usage_error(const char *const *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Check the count of operands left after the options, argv[optind..argc):
 * from min to max (max < 0: any number).  Return -1 when it is right, for
 * the command to go on.  Else print the usage error and return 2: one too
 * many is "unexpected argument 'X'", one too few "missing NAME", NAME being
 * the first operand missing from the usage's first line ("remote add NAME
 * URL [--default]" with one operand: "missing URL").
 */
int cmd_check_args(int argc, char **argv, int min, int max, const char *const *usage);

/* Start parsing a new argv with getopt_long (optind = 0). */
void cmd_getopt_reset(void);

/*
 * getopt_long for commands (every cmd/ file calls it through the macro
 * below).  The global options --json, --no-color, --quiet and --verbose,
 * and -q and -v (alone or in a cluster such as -qm MSG) where the command
 * has no such letter of its own, are also accepted among a command's own
 * options, and set g_opts; an option getopt refuses is reported as one line
 * "mlops: CMD: unrecognized option '--x'" (CMD is g_cmd_name) and '?' is
 * returned, for the command to print its usage.
 */
int cmd_getopt_long(int argc, char *const argv[], const char *optstring,
		    const struct option *longopts, int *longindex);
#define getopt_long cmd_getopt_long

/* The command being run, for messages: "status", "dataset show". */
extern char g_cmd_name[96];

/*
 * Dispatch argv[1] among `subs` (argv[0] is the parent command name).  With
 * no subcommand, run `dflt` if non-NULL, else "missing subcommand" and the
 * usage.  Unknown subcommands get "unknown subcommand" and the usage; -h
 * prints the usage.
 */
int cmd_dispatch(int argc, char **argv, const struct subcmd *subs,
		 size_t nsubs, int (*dflt)(int, char **));

/* Output helpers: print a cJSON value to stdout (pretty), then free it. */
struct cJSON;
int cmd_print_json(struct cJSON *value);

/* Human sizes: "1.20 GB", "41.0 MB", "512 B" (decimal units). */
const char *cmd_human_size(char buf[32], unsigned long long bytes);

/* Local time as "2026-11-27 12:05:09 +0000" from seconds since epoch. */
const char *cmd_human_time(char buf[64], long long epoch);

/*
 * Progress line on stderr, only when g_opts.progress; done=1 ends it with
 * ", done." and a newline.  Redrawn at most 10 times a second, and always
 * for a new line and the final state (cur == total, or done); safe to call
 * from several threads.  A command ends a line it leaves unfinished with
 * cmd_progress_end() before it prints anything else (cmd_fail and cmd_die
 * do it, and main() after the command).
 */
void cmd_progress(const char *what, unsigned long long cur,
		  unsigned long long total, int done);

/* Erase an unfinished progress line (nothing when there is none). */
void cmd_progress_end(void);

/*
 * For mlops_warnings_live: a warning while a remote is being talked to (a
 * request that timed out and is retried) printed at once, on a line of its
 * own, the progress line erased first: a stalled endpoint otherwise looks
 * like a hang.  Called under the warnings' lock.
 */
void cmd_live_warning(const char *message, void *payload);

/* Color helpers: return escape codes or "" when color is off. */
const char *cmd_color(const char *which);

/*
 * Write a name (a path, a value) for people, as git quotes paths: one with
 * a control character (C0, DEL, C1 in UTF-8), '"', '\\' or a byte that is
 * not UTF-8 between double quotes with C escapes ("a\\nb", such bytes in
 * octal), any other as it is (cmd/quote.c).
 */
void cmd_print_name(FILE *f, const char *s);

/* The text cmd_print_name writes for s, the caller's; NULL on no memory. */
char *cmd_quote_name(const char *s);

/*
 * The columns a terminal gives the UTF-8 text s: one per code point, two
 * for an East Asian wide character, none for a combining mark; a byte
 * that is not UTF-8 counts one.  Pass a name as cmd_quote_name writes it.
 */
size_t cmd_text_width(const char *s);

/* Write text, then spaces up to `width` columns (cmd_text_width). */
void cmd_print_cell(FILE *f, const char *text, size_t width);

#endif
