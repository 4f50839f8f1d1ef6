/*
 * quote.c - names printed for people, quoted as git quotes paths: a name
 * holding a control character (C0, DEL, or a C1 control written in
 * UTF-8), a double quote or a backslash is written between double quotes
 * with C escapes ("a\nb"), so that one name is one line of output and
 * reaches the terminal as text; any other name (UTF-8 included) is
 * written as it is.
 */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

/* Whether p starts a C1 control in UTF-8 (U+0080..U+009F: C2 80..C2 9F). */
static int c1_at(const unsigned char *p)
{
	return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

static int needs_quotes(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || c1_at(p))
			return 1;
	return 0;
}

void cmd_print_name(FILE *f, const char *s)
{
	if (!needs_quotes(s)) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *esc = NULL;
		switch (*p) {
		case '\n': esc = "\\n"; break;
		case '\t': esc = "\\t"; break;
		case '\r': esc = "\\r"; break;
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		}
		if (esc) {
			fputs(esc, f);
		} else if (c1_at(p)) {
			fprintf(f, "\\%03o\\%03o", p[0], p[1]);
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\%03o", *p);
		} else {
			putc(*p, f);
		}
	}
	putc('"', f);
}

char *cmd_quote_name(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	cmd_print_name(f, s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
