/*
 * child.h - running a user's command as a child process (train_child.c):
 * training runs, and the commands monitor check runs on drift.
 */
#ifndef MLOPS_CHILD_H
#define MLOPS_CHILD_H

struct mlops_child_result {
	int exit_status;   /* the exit code, or 128 + signal number */
	int signal;        /* the signal that ended the child, or 0 */
	int interrupted;   /* SIGINT, SIGTERM or SIGHUP arrived while it ran */
	int started;       /* 0: not started, a signal had arrived (see _since) */
	long peak_rss_kb;  /* the child's peak resident set size */
};

/*
 * Run argv with execvp semantics (posix_spawnp) in the environment envp,
 * with stdin inherited and stdout and stderr captured: every byte goes to
 * log_fd and, when not -1, to out_fd (stdout) or err_fd (stderr), as it
 * arrives.  Unless mlops is the foreground job of its terminal the child
 * leads its own process group.  While it runs SIGINT, SIGTERM and SIGHUP
 * are caught and passed on to every running child's whole group, or, for
 * a child in mlops's group, to the child and its descendants in that group
 * (except a terminal's own signals, which reach those directly), and
 * SIGPIPE is ignored; what is left of an interrupted child's group, or of
 * the descendants a passed-on signal reached, is killed once the child has
 * ended.  Thread safe: several
 * children may run at once.  MLOPS_ENOTFOUND when argv[0] cannot be
 * executed; the child's own failure is in *out, not an error.
 */
int mlops_child_run(struct mlops_child_result *out, const char *const *argv,
		    char *const *envp, int out_fd, int err_fd, int log_fd);

/*
 * Like mlops_child_run, but a signal counted since `since` (a value of
 * mlops_child_interrupts() taken while the handlers were installed) stops
 * it before the child is spawned: then *out has started 0, interrupted 1
 * and exit_status 128 + the last signal's number, and nothing ran.  The
 * check and the spawn happen with the signals blocked, so a signal
 * arrives either before (nothing runs) or after (it reaches the child).
 * Runs after since are counted as interruptions of this child.
 */
int mlops_child_run_since(struct mlops_child_result *out, const char *const *argv,
			  char *const *envp, int out_fd, int err_fd, int log_fd, int since);

/* How many interrupting signals this process has received so far. */
int mlops_child_interrupts(void);

/* The number of the last interrupting signal received, or 0. */
int mlops_child_last_signal(void);

/*
 * Catch SIGINT, SIGTERM and SIGHUP (counted, passed on to running
 * children) and ignore SIGPIPE from now until the matching _leave, as
 * while a child runs: a caller preparing a child (materialising its
 * inputs) or recording it calls these around the whole, so that a signal
 * then is counted instead of ending the process.  Nested calls are
 * counted; thread safe.
 */
void mlops_child_signals_enter(void);
void mlops_child_signals_leave(void);

#endif
