/*
 * utf8.h - UTF-8 text: where a string stops being well-formed, and names
 * quoted for messages as git quotes paths.
 *
 * Well-formed is RFC 3629's UTF-8, as Python's decoder and JSON readers
 * take it: no overlong forms, no surrogates, nothing above U+10FFFF.
 * File names and CSV values are bytes; JSON text and mlops.lock are UTF-8.
 */
#ifndef MLOPS_UTF8_H
#define MLOPS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence at p, and its code
 * point in *cp (when cp is not NULL); 0 when p starts none (a stray
 * continuation byte, a truncated, overlong or surrogate sequence) or at
 * the terminating NUL.
 */
size_t mlops_utf8_seq(const char *p, uint32_t *cp);

/* The first byte of s that starts no well-formed sequence, or NULL. */
const char *mlops_utf8_invalid(const char *s);

/*
 * s as a message names it: between single quotes ('data/x.csv'), or, when
 * it holds a control character (C0, DEL, or a C1 control), a double
 * quote, a backslash or a byte that is not UTF-8, as git quotes such a
 * path and cmd_print_name writes it: between double quotes with C escapes,
 * other bytes in octal ("r\351sum\351.csv").  The caller frees; NULL when
 * out of memory.
 */
char *mlops_quote_name(const char *s);

#endif
