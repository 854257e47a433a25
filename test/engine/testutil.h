/*
 * testutil.h
 *		A tiny harness for the engine's standalone tests.
 *
 * A test is a void function; CHECK fails it and returns.  main() calls
 * RUN(fn) for each, then test_finish(), which prints the machine-readable
 * line "TESTS <passed> <failed>" that test/run_all.sh sums, and returns the
 * exit code.  Randomised tests take their seed from LSM_TEST_SEED when set
 * and always print the seed they used.
 *
 * This header and testlib.c (helpers) and iter_check.c (the iterator
 * conformance check) are the one test library every test program links.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsm_iter.h"

/* testlib.c: counts of passed and failed tests; whether the current one failed */
extern int	tu_passed;
extern int	tu_failed;
extern int	tu_cur_failed;

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

/* Print "TESTS <passed> <failed>"; the exit code for main. */
extern int	test_finish(void);

/* Seed from LSM_TEST_SEED or the clock; printed so a failure can be replayed. */
extern uint64_t test_seed(const char *what);

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
extern void test_tmpdir(char *out, size_t len, const char *tag);
extern void test_rmtree(const char *dir);

/* n random bytes from rng. */
extern void fill_random(TestRng *rng, uint8_t *p, size_t n);

/* Seconds on a monotonic clock, for timing. */
extern double now_sec(void);

/*
 * Whole files, for tests that damage or inspect them behind the engine's
 * back; an I/O error ends the program (exit 2).  read_image mallocs.
 */
extern uint8_t *read_image(const char *path, size_t *len);
extern void write_image(const char *path, const uint8_t *data, size_t len);

/*
 * The files of dir whose names end in suffix (".log", ".sst"): how many,
 * and the path of the last one seen in out.
 */
extern int	find_file(const char *dir, const char *suffix, char *out, size_t len);

/*
 * A merge function (LsmOptions.merge) that appends the operands to the
 * base, oldest first: a value shows which operands reached it, in order.
 */
extern LsmCode concat_merge(void *arg, LsmSlice key, const LsmSlice *base,
							const LsmSlice *operands, int n_operands, LsmBuf *out,
							LsmStatus *st);

/*
 * The iterator conformance check (iter_check.c), which every iterator kind
 * runs (test_iter.c).  model holds the n entries it must yield, in cmp
 * order with distinct keys; probes are extra seek targets (keys between,
 * before and after the model's), nullable.  It seeks to the first and last
 * entry, walks forward and backward, seeks to every model key and probe,
 * switches direction after each seek, and takes random next/prev walks,
 * comparing key, value and validity with the model at every step and
 * status() at the end.  1 when the iterator conforms; else 0 after
 * printing what differed (and marking the current test failed).
 */
typedef struct TestKV
{
	LsmSlice	key;
	LsmSlice	value;
} TestKV;

extern int	test_iter_check(LsmIter *it, const TestKV *model, size_t n,
							const LsmSlice *probes, size_t n_probes,
							LsmKeyCmp cmp, uint64_t seed);

#endif							/* TESTUTIL_H */
