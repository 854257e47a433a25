/*
 * test_base.c
 *		Unit tests of the engine's base layer: status, buffers, coding,
 *		CRC-32C, internal keys, the empty iterator, the POSIX env and the
 *		fault-injecting test env.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "lsm_env.h"
#include "lsm_format.h"
#include "lsm_iter.h"
#include "lsm_slice.h"
#include "lsm_status.h"
#include "testutil.h"
#include "fault_env.h"

static uint64_t seed;

/* ---------- status ---------- */

static void
test_status(void)
{
	LsmStatus	st;

	lsm_status_clear(&st);
	CHECK(st.code == LSM_OK && st.sys_errno == 0 && st.msg[0] == '\0');

	CHECK(lsm_status_set(&st, LSM_CORRUPTION, 0, "bad block in %s at %d", "f", 7) == LSM_CORRUPTION);
	CHECK(st.code == LSM_CORRUPTION);
	CHECK(strcmp(st.msg, "bad block in f at 7") == 0);
	CHECK(lsm_status_set(NULL, LSM_BUSY, 0, "x") == LSM_BUSY);

	CHECK(lsm_status_errno(&st, ENOSPC, "could not write \"%s\"", "p") == LSM_NO_SPACE);
	CHECK(st.sys_errno == ENOSPC);
	CHECK(strstr(st.msg, "could not write \"p\": ") == st.msg);
	CHECK(strstr(st.msg, strerror(ENOSPC)) != NULL);
	CHECK(lsm_status_errno(&st, EDQUOT, "q") == LSM_NO_SPACE);
	CHECK(lsm_status_errno(&st, ENOMEM, "m") == LSM_NO_MEMORY);
	CHECK(lsm_status_errno(&st, EIO, "i") == LSM_IO_ERROR);
	CHECK(lsm_status_errno(&st, EACCES, "a") == LSM_IO_ERROR);
	CHECK(lsm_status_errno(NULL, ENOSPC, "a") == LSM_NO_SPACE);

	/* an over-long message is truncated, never overflowed */
	{
		char		big[1000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		lsm_status_errno(&st, EIO, "%s", big);
		CHECK(strlen(st.msg) == LSM_STATUS_MSG_LEN - 1);
	}

	CHECK(strcmp(lsm_code_name(LSM_OK), "ok") == 0);
	CHECK(strcmp(lsm_code_name(LSM_NO_SPACE), "no space") == 0);
	CHECK(strcmp(lsm_code_name((LsmCode) 99), "unknown error") == 0);
	for (int c = LSM_OK; c <= LSM_NOT_SUPPORTED; c++)
		CHECK(strcmp(lsm_code_name((LsmCode) c), "unknown error") != 0);
}

/* ---------- LsmBuf ---------- */

static void
test_buf(void)
{
	LsmBuf		b = LSM_BUF_INIT;
	size_t		i;

	CHECK(lsm_buf_append(&b, "", 0));
	CHECK(b.len == 0);
	for (i = 0; i < 10000; i++)
	{
		uint8_t		c = (uint8_t) i;

		CHECK(lsm_buf_append(&b, &c, 1));
	}
	CHECK(b.len == 10000 && b.cap >= 10000 && b.cap < 40000);
	for (i = 0; i < 10000; i++)
		CHECK(b.data[i] == (uint8_t) i);

	/* appending a part of itself survives the realloc */
	{
		size_t		cap = b.cap;

		while (b.len < cap)
			CHECK(lsm_buf_append(&b, "z", 1));
		CHECK(lsm_buf_append(&b, b.data, 100));
		CHECK(b.len == cap + 100);
		for (i = 0; i < 100; i++)
			CHECK(b.data[cap + i] == (uint8_t) i);
	}

	/* impossible reservations fail and leave the buffer alone */
	{
		size_t		len = b.len;
		uint8_t    *data = b.data;

		CHECK(!lsm_buf_reserve(&b, SIZE_MAX));
		CHECK(!lsm_buf_reserve(&b, SIZE_MAX - len + 1));
		CHECK(b.len == len && b.data == data);
	}

	CHECK(lsm_buf_set(&b, "hello", 5));
	CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
	CHECK(lsm_buf_set(&b, b.data + 1, 3));
	CHECK(b.len == 3 && memcmp(b.data, "ell", 3) == 0);
	lsm_buf_reset(&b);
	CHECK(b.len == 0);
	CHECK(lsm_slice_eq(lsm_buf_slice(&b), lsm_slice("", 0)));
	lsm_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);

	/* set on an empty buffer allocates */
	CHECK(lsm_buf_set(&b, "abcdef", 6));
	CHECK(b.len == 6 && memcmp(b.data, "abcdef", 6) == 0);
	lsm_buf_free(&b);
}

