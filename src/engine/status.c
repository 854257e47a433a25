/*
 * status.c
 *		Construction of LsmStatus error values.
 *
 * Every engine error is recorded here, so there is exactly one place that
 * decides how an errno maps to an LsmCode and how messages are formatted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lsm_status.h"

/*
 * lsm_status_clear
 *		Reset a status to success with an empty message.
 */
void
lsm_status_clear(LsmStatus *st)
{
	if (st == NULL)
		return;
	st->code = LSM_OK;
	st->sys_errno = 0;
	st->msg[0] = '\0';
}

/*
 * status_vset
 *		Common body of lsm_status_set and lsm_status_errno.
 *
 * The message is truncated to fit; a truncated message is still far more
 * useful than none, and the code is what callers branch on.
 */
static void
status_vset(LsmStatus *st, LsmCode code, int sys_errno, const char *fmt,
			va_list ap)
{
	st->code = code;
	st->sys_errno = sys_errno;
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
}

/*
 * lsm_status_set
 *		Record an error in st (when not NULL) and return its code.
 */
LsmCode
lsm_status_set(LsmStatus *st, LsmCode code, int sys_errno, const char *fmt,...)
{
	va_list		ap;

	if (st == NULL)
		return code;
	va_start(ap, fmt);
	status_vset(st, code, sys_errno, fmt, ap);
	va_end(ap);
	return code;
}

/*
 * lsm_status_errno
 *		Record a failed system call.
 *
 * Running out of disk (ENOSPC, EDQUOT) and memory get codes of their own
 * because the caller reacts differently to them (stall writes, report a
 * distinct SQLSTATE); everything else is a plain I/O error.  strerror() text
 * is appended so the message stands on its own in a server log.
 */
LsmCode
lsm_status_errno(LsmStatus *st, int sys_errno, const char *fmt,...)
{
	LsmCode		code;
	va_list		ap;
	size_t		len;

	if (sys_errno == ENOSPC
#ifdef EDQUOT
		|| sys_errno == EDQUOT
#endif
		)
		code = LSM_NO_SPACE;
	else if (sys_errno == ENOMEM)
		code = LSM_NO_MEMORY;
	else
		code = LSM_IO_ERROR;

	if (st == NULL)
		return code;
	va_start(ap, fmt);
	status_vset(st, code, sys_errno, fmt, ap);
	va_end(ap);

	len = strlen(st->msg);
	if (len < sizeof(st->msg) - 1)
		snprintf(st->msg + len, sizeof(st->msg) - len, ": %s",
				 strerror(sys_errno));
	return code;
}

/*
 * lsm_code_name
 *		A short constant name for a code, for messages and test output.
 */
const char *
lsm_code_name(LsmCode code)
{
	switch (code)
	{
		case LSM_OK:
			return "ok";
		case LSM_NOT_FOUND:
			return "not found";
		case LSM_CORRUPTION:
			return "corruption";
		case LSM_IO_ERROR:
			return "I/O error";
		case LSM_NO_SPACE:
			return "no space";
		case LSM_INVALID_ARGUMENT:
			return "invalid argument";
		case LSM_NO_MEMORY:
			return "out of memory";
		case LSM_BUSY:
			return "busy";
		case LSM_NOT_SUPPORTED:
			return "not supported";
		case LSM_INTERRUPTED:
			return "interrupted";
		case LSM_TIMED_OUT:
			return "timed out";
	}
	return "unknown error";
}
