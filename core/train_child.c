/*
 * train_child.c - run a training command as a child process: spawn it with
 * posix_spawnp (execvp semantics, no shell), relay and capture its stdout
 * and stderr as they arrive, pass interrupting signals on, and report its
 * exit status and peak memory.
 *
 * Design notes:
 *   - Signals.  When mlops is the foreground job of its terminal, the
 *     child stays in mlops's process group, so that it can read the
 *     terminal and a Ctrl-C reaches it, and whatever it started, directly;
 *     the handler tells those apart by si_code == SI_KERNEL and passes on
 *     only signals sent to mlops alone.  Otherwise (no terminal: a CI
 *     runner, docker stop, a service; or a background job) the child leads
 *     its own process group and every signal goes to the whole group, so
 *     that a SIGTERM to mlops alone also stops what the command started;
 *     once the child is gone after a signal, or at a second signal, what
 *     is left of the group is killed (after a grace in the first case).
 *     Either way the run counts as interrupted.
 *   - A signal sent to mlops alone while the child is in mlops's group.
 *     That group is not the command's alone (the shell script that ran
 *     mlops, the other side of a pipe), so the signal cannot go to the
 *     group; it goes to the command's process tree instead: the child and
 *     its descendants in the same group, found by their parent in /proc
 *     before anything is signalled (a shell that dies first leaves its
 *     children to init, out of reach).  The handler only counts such a
 *     signal; the relay loop (awake at least every 100 ms, unless a write
 *     of the command's output blocks) walks the tree and signals it, keeps
 *     adding what the tree starts while the child runs, and once the child
 *     is gone kills what is left of it after the same grace, or at once at
 *     a second such signal.  Pids are checked against their start time, so
 *     a reused pid is never hit.  What the tree misses: a process that left
 *     the group, or whose parent ended before the signal (a daemon, a child
 *     of init); without /proc the signal reaches the child alone.
 *     The terminal stays with mlops's group.  Giving the command a group of
 *     its own and the terminal (tcsetpgrp, as a shell's job control does)
 *     would let Ctrl-C reach the command only: mlops could not tell a run
 *     that caught it and exited 0 from one that succeeded (and would cache
 *     it), and would have to redo job control for Ctrl-Z, fg and bg.
 *   - The handlers are installed while at least one child runs, or a
 *     caller prepares or records one (mlops_child_signals_enter; a count
 *     under a mutex), and the previous ones restored after; the child
 *     starts with default dispositions and an empty mask.
 *   - The table of running children is read by the handler without a lock:
 *     slots are sig_atomic_t pids, written only under the mutex.
 *   - Relay: one poll() loop over the two pipes.  When the child has been
 *     reaped, reading goes on until both pipes close or stay silent for a
 *     moment (a background grandchild may hold them open).
 */
#include "child.h"
#include "train_internal.h"
#include "store/error.h"
#include "store/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

/* A child's pid, or minus it when the child leads its own process group. */
static volatile sig_atomic_t children[MAX_CHILDREN];
static volatile sig_atomic_t interrupts;
static volatile sig_atomic_t last_signal;
/* Signals sent to mlops alone (not by its terminal), and the last of them. */
static volatile sig_atomic_t forwarded;
static volatile sig_atomic_t last_forwarded;
static pthread_mutex_t child_mutex = PTHREAD_MUTEX_INITIALIZER;
static int running;
static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
#define NCAUGHT (sizeof(caught) / sizeof(caught[0]))
static struct sigaction saved[NCAUGHT], saved_pipe;
/* Signals ignored when mlops started (nohup, a shell's background job): left ignored, for the child too. */
static int ignored[NCAUGHT];

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	int saved_errno = errno;
	last_signal = sig;
	interrupts++;
	int from_terminal = info && info->si_code == SI_KERNEL;
	if (!from_terminal) {
		last_forwarded = sig;
		forwarded++; /* a child in mlops's group: its relay loop passes it on */
	}
	for (int i = 0; i < MAX_CHILDREN; i++) {
		pid_t p = (pid_t)children[i];
		if (p < 0)
			kill(p, sig); /* the whole group, at every signal */
	}
	errno = saved_errno;
}

int mlops_child_interrupts(void)
{
	return (int)interrupts;
}

int mlops_child_last_signal(void)
{
	return (int)last_signal;
}

/* Install the handlers for the first running child. */
static void handlers_enter(void)
{
	pthread_mutex_lock(&child_mutex);
	if (running++ == 0) {
		/*
		 * Let the temporary-file registry install its handlers first, so
		 * that it cannot replace ours while the child runs.
		 */
		mlops_tempfile_register("");
		mlops_tempfile_forget("");
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_signal;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < NCAUGHT; i++) {
			sigaction(caught[i], NULL, &saved[i]);
			ignored[i] = saved[i].sa_handler == SIG_IGN;
			if (!ignored[i])
				sigaction(caught[i], &sa, NULL);
		}
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGPIPE, &ign, &saved_pipe);
	}
	pthread_mutex_unlock(&child_mutex);
}

