/*
 * builtins.h - the handler of every command in the table (cmd/main.c).
 */
#ifndef MLOPS_BUILTINS_H
#define MLOPS_BUILTINS_H

struct cmd_entry;
const struct cmd_entry *cmd_lookup(const char *name);

int cmd___complete(int argc, char **argv);
int cmd_checkout(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_feature(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_hooks(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_merge_lock(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_status(int argc, char **argv);
/* status with another usage text (dataset status). */
int cmd_status_usage(int argc, char **argv, const char *const *usage);
int cmd_train(int argc, char **argv);
int cmd_version(int argc, char **argv);

struct mlops_restore;
/* Print what a restore did (checkout and hooks). */
int cmd_print_restore(const struct mlops_restore *r, const char *what);

#endif
