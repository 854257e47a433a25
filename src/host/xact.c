/*
 * xact.c
 *		Transaction state of lsm_fdw: each transaction's writes are kept in
 *		backend memory until commit, then applied to each table's engine as
 *		one atomic batch.
 *
 * Per table touched, a transaction keeps an op log (every put and delete in
 * order, already in the engine's batch entry format, written and read with
 * batch.h's calls, so that the commit record is the log with a header) and
 * an index of it: an engine memtable in private memory whose
 * sequence numbers are op numbers, so that a scan started at op n sees the
 * transaction's own writes up to n and not the rows that the same statement
 * writes later (no Halloween problem).  The index is brought up to date
 * when something reads it, not at every write: a load that never reads its
 * own writes sorts its log once instead (lsm_batch_sorted_iter), and a
 * filter of the keys written (KeyFilter) answers most "did I write this
 * key?" questions without the index.  ROLLBACK drops everything;
 * ROLLBACK TO SAVEPOINT truncates the op log to the savepoint's mark and
 * empties the index if it holds any of the ops cut.  The total is capped by
 * lsm_fdw.max_transaction_memory.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "lsm.h"
#include "lsm_coding.h"
#include "memtable.h"
#include "lsm_commit.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_spill.h"
#include "iter_merge.h"

int			lsm_max_transaction_memory = 256 * 1024; /* kB */
int			lsm_synchronous_commit = LSM_SYNC_COMMIT_AUTO;

/*
 * lsm_sync_commit
 *		Whether this commit waits for its log record to reach disk.  By
 *		default it follows Postgres's synchronous_commit, so that a user who
 *		turns that off for a session or a transaction gets it for lsm tables
 *		too; every level above off (local, remote_write, on, remote_apply)
 *		means a local fsync here, as the lsm log is not replicated.
 */
bool
lsm_sync_commit(void)
{
	if (lsm_synchronous_commit == LSM_SYNC_COMMIT_AUTO)
		return synchronous_commit > SYNCHRONOUS_COMMIT_OFF;
	return lsm_synchronous_commit == LSM_SYNC_COMMIT_ON;
}
int			lsm_wal_sync_delay = 200;	/* ms */

typedef struct LsmSavepointMark
{
	SubTransactionId subid;
	size_t		log_len;
	uint64		nops;
} LsmSavepointMark;

/* A TRUNCATE and where the log stood then (truncate_* below). */
typedef LsmSavepointMark LsmTruncateMark;

struct LsmTxnTable
{
	Oid			relid;			/* hash key */
	LsmDb	   *db;
	SubTransactionId first_subid;	/* subtransaction that first wrote here */
	uint8	   *log;			/* batch entries (batch.h), TopTransactionContext */
	size_t		log_len;
	size_t		log_cap;
	uint64		nops;
	void	   *region;			/* malloc'd memtable region of the index */
	size_t		region_size;
	LsmMemTable *index;
	size_t		indexed_len;	/* log[0, indexed_len) is in the index */
	uint64		indexed_nops;	/* op number of its last op */
	List	   *marks;			/* LsmSavepointMark *, innermost last */

	/*
	 * TRUNCATE: the committed rows are hidden from this transaction, and
	 * ops 1..truncate_nops with them; at commit the table's files are
	 * replaced by an empty table before the later ops are applied.  The
	 * fields are the innermost TRUNCATE of truncates (LsmTruncateMark *, one
	 * per subtransaction at most, innermost last): rolling back a savepoint
	 * brings back the one made before it, not a table that was never
	 * truncated.
	 */
	bool		truncated;
	uint64		truncate_nops;
	size_t		truncate_log_len;
	List	   *truncates;

	/*
	 * Bulk loading (spill.c): ops 1..log_base_nops were spilled to sorted
	 * runs and left the log and the index; the commit then ingests files.
	 */
	LsmSpill   *spill;
	uint64		log_base_nops;
	bool		index_exposed;	/* a pointer into the region was handed out */
	bool		has_merge;		/* increments are never spilled */
	char	  **load_paths;		/* the commit's files, removed at the end */
	int			n_load;

	/*
	 * Fingerprints of every key the transaction wrote to the table (see
	 * KeyFilter below); started by the first lookup, NULL before and once
	 * given up.
	 */
	uint64	   *filter;
	uint64		filter_mask;	/* slots - 1 */
	uint64		filter_used;
	bool		filter_off;		/* never (again) for this transaction */

	/*
	 * Base hints (lsm.h, LsmBaseHint): what the transaction's increments
	 * read of the rows they incremented, so that the commit's apply can
	 * write each increment as the folded row when nothing changed the row
	 * since (later gets then stop in the memtable).  Bytes in
	 * TopTransactionContext; at most MAX_BASE_HINTS.
	 */
	LsmBaseHint *hints;
	int			n_hints;
	int			cap_hints;
};

/*
 * Hints per table, the largest row one carries and the bytes of all of a
 * transaction's: a transaction of many increments pays no more than this
 * for them (the rest go in as operands, as before hints existed).  Not
 * part of lsm_fdw.max_transaction_memory, so that hints never make a
 * transaction fail.
 */