static void
test_slice(void)
{
	CHECK(lsm_slice_cmp(lsm_slice_str("a"), lsm_slice_str("ab")) < 0);
	CHECK(lsm_slice_cmp(lsm_slice_str("b"), lsm_slice_str("ab")) > 0);
	CHECK(lsm_slice_cmp(lsm_slice_str(""), lsm_slice(NULL, 0)) == 0);
	CHECK(lsm_slice_cmp(lsm_slice("\xff", 1), lsm_slice("\x01", 1)) > 0);
	CHECK(lsm_slice_eq(lsm_slice_str("xy"), lsm_slice("xyz", 2)));
	CHECK(!lsm_slice_eq(lsm_slice_str("xy"), lsm_slice_str("xz")));
}

/* ---------- coding ---------- */

static void
test_fixed(void)
{
	uint8_t		b[8];

	lsm_put_fixed32(b, 0x04030201u);
	CHECK(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4);
	CHECK(lsm_get_fixed32(b) == 0x04030201u);
	lsm_put_fixed64(b, 0x0807060504030201ull);
	CHECK(b[0] == 1 && b[7] == 8);
	CHECK(lsm_get_fixed64(b) == 0x0807060504030201ull);
	lsm_put_fixed64(b, UINT64_MAX);
	CHECK(lsm_get_fixed64(b) == UINT64_MAX);
}

/* Values at every 7-bit boundary, where encodings change length. */
static uint64_t
boundary_value(int i)
{
	int			bits = i / 3;
	uint64_t	v = bits >= 64 ? UINT64_MAX : ((uint64_t) 1 << bits);

	return v + (uint64_t) (i % 3) - 1;
}

static void
test_varint_roundtrip(void)
{
	TestRng		rng = {seed};
	int			i;

	for (i = 0; i < 3 * 65 + 2000; i++)
	{
		uint64_t	v = i < 3 * 65 ? boundary_value(i) :
			test_rng_next(&rng) >> test_rng_below(&rng, 64);
		uint8_t		buf[LSM_VARINT64_MAX];
		uint8_t    *end = lsm_encode_varint64(buf, v);
		uint64_t	got;
		int			len = (int) (end - buf);

		CHECK(len == lsm_varint_length(v));
		CHECK(len >= 1 && len <= LSM_VARINT64_MAX);
		/* decode from a heap buffer of exactly len bytes: ASan sees overreads */
		{
			uint8_t    *h = malloc(len);

			memcpy(h, buf, len);
			CHECK(lsm_decode_varint64(h, h + len, &got) == h + len);
			CHECK(got == v);
			/* every truncation is rejected */
			for (int cut = 0; cut < len; cut++)
				CHECK(lsm_decode_varint64(h, h + cut, &got) == NULL);
			free(h);
		}

		if (v <= UINT32_MAX)
		{
			uint32_t	g32;

			end = lsm_encode_varint32(buf, (uint32_t) v);
			CHECK(end - buf == len && len <= LSM_VARINT32_MAX);
			CHECK(lsm_decode_varint32(buf, end, &g32) == end && g32 == v);
			for (int cut = 0; cut < len; cut++)
				CHECK(lsm_decode_varint32(buf, buf + cut, &g32) == NULL);
		}
		else
		{
			uint32_t	g32;

			/* too large for 32 bits: never silently truncated */
			CHECK(lsm_decode_varint32(buf, end, &g32) == NULL);
		}
	}
	CHECK(lsm_varint_length(0) == 1);
	CHECK(lsm_varint_length(127) == 1);
	CHECK(lsm_varint_length(128) == 2);
	CHECK(lsm_varint_length(UINT32_MAX) == 5);
	CHECK(lsm_varint_length(UINT64_MAX) == 10);
}

