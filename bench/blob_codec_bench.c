/*
 * blob_codec_bench.c
 *		What a blob file's codec costs per value: zstd with a trained
 *		dictionary at several levels (what a flush writes for a table with
 *		compression 'zstd'), LZ4 with the same dictionary, and both without
 *		one.  Prints microseconds per value to compress and to decompress,
 *		and the ratio (input bytes / output bytes).
 *
 *	blob_codec_bench VALUES_FILE [DICT_BYTES]
 *
 * VALUES_FILE holds one value per line (the first 10,000 train the
 * dictionary, the rest are measured, three passes each); DICT_BYTES is the
 * dictionary's size (16384, as lsm_fdw's blob dictionaries; see
 * docs/format.md).  The values of bench/sql_bench.sh, from any instance
 * where its bench_value() function exists:
 *
 *	psql -XAtc "COPY (SELECT bench_value(i) FROM generate_series(2000001, 2030000) i) TO STDOUT" >vals.txt
 *	cc -O2 -o blob_codec_bench bench/blob_codec_bench.c -lzstd -llz4
 *	./blob_codec_bench vals.txt
 *
 * Debian's liblz4 does not export LZ4_attach_dictionary, so a compression
 * with the dictionary starts from a copy of a stream that loaded it once
 * (what attaching saves is the per-value hashing of the dictionary, which
 * LZ4_loadDict would repeat).  Not part of any test.
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zdict.h>
#include <zstd.h>

#define TRAIN 10000
#define PASSES 3
#define OUT_MAX 8192

typedef struct Values
{
	char	  **v;
	size_t	   *len;
	int			n;
} Values;

static double
now_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "blob_codec_bench: %s\n", what);
	exit(1);
}

static Values
read_values(const char *path)
{
	Values		vs = {0};
	int			cap = 0;
	char		line[OUT_MAX];
	FILE	   *f = fopen(path, "r");

	if (f == NULL)
		die("cannot open the values file");
	while (fgets(line, sizeof(line), f) != NULL)
	{
		size_t		k = strlen(line);

		if (k > 0 && line[k - 1] == '\n')
			line[--k] = '\0';
		if (vs.n == cap)
		{
			cap = cap ? cap * 2 : 1024;
			vs.v = realloc(vs.v, cap * sizeof(char *));
			vs.len = realloc(vs.len, cap * sizeof(size_t));
			if (vs.v == NULL || vs.len == NULL)
				die("out of memory");
		}
		vs.v[vs.n] = strdup(line);
		vs.len[vs.n++] = k;
	}
	fclose(f);
	if (vs.n <= TRAIN)
		die("the values file needs more than 10000 lines");
	return vs;
}

static size_t
train(const Values *vs, char *dict, size_t cap)
{
	size_t		total = 0;
	size_t		off = 0;
	char	   *samples;
	size_t		got;

	for (int i = 0; i < TRAIN; i++)
		total += vs->len[i];
	if ((samples = malloc(total)) == NULL)
		die("out of memory");
	for (int i = 0; i < TRAIN; i++)
	{
		memcpy(samples + off, vs->v[i], vs->len[i]);
		off += vs->len[i];
	}
	got = ZDICT_trainFromBuffer(dict, cap, samples, vs->len, TRAIN);
	if (ZDICT_isError(got))
		die("dictionary training failed");
	free(samples);
	return got;
}

static void
report(const char *name, double c_secs, double d_secs, size_t in, size_t out, int n)
{
	printf("%-24s compress %5.2f us  decompress %5.2f us  ratio %.2f\n", name,
		   c_secs * 1e6 / n, d_secs * 1e6 / n, (double) in / out);
}

static void
bench_zstd(const Values *vs, const char *dict, size_t dsz, int level)
{
	ZSTD_CCtx  *cc = ZSTD_createCCtx();
	ZSTD_DCtx  *dc = ZSTD_createDCtx();
	ZSTD_CDict *cd = dsz ? ZSTD_createCDict(dict, dsz, level) : NULL;
	ZSTD_DDict *dd = dsz ? ZSTD_createDDict(dict, dsz) : NULL;
	char		out[OUT_MAX];
	char		back[OUT_MAX];
	size_t		in = 0,
				total = 0;
	double		c = 0,
				d = 0;
	char		name[64];

	for (int p = 0; p < PASSES; p++)
		for (int i = TRAIN; i < vs->n; i++)
		{
			double		t0 = now_seconds();
			size_t		k = cd ? ZSTD_compress_usingCDict(cc, out, sizeof(out), vs->v[i], vs->len[i], cd)
				: ZSTD_compressCCtx(cc, out, sizeof(out), vs->v[i], vs->len[i], level);
			double		t1 = now_seconds();
			size_t		r;

			if (ZSTD_isError(k))
				die("zstd compression failed");
			r = dd ? ZSTD_decompress_usingDDict(dc, back, sizeof(back), out, k, dd)
				: ZSTD_decompressDCtx(dc, back, sizeof(back), out, k);
			d += now_seconds() - t1;
			c += t1 - t0;
			if (r != vs->len[i] || memcmp(back, vs->v[i], r) != 0)
				die("zstd round trip differs");
			in += vs->len[i];
			total += k;
		}
	snprintf(name, sizeof(name), "zstd %d%s", level, dsz ? " + dictionary" : "");
	report(name, c, d, in, total, PASSES * (vs->n - TRAIN));
	ZSTD_freeCDict(cd);
	ZSTD_freeDDict(dd);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
}

static void
bench_lz4(const Values *vs, const char *dict, size_t dsz)
{
	LZ4_stream_t *loaded = LZ4_createStream();
	LZ4_stream_t *s = LZ4_createStream();
	char		out[OUT_MAX];
	char		back[OUT_MAX];
	size_t		in = 0,
				total = 0;
	double		c = 0,
				d = 0;

	if (dsz)
		LZ4_loadDict(loaded, dict, (int) dsz);
	for (int p = 0; p < PASSES; p++)
		for (int i = TRAIN; i < vs->n; i++)
		{
			double		t0 = now_seconds();
			int			k;
			int			r;
			double		t1;

			if (dsz)
			{
				memcpy(s, loaded, sizeof(LZ4_stream_t));
				k = LZ4_compress_fast_continue(s, vs->v[i], out, (int) vs->len[i], sizeof(out), 1);
			}
			else
				k = LZ4_compress_default(vs->v[i], out, (int) vs->len[i], sizeof(out));
			t1 = now_seconds();
			if (k <= 0)
				die("lz4 compression failed");
			r = dsz ? LZ4_decompress_safe_usingDict(out, back, k, sizeof(back), dict, (int) dsz)
				: LZ4_decompress_safe(out, back, k, sizeof(back));
			d += now_seconds() - t1;
			c += t1 - t0;
			if (r != (int) vs->len[i] || memcmp(back, vs->v[i], r) != 0)
				die("lz4 round trip differs");
			in += vs->len[i];
			total += k;
		}
	report(dsz ? "lz4 + dictionary" : "lz4", c, d, in, total, PASSES * (vs->n - TRAIN));
	LZ4_freeStream(loaded);
	LZ4_freeStream(s);
}

int
main(int argc, char **argv)
{
	Values		vs;
	size_t		cap;
	size_t		dsz;
	char	   *dict;
	static const int levels[] = {3, 1, -1, -5};

	if (argc < 2)
		die("usage: blob_codec_bench VALUES_FILE [DICT_BYTES]");
	vs = read_values(argv[1]);
	cap = argc > 2 ? (size_t) atol(argv[2]) : 16384;
	if ((dict = malloc(cap)) == NULL)
		die("out of memory");
	dsz = train(&vs, dict, cap);
	printf("%d values measured, %d passes; dictionary of %zu bytes from %d values\n",
		   vs.n - TRAIN, PASSES, dsz, TRAIN);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		bench_zstd(&vs, dict, dsz, levels[i]);
	bench_zstd(&vs, dict, 0, 1);
	bench_lz4(&vs, dict, dsz);
	bench_lz4(&vs, dict, 0);
	return 0;
}
