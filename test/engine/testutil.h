/*
 * testutil.h
 *		A tiny harness for the engine's standalone tests.
 *
 * A test is a void function; CHECK fails it and returns.  main() calls
 * RUN(fn) for each, then test_finish(), which prints the machine-readable
 * line "TESTS <passed> <failed>" that test/run_all.sh sums, and returns the
 * exit code.  Randomised tests take their seed from LSM_TEST_SEED when set
 * and always print the seed they used.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int	tu_passed;
static int	tu_failed;
static int	tu_cur_failed;

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			tu_cur_failed = 1; \
			return; \
		} \
	} while (0)

/* Same, for use inside helpers that return int (0 = failure). */
#define CHECK_RET(cond, ret) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			tu_cur_failed = 1; \
			return (ret); \
		} \
	} while (0)

/* Assert an engine call returned LSM_OK, printing its message otherwise. */
#define CHECK_OK(call, stp) \
	do { \
		LsmCode tu_rc_ = (call); \
		if (tu_rc_ != LSM_OK) { \
			fprintf(stderr, "  CHECK_OK failed at %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, \
					#call, lsm_code_name(tu_rc_), (stp)->msg); \
			tu_cur_failed = 1; \
			return; \
		} \
	} while (0)

#define RUN(fn) \
	do { \
		tu_cur_failed = 0; \
		fn(); \
		if (tu_cur_failed) { tu_failed++; printf("FAIL %s\n", #fn); } \
		else { tu_passed++; printf("ok   %s\n", #fn); } \
		fflush(stdout); \
	} while (0)

static inline int
test_finish(void)
{
	printf("TESTS %d %d\n", tu_passed, tu_failed);
	return tu_failed ? 1 : 0;
}

/* Seed from LSM_TEST_SEED or the clock; printed so a failure can be replayed. */
static inline uint64_t
test_seed(const char *what)
{
	const char *s = getenv("LSM_TEST_SEED");
	uint64_t	seed = s ? strtoull(s, NULL, 10) : (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 16);

	printf("seed %s: %llu (replay with LSM_TEST_SEED=%llu)\n", what,
		   (unsigned long long) seed, (unsigned long long) seed);
	return seed;
}

/* xorshift64*: small, fast, reproducible across platforms. */
typedef struct TestRng
{
	uint64_t	s;
} TestRng;

static inline uint64_t
test_rng_next(TestRng *r)
{
	uint64_t	x = r->s ? r->s : 0x9E3779B97F4A7C15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t
test_rng_below(TestRng *r, uint64_t n)
{
	return n ? test_rng_next(r) % n : 0;
}

/* A fresh empty directory under $TMPDIR (or /tmp); caller removes it. */
static inline void
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

static inline void
test_rmtree(const char *dir)
{
	char		cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif							/* TESTUTIL_H */