static void
test_varint_overlong(void)
{
	uint32_t	v32;
	uint64_t	v64;
	const uint8_t max32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
	const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	const uint8_t max64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	const uint8_t empty[1] = {0};

	CHECK(lsm_decode_varint32(max32, max32 + 5, &v32) == max32 + 5 && v32 == UINT32_MAX);
	CHECK(lsm_decode_varint32(over32, over32 + 5, &v32) == NULL);
	CHECK(lsm_decode_varint32(six, six + 6, &v32) == NULL);
	CHECK(lsm_decode_varint64(six, six + 6, &v64) == six + 6 && v64 == 0);
	CHECK(lsm_decode_varint64(max64, max64 + 10, &v64) == max64 + 10 && v64 == UINT64_MAX);
	CHECK(lsm_decode_varint64(over64, over64 + 10, &v64) == NULL);
	CHECK(lsm_decode_varint64(eleven, eleven + 11, &v64) == NULL);
	CHECK(lsm_decode_varint32(empty, empty, &v32) == NULL);
	CHECK(lsm_decode_varint64(empty, empty, &v64) == NULL);
}

static void
test_buf_put(void)
{
	LsmBuf		b = LSM_BUF_INIT;
	const uint8_t *p;
	const uint8_t *limit;
	uint32_t	v32;
	uint64_t	v64;
	LsmSlice	s;
	char		big[300];

	memset(big, 'q', sizeof(big));
	CHECK(lsm_buf_put_fixed32(&b, 0xdeadbeef));
	CHECK(lsm_buf_put_fixed64(&b, 0x0123456789abcdefull));
	CHECK(lsm_buf_put_varint32(&b, 300));
	CHECK(lsm_buf_put_varint64(&b, (uint64_t) 1 << 60));
	CHECK(lsm_buf_put_lenprefixed(&b, lsm_slice_str("hello")));
	CHECK(lsm_buf_put_lenprefixed(&b, lsm_slice("", 0)));
	CHECK(lsm_buf_put_lenprefixed(&b, lsm_slice(big, sizeof(big))));

	p = b.data;
	limit = b.data + b.len;
	CHECK(lsm_get_fixed32(p) == 0xdeadbeef);
	p += 4;
	CHECK(lsm_get_fixed64(p) == 0x0123456789abcdefull);
	p += 8;
	CHECK((p = lsm_decode_varint32(p, limit, &v32)) != NULL && v32 == 300);
	CHECK((p = lsm_decode_varint64(p, limit, &v64)) != NULL && v64 == (uint64_t) 1 << 60);
	CHECK(lsm_get_lenprefixed(&p, limit, &s) && lsm_slice_eq(s, lsm_slice_str("hello")));
	CHECK(lsm_get_lenprefixed(&p, limit, &s) && s.len == 0);

	/* a truncated string is refused and does not move the cursor */
	{
		const uint8_t *save = p;

		for (const uint8_t *cut = p; cut < limit; cut++)
		{
			CHECK(!lsm_get_lenprefixed(&p, cut, &s));
			CHECK(p == save);
		}
	}
	CHECK(lsm_get_lenprefixed(&p, limit, &s) && s.len == sizeof(big) && s.data[299] == 'q');
	CHECK(p == limit);
	CHECK(!lsm_get_lenprefixed(&p, limit, &s));
	lsm_buf_free(&b);

	/* a length claiming more than 4 GiB cannot pass through a varint32 */
	{
		const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};

		p = huge;
		CHECK(!lsm_get_lenprefixed(&p, huge + sizeof(huge), &s));
	}
}

/* ---------- CRC-32C ---------- */

