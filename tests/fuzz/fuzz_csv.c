/*
 * fuzz_csv.c - the CSV, TSV and JSON-lines reader (core/csv.h) on hostile
 * input.
 *
 * The first byte of the input chooses the options (delimiter, header,
 * ragged records, format, a tiny buffer so that refills happen at every
 * place, a small record limit, JSON-lines keys that add columns); the rest is the file, handed to the reader
 * through a memory file descriptor.  Every field of every record is read
 * byte by byte, so that a field pointing outside the buffer is caught, and
 * the reader's promises are checked: a record has as many fields as the
 * header unless ragged (with new keys, the header as it grows), line
 * numbers never go back, an error is sticky.
 */
#include <sys/mman.h>

#include "tests/fuzz/fuzz.h"
#include "core/csv.h"
#include "store/fsutil.h"

static int csv_write_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-csv", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (size && mlops_write_all(fd, data, size) < 0) {
		close(fd);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned csv_touch(const struct mlops_csv_field *f, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(f[i].ptr || f[i].len == 0);
		for (size_t j = 0; j < f[i].len; j++)
			sum += (unsigned char)f[i].ptr[j];
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = { 0, ',', '\t', ';', '|' };
	static const size_t buffers[] = { 0, 1, 7, 64 };
	struct mlops_csv_options o = { 0 };
	struct mlops_csv *csv = NULL;
	const struct mlops_csv_field *f;
	size_t n, ncols = 0, line = 0;
	volatile unsigned sink = 0;
	int fd, r;

	if (size == 0)
		return 0;
	unsigned char sel = data[0];
	data++;
	size--;
	o.delim = delims[(sel & 7) % 5];
	o.no_header = (sel >> 3) & 1;
	o.ragged = (sel >> 4) & 1;
	o.format = (enum mlops_csv_format)(((sel >> 5) & 3) % 3);
	o.buffer_size = buffers[(sel >> 6) & 3];
	o.max_record = (sel & 0x40) ? 256 : 0;
	o.name = "fuzz.csv";
	o.new_keys = (sel & 7) >= 5; /* the delimiters' unused values */

	if ((fd = csv_write_memfd(data, size)) < 0)
		return 0;
	r = mlops_csv_open_fd(&csv, fd, &o);
	if (r < 0) {
		FUZZ_CHECK(csv == NULL || r < 0);
		mlops_error_clear();
		close(fd);
		return 0;
	}
	mlops_csv_header(csv, &f, &ncols);
	sink += csv_touch(f, ncols);
	const char *const *names = mlops_csv_names(csv, &n);
	FUZZ_CHECK(n == ncols);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(names[i] != NULL);
		sink += (unsigned)strlen(names[i]);
	}
	char d = mlops_csv_delim(csv);
	FUZZ_CHECK(d == ',' || d == '\t' || d == ';' || d == '|');
	while ((r = mlops_csv_next(csv, &f, &n)) == 1) {
		if (o.new_keys && n > ncols && !o.ragged) {
			/* a new key: the names grow with it */
			size_t nn;
			const char *const *names2 = mlops_csv_names(csv, &nn);
			FUZZ_CHECK(nn == n);
			for (size_t i = ncols; i < nn; i++)
				sink += (unsigned)strlen(names2[i]);
			ncols = nn;
		}
		if (!o.ragged)
			FUZZ_CHECK(n == ncols);
		size_t l = mlops_csv_line(csv);
		FUZZ_CHECK(l >= line);
		line = l;
		sink += csv_touch(f, n);
	}
	if (r < 0) {
		FUZZ_CHECK(r == MLOPS_EINVALID || r == MLOPS_EIO || r == MLOPS_ERROR);
		FUZZ_CHECK(mlops_csv_next(csv, &f, &n) == r);
	} else {
		FUZZ_CHECK(mlops_csv_next(csv, &f, &n) == 0);
	}
	mlops_error_clear();
	mlops_csv_free(csv);
	close(fd);
	(void)sink;
	return 0;
}
