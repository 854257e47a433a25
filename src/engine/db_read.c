/*
 * db_read.c
 *		Reads: point gets and the database iterator, both over a pinned
 *		superversion and read point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "blob.h"
#include "db_internal.h"
#include "iter_merge.h"

/* Keys up to this size are turned into seek keys without a malloc. */
#define GET_STACK_KEY 256

/*
 * Point get
 */

typedef struct GetCtx
{
	LsmSlice	key;			/* user key */
	LsmBuf	   *out;			/* caller's buffer */
	bool		done;			/* met a PUT or DELETE */
	bool		found_put;
	bool		seen;			/* the current source had an entry of key */
	LsmSeq		newest;			/* seq of the first entry of key met, 0 = none */
	bool		has_base;
	LsmBuf		base;
	bool		blob;			/* the PUT met is a blob reference, in blob_ref */
	LsmBuf		blob_ref;
	LsmBuf		ops;			/* operands, newest first, back to back */
	size_t	   *op_len;
	int			n_ops;
	int			cap_ops;
	LsmCode		err;			/* LSM_NO_MEMORY or LSM_CORRUPTION from visit */
	LsmReadCounters tally;		/* this get's; added to the counters at the end */
} GetCtx;

/*
 * get_visit
 *		Consume one entry at or after the seek key; false to stop the
 *		source.  The first PUT or DELETE decides the key; MERGE operands
 *		above it are collected, newest first.
 */
static bool
get_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	GetCtx	   *g = arg;
	LsmParsedKey pk;

	if (!lsm_ikey_parse(ikey, &pk))
	{
		g->err = LSM_CORRUPTION;
		return false;
	}
	if (!lsm_slice_eq(pk.user_key, g->key))
		return false;
	g->seen = true;
	if (g->newest == 0)
		g->newest = pk.seq;
	switch (pk.kind)
	{
		case LSM_KIND_PUT:
			/* the caller's buffer: a big value needs no room in a shared heap */
			if ((g->n_ops == 0 && !lsm_buf_make_private(g->out, value.len + 1)) ||
				!lsm_buf_set(g->n_ops > 0 ? &g->base : g->out, value.data, value.len))
				g->err = LSM_NO_MEMORY;
			g->has_base = g->n_ops > 0;
			g->found_put = true;
			g->done = true;
			return false;
		case LSM_KIND_BLOB:
			/* read once the search is over: no I/O inside a table's visit */
			if (!lsm_buf_set(&g->blob_ref, value.data, value.len))
				g->err = LSM_NO_MEMORY;
			g->blob = true;
			g->has_base = g->n_ops > 0;
			g->found_put = true;
			g->done = true;
			return false;
		case LSM_KIND_DELETE:
			g->done = true;
			return false;
		case LSM_KIND_MERGE:
			if (g->n_ops == g->cap_ops)
			{
				int			cap = g->cap_ops ? g->cap_ops * 2 : 8;
				size_t	   *n = lsm_realloc(g->op_len, (size_t) cap * sizeof(size_t));

				if (n == NULL)
				{
					g->err = LSM_NO_MEMORY;
					return false;
				}
				g->op_len = n;
				g->cap_ops = cap;
			}
			if (!lsm_buf_append(&g->ops, value.data, value.len))
			{
				g->err = LSM_NO_MEMORY;
				return false;
			}
			g->op_len[g->n_ops++] = value.len;
			return true;
	}
	return false;
}

/* Search a memtable; false when the key is decided or an error occurred. */
static bool
get_from_memtable(GetCtx *g, LsmMemTable *mt, LsmSlice target)
{
	LsmMemIter	mi;

	lsm_memtable_iter_init(&mi, mt);
	for (lsm_memtable_iter_seek_key(&mi, target); lsm_iter_valid(&mi.base);
		 lsm_iter_next(&mi.base))
	{
		if (!get_visit(g, lsm_iter_key(&mi.base), lsm_iter_value(&mi.base)))
			break;
	}
	return !g->done && g->err == LSM_OK;
}

