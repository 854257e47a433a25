/*
 * lsm_fdw.h
 *		Internal interface of the Postgres glue of lsm_fdw.
 *
 * The glue is thin: it translates Postgres concepts (options, tuples,
 * quals, transactions) into calls of the engine in src/engine, and engine
 * status codes into ereport()s.
 */
#ifndef LSM_FDW_H
#define LSM_FDW_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "access/xact.h"
#include "commands/explain.h"
#include "datatype/timestamp.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "lsm.h"
#include "memtable.h"

/* Expiry columns beyond this attribute number are not filtered by compaction. */
#ifndef LSM_TTL_MAX_ATTNO
#define LSM_TTL_MAX_ATTNO	64
#endif

/* Table-level settings after option validation and defaults. */
typedef enum LsmCompactionStyle
{
	LSM_COMPACTION_LEVELED,
	LSM_COMPACTION_TIERED
} LsmCompactionStyle;

/*
 * blob_min_size's default: row values of at least this many bytes are kept
 * in blob files (docs/design.md, "Blob files").  At ~1 KiB rows it took
 * the 1-client put with synchronous commit off from 1.13-1.19x heap to
 * 1.52x (compaction moved references, not values); counters and other
 * short rows stay in the tree, where a reference would cost more than it
 * saves.
 */
#define LSM_DEFAULT_BLOB_MIN_SIZE 512

/*
 * blob_gc_percent's default: a compaction moves the live values out of the
 * blob files it meets that are at least this much garbage, so a blob file
 * holds up to about twice its live values (docs/design.md, "Blob files").
 */
#define LSM_DEFAULT_BLOB_GC_PERCENT 50

typedef struct LsmTableSettings
{
	LsmCompactionStyle compaction;
	int			compress;		/* LsmCompression of the bottom level */
	int			compress_upper; /* LsmCompression of level 0 and upper levels */
	int			compression_level;
	int			block_size;
	int			bloom_bits_per_key;
	int			memtable_size;	/* bytes */
	int			blob_min_size;	/* values this big go to blob files; 0: none */
	int			blob_gc_percent;	/* blob files this much garbage are collected */
	bool		overwrite_on_duplicate;
	bool		sum_on_duplicate;	/* on_duplicate 'sum' */
	/* ttl_column: its attribute number (0: none) and the typlens before it */
	int			ttl_attno;
	int16		ttl_typlens[LSM_TTL_MAX_ATTNO];
	int64		ttl_usecs;		/* ttl: added to the column; 0: none */
} LsmTableSettings;

/* The key columns of a table, in key order (= column order). */
typedef struct LsmKeyInfo
{
	int			nkeys;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	Oid			base_types[INDEX_MAX_KEYS]; /* domains resolved */
	Oid			collations[INDEX_MAX_KEYS];
	Oid			sort_colls[INDEX_MAX_KEYS]; /* text keys led by this
											 * collation's sort key */
	int			key_format;		/* 1: text keys are bytes; 2: sort keys */
	bool		stale;			/* sort keys from another collation version:
								 * no pushdown, no writes */
	bool	   *is_key;			/* per attribute (index attnum - 1) */
	AttrNumber	ttl_attno;		/* ttl_column, InvalidAttrNumber if none */
	int64		ttl_usecs;		/* ttl option: expiry = column + this */
} LsmKeyInfo;

/* Access kinds of a scan; stored in plans: keep the numbering. */
typedef enum LsmAccessKind
{
	LSM_ACCESS_FULL = 0,
	LSM_ACCESS_POINT = 1,		/* every key column = value */
	LSM_ACCESS_MULTI = 2,		/* leading columns =, last = ANY(array) */
	LSM_ACCESS_RANGE = 3,		/* leading columns =, next bounded or prefix */
	LSM_ACCESS_MULTI_RANGE = 4,	/* leading columns =, a non-last one =
								 * ANY(array): a range per value */
	LSM_ACCESS_NONE = 5			/* no key column: the table holds no row */
} LsmAccessKind;

