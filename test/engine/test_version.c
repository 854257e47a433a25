/*
 * test_version.c
 *		Version edits (encoding round trip, malformed input), the version
 *		invariants checker, obsolete-file tracking, and MANIFEST/CURRENT
 *		recovery including a torn tail, damage in the middle and rollover.
 */
#include <sys/stat.h>

#include "testutil.h"

#include "version.h"

/* A file meta with user keys [lo, hi] and sequence range [s0, s1]. */
static LsmFileMeta
mkfile(uint64_t number, int level, const char *lo, const char *hi, LsmSeq s0, LsmSeq s1)
{
	LsmFileMeta f;

	memset(&f, 0, sizeof(f));
	f.number = number;
	f.level = level;
	f.size = 1000 + number;
	lsm_ikey_append(&f.smallest, lsm_slice_str(lo), s1, LSM_KIND_PUT);
	lsm_ikey_append(&f.largest, lsm_slice_str(hi), s0, LSM_KIND_DELETE);
	f.min_seq = s0;
	f.max_seq = s1;
	f.entries = 10 * number;
	f.tombstones = number;
	return f;
}

static void
freefile(LsmFileMeta *f)
{
	lsm_buf_free(&f->smallest);
	lsm_buf_free(&f->largest);
}

static void
edit_add(LsmVersionEdit *e, uint64_t number, int level, const char *lo, const char *hi,
		 LsmSeq s0, LsmSeq s1)
{
	LsmFileMeta f = mkfile(number, level, lo, hi, s0, s1);

	lsm_edit_add_file(e, level, &f, NULL);
	freefile(&f);
}

static int
same_file(const LsmFileMeta *a, const LsmFileMeta *b)
{
	return a->number == b->number && a->level == b->level && a->size == b->size &&
		lsm_slice_eq(lsm_buf_slice(&a->smallest), lsm_buf_slice(&b->smallest)) &&
		lsm_slice_eq(lsm_buf_slice(&a->largest), lsm_buf_slice(&b->largest)) &&
		a->min_seq == b->min_seq && a->max_seq == b->max_seq &&
		a->entries == b->entries && a->tombstones == b->tombstones;
}

