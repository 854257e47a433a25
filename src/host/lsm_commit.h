/*
 * lsm_commit.h
 *		What xact.c hands commit.c: one entry per table a transaction wrote.
 */
#ifndef LSM_COMMIT_H
#define LSM_COMMIT_H

#include "postgres.h"

#include "lsm_shared.h"

typedef struct LsmCommitTable
{
	Oid			dboid;
	Oid			relid;
	LsmTableSlot *slot;
	bool		truncate;		/* empty the table before applying */
	const uint8 *entries;		/* batch entries (batch.h), without header */
	size_t		entries_len;
	uint32		count;			/* entries; files for an ingest */
	char	  **ingest_paths;	/* bulk commit: files in lsm_fdw/bulk */
	int			n_ingest;
	const LsmBaseHint *hints;	/* for the apply (lsm.h); NULL for none */
	int			n_hints;

	/* filled in by commit.c */
	size_t		batch_offset;	/* of the batch in the record payload */
	uint64		first_seq;
	uint64		ticket;
	bool		applied;		/* under the log's insert lock (commit.c) */
} LsmCommitTable;

extern void lsm_commit_lsm_decided(int ntables, LsmCommitTable *tables);
extern void lsm_commit_prepare(TransactionId xid, int ntables, LsmCommitTable *tables);
extern void lsm_commit_resolve(bool committed);
extern void lsm_commit_forget(void);
extern void lsm_commit_publish(void);

/* in table.c */
extern LsmTableSlot *lsm_table_slot(Oid relid);
extern void lsm_truncate_slot(LsmTableSlot *slot, uint64 floor);
extern void lsm_truncate_slot_in_commit(LsmTableSlot *slot, uint64 floor);

/* What pg_xact says of a transaction (lsm_xid_outcome) */
#define LSM_XID_COMMITTED		1
#define LSM_XID_NOT_COMMITTED	0
#define LSM_XID_IN_PROGRESS		(-1)
#define LSM_XID_TOO_OLD			(-2)
extern int	lsm_xid_outcome(TransactionId xid);
extern void lsm_slot_check_writable(LsmTableSlot *slot);

#endif							/* LSM_COMMIT_H */