#define MAX_BASE_HINTS		256
#define MAX_BASE_HINT_ROW	2048
#define MAX_BASE_HINT_BYTES	(256 * 1024)

static size_t hint_bytes = 0;

static HTAB *txn_tables = NULL;
static size_t txn_bytes = 0;

static void lsm_xact_callback(XactEvent event, void *arg);
static void lsm_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);

/*
 * Index regions replaced during the transaction (grown, or rebuilt by
 * ROLLBACK TO SAVEPOINT).  Scans and cursors opened before the replacement
 * still point into them, so they are freed only when the transaction ends.
 */
static List *retired_regions = NIL;

static void
retire_region(void *region)
{
	MemoryContext old;

	if (region == NULL)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	retired_regions = lappend(retired_regions, region);
	MemoryContextSwitchTo(old);
}

static void
free_txn_table(LsmTxnTable *t)
{
	free(t->region);
	t->region = NULL;
	t->index = NULL;
	free(t->filter);
	t->filter = NULL;
	lsm_spill_discard(t->spill);
	t->spill = NULL;
	/*
	 * Ingested ones were linked into the table first; a running backup may
	 * need them (commit.c, ingest_files), then the next start removes them.
	 */
	pg_memory_barrier();
	if (lsm_shared == NULL || pg_atomic_read_u32(&lsm_shared->bulk_backups) == 0)
		for (int i = 0; i < t->n_load; i++)
			(void) unlink(t->load_paths[i]);
	t->n_load = 0;
}

static void
reset_txn_state(void)
{
	HASH_SEQ_STATUS seq;
	LsmTxnTable *t;
	ListCell   *lc;

	foreach(lc, retired_regions)
		free(lfirst(lc));
	retired_regions = NIL;		/* the list itself went with TopTransactionContext */
	if (txn_tables == NULL)
		return;
	hash_seq_init(&seq, txn_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
		free_txn_table(t);
	hash_destroy(txn_tables);
	txn_tables = NULL;
	txn_bytes = 0;
	hint_bytes = 0;
}

static bool index_add(LsmTxnTable *t, uint64 seq, LsmKind kind, LsmSlice key,
					  LsmSlice value);

/*
 * Empty the index, in a region of at least min_size: the next reader
 * indexes the log again (index_catch_up).  A region nobody got a pointer
 * into since it was built is reused as it is, or freed at once: a load
 * that spills many times must not keep (or fault in afresh) a region per
 * spill (that was 1.2 GB for a 1 GB COPY).
 */
static bool
index_rebuild(LsmTxnTable *t, size_t min_size)
{
	size_t		size = Max(min_size, (size_t) 16 * 1024);
	void	   *region;

	if (t->region != NULL && !t->index_exposed && t->region_size >= size)
	{
		t->index = lsm_memtable_init(t->region, t->region_size);
		t->indexed_len = 0;
		t->indexed_nops = t->log_base_nops;
		return true;
	}
	region = malloc(size);
	if (region == NULL)
		return false;
	if (t->index_exposed)
		retire_region(t->region);
	else
		free(t->region);
	t->index_exposed = false;
	t->region = region;
	t->region_size = size;
	t->index = lsm_memtable_init(region, size);
	/* op numbers start at 1, after the spilled ones */
	t->indexed_len = 0;
	t->indexed_nops = t->log_base_nops;
	return true;
}

/* lsm_batch_iterate_entries callback of index_catch_up: op seq into the index. */
static LsmCode
index_catch_up_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key,
					 LsmSlice value, LsmStatus *st)
{
	LsmTxnTable *t = arg;

	if (!index_add(t, seq, kind, key, value))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "transaction index is full");
	return LSM_OK;
}

/*
 * index_catch_up
 *		Add the ops written since the index was last read to it.
 */
static void
index_catch_up(LsmTxnTable *t)
{
	LsmStatus	st;
	LsmCode		rc;

	if (t->indexed_len == t->log_len)
		return;
	Assert(t->indexed_len < t->log_len);
	rc = lsm_batch_iterate_entries(lsm_slice(t->log + t->indexed_len,
											 t->log_len - t->indexed_len),
								   t->indexed_nops + 1, index_catch_up_entry, t, &st);
	if (rc != LSM_OK)
	{
		/* some ops went in: start the index again, once memory allows */
		if (!index_rebuild(t, 0) || rc == LSM_NO_MEMORY)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		elog(ERROR, "lsm_fdw transaction log is malformed: %s", st.msg);
	}
	t->indexed_len = t->log_len;
	t->indexed_nops = t->nops;
}

/*
 * ops_iter
 *		The transaction's ops on the table that are not in a run, in
 *		internal-key order, for writing a run or the commit: the log sorted
 *		once when nothing indexed it since the last spill (a load that
 *		never read its own writes), else the index.  Destroy with
 *		lsm_iter_destroy, engine allocations private.
 */
