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
	long peak_rss_kb;  /* the child's peak resident set size */
};

/*
 * Run argv with execvp semantics (posix_spawnp) in the environment envp,
 * with stdin inherited and stdout and stderr captured: every byte goes to
 * log_fd and, when not -1, to out_fd (stdout) or err_fd (stderr), as it
 * arrives.  While it runs SIGINT, SIGTERM and SIGHUP are caught and passed
 * on to every running child (except a terminal's own signals, which reach
 * the child directly), and SIGPIPE is ignored.  Thread safe: several
 * children may run at once.  MLOPS_ENOTFOUND when argv[0] cannot be
 * executed; the child's own failure is in *out, not an error.
 */
int mlops_child_run(struct mlops_child_result *out, const char *const *argv,
		    char *const *envp, int out_fd, int err_fd, int log_fd);

/* How many interrupting signals this process has received so far. */
int mlops_child_interrupts(void);

#endif