static void
test_crc_vectors(void)
{
	uint8_t		buf[32];
	int			i;

	CHECK(lsm_crc32c("123456789", 9) == 0xE3069283u);
	CHECK(lsm_crc32c_sw(0, "123456789", 9) == 0xE3069283u);
	CHECK(lsm_crc32c_hw(0, "123456789", 9) == 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	CHECK(lsm_crc32c(buf, 32) == 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	CHECK(lsm_crc32c(buf, 32) == 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t) i;
	CHECK(lsm_crc32c(buf, 32) == 0x46DD794Eu);
	CHECK(lsm_crc32c("", 0) == 0);

	/* extending equals computing over the concatenation */
	CHECK(lsm_crc32c_extend(lsm_crc32c("1234", 4), "56789", 5) == 0xE3069283u);

	{
		uint32_t	c = lsm_crc32c("foo", 3);

		CHECK(lsm_crc32c_mask(c) != c);
		CHECK(lsm_crc32c_mask(lsm_crc32c_mask(c)) != c);
		CHECK(lsm_crc32c_unmask(lsm_crc32c_mask(c)) == c);
		CHECK(lsm_crc32c_unmask(lsm_crc32c_unmask(lsm_crc32c_mask(lsm_crc32c_mask(c)))) == c);
	}
	printf("  crc32c: hardware path %s\n",
		   lsm_crc32c_hw_available() ? "in use" : "not available");
}

static void
test_crc_sw_hw_agree(void)
{
	TestRng		rng = {seed ^ 0xc4c};
	uint8_t    *buf = malloc(4096 + 16);
	int			i;

	CHECK(buf != NULL);
	for (i = 0; i < 4096 + 16; i++)
		buf[i] = (uint8_t) test_rng_next(&rng);
	for (i = 0; i < 3000; i++)
	{
		size_t		off = test_rng_below(&rng, 16);
		size_t		n = test_rng_below(&rng, i < 100 ? 20 : 4097);
		uint32_t	init = (uint32_t) test_rng_next(&rng);
		uint32_t	sw = lsm_crc32c_sw(init, buf + off, n);
		uint32_t	hw = lsm_crc32c_hw(init, buf + off, n);

		if (sw != hw)
			free(buf);
		CHECK(sw == hw);
		CHECK(lsm_crc32c_extend(init, buf + off, n) == sw);
		if (n > 0)
		{
			size_t		k = test_rng_below(&rng, n);

			CHECK(lsm_crc32c_extend(lsm_crc32c_extend(init, buf + off, k),
									buf + off + k, n - k) == sw);
		}
	}
	free(buf);
}

/* ---------- internal keys ---------- */

static LsmSlice
ikey(LsmBuf *b, const char *user, LsmSeq seq, LsmKind kind)
{
	lsm_buf_reset(b);
	if (!lsm_ikey_append(b, lsm_slice_str(user), seq, kind))
		abort();
	return lsm_buf_slice(b);
}

static void
test_ikey(void)
{
	LsmBuf		a = LSM_BUF_INIT;
	LsmBuf		b = LSM_BUF_INIT;
	LsmParsedKey pk;

	ikey(&a, "key", 5, LSM_KIND_PUT);
	CHECK(a.len == 3 + LSM_IKEY_TRAILER);
	CHECK(lsm_ikey_parse(lsm_buf_slice(&a), &pk));
	CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str("key")) && pk.seq == 5 && pk.kind == LSM_KIND_PUT);
	CHECK(lsm_slice_eq(lsm_ikey_user_key(lsm_buf_slice(&a)), lsm_slice_str("key")));
	CHECK(lsm_get_fixed64(a.data + 3) == ((5u << 8) | 1));

	ikey(&a, "", LSM_MAX_SEQ, LSM_KIND_MERGE);
	CHECK(lsm_ikey_parse(lsm_buf_slice(&a), &pk));
	CHECK(pk.user_key.len == 0 && pk.seq == LSM_MAX_SEQ && pk.kind == LSM_KIND_MERGE);
	/* unknown kinds and short keys are corruption */
	a.data[0] = 4;
	CHECK(!lsm_ikey_parse(lsm_buf_slice(&a), &pk));
	CHECK(!lsm_ikey_parse(lsm_slice("1234567", 7), &pk));

	/* user key ascending wins over everything */
	CHECK(lsm_ikey_cmp(ikey(&a, "a", 1, LSM_KIND_PUT), ikey(&b, "b", 100, LSM_KIND_PUT)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "a", 100, LSM_KIND_PUT), ikey(&b, "ab", 1, LSM_KIND_PUT)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "", 0, LSM_KIND_DELETE), ikey(&b, "\x01", LSM_MAX_SEQ, LSM_KIND_MERGE)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "\xff", 1, LSM_KIND_PUT), ikey(&b, "\x01", 1, LSM_KIND_PUT)) > 0);
	/* then seq descending: newest first */
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_PUT), ikey(&b, "k", 8, LSM_KIND_PUT)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 256, LSM_KIND_PUT), ikey(&b, "k", 255, LSM_KIND_MERGE)) < 0);
	/* then kind descending */
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_MERGE), ikey(&b, "k", 9, LSM_KIND_PUT)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_PUT), ikey(&b, "k", 9, LSM_KIND_DELETE)) < 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_PUT), ikey(&b, "k", 9, LSM_KIND_PUT)) == 0);
	/* a seek key at snapshot s lands on versions <= s */
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_FOR_SEEK), ikey(&b, "k", 9, LSM_KIND_MERGE)) <= 0);
	CHECK(lsm_ikey_cmp(ikey(&a, "k", 9, LSM_KIND_FOR_SEEK), ikey(&b, "k", 10, LSM_KIND_DELETE)) > 0);
	/* malformed (short) keys still compare without overreading */
	CHECK(lsm_ikey_cmp(lsm_slice("ab", 2), lsm_slice("ac", 2)) < 0);

	lsm_buf_free(&a);
	lsm_buf_free(&b);
}