static LsmIter *
ops_iter(LsmTxnTable *t)
{
	LsmIter    *it;
	LsmStatus	st;

	if (t->indexed_len == 0 && t->log_len > 0)
	{
		lsm_alloc_private_begin();
		it = lsm_batch_sorted_iter(lsm_slice(t->log, t->log_len), t->log_base_nops + 1, &st);
		lsm_alloc_private_end();
		if (it == NULL)
			lsm_report(ERROR, &st, "sort a transaction's writes");
		return it;
	}
	index_catch_up(t);
	lsm_alloc_private_begin();
	it = lsm_memtable_iter_new(t->index);
	lsm_alloc_private_end();
	if (it == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return it;
}

/*
 * KeyFilter: whether the transaction may have written a key to the table.
 * An INSERT or COPY asks for every row whether the transaction wrote the
 * key already; the answer is nearly always no, and finding that out in
 * the index meant a seek through a skiplist of up to 128 MB (a cache miss
 * at most levels: 30% of a COPY) plus a bloom probe of every run.  This is
 * an open-addressing table of 64-bit key hashes (the slot is the hash's
 * low bits, so it grows without the keys): no means no, and a yes (a key
 * written, or a colliding hash) goes on to the exact lookup.  A yes
 * brings the whole index up to date, so it must be rare: 32-bit
 * fingerprints collided about a hundred times in a 1M-row COPY, and each
 * time the index took in up to 64 MB of ops.  Keys are never taken out
 * (ROLLBACK TO leaves a yes that the exact lookup corrects).  It starts at
 * the transaction's first lookup of the table, from the log, and only
 * before any spill (the runs' keys would have to be read back); past
 * FILTER_MAX_SLOTS (6.3M keys) it is given up, so it costs at most 64 MB.
 */
#define FILTER_MIN_SLOTS	((uint64) 256)	/* 2 kB: small transactions insert too */
#define FILTER_MAX_SLOTS	((uint64) 1 << 23)

static uint64
key_fingerprint(LsmSlice key)
{
	uint64		h = hash_bytes_extended(key.data, (int) key.len, 0x4c534d);

	return h != 0 ? h : 1;		/* 0 marks an empty slot */
}

/* Put fp into the table (slots a power of two, one free slot at least). */
static void
filter_put(uint64 *slots, uint64 mask, uint64 fp, uint64 *used)
{
	uint64		i = fp & mask;

	while (slots[i] != 0)
	{
		if (slots[i] == fp)
			return;
		i = (i + 1) & mask;
	}
	slots[i] = fp;
	(*used)++;
}

static void
filter_off(LsmTxnTable *t)
{
	free(t->filter);
	t->filter = NULL;
	t->filter_off = true;
}

/* Add key; grows at 3/4 full, gives up past FILTER_MAX_SLOTS. */
static void
filter_add(LsmTxnTable *t, LsmSlice key)
{
	if (t->filter == NULL)
		return;
	if ((t->filter_used + 1) * 4 > (t->filter_mask + 1) * 3)
	{
		uint64		slots = (t->filter_mask + 1) * 2;
		uint64	   *grown;
		uint64		used = 0;

		grown = slots <= FILTER_MAX_SLOTS ? calloc(slots, sizeof(uint64)) : NULL;
		if (grown == NULL)
		{
			filter_off(t);
			return;
		}
		for (uint64 i = 0; i <= t->filter_mask; i++)
			if (t->filter[i] != 0)
				filter_put(grown, slots - 1, t->filter[i], &used);
		free(t->filter);
		t->filter = grown;
		t->filter_mask = slots - 1;
		t->filter_used = used;
	}
	filter_put(t->filter, t->filter_mask, key_fingerprint(key), &t->filter_used);
}

static LsmCode
filter_start_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key,
				   LsmSlice value, LsmStatus *st)
{
	filter_add((LsmTxnTable *) arg, key);
	return LSM_OK;
}

/* Whether key may have been written by the transaction (true: look). */
static bool
filter_may_contain(LsmTxnTable *t, LsmSlice key)
{
	uint64		fp;
	uint64		i;

	if (t->filter == NULL)
	{
		LsmStatus	st;

		if (t->filter_off)
			return true;
		if (t->spill != NULL)
		{
			filter_off(t);
			return true;
		}
		t->filter = calloc(FILTER_MIN_SLOTS, sizeof(uint64));
		if (t->filter == NULL)
		{
			filter_off(t);
			return true;
		}
		t->filter_mask = FILTER_MIN_SLOTS - 1;
		t->filter_used = 0;
		if (lsm_batch_iterate_entries(lsm_slice(t->log, t->log_len), 1,
									  filter_start_entry, t, &st) != LSM_OK)
			elog(ERROR, "lsm_fdw transaction log is malformed: %s", st.msg);
		if (t->filter == NULL)
			return true;
	}
	fp = key_fingerprint(key);
	for (i = fp & t->filter_mask; t->filter[i] != 0; i = (i + 1) & t->filter_mask)
		if (t->filter[i] == fp)
			return true;
	return false;
}

/*
 * Grow the index: copy its region into one twice as big (a bulk load grows
 * it a dozen times; re-inserting every entry each time cost a sixth of a
 * COPY's time).
 */
