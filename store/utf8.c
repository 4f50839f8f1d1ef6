/*
 * utf8.c - UTF-8 validity and names quoted for messages (see utf8.h).
 */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t mlops_utf8_seq(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	uint32_t c, min;
	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80) {
		if (cp)
			*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, min = 0x80, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, min = 0x800, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, min = 0x10000, c = p[0] & 0x07;
	else
		return 0;
	/* A NUL is no continuation byte: a truncated sequence stops there. */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp)
		*cp = c;
	return n;
}

const char *mlops_utf8_invalid(const char *s)
{
	while (*s) {
		size_t n = mlops_utf8_seq(s, NULL);
		if (!n)
			return s;
		s += n;
	}
	return NULL;
}

/* Whether code point c is written escaped: a control, a quote, a backslash. */
static int escaped(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == '"' || c == '\\';
}

char *mlops_quote_name(const char *s)
{
	int plain = 1;
	for (const char *p = s; *p && plain;) {
		uint32_t c;
		size_t n = mlops_utf8_seq(p, &c);
		plain = n && !escaped(c);
		p += n;
	}
	size_t len = strlen(s);
	if (plain) {
		char *q = malloc(len + 3);
		if (q)
			snprintf(q, len + 3, "'%s'", s);
		return q;
	}
	/* At most 4 bytes out for each byte in ("\351"), and the quotes. */
	char *q = malloc(4 * len + 3), *o = q;
	if (!q)
		return NULL;
	*o++ = '"';
	for (const char *p = s; *p;) {
		uint32_t c;
		size_t n = mlops_utf8_seq(p, &c);
		if (n && !escaped(c)) {
			memcpy(o, p, n);
			o += n;
			p += n;
			continue;
		}
		const char *esc = !n ? NULL : c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" :
				  c == '"' ? "\\\"" : c == '\\' ? "\\\\" : NULL;
		if (esc) {
			memcpy(o, esc, 2);
			o += 2;
			p += n;
			continue;
		}
		/* A control or a stray byte: each of its bytes in octal. */
		for (size_t i = 0; i < (n ? n : 1); i++)
			o += sprintf(o, "\\%03o", (unsigned char)p[i]);
		p += n ? n : 1;
	}
	*o++ = '"';
	*o = '\0';
	return q;
}