/*
 * get_from_table
 *		Search one file, counting what the probe cost.
 */
static LsmCode
get_from_table(LsmDb *db, GetCtx *g, LsmFileMeta *f, LsmSlice target, bool fill_cache,
			   LsmStatus *st)
{
	LsmReadStats rs;
	LsmSst   *t;
	LsmCode		rc;

	rc = lsm_versionset_table(db->vs, f, &t, st);
	if (rc != LSM_OK)
		return rc;
	memset(&rs, 0, sizeof(rs));
	g->seen = false;
	rc = lsm_sst_get(t, target, get_visit, g, &rs, st);
	g->tally.block_reads += rs.block_reads;
	g->tally.block_cache_hits += rs.block_cache_hits;
	if (rs.bloom_useful > 0)
		g->tally.bloom_useful += rs.bloom_useful;
	else
	{
		g->tally.sst_probes++;
		if (!g->seen)
			g->tally.bloom_not_useful++;
	}
	if (rc == LSM_OK && g->err == LSM_CORRUPTION)
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"malformed internal key in table %llu of \"%s\"",
							(unsigned long long) f->number, db->dir);
	return rc;
}

/*
 * read_point
 *		The sequence number a read with ro sees: the lowest of the latest
 *		(read with the superversion pin), the snapshot's and read_seq.
 */
static LsmSeq
read_point(const LsmReadOptions *ro, LsmSeq latest)
{
	LsmSeq		seq = latest;

	if (ro->snapshot != NULL && ro->snapshot->seq < seq)
		seq = ro->snapshot->seq;
	if (ro->read_seq != 0 && ro->read_seq < seq)
		seq = ro->read_seq;
	return seq;
}

/* Add to a slot's counter: only its owner writes it, so no lock prefix. */
#define SLOT_ADD(s, field, n) \
	__atomic_store_n(&(s)->field, __atomic_load_n(&(s)->field, __ATOMIC_RELAXED) + (n), \
					 __ATOMIC_RELAXED)

/*
 * count_get
 *		Add what one get did to the caller's counters, and to the
 *		database's: in the thread's reader slot when it has one (summed by
 *		lsm_db_stats), so that concurrent gets do not bounce a shared cache
 *		line, else with atomic adds.
 */
static void
count_get(LsmDb *db, LsmReaderSlot *slot, const LsmReadOptions *ro,
		  const LsmReadCounters *t)
{
	if (ro->counters != NULL)
	{
		LsmReadCounters *c = ro->counters;

		c->gets += t->gets;
		c->memtable_hits += t->memtable_hits;
		c->sst_probes += t->sst_probes;
		c->bloom_useful += t->bloom_useful;
		c->bloom_not_useful += t->bloom_not_useful;
		c->block_cache_hits += t->block_cache_hits;
		c->block_reads += t->block_reads;
		c->merge_operands += t->merge_operands;
	}
	if (slot != NULL)
	{
		SLOT_ADD(slot, gets, t->gets);
		if (t->memtable_hits)
			SLOT_ADD(slot, memtable_hits, t->memtable_hits);
		if (t->sst_probes)
			SLOT_ADD(slot, sst_probes, t->sst_probes);
		if (t->bloom_useful)
			SLOT_ADD(slot, bloom_useful, t->bloom_useful);
		if (t->bloom_not_useful)
			SLOT_ADD(slot, bloom_not_useful, t->bloom_not_useful);
		if (t->block_cache_hits)
			SLOT_ADD(slot, block_cache_hits, t->block_cache_hits);
		if (t->block_reads)
			SLOT_ADD(slot, block_reads, t->block_reads);
		return;
	}
	LSM_STAT_ADD(db, gets, t->gets);
	if (t->memtable_hits)
		LSM_STAT_ADD(db, memtable_hits, t->memtable_hits);
	if (t->sst_probes)
		LSM_STAT_ADD(db, sst_probes, t->sst_probes);
	if (t->bloom_useful)
		LSM_STAT_ADD(db, bloom_useful, t->bloom_useful);
	if (t->bloom_not_useful)
		LSM_STAT_ADD(db, bloom_not_useful, t->bloom_not_useful);
	if (t->block_cache_hits)
		LSM_STAT_ADD(db, block_cache_hits, t->block_cache_hits);
	if (t->block_reads)
		LSM_STAT_ADD(db, block_reads, t->block_reads);
}