static bool
index_add(LsmTxnTable *t, uint64 seq, LsmKind kind, LsmSlice key, LsmSlice value)
{
	while (!lsm_memtable_add(t->index, seq, kind, key, value))
	{
		size_t		size = t->region_size * 2;
		void	   *region = malloc(size);
		LsmMemTable *mt;

		if (region == NULL)
			return false;
		mt = lsm_memtable_grow(t->index, region, size);
		if (mt == NULL)
		{
			free(region);
			return false;
		}
		if (t->index_exposed)
			retire_region(t->region);
		else
			free(t->region);
		t->index_exposed = false;
		t->region = region;
		t->region_size = size;
		t->index = mt;
	}
	return true;
}

/*
 * lsm_txn_table
 *		The current transaction's state for a table, created on first write
 *		when create is true (NULL otherwise when the table has none).
 */
LsmTxnTable *
lsm_txn_table(Relation rel, LsmDb *db, bool create)
{
	Oid			relid = RelationGetRelid(rel);
	LsmTxnTable *t;
	bool		found;

	if (txn_tables == NULL)
	{
		HASHCTL		ctl;

		if (!create)
			return NULL;
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LsmTxnTable);
		ctl.hcxt = TopTransactionContext;
		txn_tables = hash_create("lsm_fdw transaction tables", 8, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	t = hash_search(txn_tables, &relid, create ? HASH_ENTER : HASH_FIND, &found);
	if (t == NULL || found)
		return t;

	/*
	 * SERIALIZABLE: Postgres may still fail the transaction after our
	 * PRE_COMMIT callback (serialization failure), so its lsm writes must be
	 * decided by Postgres's commit, which needs an xid.
	 */
	if (IsolationIsSerializable())
		(void) GetTopTransactionId();

	t->db = db;
	t->first_subid = GetCurrentSubTransactionId();
	t->log = NULL;
	t->log_len = 0;
	t->log_cap = 0;
	t->nops = 0;
	t->region = NULL;
	t->index = NULL;
	t->marks = NIL;
	t->truncated = false;
	t->truncate_nops = 0;
	t->truncate_log_len = 0;
	t->truncates = NIL;
	t->spill = NULL;
	t->log_base_nops = 0;
	t->index_exposed = false;
	t->has_merge = false;
	t->load_paths = NULL;
	t->n_load = 0;
	t->indexed_len = 0;
	t->indexed_nops = 0;
	t->filter = NULL;
	t->filter_mask = 0;
	t->filter_used = 0;
	t->filter_off = false;
	t->hints = NULL;
	t->n_hints = 0;
	t->cap_hints = 0;
	if (!index_rebuild(t, 0))
	{
		hash_search(txn_tables, &relid, HASH_REMOVE, NULL);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	return t;
}

/*
 * Record a savepoint mark for every subtransaction opened since this table
 * was last marked, so ROLLBACK TO finds where to cut.
 */
static void
mark_if_needed(LsmTxnTable *t)
{
	SubTransactionId cur = GetCurrentSubTransactionId();
	LsmSavepointMark *last = t->marks ? llast(t->marks) : NULL;
	MemoryContext old;
	LsmSavepointMark *m;

	if (cur == t->first_subid || (last && last->subid == cur))
		return;
	if (cur < t->first_subid)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	m = palloc(sizeof(LsmSavepointMark));
	m->subid = cur;
	m->log_len = t->log_len;
	m->nops = t->nops;
	t->marks = lappend(t->marks, m);
	MemoryContextSwitchTo(old);
}

/*
 * maybe_spill
 *		Move the table's ops to a sorted run once they pass
 *		lsm_fdw.spill_threshold.  Not inside a subtransaction or while a
 *		savepoint mark could cut the log (ROLLBACK TO cannot take ops back
 *		out of a run), nor once the table has increments (their add vectors
 *		fold over the committed row, which a bulk file would not see).
 */
static void
maybe_spill(LsmTxnTable *t)
{
	if (lsm_spill_threshold <= 0 ||
		t->log_len / 1024 < (size_t) lsm_spill_threshold ||
		t->marks != NIL || t->has_merge ||
		GetCurrentTransactionNestLevel() != 1)
		return;
	t->spill = lsm_spill_add_run(t->spill, ops_iter(t));
	txn_bytes -= Min(txn_bytes, 2 * t->log_len);
	t->log_base_nops = t->nops;
	t->log_len = 0;
	t->truncate_log_len = 0;
	/* at the top level, with no mark: a TRUNCATE's log is in the run too */
	if (t->truncates != NIL)
		((LsmTruncateMark *) llast(t->truncates))->log_len = 0;
	if (!index_rebuild(t, t->region_size))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

/*
 * lsm_txn_write
 *		Add a put or delete of key to the transaction.
 */
void
lsm_txn_write(LsmTxnTable *t, LsmKind kind, LsmSlice key, LsmSlice value)
{
	size_t		need;
	size_t		before;
	size_t		added;
	uint8	   *p;

	mark_if_needed(t);
	if (kind == LSM_KIND_MERGE)
		t->has_merge = true;
	maybe_spill(t);
	before = t->log_len;
	if (key.len > PG_UINT32_MAX / 2 || value.len > PG_UINT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("lsm_fdw row is too large")));
	need = lsm_batch_entry_size(kind, key, value);
	if ((txn_bytes + 2 * need) / 1024 > (size_t) lsm_max_transaction_memory)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("transaction writes more lsm_fdw data than lsm_fdw.max_transaction_memory (%dkB) allows",
						lsm_max_transaction_memory),
				 errhint("Commit in smaller batches or raise lsm_fdw.max_transaction_memory.")));
	if (t->log_len + need > t->log_cap)
	{
		size_t		cap = Max(t->log_cap * 2, Max(t->log_len + need, 8192));

		t->log = t->log
			? repalloc_huge(t->log, cap)
			: MemoryContextAllocHuge(TopTransactionContext, cap);
		t->log_cap = cap;
	}
	p = lsm_batch_encode_entry(t->log + t->log_len, kind, key, value);
	t->log_len = p - t->log;
	added = t->log_len - before;
	t->nops++;
	filter_add(t, key);
	txn_bytes += 2 * added;
}

