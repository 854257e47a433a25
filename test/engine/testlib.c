/*
 * testlib.c
 *		The helpers every engine test program shares (see testutil.h):
 *		the pass/fail counters, seeds, temporary directories, random bytes,
 *		a clock, and whole-file access for tests that damage files.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "testutil.h"

int			tu_passed;
int			tu_failed;
int			tu_cur_failed;

int
test_finish(void)
{
	printf("TESTS %d %d\n", tu_passed, tu_failed);
	return tu_failed ? 1 : 0;
}

uint64_t
test_seed(const char *what)
{
	const char *s = getenv("LSM_TEST_SEED");
	uint64_t	seed = s ? strtoull(s, NULL, 10) : (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 16);

	printf("seed %s: %llu (replay with LSM_TEST_SEED=%llu)\n", what,
		   (unsigned long long) seed, (unsigned long long) seed);
	return seed;
}

void
test_tmpdir(char *out, size_t len, const char *tag)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, len, "%s/lsmtest_%s_XXXXXX", base ? base : "/tmp", tag);
	if (mkdtemp(out) == NULL)
	{
		perror("mkdtemp");
		exit(2);
	}
}

void
test_rmtree(const char *dir)
{
	char		cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

void
fill_random(TestRng *rng, uint8_t *p, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64_t	v = test_rng_next(rng);

		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t) test_rng_next(rng);
}

double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

uint8_t *
read_image(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	struct stat sb;
	uint8_t    *buf;

	if (f == NULL || fstat(fileno(f), &sb) != 0)
	{
		perror(path);
		exit(2);
	}
	*len = (size_t) sb.st_size;
	buf = malloc(*len ? *len : 1);
	if (buf == NULL || fread(buf, 1, *len, f) != *len)
	{
		perror(path);
		exit(2);
	}
	fclose(f);
	return buf;
}

void
write_image(const char *path, const uint8_t *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
	{
		perror(path);
		exit(2);
	}
}

int
find_file(const char *dir, const char *suffix, char *out, size_t len)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	size_t		sl = strlen(suffix);
	int			n = 0;

	while (d && (e = readdir(d)) != NULL)
	{
		size_t		l = strlen(e->d_name);

		if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
		{
			snprintf(out, len, "%s/%s", dir, e->d_name);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

LsmCode
concat_merge(void *arg, LsmSlice key, const LsmSlice *base,
			 const LsmSlice *operands, int n_operands, LsmBuf *out, LsmStatus *st)
{
	if (base != NULL && !lsm_buf_append(out, base->data, base->len))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "oom");
	for (int i = 0; i < n_operands; i++)
		if (!lsm_buf_append(out, operands[i].data, operands[i].len))
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "oom");
	return LSM_OK;
}
