/*
 * blob.c
 *		Blob files: writing, reading through a per-database registry of
 *		open readers, and deciding which may be deleted (blob.h).
 *
 * Readers of blob files are opened on first use and kept in a small hash
 * table under blob_mu, a leaf lock: nothing else is taken while it is
 * held.  A reader found there stays valid while the caller's pinned
 * version references its blob file, since the file is forgotten only
 * after no version does.
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "db_internal.h"
#include "lsm_alloc.h"

#define BLOB_KEY_LEN 8

struct LsmBlobReader
{
	uint64_t	number;
	LsmSst	   *table;
	struct LsmBlobReader *next;
};

/*
 * References
 */

bool
lsm_blob_ref_encode(LsmBuf *out, const LsmBlobRef *r)
{
	return lsm_buf_put_varint64(out, r->number) &&
		lsm_buf_put_varint64(out, r->ordinal) &&
		lsm_buf_put_varint32(out, r->len);
}

bool
lsm_blob_ref_decode(LsmSlice v, LsmBlobRef *r)
{
	const uint8_t *p = v.data;
	const uint8_t *limit = v.data + v.len;

	p = lsm_decode_varint64(p, limit, &r->number);
	if (p != NULL)
		p = lsm_decode_varint64(p, limit, &r->ordinal);
	if (p != NULL)
		p = lsm_decode_varint32(p, limit, &r->len);
	return p != NULL && p == limit && r->number != 0;
}

/* The internal key of ordinal in a blob file. */
static void
blob_key(uint8_t *out, uint64_t ordinal)
{
	int			i;

	for (i = 0; i < BLOB_KEY_LEN; i++)
		out[i] = (uint8_t) (ordinal >> (8 * (BLOB_KEY_LEN - 1 - i)));
	lsm_put_fixed64(out + BLOB_KEY_LEN, lsm_pack_seq_kind(0, LSM_KIND_PUT));
}

/*
 * Uses
 */

