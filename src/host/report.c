/*
 * report.c
 *		Engine errors as Postgres errors: the one mapping of engine codes
 *		(LsmCode) to SQLSTATEs, and ereport of an engine status.
 */
#include "postgres.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_wait.h"
/*
 * lsm_errcode
 *		The SQLSTATE that fits an engine code: the one mapping of LsmCode to
 *		SQLSTATE, used by every ereport of an engine status.
 */
int
lsm_errcode(LsmCode code)
{
	switch (code)
	{
		case LSM_CORRUPTION:
			return ERRCODE_DATA_CORRUPTED;
		case LSM_NO_SPACE:
			return ERRCODE_DISK_FULL;
		case LSM_NO_MEMORY:
			return ERRCODE_OUT_OF_MEMORY;
		case LSM_INVALID_ARGUMENT:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case LSM_BUSY:
			return ERRCODE_OBJECT_IN_USE;
		case LSM_NOT_SUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case LSM_IO_ERROR:
		default:
			return ERRCODE_IO_ERROR;
	}
}

/*
 * lsm_report
 *		Turn an engine status into an ereport at elevel, with the SQLSTATE
 *		that fits the engine code.
 *
 * As in contrib modules, errmsg says what lsm_fdw failed to do and the
 * engine's own text (file names, offsets, errno) goes to errdetail.
 */
void
lsm_report(int elevel, const LsmStatus *st, const char *what)
{
	if (st->code == LSM_INTERRUPTED || st->code == LSM_TIMED_OUT)
	{
		lsm_report_wait_end(elevel, st);	/* a cancel, a timeout */
		return;
	}
	/* an increment that leaves its column's range (rowmerge.c) */
	if (st->code == LSM_INVALID_ARGUMENT && st->sys_errno == ERANGE)
	{
		ereport(elevel,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 strstr(st->msg, "numeric") ? errmsg("numeric value out of range") :
				 errmsg("integer out of range"),
				 errdetail("lsm_fdw could not %s: %s", what, st->msg)));
		return;
	}
	ereport(elevel,
			(errcode(lsm_errcode(st->code)),
			 errmsg("lsm_fdw could not %s", what),
			 errdetail("%s", st->msg)));
}