/* ---------- empty iterator ---------- */

static void
test_iter_empty(void)
{
	LsmIter    *it = lsm_iter_empty(NULL);
	LsmStatus	st;

	CHECK(it != NULL);
	lsm_iter_seek_first(it);
	CHECK(!lsm_iter_valid(it));
	lsm_iter_seek_last(it);
	lsm_iter_seek(it, lsm_slice_str("x"));
	lsm_iter_next(it);
	lsm_iter_prev(it);
	CHECK(!lsm_iter_valid(it));
	lsm_status_clear(&st);
	CHECK(lsm_iter_status(it, &st) == LSM_OK && st.code == LSM_OK);
	lsm_iter_destroy(it);

	lsm_status_set(&st, LSM_CORRUPTION, 0, "bad table \"%s\"", "t.sst");
	it = lsm_iter_empty(&st);
	lsm_status_clear(&st);
	lsm_iter_seek_first(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, NULL) == LSM_CORRUPTION);
	CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
	CHECK(strcmp(st.msg, "bad table \"t.sst\"") == 0);
	lsm_iter_destroy(it);
	lsm_iter_destroy(NULL);
}

/* ---------- POSIX env ---------- */

typedef struct ListState
{
	int			n;
	bool		saw_a;
	bool		saw_dir;
	int			stop_after;
} ListState;

static bool
list_cb(void *arg, const char *name)
{
	ListState  *ls = arg;

	ls->n++;
	if (strcmp(name, "a") == 0)
		ls->saw_a = true;
	if (strcmp(name, "sub") == 0)
		ls->saw_dir = true;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		ls->n += 1000;
	return ls->stop_after == 0 || ls->n < ls->stop_after;
}

