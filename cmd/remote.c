/*
 * remote.c - `mlops remote`: add, list and remove remotes (.mlops/config).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/fsutil.h"
#include "store/remote.h"
#include "store/repo.h"

static const char *const add_usage[] = {
	"remote add NAME URL [--default] [--endpoint URL] [--region REGION] [--profile NAME] [--addressing path|virtual]",
	NULL,
};

/*
 * A directory remote whose folder remote add could not make (its parent is
 * missing: a file system not mounted yet?) is kept, but push and fetch
 * refuse it until the folder exists: say so now.
 */
static void warn_missing_folder(const char *name)
{
	struct mlops_remote_info *info;
	size_t n;
	struct stat st;
	if (mlops_remote_list(&info, &n, g_repo) < 0) {
		mlops_error_clear();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(info[i].name, name) || info[i].url[0] != '/' || stat(info[i].url, &st) == 0)
			continue;
		fflush(stdout);
		fprintf(stderr, "mlops: warning: '%s' does not exist and its parent is missing, so it was "
			"not made; push and fetch refuse the remote until the folder exists (mount it, or "
			"'mkdir -p' it)\n", info[i].url);
	}
	mlops_remote_info_free(info, n);
}

static int remote_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "default", no_argument, NULL, 'd' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "addressing", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_remote_options ro = { .fsync = 1, .hardlinks = 1 };
	const char *s3_option = NULL; /* the first S3 option given */
	int c, li = 0, make_default = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
		switch (c) {
		case 'd': make_default = 1; break;
		case 'e': ro.endpoint = optarg; break;
		case 'r': ro.region = optarg; break;
		case 'p': ro.profile = optarg; break;
		case 'a': ro.addressing = optarg; break;
		case 'h': return cmd_usage(add_usage, 1);
		default: return cmd_usage(add_usage, 0);
		}
		if (!s3_option && (c == 'e' || c == 'r' || c == 'p' || c == 'a'))
			s3_option = opts[li].name;
	}
	if ((c = cmd_check_args(argc, argv, 2, 2, add_usage)) >= 0)
		return c;
	const char *name = argv[optind], *url = argv[optind + 1];
	/*
	 * A directory remote would ignore them.  The URL is checked first: a
	 * malformed one has its own message, which never shows credentials.
	 */
	if (s3_option && strncmp(url, "s3://", 5) && mlops_remote_url_valid(url))
		return cmd_die(MLOPS_EXIT_USAGE, "--%s is an option of S3 remotes only, and '%s' is a "
			       "directory", s3_option, url);
	mlops_error_clear();
	int err = mlops_remote_add(g_repo, name, url, &ro, make_default);
	if (err < 0)
		return cmd_fail(err, err == MLOPS_EEXISTS ? "'mlops remote remove NAME' removes it" : NULL);
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddBoolToObject(o, "default", make_default);
		cmd_print_json(o);
	} else if (!g_opts.quiet) {
		printf("added remote '%s'%s\n", name, make_default ? " (default)" : "");
	}
	warn_missing_folder(name);
	return 0;
}

static const char *const list_usage[] = { "remote list", NULL };

static int simple(int argc, char **argv, const char *const *usage, int nargs)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	return cmd_check_args(argc, argv, nargs, nargs, usage);
}

/*
 * url as shown: credentials a hand-edited configuration may hold in it
 * (scheme://user:secret@host...) are replaced by "***".  The caller frees.
 */
static char *shown_url(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : NULL;
	const char *at = host ? strchr(host, '@') : NULL;
	const char *slash = host ? strchr(host, '/') : NULL;
	if (!at || (slash && slash < at))
		return strdup(url);
	return mlops_strdupf("%.*s***%s", (int)(host - url), url, at);
}

static int remote_list(int argc, char **argv)
{
	int rc = simple(argc, argv, list_usage, 0);
	if (rc >= 0)
		return rc;
	struct mlops_remote_info *info;
	size_t n;
	int err = mlops_remote_list(&info, &n, g_repo);
	if (err < 0)
		return cmd_fail(err, NULL);
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	for (size_t i = 0; i < n; i++) {
		char *url = shown_url(info[i].url ? info[i].url : "");
		if (arr) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", info[i].name);
			cJSON_AddStringToObject(o, "url", url ? url : "");
			cJSON_AddBoolToObject(o, "default", info[i].is_default);
			cJSON_AddItemToArray(arr, o);
		} else {
			printf("%s\t%s%s\n", info[i].name, url ? url : "", info[i].is_default ? " (default)" : "");
		}
		free(url);
	}
	mlops_remote_info_free(info, n);
	return arr ? cmd_print_json(arr) : 0;
}

static const char *const remove_usage[] = { "remote remove NAME", NULL };

static int remote_remove(int argc, char **argv)
{
	int rc = simple(argc, argv, remove_usage, 1);
	if (rc >= 0)
		return rc;
	int err = mlops_remote_remove(g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOTFOUND ? "'mlops remote list' shows the remotes" : NULL);
	if (!g_opts.quiet && !g_opts.json)
		printf("removed remote '%s'\n", argv[optind]);
	return 0;
}

int cmd_remote(int argc, char **argv)
{
	static const struct subcmd subs[] = {
		{ "add", remote_add, "add NAME URL [--default] [--endpoint URL] [--region REGION] [--profile NAME] [--addressing path|virtual]", 0 },
		{ "list", remote_list, "list", 0 },
		{ "remove", remote_remove, "remove NAME", 0 },
	};
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), remote_list);
}