/*
 * lsm_db_get
 *		Look the key up in every source from newest to oldest, stopping at
 *		the first PUT or DELETE; merge operands met on the way are folded
 *		over it at the end.
 *
 * A thread with a reader slot pins its superversion there without mu
 * (lsm_db_slot_pin); others take mu for a moment.  Counters go to the slot
 * too (count_get).
 */
/*
 * get_in
 *		The body of lsm_db_get: look the key up at seq in sv (pinned by the
 *		caller, or stable because the caller holds write_mu), adding what it
 *		did to *tally.
 */
static LsmCode
get_in(LsmDb *db, LsmSuperVersion *sv, LsmSeq seq, const LsmReadOptions *ro,
	   LsmSlice key, LsmBuf *value, LsmReadCounters *tally, LsmStatus *st)
{
	LsmVersion *v;
	GetCtx		g;
	uint8_t		stack_key[GET_STACK_KEY];
	LsmBuf		heap_key = LSM_BUF_INIT;
	LsmSlice	target;
	LsmCode		rc = LSM_OK;
	bool		in_memtable = false;
	int			level;
	int			i;

	if (ro->found_seq != NULL)
		*ro->found_seq = 0;
	if (key.len + LSM_IKEY_TRAILER <= sizeof(stack_key))
	{
		if (key.len > 0)
			memcpy(stack_key, key.data, key.len);
		lsm_put_fixed64(stack_key + key.len, lsm_pack_seq_kind(seq, LSM_KIND_FOR_SEEK));
		target = lsm_slice(stack_key, key.len + LSM_IKEY_TRAILER);
	}
	else
	{
		if (!lsm_ikey_append(&heap_key, key, seq, LSM_KIND_FOR_SEEK))
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in get");
		target = lsm_buf_slice(&heap_key);
	}

	memset(&g, 0, sizeof(g));
	g.key = key;
	g.out = value;
	g.tally.gets = 1;

	/* memtables, newest first */
	if (get_from_memtable(&g, sv->mem->mt, target))
	{
		for (i = 0; i < sv->n_imm; i++)
			if (!get_from_memtable(&g, sv->imm[i]->mt, target))
				break;
	}
	in_memtable = g.done;
	if (g.err != LSM_OK)
	{
		rc = lsm_status_set(st, g.err, 0, "%s while reading a memtable of \"%s\"",
							g.err == LSM_NO_MEMORY ? "out of memory" : "malformed key",
							db->dir);
		goto done;
	}

	/* level 0, newest first: any file whose key range covers the key */
	v = sv->version;
	for (i = 0; !g.done && i < v->n_files[0]; i++)
	{
		LsmFileMeta *f = v->files[0][i];

		if (lsm_slice_cmp(key, lsm_file_smallest_user_key(f)) < 0 ||
			lsm_slice_cmp(key, lsm_file_largest_user_key(f)) > 0)
			continue;
		rc = get_from_table(db, &g, f, target, ro->fill_cache, st);
		if (rc != LSM_OK)
			goto done;
		if (g.err != LSM_OK)
			break;
	}

	/* deeper levels: at most one file each */
	for (level = 1; !g.done && g.err == LSM_OK && level < LSM_NUM_LEVELS; level++)
	{
		LsmFileMeta *f;

		i = lsm_version_find_file(v, level, key);
		if (i >= v->n_files[level])
			continue;
		f = v->files[level][i];
		if (lsm_slice_cmp(key, lsm_file_smallest_user_key(f)) < 0)
			continue;
		rc = get_from_table(db, &g, f, target, ro->fill_cache, st);
		if (rc != LSM_OK)
			goto done;
	}
	if (g.err != LSM_OK)
	{
		rc = lsm_status_set(st, g.err, 0, "out of memory in get from \"%s\"", db->dir);
		goto done;
	}
	if (g.blob)
	{
		LsmReadStats rs;

		memset(&rs, 0, sizeof(rs));
		rc = lsm_blob_read(db, lsm_buf_slice(&g.blob_ref), g.n_ops > 0 ? &g.base : value,
						   &rs, st);
		g.tally.block_reads += rs.block_reads;
		g.tally.block_cache_hits += rs.block_cache_hits;
		if (rc != LSM_OK)
			goto done;
	}

	if (g.n_ops > 0)
	{
		LsmSlice   *ops = lsm_malloc((size_t) g.n_ops * sizeof(LsmSlice));
		LsmSlice	base = lsm_buf_slice(&g.base);
		size_t		off = 0;

		if (ops == NULL)
		{
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in get");
			goto done;
		}
		/* collected newest first; the merge function wants oldest first */
		for (i = 0; i < g.n_ops; i++)
		{
			ops[g.n_ops - 1 - i] = lsm_slice(g.ops.data + off, g.op_len[i]);
			off += g.op_len[i];
		}
		g.tally.merge_operands += (uint64_t) g.n_ops;
		lsm_buf_reset(value);
		rc = db->opts.merge(db->opts.merge_arg, key, g.has_base ? &base : NULL,
							ops, g.n_ops, value, st);
		lsm_free(ops);
	}
	else if (!g.found_put)
		rc = LSM_NOT_FOUND;
	if (rc == LSM_OK && in_memtable)
		g.tally.memtable_hits = 1;

done:
	if (ro->found_seq != NULL)
		*ro->found_seq = g.newest;
	lsm_buf_free(&heap_key);
	lsm_buf_free(&g.base);
	lsm_buf_free(&g.blob_ref);
	lsm_buf_free(&g.ops);
	lsm_free(g.op_len);
	*tally = g.tally;
	return rc;
}