static void
test_env_files(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmStatus	st;
	char		dir[512];
	char		path[1024];
	char		buf[64];
	LsmFile    *f;
	uint64_t	size;
	size_t		got;

	lsm_status_clear(&st);
	test_tmpdir(dir, sizeof(dir), "base");
	snprintf(path, sizeof(path), "%s/a", dir);

	CHECK_OK(env->open_file(env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL, &f, &st), &st);
	CHECK_OK(env->write_at(f, "hello world", 11, 0, &st), &st);
	CHECK_OK(env->write_at(f, "HELLO", 5, 0, &st), &st);
	CHECK_OK(env->sync(f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 11);
	CHECK_OK(env->read_at(f, buf, 11, 0, &st), &st);
	CHECK(memcmp(buf, "HELLO world", 11) == 0);

	/* exact read past the end: corruption naming path and offset */
	CHECK(env->read_at(f, buf, 10, 6, &st) == LSM_CORRUPTION);
	{
		char		want[1200];

		snprintf(want, sizeof(want),
				 "read of 10 bytes at offset 6 in \"%s\": got only 5", path);
		CHECK(strcmp(st.msg, want) == 0);
	}

	CHECK_OK(env->read_some(f, buf, 64, 6, &got, &st), &st);
	CHECK(got == 5 && memcmp(buf, "world", 5) == 0);
	CHECK_OK(env->read_some(f, buf, 64, 11, &got, &st), &st);
	CHECK(got == 0);
	CHECK_OK(env->read_some(f, buf, 64, 1000, &got, &st), &st);
	CHECK(got == 0);

	/* writing past the end leaves a hole of zeroes */
	CHECK_OK(env->write_at(f, "!", 1, 20, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 21);
	CHECK_OK(env->read_at(f, buf, 10, 11, &st), &st);
	CHECK(buf[0] == 0 && buf[8] == 0 && buf[9] == '!');

	CHECK_OK(env->truncate(f, 4, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 4);
	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->close_file(NULL, &st), &st);

	/* EXCL on an existing file fails and names it */
	CHECK(env->open_file(env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL, &f, &st) == LSM_IO_ERROR);
	CHECK(f == NULL);
	CHECK(st.sys_errno == EEXIST && strstr(st.msg, path) != NULL);

	/* TRUNC empties; READ-only cannot write */
	CHECK_OK(env->open_file(env, path, LSM_OPEN_WRITE | LSM_OPEN_TRUNC, &f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 0);
	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->open_file(env, path, LSM_OPEN_READ, &f, &st), &st);
	CHECK(env->write_at(f, "x", 1, 0, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, path) != NULL && strstr(st.msg, "offset 0") != NULL);
	CHECK_OK(env->close_file(f, &st), &st);

	/* missing files */
	{
		char		missing[1100];

		snprintf(missing, sizeof(missing), "%s/nope", dir);
		CHECK(!env->exists(env, missing));
		CHECK(env->open_file(env, missing, LSM_OPEN_READ, &f, &st) == LSM_IO_ERROR);
		CHECK(st.sys_errno == ENOENT && strstr(st.msg, missing) != NULL);
		CHECK(strstr(st.msg, strerror(ENOENT)) != NULL);
		CHECK(env->unlink(env, missing, &st) == LSM_IO_ERROR);
		CHECK(strstr(st.msg, missing) != NULL);
		CHECK(env->rename(env, missing, path, &st) == LSM_IO_ERROR);
		CHECK(strstr(st.msg, missing) != NULL && strstr(st.msg, path) != NULL);
		CHECK(env->sync_dir(env, missing, &st) == LSM_IO_ERROR);
		CHECK(strstr(st.msg, missing) != NULL);
	}
	CHECK(env->exists(env, path));
	test_rmtree(dir);
}

static void
test_env_dirs(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmStatus	st;
	char		dir[512];
	char		p[1024];
	char		q[1024];
	LsmFile    *f;
	ListState	ls;

	lsm_status_clear(&st);
	test_tmpdir(dir, sizeof(dir), "dirs");

	snprintf(p, sizeof(p), "%s/sub/deeper/deepest/", dir);
	CHECK_OK(env->mkdir_p(env, p, &st), &st);
	CHECK(env->exists(env, p));
	CHECK_OK(env->mkdir_p(env, p, &st), &st);	/* already there: fine */
	CHECK_OK(env->sync_dir(env, dir, &st), &st);

	snprintf(p, sizeof(p), "%s/a", dir);
	CHECK_OK(env->open_file(env, p, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &f, &st), &st);
	CHECK_OK(env->close_file(f, &st), &st);

	/* a file where a directory should be */
	snprintf(q, sizeof(q), "%s/a/b", dir);
	CHECK(env->mkdir_p(env, q, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, p) != NULL);
	CHECK(env->mkdir_p(env, p, &st) == LSM_IO_ERROR);
	CHECK(st.sys_errno == ENOTDIR && strstr(st.msg, p) != NULL);
	CHECK(env->mkdir_p(env, "", &st) == LSM_IO_ERROR);

	memset(&ls, 0, sizeof(ls));
	CHECK_OK(env->list_dir(env, dir, list_cb, &ls, &st), &st);
	CHECK(ls.n == 2 && ls.saw_a && ls.saw_dir);
	memset(&ls, 0, sizeof(ls));
	ls.stop_after = 1;
	CHECK_OK(env->list_dir(env, dir, list_cb, &ls, &st), &st);
	CHECK(ls.n == 1);
	CHECK(env->list_dir(env, p, list_cb, &ls, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, p) != NULL);

	/* rename replaces the target atomically */
	snprintf(q, sizeof(q), "%s/sub/a2", dir);
	CHECK_OK(env->rename(env, p, q, &st), &st);
	CHECK(!env->exists(env, p) && env->exists(env, q));
	CHECK_OK(env->unlink(env, q, &st), &st);
	CHECK(!env->exists(env, q));

	/* remove_tree: nested content, then idempotent */
	snprintf(q, sizeof(q), "%s/sub/deeper/f", dir);
	CHECK_OK(env->open_file(env, q, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &f, &st), &st);
	CHECK_OK(env->close_file(f, &st), &st);
	snprintf(q, sizeof(q), "%s/sub/link", dir);
	CHECK(symlink(dir, q) == 0);	/* must be removed, not followed */
	CHECK_OK(env->remove_tree(env, dir, &st), &st);
	CHECK(!env->exists(env, dir));
	CHECK_OK(env->remove_tree(env, dir, &st), &st);
	CHECK(env->list_dir(env, dir, list_cb, &ls, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, dir) != NULL);
}

static void
test_env_clock_mutex(void)
{
	LsmEnv	   *env = lsm_env_posix();
	uint64_t	t0 = env->now_micros(env);
	uint64_t	t1;
	LsmMutex   *m;

	env->sleep_micros(env, 2000);
	t1 = env->now_micros(env);
	CHECK(t1 >= t0 + 2000);
	CHECK(t1 < t0 + 2000000);
	env->sleep_micros(env, 0);
	m = env->mutex_create(env);
	CHECK(m != NULL);
	env->mutex_lock(m);
	env->mutex_unlock(m);
	env->mutex_destroy(m);
}

/* ---------- fault env ---------- */

static void
test_fault_crash(void)
{
	LsmEnv	   *env = fault_env_new();
	LsmStatus	st;
	char		dir[512];
	char		a[1024];
	char		b[1024];
	char		c[1024];
	char		pre[1024];
	LsmFile    *fa;
	LsmFile    *fb;
	LsmFile    *fc;
	LsmFile    *f;
	uint64_t	size;

	CHECK(env != NULL);
	lsm_status_clear(&st);
	test_tmpdir(dir, sizeof(dir), "fault");
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	snprintf(pre, sizeof(pre), "%s/pre", dir);

	/* a file written before the env saw it counts as durable */
	{
		LsmEnv	   *px = lsm_env_posix();

		CHECK_OK(px->open_file(px, pre, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &f, &st), &st);
		CHECK_OK(px->write_at(f, "0123456789", 10, 0, &st), &st);
		CHECK_OK(px->close_file(f, &st), &st);
	}

	CHECK_OK(env->open_file(env, a, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &fa, &st), &st);
	CHECK_OK(env->open_file(env, b, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &fb, &st), &st);
	CHECK_OK(env->open_file(env, c, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &fc, &st), &st);
	CHECK_OK(env->open_file(env, pre, LSM_OPEN_WRITE, &f, &st), &st);
	CHECK(fault_env_synced_size(env, pre) == 10);
	CHECK_OK(env->write_at(f, "abc", 3, 10, &st), &st);

	CHECK_OK(env->write_at(fa, "synced", 6, 0, &st), &st);
	CHECK_OK(env->sync(fa, &st), &st);
	CHECK_OK(env->write_at(fa, "+lost", 5, 6, &st), &st);
	CHECK(fault_env_synced_size(env, a) == 6);

	CHECK_OK(env->write_at(fb, "never synced", 12, 0, &st), &st);

	CHECK_OK(env->write_at(fc, "0123456789", 10, 0, &st), &st);
	CHECK_OK(env->sync(fc, &st), &st);
	CHECK_OK(env->truncate(fc, 4, &st), &st);

	/* a renamed file keeps its durable size under the new name */
	{
		char		a2[1100];

		snprintf(a2, sizeof(a2), "%s/a2", dir);
		CHECK_OK(env->rename(env, a, a2, &st), &st);
		CHECK(fault_env_synced_size(env, a) == -1);
		CHECK(fault_env_synced_size(env, a2) == 6);
		CHECK_OK(env->rename(env, a2, a, &st), &st);
	}

	CHECK(fault_env_crash(env) == 3);	/* a, b and pre lost data; c did not */

	/* old handles are dead for changes, alive for reads and close */
	CHECK(env->write_at(fa, "x", 1, 0, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, "simulated crash") != NULL && strstr(st.msg, a) != NULL);
	CHECK(env->sync(fb, &st) == LSM_IO_ERROR);
	CHECK(env->truncate(fc, 0, &st) == LSM_IO_ERROR);
	CHECK_OK(env->close_file(fa, &st), &st);
	CHECK_OK(env->close_file(fb, &st), &st);
	CHECK_OK(env->close_file(fc, &st), &st);
	CHECK_OK(env->close_file(f, &st), &st);

	CHECK_OK(env->open_file(env, a, LSM_OPEN_READ, &f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 6);
	{
		char		buf[6];

		CHECK_OK(env->read_at(f, buf, 6, 0, &st), &st);
		CHECK(memcmp(buf, "synced", 6) == 0);
	}
	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->open_file(env, b, LSM_OPEN_WRITE, &f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 0);
	/* new handles work after the crash */
	CHECK_OK(env->write_at(f, "again", 5, 0, &st), &st);
	CHECK_OK(env->sync(f, &st), &st);
	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->open_file(env, c, LSM_OPEN_READ, &f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 4);
	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->open_file(env, pre, LSM_OPEN_READ, &f, &st), &st);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 10);
	CHECK_OK(env->close_file(f, &st), &st);

	/* a second crash keeps what was synced after the first */
	CHECK(fault_env_crash(env) == 0);
	CHECK(fault_env_synced_size(env, b) == 5);

	/* unlinked and removed files are forgotten */
	CHECK_OK(env->unlink(env, b, &st), &st);
	CHECK(fault_env_synced_size(env, b) == -1);
	CHECK_OK(env->remove_tree(env, dir, &st), &st);
	CHECK(fault_env_synced_size(env, a) == -1);
	CHECK(fault_env_crash(env) == 0);
	fault_env_free(env);
}

static void
test_fault_fail_writes(void)
{
	LsmEnv	   *env = fault_env_new();
	LsmStatus	st;
	char		dir[512];
	char		p[1024];
	LsmFile    *f;
	uint64_t	size;

	CHECK(env != NULL);
	lsm_status_clear(&st);
	test_tmpdir(dir, sizeof(dir), "faultw");
	snprintf(p, sizeof(p), "%s/f", dir);
	CHECK_OK(env->open_file(env, p, LSM_OPEN_WRITE | LSM_OPEN_CREATE, &f, &st), &st);

	/* one-shot: the 3rd write-like call fails, the rest succeed */
	fault_env_fail_writes_after(env, 3, ENOSPC);
	CHECK_OK(env->write_at(f, "1", 1, 0, &st), &st);
	CHECK_OK(env->sync(f, &st), &st);
	CHECK(env->write_at(f, "2", 1, 1, &st) == LSM_NO_SPACE);
	CHECK(st.sys_errno == ENOSPC && strstr(st.msg, p) != NULL);
	CHECK_OK(env->write_at(f, "3", 1, 1, &st), &st);
	CHECK(fault_env_injected(env) == 1);

	/* a failed write wrote nothing */
	fault_env_fail_writes_after(env, 1, EIO);
	CHECK(env->write_at(f, "zzzz", 4, 2, &st) == LSM_IO_ERROR);
	CHECK(st.sys_errno == EIO);
	CHECK_OK(env->file_size(f, &size, &st), &st);
	CHECK(size == 2);

	/* sync and sync_dir count too; sticky keeps failing until healed */
	fault_env_fail_writes_from(env, 2, EIO);
	CHECK_OK(env->write_at(f, "4", 1, 2, &st), &st);
	CHECK(env->sync(f, &st) == LSM_IO_ERROR);
	CHECK(fault_env_synced_size(env, p) == 1);
	CHECK(env->sync_dir(env, dir, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, dir) != NULL);
	CHECK(env->write_at(f, "5", 1, 3, &st) == LSM_IO_ERROR);
	fault_env_heal(env);
	CHECK_OK(env->write_at(f, "5", 1, 3, &st), &st);
	CHECK_OK(env->sync(f, &st), &st);
	CHECK_OK(env->sync_dir(env, dir, &st), &st);
	CHECK(fault_env_synced_size(env, p) == 4);
	CHECK(fault_env_injected(env) == 5);

	CHECK_OK(env->close_file(f, &st), &st);
	CHECK_OK(env->remove_tree(env, dir, &st), &st);
	fault_env_free(env);
}

int
main(void)
{
	seed = test_seed("base");
	RUN(test_status);
	RUN(test_buf);
	RUN(test_slice);
	RUN(test_fixed);
	RUN(test_varint_roundtrip);
	RUN(test_varint_overlong);
	RUN(test_buf_put);
	RUN(test_crc_vectors);
	RUN(test_crc_sw_hw_agree);
	RUN(test_ikey);
	RUN(test_iter_empty);
	RUN(test_env_files);
	RUN(test_env_dirs);
	RUN(test_env_clock_mutex);
	RUN(test_fault_crash);
	RUN(test_fault_fail_writes);
	return test_finish();
}
