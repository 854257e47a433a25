/*
 * db_flush.c
 *		Making room for writes and flushing: WAL files, freezing the active
 *		memtable, writing frozen memtables to level-0 SSTables, and the
 *		host's flush and compaction steps.
 *
 * The order of durable steps and the host mode are described in db.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "blob.h"
#include "db_internal.h"
#include "iter_merge.h"

/*
 * WAL files
 */

/*
 * lsm_db_open_new_log
 *		Create the next WAL file (lsm_log_create syncs the directory).
 */
LsmCode
lsm_db_open_new_log(LsmDb *db, LsmLogWriter **w, LsmStatus *st)
{
	uint64_t	number = lsm_versionset_new_file_number(db->vs);
	char		path[LSM_PATH_MAX];

	if (!lsm_file_path(path, db->dir, LSM_FILE_LOG, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	return lsm_log_create(db->env, path, number, w, st);
}

/* Remember a WAL file for deletion once no memtable needs it. */
void
lsm_db_remember_old_log(LsmDb *db, uint64_t number)
{
	if (db->n_old_logs == db->cap_old_logs)
	{
		int			cap = db->cap_old_logs ? db->cap_old_logs * 2 : 8;
		uint64_t   *n = lsm_realloc(db->old_logs, (size_t) cap * sizeof(uint64_t));

		if (n == NULL)
			return;				/* the next open deletes it */
		db->old_logs = n;
		db->cap_old_logs = cap;
	}
	db->old_logs[db->n_old_logs++] = number;
}

/*
 * lsm_db_retire_log
 *		Close the current WAL writer (without sync: what it holds is either
 *		about to be flushed or was already acknowledged as unsynced).
 */
void
lsm_db_retire_log(LsmDb *db)
{
	if (db->log == NULL)
		return;
	lsm_db_remember_old_log(db, lsm_log_number(db->log));
	lsm_log_close(db->log, NULL);
	db->log = NULL;
}

/*
 * lsm_db_delete_old_logs
 *		Unlink the WAL files below the version set's log number: the
 *		MANIFEST says their contents are all in tables.
 */
void
lsm_db_delete_old_logs(LsmDb *db)
{
	char		path[LSM_PATH_MAX];
	int			i;
	int			k = 0;

	for (i = 0; i < db->n_old_logs; i++)
	{
		uint64_t	n = db->old_logs[i];

		if (n < db->vs->log_number)
		{
			if (lsm_file_path(path, db->dir, LSM_FILE_LOG, n))
				db->env->unlink(db->env, path, NULL);
		}
		else
			db->old_logs[k++] = n;
	}
	db->n_old_logs = k;
}

/*
 * Flush
 */

/*
 * flush_read_points
 *		The read points a flush keeps versions for, as compaction's pick
 *		takes them (compaction.c's header): the live snapshots and C =
 *		min(last_seq, the host's horizon), ascending, C last.  Snapshots and
 *		last_seq are read under mu and the horizon after, so a reader the
 *		host registers meanwhile reads at or above C.
 */
static LsmCode
flush_read_points(LsmDb *db, LsmSeq **points, int *n_points, LsmStatus *st)
{
	LsmSnapshot *s;
	LsmSeq	   *p;
	LsmSeq		cap;
	int			n = 0;

	*points = NULL;
	*n_points = 0;
	db->env->mutex_lock(db->mu);
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		n++;
	p = lsm_malloc((size_t) (n + 1) * sizeof(LsmSeq));
	if (p == NULL)
	{
		db->env->mutex_unlock(db->mu);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a flush");
	}
	n = 0;
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		if (n == 0 || p[n - 1] != s->seq)
			p[n++] = s->seq;
	cap = db->last_seq;
	db->env->mutex_unlock(db->mu);
	if (db->opts.horizon_fn != NULL)
	{
		LsmSeq		ext = db->opts.horizon_fn(db->opts.horizon_arg);

		if (ext < cap)
			cap = ext;
	}
	while (n > 0 && p[n - 1] >= cap)
		n--;
	p[n++] = cap;
	*points = p;
	*n_points = n;
	return LSM_OK;
}

/* The stripe of seq (at or below the last point): the first point >= seq. */
static int
flush_stripe_of(const LsmSeq *points, int n_points, LsmSeq seq)
{
	int			lo = 0;
	int			hi = n_points - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (points[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * flush_to_blob
 *		Move a PUT's value to the flush's blob file (opened on first use):
 *		*value becomes its reference, under a BLOB key built in ikbuf.
 */
static LsmCode
flush_to_blob(LsmDb *db, LsmBlobWriter *bw, LsmBlobUses *uses, const LsmParsedKey *pk,
			  LsmSlice *value, LsmBuf *ikbuf, LsmBuf *refbuf, LsmStatus *st)
{
	LsmBlobRef	r;
	LsmCode		rc;

	if (bw->file == NULL)
	{
		rc = lsm_blob_writer_open(db, lsm_blob_flush_codec(db), bw, st);
		if (rc != LSM_OK)
			return rc;
	}
	rc = lsm_blob_writer_add(bw, *value, &r, st);
	if (rc != LSM_OK)
		return rc;
	lsm_buf_reset(ikbuf);
	lsm_buf_reset(refbuf);
	if (!lsm_ikey_append(ikbuf, pk->user_key, pk->seq, LSM_KIND_BLOB) ||
		!lsm_blob_ref_encode(refbuf, &r) ||
		!lsm_blob_uses_add(uses, r.number, r.len, 0, 0))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a flush");
	*value = lsm_buf_slice(refbuf);
	return LSM_OK;
}

/* Remove a flush's blob file that no table will reference. */
static void
flush_drop_blob(LsmDb *db, LsmBlobWriter *bw)
{
	if (bw->number != 0)
		lsm_blob_delete(db, &bw->number, 1);
}

/*
 * write_level0_table
 *		Write the entries of mt as a new table and add it to edit at level
 *		0.  An empty memtable writes nothing.  The table and its directory
 *		entry are durable when this returns.
 *
 * Versions no reader can see are left out, by compaction's stripe rule
 * (compaction.c's header): of a key's entries in one stripe only the
 * newest PUT or DELETE is kept, with the MERGE operands above it (they are
 * not folded here: a flush keeps its work to a filter).  Entries above C
 * are all kept, and so is every DELETE, as older tables may hold its key.
 * Without this a key rewritten many times between flushes reached level 0
 * once per write and cost a rewrite per version in each compaction until
 * one dropped it.
 */
static LsmCode
write_level0_table(LsmDb *db, LsmMemTable *mt, LsmVersionEdit *edit, LsmStatus *st)
{
	uint64_t	number;
	char		path[LSM_PATH_MAX];
	LsmSstBuilder *b;
	LsmSstProps props;
	LsmMemIter	mi;
	LsmFileMeta meta;
	LsmCode		rc;
	LsmSstOptions topts;
	LsmSeq	   *points;
	int			n_points;
	LsmSlice	ukey = lsm_slice(NULL, 0);	/* points into mt */
	bool		has_ukey = false;
	int			stripe = -1;
	bool		decided = false;
	uint64_t	dropped = 0;
	LsmBlobWriter bw;
	LsmBlobUses uses;
	LsmBuf		ikbuf = {0};
	LsmBuf		refbuf = {0};

	if (lsm_memtable_count(mt) == 0)
		return LSM_OK;
	memset(&bw, 0, sizeof(bw));
	memset(&uses, 0, sizeof(uses));
	rc = flush_read_points(db, &points, &n_points, st);
	if (rc != LSM_OK)
		return rc;
	number = lsm_versionset_new_file_number(db->vs);
	if (!lsm_file_path(path, db->dir, LSM_FILE_TABLE, number))
	{
		lsm_free(points);
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	}
	/* level 0 is rewritten soon: the upper levels' codec */
	topts = db->topts;
	topts.compression = db->opts.compression_upper;
	rc = lsm_sst_builder_open(db->env, path, &topts, &b, st);
	if (rc != LSM_OK)
	{
		lsm_free(points);
		return rc;
	}
	lsm_memtable_iter_init(&mi, mt);
	for (lsm_iter_seek_first(&mi.base); lsm_iter_valid(&mi.base); lsm_iter_next(&mi.base))
	{
		LsmSlice	ikey = lsm_iter_key(&mi.base);
		LsmSlice	value;
		LsmParsedKey pk;

		if (!lsm_ikey_parse(ikey, &pk))
		{
			rc = lsm_status_set(st, LSM_CORRUPTION, 0,
								"malformed internal key of %zu bytes in a memtable of \"%s\"",
								ikey.len, db->dir);
			break;
		}
		if (!has_ukey || !lsm_slice_eq(pk.user_key, ukey))
		{
			ukey = pk.user_key;
			has_ukey = true;
			stripe = -1;
			decided = false;
		}
		if (pk.seq <= points[n_points - 1])
		{
			int			s = flush_stripe_of(points, n_points, pk.seq);

			if (s != stripe)
			{
				stripe = s;
				decided = false;
			}
			if (decided)
			{
				dropped++;
				continue;
			}
			decided = pk.kind != LSM_KIND_MERGE;
		}
		value = lsm_iter_value(&mi.base);
		if (pk.kind == LSM_KIND_PUT && db->opts.blob_min_size > 0 &&
			value.len >= db->opts.blob_min_size)
		{
			rc = flush_to_blob(db, &bw, &uses, &pk, &value, &ikbuf, &refbuf, st);
			if (rc != LSM_OK)
				break;
			ikey = lsm_buf_slice(&ikbuf);
		}
		rc = lsm_sst_builder_add(b, ikey, value, st);
		if (rc != LSM_OK)
			break;
	}
	lsm_free(points);
	lsm_buf_free(&ikbuf);
	lsm_buf_free(&refbuf);
	if (rc == LSM_OK)
		rc = lsm_iter_status(&mi.base, st);
	if (rc == LSM_OK && bw.file != NULL)
	{
		rc = lsm_blob_writer_finish(&bw, st);
		lsm_blob_uses_set_total(&uses, bw.number, bw.bytes, bw.file_bytes);
	}
	if (rc != LSM_OK)
	{
		lsm_sst_builder_abandon(b);
		lsm_blob_writer_abandon(&bw);
		flush_drop_blob(db, &bw);
		lsm_blob_uses_free(&uses);
		return rc;
	}
	if (dropped > 0)
		LSM_STAT_ADD(db, flush_entries_dropped, dropped);
	memset(&props, 0, sizeof(props));
	rc = lsm_sst_builder_finish(b, &props, st);
	if (rc != LSM_OK)
	{
		flush_drop_blob(db, &bw);
		lsm_blob_uses_free(&uses);
		return rc;
	}
	rc = db->env->sync_dir(db->env, db->dir, st);
	if (rc == LSM_OK)
	{
		memset(&meta, 0, sizeof(meta));
		meta.number = number;
		meta.level = 0;
		meta.size = props.file_bytes;
		meta.smallest = props.smallest;
		meta.largest = props.largest;
		meta.min_seq = props.min_seq;
		meta.max_seq = props.max_seq;
		meta.entries = props.entries;
		meta.tombstones = props.tombstones;
		meta.blobs = uses.u;
		meta.n_blobs = uses.n;
		rc = lsm_edit_add_file(edit, 0, &meta, st);
	}
	if (rc == LSM_OK)
	{
		LSM_STAT_ADD(db, flushes, 1);
		LSM_STAT_ADD(db, bytes_flushed, props.file_bytes);
		if (bw.number != 0)
			lsm_blob_count_written(db, &bw);
	}
	else
	{
		db->env->unlink(db->env, path, NULL);
		flush_drop_blob(db, &bw);
	}
	lsm_blob_uses_free(&uses);
	lsm_sst_props_free(&props);
	return rc;
}

/*
 * install_flush
 *		Log edit (which adds the table written from m) and publish the
 *		superversion without m, which must be the oldest immutable
 *		memtable.  nsv is allocated by the caller and consumed.  Caller
 *		holds write_mu.
 */
static LsmCode
install_flush(LsmDb *db, LsmMemRef *m, LsmSuperVersion *nsv, LsmVersionEdit *edit,
			  LsmStatus *st)
{
	LsmSuperVersion *sv = db->sv;
	LsmCode		rc;

	if (sv->n_imm == 0 || sv->imm[sv->n_imm - 1] != m)
	{
		lsm_free(nsv);
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "the memtable flushed in \"%s\" is no longer the oldest one",
							  db->dir);
	}
	rc = lsm_versionset_log_and_apply(db->vs, edit, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	lsm_db_install_sv(db, nsv, sv->mem, sv->imm, sv->n_imm - 1);
	db->flushes++;
	lsm_db_delete_old_logs(db);
	return LSM_OK;
}

/*
 * lsm_db_flush_imm
 *		Write every immutable memtable, oldest first, to level 0.  Each
 *		table's edit moves the log number up to the first WAL file of the
 *		next newer memtable, which makes the older WAL files deletable.
 *		Caller holds write_mu, across the writing too: writers flush
 *		synchronously (not background_flush), or recovery.
 */
LsmCode
lsm_db_flush_imm(LsmDb *db, LsmStatus *st)
{
	while (db->sv->n_imm > 0)
	{
		LsmSuperVersion *sv = db->sv;
		int			n = sv->n_imm;
		LsmMemRef  *m = sv->imm[n - 1];
		uint64_t	next_log = n >= 2 ? sv->imm[n - 2]->log_number : sv->mem->log_number;
		LsmSuperVersion *nsv;
		LsmVersionEdit edit;
		LsmCode		rc;

		rc = lsm_db_sv_alloc(&nsv, st);
		if (rc != LSM_OK)
			return rc;
		lsm_edit_init(&edit);
		lsm_edit_set_log_number(&edit, next_log);
		lsm_edit_set_last_seq(&edit, db->last_seq);
		rc = write_level0_table(db, m->mt, &edit, st);
		if (rc == LSM_OK)
			rc = install_flush(db, m, nsv, &edit, st);
		else
			lsm_free(nsv);
		lsm_edit_free(&edit);
		if (rc != LSM_OK)
			return rc;
	}
	return LSM_OK;
}

/* The refusal of a write after a failure that left the memtable unsure. */
LsmCode
lsm_db_refuse_write(LsmDb *db, LsmStatus *st)
{
	return lsm_status_set(st, db->bg_error.code, db->bg_error.sys_errno,
						  "database \"%s\" refuses writes after an earlier failure: %s",
						  db->dir, db->bg_error.msg);
}

/*
 * lsm_db_flush_pending
 *		Write the oldest immutable memtable to level 0 and install it.
 *
 * With background_flush the table is written holding no lock: the
 * memtable is frozen, so it can be read like any reader does, and writers
 * go on into the active one.  The flushing flag keeps a second flush out,
 * which also keeps this memtable the oldest until it is installed (only
 * flushes remove immutable memtables in this mode).  The MANIFEST records
 * the memtable's own highest sequence number as the database's last one
 * (file header).  Without background_flush writers flush under write_mu,
 * so this does too.
 */
LsmCode
lsm_db_flush_pending(LsmDb *db, bool *did, LsmStatus *st)
{
	LsmSuperVersion *sv;
	LsmSuperVersion *nsv = NULL;
	LsmMemRef  *m;
	LsmVersionEdit edit;
	uint64_t	next_log;
	LsmSeq		max_seq;
	LsmCode		rc = LSM_OK;
	int			n;

	*did = false;
	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
	{
		rc = lsm_db_refuse_write(db, st);
		db->env->mutex_unlock(db->write_mu);
		return rc;
	}
	if (!db->opts.background_flush)
	{
		if (db->sv->n_imm > 0)
		{
			/* lsm_db_flush_imm's loop, once */
			sv = db->sv;
			n = sv->n_imm;
			m = sv->imm[n - 1];
			rc = lsm_db_sv_alloc(&nsv, st);
			if (rc == LSM_OK)
			{
				lsm_edit_init(&edit);
				lsm_edit_set_log_number(&edit, n >= 2 ? sv->imm[n - 2]->log_number :
										sv->mem->log_number);
				lsm_edit_set_last_seq(&edit, n >= 2 ?
									  lsm_memtable_max_seq(m->mt) : db->last_seq);
				rc = write_level0_table(db, m->mt, &edit, st);
				if (rc == LSM_OK)
					rc = install_flush(db, m, nsv, &edit, st);
				else
					lsm_free(nsv);
				lsm_edit_free(&edit);
				*did = rc == LSM_OK;
			}
		}
		db->env->mutex_unlock(db->write_mu);
		return rc;
	}

	db->env->mutex_lock(db->mu);
	sv = db->sv;
	n = sv->n_imm;
	if (db->flushing || n == 0)
	{
		db->env->mutex_unlock(db->mu);
		db->env->mutex_unlock(db->write_mu);
		return LSM_OK;
	}
	db->flushing = true;
	m = sv->imm[n - 1];
	m->refs++;
	/* the next newer memtable's WAL files outlive this flush */
	next_log = n >= 2 ? sv->imm[n - 2]->log_number : sv->mem->log_number;
	db->env->mutex_unlock(db->mu);
	db->env->mutex_unlock(db->write_mu);

	max_seq = lsm_memtable_max_seq(m->mt);
	if (db->opts.pre_flush_fn != NULL &&
		!db->opts.pre_flush_fn(db->opts.pre_flush_arg, max_seq))
		rc = lsm_status_set(st, LSM_IO_ERROR, 0,
							"the host could not make its log durable up to sequence number %llu before a flush of \"%s\"",
							(unsigned long long) max_seq, db->dir);
	if (rc == LSM_OK)
		rc = lsm_db_sv_alloc(&nsv, st);
	if (rc == LSM_OK)
	{
		lsm_edit_init(&edit);
		lsm_edit_set_log_number(&edit, next_log);
		lsm_edit_set_last_seq(&edit, max_seq);
		rc = write_level0_table(db, m->mt, &edit, st);
		if (rc == LSM_OK)
		{
			db->env->mutex_lock(db->write_mu);
			rc = install_flush(db, m, nsv, &edit, st);
			db->env->mutex_unlock(db->write_mu);
		}
		else
			lsm_free(nsv);
		lsm_edit_free(&edit);
	}

	db->env->mutex_lock(db->mu);
	db->flushing = false;
	lsm_db_memref_unref(db, m);
	db->env->mutex_unlock(db->mu);
	*did = rc == LSM_OK;
	/* a new level-0 file may have made a compaction due */
	if (*did)
		lsm_db_bg_wake(db);
	return rc;
}

bool
lsm_db_flush_needed(LsmDb *db)
{
	bool		needed;

	db->env->mutex_lock(db->mu);
	needed = db->sv->n_imm > 0;
	db->env->mutex_unlock(db->mu);
	return needed;
}

/*
 * lsm_db_switch_memtable
 *		Freeze the active memtable and start a new one with room for need
 *		bytes.  With new_log, a new WAL file is started as well, so that the
 *		frozen memtable's entries sit in WAL files of their own; recovery
 *		replay and external_wal switch without one.  LSM_BUSY when
 *		LSM_MAX_IMM memtables wait already; *pool_full (nullable) as for
 *		lsm_db_memref_new.  Caller holds write_mu.
 */
LsmCode
lsm_db_switch_memtable(LsmDb *db, size_t need, bool new_log, bool *pool_full, LsmStatus *st)
{
	LsmSuperVersion *sv = db->sv;
	LsmSuperVersion *nsv;
	LsmLogWriter *w = NULL;
	LsmMemRef  *imm[LSM_MAX_IMM];
	LsmMemRef  *m;
	LsmCode		rc;
	int			i;

	if (pool_full != NULL)
		*pool_full = false;
	if (sv->n_imm >= LSM_MAX_IMM)
		return lsm_status_set(st, LSM_BUSY, 0,
							  "too many memtables wait for a flush in \"%s\"", db->dir);
	rc = lsm_db_sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;

	/*
	 * The region first: a writer waiting for the host's pool retries this,
	 * and should not create and delete a WAL file every time.  need 0 is a
	 * freeze for a flush (by request, or of an idle table), not a full
	 * memtable: the next one starts small, as after an open, so that tables
	 * nobody writes hold little of the host's pool.
	 */
	rc = lsm_db_memref_new(db, need, sv->mem->log_number, &m, pool_full, need == 0, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	if (new_log)
	{
		rc = lsm_db_open_new_log(db, &w, st);
		if (rc != LSM_OK)
		{
			lsm_db_region_put(db, m->region, m->size);
			lsm_free(m);
			lsm_free(nsv);
			return rc;
		}
		m->log_number = lsm_log_number(w);
		lsm_db_retire_log(db);
		db->log = w;
	}
	imm[0] = sv->mem;
	for (i = 0; i < sv->n_imm; i++)
		imm[i + 1] = sv->imm[i];
	lsm_db_install_sv(db, nsv, m, imm, sv->n_imm + 1);
	return LSM_OK;
}

/*
 * replace_empty_memtable
 *		Swap the empty active memtable, too small for a huge batch, for one
 *		with need bytes free; its WAL file stays the same.  Caller holds
 *		write_mu.
 */
static LsmCode
replace_empty_memtable(LsmDb *db, size_t need, bool *pool_full, LsmStatus *st)
{
	LsmSuperVersion *nsv;
	LsmMemRef  *m;
	LsmCode		rc;

	rc = lsm_db_sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_db_memref_new(db, need, db->sv->mem->log_number, &m, pool_full, false, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	lsm_db_install_sv(db, nsv, m, db->sv->imm, db->sv->n_imm);
	return LSM_OK;
}

/*
 * lsm_db_make_room
 *		Make sure the active memtable has need bytes free, flushing when it
 *		is full.  A leftover immutable memtable (its flush failed earlier)
 *		is flushed first, so that failures cannot pile memtables up.  An
 *		empty memtable too small for a huge batch is swapped for a bigger
 *		one.
 */
LsmCode
lsm_db_make_room(LsmDb *db, size_t need, bool new_log, LsmStatus *st)
{
	LsmMemTable *mt;
	LsmCode		rc;

	if (db->sv->n_imm > 0)
	{
		rc = lsm_db_flush_imm(db, st);
		if (rc != LSM_OK)
			return rc;
	}
	mt = db->sv->mem->mt;
	if (lsm_memtable_bytes_free(mt) >= need)
		return LSM_OK;
	if (lsm_memtable_count(mt) > 0)
	{
		rc = lsm_db_switch_memtable(db, need, new_log, NULL, st);
		if (rc == LSM_OK)
			rc = lsm_db_flush_imm(db, st);
		return rc;
	}
	return replace_empty_memtable(db, need, NULL, st);
}

/*
 * lsm_db_room_background
 *		lsm_db_make_room for background_flush: freeze a full memtable and start a
 *		new one, never flush.  LSM_BUSY (st not to be looked at) when the
 *		writer has to wait for a flush: LSM_MAX_IMM memtables wait, or the
 *		host's region pool is full.  *froze is set when a memtable was
 *		frozen.  Caller holds write_mu.
 */
LsmCode
lsm_db_room_background(LsmDb *db, size_t need, bool *froze, LsmStatus *st)
{
	LsmMemTable *mt = db->sv->mem->mt;
	bool		pool_full = false;
	LsmCode		rc;

	if (lsm_memtable_bytes_free(mt) >= need)
		return LSM_OK;
	if (lsm_memtable_count(mt) > 0)
	{
		if (db->sv->n_imm >= LSM_MAX_IMM)
			return LSM_BUSY;
		rc = lsm_db_switch_memtable(db, need, !db->opts.external_wal, &pool_full, st);
		if (rc == LSM_OK)
			*froze = true;
	}
	else
		rc = replace_empty_memtable(db, need, &pool_full, st);
	if (rc != LSM_OK && pool_full)
		return LSM_BUSY;
	return rc;
}

/*
 * flush_background
 *		lsm_db_flush under background_flush: freeze the active memtable
 *		when it holds writes made before the call, then flush frozen
 *		memtables until none holding such writes is left.  Another thread's
 *		flush, a full list of frozen memtables or a full region pool make it
 *		wait (1 ms waits through the env's hook, no lock held; a wait the
 *		hook ends ends the flush with its code).
 */
static LsmCode
flush_background(LsmDb *db, LsmStatus *st)
{
	LsmSeq		target;
	LsmCode		rc = LSM_OK;

	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
		rc = lsm_db_refuse_write(db, st);
	target = db->last_seq;
	db->env->mutex_unlock(db->write_mu);
	if (rc != LSM_OK)
		return rc;
	for (;;)
	{
		LsmSuperVersion *sv;
		LsmMemTable *mt;
		bool		freeze;
		bool		pending;
		bool		did = false;

		db->env->mutex_lock(db->write_mu);
		mt = db->sv->mem->mt;
		freeze = lsm_memtable_count(mt) > 0 && lsm_memtable_min_seq(mt) <= target;
		if (freeze && db->sv->n_imm < LSM_MAX_IMM)
		{
			bool		pool_full;

			rc = lsm_db_switch_memtable(db, 0, !db->opts.external_wal, &pool_full, st);
			if (rc == LSM_OK)
				freeze = false;
			else if (pool_full)
				rc = LSM_OK;
			else
			{
				db->env->mutex_unlock(db->write_mu);
				return rc;
			}
		}
		sv = db->sv;
		pending = sv->n_imm > 0 &&
			lsm_memtable_min_seq(sv->imm[sv->n_imm - 1]->mt) <= target;
		db->env->mutex_unlock(db->write_mu);
		if (!freeze && !pending)
			return LSM_OK;
		if (pending)
		{
			rc = lsm_db_flush_pending(db, &did, st);
			if (rc != LSM_OK)
				return rc;
		}
		if (!did &&
			(rc = lsm_env_wait(db->env, LSM_WAIT_FLUSH, 1000, st)) != LSM_OK)
			return rc;
	}
}

LsmCode
lsm_db_flush(LsmDb *db, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	if (db->opts.background_flush)
		return flush_background(db, st);
	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
		rc = lsm_status_set(st, db->bg_error.code, db->bg_error.sys_errno, "%s",
							db->bg_error.msg);
	if (rc == LSM_OK && db->sv->n_imm > 0)
		rc = lsm_db_flush_imm(db, st);
	if (rc == LSM_OK && lsm_memtable_count(db->sv->mem->mt) > 0)
	{
		rc = lsm_db_switch_memtable(db, 0, !db->opts.external_wal, NULL, st);
		if (rc == LSM_OK)
			rc = lsm_db_flush_imm(db, st);
	}
	if (rc == LSM_OK && db->opts.auto_compact)
		rc = lsm_db_compact_until_done(db, true, st);
	db->env->mutex_unlock(db->write_mu);
	return rc;
}

LsmCode
lsm_db_compact_step(LsmDb *db, bool *did, LsmStatus *st)
{
	return lsm_db_compact_one(db, false, did, st);
}