const LsmBlobUse *
lsm_blob_use_find(const LsmBlobUse *u, int n, uint64_t number)
{
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (u[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && u[lo].number == number ? &u[lo] : NULL;
}

bool
lsm_blob_uses_add(LsmBlobUses *us, uint64_t number, uint64_t bytes, uint64_t total,
				  uint64_t file_size)
{
	int			lo = 0;
	int			hi = us->n;

	/* references come in runs of one blob file: try the last one first */
	if (us->n > 0 && us->u[us->n - 1].number == number)
		lo = us->n - 1;
	else
	{
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (us->u[mid].number < number)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	if (lo == us->n || us->u[lo].number != number)
	{
		if (us->n == us->cap)
		{
			int			cap = us->cap ? us->cap * 2 : 8;
			LsmBlobUse *p = lsm_realloc(us->u, (size_t) cap * sizeof(LsmBlobUse));

			if (p == NULL)
				return false;
			us->u = p;
			us->cap = cap;
		}
		memmove(us->u + lo + 1, us->u + lo, (size_t) (us->n - lo) * sizeof(LsmBlobUse));
		us->u[lo].number = number;
		us->u[lo].bytes = 0;
		us->u[lo].total = total;
		us->u[lo].file_size = file_size;
		us->n++;
	}
	us->u[lo].bytes += bytes;
	return true;
}

void
lsm_blob_uses_set_total(LsmBlobUses *us, uint64_t number, uint64_t total, uint64_t file_size)
{
	int			i;

	for (i = 0; i < us->n; i++)
		if (us->u[i].number == number)
		{
			us->u[i].total = total;
			us->u[i].file_size = file_size;
		}
}

void
lsm_blob_uses_free(LsmBlobUses *us)
{
	lsm_free(us->u);
	memset(us, 0, sizeof(*us));
}

/*
 * Writing
 */

LsmCode
lsm_blob_writer_open(LsmDb *db, LsmCompression codec, LsmBlobWriter *w, LsmStatus *st)
{
	char		path[LSM_PATH_MAX];
	LsmSstOptions topts;

	memset(w, 0, sizeof(*w));
	w->db = db;
	w->number = lsm_versionset_new_file_number(db->vs);
	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, w->number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	topts = db->topts;
	topts.compression = codec;
	topts.bloom_bits_per_key = 0;	/* read by ordinal, never probed */
	return lsm_sst_builder_open(db->env, path, &topts, &w->b, st);
}

LsmCode
lsm_blob_writer_add(LsmBlobWriter *w, LsmSlice value, LsmBlobRef *ref, LsmStatus *st)
{
	uint8_t		key[BLOB_KEY_LEN + LSM_IKEY_TRAILER];
	LsmCode		rc;

	blob_key(key, w->next_ordinal);
	rc = lsm_sst_builder_add(w->b, lsm_slice(key, sizeof(key)), value, st);
	if (rc != LSM_OK)
		return rc;
	ref->number = w->number;
	ref->ordinal = w->next_ordinal++;
	ref->len = (uint32_t) value.len;
	w->bytes += value.len;
	return LSM_OK;
}

LsmCode
lsm_blob_writer_finish(LsmBlobWriter *w, LsmStatus *st)
{
	LsmSstProps props;
	LsmCode		rc;

	memset(&props, 0, sizeof(props));
	rc = lsm_sst_builder_finish(w->b, &props, st);
	w->b = NULL;
	if (rc != LSM_OK)
		return rc;
	w->file_bytes = props.file_bytes;
	lsm_sst_props_free(&props);
	return w->db->env->sync_dir(w->db->env, w->db->dir, st);
}

void
lsm_blob_writer_abandon(LsmBlobWriter *w)
{
	if (w->b != NULL)
		lsm_sst_builder_abandon(w->b);
	w->b = NULL;
}

/*
 * Reading
 */

static inline uint32_t
reader_slot(uint64_t number)
{
	return (uint32_t) ((number * 0x9E3779B97F4A7C15ULL) >> 32) % LSM_BLOB_READERS_HASH;
}

/* The reader of blob file number, opened on first use. */
static LsmCode
blob_table(LsmDb *db, uint64_t number, LsmSst **t, LsmStatus *st)
{
	uint32_t	h = reader_slot(number);
	struct LsmBlobReader *r;
	char		path[LSM_PATH_MAX];
	LsmSst	   *mine;
	LsmCode		rc;

	db->env->mutex_lock(db->blob_mu);
	for (r = db->blob_readers[h]; r != NULL; r = r->next)
		if (r->number == number)
			break;
	db->env->mutex_unlock(db->blob_mu);
	if (r != NULL)
	{
		*t = r->table;
		return LSM_OK;
	}
	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "path of blob file %llu in \"%s\" is too long",
							  (unsigned long long) number, db->dir);
	/* opened without the lock, as tables are: a slow open blocks no one */
	rc = lsm_sst_open(db->env, path, number, db->cache, &mine, st);
	if (rc != LSM_OK)
		return rc;
	db->env->mutex_lock(db->blob_mu);
	for (r = db->blob_readers[h]; r != NULL; r = r->next)
		if (r->number == number)
			break;
	if (r == NULL)
	{
		r = lsm_malloc(sizeof(*r));
		if (r != NULL)
		{
			r->number = number;
			r->table = mine;
			r->next = db->blob_readers[h];
			db->blob_readers[h] = r;
			mine = NULL;
		}
	}
	db->env->mutex_unlock(db->blob_mu);
	if (r == NULL)
	{
		lsm_sst_close(mine);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening a blob file");
	}
	if (mine != NULL)
		lsm_sst_close(mine);	/* another thread opened it first */
	*t = r->table;
	return LSM_OK;
}

typedef struct BlobGet
{
	LsmSlice	key;
	LsmBuf	   *out;
	bool		found;
	bool		nomem;
} BlobGet;

static bool
blob_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	BlobGet    *g = arg;

	if (lsm_slice_eq(ikey, g->key))
	{
		g->found = true;
		if (!lsm_buf_make_private(g->out, value.len + 1) ||
			!lsm_buf_set(g->out, value.data, value.len))
			g->nomem = true;
	}
	return false;
}

LsmCode
lsm_blob_read(LsmDb *db, LsmSlice ref, LsmBuf *out, LsmReadStats *stats,
			  LsmStatus *st)
{
	uint8_t		key[BLOB_KEY_LEN + LSM_IKEY_TRAILER];
	LsmBlobRef	r;
	BlobGet		g;
	LsmSst	   *t;
	LsmCode		rc;

	if (!lsm_blob_ref_decode(ref, &r))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "malformed blob reference of %zu bytes in \"%s\"",
							  ref.len, db->dir);
	rc = blob_table(db, r.number, &t, st);
	if (rc != LSM_OK)
		return rc;
	blob_key(key, r.ordinal);
	memset(&g, 0, sizeof(g));
	g.key = lsm_slice(key, sizeof(key));
	g.out = out;
	rc = lsm_sst_get(t, g.key, blob_visit, &g, stats, st);
	if (rc != LSM_OK)
		return rc;
	if (g.nomem)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a blob");
	if (!g.found || out->len != r.len)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "blob file %llu of \"%s\" lacks value %llu of %u bytes",
							  (unsigned long long) r.number, db->dir,
							  (unsigned long long) r.ordinal, (unsigned) r.len);
	LSM_STAT_ADD(db, blob_reads, 1);
	return LSM_OK;
}

void
lsm_blob_forget(LsmDb *db, uint64_t number)
{
	uint32_t	h = reader_slot(number);
	struct LsmBlobReader **pp;
	struct LsmBlobReader *r = NULL;

	db->env->mutex_lock(db->blob_mu);
	for (pp = &db->blob_readers[h]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->number == number)
		{
			r = *pp;
			*pp = r->next;
			break;
		}
	db->env->mutex_unlock(db->blob_mu);
	if (r != NULL)
	{
		lsm_sst_close(r->table);
		lsm_free(r);
	}
	if (db->cache != NULL)
		lsm_block_cache_erase_file(db->cache, number);
}

