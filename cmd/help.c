/*
 * help.c - `mlops help [COMMAND]`: the manual page of a command.
 *
 * Runs man(1) with execvp.  Pages are looked up in $MLOPS_MANDIR, then next
 * to the binary (build/man in a build tree), then in the manual path.
 */
#include "cmd.h"
#include "builtins.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Wait for man showing a page: the pager has the terminal, its Ctrl-C is not ours. */
static int page_status(pid_t pid)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	int wst = 0;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	return wst;
}

int cmd_help(int argc, char **argv)
{
	static const char *const usage[] = { "help [COMMAND]", NULL };
	if (argc > 2)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[2]);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cmd_usage(usage, 1);
	char page[160];
	if (argc == 1) {
		snprintf(page, sizeof(page), "mlops");
	} else {
		if (!cmd_lookup(argv[1]))
			return cmd_die(MLOPS_EXIT_USAGE, "'%s' is not a command; see 'mlops --help'", argv[1]);
		snprintf(page, sizeof(page), "mlops-%s", argv[1]);
	}
	fflush(stdout);
	char path[PATH_MAX];
	struct stat st;
	const char *dir = getenv("MLOPS_MANDIR");
	if (dir && snprintf(path, sizeof(path), "%s/%s.1", dir, page) < (int)sizeof(path) &&
	    stat(path, &st) == 0) {
		execlp("man", "man", "-l", path, (char *)NULL);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(path, sizeof(path), "%s/build/man/%s.1", exe, page) < (int)sizeof(path) &&
			    stat(path, &st) == 0)
				execlp("man", "man", "-l", path, (char *)NULL);
		}
	}
	/*
	 * From the manual path: man's own status when it has no such page is
	 * 16.  'man -w' asks first, silenced, so that its "No manual entry"
	 * does not come before our message.
	 */
	pid_t pid = fork();
	if (pid < 0)
		return cmd_die(MLOPS_EXIT_IO, "unable to run man: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("man", "man", "-w", page, (char *)NULL);
		_exit(127);
	}
	int wst = 0;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(wst) || (WEXITSTATUS(wst) != 16 && WEXITSTATUS(wst) != 127)) {
		if ((pid = fork()) < 0)
			return cmd_die(MLOPS_EXIT_IO, "unable to run man: %s", strerror(errno));
		if (pid == 0) {
			execlp("man", "man", page, (char *)NULL);
			_exit(127);
		}
		wst = page_status(pid);
	}
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0)
		return 0;
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 127)
		return cmd_die(MLOPS_EXIT_NOTFOUND, "unable to run man(1) for '%s'; the page's source is "
				"man/%s.1.scd", page, page);
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 16) {
		fprintf(stderr, "mlops: no manual page '%s' is installed\n", page);
		fprintf(stderr, "hint: 'make install' installs the pages; MLOPS_MANDIR names a folder "
				"of built ones; 'mlops %s -h' prints the usage\n",
			argc == 2 ? argv[1] : "COMMAND");
		return MLOPS_EXIT_NOTFOUND;
	}
	return WIFEXITED(wst) ? MLOPS_EXIT_FAILURE : 128 + WTERMSIG(wst);
}
