/*
 * lsm_env_shared.h
 *		An LsmEnv whose files and mutexes can be shared by processes that
 *		map the engine's memory at the same address (forked from one
 *		parent): Postgres backends using one LsmDb in shared memory, or the
 *		fork()ing standalone tests.
 *
 * Install a shared allocator first (lsm_set_allocator, e.g. over an
 * LsmShmHeap): the env, its files and its mutexes are lsm_malloc'd so that
 * every process sees them.  Create the env once, in the parent; children
 * inherit the pointer.  Everything else behaves as lsm_env_posix().
 *
 * A file descriptor is per process, so an LsmFile records only the path,
 * the open flags and a unique id; each process opens the file lazily (same
 * access mode, never creating or truncating) the first time it touches it
 * and keeps the descriptor in a private, bounded cache.  When any process
 * closes an LsmFile, the others drop their descriptors of it at their next
 * env call, so an unlinked file's space is not held by a stray descriptor.
 *
 * Consequence for callers: a file must keep its name while it is open (it
 * may be opened by name in another process at any time); unlink or rename
 * it only after close_file, as the engine does.
 *
 * Function pointers are stored in shared memory, so every process must
 * run the same executable at the same addresses, which fork() guarantees
 * (Postgres's EXEC_BACKEND builds are not supported).
 */
#ifndef LSM_ENV_SHARED_H
#define LSM_ENV_SHARED_H

#include "lsm_env.h"

/*
 * NULL when out of memory or a mutex cannot be set up.  Its wait and fatal
 * hooks are unset (sleep; stderr and abort()): a host sets them right
 * after, before any other process uses the env, and never again.
 */
extern LsmEnv *lsm_env_shared_create(void);

/*
 * Free the env (every file and mutex made through it must be closed and
 * destroyed first).  The calling process's cached descriptors of it are
 * closed; other processes close theirs at their next call to another
 * shared env, or when they exit.
 */
extern void lsm_env_shared_destroy(LsmEnv *env);

/*
 * Give the calling process a reader slot (lsm_env.h): a Postgres backend's
 * PGPROC number, which no other live process has.  A forked child starts
 * without one (-1).
 */
extern void lsm_env_shared_set_reader_slot(int slot);

/*
 * Make the calling process give the CPU up every ~100 us of building table
 * files (lsm_env.h, cpu_yield): for background workers, so that processes
 * they share a CPU with are not kept waiting for the scheduler's tick.
 */
extern void lsm_env_shared_set_cpu_yield(bool on);

/* Descriptors the calling process has cached (for tests and monitoring). */
extern int	lsm_env_shared_cached_fds(void);

/*
 * Close every descriptor the calling process has cached (one in use is
 * closed by its last user), so that the disk space of files deleted since
 * is freed; the next use of a file opens it again.  Returns how many, or
 * -1 when the cache is locked: made to be called from a signal handler
 * that interrupted the process while it waited for input (idle_close.c),
 * so it never waits and does nothing but close(2) and the cache's
 * bookkeeping.
 */
extern int	lsm_env_shared_close_all_fds(void);

#endif							/* LSM_ENV_SHARED_H */