/*
 * lsm_db_get
 *		Look the key up in every source from newest to oldest, stopping at
 *		the first PUT or DELETE; merge operands met on the way are folded
 *		over it at the end.
 *
 * A thread with a reader slot pins its superversion there without mu
 * (lsm_db_slot_pin); others take mu for a moment.  Counters go to the slot
 * too (count_get).
 */
LsmCode
lsm_db_get(LsmDb *db, const LsmReadOptions *ro, LsmSlice key, LsmBuf *value,
		   LsmStatus *st)
{
	LsmReadOptions defaults;
	LsmReaderSlot *slot;
	LsmSuperVersion *sv;
	LsmReadCounters tally;
	LsmSeq		seq;
	LsmCode		rc;

	if (ro == NULL)
	{
		lsm_read_options_init(&defaults);
		ro = &defaults;
	}
	slot = lsm_db_reader_slot(db);
	sv = slot != NULL ? lsm_db_slot_pin(db, slot, &seq) : lsm_db_pin_sv(db, &seq);
	seq = read_point(ro, seq);
	if (ro->read_at != NULL)
		*ro->read_at = seq;
	memset(&tally, 0, sizeof(tally));
	rc = get_in(db, sv, seq, ro, key, value, &tally, st);
	if (slot != NULL)
		lsm_db_slot_unpin(db, slot, sv);
	else
		lsm_db_unpin_sv(db, sv);
	count_get(db, slot, ro, &tally);
	return rc;
}

/*
 * lsm_db_get_applying
 *		A get at seq, which may be above the published last_seq, for a
 *		writer applying entries in sequence order under write_mu (db->sv
 *		cannot change meanwhile): it sees every entry below seq, including
 *		those of its own batch.  No counters.
 */
LsmCode
lsm_db_get_applying(LsmDb *db, LsmSlice key, LsmSeq seq, LsmBuf *value,
					LsmStatus *st)
{
	LsmReadOptions ro;
	LsmReadCounters tally;

	lsm_read_options_init(&ro);
	return get_in(db, db->sv, seq, &ro, key, value, &tally, st);
}

