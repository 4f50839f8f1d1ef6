/*
 * chunk.c - FastCDC content-defined chunking (see chunk.h).
 *
 * Normalised chunking: before the average size a cut needs more zero bits
 * (MASK_S, 21 bits), after it fewer (MASK_L, 17 bits), which narrows the
 * size distribution around the average.  The masks spread their bits over
 * the upper part of the 64-bit fingerprint, where the gear hash mixes best.
 */
#include "chunk.h"

#include <pthread.h>
#include <stdint.h>

static uint64_t gear[256];
static uint64_t mask_s, mask_l;
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static uint64_t spread_mask(int bits);

static void gear_init(void)
{
	uint64_t x = 0x6d6c6f7073636463ULL; /* fixed seed: part of the format */
	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
	mask_s = spread_mask(21);
	mask_l = spread_mask(17);
}

/* Masks with n one-bits in the top 48 bits, spread out. */
static uint64_t spread_mask(int bits)
{
	uint64_t m = 0;
	int placed = 0;
	for (int b = 63; b >= 16 && placed < bits; b -= 2, placed++)
		m |= 1ULL << b;
	for (int b = 62; b >= 16 && placed < bits; b -= 2, placed++)
		m |= 1ULL << b;
	return m;
}

size_t mlops_chunk_next(const unsigned char *data, size_t len)
{
	pthread_once(&gear_once, gear_init);
	if (len <= MLOPS_CHUNK_MIN)
		return len;
	size_t max = len < MLOPS_CHUNK_MAX ? len : MLOPS_CHUNK_MAX;
	size_t normal = len < MLOPS_CHUNK_AVG ? len : MLOPS_CHUNK_AVG;
	uint64_t fp = 0;
	size_t i = MLOPS_CHUNK_MIN;
	for (; i < normal; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & mask_s))
			return i + 1;
	}
	for (; i < max; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & mask_l))
			return i + 1;
	}
	return max;
}
