/*
 * csv.h - a streaming, zero-copy reader for CSV, TSV and JSON lines, and a
 * writer helper that quotes a field only when it has to.
 *
 * The reader follows RFC 4180: fields separated by one delimiter byte,
 * records ended by LF or CRLF, a field may be quoted with '"', a quote
 * inside a quoted field is written twice, and a quoted field may hold
 * delimiters and line breaks.  A UTF-8 byte order mark is skipped, blank
 * lines are skipped (as pandas does), the last record may lack its line
 * break.  The first record is the header unless told otherwise, and every
 * later record must have as many fields as the header.  Anything else is
 * malformed and fails with MLOPS_EINVALID and a message that names the
 * file and the line: "'data.csv' line 7: expected 4 fields, found 3".
 *
 * The reader reads its input in large blocks into one buffer and hands out
 * each record as an array of (pointer, length) fields pointing into that
 * buffer; quotes are removed in place.  A record's fields stay valid until
 * the next call on the reader.  Memory is the buffer (1 MiB, grown only for
 * a single larger record) plus the field array: it does not grow with the
 * number of records.
 *
 * In JSON-lines mode each line holds one flat JSON object; the keys of the
 * first line name the columns, and each line becomes a record with one
 * field per column in that order: strings unescaped (in place), numbers,
 * true and false as written, null and absent keys as empty fields.  A key
 * the first line lacks is malformed input, unless the reader is told
 * (new_keys) that its consumer can take columns that appear midway: then
 * it adds a column at the end, as pandas does, and the records from there
 * on have one more field.
 */
#ifndef MLOPS_CSV_H
#define MLOPS_CSV_H

#include <stddef.h>
#include <stdio.h>

/* One field of a record: `len` bytes at `ptr`, not NUL-terminated. */
struct mlops_csv_field {
	const char *ptr;
	size_t len;
};

enum mlops_csv_format {
	MLOPS_CSV_FORMAT_AUTO = 0, /* JSON lines for .jsonl/.ndjson or a leading '{' */
	MLOPS_CSV_FORMAT_CSV,
	MLOPS_CSV_FORMAT_JSONL,
};

/* Reader options; a zeroed struct (or NULL) gives the defaults. */
struct mlops_csv_options {
	char delim;            /* 0: detect ',', '\t' or ';' from the first line */
	int no_header;         /* the first record is data; columns "1".."n" */
	int ragged;            /* accept records whose field count differs */
	enum mlops_csv_format format;
	size_t buffer_size;    /* initial buffer; 0: 1 MiB */
	size_t max_record;     /* longest record in bytes; 0: 256 MiB */
	const char *name;      /* the input's name in messages; 0: the path */
	/*
	 * JSON lines: a key no earlier line had adds a column after the others
	 * (in the order keys are first seen; the earlier records lacked it)
	 * instead of failing.  The record that brings it has more fields than
	 * the one before; mlops_csv_names() then gives the longer list.
	 */
	int new_keys;
};

struct mlops_csv;

/*
 * Open `path` and read its header.  On success *out is the caller's, to be
 * freed with mlops_csv_free().  Fails with MLOPS_ENOTFOUND when the file
 * does not exist, MLOPS_EIO when it cannot be read, MLOPS_EINVALID when the
 * header is malformed.  An empty file is not an error: it has no columns
 * and no records.
 */
int mlops_csv_open(struct mlops_csv **out, const char *path,
		   const struct mlops_csv_options *opts);

/*
 * Like mlops_csv_open on an open descriptor (a pipe works: the reader never
 * seeks).  The descriptor stays the caller's and is not closed; the name in
 * messages is opts->name or "<input>".
 */
int mlops_csv_open_fd(struct mlops_csv **out, int fd,
		      const struct mlops_csv_options *opts);

/*
 * The column names: *fields gets `*n` fields owned by the reader, valid
 * until mlops_csv_free(); each name is also NUL-terminated.  Returns 0.
 * With new_keys, the arrays of this and mlops_csv_names() are valid only
 * until the next call on the reader (a new column may move them); the
 * names in them stay valid until mlops_csv_free().
 */
int mlops_csv_header(struct mlops_csv *csv,
		     const struct mlops_csv_field **fields, size_t *n);

/* The column names as NUL-terminated strings (borrowed, *n of them). */
const char *const *mlops_csv_names(const struct mlops_csv *csv, size_t *n);

/*
 * Read the next record.  Returns 1 with *fields and *n set (borrowed,
 * valid until the next call on `csv`), 0 at the end of the input, or a
 * negative code: MLOPS_EINVALID for malformed input (the message names the
 * file and line), MLOPS_EIO for a read error.  After a failure every later
 * call returns the same code.
 */
int mlops_csv_next(struct mlops_csv *csv,
		   const struct mlops_csv_field **fields, size_t *n);

/* The 1-based line on which the last record (or the header) started. */
size_t mlops_csv_line(const struct mlops_csv *csv);

/* The delimiter in use (',' for JSON lines). */
char mlops_csv_delim(const struct mlops_csv *csv);

/* Free the reader (and close the file it opened); NULL is fine. */
void mlops_csv_free(struct mlops_csv *csv);

/*
 * The length of the UTF-8 byte order mark that text of len bytes starts
 * with (3), or 0: spreadsheet exports start with one, and it is not part of
 * the first column's name.
 */
size_t mlops_csv_bom_len(const void *text, size_t len);

/*
 * Write one field to `f`, quoted when it holds `delim`, a quote, CR or LF
 * (quotes doubled).  Returns 0, or MLOPS_EIO when writing fails.
 */
int mlops_csv_write_field(FILE *f, const char *s, size_t len, char delim);

/*
 * Write `n` fields separated by `delim` and a final "\n".  A record made of
 * one empty field is written as "" so that it is not read as a blank line.
 * Returns 0 or MLOPS_EIO.
 */
int mlops_csv_write_record(FILE *f, const struct mlops_csv_field *fields,
			   size_t n, char delim);

#endif