static void handlers_leave(void)
{
	pthread_mutex_lock(&child_mutex);
	if (--running == 0) {
		for (size_t i = 0; i < NCAUGHT; i++)
			sigaction(caught[i], &saved[i], NULL);
		sigaction(SIGPIPE, &saved_pipe, NULL);
	}
	pthread_mutex_unlock(&child_mutex);
}

void mlops_child_signals_enter(void)
{
	handlers_enter();
}

void mlops_child_signals_leave(void)
{
	handlers_leave();
}

static int slot_take(pid_t pid)
{
	int slot = -1;
	pthread_mutex_lock(&child_mutex);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == 0) {
			children[i] = (sig_atomic_t)pid;
			slot = i;
			break;
		}
	pthread_mutex_unlock(&child_mutex);
	return slot;
}

/*
 * Whether mlops runs in the foreground of a controlling terminal, where the
 * terminal's signals reach its whole process group and only the
 * foreground group may read the terminal.
 */
static int terminal_foreground(void)
{
	int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	pid_t fg = tcgetpgrp(fd);
	close(fd);
	return fg > 0 && fg == getpgrp();
}

/* Whether group pgid has a member left (a zombie no one reaped counts). */
static int group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0;
}

/*
 * Kill what is left of the child's process group: SIGKILL at once, or after
 * a grace of up to grace_ms for the group to end by itself (the signal
 * that interrupted it has reached every member); a second signal since
 * `since` ends the grace.
 */
static void group_kill(pid_t pgid, int grace_ms, int since)
{
	for (int waited = 0; waited < grace_ms && group_alive(pgid) &&
	     mlops_child_interrupts() - since < 2; waited += 20) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (group_alive(pgid))
		kill(-pgid, SIGKILL);
}

/*
 * The process tree of a child in mlops's group (see the design notes): the
 * processes found below it, each with its start time so that a pid the
 * system has since given to another process is told apart.
 */
struct proc_id {
	pid_t pid;
	unsigned long long start;
};

struct proc_tree {
	struct proc_id *v;
	size_t n, cap;
	struct timespec grown; /* when /proc was last read (if looked): at most every 250 ms */
	int looked;
};

struct proc_stat {
	pid_t pid, ppid, pgrp;
	char state;
	unsigned long long start;
};

/* Read /proc/<pid>/stat; 0 when read, -1 when the process is gone (or no /proc). */
static int proc_stat_read(struct proc_stat *st, pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/*
	 * "pid (comm) state ppid pgrp ... starttime(22nd) ...", where comm may
	 * hold anything: the fields after the last ')', by number.
	 */
	char *p = strrchr(buf, ')');
	long long f[20];
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	st->state = p[2];
	p += 3;
	for (int i = 1; i < 20; i++) {
		char *end;
		errno = 0;
		f[i] = strtoll(p, &end, 10);
		if (end == p || errno)
			return -1;
		p = end;
	}
	int ppid = (int)f[1], pgrp = (int)f[2];
	st->start = (unsigned long long)f[19];
	st->pid = pid;
	st->ppid = (pid_t)ppid;
	st->pgrp = (pid_t)pgrp;
	return 0;
}

/* Whether p still runs as the process the tree took (a zombie has ended). */
static int proc_running(const struct proc_id *p)
{
	struct proc_stat st;
	return proc_stat_read(&st, p->pid) == 0 && st.start == p->start && st.state != 'Z';
}

static int tree_has(const struct proc_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].pid == pid)
			return 1;
	return 0;
}

/*
 * Add to the tree the processes of group pgrp whose parent is root or a
 * member, until nothing more is found; nothing when the last look was less
 * than 250 ms ago, unless `force`.  Best effort: without /proc or memory the
 * tree stays as it is.
 */
