/*
 * quote.c - names printed for people, quoted as git quotes paths: a name
 * holding a control character (C0, DEL, or a C1 control written in
 * UTF-8), a double quote, a backslash or a byte that is not UTF-8 is
 * written between double quotes with C escapes ("a\nb", "r\351sum\351"),
 * so that one name is one line of output and reaches the terminal as
 * UTF-8 text; any other name (UTF-8 included) is written as it is.
 */
#include "cmd.h"

#include <stdlib.h>
#include <string.h>

static size_t utf8_decode(unsigned long *c, const unsigned char *p);

/* Whether code point c is written escaped: a control, a quote, a backslash. */
static int escaped(unsigned long c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == '"' || c == '\\';
}

static int needs_quotes(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned long c;
		size_t n = utf8_decode(&c, p);
		if (!n || escaped(c))
			return 1;
		p += n;
	}
	return 0;
}

void cmd_print_name(FILE *f, const char *s)
{
	if (!needs_quotes(s)) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned long c;
		size_t n = utf8_decode(&c, p);
		const char *esc = NULL;
		switch (n == 1 ? c : 0) {
		case '\n': esc = "\\n"; break;
		case '\t': esc = "\\t"; break;
		case '\r': esc = "\\r"; break;
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		}
		if (esc) {
			fputs(esc, f);
		} else if (!n || escaped(c)) {
			/* A control or a byte that is not UTF-8: its bytes in octal. */
			for (size_t i = 0; i < (n ? n : 1); i++)
				fprintf(f, "\\%03o", p[i]);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n ? n : 1;
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

/*
 * The columns a terminal gives one code point, as wcwidth(3) does but
 * without the locale: 2 for East Asian wide and fullwidth forms and the
 * emoji blocks, 0 for combining marks, zero-width spaces and variation
 * selectors, 1 otherwise (after Markus Kuhn's mk_wcwidth).
 */
static int code_point_width(unsigned long c)
{
	static const unsigned long zero[][2] = {
		{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
		{ 0x064b, 0x065f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200f },
		{ 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }, { 0xe0100, 0xe01ef },
	};
	static const unsigned long wide[][2] = {
		{ 0x1100, 0x115f }, { 0x2329, 0x232a }, { 0x2e80, 0x303e }, { 0x3040, 0xa4cf },
		{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 }, { 0xfe30, 0xfe6f },
		{ 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f }, { 0x1f900, 0x1f9ff },
		{ 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
	};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (c >= zero[i][0] && c <= zero[i][1])
			return 0;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (c >= wide[i][0] && c <= wide[i][1])
			return 2;
	return 1;
}

/*
 * The length of the UTF-8 sequence at p and its code point in *c, or 0
 * when p does not start a well-formed one (a stray or truncated byte).
 */
static size_t utf8_decode(unsigned long *c, const unsigned char *p)
{
	size_t n;
	unsigned long min;
	if (p[0] < 0x80) {
		*c = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, min = 0x80, *c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, min = 0x800, *c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, min = 0x10000, *c = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*c = (*c << 6) | (p[i] & 0x3f);
	}
	if (*c < min || *c > 0x10ffff || (*c >= 0xd800 && *c <= 0xdfff))
		return 0;
	return n;
}

size_t cmd_text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned long c;
		size_t n = utf8_decode(&c, p);
		if (!n) {
			w++; /* a terminal shows a stray byte as one replacement character */
			p++;
			continue;
		}
		w += (size_t)code_point_width(c);
		p += n;
	}
	return w;
}

void cmd_print_cell(FILE *f, const char *text, size_t width)
{
	fputs(text, f);
	for (size_t w = cmd_text_width(text); w < width; w++)
		putc(' ', f);
}
