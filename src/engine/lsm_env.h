/*
 * lsm_env.h
 *		Everything the engine asks of its host: files, directories, clock,
 *		mutexes, waits and what to do when shared state is beyond repair.
 *
 * The engine is host-neutral, as SQLite LSM1's lsm_env is: standalone tests
 * use env_posix.c (and the fault-injecting test env wrapped around it); the
 * Postgres glue supplies one built on fd.c and LWLocks.  Every call reports
 * failure through LsmStatus with the path it was working on.
 */
#ifndef LSM_ENV_H
#define LSM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_status.h"

typedef struct LsmEnv LsmEnv;
typedef struct LsmFile LsmFile;		/* opaque; owned by the env */
typedef struct LsmMutex LsmMutex;	/* opaque; owned by the env */

/* Flags for open_file. */
#define LSM_OPEN_READ		0x01
#define LSM_OPEN_WRITE		0x02	/* read-write */
#define LSM_OPEN_CREATE		0x04	/* create if missing */
#define LSM_OPEN_EXCL		0x08	/* fail if it exists */
#define LSM_OPEN_TRUNC		0x10

/*
 * Why the engine waits, for the host's wait hook (a Postgres host reports it
 * as a wait event).  Hosts map these by value: never renumber.
 */
typedef enum LsmWaitKind
{
	LSM_WAIT_MEMTABLE_ROOM = 0, /* a writer: frozen memtables or region pool full */
	LSM_WAIT_WRITE_STALL = 1,	/* a writer: slowdown or stop (level-0 pressure) */
	LSM_WAIT_FLUSH = 2,			/* lsm_db_flush: another flush, or pool full */
	LSM_WAIT_COMPACTION = 3,	/* manual compaction: files held by others */
	LSM_WAIT_KINDS				/* how many there are */
} LsmWaitKind;

/* Called once per directory entry by list_dir; return false to stop. */
typedef bool (*LsmDirCallback) (void *arg, const char *name);

struct LsmEnv
{
	/* Files. Paths are absolute or relative to the process cwd. */
	LsmCode		(*open_file) (LsmEnv *env, const char *path, int flags,
							  LsmFile **file, LsmStatus *st);
	/* Read exactly n bytes at off; a short read is LSM_CORRUPTION/IO error. */
	LsmCode		(*read_at) (LsmFile *file, void *buf, size_t n, uint64_t off,
							LsmStatus *st);
	/* Read up to n bytes at off; *got says how many (0 at end of file). */
	LsmCode		(*read_some) (LsmFile *file, void *buf, size_t n, uint64_t off,
							  size_t *got, LsmStatus *st);
	LsmCode		(*write_at) (LsmFile *file, const void *buf, size_t n, uint64_t off,
							 LsmStatus *st);
	/* Make written data durable (fdatasync). */
	LsmCode		(*sync) (LsmFile *file, LsmStatus *st);
	LsmCode		(*file_size) (LsmFile *file, uint64_t *size, LsmStatus *st);
	LsmCode		(*truncate) (LsmFile *file, uint64_t size, LsmStatus *st);
	/* Always releases the handle, even when it reports an error. */
	LsmCode		(*close_file) (LsmFile *file, LsmStatus *st);

	/* Directories and names. */
	LsmCode		(*mkdir_p) (LsmEnv *env, const char *path, LsmStatus *st);
	LsmCode		(*rename) (LsmEnv *env, const char *from, const char *to,
						   LsmStatus *st);
	LsmCode		(*unlink) (LsmEnv *env, const char *path, LsmStatus *st);
	/* fsync the directory so created/renamed/unlinked names are durable. */
	LsmCode		(*sync_dir) (LsmEnv *env, const char *path, LsmStatus *st);
	LsmCode		(*list_dir) (LsmEnv *env, const char *path, LsmDirCallback cb,
							 void *arg, LsmStatus *st);
	bool		(*exists) (LsmEnv *env, const char *path);
	/* Remove a directory and everything in it (DROP TABLE, tests). */
	LsmCode		(*remove_tree) (LsmEnv *env, const char *path, LsmStatus *st);

	/* Clock, microseconds since an arbitrary epoch; monotonic. */
	uint64_t	(*now_micros) (LsmEnv *env);
	void		(*sleep_micros) (LsmEnv *env, uint64_t us);

	/* Mutexes for engine state shared by threads (or processes). */
	LsmMutex   *(*mutex_create) (LsmEnv *env);
	void		(*mutex_destroy) (LsmMutex *m);
	void		(*mutex_lock) (LsmMutex *m);
	void		(*mutex_unlock) (LsmMutex *m);

	/*
	 * Wait up to micros for another thread (or process) to change what the
	 * engine waits for.  The engine calls it holding none of its locks and
	 * looks at its condition again after it, so waking early is harmless.
	 * Returning anything but LSM_OK (LSM_INTERRUPTED, LSM_TIMED_OUT, with st
	 * filled) ends the wait: the engine call that waited returns that code
	 * with nothing half done, so a host can cancel a wait without unwinding
	 * through engine frames.  NULL: sleep_micros, never fails.
	 */
	LsmCode		(*wait) (LsmEnv *env, LsmWaitKind kind, uint64_t micros,
						 LsmStatus *st);

	/*
	 * The calling thread's reader slot: a number no other thread or
	 * process using the same databases has at the same time, or -1.  Gets
	 * of a thread with a slot below the database's reader_slots keep their
	 * superversion there and take no lock (db_read.c); -1 or NULL: every
	 * get pins under the database mutex.  Per thread, so not reentrant:
	 * the engine never runs a get inside another get of the same thread.
	 */
	int			(*reader_slot) (LsmEnv *env);

	/*
	 * State shared with other processes is beyond repair (one died holding
	 * a shared mutex): report msg and end this process; must not return.
	 * A server host makes it a crash restart.  NULL: stderr and abort().
	 */
	void		(*fatal) (LsmEnv *env, const char *msg);

	/*
	 * Called between the blocks of a table file being built (flushes,
	 * compactions, bulk loads): long stretches of CPU work, where a host
	 * whose background work shares CPUs with latency-sensitive processes
	 * can give the CPU up.  NULL: nothing.
	 */
	void		(*cpu_yield) (LsmEnv *env);

	void	   *host;			/* private to the implementation */
};

/* The process-wide POSIX env (pthreads, pread/pwrite, fdatasync). */
extern LsmEnv *lsm_env_posix(void);

/*
 * Every engine wait goes through this: the env's wait hook, or a plain
 * sleep when it has none.
 */
static inline LsmCode
lsm_env_wait(LsmEnv *env, LsmWaitKind kind, uint64_t micros, LsmStatus *st)
{
	if (env->wait != NULL)
		return env->wait(env, kind, micros, st);
	env->sleep_micros(env, micros);
	return LSM_OK;
}

/* env's fatal hook, or stderr and abort() when it has none (or it returns). */
extern void lsm_env_fatal(LsmEnv *env, const char *msg)
			__attribute__((noreturn));

#endif							/* LSM_ENV_H */