/* in options.c */
extern void lsm_settings_for_table(Oid relid, LsmTableSettings *settings);
extern bool lsm_column_is_key(Oid relid, AttrNumber attnum);
extern AttrNumber lsm_table_ttl_column(Relation rel, int64 *ttl_usecs);
extern bool lsm_ttl_expiry(TimestampTz column, int64 ttl_usecs, TimestampTz *expiry);
extern int	lsm_table_key_format(Oid relid, char **collation_version);
extern void lsm_table_set_key_format(Oid relid, int key_format,
									 const char *collation_version);

/* in relcache.c: per-backend cache of what the options say */
extern void lsm_key_info(Relation rel, LsmKeyInfo *ki);
extern void lsm_cached_settings(Relation rel, LsmTableSettings *s);

/* in analyze.c */
extern bool lsmAnalyzeForeignTable(Relation rel, AcquireSampleRowsFunc *func,
								   BlockNumber *totalpages);

/* in ddl.c */
extern void lsm_install_ddl_hook(void);

/* in table.c */
extern LsmDb *lsm_open_table(Relation rel);
extern void lsm_table_save_settings(Oid relid);
/* in src/host/settings.c: a table's OPTIONS file */
extern void lsm_write_settings(const char *dir, const LsmTableSettings *s);
extern void lsm_read_settings(const char *dir, LsmTableSettings *s);
extern char *lsm_table_dir(Oid dboid, Oid relid);
extern int	lsm_errcode(LsmCode code);
extern void lsm_report(int elevel, const LsmStatus *st, const char *what);
extern void lsm_key_info_build(Relation rel, LsmKeyInfo *ki);
extern bool lsm_key_info_try(Relation rel, LsmKeyInfo *ki);
extern bool lsm_key_info_if_any(Relation rel, LsmKeyInfo *ki);
extern void lsm_notice_no_key(Relation rel);
extern bool lsm_table_has_data(Relation rel);
extern void lsm_copy_database_tables(Oid src, Oid dst);
extern void lsm_key_info_for_relid(Oid relid, LsmKeyInfo *ki);
extern void lsm_install_drop_hook(void);
extern void lsm_sweep_interrupted_drops(void);
extern bool lsm_forget_tables(Oid dboid, Oid relid);
extern bool lsm_is_oid_name(const char *name);
extern void lsm_drop_xact_event(XactEvent event);
extern void lsm_drop_subxact_event(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid);
extern void lsm_drop_note_open(Relation rel);
extern bool lsm_is_lsm_table(Oid relid);

/* in xact.c */
typedef struct LsmTxnTable LsmTxnTable;
extern int	lsm_max_transaction_memory;
typedef enum LsmSyncCommit
{
	LSM_SYNC_COMMIT_AUTO,		/* follow Postgres's synchronous_commit */
	LSM_SYNC_COMMIT_OFF,
	LSM_SYNC_COMMIT_ON
} LsmSyncCommit;
extern int	lsm_synchronous_commit;
extern bool lsm_sync_commit(void);
extern int	lsm_wal_sync_delay;
extern LsmTxnTable *lsm_txn_table(Relation rel, LsmDb *db, bool create);
extern void lsm_txn_write(LsmTxnTable *t, LsmKind kind, LsmSlice key, LsmSlice value);
extern int	lsm_txn_lookup(LsmTxnTable *t, LsmSlice key, uint64 upto, LsmSlice *value);
extern uint64 lsm_txn_nops(LsmTxnTable *t);
extern void lsm_txn_base_hint(LsmTxnTable *t, LsmSlice key, LsmSeq read_seq,
							  LsmSlice base);
extern void lsm_txn_truncate(LsmTxnTable *t);
extern int64 lsm_txn_truncated_upto(LsmTxnTable *t);
extern LsmMemTable *lsm_txn_index(LsmTxnTable *t);
extern bool lsm_txn_spilled(LsmTxnTable *t);
extern LsmIter *lsm_txn_overlay_iter(LsmTxnTable *t);
extern bool lsm_txn_row(LsmTxnTable *t, LsmDb *db, LsmSlice key, uint64 upto,
						LsmSeq read_seq, LsmBuf *buf, LsmSlice *value);

