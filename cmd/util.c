/*
 * util.c - helpers every command uses: error and usage printing, subcommand
 * dispatch, JSON output, human sizes and times, progress on stderr.
 */
#include "cmd.h"
#include "store/json.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_fail(int code, const char *hint)
{
	const char *msg = mlops_error_message();
	cmd_progress_end();
	fprintf(stderr, "mlops: %s\n", *msg ? msg : "unknown error");
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	return mlops_error_exit_code(code);
}

int cmd_die(int exit_code, const char *fmt, ...)
{
	va_list ap;
	cmd_progress_end();
	fputs("mlops: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return exit_code;
}

int cmd_usage(const char *const *usage, int to_stdout)
{
	FILE *f = to_stdout ? stdout : stderr;
	for (size_t i = 0; usage[i]; i++) {
		if (usage[i][0] == ' ' || usage[i][0] == '\0')
			fprintf(f, "%s\n", usage[i]);
		else
			fprintf(f, "%s mlops %s\n", i ? "   or:" : "usage:", usage[i]);
	}
	return to_stdout ? 0 : MLOPS_EXIT_USAGE;
}

char g_cmd_name[96] = "mlops";

int cmd_usage_error(const char *const *usage, const char *fmt, ...)
{
	va_list ap;
	cmd_progress_end();
	fprintf(stderr, "mlops: %s: ", g_cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return cmd_usage(usage, 0);
}

/*
 * The operand number n (from 0) that a usage line requires, into buf:
 * the words in upper case outside brackets and parentheses, not the value
 * of an option, up to a '[' or "..." ("NAME[@VER]..." is NAME).  NULL
 * when the line names fewer.
 */
static const char *usage_operand(char *buf, size_t size, const char *line, int n)
{
	int depth = 0, after_option = 0;
	const char *p = line;
	while (*p) {
		size_t len = strcspn(p, " ");
		if (len) {
			int operand = depth == 0 && !after_option && p[0] >= 'A' && p[0] <= 'Z';
			after_option = depth == 0 && p[0] == '-';
			for (size_t k = 0; k < len; k++)
				depth += (p[k] == '[' || p[k] == '(') - (p[k] == ']' || p[k] == ')');
			if (operand && n-- == 0) {
				size_t end = strcspn(p, " [.");
				snprintf(buf, size, "%.*s", (int)(end < len ? end : len), p);
				return buf;
			}
		}
		p += len;
		p += strspn(p, " ");
	}
	return NULL;
}

int cmd_check_args(int argc, char **argv, int min, int max, const char *const *usage)
{
	int n = argc - optind;
	if (max >= 0 && n > max)
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[optind + max]);
	if (n < min) {
		char buf[64];
		const char *what = usage[0] ? usage_operand(buf, sizeof(buf), usage[0], n) : NULL;
		return cmd_usage_error(usage, "missing %s", what ? what : "an argument");
	}
	return -1;
}

void cmd_getopt_reset(void)
{
	optind = 0;
	opterr = 1;
}

/* Values of the global options in a command's option table (not a char). */
enum { GOPT_JSON = 0x1000, GOPT_NO_COLOR, GOPT_QUIET, GOPT_VERBOSE };

/*
 * The global options among a command's own are taken only as typed in
 * full: an abbreviation stays the command's (--ver for --version, not
 * ambiguous with --verbose).  An exact one in argv is renamed to a form
 * nobody types, which alone the table below knows.
 */
#define GOPT_MARK "\001"
static const struct option global_longopts[] = {
	{ GOPT_MARK "json", no_argument, NULL, GOPT_JSON },
	{ GOPT_MARK "no-color", no_argument, NULL, GOPT_NO_COLOR },
	{ GOPT_MARK "quiet", no_argument, NULL, GOPT_QUIET },
	{ GOPT_MARK "verbose", no_argument, NULL, GOPT_VERBOSE },
};
static const char *const global_marked[] = {
	"--" GOPT_MARK "json", "--" GOPT_MARK "no-color", "--" GOPT_MARK "quiet", "--" GOPT_MARK "verbose",
};

/* Whether long option `arg` (after "--", up to '=') of the table takes the next word. */
static int long_takes_next(const char *arg, const struct option *longopts)
{
	size_t len = strcspn(arg, "=");
	const struct option *found = NULL;
	int matches = 0;
	for (const struct option *o = longopts; o && o->name; o++) {
		if (strncmp(o->name, arg, len))
			continue;
		if (strlen(o->name) == len) {
			found = o;
			matches = 1;
			break;
		}
		found = o;
		matches++;
	}
	return matches == 1 && found->has_arg == required_argument && !arg[len];
}

/*
 * Rename the global options typed in full among argv's options: not an
 * option's value, not after "--", not after the first operand when the
 * command stops there ('+').
 */
static void mark_globals(int argc, char *const argv[], const char *optstring,
			 const struct option *longopts)
{
	char **args = (char **)argv;
	int stop_at_operand = optstring[0] == '+';
	for (int i = 1; i < argc; i++) {
		const char *a = args[i];
		if (!strcmp(a, "--"))
			return;
		if (a[0] != '-' || !a[1]) {
			if (stop_at_operand)
				return;
			continue;
		}
		if (a[1] == '-') {
			size_t g;
			for (g = 0; g < sizeof(global_marked) / sizeof(global_marked[0]); g++)
				if (!strcmp(a + 2, global_marked[g] + 3))
					break;
			int own = 0;
			for (const struct option *o = longopts; o && o->name; o++)
				own |= !strcmp(o->name, a + 2);
			if (g < sizeof(global_marked) / sizeof(global_marked[0]) && !own)
				args[i] = (char *)global_marked[g];
			else if (long_takes_next(a + 2, longopts))
				i++;
			continue;
		}
		/* A cluster of short options: the one taking a value takes the rest, or the next word. */
		for (const char *c = a + 1; *c; c++) {
			const char *spec = strchr(optstring, *c);
			if (spec && *c != ':' && spec[1] == ':' && spec[2] != ':') {
				if (!c[1])
					i++;
				break;
			}
		}
	}
}

#undef getopt_long
int cmd_getopt_long(int argc, char *const argv[], const char *optstring,
		    const struct option *longopts, int *longindex)
{
	/* The command's options, then the global ones it does not have itself. */
	enum { MAXOPTS = 96 };
	struct option all[MAXOPTS + 5];
	size_t n = 0;
	for (; longopts && longopts[n].name && n < MAXOPTS; n++)
		all[n] = longopts[n];
	size_t own = n;
	for (size_t g = 0; g < sizeof(global_longopts) / sizeof(global_longopts[0]); g++) {
		size_t k = 0;
		while (k < own && strcmp(all[k].name, global_longopts[g].name + 1))
			k++;
		if (k == own)
			all[n++] = global_longopts[g];
	}
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	/* -q and -v too, unless the command has the letter itself. */
	int short_q = !strchr(optstring, 'q'), short_v = !strchr(optstring, 'v');
	char shorts[128];
	snprintf(shorts, sizeof(shorts), "%s%s%s", optstring, short_q ? "q" : "", short_v ? "v" : "");
	mark_globals(argc, argv, optstring, longopts);
	for (;;) {
		/* getopt names the program by argv[0]: "mlops: CMD" makes its
		 * message the usual one line.  argv is main()'s, so writable. */
		char **args = (char **)argv, *arg0 = argc > 0 ? args[0] : NULL;
		char prog[sizeof(g_cmd_name) + 8];
		snprintf(prog, sizeof(prog), "mlops: %s", g_cmd_name);
		if (arg0)
			args[0] = prog;
		int c = getopt_long(argc, argv, shorts, all, longindex);
		if (arg0)
			args[0] = arg0;
		if ((c == 'q' && short_q) || (c == 'v' && short_v))
			c = c == 'q' ? GOPT_QUIET : GOPT_VERBOSE;
		switch (c) {
		case GOPT_JSON:
			g_opts.json = 1;
			g_opts.progress = 0;
			continue;
		case GOPT_NO_COLOR:
			g_opts.color = 0;
			continue;
		case GOPT_QUIET:
			g_opts.quiet = 1;
			g_opts.progress = 0;
			continue;
		case GOPT_VERBOSE:
			g_opts.verbose++;
			continue;
		case -1:
			/* The options are good: now the repository's failure, if any. */
			cmd_repo_failed_exit();
			return c;
		default:
			return c;
		}
	}
}

int cmd_dispatch(int argc, char **argv, const struct subcmd *subs,
		 size_t nsubs, int (*dflt)(int, char **))
{
	const char *usage[64];
	char lines[64][256];
	size_t n = 0;
	for (size_t i = 0; i < nsubs && n < 63; i++, n++) {
		snprintf(lines[n], sizeof(lines[n]), "%s %s", argv[0], subs[i].usage);
		usage[n] = lines[n];
	}
	usage[n] = NULL;

	if (argc < 2) {
		if (dflt)
			return dflt(argc, argv);
		return cmd_usage_error(usage, "missing subcommand");
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_usage(usage, 1);
	for (size_t i = 0; i < nsubs; i++) {
		if (strcmp(argv[1], subs[i].name))
			continue;
		snprintf(g_cmd_name, sizeof(g_cmd_name), "%s %s", argv[0], subs[i].name);
		if (g_defer_repo && !(subs[i].flags & SUB_NO_REPO)) {
			int is_help = 0;
			for (int k = 2; k < argc && strcmp(argv[k], "--"); k++)
				if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help"))
					is_help = 1;
			if (!is_help)
				cmd_open_repo_or_defer(0);
		}
		return subs[i].fn(argc - 1, argv + 1);
	}
	if (dflt && argv[1][0] == '-')
		return dflt(argc, argv);
	return cmd_usage_error(usage, "unknown subcommand '%s'", argv[1]);
}

int cmd_print_json(cJSON *value)
{
	if (!value)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	char *s = mlops_json_print(value, 1);
	cJSON_Delete(value);
	if (!s)
		return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return 0;
}

const char *cmd_human_size(char buf[32], unsigned long long bytes)
{
	static const char *units[] = { "kB", "MB", "GB", "TB", "PB" };
	if (bytes < 1000) {
		snprintf(buf, 32, "%llu B", bytes);
		return buf;
	}
	double v = (double)bytes / 1000.0;
	size_t u = 0;
	while (v >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, 32, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
	return buf;
}

const char *cmd_human_time(char buf[64], long long epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, 64, "%Y-%m-%d %H:%M:%S %z", &tm);
	return buf;
}

/*
 * The progress line on the terminal: whether one is open (not ended by a
 * newline), what it shows and when it was drawn.  It is redrawn at most
 * every PROGRESS_INTERVAL_NS (git's progress.c redraws once a second and
 * at each new percent): a fetch or checkout reports once an object, and
 * 50,000 objects were 50,000 redraws.  A new line, the final state (cur
 * reaching total, or done) and the end are always drawn; a state no newer
 * than the one shown never is.  Checkout's workers report from several
 * threads at once, hence the lock.
 */
#define PROGRESS_INTERVAL_NS 100000000ull
static struct {
	pthread_mutex_t lock;
	int open;
	const char *what;
	unsigned long long cur, total, drawn_ns;
} progress = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned long long monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

void cmd_progress_end(void)
{
	pthread_mutex_lock(&progress.lock);
	if (progress.open)
		fputs("\r\033[K", stderr);
	progress.open = 0;
	pthread_mutex_unlock(&progress.lock);
}

void cmd_live_warning(const char *message, void *payload)
{
	(void)payload;
	cmd_progress_end();
	fprintf(stderr, "mlops: warning: %s\n", message);
}

void cmd_progress(const char *what, unsigned long long cur,
		  unsigned long long total, int done)
{
	if (!g_opts.progress)
		return;
	pthread_mutex_lock(&progress.lock);
	unsigned long long now = monotonic_ns();
	int same_line = progress.open && !strcmp(progress.what, what) && progress.total == total;
	int final = done || (total && cur >= total);
	if (same_line && !done &&
	    (cur <= progress.cur || (!final && now - progress.drawn_ns < PROGRESS_INTERVAL_NS)))
		goto unlock;
	char a[32], b[32];
	if (total)
		fprintf(stderr, "\r%s: %3d%% (%s / %s)", what,
			(int)(cur >= total ? 100 : cur * 100 / total),
			cmd_human_size(a, cur), cmd_human_size(b, total));
	else
		fprintf(stderr, "\r%s: %s", what, cmd_human_size(a, cur));
	fputs(done ? ", done.\n" : "\033[K", stderr);
	progress.open = !done;
	progress.what = what;
	progress.cur = cur;
	progress.total = total;
	progress.drawn_ns = now;
unlock:
	pthread_mutex_unlock(&progress.lock);
}

const char *cmd_color(const char *which)
{
	if (!g_opts.color)
		return "";
	if (!strcmp(which, "reset")) return "\033[m";
	if (!strcmp(which, "red")) return "\033[31m";
	if (!strcmp(which, "green")) return "\033[32m";
	if (!strcmp(which, "yellow")) return "\033[33m";
	if (!strcmp(which, "bold")) return "\033[1m";
	return "";
}
