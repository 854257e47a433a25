/*
 * lsm_status.h
 *		Error values of the lsm engine.
 *
 * Every fallible engine call returns an LsmCode and, when that is not
 * LSM_OK, fills the LsmStatus the caller passed with a message that names
 * the file and offset involved.  Errors are born in one place,
 * lsm_status_set(), so the Postgres glue can map codes to SQLSTATEs in one
 * file.  The engine never aborts the process and never longjmps.
 */
#ifndef LSM_STATUS_H
#define LSM_STATUS_H

#include <stddef.h>

/* On-disk and cross-layer meaning is fixed: never renumber. */
typedef enum LsmCode
{
	LSM_OK = 0,
	LSM_NOT_FOUND = 1,			/* key absent; not an error for get */
	LSM_CORRUPTION = 2,			/* checksum mismatch, bad format */
	LSM_IO_ERROR = 3,			/* a system call failed; sys_errno says why */
	LSM_NO_SPACE = 4,			/* ENOSPC / EDQUOT */
	LSM_INVALID_ARGUMENT = 5,	/* caller passed something the engine refuses */
	LSM_NO_MEMORY = 6,			/* malloc or an arena ran out */
	LSM_BUSY = 7,				/* write stall or lock held; retry later */
	LSM_NOT_SUPPORTED = 8,
	LSM_INTERRUPTED = 9,		/* the host's wait hook ended a wait (cancel) */
	LSM_TIMED_OUT = 10			/* the host's wait hook ended a wait (timeout) */
} LsmCode;

#define LSM_STATUS_MSG_LEN 256

typedef struct LsmStatus
{
	LsmCode		code;
	int			sys_errno;		/* errno of the failed system call, or 0 */
	char		msg[LSM_STATUS_MSG_LEN];
} LsmStatus;

/* Reset to LSM_OK with an empty message. */
extern void lsm_status_clear(LsmStatus *st);

/*
 * Record an error and return its code, so callers can write
 *		return lsm_status_set(st, LSM_CORRUPTION, 0, "bad block in %s", path);
 * st may be NULL (the error is then only returned).
 */
extern LsmCode lsm_status_set(LsmStatus *st, LsmCode code, int sys_errno,
							  const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Like lsm_status_set, with code derived from errno (ENOSPC -> NO_SPACE). */
extern LsmCode lsm_status_errno(LsmStatus *st, int sys_errno,
								const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

extern const char *lsm_code_name(LsmCode code);

#endif							/* LSM_STATUS_H */