/* in rowmerge.c: increments and summing inserts as merge operands (docs/format.md) */
#define LSM_ROW_ADD_VERSION		0xA1	/* add vector, integer deltas */
#define LSM_ROW_ADDN_VERSION	0xA2	/* add vector with numeric deltas */
#define LSM_ROW_SUM_VERSION		0xA3	/* sum row (on_duplicate 'sum') */
#define LSM_ROW_SEQ_VERSION		0xA4	/* a sequence of the above */
#define LSM_ROW_ADD_MAX_ATTS	1600	/* MaxHeapAttributeNumber */
extern bool lsm_row_add_encode(LsmBuf *out, int ntyp, const int *typlens, int n,
							   const int *attnums, const Datum *deltas);
extern bool lsm_row_sum_encode(LsmBuf *out, int ntyp, const int *typlens, int nsum,
							   const int *attnums, const int32 *typmods, LsmSlice row);
extern LsmCode lsm_row_add_combine(LsmSlice a, LsmSlice b, LsmBuf *out, LsmStatus *st);
extern bool lsm_row_op_creates(LsmSlice op);
extern LsmCode lsm_row_merge(void *arg, LsmSlice key, const LsmSlice *base,
							 const LsmSlice *operands, int n_operands, LsmBuf *out,
							 LsmStatus *st);
extern void lsm_apply_increment(const LsmSlice *base, LsmSlice operand, LsmBuf *out);
extern void lsm_xact_init(void);

/* in keylock.c */
extern int	lsm_max_key_locks_per_transaction;

/* in plan.c */
extern void lsmGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
extern void lsmGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
							   Oid foreigntableid);
extern ForeignScan *lsmGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid, ForeignPath *best_path,
									  List *tlist, List *scan_clauses,
									  Plan *outer_plan);
extern void lsm_refuse_ctid(Node *node, Index varno, Oid relid);
extern bool lsm_qual_is_key_equality(PlannerInfo *root, Index relid,
									 const LsmKeyInfo *ki, Expr *qual);

/* in direct.c */
extern void lsm_set_direct_modify_callbacks(FdwRoutine *routine);

/* in scan.c */
extern int	lsm_coerce_key_value(Oid coltype, Oid valtype, Datum v, Datum *out);
extern void lsmBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *lsmIterateForeignScan(ForeignScanState *node);
extern void lsmReScanForeignScan(ForeignScanState *node);
extern void lsmEndForeignScan(ForeignScanState *node);
extern void lsmExplainForeignScan(ForeignScanState *node, ExplainState *es);
extern void lsm_explain_read_counters(const LsmReadCounters *c, ExplainState *es);

/* in rows.c */
extern bool lsm_store_row(TupleTableSlot *slot, const LsmKeyInfo *ki,
						  LsmSlice key, LsmSlice value);
extern bool lsm_store_row_cols(TupleTableSlot *slot, const LsmKeyInfo *ki,
							   const bool *wanted, LsmSlice key, LsmSlice value);
extern bool lsm_row_expired(const LsmKeyInfo *ki, TupleDesc desc, LsmSlice value);
extern bool lsm_key_order_usable(const LsmKeyInfo *ki, int col, Oid collid);
extern char *lsm_key_collation_versions(const LsmKeyInfo *ki);
extern void lsm_check_key_writable(Relation rel, const LsmKeyInfo *ki);
extern bool lsm_encode_key_from_values(StringInfo buf, const LsmKeyInfo *ki,
									   Relation rel, const Datum *values,
									   const bool *isnull, bool error_on_null);

/* in modify.c */
extern void lsm_set_modify_callbacks(FdwRoutine *routine);

#endif							/* LSM_FDW_H */