static void tree_grow(struct proc_tree *t, pid_t root, pid_t pgrp, int force)
{
	struct proc_stat *all = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && t->looked && (now.tv_sec - t->grown.tv_sec) * 1000 +
	    (now.tv_nsec - t->grown.tv_nsec) / 1000000 < 250)
		return;
	t->grown = now;
	t->looked = 1;
	DIR *d = opendir("/proc");
	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 256;
			struct proc_stat *na = realloc(all, nc * sizeof(*na));
			if (!na)
				break;
			all = na;
			cap = nc;
		}
		if (proc_stat_read(&all[n], (pid_t)pid) == 0 && all[n].pgrp == pgrp &&
		    all[n].state != 'Z')
			n++;
	}
	closedir(d);
	for (int added = 1; added;) {
		added = 0;
		for (size_t i = 0; i < n; i++) {
			if (all[i].pid == root || tree_has(t, all[i].pid) ||
			    (all[i].ppid != root && !tree_has(t, all[i].ppid)))
				continue;
			if (t->n == t->cap) {
				size_t nc = t->cap ? 2 * t->cap : 16;
				struct proc_id *nv = realloc(t->v, nc * sizeof(*nv));
				if (!nv)
					goto done;
				t->v = nv;
				t->cap = nc;
			}
			t->v[t->n++] = (struct proc_id){ all[i].pid, all[i].start };
			added = 1;
		}
	}
done:
	free(all);
}

/* Send sig to every member of the tree that still runs. */
static void tree_signal(const struct proc_tree *t, int sig)
{
	for (size_t i = 0; i < t->n; i++)
		if (proc_running(&t->v[i]))
			kill(t->v[i].pid, sig);
}

static int tree_running(const struct proc_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (proc_running(&t->v[i]))
			return 1;
	return 0;
}

/*
 * Pass on to the child pid (not reaped yet unless `reaped`) and its tree
 * the signals sent to mlops alone since *seen; `start` is the count when
 * the child started.  From the second such signal on, SIGKILL.  After the
 * first, the tree keeps growing with what the child starts.
 */
static void tree_forward(struct proc_tree *t, pid_t pid, int reaped, int *seen, int start)
{
	int f = (int)forwarded;
	if (f == start)
		return;
	tree_grow(t, pid, getpgrp(), f != *seen);
	if (f == *seen)
		return;
	*seen = f;
	int sig = f - start >= 2 ? SIGKILL : (int)last_forwarded;
	if (!reaped)
		kill(pid, sig);
	tree_signal(t, sig);
}

/*
 * The child has ended after a signal sent to mlops alone: kill what is
 * left of its tree, after a grace of up to 2 s for it to end by itself
 * (none from the second such signal on, which may arrive meanwhile).
 */
static void tree_finish(struct proc_tree *t, pid_t pid, int start)
{
	for (int waited = 0; waited < 2000 && (int)forwarded - start < 2; waited += 20) {
		tree_grow(t, pid, getpgrp(), 0);
		if (!tree_running(t))
			return;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	tree_grow(t, pid, getpgrp(), 1);
	tree_signal(t, SIGKILL);
}

static void slot_free(int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&child_mutex);
	children[slot] = 0;
	pthread_mutex_unlock(&child_mutex);
}

/* Write to a relay target; a target that fails is dropped (-1). */
static void relay(int *fd, const char *buf, size_t len)
{
	if (*fd >= 0 && mlops_write_all(*fd, buf, len) < 0)
		*fd = -1;
}

/*
 * Whether execvp would find an executable for name (PATH searched when it
 * has no slash): checked before spawning, so that "no such command" is an
 * error on every system rather than a child exiting with 127.
 */
static int program_exists(const char *name, const char *path_env)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	const char *path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
	size_t nl = strlen(name);
	for (;;) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		char full[4096];
		if (dl + nl + 2 <= sizeof(full)) {
			if (dl == 0)
				snprintf(full, sizeof(full), "./%s", name);
			else
				snprintf(full, sizeof(full), "%.*s/%s", (int)dl, path, name);
			struct stat st;
			if (access(full, X_OK) == 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode))
				return 1;
		}
		if (!colon)
			break;
		path = colon + 1;
	}
	return 0;
}

int mlops_child_run(struct mlops_child_result *out, const char *const *argv,
		    char *const *envp, int out_fd, int err_fd, int log_fd)
{
	return mlops_child_run_since(out, argv, envp, out_fd, err_fd, log_fd, -1);
}

