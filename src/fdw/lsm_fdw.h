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

#include "nodes/pg_list.h"

/* Table-level settings after option validation and defaults. */
typedef enum LsmCompactionStyle
{
	LSM_COMPACTION_LEVELED,
	LSM_COMPACTION_TIERED
} LsmCompactionStyle;

typedef struct LsmTableSettings
{
	LsmCompactionStyle compaction;
	bool		compress;		/* zstd when true */
	int			compression_level;
	int			block_size;
	int			bloom_bits_per_key;
	int			memtable_size;	/* bytes */
	bool		overwrite_on_duplicate;
} LsmTableSettings;

/* in options.c */
extern void lsm_settings_for_table(Oid relid, LsmTableSettings *settings);
extern bool lsm_column_is_key(Oid relid, AttrNumber attnum);

#endif							/* LSM_FDW_H */