/*
 * Iterators
 */

/*
 * What a user-level iterator pins; released by its destroy.  Its table
 * iterators count into *stats: the caller's LsmReadCounters when it asked
 * (it sees them as the scan goes), else own.  The database's counters get
 * what this iterator added (stats - at_start) when it goes.
 */
typedef struct IterPin
{
	LsmDb	   *db;
	LsmSuperVersion *sv;
	LsmReadStats *stats;
	LsmReadStats own;
	LsmReadStats at_start;
} IterPin;

static void
iter_release(void *arg)
{
	IterPin    *pin = arg;

	LSM_STAT_ADD(pin->db, block_reads, pin->stats->block_reads - pin->at_start.block_reads);
	LSM_STAT_ADD(pin->db, block_cache_hits,
				 pin->stats->block_cache_hits - pin->at_start.block_cache_hits);
	lsm_db_unpin_sv(pin->db, pin->sv);
	lsm_free(pin);
}

/*
 * lsm_db_iter
 *		Merge every source (memtables, each level-0 file, one concatenating
 *		iterator per deeper level) and wrap it in the user-level iterator.
 */
LsmCode
lsm_db_iter(LsmDb *db, const LsmReadOptions *ro, LsmIter **itp, LsmStatus *st)
{
	LsmReadOptions defaults;
	IterPin    *pin;
	LsmSuperVersion *sv;
	LsmVersion *v;
	LsmIter   **children;
	LsmIter    *merged;
	LsmSeq		seq;
	int			n = 0;
	int			max;
	int			level;
	int			i;
	LsmCode		rc;

	*itp = NULL;
	if (ro == NULL)
	{
		lsm_read_options_init(&defaults);
		ro = &defaults;
	}
	pin = lsm_calloc(1, sizeof(IterPin));
	if (pin == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	pin->db = db;
	pin->stats = ro->counters != NULL ? ro->counters : &pin->own;
	pin->at_start = *pin->stats;
	sv = pin->sv = lsm_db_pin_sv(db, &seq);
	seq = read_point(ro, seq);
	v = sv->version;

	max = 1 + sv->n_imm + LSM_NUM_LEVELS + v->n_files[0];
	children = lsm_malloc((size_t) max * sizeof(LsmIter *));
	if (children == NULL)
	{
		iter_release(pin);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	}

	children[n++] = lsm_memtable_iter_new(sv->mem->mt);
	for (i = 0; i < sv->n_imm; i++)
		children[n++] = lsm_memtable_iter_new(sv->imm[i]->mt);
	for (i = 0; i < v->n_files[0]; i++)
	{
		LsmSst   *t;

		rc = lsm_versionset_table(db->vs, v->files[0][i], &t, st);
		if (rc != LSM_OK)
			goto fail;
		children[n] = lsm_sst_iter(t, ro->fill_cache, pin->stats);
		if (children[n] == NULL)
			goto oom;
		pin->stats->sst_probes++;
		n++;
	}
	for (level = 1; level < LSM_NUM_LEVELS; level++)
	{
		if (v->n_files[level] == 0)
			continue;
		children[n] = lsm_version_level_iter(db->vs, v, level, ro->fill_cache,
											 pin->stats);
		if (children[n] == NULL)
			goto oom;
		n++;
	}

	merged = lsm_merge_iter_new(children, n, lsm_ikey_cmp);
	lsm_free(children);
	if (merged == NULL)
	{
		iter_release(pin);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	}
	*itp = lsm_db_iter_new(merged, seq, ro->lower_bound, ro->upper_bound,
						   db->opts.merge, db->opts.merge_arg, db, pin->stats,
						   iter_release, pin);
	if (*itp == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	return LSM_OK;

oom:
	rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
fail:
	for (i = 0; i < n; i++)
		lsm_iter_destroy(children[i]);
	lsm_free(children);
	iter_release(pin);
	return rc;
}