/*
 * lsm_txn_lookup
 *		The transaction's newest op on key among ops 1..upto: 1 with *value
 *		for a put, 2 with the add vector for an increment (to fold over the
 *		committed row, see lsm_txn_row), 0 for a delete, -1 when the
 *		transaction has not written key.  A key's newest op never needs the
 *		older ones: an increment over the transaction's own put is written
 *		as a put, over its own increment as one combined add vector.  *value points into the index and lives until the transaction
 *		ends or rolls back to a savepoint.
 */
int
lsm_txn_lookup(LsmTxnTable *t, LsmSlice key, uint64 upto, LsmSlice *value)
{
	LsmMemIter	it;
	LsmBuf		target = LSM_BUF_INIT;
	LsmParsedKey pk;
	int			result = -1;
	bool		runs_only = false;

	if (t == NULL)
		return -1;
	if (t->nops == 0 || !filter_may_contain(t, key))
		return t->truncated ? 0 : -1;
	if (t->spill != NULL && upto <= t->log_base_nops)
		runs_only = true;	/* the index holds only later ops */
	index_catch_up(t);
	lsm_memtable_iter_init(&it, t->index);
	if (!lsm_ikey_append(&target, key, upto, LSM_KIND_FOR_SEEK))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	lsm_iter_seek(&it.base, lsm_buf_slice(&target));
	if (!runs_only && lsm_iter_valid(&it.base) &&
		lsm_ikey_parse(lsm_iter_key(&it.base), &pk) &&
		lsm_slice_eq(pk.user_key, key))
	{
		if (t->truncated && pk.seq <= t->truncate_nops)
			result = 0;
		else if (pk.kind == LSM_KIND_PUT || pk.kind == LSM_KIND_MERGE)
		{
			*value = lsm_iter_value(&it.base);
			t->index_exposed = true;
			result = pk.kind == LSM_KIND_PUT ? 1 : 2;
		}
		else
			result = 0;
	}
	else if (t->spill != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		LsmSlice	v;

		/* a copy that lives until the transaction ends, as the index's */
		if (lsm_spill_lookup(t->spill, key, upto, &pk, &v))
		{
			if (t->truncated && pk.seq <= t->truncate_nops)
				result = 0;
			else if (pk.kind == LSM_KIND_PUT)
			{
				*value = v;
				result = 1;
			}
			else
				result = 0;
		}
		else if (t->truncated)
			result = 0;
		MemoryContextSwitchTo(old);
	}
	else if (t->truncated)
		result = 0;
	lsm_buf_free(&target);
	return result;
}

/*
 * lsm_txn_row
 *		The row key has for the transaction: its own put, else the committed
 *		row at read_seq with the transaction's own increments folded in.
 *		false when there is none.  *value points into buf or the index.
 */