void
lsm_blob_close_all(LsmDb *db)
{
	int			h;

	for (h = 0; h < LSM_BLOB_READERS_HASH; h++)
		while (db->blob_readers[h] != NULL)
		{
			struct LsmBlobReader *r = db->blob_readers[h];

			db->blob_readers[h] = r->next;
			lsm_sst_close(r->table);
			lsm_free(r);
		}
}

/*
 * Deleting
 */

/* Mark the candidates (a sorted list) that any of n metas references. */
static void
mark_referenced(const LsmBlobUses *cand, bool *kept, LsmFileMeta *const *files, int n)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
		for (j = 0; j < files[i]->n_blobs; j++)
		{
			const LsmBlobUse *u = lsm_blob_use_find(cand->u, cand->n, files[i]->blobs[j].number);

			if (u != NULL)
				kept[u - cand->u] = true;
		}
}

void
lsm_blob_unreferenced_locked(LsmDb *db, LsmFileMeta *const *files, int n,
							 uint64_t **out, int *n_out)
{
	LsmBlobUses cand;
	LsmFileMeta *const *ob;
	LsmVersion *v;
	uint64_t   *res = NULL;
	bool	   *kept = NULL;
	int			n_ob;
	int			level;
	int			i;
	int			j;
	int			k = 0;

	*out = NULL;
	*n_out = 0;
	memset(&cand, 0, sizeof(cand));
	for (i = 0; i < n; i++)
		for (j = 0; j < files[i]->n_blobs; j++)
			if (!lsm_blob_uses_add(&cand, files[i]->blobs[j].number, 0, 0, 0))
				goto done;		/* left on disk: the next open removes them */
	if (cand.n == 0)
		goto done;
	kept = lsm_calloc((size_t) cand.n, sizeof(bool));
	res = lsm_malloc((size_t) cand.n * sizeof(uint64_t));
	if (kept == NULL || res == NULL)
	{
		lsm_free(res);
		res = NULL;
		goto done;
	}
	for (v = lsm_versionset_live_head(db->vs); v != NULL; v = lsm_versionset_live_next(db->vs, v))
		for (level = 0; level < LSM_NUM_LEVELS; level++)
			mark_referenced(&cand, kept, v->files[level], v->n_files[level]);
	mark_referenced(&cand, kept, db->deferred, db->n_deferred);
	lsm_versionset_obsolete_list(db->vs, &ob, &n_ob);
	mark_referenced(&cand, kept, ob, n_ob);
	for (i = 0; i < cand.n; i++)
		if (!kept[i])
			res[k++] = cand.u[i].number;
done:
	lsm_free(kept);
	lsm_blob_uses_free(&cand);
	*out = res;
	*n_out = k;
}

void
lsm_blob_delete(LsmDb *db, const uint64_t *numbers, int n)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < n; i++)
	{
		lsm_blob_forget(db, numbers[i]);
		if (lsm_file_path(path, db->dir, LSM_FILE_BLOB, numbers[i]))
			db->env->unlink(db->env, path, NULL);
	}
}

bool
lsm_blob_version_uses(const LsmVersion *v, LsmBlobUses *out)
{
	int			level;
	int			i;
	int			j;

	memset(out, 0, sizeof(*out));
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
		{
			const LsmFileMeta *f = v->files[level][i];

			for (j = 0; j < f->n_blobs; j++)
				if (!lsm_blob_uses_add(out, f->blobs[j].number, f->blobs[j].bytes,
									   f->blobs[j].total, f->blobs[j].file_size))
				{
					lsm_blob_uses_free(out);
					return false;
				}
		}
	return true;
}

void
lsm_blob_count_written(LsmDb *db, const LsmBlobWriter *w)
{
	LSM_STAT_ADD(db, blob_files_written, 1);
	LSM_STAT_ADD(db, bytes_blob_written, w->file_bytes);
}

LsmCode
lsm_blob_verify(LsmDb *db, const LsmBlobUse *u, LsmVerifyResult *out, LsmStatus *st)
{
	char		path[LSM_PATH_MAX];
	LsmSst	   *t;
	LsmCode		rc;
	uint64_t	number = u->number;

	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	/* a reader of its own: verification must see the disk, not the cache */
	rc = lsm_sst_open(db->env, path, number, NULL, &t, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_table_verify_counted(t, out, st);
	/* a blob file swapped for another could still match some lengths */
	if (rc == LSM_OK && (lsm_sst_props(t)->raw_value_bytes != u->total ||
						 lsm_sst_props(t)->file_bytes != u->file_size))
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"blob file \"%s\" holds %llu value bytes in %llu bytes, its tables say %llu in %llu",
							path, (unsigned long long) lsm_sst_props(t)->raw_value_bytes,
							(unsigned long long) lsm_sst_props(t)->file_bytes,
							(unsigned long long) u->total, (unsigned long long) u->file_size);
	lsm_sst_close(t);
	return rc;
}
