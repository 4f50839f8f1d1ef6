/*
 * fuzz_columnar.c - the column-major layout of delimited text
 * (store/columnar.h) on hostile bytes, both ways.
 *
 * The input is laid out, when it qualifies, and must decode back to
 * itself exactly; and it is decoded as if it were a stored layout (what a
 * damaged or forged .zcol object holds after zstd), which must either be
 * refused with a reason or give exactly the length its header declares.
 */
#include "tests/fuzz/fuzz.h"
#include "store/columnar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *enc = NULL, *dec = NULL;
	size_t elen = 0, dlen = 0;
	const char *why = NULL;
	int r = mlops_columnar_encode(&enc, &elen, data, size);
	FUZZ_CHECK(r == 0 || r == 1);
	if (r == 1) {
		FUZZ_CHECK(mlops_columnar_decode(&dec, &dlen, enc, elen, &why) == 0);
		FUZZ_CHECK(dlen == size && !memcmp(dec, data, size));
		free(dec);
		free(enc);
	}
	dec = NULL;
	if (mlops_columnar_decode(&dec, &dlen, data, size, &why) == 0) {
		FUZZ_CHECK(dec && !why && dlen < size);
		free(dec);
	} else {
		FUZZ_CHECK(!dec && why);
	}
	return 0;
}