bool
lsm_txn_row(LsmTxnTable *t, LsmDb *db, LsmSlice key, uint64 upto, LsmSeq read_seq,
			LsmBuf *buf, LsmSlice *value)
{
	LsmSlice	own;
	int			r = lsm_txn_lookup(t, key, upto, &own);
	LsmReadOptions ro;
	LsmStatus	st;
	LsmCode		rc;
	static LsmBuf folded = LSM_BUF_INIT;	/* reused: nothing leaks on ERROR */
	LsmSlice	base;

	if (r == 1)
	{
		*value = own;
		return true;
	}
	if (r == 0)
		return false;
	lsm_read_options_init(&ro);
	ro.read_seq = read_seq;
	rc = lsm_db_get(db, &ro, key, buf, &st);
	/* its own sum row (on_duplicate 'sum') makes a row where none is committed */
	if (rc == LSM_NOT_FOUND && !(r == 2 && lsm_row_op_creates(own)))
		return false;
	if (rc != LSM_OK && rc != LSM_NOT_FOUND)
		lsm_report(ERROR, &st, "read a row");
	if (r == 2)
	{
		base = lsm_buf_slice(buf);
		lsm_apply_increment(rc == LSM_OK ? &base : NULL, own, &folded);
		if (!lsm_buf_set(buf, lsm_buf_slice(&folded).data, lsm_buf_slice(&folded).len))
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	*value = lsm_buf_slice(buf);
	return true;
}

/*
 * lsm_txn_base_hint
 *		Remember that key's committed row at read_seq was base (see
 *		LsmTxnTable.hints).  It stays true whatever the transaction does
 *		next (a rollback to a savepoint included), so it is never taken back;
 *		the apply checks that it still holds.
 */
void
lsm_txn_base_hint(LsmTxnTable *t, LsmSlice key, LsmSeq read_seq, LsmSlice base)
{
	LsmBaseHint *h;
	char	   *bytes;
	bool		again;

	/* a key incremented again in a row: its newer read replaces the old */
	again = t->n_hints > 0 && lsm_slice_eq(t->hints[t->n_hints - 1].key, key);
	if ((!again && t->n_hints >= MAX_BASE_HINTS) || base.len > MAX_BASE_HINT_ROW ||
		hint_bytes + key.len + base.len > MAX_BASE_HINT_BYTES)
		return;
	/* grown as needed: a one-increment transaction pays for one hint */
	if (!again && t->n_hints == t->cap_hints)
	{
		int			cap = t->cap_hints == 0 ? 4 : Min(t->cap_hints * 2, MAX_BASE_HINTS);

		t->hints = t->hints
			? repalloc(t->hints, sizeof(LsmBaseHint) * cap)
			: MemoryContextAlloc(TopTransactionContext, sizeof(LsmBaseHint) * cap);
		t->cap_hints = cap;
	}
	bytes = MemoryContextAlloc(TopTransactionContext, Max(key.len + base.len, 1));
	memcpy(bytes, key.data, key.len);
	memcpy(bytes + key.len, base.data, base.len);
	h = again ? &t->hints[t->n_hints - 1] : &t->hints[t->n_hints++];
	if (again)
	{
		hint_bytes -= h->key.len + h->base.len;
		pfree((void *) h->key.data);
	}
	h->key = lsm_slice(bytes, key.len);
	h->read_seq = read_seq;
	h->base = lsm_slice(bytes + key.len, base.len);
	hint_bytes += key.len + base.len;
}

/* Sort order of hints: by key, a key's newest read first. */
static int
hint_cmp(const void *a, const void *b)
{
	const LsmBaseHint *x = a;
	const LsmBaseHint *y = b;
	int			c = lsm_slice_cmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->read_seq > y->read_seq ? -1 : x->read_seq < y->read_seq ? 1 : 0;
}

/*
 * The hints the commit passes to the apply: sorted, one per key (its
 * newest read, the likeliest to still hold).
 */
static int
commit_hints(LsmTxnTable *t)
{
	int			n = 0;

	if (t->n_hints == 0)
		return 0;
	qsort(t->hints, t->n_hints, sizeof(LsmBaseHint), hint_cmp);
	for (int i = 0; i < t->n_hints; i++)
		if (n == 0 || !lsm_slice_eq(t->hints[n - 1].key, t->hints[i].key))
			t->hints[n++] = t->hints[i];
	t->n_hints = n;
	return n;
}

/*
 * lsm_txn_truncate
 *		TRUNCATE in this transaction: committed rows and the transaction's
 *		earlier writes are gone for it; at commit the table starts empty.
 */
void
lsm_txn_truncate(LsmTxnTable *t)
{
	SubTransactionId cur = GetCurrentSubTransactionId();
	LsmTruncateMark *last = t->truncates ? llast(t->truncates) : NULL;

	if (last == NULL || last->subid != cur)
	{
		/* (a later TRUNCATE of the same subtransaction takes its place) */
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		last = palloc(sizeof(LsmTruncateMark));
		last->subid = cur;
		t->truncates = lappend(t->truncates, last);
		MemoryContextSwitchTo(old);
	}
	last->nops = t->nops;
	last->log_len = t->log_len;
	t->truncated = true;
	t->truncate_nops = t->nops;
	t->truncate_log_len = t->log_len;
}

/*
 * The op number up to which the transaction's own ops are hidden by a
 * TRUNCATE, or -1 when the committed rows are visible.
 */
int64
lsm_txn_truncated_upto(LsmTxnTable *t)
{
	return (t && t->truncated) ? (int64) t->truncate_nops : -1;
}

uint64
lsm_txn_nops(LsmTxnTable *t)
{
	return t ? t->nops : 0;
}

LsmMemTable *
lsm_txn_index(LsmTxnTable *t)
{
	if (t == NULL)
		return NULL;
	index_catch_up(t);
	t->index_exposed = true;	/* a scan keeps slices of it */
	return t->index;
}

/* Whether some of the transaction's ops on the table are in spilled runs. */
bool
lsm_txn_spilled(LsmTxnTable *t)
{
	return t != NULL && t->spill != NULL;
}

/*
 * lsm_txn_overlay_iter
 *		An iterator over the transaction's ops on the table (internal keys,
 *		op numbers as sequence numbers): the index merged with the spilled
 *		runs.  Its keys and values live only while it stays positioned
 *		(copy them); destroy it with lsm_iter_destroy.
 */
LsmIter *
lsm_txn_overlay_iter(LsmTxnTable *t)
{
	int			n = lsm_spill_nruns(t->spill);
	LsmIter   **children = palloc(sizeof(LsmIter *) * (n + 1));
	LsmIter    *it;

	index_catch_up(t);
	n = lsm_spill_iters(t->spill, children);
	lsm_alloc_private_begin();
	children[n++] = lsm_memtable_iter_new(t->index);
	it = lsm_merge_iter_new(children, n, lsm_ikey_cmp);
	lsm_alloc_private_end();
	pfree(children);
	if (it == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return it;
}

/*
 * commit_entries
 *		The batch entries a table's commit applies: of each key only the
 *		transaction's newest op, in key order.  The older ops of a key are
 *		shadowed for every reader (the batch becomes visible at once), yet
 *		each would get its own sequence number above the horizon while the
 *		batch is applied, and neither flush nor compaction could drop it
 *		before the horizon passes: a transaction that rewrites its keys
 *		many times left every version in the tree.  Key order also makes
 *		the apply cheaper (neighbouring memtable inserts) and the log record
 *		smaller.  Ops hidden by the transaction's TRUNCATE are left out (the
 *		table starts empty at commit).  The index orders a key's ops newest
 *		first, so the first visible op of each key is the one kept.
 */
static void
commit_entries(LsmTxnTable *t, const uint8 **entries, size_t *len, uint32 *count)
{
	size_t		from = t->truncated ? t->truncate_log_len : 0;
	uint64		hidden = t->truncated ? t->truncate_nops : 0;
	uint8	   *out;
	uint8	   *p;
	uint32		n = 0;
	LsmIter    *it;
	StringInfoData prev;
	bool		have_prev = false;
	bool		malformed = false;

	*entries = t->log + from;
	*len = t->log_len - from;
	*count = (uint32) (t->nops - hidden);
	if (*count <= 1)
		return;

	/* every kept op is also in the log, so the log's size bounds the output */
	out = MemoryContextAllocHuge(TopTransactionContext, *len);
	p = out;
	initStringInfo(&prev);
	it = ops_iter(t);
	lsm_alloc_private_begin();	/* a sorted log's key buffer grows */
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmParsedKey pk;

		if (!lsm_ikey_parse(lsm_iter_key(it), &pk))
		{
			malformed = true;
			break;
		}
		if (pk.seq <= hidden)
			continue;
		if (have_prev && lsm_slice_eq(pk.user_key, lsm_slice(prev.data, prev.len)))
			continue;
		resetStringInfo(&prev);
		appendBinaryStringInfo(&prev, (const char *) pk.user_key.data, pk.user_key.len);
		have_prev = true;
		p = lsm_batch_encode_entry(p, pk.kind, pk.user_key,
								   pk.kind != LSM_KIND_DELETE ? lsm_iter_value(it)
								   : lsm_slice(NULL, 0));
		Assert(p <= out + *len);
		n++;
	}
	if (lsm_iter_status(it, NULL) != LSM_OK)
		malformed = true;
	lsm_iter_destroy(it);
	lsm_alloc_private_end();
	pfree(prev.data);
	if (malformed)
		elog(ERROR, "lsm_fdw transaction index is malformed");
	*entries = out;
	*len = p - out;
	*count = n;
}

/*
 * Commit every table's ops.  Runs at PRE_COMMIT, where an ERROR still
 * aborts the transaction.  Without an xid the lsm_fdw log decides the
 * commit; with one, Postgres's commit does (commit.c).
 */
static void
commit_all(void)
{
	HASH_SEQ_STATUS seq;
	LsmTxnTable *t;
	LsmCommitTable *tables;
	int			n = 0;
	TransactionId xid;

	if (txn_tables == NULL)
		return;
	/* before any work that a wait here could make a waste */
	lsm_keylock_commit_blind(TransactionIdIsValid(GetTopTransactionIdIfAny()));
	tables = MemoryContextAllocZero(TopTransactionContext,
									sizeof(LsmCommitTable) * hash_get_num_entries(txn_tables));
	hash_seq_init(&seq, txn_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		LsmCommitTable *c;

		if (t->nops == 0 && !t->truncated)
			continue;
		c = &tables[n++];
		c->dboid = MyDatabaseId;
		c->relid = t->relid;
		c->slot = lsm_table_slot(t->relid);
		if (c->slot == NULL)
			elog(ERROR, "lsm_fdw table %u is not open in this backend", t->relid);
		c->truncate = t->truncated;
		if (t->spill != NULL)
		{
			LsmSstOptions so;

			/* bulk commit: everything goes into files the commit ingests */
			lsm_bulk_file_options(t->relid, &so);
			t->n_load = lsm_spill_build(t->spill, ops_iter(t),
										t->truncated ? t->truncate_nops : 0,
										&so, &t->load_paths);
			c->ingest_paths = t->load_paths;
			c->n_ingest = t->n_load;
			c->entries = NULL;
			c->entries_len = 0;
			c->count = t->n_load;
			continue;
		}
		commit_entries(t, &c->entries, &c->entries_len, &c->count);
		/* a truncate empties the table the hints read */
		if (!t->truncated && c->slot->db == t->db)
		{
			c->n_hints = commit_hints(t);
			c->hints = t->hints;
		}
	}
	if (n == 0)
		return;
	xid = GetTopTransactionIdIfAny();
	if (TransactionIdIsValid(xid))
		lsm_commit_prepare(xid, n, tables);
	else
		lsm_commit_lsm_decided(n, tables);
}

static void
lsm_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			commit_all();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (txn_tables != NULL && hash_get_num_entries(txn_tables) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has written to lsm_fdw tables")));
			lsm_keylock_check_prepare();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			lsm_commit_resolve(true);
			lsm_keylock_xact_end();	/* after the publication */
			lsm_commit_forget();
			reset_txn_state();
			lsm_snapshot_xact_end();
			lsm_idle_close_arm();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* an ERROR out of a spill left engine allocations private */
			lsm_alloc_private_end();
			lsm_commit_resolve(false);
			lsm_keylock_xact_end();	/* after the publication */
			lsm_commit_forget();
			reset_txn_state();
			lsm_snapshot_xact_end();
			lsm_idle_close_arm();
			break;
	}
	/* after the commit above applied the writes to tables a drop closes */
	lsm_drop_xact_event(event);
}

