/*
 * json.h - canonical JSON records in the store.
 *
 * Every metadata record (trees, chunk lists, dataset versions, runs, model
 * versions...) is a cJSON object written in canonical form: object keys
 * sorted by their bytes at every depth, no white space, numbers as cJSON
 * prints them except that every number reads back exactly, strings with
 * their bytes as they are (mlops_json_print_exact).  The same record
 * therefore always has the same id.
 */
#ifndef MLOPS_JSON_H
#define MLOPS_JSON_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "oid.h"

struct mlops_odb;

/* Sort object keys recursively (in place). */
void mlops_json_sort(cJSON *value);

/*
 * value as text, compact or (formatted) indented, every finite number
 * exactly: cJSON alone prints some with 15 digits that read back as
 * another double (0.30000000000000004 as 0.3); those get 17.  The text is
 * UTF-8 whatever the strings hold: a byte of a key or string that starts
 * no well-formed UTF-8 sequence (a Latin-1 file name, a CSV value) is
 * written as U+FFFD, so --json output, mlops.lock and the files given to
 * programs are JSON that any reader takes.  The caller frees; NULL when
 * out of memory.  Those numbers and strings are swapped in the tree while
 * it prints, restored before it returns: two threads must not print one
 * tree at once.
 */
char *mlops_json_print(const cJSON *value, int formatted);

/*
 * As mlops_json_print, but strings are written with their bytes as they
 * are, UTF-8 or not: the records of the store (mlops_json_canonical),
 * whose ids are of their bytes and whose file names must come back
 * exactly.  cJSON reads such bytes back unchanged.
 */
char *mlops_json_print_exact(const cJSON *value, int formatted);

/* A type bit of a number made a raw node while mlops_json_print runs. */
#define MLOPS_JSON_EXACT (1 << 12)

/* Canonical text of value (keys sorted in place first, strings exact); *out caller frees. */
int mlops_json_canonical(char **out, cJSON *value);

/* Store value as a canonical record; *out gets its id. */
int mlops_json_store(mlops_oid *out, struct mlops_odb *odb, cJSON *value, uint64_t *stored);

/*
 * Load and parse a record.  MLOPS_ENOTFOUND / MLOPS_ECORRUPT as the odb
 * says; MLOPS_ECORRUPT when the bytes are not a JSON object.
 */
int mlops_json_load(cJSON **out, struct mlops_odb *odb, const mlops_oid *id);

/* Borrowed accessors: NULL / dflt when missing or of another type. */
const char *mlops_json_str(const cJSON *obj, const char *key);
double mlops_json_num(const cJSON *obj, const char *key, double dflt);
/*
 * A member as a whole number below 2^63 (fractions dropped), so that it
 * converts to any 64-bit integer type: dflt when missing, not a number,
 * negative, not finite or too large.  Records come from other machines.
 */
uint64_t mlops_json_u64(const cJSON *obj, const char *key, uint64_t dflt);

/* Add a string / number / oid (as hex) member; return the object. */
cJSON *mlops_json_add_oid(cJSON *obj, const char *key, const mlops_oid *id);

/* Parse an oid member; MLOPS_EINVALID when missing or malformed. */
int mlops_json_get_oid(mlops_oid *out, const cJSON *obj, const char *key);

/*
 * MLOPS_EINVALID when an object anywhere in v has a key twice (JSON
 * parsers disagree on which one counts: cJSON takes the first, Python the
 * last).  where (cap bytes, "" at the top) is the path so far
 * ("features[1]"), named in the message.
 */
int mlops_json_unique_keys(const cJSON *v, char *where, size_t cap);
#endif