static void
test_edit_roundtrip(void)
{
	LsmVersionEdit e;
	LsmVersionEdit d;
	LsmBuf		enc = LSM_BUF_INIT;
	LsmBuf		enc2 = LSM_BUF_INIT;
	LsmStatus	st;

	lsm_edit_init(&e);
	lsm_edit_set_log_number(&e, 17);
	lsm_edit_set_next_file_number(&e, 1ull << 40);
	lsm_edit_set_last_seq(&e, LSM_MAX_SEQ);
	CHECK_OK(lsm_edit_delete_file(&e, 3, 99, &st), &st);
	CHECK_OK(lsm_edit_delete_file(&e, 0, 5, &st), &st);
	edit_add(&e, 12, 0, "apple", "pear", 100, 200);
	edit_add(&e, 13, 6, "", "\xff\xff", 1, 1);
	CHECK(lsm_edit_delete_file(&e, 7, 1, &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_edit_encode(&e, &enc, &st), &st);
	CHECK_OK(lsm_edit_decode(&d, lsm_buf_slice(&enc), &st), &st);
	CHECK(d.has_log_number && d.log_number == 17);
	CHECK(d.has_next_file_number && d.next_file_number == 1ull << 40);
	CHECK(d.has_last_seq && d.last_seq == LSM_MAX_SEQ);
	CHECK(d.n_deleted == 2 && d.deleted[0].level == 3 && d.deleted[0].number == 99 &&
		  d.deleted[1].level == 0 && d.deleted[1].number == 5);
	CHECK(d.n_added == 2);
	CHECK(same_file(&d.added[0], &e.added[0]));
	CHECK(same_file(&d.added[1], &e.added[1]));
	CHECK_OK(lsm_edit_encode(&d, &enc2, &st), &st);
	CHECK(lsm_slice_eq(lsm_buf_slice(&enc), lsm_buf_slice(&enc2)));

	/* an empty edit is valid and empty */
	lsm_edit_free(&d);
	CHECK_OK(lsm_edit_decode(&d, lsm_slice(NULL, 0), &st), &st);
	CHECK(!d.has_log_number && d.n_added == 0 && d.n_deleted == 0);

	lsm_edit_free(&d);
	lsm_edit_free(&e);
	lsm_buf_free(&enc);
	lsm_buf_free(&enc2);
}

static LsmCode
decode_bytes(const void *p, size_t n, LsmStatus *st)
{
	LsmVersionEdit d;
	LsmCode		rc = lsm_edit_decode(&d, lsm_slice(p, n), st);

	lsm_edit_free(&d);
	return rc;
}

static void
test_edit_malformed(void)
{
	LsmVersionEdit e;
	LsmBuf		enc = LSM_BUF_INIT;
	LsmStatus	st;
	TestRng		rng = {777};
	size_t		cut;
	uint8_t		buf[64];

	lsm_edit_init(&e);
	lsm_edit_set_log_number(&e, 3);
	edit_add(&e, 12, 1, "a", "b", 1, 2);
	CHECK_OK(lsm_edit_encode(&e, &enc, &st), &st);

	/* every proper prefix that cuts into the file record is corrupt */
	for (cut = 3; cut < enc.len; cut++)
	{
		LsmCode		rc = decode_bytes(enc.data, cut, &st);

		CHECK(rc == LSM_CORRUPTION);
		CHECK(strstr(st.msg, "malformed version edit") != NULL);
	}

	/* unknown tag */
	buf[0] = 42;
	buf[1] = 1;
	CHECK(decode_bytes(buf, 2, &st) == LSM_CORRUPTION);
	/* repeated scalar */
	buf[0] = 1;
	buf[1] = 5;
	buf[2] = 1;
	buf[3] = 6;
	CHECK(decode_bytes(buf, 4, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "repeated") != NULL);
	/* deleted file at level 9 */
	buf[0] = 4;
	buf[1] = 9;
	buf[2] = 1;
	CHECK(decode_bytes(buf, 3, &st) == LSM_CORRUPTION);
	/* overlong varint */
	memset(buf, 0xff, 12);
	buf[0] = 1;
	CHECK(decode_bytes(buf, 12, &st) == LSM_CORRUPTION);

	/* added file whose keys are too short to be internal keys */
	{
		LsmBuf		b = LSM_BUF_INIT;

		lsm_buf_put_varint32(&b, 5);
		lsm_buf_put_varint32(&b, 1);
		lsm_buf_put_varint64(&b, 7);
		lsm_buf_put_varint64(&b, 100);
		lsm_buf_put_lenprefixed(&b, lsm_slice_str("abc"));
		lsm_buf_put_lenprefixed(&b, lsm_slice_str("abd"));
		for (int i = 0; i < 4; i++)
			lsm_buf_put_varint64(&b, 1);
		CHECK(decode_bytes(b.data, b.len, &st) == LSM_CORRUPTION);
		lsm_buf_free(&b);
	}
	/* smallest above largest */
	{
		LsmVersionEdit bad;
		LsmBuf		b = LSM_BUF_INIT;

		lsm_edit_init(&bad);
		edit_add(&bad, 9, 1, "z", "a", 1, 2);
		lsm_edit_encode(&bad, &b, &st);
		CHECK(decode_bytes(b.data, b.len, &st) == LSM_CORRUPTION);
		lsm_buf_free(&b);
		lsm_edit_free(&bad);
	}

	/* random damage never crashes, and anything accepted re-encodes */
	for (int i = 0; i < 20000; i++)
	{
		LsmBuf		copy = LSM_BUF_INIT;
		LsmVersionEdit d;

		lsm_buf_set(&copy, enc.data, enc.len);
		for (int j = 0; j < 1 + (int) test_rng_below(&rng, 3); j++)
			copy.data[test_rng_below(&rng, copy.len)] ^= (uint8_t) (1 + test_rng_below(&rng, 255));
		if (lsm_edit_decode(&d, lsm_buf_slice(&copy), &st) == LSM_OK)
		{
			LsmBuf		again = LSM_BUF_INIT;

			CHECK(lsm_edit_encode(&d, &again, &st) == LSM_OK);
			lsm_buf_free(&again);
		}
		else
			CHECK(st.code == LSM_CORRUPTION);
		lsm_edit_free(&d);
		lsm_buf_free(&copy);
	}
	lsm_edit_free(&e);
	lsm_buf_free(&enc);
}

/* Apply an edit to *v (replacing it); returns the code. */
static LsmCode
apply(LsmVersion **v, LsmVersionEdit *e, LsmStatus *st)
{
	LsmVersion *nv;
	LsmCode		rc = lsm_version_apply(*v, e, &nv, st);

	if (rc == LSM_OK)
	{
		lsm_version_unref(*v);
		*v = nv;
	}
	lsm_edit_free(e);
	return rc;
}

static void
test_invariants(void)
{
	LsmVersion *v = lsm_version_new_empty();
	LsmVersionEdit e;
	LsmStatus	st;

	/* level 0: newest first, whatever order they are added in */
	lsm_edit_init(&e);
	edit_add(&e, 1, 0, "a", "m", 1, 10);
	edit_add(&e, 3, 0, "c", "z", 21, 30);
	edit_add(&e, 2, 0, "b", "k", 11, 20);
	CHECK_OK(apply(&v, &e, &st), &st);
	CHECK(v->n_files[0] == 3);
	CHECK(v->files[0][0]->number == 3 && v->files[0][2]->number == 1);

	/* deeper levels sorted by key */
	lsm_edit_init(&e);
	edit_add(&e, 10, 1, "p", "r", 1, 5);
	edit_add(&e, 11, 1, "a", "c", 1, 5);
	edit_add(&e, 12, 1, "d", "o", 1, 5);
	CHECK_OK(apply(&v, &e, &st), &st);
	CHECK(v->files[1][0]->number == 11 && v->files[1][2]->number == 10);
	CHECK(lsm_version_find_file(v, 1, lsm_slice_str("b")) == 0);
	CHECK(lsm_version_find_file(v, 1, lsm_slice_str("cc")) == 1);
	CHECK(lsm_version_find_file(v, 1, lsm_slice_str("r")) == 2);
	CHECK(lsm_version_find_file(v, 1, lsm_slice_str("s")) == 3);
	CHECK(lsm_version_max_seq(v) == 30);
	CHECK(lsm_version_level_bytes(v, 1) == 1010 + 1011 + 1012);
	CHECK_OK(lsm_version_check_invariants(v, &st), &st);

	/* level 0 sequence ranges may not overlap */
	lsm_edit_init(&e);
	edit_add(&e, 4, 0, "a", "b", 25, 40);
	CHECK(apply(&v, &e, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "level-0") != NULL);
	/* deeper files may not share a user key, even at a boundary */
	lsm_edit_init(&e);
	edit_add(&e, 5, 1, "o", "o", 1, 1);
	CHECK(apply(&v, &e, &st) == LSM_CORRUPTION);
	lsm_edit_init(&e);
	edit_add(&e, 5, 1, "c", "cz", 1, 1);
	CHECK(apply(&v, &e, &st) == LSM_CORRUPTION);
	/* one number twice, across levels */
	lsm_edit_init(&e);
	edit_add(&e, 2, 3, "a", "b", 1, 1);
	CHECK(apply(&v, &e, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "twice") != NULL);
	/* deleting what is not there */
	lsm_edit_init(&e);
	lsm_edit_delete_file(&e, 2, 10, &st);
	CHECK(apply(&v, &e, &st) == LSM_CORRUPTION);
	/* moving a file down a level keeps its number: fine */
	lsm_edit_init(&e);
	lsm_edit_delete_file(&e, 1, 10, &st);
	edit_add(&e, 10, 2, "p", "r", 1, 5);
	CHECK_OK(apply(&v, &e, &st), &st);
	CHECK(v->n_files[1] == 2 && v->n_files[2] == 1);

	/* the checker on a hand-made broken version */
	{
		LsmFileMeta *tmp = v->files[1][0];

		v->files[1][0] = v->files[1][1];
		v->files[1][1] = tmp;
		CHECK(lsm_version_check_invariants(v, &st) == LSM_CORRUPTION);
		v->files[1][1] = v->files[1][0];
		v->files[1][0] = tmp;
		CHECK_OK(lsm_version_check_invariants(v, &st), &st);
		v->files[1][0]->level = 4;
		CHECK(lsm_version_check_invariants(v, &st) == LSM_CORRUPTION);
		v->files[1][0]->level = 1;
	}
	lsm_version_unref(v);
}

static LsmVersionSet *
vs_open(LsmEnv *env, const char *dir, LsmMutex *mu)
{
	return lsm_versionset_create(env, dir, mu, NULL);
}

static int
file_exists(const char *dir, const char *name)
{
	char		p[600];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0;
}

/* Obsolete files wait until the last version listing them goes. */
static void
test_obsolete(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmMutex   *mu = env->mutex_create(env);
	char		dir[256];
	LsmVersionSet *vs;
	LsmVersionEdit e;
	LsmVersion *old;
	LsmFileMeta **files;
	int			n;
	LsmStatus	st;

	test_tmpdir(dir, sizeof(dir), "vs_obs");
	vs = vs_open(env, dir, mu);
	CHECK(vs != NULL);
	CHECK_OK(lsm_versionset_write_snapshot(vs, &st), &st);
	lsm_edit_init(&e);
	edit_add(&e, 100, 0, "a", "b", 1, 2);
	edit_add(&e, 101, 1, "a", "b", 1, 2);
	CHECK_OK(lsm_versionset_log_and_apply(vs, &e, &st), &st);
	lsm_edit_free(&e);

	env->mutex_lock(mu);
	old = lsm_versionset_current(vs);
	env->mutex_unlock(mu);

	lsm_edit_init(&e);
	lsm_edit_delete_file(&e, 0, 100, &st);
	lsm_edit_delete_file(&e, 1, 101, &st);
	edit_add(&e, 101, 2, "a", "b", 1, 2);	/* moved, not removed */
	CHECK_OK(lsm_versionset_log_and_apply(vs, &e, &st), &st);
	lsm_edit_free(&e);

	env->mutex_lock(mu);
	CHECK(vs->n_obsolete == 0);
	CHECK(lsm_versionset_file_is_live(vs, 100));
	lsm_version_unref(old);
	CHECK(!lsm_versionset_file_is_live(vs, 100));
	CHECK(lsm_versionset_file_is_live(vs, 101));
	lsm_versionset_take_obsolete(vs, &files, &n);
	env->mutex_unlock(mu);
	CHECK(n == 1 && files[0]->number == 100);
	lsm_versionset_delete_files(vs, files, n);
	lsm_versionset_destroy(vs);
	env->mutex_destroy(mu);
	test_rmtree(dir);
}

/* Build a set with a few edits; return the file numbers expected. */
static int
fill_set(LsmVersionSet *vs, int edits, LsmStatus *st)
{
	for (int i = 0; i < edits; i++)
	{
		LsmVersionEdit e;
		char		lo[16];
		char		hi[16];

		lsm_edit_init(&e);
		snprintf(lo, sizeof(lo), "k%04d", i * 10);
		snprintf(hi, sizeof(hi), "k%04d", i * 10 + 5);
		edit_add(&e, lsm_versionset_new_file_number(vs), 0, lo, hi,
				 (LsmSeq) i * 100 + 1, (LsmSeq) i * 100 + 50);
		lsm_edit_set_last_seq(&e, (LsmSeq) i * 100 + 50);
		lsm_edit_set_log_number(&e, (uint64_t) i + 1);
		CHECK_RET(lsm_versionset_log_and_apply(vs, &e, st) == LSM_OK, 0);
		lsm_edit_free(&e);
	}
	return 1;
}

static char *
manifest_path(LsmVersionSet *vs, char *buf)
{
	lsm_file_path(buf, vs->dir, LSM_FILE_MANIFEST, vs->manifest_number);
	return buf;
}

static void
test_manifest_recovery(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmMutex   *mu = env->mutex_create(env);
	char		dir[256];
	char		path[LSM_PATH_MAX];
	LsmVersionSet *vs;
	LsmStatus	st;
	struct stat sb;
	uint64_t	first_manifest;

	test_tmpdir(dir, sizeof(dir), "vs_rec");

	/* no CURRENT: a new database */
	vs = vs_open(env, dir, mu);
	CHECK(lsm_versionset_recover(vs, &st) == LSM_NOT_FOUND);
	CHECK_OK(lsm_versionset_write_snapshot(vs, &st), &st);
	first_manifest = vs->manifest_number;
	CHECK(fill_set(vs, 5, &st));
	lsm_versionset_destroy(vs);
	CHECK(file_exists(dir, "CURRENT"));
	CHECK(!file_exists(dir, "CURRENT.tmp"));

	/* clean recovery */
	vs = vs_open(env, dir, mu);
	CHECK_OK(lsm_versionset_recover(vs, &st), &st);
	CHECK(vs->current->n_files[0] == 5);
	CHECK(vs->log_number == 5);
	CHECK(vs->last_seq == 450);
	CHECK(vs->next_file_number > vs->current->files[0][0]->number);
	CHECK(vs->manifest_number == first_manifest);
	CHECK_OK(lsm_version_check_invariants(vs->current, &st), &st);
	/* a new MANIFEST replaces the old one */
	CHECK_OK(lsm_versionset_write_snapshot(vs, &st), &st);
	CHECK(vs->manifest_number != first_manifest);
	lsm_file_path(path, dir, LSM_FILE_MANIFEST, first_manifest);
	CHECK(stat(path, &sb) != 0);
	lsm_versionset_destroy(vs);

	/* the new MANIFEST alone holds everything */
	vs = vs_open(env, dir, mu);
	CHECK_OK(lsm_versionset_recover(vs, &st), &st);
	CHECK(vs->current->n_files[0] == 5);
	CHECK(vs->last_seq == 450);
	lsm_versionset_destroy(vs);
	test_rmtree(dir);
	env->mutex_destroy(mu);
}

/*
 * A MANIFEST cut inside its last record loses that edit only; damage to
 * an earlier record is corruption; a MANIFEST without its snapshot is
 * corruption, and so is a CURRENT naming nothing.
 */
static void
test_manifest_damage(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmMutex   *mu = env->mutex_create(env);
	char		dir[256];
	char		path[LSM_PATH_MAX];
	LsmVersionSet *vs;
	LsmStatus	st;
	struct stat sb;

	test_tmpdir(dir, sizeof(dir), "vs_dmg");
	vs = vs_open(env, dir, mu);
	CHECK(lsm_versionset_recover(vs, &st) == LSM_NOT_FOUND);
	CHECK_OK(lsm_versionset_write_snapshot(vs, &st), &st);
	CHECK(fill_set(vs, 4, &st));
	manifest_path(vs, path);
	lsm_versionset_destroy(vs);

	CHECK(stat(path, &sb) == 0);

	/* garbage appended after the last good record is a torn tail */
	{
		FILE	   *f = fopen(path, "ab");

		fwrite("\x01\x02\x03\x04\xff\x00\x00\x00\x02garbage", 1, 16, f);
		fclose(f);
	}
	vs = vs_open(env, dir, mu);
	CHECK_OK(lsm_versionset_recover(vs, &st), &st);
	CHECK(vs->current->n_files[0] == 4);
	lsm_versionset_destroy(vs);

	/* torn tail: cut 5 bytes off the last record */
	CHECK(truncate(path, sb.st_size - 5) == 0);
	vs = vs_open(env, dir, mu);
	CHECK_OK(lsm_versionset_recover(vs, &st), &st);
	CHECK(vs->current->n_files[0] == 3);
	CHECK(vs->last_seq == 250);
	lsm_versionset_destroy(vs);

	/* a flipped byte in the first record, with records after it */
	{
		FILE	   *f = fopen(path, "r+b");
		int			c;

		fseek(f, 12, SEEK_SET);
		c = fgetc(f);
		fseek(f, 12, SEEK_SET);
		fputc(c ^ 0x40, f);
		fclose(f);
	}
	vs = vs_open(env, dir, mu);
	CHECK(lsm_versionset_recover(vs, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "MANIFEST") != NULL);
	lsm_versionset_destroy(vs);

	/* an empty MANIFEST has no snapshot */
	CHECK(truncate(path, 0) == 0);
	vs = vs_open(env, dir, mu);
	CHECK(lsm_versionset_recover(vs, &st) == LSM_CORRUPTION);
	lsm_versionset_destroy(vs);

	/* CURRENT naming a missing MANIFEST; CURRENT without a newline */
	{
		char		cur[600];
		FILE	   *f;

		snprintf(cur, sizeof(cur), "%s/CURRENT", dir);
		f = fopen(cur, "w");
		fputs("MANIFEST-999999\n", f);
		fclose(f);
		vs = vs_open(env, dir, mu);
		CHECK(lsm_versionset_recover(vs, &st) == LSM_CORRUPTION);
		lsm_versionset_destroy(vs);
		f = fopen(cur, "w");
		fputs("MANIFEST-000001", f);
		fclose(f);
		vs = vs_open(env, dir, mu);
		CHECK(lsm_versionset_recover(vs, &st) == LSM_CORRUPTION);
		lsm_versionset_destroy(vs);
	}
	test_rmtree(dir);
	env->mutex_destroy(mu);
}

/* A small rollover threshold starts new MANIFESTs; recovery sees it all. */
static void
test_manifest_rollover(void)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmMutex   *mu = env->mutex_create(env);
	char		dir[256];
	LsmVersionSet *vs;
	LsmStatus	st;
	uint64_t	first;

	test_tmpdir(dir, sizeof(dir), "vs_roll");
	vs = vs_open(env, dir, mu);
	vs->manifest_rollover = 300;
	CHECK_OK(lsm_versionset_write_snapshot(vs, &st), &st);
	first = vs->manifest_number;
	CHECK(fill_set(vs, 40, &st));
	CHECK(vs->manifest_number != first);
	lsm_versionset_destroy(vs);

	vs = vs_open(env, dir, mu);
	CHECK_OK(lsm_versionset_recover(vs, &st), &st);
	CHECK(vs->current->n_files[0] == 40);
	CHECK(vs->last_seq == 3950);
	lsm_versionset_destroy(vs);
	test_rmtree(dir);
	env->mutex_destroy(mu);
}