/*
 * On ROLLBACK TO SAVEPOINT, cut every table's op log back to the mark of
 * the aborted subtransaction; on RELEASE, fold its mark into the parent.
 */
static void
subxact_txn_tables(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid)
{
	HASH_SEQ_STATUS seq;
	LsmTxnTable *t;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		lsm_alloc_private_end();	/* as at abort, for an exception block */
	if (txn_tables == NULL ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	hash_seq_init(&seq, txn_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		LsmSavepointMark *m = t->marks ? llast(t->marks) : NULL;

		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			/*
			 * The parent inherits the ops.  The mark moves to the parent
			 * unless the parent already has one, or first wrote the table
			 * itself (then aborting the parent empties the log anyway).
			 */
			if (m && m->subid == mySubid)
			{
				LsmSavepointMark *prev = list_length(t->marks) > 1
				? list_nth(t->marks, list_length(t->marks) - 2) : NULL;

				if ((prev && prev->subid == parentSubid) ||
					parentSubid <= t->first_subid)
					t->marks = list_delete_last(t->marks);
				else
					m->subid = parentSubid;
			}
			if (t->first_subid == mySubid)
				t->first_subid = parentSubid;
			if (t->truncates != NIL &&
				((LsmTruncateMark *) llast(t->truncates))->subid == mySubid)
			{
				LsmTruncateMark *tm = llast(t->truncates);
				LsmTruncateMark *prev = list_length(t->truncates) > 1
				? list_nth(t->truncates, list_length(t->truncates) - 2) : NULL;

				/* the parent's own earlier TRUNCATE is superseded */
				if (prev && prev->subid == parentSubid)
					t->truncates = list_delete_nth_cell(t->truncates,
														list_length(t->truncates) - 2);
				tm->subid = parentSubid;
			}
			continue;
		}

		/* ABORT_SUB: the TRUNCATE made before this subtransaction, if any */
		if (t->truncates != NIL &&
			((LsmTruncateMark *) llast(t->truncates))->subid >= mySubid)
		{
			LsmTruncateMark *tm;

			while (t->truncates != NIL &&
				   ((LsmTruncateMark *) llast(t->truncates))->subid >= mySubid)
				t->truncates = list_delete_last(t->truncates);
			tm = t->truncates ? llast(t->truncates) : NULL;
			t->truncated = tm != NULL;
			t->truncate_nops = tm ? tm->nops : 0;
			t->truncate_log_len = tm ? tm->log_len : 0;
		}
		if (m && m->subid == mySubid)
		{
			txn_bytes -= Min(txn_bytes, 2 * (t->log_len - m->log_len));
			t->log_len = m->log_len;
			t->nops = m->nops;
			t->marks = list_delete_last(t->marks);
		}
		else if (t->first_subid >= mySubid)
		{
			txn_bytes -= Min(txn_bytes, 2 * t->log_len);
			t->log_len = 0;
			t->nops = t->log_base_nops;	/* 0: runs are made at top level only */
			t->first_subid = parentSubid;
		}
		else
			continue;
		/* an index that holds none of the cut ops stays */
		if (t->indexed_len > t->log_len &&
			!index_rebuild(t, t->region_size))
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
}

static void
lsm_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	subxact_txn_tables(event, mySubid, parentSubid);
	/* after the above, which may still use a table a rollback closes */
	lsm_drop_subxact_event(event, mySubid, parentSubid);
}

/*
 * lsm_xact_init
 *		Register the transaction callbacks (at load: reads need the
 *		transaction end too, to drop their horizon).
 */
void
lsm_xact_init(void)
{
	RegisterXactCallback(lsm_xact_callback, NULL);
	RegisterSubXactCallback(lsm_subxact_callback, NULL);
}