int mlops_child_run_since(struct mlops_child_result *out, const char *const *argv,
			  char *const *envp, int out_fd, int err_fd, int log_fd, int since)
{
	int pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int err = 0, fa_init = 0, attr_init = 0, slot = -1, entered = 0;
	int fwd_start = 0, fwd_seen = 0;
	struct proc_tree tree = { 0 };
	pid_t pid = -1;
	char buf[65536];

	memset(out, 0, sizeof(*out));
	const char *path_env = NULL;
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			path_env = envp[i] + 5;
	if (!program_exists(argv[0], path_env))
		return mlops_error_set(MLOPS_ENOTFOUND, "unable to run '%s': %s", argv[0],
				       strchr(argv[0], '/') ? strerror(errno) : "command not found");
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		err = mlops_error_sys(errno, "unable to create a pipe");
		goto done;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	fa_init = 1;
	if (posix_spawnattr_init(&attr) != 0) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	attr_init = 1;
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, perr[1], STDERR_FILENO);
	sigset_t none, dflt;
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGQUIT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	int own_group = !terminal_foreground();
	if (own_group)
		posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 (own_group ? POSIX_SPAWN_SETPGROUP : 0));

	handlers_enter();
	entered = 1;
	/* The child gets the default of what mlops catches, and keeps what was ignored. */
	for (size_t i = 0; i < NCAUGHT; i++)
		if (!ignored[i])
			sigaddset(&dflt, caught[i]);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	int interrupts_before = since >= 0 ? since : mlops_child_interrupts();
	/* Block the handled signals while the slot is not yet filled. */
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < NCAUGHT; i++)
		sigaddset(&block, caught[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (mlops_child_interrupts() != interrupts_before) {
		/* Interrupted while the child was being prepared: do not start it. */
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		out->interrupted = 1;
		out->exit_status = 128 + (mlops_child_last_signal() ? mlops_child_last_signal() : SIGINT);
		goto done;
	}
	int rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	if (rc == 0)
		slot = slot_take(own_group ? -pid : pid);
	fwd_start = fwd_seen = (int)forwarded;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pid = -1;
		err = mlops_error_set(rc == ENOENT || rc == EACCES || rc == ENOEXEC ? MLOPS_ENOTFOUND :
				      MLOPS_EIO, "unable to run '%s': %s", argv[0], strerror(rc));
		goto done;
	}
	out->started = 1;
	close(pout[1]);
	close(perr[1]);
	pout[1] = perr[1] = -1;

	struct pollfd pfd[2] = { { pout[0], POLLIN, 0 }, { perr[0], POLLIN, 0 } };
	int open_fds = 2, reaped = 0, status = 0, group_killed = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	while (open_fds > 0) {
		int n = poll(pfd, 2, reaped ? 200 : 100);
		if (n < 0 && errno != EINTR) {
			err = mlops_error_sys(errno, "unable to read the command's output");
			break;
		}
		if (n == 0 && reaped)
			break; /* a background process holds the pipes; stop here */
		for (int i = 0; n > 0 && i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(pfd[i].fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			relay(i == 0 ? &out_fd : &err_fd, buf, (size_t)r);
			if (log_fd >= 0 && mlops_write_all(log_fd, buf, (size_t)r) < 0 && !err)
				err = mlops_error_sys(errno, "unable to write the run's log");
		}
		if (!reaped) {
			pid_t w = wait4(pid, &status, WNOHANG, &ru);
			if (w == pid)
				reaped = 1;
		}
		if (own_group && !group_killed && mlops_child_interrupts() - interrupts_before >= 2) {
			/* A second signal: the user insists, nothing of the command stays. */
			kill(-pid, SIGKILL);
			group_killed = 1;
		}
		if (!own_group)
			tree_forward(&tree, pid, reaped, &fwd_seen, fwd_start);
	}
	while (!reaped) {
		if (own_group && !group_killed && mlops_child_interrupts() - interrupts_before >= 2) {
			kill(-pid, SIGKILL);
			group_killed = 1;
		}
		if (!own_group)
			tree_forward(&tree, pid, 0, &fwd_seen, fwd_start);
		/* In mlops's group a signal is passed on from here: wait in steps. */
		pid_t w = wait4(pid, &status, own_group ? 0 : WNOHANG, &ru);
		if (w == pid) {
			reaped = 1;
		} else if (w == 0) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		} else if (w < 0 && errno != EINTR) {
			err = mlops_error_sys(errno, "unable to wait for '%s'", argv[0]);
			break;
		}
	}
	if (reaped) {
		if (WIFEXITED(status)) {
			out->exit_status = WEXITSTATUS(status);
		} else if (WIFSIGNALED(status)) {
			out->signal = WTERMSIG(status);
			out->exit_status = 128 + out->signal;
		}
		out->peak_rss_kb = ru.ru_maxrss;
	}
	out->interrupted = mlops_child_interrupts() != interrupts_before;
	/*
	 * An interrupted command leaves nothing running: what ignored or
	 * outlived the signal is killed after a grace.
	 */
	if (own_group && out->interrupted)
		group_kill(pid, group_killed ? 0 : 2000, interrupts_before);
	if (!own_group && reaped && (int)forwarded != fwd_start) {
		tree_forward(&tree, pid, 1, &fwd_seen, fwd_start); /* one that came as it ended */
		tree_finish(&tree, pid, fwd_start);
	}
done:
	free(tree.v);
	slot_free(slot);
	if (entered)
		handlers_leave();
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	for (int i = 0; i < 2; i++) {
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return err;
}
