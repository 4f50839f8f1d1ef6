/*
 * quote.c - names printed for people, quoted as git quotes paths: a name
 * holding a control character, a double quote or a backslash is written
 * between double quotes with C escapes ("a\nb"), so that one name is one
 * line of output; any other name (UTF-8 included) is written as it is.
 */
#include "cmd.h"

#include <string.h>

static int needs_quotes(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
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
		if (esc)
			fputs(esc, f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\%03o", *p);
		else
			putc(*p, f);
	}
	putc('"', f);
}