static void
test_file_names(void)
{
	char		p[LSM_PATH_MAX];
	LsmFileType t;
	uint64_t	n;

	CHECK(lsm_file_path(p, "/d", LSM_FILE_TABLE, 7) && strcmp(p, "/d/000007.sst") == 0);
	CHECK(lsm_file_path(p, "/d", LSM_FILE_LOG, 1234567) && strcmp(p, "/d/1234567.log") == 0);
	CHECK(lsm_file_path(p, "/d", LSM_FILE_MANIFEST, 3) && strcmp(p, "/d/MANIFEST-000003") == 0);
	CHECK(lsm_parse_file_name("000007.sst", &t, &n) && t == LSM_FILE_TABLE && n == 7);
	CHECK(lsm_parse_file_name("12.log", &t, &n) && t == LSM_FILE_LOG && n == 12);
	CHECK(lsm_parse_file_name("MANIFEST-000003", &t, &n) && t == LSM_FILE_MANIFEST && n == 3);
	CHECK(lsm_parse_file_name("CURRENT", &t, &n) && t == LSM_FILE_CURRENT);
	CHECK(lsm_parse_file_name("CURRENT.tmp", &t, &n) && t == LSM_FILE_TEMP);
	CHECK(!lsm_parse_file_name(".sst", &t, &n));
	CHECK(!lsm_parse_file_name("x1.sst", &t, &n));
	CHECK(!lsm_parse_file_name("MANIFEST-", &t, &n));
	CHECK(!lsm_parse_file_name("99999999999999999999999.log", &t, &n));
	CHECK(!lsm_parse_file_name("LOCK", &t, &n));
}

int
main(void)
{
	RUN(test_file_names);
	RUN(test_edit_roundtrip);
	RUN(test_edit_malformed);
	RUN(test_invariants);
	RUN(test_obsolete);
	RUN(test_manifest_recovery);
	RUN(test_manifest_damage);
	RUN(test_manifest_rollover);
	return test_finish();
}
