/*
 * compaction.c
 *		Choosing, running and installing compactions: the leveled and the
 *		size-tiered picker, manual range compaction, the merge that drops
 *		what no reader can see, and the numbers write stalls are based on.
 *
 * A compaction goes through three steps, so that background workers can
 * drive it (lsm.h):
 *
 *	pick	under mu: choose input files from the current version, mark them
 *			compacting (no second compaction may take them), pin the version
 *			and note the read points (snapshots, horizon).  Cheap.
 *	run		no lock: merge the inputs and write the output tables, fsynced,
 *			with their directory entries.  Long.
 *	install	under write_mu: one version edit (inputs out, outputs in),
 *			logged to the MANIFEST and published to readers.  Short.
 *
 * Several compactions may run at once (leveled only; a tiered merge runs
 * alone).  Two rules keep them apart: a file is an input of at most one
 * compaction (compacting mark), and two compactions never write
 * overlapping user-key ranges into the same level (output_conflict).
 * Together with "level 0 is compacted whole, or (manual compaction) with
 * every level-0 file overlapping what it takes" this makes every install
 * valid against whatever version is current at install time: flushes only
 * add newer level-0 files, and other compactions touch other files and
 * ranges.  lsm_version_apply() checks the invariants once more.
 *
 * What may be dropped (docs/design.md, "Compaction").  Readers read at
 * read points: every live snapshot, and C = min(last_seq, the host's
 * horizon), which stands for the latest state and for every reader outside
 * the LsmDb (those may read anywhere at or above the horizon, so entries
 * above C are all kept as they are).  The read points cut the sequence
 * numbers at or below C into stripes: stripe i holds the entries above
 * point i-1 and at or below point i.  Every reader sees, of a stripe, at
 * most the outcome of its newest entry, so of each key's entries in a
 * stripe only that outcome is kept: a PUT as is; a DELETE as is, except in
 * the lowest stripe (at or below H, the oldest read point) when no older
 * data outside the compaction may hold the key, where it is dropped; a run
 * of MERGE operands folded into one PUT over the PUT or DELETE below it in
 * the same stripe (or over nothing, when neither the inputs nor older data
 * hold anything below).  Operands whose base lies in a lower stripe stay
 * as they are: the merge function need not be associative.
 *
 * Crash safety: outputs are complete and synced, and their directory
 * entries synced, before the edit naming them is logged; inputs are
 * deleted only when no version lists them any more, which is after the
 * edit is durable (and after the last reader of an older version let go).
 * A crash before the edit leaves unreferenced outputs, which the next open
 * deletes; a crash after it leaves unreferenced inputs, deleted likewise.
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "db_internal.h"
#include "lsm_alloc.h"
#include "iter_merge.h"

/*
 * struct LsmCompaction
 *		One picked compaction.  Everything is set by pick and read-only
 *		afterwards except the results (run) and the list links (db mu).
 *		The input arrays point into files of v, which stays pinned.
 */
struct LsmCompaction
{
	LsmDb	   *db;
	LsmVersion *v;				/* pinned: the inputs belong to it */
	int			output_level;
	bool		manual;
	bool		trivial_move;	/* one file moves down; nothing is rewritten */
	bool		cut_outputs;	/* false for a level-0 output: one file */
	int			pointer_level;	/* leveled: level whose compact pointer moves, or -1 */
	LsmFileMeta **inputs[LSM_NUM_LEVELS];	/* each in its level's order */
	int			n_inputs[LSM_NUM_LEVELS];
	LsmBuf		lo;				/* user-key range the outputs may cover */
	LsmBuf		hi;
	int			older_from;		/* levels >= this may hold older data */
	LsmFileMeta **older_l0;		/* older level-0 files (level-0 output only) */
	int			n_older_l0;
	LsmSeq	   *points;			/* read points ascending; the last is C */
	int			n_points;
	uint64_t	input_bytes;

	/* results of run */
	bool		ran;
	bool		install_tried;
	bool		installed;
	LsmFileMeta *outputs;		/* keys owned; refs and table unused */
	int			n_outputs;
	int			cap_outputs;
	uint64_t	output_bytes;
	uint64_t	entries_dropped;
	uint64_t	filter_dropped; /* PUTs the filter dropped or made tombstones */
	uint64_t	filter_bytes;
	uint64_t	filter_start;	/* filter_start_fn's value for this run */

	/*
	 * Blob files the version's tables reference (number, live bytes, total),
	 * by number, and whether each is garbage enough that the values met go
	 * to blob_number, the run's own blob file (0: none written).
	 */
	LsmBlobUse *blob_info;
	bool	   *blob_gc;
	int			n_blob_info;
	uint64_t	blob_number;
	uint64_t	blob_file_bytes;	/* its size */
	uint64_t	blob_relocated; /* value bytes moved there */

	LsmCompaction *next_running;	/* db->running list; db mu */
};

/*
 * Key ranges
 *
 * A range of user keys whose ends may be open; the upper end may be
 * exclusive (the caller's bound of lsm_db_compact_range) or inclusive (a
 * file's largest key).  The slices borrow from the caller or from metas of
 * the pinned version.
 */
typedef struct KeyRange
{
	bool		has_lo;
	LsmSlice	lo;
	bool		has_hi;
	LsmSlice	hi;
	bool		hi_excl;
} KeyRange;

/* Whether file f holds user keys inside r (by its key range). */
static bool
range_overlaps_file(const KeyRange *r, const LsmFileMeta *f)
{
	if (r->has_lo && lsm_slice_cmp(lsm_file_largest_user_key(f), r->lo) < 0)
		return false;
	if (r->has_hi)
	{
		int			c = lsm_slice_cmp(lsm_file_smallest_user_key(f), r->hi);

		if (c > 0 || (c == 0 && r->hi_excl))
			return false;
	}
	return true;
}

/* Grow r to cover f. */
static void
range_extend(KeyRange *r, const LsmFileMeta *f)
{
	LsmSlice	s = lsm_file_smallest_user_key(f);
	LsmSlice	l = lsm_file_largest_user_key(f);

	if (r->has_lo && lsm_slice_cmp(s, r->lo) < 0)
		r->lo = s;
	if (r->has_hi)
	{
		int			c = lsm_slice_cmp(l, r->hi);

		if (c > 0 || (c == 0 && r->hi_excl))
		{
			r->hi = l;
			r->hi_excl = false;
		}
	}
}

/* The exact range of a set of files, which must not be empty. */
static void
range_of_files(KeyRange *r, LsmFileMeta *const *files, int n)
{
	int			i;

	r->has_lo = r->has_hi = true;
	r->hi_excl = false;
	r->lo = lsm_file_smallest_user_key(files[0]);
	r->hi = lsm_file_largest_user_key(files[0]);
	for (i = 1; i < n; i++)
		range_extend(r, files[i]);
}

/* Whether r overlaps the inclusive range [lo, hi]. */
static bool
range_overlaps(const KeyRange *r, LsmSlice lo, LsmSlice hi)
{
	if (r->has_lo && lsm_slice_cmp(hi, r->lo) < 0)
		return false;
	if (r->has_hi)
	{
		int			c = lsm_slice_cmp(lo, r->hi);

		if (c > 0 || (c == 0 && r->hi_excl))
			return false;
	}
	return true;
}

/*
 * Level arithmetic
 */

/* Target size of a level >= 1 under leveled compaction (saturating). */
static uint64_t
level_target(const LsmOptions *o, int level)
{
	uint64_t	t = o->max_bytes_for_level_base;
	int			i;

	for (i = 1; i < level; i++)
	{
		if (t > UINT64_MAX / (uint64_t) o->level_size_multiplier)
			return UINT64_MAX;
		t *= (uint64_t) o->level_size_multiplier;
	}
	return t;
}

/*
 * The leveled shape of a version: each level's target (0: whatever is
 * there belongs below; UINT64_MAX: never compacted down) and the level
 * level 0 compacts into.
 *
 * Dynamic (o->level_dynamic): the deepest level holding data is the
 * bottom and keeps what it has; the levels above it target a
 * multiplier-th of the one below, up to the first whose target is at most
 * max_bytes_for_level_base, the base level, into which level 0 compacts;
 * levels above the base target 0 and drain down.  An empty tree's bottom
 * is the last level, so a small table's flushes merge straight into it,
 * and a table of S bytes needs log_multiplier(S / base) + 1 levels, not
 * the static shape's count from level 1 down: one rewrite fewer per put
 * for most sizes, and about S / (multiplier - 1) bytes above the bottom,
 * which bounds space amplification near 1.1 (docs/design.md).
 * Level 0 still goes into level 1 while older data sits there (a table
 * written with the static shape): newer data must never land below older.
 *
 * Static, with empty levels right above the bottom and the bottom deeper
 * than the table's size calls for (a bulk load into an empty table puts
 * its files in the last level): the levels from the first whose static
 * target holds the table's bytes down to the bottom drain, and each level
 * from the one above them merges into the next level that holds data.
 * The bulk-loaded bottom then takes the place of the level the static
 * shape would have filled; without this the overwrites of a loaded table
 * piled up in levels 1 and 2 (up to their 2.8 GB of targets) above a
 * bottom they never reached, and deletes never freed its space.
 */
typedef struct LevelShape
{
	uint64_t	target[LSM_NUM_LEVELS];
	int			out[LSM_NUM_LEVELS];	/* level n >= 1 merges into out[n] */
	/*
	 * static_shape's draining levels: due, but after level 0 once that is
	 * past its trigger (a drain can take minutes, and level 0 would reach
	 * the stop meanwhile), and the deepest first (a level drained into
	 * another that drains too would be written twice).
	 */
	bool		drain[LSM_NUM_LEVELS];
	int			l0_output;
} LevelShape;

/*
 * level_weight
 *		What a level stands for in the level shape: its files' bytes, plus
 *		the stored bytes of the blob values they reference (a blob file's
 *		size pro rata).  Without the blobs, a level of references would
 *		stay far below its target and never reach the level under it: the
 *		values a bulk load left in the bottom, and overwritten since, would
 *		never be dropped, nor the blob garbage behind references no merge
 *		looks at.  With them, a table's shape is the one it would have with
 *		its values in the tree, and only the rewriting is cheaper.
 */
static uint64_t
level_weight(const LsmVersion *v, int level)
{
	uint64_t	w = 0;
	int			i;
	int			j;

	for (i = 0; i < v->n_files[level]; i++)
	{
		const LsmFileMeta *f = v->files[level][i];

		w += f->size;
		for (j = 0; j < f->n_blobs; j++)
			if (f->blobs[j].total > 0)
				w += (uint64_t) ((double) f->blobs[j].bytes * (double) f->blobs[j].file_size /
								 (double) f->blobs[j].total);
	}
	return w;
}

/* The deepest level >= 1 holding a file; 0 when there is none. */
static int
deepest_level(const LsmVersion *v)
{
	int			level;

	for (level = LSM_NUM_LEVELS - 1; level >= 1; level--)
		if (v->n_files[level] > 0)
			return level;
	return 0;
}

/* level_shape's static case: see the comment above LevelShape. */
static void
static_shape(const LsmOptions *o, const LsmVersion *v, LevelShape *s)
{
	int			bottom = deepest_level(v);
	int			fit = 1;
	uint64_t	total = 0;
	int			level;

	for (level = 1; level < LSM_NUM_LEVELS - 1; level++)
		s->target[level] = level_target(o, level);
	s->target[LSM_NUM_LEVELS - 1] = UINT64_MAX;
	s->l0_output = 1;
	/*
	 * Only a bottom with empty levels right above it: in a table that grew
	 * level by level, a bottom that has just started to fill lies under a
	 * full level and must not pull the levels above it down.
	 */
	if (bottom <= 1 || v->n_files[bottom - 1] > 0)
		return;
	/*
	 * The whole table's bytes, not the bottom's: a bulk load appended past
	 * the largest key lands in the last level below a big table, and by its
	 * own size would drain every level above it into it.
	 */
	for (level = 1; level <= bottom; level++)
		total += level_weight(v, level);
	while (fit < bottom && level_target(o, fit) < total)
		fit++;
	if (fit >= bottom)
		return;
	for (level = fit; level < bottom; level++)
	{
		s->target[level] = 0;
		s->drain[level] = true;
	}
	s->target[bottom] = UINT64_MAX;
	for (level = fit > 1 ? fit - 1 : 1; level < bottom; level++)
	{
		int			next = level + 1;

		while (next < bottom && v->n_files[next] == 0)
			next++;
		s->out[level] = next;
	}
	/*
	 * A table that fits level 1: level 0 merges straight into the first
	 * level holding data, not into a level 1 that would drain at once
	 * (one rewrite of every flushed byte fewer).
	 */
	if (fit == 1)
		for (level = 1; level <= bottom; level++)
			if (v->n_files[level] > 0)
			{
				s->l0_output = level;
				break;
			}
}

static void
level_shape(const LsmOptions *o, const LsmVersion *v, LevelShape *s)
{
	int			bottom = LSM_NUM_LEVELS - 1;
	int			base;
	int			level;
	uint64_t	t;

	s->target[0] = 0;
	memset(s->drain, 0, sizeof(s->drain));
	for (level = 0; level < LSM_NUM_LEVELS - 1; level++)
		s->out[level] = level + 1;
	s->out[LSM_NUM_LEVELS - 1] = LSM_NUM_LEVELS - 1;
	if (!o->level_dynamic)
	{
		static_shape(o, v, s);
		return;
	}
	for (level = LSM_NUM_LEVELS - 1; level >= 1; level--)
		if (v->n_files[level] > 0)
		{
			bottom = level;
			break;
		}
	for (level = bottom; level < LSM_NUM_LEVELS; level++)
		s->target[level] = UINT64_MAX;
	t = level_weight(v, bottom);
	base = bottom;
	while (base > 1 && t > o->max_bytes_for_level_base)
	{
		t /= (uint64_t) o->level_size_multiplier;
		base--;
		s->target[base] = t > 0 ? t : 1;
	}
	for (level = 1; level < base; level++)
		s->target[level] = 0;
	s->l0_output = base;
	for (level = 1; level < base; level++)
		if (v->n_files[level] > 0)
		{
			s->l0_output = level;
			break;
		}
}

/* bytes / target as a compaction score; a level with target 0 is overdue. */
static double
level_score(uint64_t bytes, uint64_t target)
{
	if (target == UINT64_MAX)
		return 0.0;
	if (target == 0)
		return bytes > 0 ? 1e9 : 0.0;
	return (double) bytes / (double) target;
}

/* Whether a running compaction holds one of the files; caller holds mu. */
static bool
any_compacting(LsmFileMeta *const *files, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (files[i]->compacting)
			return true;
	return false;
}

/*
 * output_conflict
 *		Whether a running compaction writes level with a range overlapping
 *		r: installing both could put one user key in two files of a level.
 *		Caller holds mu.
 */
static bool
output_conflict(LsmDb *db, int level, const KeyRange *r)
{
	LsmCompaction *c;

	for (c = db->running; c != NULL; c = c->next_running)
		if (c->output_level == level &&
			range_overlaps(r, lsm_buf_slice(&c->lo), lsm_buf_slice(&c->hi)))
			return true;
	return false;
}

/*
 * gap_conflict
 *		Whether a running compaction writes one of the levels between from
 *		and to with a range overlapping r.  A merge from "from" straight
 *		into "to" over empty levels must not put its newer data below data
 *		that a compaction is still installing between them.
 */
static bool
gap_conflict(LsmDb *db, int from, int to, const KeyRange *r)
{
	int			level;

	for (level = from + 1; level < to; level++)
		if (output_conflict(db, level, r))
			return true;
	return false;
}

/* output_conflict for [lo, hi], for lsm_db_ingest; caller holds mu. */
bool
lsm_db_output_conflict_locked(LsmDb *db, int level, LsmSlice lo, LsmSlice hi)
{
	KeyRange	r;

	r.has_lo = r.has_hi = true;
	r.hi_excl = false;
	r.lo = lo;
	r.hi = hi;
	return output_conflict(db, level, &r);
}

/*
 * overlapping_files
 *		The files of level >= 1 overlapping r: a contiguous run of the
 *		level, returned as its start index and count.
 */
static void
overlapping_files(const LsmVersion *v, int level, const KeyRange *r, int *start, int *n)
{
	int			i = r->has_lo ? lsm_version_find_file(v, level, r->lo) : 0;
	int			k = i;

	while (k < v->n_files[level] && range_overlaps_file(r, v->files[level][k]))
		k++;
	*start = i;
	*n = k - i;
}

/* &v->files[level][start], without arithmetic on the NULL of an empty level. */
static inline LsmFileMeta **
run_at(const LsmVersion *v, int level, int start)
{
	return v->n_files[level] > 0 ? v->files[level] + start : NULL;
}

/*
 * Sorted runs (tiered)
 *
 * Newest first: each level-0 file, then each non-empty level.  A run's
 * size for the similarity test is clamped below at the write buffer size,
 * so that flushes of different fullness still count as alike.
 */
typedef struct Run
{
	int			level;
	int			index;			/* level 0: file index; else 0 */
	uint64_t	size;
} Run;

/* Fill runs (room for level-0 files + LSM_NUM_LEVELS); returns how many. */
static int
collect_runs(const LsmVersion *v, Run *runs)
{
	int			n = 0;
	int			level;
	int			i;

	for (i = 0; i < v->n_files[0]; i++)
	{
		runs[n].level = 0;
		runs[n].index = i;
		runs[n].size = v->files[0][i]->size;
		n++;
	}
	for (level = 1; level < LSM_NUM_LEVELS; level++)
	{
		if (v->n_files[level] == 0)
			continue;
		runs[n].level = level;
		runs[n].index = 0;
		runs[n].size = lsm_version_level_bytes(v, level);
		n++;
	}
	return n;
}

/*
 * tiered_window
 *		The tiered rule (docs/design.md): the newest window of at least
 *		l0_compaction_trigger adjacent runs whose clamped sizes are all
 *		within tiered_size_ratio of each other, at most
 *		tiered_max_merge_width wide; failing that, once the number of runs
 *		reaches the slowdown (else stop) trigger, the cheapest window of
 *		l0_compaction_trigger adjacent runs.  Returns the width (0: none)
 *		and the first run in *first.
 */
static int
tiered_window(const LsmOptions *o, const Run *runs, int n, int *first)
{
	int			min_width = o->l0_compaction_trigger < 2 ? 2 : o->l0_compaction_trigger;
	int			max_width = o->tiered_max_merge_width < min_width ?
		min_width : o->tiered_max_merge_width;
	uint64_t	floor = o->write_buffer_size;
	int			limit;
	int			i;

	for (i = 0; i + min_width <= n; i++)
	{
		uint64_t	lo = runs[i].size < floor ? floor : runs[i].size;
		uint64_t	hi = lo;
		int			j = i + 1;

		while (j < n && j - i < max_width)
		{
			uint64_t	s = runs[j].size < floor ? floor : runs[j].size;
			uint64_t	nlo = s < lo ? s : lo;
			uint64_t	nhi = s > hi ? s : hi;

			if ((double) nhi > o->tiered_size_ratio * (double) nlo)
				break;
			lo = nlo;
			hi = nhi;
			j++;
		}
		if (j - i >= min_width)
		{
			*first = i;
			return j - i;
		}
	}

	limit = o->l0_slowdown_writes_trigger > 0 ? o->l0_slowdown_writes_trigger :
		o->l0_stop_writes_trigger;
	if (limit > 0 && n >= limit && n >= 2)
	{
		int			width = min_width < n ? min_width : n;
		uint64_t	best = UINT64_MAX;
		int			best_i = 0;

		for (i = 0; i + width <= n; i++)
		{
			uint64_t	sum = 0;
			int			k;

			for (k = i; k < i + width; k++)
				sum += runs[k].size;
			if (sum < best)
			{
				best = sum;
				best_i = i;
			}
		}
		*first = best_i;
		return width;
	}
	return 0;
}

/*
 * tiered_output_level
 *		Where the merge of runs[first .. first+width) goes: the level of
 *		its oldest run when that is a level; for level-0 files only, the
 *		deepest empty level above all non-empty ones when the window holds
 *		the oldest level-0 file (it is then older than every other level-0
 *		file and newer than every level), else level 0.
 */
static int
tiered_output_level(const LsmVersion *v, const Run *runs, int first, int width)
{
	const Run  *oldest = &runs[first + width - 1];
	int			level;

	if (oldest->level > 0)
		return oldest->level;
	if (oldest->index != v->n_files[0] - 1)
		return 0;
	for (level = 1; level < LSM_NUM_LEVELS; level++)
		if (v->n_files[level] > 0)
			break;
	return level - 1;
}

/*
 * Blob garbage
 *
 * A compaction moves the values it meets out of blob files with at least
 * blob_gc_percent garbage (blob_info).  A blob file whose last references
 * sit in table files that no compaction reaches (a key range no longer
 * written, while the rest of the file was overwritten) would keep its
 * garbage for good, and a table written that way would grow with its
 * writes, not with its rows.  So such a table file, of level 1 or deeper,
 * is rewritten in place (pick_blob_garbage), as RocksDB's
 * blob_garbage_collection_force_threshold does, when it references a blob
 * file past a forced threshold:
 *	- blob_gc_percent when no file of a level above overlaps it: nothing
 *	  is on its way down to it, so no ordinary compaction is coming;
 *	- otherwise halfway from blob_gc_percent to 100%, which leaves the
 *	  files ordinary compactions are about to reach to them (a forced
 *	  rewrite moves nothing down and mostly rewrites references).
 * Level 0 is left to its own compactions, which always come.
 */

/* Whether at least pct percent of blob file u's value bytes are garbage. */
static bool
garbage_past(const LsmBlobUse *u, uint64_t pct)
{
	return u->bytes < u->total && (u->total - u->bytes) * 100 >= u->total * pct;
}

/* Whether no file of a level above level overlaps f. */
static bool
nothing_above(const LsmVersion *v, int level, const LsmFileMeta *f)
{
	KeyRange	r;
	int			l;
	int			i;

	range_of_files(&r, (LsmFileMeta *const *) &f, 1);
	for (i = 0; i < v->n_files[0]; i++)
		if (range_overlaps_file(&r, v->files[0][i]))
			return false;
	for (l = 1; l < level; l++)
	{
		int			start;
		int			n;

		overlapping_files(v, l, &r, &start, &n);
		if (n > 0)
			return false;
	}
	return true;
}

/*
 * The bytes file f of level >= 1 references in blob files past their
 * forced threshold (all: the version's uses, by number).
 */
static uint64_t
stale_bytes(const LsmOptions *o, const LsmBlobUses *all, const LsmVersion *v,
			int level, const LsmFileMeta *f)
{
	uint64_t	sum = 0;
	int			cold = -1;		/* nothing_above, once needed */
	int			j;

	for (j = 0; j < f->n_blobs; j++)
	{
		const LsmBlobUse *u = lsm_blob_use_find(all->u, all->n, f->blobs[j].number);
		uint64_t	pct = (uint64_t) o->blob_gc_percent;

		if (u == NULL || !garbage_past(u, pct))
			continue;
		if (cold < 0)
			cold = nothing_above(v, level, f);
		if (cold || garbage_past(u, (100 + pct) / 2))
			sum += f->blobs[j].bytes;
	}
	return sum;
}

/*
 * Whether a table file of level >= 1 references a blob file past its
 * forced threshold.  False on OOM too (the next version tries again).
 */
static bool
stale_blob_garbage(const LsmOptions *o, const LsmVersion *v)
{
	LsmBlobUses all;
	bool		any = false;
	int			level;
	int			i;

	for (level = 1; level < LSM_NUM_LEVELS && !any; level++)
		for (i = 0; i < v->n_files[level] && !any; i++)
			any = v->files[level][i]->n_blobs > 0;
	if (!any || !lsm_blob_version_uses(v, &all))
		return false;
	any = false;
	for (level = 1; level < LSM_NUM_LEVELS && !any; level++)
		for (i = 0; i < v->n_files[level] && !any; i++)
			any = stale_bytes(o, &all, v, level, v->files[level][i]) > 0;
	lsm_blob_uses_free(&all);
	return any;
}

/*
 * lsm_compaction_pressure
 *		The numbers compaction and write stalls work from, for version v:
 *		whether a compaction is due, the stall count (leveled: level-0
 *		files; tiered: sorted runs) and the estimated bytes that pending
 *		compactions would read.  Leveled estimate: all of level 0 plus
 *		level 1 once level 0 reached its trigger, plus, for every level
 *		above its target, the excess times (multiplier + 1), which is what
 *		pushing the excess one level down costs.  Tiered: the input of the
 *		merge the picker would choose.  O(files).
 */
void
lsm_compaction_pressure(const LsmOptions *o, int l0_trigger, const LsmVersion *v,
						LsmPressure *out)
{
	int			level;
	LevelShape	shape;

	memset(out, 0, sizeof(*out));
	if (o->compaction_style == LSM_COMPACT_TIERED)
	{
		Run			runs[64];
		Run		   *r = runs;
		int			n;
		int			first;
		int			width;

		if (v->n_files[0] + LSM_NUM_LEVELS > (int) (sizeof(runs) / sizeof(runs[0])))
		{
			r = lsm_malloc((size_t) (v->n_files[0] + LSM_NUM_LEVELS) * sizeof(Run));
			if (r == NULL)
				return;
		}
		n = collect_runs(v, r);
		out->stall_count = n;
		width = tiered_window(o, r, n, &first);
		if (width > 0)
		{
			out->due = true;
			for (int i = first; i < first + width; i++)
				out->pending_bytes += r[i].size;
		}
		if (r != runs)
			lsm_free(r);
		/* the costlier check, and only a due compaction calls pick anyway */
		if (!out->due)
			out->due = stale_blob_garbage(o, v);
		return;
	}

	level_shape(o, v, &shape);
	out->stall_count = v->n_files[0];
	if (v->n_files[0] >= l0_trigger && v->n_files[0] > 0)
	{
		out->due = true;
		out->pending_bytes += level_weight(v, 0) + level_weight(v, shape.l0_output);
	}
	for (level = 1; level < LSM_NUM_LEVELS - 1; level++)
	{
		uint64_t	bytes = level_weight(v, level);
		uint64_t	target = shape.target[level];

		if (target != UINT64_MAX && bytes > target)
		{
			out->due = true;
			/* a drain rewrites at most what lies below it, not ten times itself */
			out->pending_bytes += shape.drain[level] ?
				bytes + level_weight(v, shape.out[level]) :
				(bytes - target) * (uint64_t) (o->level_size_multiplier + 1);
		}
	}
	/* the costlier check, and only a due compaction calls pick anyway */
	if (!out->due)
		out->due = stale_blob_garbage(o, v);
}

/*
 * Picking
 */

/* A compaction writing output_level, with nothing picked yet. */
static LsmCompaction *
compaction_new(LsmDb *db, int output_level)
{
	LsmCompaction *c = lsm_calloc(1, sizeof(LsmCompaction));

	if (c == NULL)
		return NULL;
	c->db = db;
	c->output_level = output_level;
	c->cut_outputs = output_level > 0;
	c->pointer_level = -1;
	c->older_from = output_level + 1;
	return c;
}

/* Free c's memory; nothing else (see lsm_compaction_release). */
static void
compaction_free(LsmCompaction *c)
{
	int			i;

	for (i = 0; i < LSM_NUM_LEVELS; i++)
		lsm_free(c->inputs[i]);
	lsm_free(c->older_l0);
	lsm_free(c->points);
	for (i = 0; i < c->n_outputs; i++)
	{
		lsm_buf_free(&c->outputs[i].smallest);
		lsm_buf_free(&c->outputs[i].largest);
		lsm_free(c->outputs[i].blobs);
	}
	lsm_free(c->outputs);
	lsm_free(c->blob_info);
	lsm_free(c->blob_gc);
	lsm_buf_free(&c->lo);
	lsm_buf_free(&c->hi);
	lsm_free(c);
}

/* Copy n files into c's inputs at level; false on OOM. */
static bool
set_inputs(LsmCompaction *c, int level, LsmFileMeta *const *files, int n)
{
	if (n == 0)
		return true;
	c->inputs[level] = lsm_malloc((size_t) n * sizeof(LsmFileMeta *));
	if (c->inputs[level] == NULL)
		return false;
	memcpy(c->inputs[level], files, (size_t) n * sizeof(LsmFileMeta *));
	c->n_inputs[level] = n;
	return true;
}

/*
 * blob_info
 *		Sum what the tables of v reference of each blob file, and mark the
 *		blob files with at least blob_gc_percent garbage
 *		(lsm_db_compact_blob_garbage: any): the values of those that the
 *		run meets move to a new blob file, so that the old one loses its
 *		last reference once every table that references it was compacted.  Only blob files an input references matter, but the
 *		garbage is the whole version's.  False on OOM.
 */
static bool
blob_info(LsmDb *db, LsmCompaction *c, LsmVersion *v)
{
	LsmBlobUses all;
	bool		any = false;
	int			level;
	int			i;

	for (level = 0; level < LSM_NUM_LEVELS && !any; level++)
		for (i = 0; i < c->n_inputs[level] && !any; i++)
			any = c->inputs[level][i]->n_blobs > 0;
	if (!any)
		return true;
	if (!lsm_blob_version_uses(v, &all))
		return false;
	c->blob_gc = lsm_calloc((size_t) (all.n > 0 ? all.n : 1), sizeof(bool));
	if (c->blob_gc == NULL)
	{
		lsm_blob_uses_free(&all);
		return false;
	}
	for (i = 0; i < all.n; i++)
	{
		const LsmBlobUse *u = &all.u[i];

		c->blob_gc[i] = garbage_past(u, (uint64_t) db->opts.blob_gc_percent);
	}
	c->blob_info = all.u;
	c->n_blob_info = all.n;
	return true;
}

/*
 * finish_pick
 *		Record the output range, mark the inputs, pin the version and link
 *		c into the running list.  Caller holds mu.  False on OOM (c is
 *		then untouched apart from its range buffers).
 */
static bool
finish_pick(LsmDb *db, LsmCompaction *c, LsmVersion *v, const KeyRange *r)
{
	int			level;
	int			i;

	if (!lsm_buf_set(&c->lo, r->lo.data, r->lo.len) ||
		!lsm_buf_set(&c->hi, r->hi.data, r->hi.len))
		return false;
	if (!blob_info(db, c, v))
		return false;
	c->v = v;
	lsm_version_ref(v);
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < c->n_inputs[level]; i++)
		{
			c->inputs[level][i]->compacting = true;
			c->input_bytes += c->inputs[level][i]->size;
		}
	c->next_running = db->running;
	db->running = c;
	db->n_running++;
	return true;
}

/*
 * pick_level0
 *		Leveled: all of level 0 into level to (level_shape's l0_output;
 *		every level between is empty).  Level 0 is always taken
 *		whole: a newer level-0 file left behind above an older one that
 *		moved down would be fine, but an older one left behind a newer one
 *		would sit above newer data in level 1, and reads would see it.
 */
static LsmCode
pick_level0(LsmDb *db, LsmVersion *v, int to, LsmCompaction **out)
{
	KeyRange	r;
	LsmCompaction *c;
	int			start;
	int			n1;

	*out = NULL;
	if (v->n_files[0] == 0 || any_compacting(v->files[0], v->n_files[0]))
		return LSM_NOT_FOUND;
	range_of_files(&r, v->files[0], v->n_files[0]);
	overlapping_files(v, to, &r, &start, &n1);
	if (any_compacting(run_at(v, to, start), n1))
		return LSM_NOT_FOUND;
	if (n1 > 0)
	{
		range_extend(&r, v->files[to][start]);
		range_extend(&r, v->files[to][start + n1 - 1]);
	}
	if (output_conflict(db, to, &r) || gap_conflict(db, 0, to, &r))
		return LSM_NOT_FOUND;
	c = compaction_new(db, to);
	if (c == NULL)
		return LSM_NO_MEMORY;
	c->trivial_move = v->n_files[0] == 1 && n1 == 0;
	if (!set_inputs(c, 0, v->files[0], v->n_files[0]) ||
		!set_inputs(c, to, run_at(v, to, start), n1) ||
		!finish_pick(db, c, v, &r))
	{
		compaction_free(c);
		return LSM_NO_MEMORY;
	}
	*out = c;
	return LSM_OK;
}

/*
 * pick_level
 *		Leveled, level >= 1: the file of level whose overlap with level to
 *		(level + 1, or the next level holding data: level_shape's out)
 *		is smallest for its size (RocksDB's kMinOverlappingRatio), merged
 *		with those overlapping files.  Pushing down the file that drags the
 *		fewest bytes of the level below along writes least for what it
 *		moves; round robin (the level's compact pointer) visits ranges
 *		without regard to that.  On random keys files overlap about
 *		equally, so the gain measured there is small (0-3% fewer
 *		compaction bytes, docs/benchmarks.md).  Ties go to the first file
 *		after the pointer, so equal files are still visited in turn.  A
 *		file that is alone in its range below simply moves down (ratio 0).
 */
static LsmCode
pick_level(LsmDb *db, LsmVersion *v, int level, int to, LsmCompaction **out)
{
	int			nf = v->n_files[level];
	int			first = 0;
	int			k;
	int			best = -1;
	int			best_start = 0;
	int			best_n1 = 0;
	double		best_ratio = 0.0;
	KeyRange	best_r;
	LsmFileMeta *f;
	LsmCompaction *c;

	*out = NULL;
	if (nf == 0)
		return LSM_NOT_FOUND;
	if (db->compact_ptr[level].data != NULL)
	{
		LsmSlice	ptr = lsm_buf_slice(&db->compact_ptr[level]);

		/* first file starting after the pointer */
		while (first < nf &&
			   lsm_slice_cmp(lsm_file_smallest_user_key(v->files[level][first]), ptr) <= 0)
			first++;
		if (first == nf)
			first = 0;
	}
	for (k = 0; k < nf; k++)
	{
		int			i = (first + k) % nf;
		KeyRange	r;
		int			start;
		int			n1;
		int			j;
		uint64_t	below = 0;
		double		ratio;

		f = v->files[level][i];
		if (f->compacting)
			continue;
		range_of_files(&r, &f, 1);
		overlapping_files(v, to, &r, &start, &n1);
		if (any_compacting(run_at(v, to, start), n1))
			continue;
		for (j = 0; j < n1; j++)
			below += v->files[to][start + j]->size;
		ratio = (double) below / (double) (f->size > 0 ? f->size : 1);
		if (best >= 0 && ratio >= best_ratio)
			continue;
		if (n1 > 0)
		{
			range_extend(&r, v->files[to][start]);
			range_extend(&r, v->files[to][start + n1 - 1]);
		}
		if (output_conflict(db, to, &r) || gap_conflict(db, level, to, &r))
			continue;
		best = i;
		best_ratio = ratio;
		best_start = start;
		best_n1 = n1;
		best_r = r;
		if (n1 == 0)
			break;
	}
	if (best < 0)
		return LSM_NOT_FOUND;
	f = v->files[level][best];
	c = compaction_new(db, to);
	if (c == NULL)
		return LSM_NO_MEMORY;
	c->trivial_move = best_n1 == 0;
	c->pointer_level = level;
	if (!set_inputs(c, level, &f, 1) ||
		!set_inputs(c, to, run_at(v, to, best_start), best_n1) ||
		!finish_pick(db, c, v, &best_r))
	{
		compaction_free(c);
		return LSM_NO_MEMORY;
	}
	*out = c;
	return LSM_OK;
}

/*
 * pick_leveled
 *		Score every level (level 0: files / trigger; level n: bytes /
 *		its level_shape target, a static drain just over 1; the bottom is
 *		never compacted down) and try the levels scoring at least 1,
 *		highest first; a level whose files are all taken by running
 *		compactions is passed over.
 */
static LsmCode
pick_leveled(LsmDb *db, LsmVersion *v, LsmCompaction **out)
{
	const LsmOptions *o = &db->opts;
	double		score[LSM_NUM_LEVELS - 1];
	bool		tried[LSM_NUM_LEVELS - 1];
	int			level;
	LevelShape	shape;

	*out = NULL;
	level_shape(o, v, &shape);
	score[0] = (double) v->n_files[0] / (double) db->l0_trigger;
	for (level = 1; level < LSM_NUM_LEVELS - 1; level++)
		score[level] = shape.drain[level] ?
			(v->n_files[level] > 0 ? 1.0 + level / 1000.0 : 0.0) :
			level_score(level_weight(v, level), shape.target[level]);
	memset(tried, 0, sizeof(tried));
	for (;;)
	{
		int			best = -1;
		LsmCode		rc;

		for (level = 0; level < LSM_NUM_LEVELS - 1; level++)
			if (!tried[level] && score[level] >= 1.0 &&
				(best < 0 || score[level] > score[best]))
				best = level;
		if (best < 0)
			return LSM_NOT_FOUND;
		tried[best] = true;
		rc = best == 0 ? pick_level0(db, v, shape.l0_output, out) :
			pick_level(db, v, best, shape.out[best], out);
		if (rc != LSM_NOT_FOUND)
			return rc;
	}
}

/*
 * pick_blob_garbage
 *		The table file of level >= 1 referencing most bytes of blob files
 *		past their forced threshold (see "Blob garbage"), rewritten into its
 *		own level.  Its output references none of them: their values it
 *		holds move to the run's new blob file, so repeated picks end.
 */
static LsmCode
pick_blob_garbage(LsmDb *db, LsmVersion *v, LsmCompaction **out)
{
	LsmBlobUses all;
	LsmFileMeta *best = NULL;
	uint64_t	best_bytes = 0;
	int			best_level = 0;
	int			level;
	int			i;
	KeyRange	r;
	LsmCompaction *c;

	*out = NULL;
	/* pick_tiered takes whole runs and counts on running alone */
	if (db->opts.compaction_style == LSM_COMPACT_TIERED && db->n_running > 0)
		return LSM_NOT_FOUND;
	if (!lsm_blob_version_uses(v, &all))
		return LSM_NO_MEMORY;
	for (level = 1; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
		{
			LsmFileMeta *f = v->files[level][i];
			uint64_t	bytes;

			if (f->compacting || f->n_blobs == 0)
				continue;
			bytes = stale_bytes(&db->opts, &all, v, level, f);
			if (bytes > best_bytes)
			{
				best = f;
				best_bytes = bytes;
				best_level = level;
			}
		}
	lsm_blob_uses_free(&all);
	if (best == NULL)
		return LSM_NOT_FOUND;
	range_of_files(&r, &best, 1);
	if (output_conflict(db, best_level, &r))
		return LSM_NOT_FOUND;
	c = compaction_new(db, best_level);
	if (c == NULL)
		return LSM_NO_MEMORY;
	if (!set_inputs(c, best_level, &best, 1) || !finish_pick(db, c, v, &r))
	{
		compaction_free(c);
		return LSM_NO_MEMORY;
	}
	*out = c;
	return LSM_OK;
}

/*
 * pick_tiered
 *		The window tiered_window() chooses, merged whole into
 *		tiered_output_level().  One tiered merge at a time: windows of
 *		whole runs would otherwise collide all the time.
 */
static LsmCode
pick_tiered(LsmDb *db, LsmVersion *v, LsmCompaction **out)
{
	Run		   *runs;
	LsmCompaction *c = NULL;
	KeyRange	r;
	bool		have_range = false;
	int			n;
	int			first;
	int			width;
	int			out_level;
	int			i;
	LsmCode		rc = LSM_OK;

	*out = NULL;
	if (db->n_running > 0)
		return LSM_NOT_FOUND;
	runs = lsm_malloc((size_t) (v->n_files[0] + LSM_NUM_LEVELS) * sizeof(Run));
	if (runs == NULL)
		return LSM_NO_MEMORY;
	n = collect_runs(v, runs);
	width = tiered_window(&db->opts, runs, n, &first);
	if (width == 0)
	{
		lsm_free(runs);
		return LSM_NOT_FOUND;
	}
	out_level = tiered_output_level(v, runs, first, width);
	c = compaction_new(db, out_level);
	if (c == NULL)
		goto oom;
	c->older_from = out_level == 0 ? 1 : out_level + 1;
	for (i = first; i < first + width; i++)
	{
		LsmFileMeta **files;
		int			nf;

		if (runs[i].level == 0)
		{
			files = &v->files[0][runs[i].index];
			nf = 1;
		}
		else
		{
			files = v->files[runs[i].level];
			nf = v->n_files[runs[i].level];
		}
		/* a level's files are sorted: its first and last bound it */
		if (!have_range)
		{
			range_of_files(&r, files, nf);
			have_range = true;
		}
		else
		{
			range_extend(&r, files[0]);
			range_extend(&r, files[nf - 1]);
		}
		/* level-0 inputs are added below, together */
		if (runs[i].level > 0 && !set_inputs(c, runs[i].level, files, nf))
			goto oom;
	}
	/* the window's level-0 files are adjacent in level 0 */
	if (runs[first].level == 0)
	{
		int			n0 = 0;

		for (i = first; i < first + width && runs[i].level == 0; i++)
			n0++;
		if (!set_inputs(c, 0, &v->files[0][runs[first].index], n0))
			goto oom;
	}
	if (out_level == 0)
	{
		int			after = runs[first + width - 1].index + 1;

		/* level-0 files older than the window: older data */
		c->n_older_l0 = v->n_files[0] - after;
		if (c->n_older_l0 > 0)
		{
			c->older_l0 = lsm_malloc((size_t) c->n_older_l0 * sizeof(LsmFileMeta *));
			if (c->older_l0 == NULL)
				goto oom;
			memcpy(c->older_l0, &v->files[0][after],
				   (size_t) c->n_older_l0 * sizeof(LsmFileMeta *));
		}
	}
	if (!finish_pick(db, c, v, &r))
		goto oom;
	lsm_free(runs);
	*out = c;
	return LSM_OK;

oom:
	rc = LSM_NO_MEMORY;
	if (c != NULL)
		compaction_free(c);
	lsm_free(runs);
	return rc;
}

/*
 * pick_manual
 *		lsm_db_compact_range: every file holding keys of [lower, upper), on
 *		every level, into the bottom level in one merge.  Leveled: the
 *		deepest non-empty level; with none, level 1 (static shape) or the
 *		last level (dynamic), where flushes would end up too.  Tiered: level 6, so that the newer runs have
 *		every level above it to go to.  The range grows as files are taken, level
 *		by level, so that every version of every key the output holds
 *		comes along: at level 0 until no other file overlaps it (level-0
 *		files overlap each other), below by the overlapping contiguous run.
 *		LSM_BUSY when a running compaction holds a file or range it needs.
 */
static LsmCode
pick_manual(LsmDb *db, LsmVersion *v, LsmSlice lower, LsmSlice upper,
			LsmCompaction **out)
{
	KeyRange	r;
	KeyRange	exact;
	bool		have_exact = false;
	LsmCompaction *c;
	LsmFileMeta **l0 = NULL;
	int			n0 = 0;
	int			bottom = db->opts.level_dynamic ? LSM_NUM_LEVELS - 1 : 1;
	int			level;
	int			i;
	bool		changed;

	*out = NULL;
	if (db->opts.compaction_style == LSM_COMPACT_TIERED)
		bottom = LSM_NUM_LEVELS - 1;	/* the oldest run sits deepest */
	else
		for (level = LSM_NUM_LEVELS - 1; level >= 1; level--)
			if (v->n_files[level] > 0)
			{
				bottom = level;
				break;
			}
	if (db->opts.compaction_style == LSM_COMPACT_TIERED && db->n_running > 0)
		return LSM_BUSY;

	r.has_lo = lower.data != NULL;
	r.lo = lower;
	r.has_hi = upper.data != NULL;
	r.hi = upper;
	r.hi_excl = true;

	c = compaction_new(db, bottom);
	if (c == NULL)
		return LSM_NO_MEMORY;
	c->manual = true;

	if (v->n_files[0] > 0)
	{
		bool	   *taken = lsm_calloc((size_t) v->n_files[0], sizeof(bool));

		l0 = lsm_malloc((size_t) v->n_files[0] * sizeof(LsmFileMeta *));
		if (taken == NULL || l0 == NULL)
		{
			lsm_free(taken);
			lsm_free(l0);
			compaction_free(c);
			return LSM_NO_MEMORY;
		}
		do
		{
			changed = false;
			for (i = 0; i < v->n_files[0]; i++)
				if (!taken[i] && range_overlaps_file(&r, v->files[0][i]))
				{
					taken[i] = true;
					range_extend(&r, v->files[0][i]);
					changed = true;
				}
		} while (changed);
		/* keep level-0 order (newest first) */
		for (i = 0; i < v->n_files[0]; i++)
			if (taken[i])
				l0[n0++] = v->files[0][i];
		lsm_free(taken);
		c->inputs[0] = l0;
		c->n_inputs[0] = n0;
		if (n0 > 0)
		{
			range_of_files(&exact, l0, n0);
			have_exact = true;
		}
	}
	for (level = 1; level <= bottom; level++)
	{
		int			start;
		int			n;

		overlapping_files(v, level, &r, &start, &n);
		if (n == 0)
			continue;
		if (!set_inputs(c, level, run_at(v, level, start), n))
		{
			compaction_free(c);
			return LSM_NO_MEMORY;
		}
		range_extend(&r, v->files[level][start]);
		range_extend(&r, v->files[level][start + n - 1]);
		if (!have_exact)
		{
			range_of_files(&exact, run_at(v, level, start), n);
			have_exact = true;
		}
		else
		{
			range_extend(&exact, v->files[level][start]);
			range_extend(&exact, v->files[level][start + n - 1]);
		}
	}
	if (!have_exact)
	{
		compaction_free(c);
		return LSM_NOT_FOUND;
	}
	for (level = 0; level <= bottom; level++)
	{
		if (any_compacting(c->inputs[level], c->n_inputs[level]) ||
			output_conflict(db, level, &exact))
		{
			compaction_free(c);
			return LSM_BUSY;
		}
	}
	if (!finish_pick(db, c, v, &exact))
	{
		compaction_free(c);
		return LSM_NO_MEMORY;
	}
	*out = c;
	return LSM_OK;
}

/*
 * read_points
 *		Turn the snapshot sequence numbers (ascending, maybe repeated) and
 *		last_seq, both read under mu, into c's read points.  The host's
 *		horizon is asked after mu was released: in that order a reader the
 *		host registers after its callback returned reads at or above
 *		last_seq as read here, which C covers.
 */
static LsmCode
read_points(LsmDb *db, LsmCompaction *c, const LsmSeq *snaps, int n_snaps,
			LsmSeq last, LsmStatus *st)
{
	LsmSeq		cap = last;
	int			i;

	if (db->opts.horizon_fn != NULL)
	{
		LsmSeq		ext = db->opts.horizon_fn(db->opts.horizon_arg);

		if (ext < cap)
			cap = ext;
	}
	if (db->opts.filter_fn != NULL && db->opts.filter_start_fn != NULL)
		c->filter_start = db->opts.filter_start_fn(db->opts.filter_arg);
	c->points = lsm_malloc((size_t) (n_snaps + 1) * sizeof(LsmSeq));
	if (c->points == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory picking a compaction");
	for (i = 0; i < n_snaps && snaps[i] < cap; i++)
		if (c->n_points == 0 || c->points[c->n_points - 1] != snaps[i])
			c->points[c->n_points++] = snaps[i];
	c->points[c->n_points++] = cap;
	return LSM_OK;
}

/*
 * pick
 *		Choose under mu from the current version (manual when lower/upper
 *		come from lsm_db_compact_range), then settle the read points.
 */
static LsmCode
pick(LsmDb *db, bool manual, LsmSlice lower, LsmSlice upper, LsmCompaction **c,
	 LsmStatus *st)
{
	LsmSeq		stack_snaps[16];
	LsmSeq	   *snaps = stack_snaps;
	LsmSnapshot *s;
	LsmVersion *v;
	LsmSeq		last;
	int			n_snaps = 0;
	LsmCode		rc;

	*c = NULL;
	db->env->mutex_lock(db->mu);
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		n_snaps++;
	if (n_snaps > (int) (sizeof(stack_snaps) / sizeof(stack_snaps[0])))
	{
		snaps = lsm_malloc((size_t) n_snaps * sizeof(LsmSeq));
		if (snaps == NULL)
		{
			db->env->mutex_unlock(db->mu);
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory picking a compaction");
		}
	}
	n_snaps = 0;
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		snaps[n_snaps++] = s->seq;
	last = db->last_seq;
	v = db->vs->current;
	if (manual)
		rc = pick_manual(db, v, lower, upper, c);
	else if (db->opts.compaction_style == LSM_COMPACT_TIERED)
		rc = pick_tiered(db, v, c);
	else
		rc = pick_leveled(db, v, c);
	if (rc == LSM_NOT_FOUND && !manual)
		rc = pick_blob_garbage(db, v, c);
	if (rc == LSM_OK)
		LSM_STAT_ADD(db, running_compactions, 1);
	db->env->mutex_unlock(db->mu);
	if (rc == LSM_OK)
	{
		rc = read_points(db, *c, snaps, n_snaps, last, st);
		if (rc != LSM_OK)
		{
			lsm_compaction_release(*c);
			*c = NULL;
		}
	}
	else if (rc == LSM_NO_MEMORY)
		lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory picking a compaction");
	if (snaps != stack_snaps)
		lsm_free(snaps);
	return rc;
}

LsmCode
lsm_db_compaction_pick(LsmDb *db, LsmCompaction **c, LsmStatus *st)
{
	return pick(db, false, lsm_slice(NULL, 0), lsm_slice(NULL, 0), c, st);
}

bool
lsm_db_compaction_needed(LsmDb *db)
{
	bool		due;

	db->env->mutex_lock(db->mu);
	due = db->pressure.due;
	db->env->mutex_unlock(db->mu);
	return due;
}

void
lsm_compaction_info(const LsmCompaction *c, LsmCompactionInfo *out)
{
	int			level;

	memset(out, 0, sizeof(*out));
	out->output_level = c->output_level;
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		out->n_inputs += c->n_inputs[level];
	out->input_bytes = c->input_bytes;
	out->n_outputs = c->n_outputs;
	out->output_bytes = c->output_bytes;
	out->entries_dropped = c->entries_dropped;
	out->trivial_move = c->trivial_move;
	out->manual = c->manual;
}

/*
 * Running
 */

/* An operand (or other entry) held back while the fate of its key is open. */
typedef struct Held
{
	LsmBuf		ikey;
	LsmBuf		value;
} Held;

/* State of one run: the output being written and the key being decided. */
typedef struct RunState
{
	LsmCompaction *c;
	LsmSstOptions topts;		/* of the outputs: output_compression */
	LsmSstBuilder *b;			/* current output, NULL between outputs */
	uint64_t	number;			/* its file number */
	LsmBuf		out_last_ukey;	/* last user key written to it */

	LsmBuf		ukey;			/* user key being processed */
	bool		has_ukey;
	int			stripe;			/* stripe of its last entry; -1 above C */
	bool		decided;		/* the newest entry of that stripe was handled */
	Held	   *held;			/* MERGE operands of that stripe, newest first */
	int			n_held;
	int			cap_held;
	LsmSlice   *operands;		/* for the merge function, oldest first */
	int			cap_operands;
	LsmBuf		folded;			/* merge result */
	LsmBuf		scratch;		/* internal key of a folded PUT */

	LsmBlobUses uses;			/* blob files the current output references */
	LsmBlobWriter bw;			/* relocated values; bw.file NULL when not open */
	LsmBuf		blob_value;		/* a value read from a blob file */
	LsmBuf		blob_ref;		/* a relocated value's new reference */
	LsmBuf		blob_ikey;		/* the BLOB key of a value moved out of a table */
} RunState;

/*
 * finish_output
 *		Complete the current output table and record its meta.
 */
static LsmCode
finish_output(RunState *rs, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmSstProps props;
	LsmFileMeta *m;
	LsmCode		rc;

	memset(&props, 0, sizeof(props));
	rc = lsm_sst_builder_finish(rs->b, &props, st);
	rs->b = NULL;
	if (rc != LSM_OK)
		return rc;
	if (c->n_outputs == c->cap_outputs)
	{
		int			cap = c->cap_outputs ? c->cap_outputs * 2 : 8;
		LsmFileMeta *p = lsm_realloc(c->outputs, (size_t) cap * sizeof(LsmFileMeta));

		if (p == NULL)
		{
			char		path[LSM_PATH_MAX];

			if (lsm_file_path(path, c->db->dir, LSM_FILE_TABLE, rs->number))
				c->db->env->unlink(c->db->env, path, NULL);
			lsm_sst_props_free(&props);
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
		}
		c->outputs = p;
		c->cap_outputs = cap;
	}
	m = &c->outputs[c->n_outputs++];
	memset(m, 0, sizeof(*m));
	m->number = rs->number;
	m->level = c->output_level;
	m->size = props.file_bytes;
	m->smallest = props.smallest;	/* ownership moves to the meta */
	m->largest = props.largest;
	m->min_seq = props.min_seq;
	m->max_seq = props.max_seq;
	m->entries = props.entries;
	m->tombstones = props.tombstones;
	m->blobs = rs->uses.u;		/* ownership moves to the meta */
	m->n_blobs = rs->uses.n;
	memset(&rs->uses, 0, sizeof(rs->uses));
	c->output_bytes += props.file_bytes;
	memset(&props.smallest, 0, sizeof(LsmBuf));
	memset(&props.largest, 0, sizeof(LsmBuf));
	lsm_sst_props_free(&props);
	return LSM_OK;
}

/* Whether internal key ikey is of kind. */
static inline bool
ikey_kind_is(LsmSlice ikey, LsmKind kind)
{
	return ikey.len >= LSM_IKEY_TRAILER &&
		(ikey.data[ikey.len - LSM_IKEY_TRAILER] & 0xff) == kind;
}

/*
 * run_blob_add
 *		Write value to the run's blob file, opened on first use.  Values
 *		that outlived their first blob file, or that a bulk load left in
 *		table files, are there to stay: the bottom's codec.
 */
static LsmCode
run_blob_add(RunState *rs, LsmSlice value, LsmBlobRef *r, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmCode		rc;

	if (rs->bw.file == NULL)
	{
		rc = lsm_blob_writer_open(c->db, c->db->opts.compression, &rs->bw, st);
		if (rc != LSM_OK)
			return rc;
		c->blob_number = rs->bw.number;
	}
	return lsm_blob_writer_add(&rs->bw, value, r, st);
}

/*
 * emit_inline_value
 *		Move a PUT's value of blob_min_size bytes or more, which a bulk load
 *		(or a build before blob files) left in a table file, to the run's
 *		blob file: *ikey becomes the BLOB key and *value its reference, as
 *		a flush would have written them.
 */
static LsmCode
emit_inline_value(RunState *rs, LsmSlice *ikey, LsmSlice *value, LsmStatus *st)
{
	LsmParsedKey pk;
	LsmBlobRef	r;
	LsmCode		rc;

	if (!lsm_ikey_parse(*ikey, &pk))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "malformed key in a compaction input of \"%s\"", rs->c->db->dir);
	rc = run_blob_add(rs, *value, &r, st);
	if (rc != LSM_OK)
		return rc;
	rs->c->blob_relocated += r.len;
	lsm_buf_reset(&rs->blob_ikey);
	lsm_buf_reset(&rs->blob_ref);
	if (!lsm_ikey_append(&rs->blob_ikey, pk.user_key, pk.seq, LSM_KIND_BLOB) ||
		!lsm_blob_ref_encode(&rs->blob_ref, &r) ||
		!lsm_blob_uses_add(&rs->uses, r.number, r.len, 0, 0))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	*ikey = lsm_buf_slice(&rs->blob_ikey);
	*value = lsm_buf_slice(&rs->blob_ref);
	return LSM_OK;
}

/*
 * emit_blob_ref
 *		Account for a blob reference going to the current output.  A value
 *		of a blob file marked for collection is copied to the run's own
 *		blob file first, and *value becomes its new reference.
 */
static LsmCode
emit_blob_ref(RunState *rs, LsmSlice *value, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmDb	   *db = c->db;
	const LsmBlobUse *info;
	LsmBlobRef	r;
	LsmCode		rc;

	if (!lsm_blob_ref_decode(*value, &r))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "malformed blob reference in a compaction input of \"%s\"",
							  db->dir);
	info = lsm_blob_use_find(c->blob_info, c->n_blob_info, r.number);
	if (info == NULL)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "blob file %llu of \"%s\" is referenced by an entry but not by its table",
							  (unsigned long long) r.number, db->dir);
	if (!c->blob_gc[info - c->blob_info])
		return lsm_blob_uses_add(&rs->uses, r.number, r.len, info->total,
								 info->file_size) ? LSM_OK :
			lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	rc = lsm_blob_read(db, *value, &rs->blob_value, NULL, st);
	if (rc != LSM_OK)
		return rc;
	rc = run_blob_add(rs, lsm_buf_slice(&rs->blob_value), &r, st);
	if (rc != LSM_OK)
		return rc;
	c->blob_relocated += r.len;
	lsm_buf_reset(&rs->blob_ref);
	if (!lsm_blob_ref_encode(&rs->blob_ref, &r) ||
		!lsm_blob_uses_add(&rs->uses, r.number, r.len, 0, 0))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	*value = lsm_buf_slice(&rs->blob_ref);
	return LSM_OK;
}

/*
 * resolve
 *		The value of a PUT or BLOB entry: a BLOB's is read from its blob
 *		file into rs->blob_value (for the merge function and the filter).
 */
static LsmCode
resolve(RunState *rs, LsmKind kind, LsmSlice *value, LsmStatus *st)
{
	LsmCode		rc;

	if (kind != LSM_KIND_BLOB)
		return LSM_OK;
	rc = lsm_blob_read(rs->c->db, *value, &rs->blob_value, NULL, st);
	if (rc == LSM_OK)
		*value = lsm_buf_slice(&rs->blob_value);
	return rc;
}

/*
 * emit
 *		Append an entry to the output, first starting a new output table
 *		when the current one reached target_file_size, but only between
 *		two user keys: the versions of one key never straddle two files of
 *		a level.
 */
static LsmCode
emit(RunState *rs, LsmSlice ikey, LsmSlice value, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmDb	   *db = c->db;
	LsmSlice	ukey = lsm_ikey_user_key(ikey);
	bool		same = rs->b != NULL &&
		lsm_slice_eq(ukey, lsm_buf_slice(&rs->out_last_ukey));
	LsmCode		rc;

	if (rs->b != NULL && !same && c->cut_outputs &&
		lsm_sst_builder_size(rs->b) >= db->opts.target_file_size)
	{
		rc = finish_output(rs, st);
		if (rc != LSM_OK)
			return rc;
	}
	if (rs->b == NULL)
	{
		char		path[LSM_PATH_MAX];

		rs->number = lsm_versionset_new_file_number(db->vs);
		if (!lsm_file_path(path, db->dir, LSM_FILE_TABLE, rs->number))
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "database path \"%s\" is too long", db->dir);
		rc = lsm_sst_builder_open(db->env, path, &rs->topts, &rs->b, st);
		if (rc != LSM_OK)
			return rc;
		same = false;
	}
	if (ikey_kind_is(ikey, LSM_KIND_BLOB))
	{
		rc = emit_blob_ref(rs, &value, st);
		if (rc != LSM_OK)
			return rc;
	}
	else if (db->opts.blob_min_size > 0 && value.len >= db->opts.blob_min_size &&
			 ikey_kind_is(ikey, LSM_KIND_PUT))
	{
		rc = emit_inline_value(rs, &ikey, &value, st);
		if (rc != LSM_OK)
			return rc;
	}
	rc = lsm_sst_builder_add(rs->b, ikey, value, st);
	if (rc != LSM_OK)
		return rc;
	if (!same && !lsm_buf_set(&rs->out_last_ukey, ukey.data, ukey.len))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	return LSM_OK;
}

/*
 * older_may_hold
 *		Whether data older than the compaction's inputs, outside them, may
 *		hold user key k: files of the levels below the output whose range
 *		covers k and whose bloom filter does not rule k out, and the older
 *		level-0 files of a level-0 output.  A table that cannot be opened
 *		counts as holding it.
 */
static bool
older_may_hold(LsmCompaction *c, LsmSlice k)
{
	LsmVersion *v = c->v;
	LsmSst   *t;
	int			level;
	int			i;

	for (i = 0; i < c->n_older_l0; i++)
	{
		LsmFileMeta *f = c->older_l0[i];

		if (lsm_slice_cmp(k, lsm_file_smallest_user_key(f)) >= 0 &&
			lsm_slice_cmp(k, lsm_file_largest_user_key(f)) <= 0 &&
			(lsm_versionset_table(c->db->vs, f, &t, NULL) != LSM_OK ||
			 lsm_sst_may_contain(t, k)))
			return true;
	}
	for (level = c->older_from; level < LSM_NUM_LEVELS; level++)
	{
		LsmFileMeta *f;

		i = lsm_version_find_file(v, level, k);
		if (i >= v->n_files[level])
			continue;
		f = v->files[level][i];
		if (lsm_slice_cmp(k, lsm_file_smallest_user_key(f)) < 0)
			continue;
		if (lsm_versionset_table(c->db->vs, f, &t, NULL) != LSM_OK ||
			lsm_sst_may_contain(t, k))
			return true;
	}
	return false;
}

/*
 * output_compression
 *		The codec of c's outputs: the bottom one (opts.compression) when no
 *		level below the output level holds a file in c's version, so that
 *		the data is there to stay; the upper one for level 0 and for levels
 *		that data still passes through.
 */
static LsmCompression
output_compression(const LsmCompaction *c)
{
	const LsmOptions *o = &c->db->opts;
	int			level;

	if (c->output_level == 0)
		return o->compression_upper;
	for (level = c->output_level + 1; level < LSM_NUM_LEVELS; level++)
		if (c->v->n_files[level] > 0)
			return o->compression_upper;
	return o->compression;
}

/* Keep a copy of an operand until its key's stripe is decided. */
static LsmCode
hold(RunState *rs, LsmSlice ikey, LsmSlice value, LsmStatus *st)
{
	if (rs->n_held == rs->cap_held)
	{
		int			cap = rs->cap_held ? rs->cap_held * 2 : 8;
		Held	   *p = lsm_realloc(rs->held, (size_t) cap * sizeof(Held));

		if (p == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
		memset(p + rs->cap_held, 0, (size_t) (cap - rs->cap_held) * sizeof(Held));
		rs->held = p;
		rs->cap_held = cap;
	}
	if (!lsm_buf_set(&rs->held[rs->n_held].ikey, ikey.data, ikey.len) ||
		!lsm_buf_set(&rs->held[rs->n_held].value, value.data, value.len))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	rs->n_held++;
	return LSM_OK;
}

/* Emit the held operands as they are. */
static LsmCode
emit_held(RunState *rs, LsmStatus *st)
{
	int			i;
	LsmCode		rc;

	for (i = 0; i < rs->n_held; i++)
	{
		rc = emit(rs, lsm_buf_slice(&rs->held[i].ikey), lsm_buf_slice(&rs->held[i].value), st);
		if (rc != LSM_OK)
			return rc;
	}
	rs->n_held = 0;
	return LSM_OK;
}

/*
 * fold_held
 *		Fold the held operands over base (NULL: nothing below them) into
 *		one PUT carrying the newest operand's sequence number, and emit it.
 *		*folded is false when the merge function refused: the caller then
 *		keeps everything as it was, and reads report the refusal as they
 *		would have without the compaction.
 */
static LsmCode
fold_held(RunState *rs, const LsmSlice *base, bool *folded, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmDb	   *db = c->db;
	LsmParsedKey pk = {{NULL, 0}, 0, LSM_KIND_PUT};
	LsmStatus	mst;
	int			i;

	*folded = false;
	if (rs->cap_operands < rs->n_held)
	{
		LsmSlice   *p = lsm_realloc(rs->operands, (size_t) rs->cap_held * sizeof(LsmSlice));

		if (p == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
		rs->operands = p;
		rs->cap_operands = rs->cap_held;
	}
	for (i = 0; i < rs->n_held; i++)
		rs->operands[rs->n_held - 1 - i] = lsm_buf_slice(&rs->held[i].value);
	lsm_buf_reset(&rs->folded);
	lsm_status_clear(&mst);
	if (db->opts.merge(db->opts.merge_arg, lsm_buf_slice(&rs->ukey), base,
					   rs->operands, rs->n_held, &rs->folded, &mst) != LSM_OK)
		return LSM_OK;
	/* held keys were parsed once already */
	(void) lsm_ikey_parse(lsm_buf_slice(&rs->held[0].ikey), &pk);
	lsm_buf_reset(&rs->scratch);
	if (!lsm_ikey_append(&rs->scratch, lsm_buf_slice(&rs->ukey), pk.seq, LSM_KIND_PUT))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	*folded = true;
	c->entries_dropped += (uint64_t) rs->n_held - 1 + (base != NULL ? 1 : 0);
	rs->n_held = 0;
	return emit(rs, lsm_buf_slice(&rs->scratch), lsm_buf_slice(&rs->folded), st);
}

/*
 * end_key
 *		The current key has no more entries: operands still held had
 *		nothing below them in the inputs.  With no older data that may hold
 *		the key they fold over nothing; otherwise they stay as they are.
 */
static LsmCode
end_key(RunState *rs, LsmStatus *st)
{
	bool		folded = false;
	LsmCode		rc;

	if (rs->n_held == 0)
		return LSM_OK;
	if (!older_may_hold(rs->c, lsm_buf_slice(&rs->ukey)))
	{
		rc = fold_held(rs, NULL, &folded, st);
		if (rc != LSM_OK || folded)
			return rc;
	}
	return emit_held(rs, st);
}

/* The stripe of sequence number seq (<= C): the first read point >= seq. */
static int
stripe_of(const LsmCompaction *c, LsmSeq seq)
{
	int			lo = 0;
	int			hi = c->n_points - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (c->points[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static LsmCode filter_drop(RunState *rs, const LsmParsedKey *pk, size_t bytes,
						   LsmStatus *st);

/*
 * process
 *		Decide one entry; entries come in internal-key order, so the
 *		versions of a key arrive newest first, stripe by stripe, from the
 *		highest.  The rules are in the file header.
 */
static LsmCode
process(RunState *rs, LsmSlice ikey, LsmSlice value, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmParsedKey pk;
	bool		folded;
	int			stripe;
	LsmCode		rc;

	if (!lsm_ikey_parse(ikey, &pk))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "malformed internal key of %zu bytes in a compaction input of \"%s\"",
							  ikey.len, c->db->dir);
	if (!rs->has_ukey || !lsm_slice_eq(pk.user_key, lsm_buf_slice(&rs->ukey)))
	{
		if (rs->has_ukey)
		{
			rc = end_key(rs, st);
			if (rc != LSM_OK)
				return rc;
		}
		if (!lsm_buf_set(&rs->ukey, pk.user_key.data, pk.user_key.len))
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
		rs->has_ukey = true;
		rs->stripe = -1;
		rs->decided = false;
	}

	/* readers outside may read between the versions above C */
	if (pk.seq > c->points[c->n_points - 1])
		return emit(rs, ikey, value, st);
	stripe = stripe_of(c, pk.seq);
	if (stripe != rs->stripe)
	{
		/* operands held in a higher stripe: their base is down here */
		rc = emit_held(rs, st);
		if (rc != LSM_OK)
			return rc;
		rs->stripe = stripe;
		rs->decided = false;
	}
	if (rs->decided)
	{
		c->entries_dropped++;
		return LSM_OK;
	}
	switch (pk.kind)
	{
		case LSM_KIND_MERGE:
			return hold(rs, ikey, value, st);

		case LSM_KIND_PUT:
		case LSM_KIND_BLOB:
			rs->decided = true;
			if (rs->n_held > 0)
			{
				LsmSlice	base = value;

				rc = resolve(rs, pk.kind, &base, st);
				if (rc != LSM_OK)
					return rc;
				rc = fold_held(rs, &base, &folded, st);
				if (rc != LSM_OK || folded)
					return rc;
				rc = emit_held(rs, st);
				if (rc != LSM_OK)
					return rc;
			}
			if (stripe == 0 && c->db->opts.filter_fn != NULL)
			{
				LsmSlice	v = value;

				rc = resolve(rs, pk.kind, &v, st);
				if (rc != LSM_OK)
					return rc;
				if (c->db->opts.filter_fn(c->db->opts.filter_arg, c->filter_start,
										  pk.user_key, v))
					return filter_drop(rs, &pk, ikey.len + v.len, st);
			}
			return emit(rs, ikey, value, st);

		case LSM_KIND_DELETE:
			rs->decided = true;
			if (rs->n_held > 0)
			{
				rc = fold_held(rs, NULL, &folded, st);
				if (rc != LSM_OK)
					return rc;
				if (folded)
				{
					/* the folded PUT hides the tombstone from its stripe's readers */
					c->entries_dropped++;
					return LSM_OK;
				}
				rc = emit_held(rs, st);
				if (rc != LSM_OK)
					return rc;
			}
			if (stripe == 0 && !older_may_hold(c, pk.user_key))
			{
				c->entries_dropped++;
				return LSM_OK;
			}
			return emit(rs, ikey, value, st);
	}
	return LSM_OK;
}

/*
 * filter_drop
 *		Drop a PUT the compaction filter refused (the newest of its key in
 *		the lowest stripe; older ones there are dropped as decided).  Older
 *		data outside the compaction would show through: a tombstone at the
 *		PUT's sequence number hides it.
 */
static LsmCode
filter_drop(RunState *rs, const LsmParsedKey *pk, size_t bytes, LsmStatus *st)
{
	LsmCompaction *c = rs->c;

	c->filter_dropped++;
	c->filter_bytes += bytes;
	if (!older_may_hold(c, pk->user_key))
	{
		c->entries_dropped++;
		return LSM_OK;
	}
	lsm_buf_reset(&rs->scratch);
	if (!lsm_ikey_append(&rs->scratch, pk->user_key, pk->seq, LSM_KIND_DELETE))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	return emit(rs, lsm_buf_slice(&rs->scratch), lsm_slice(NULL, 0), st);
}

/* Free a run's state; an unfinished output table is removed. */
static void
run_state_free(RunState *rs)
{
	int			i;

	if (rs->b != NULL)
		lsm_sst_builder_abandon(rs->b);
	for (i = 0; i < rs->cap_held; i++)
	{
		lsm_buf_free(&rs->held[i].ikey);
		lsm_buf_free(&rs->held[i].value);
	}
	lsm_free(rs->held);
	lsm_free(rs->operands);
	lsm_buf_free(&rs->out_last_ukey);
	lsm_buf_free(&rs->ukey);
	lsm_buf_free(&rs->folded);
	lsm_buf_free(&rs->scratch);
	lsm_blob_writer_abandon(&rs->bw);
	lsm_blob_uses_free(&rs->uses);
	lsm_buf_free(&rs->blob_value);
	lsm_buf_free(&rs->blob_ref);
	lsm_buf_free(&rs->blob_ikey);
}

/* Unlink the finished outputs of a run that will not be installed. */
static void
delete_outputs(LsmCompaction *c)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < c->n_outputs; i++)
	{
		if (lsm_file_path(path, c->db->dir, LSM_FILE_TABLE, c->outputs[i].number))
			c->db->env->unlink(c->db->env, path, NULL);
		lsm_buf_free(&c->outputs[i].smallest);
		lsm_buf_free(&c->outputs[i].largest);
		lsm_free(c->outputs[i].blobs);
		c->outputs[i].blobs = NULL;
	}
	if (c->blob_number != 0)
		lsm_blob_delete(c->db, &c->blob_number, 1);
	c->blob_number = 0;
	c->blob_relocated = 0;
	c->blob_file_bytes = 0;
	c->n_outputs = 0;
	c->output_bytes = 0;
}

/*
 * input_iter
 *		One iterator over every input entry: a table iterator per level-0
 *		input, a concatenating one per deeper level, merged.  Reads bypass
 *		the block cache: a compaction reads each block once.
 */
static LsmCode
input_iter(LsmCompaction *c, LsmIter **out, LsmStatus *st)
{
	LsmVersionSet *vs = c->db->vs;
	LsmIter   **children;
	int			n = 0;
	int			level;
	int			i;
	LsmCode		rc;

	*out = NULL;
	children = lsm_malloc((size_t) (c->n_inputs[0] + LSM_NUM_LEVELS) * sizeof(LsmIter *));
	if (children == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	for (i = 0; i < c->n_inputs[0]; i++)
	{
		LsmSst   *t;

		rc = lsm_versionset_table(vs, c->inputs[0][i], &t, st);
		if (rc != LSM_OK)
			goto fail;
		children[n] = lsm_sst_iter(t, false, NULL);
		if (children[n] == NULL)
			goto oom;
		n++;
	}
	for (level = 1; level < LSM_NUM_LEVELS; level++)
	{
		if (c->n_inputs[level] == 0)
			continue;
		children[n] = lsm_files_iter(vs, c->inputs[level], c->n_inputs[level], false, NULL);
		if (children[n] == NULL)
			goto oom;
		n++;
	}
	*out = lsm_merge_iter_new(children, n, lsm_ikey_cmp);
	lsm_free(children);
	if (*out == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
	return LSM_OK;

oom:
	rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a compaction");
fail:
	for (i = 0; i < n; i++)
		lsm_iter_destroy(children[i]);
	lsm_free(children);
	return rc;
}

/*
 * finish_blob
 *		Complete the run's blob file and give its size to the outputs that
 *		reference it.
 */
static LsmCode
finish_blob(RunState *rs, LsmStatus *st)
{
	LsmCompaction *c = rs->c;
	LsmCode		rc;
	int			i;

	rc = lsm_blob_writer_finish(&rs->bw, st);
	if (rc != LSM_OK)
		return rc;
	c->blob_file_bytes = rs->bw.file_bytes;
	for (i = 0; i < c->n_outputs; i++)
	{
		LsmBlobUses us = {c->outputs[i].blobs, c->outputs[i].n_blobs, c->outputs[i].n_blobs};

		lsm_blob_uses_set_total(&us, rs->bw.number, rs->bw.bytes, rs->bw.file_bytes);
	}
	return LSM_OK;
}

/*
 * first_dict
 *		A compaction that moves a bulk load's values out of its table files
 *		(emit_inline_value) writes them in zstd with the table's dictionary;
 *		a table that was only ever loaded has none yet, and alone a 1 KiB
 *		value compresses worse than the loaded 4 KiB blocks did.  So when
 *		the table has no dictionary, sample such values among the first
 *		DICT_SCAN_ENTRIES entries of the inputs and train one first.  Only
 *		when an input file may hold such values: one whose bytes per entry
 *		reach a quarter of blob_min_size (values compress to about half,
 *		and keys take some), so that a table of short rows, which never
 *		gets a dictionary, does not pay the scan at every compaction.
 */
#define DICT_SCAN_ENTRIES	4096

static bool
inputs_may_hold_long_values(const LsmCompaction *c)
{
	size_t		min_size = c->db->opts.blob_min_size;

	for (int level = 0; level < LSM_NUM_LEVELS; level++)
		for (int i = 0; i < c->n_inputs[level]; i++)
		{
			const LsmFileMeta *f = c->inputs[level][i];

			if (f->entries > 0 && f->size / f->entries >= min_size / 4)
				return true;
		}
	return false;
}

static void
first_dict(LsmCompaction *c)
{
	LsmDb	   *db = c->db;
	LsmDictSampler sampler;
	LsmStatus	ignore;
	LsmIter    *it;
	bool		have;
	int			n = 0;

	if (db->opts.blob_min_size == 0 || db->opts.compression != LSM_COMPRESSION_ZSTD)
		return;
	db->env->mutex_lock(db->blob_mu);
	have = db->blob_dict != NULL;
	db->env->mutex_unlock(db->blob_mu);
	if (have || !inputs_may_hold_long_values(c) || input_iter(c, &it, &ignore) != LSM_OK)
		return;
	lsm_dict_sampler_init(&sampler, c->input_bytes);
	for (lsm_iter_seek_first(it);
		 lsm_iter_valid(it) && n < DICT_SCAN_ENTRIES;
		 lsm_iter_next(it), n++)
	{
		LsmSlice	v = lsm_iter_value(it);

		if (v.len >= db->opts.blob_min_size && ikey_kind_is(lsm_iter_key(it), LSM_KIND_PUT))
			(void) lsm_dict_sample(&sampler, v);
	}
	lsm_iter_destroy(it);
	lsm_blob_train_first_dict(db, &sampler);
	lsm_dict_sampler_free(&sampler);
}

/*
 * lsm_compaction_run
 *		Merge the inputs into new tables; no lock is held, so writers and
 *		readers go on meanwhile.  On failure every output written so far is
 *		deleted.
 */
LsmCode
lsm_compaction_run(LsmCompaction *c, LsmStatus *st)
{
	LsmDb	   *db = c->db;
	RunState	rs;
	LsmIter    *it;
	LsmCode		rc;
	uint64_t	n = 0;

	if (c->ran || c->trivial_move)
		return LSM_OK;
	memset(&rs, 0, sizeof(rs));
	rs.c = c;
	rs.topts = db->topts;
	rs.topts.compression = output_compression(c);
	first_dict(c);
	rc = input_iter(c, &it, st);
	if (rc != LSM_OK)
		goto fail;
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), n++)
	{
		/* a frozen memtable goes first (db_background.c) */
		if (db->bg != NULL && n % 4096 == 4095)
			lsm_db_bg_flush_interleaved(db);
		/* inputs that mostly drop build few blocks, where the builder yields */
		if (n % 64 == 63 && db->env->cpu_yield != NULL)
			db->env->cpu_yield(db->env);
		rc = process(&rs, lsm_iter_key(it), lsm_iter_value(it), st);
		if (rc != LSM_OK)
			break;
	}
	if (rc == LSM_OK)
		rc = lsm_iter_status(it, st);
	lsm_iter_destroy(it);
	if (rc == LSM_OK && rs.has_ukey)
		rc = end_key(&rs, st);
	if (rc == LSM_OK && rs.b != NULL)
		rc = finish_output(&rs, st);
	if (rc == LSM_OK && rs.bw.file != NULL)
		rc = finish_blob(&rs, st);
	if (rc == LSM_OK && c->n_outputs > 0)
		rc = db->env->sync_dir(db->env, db->dir, st);
	if (rc != LSM_OK)
		goto fail;
	run_state_free(&rs);
	c->ran = true;
	LSM_STAT_ADD(db, bytes_compacted_read, c->input_bytes);
	LSM_STAT_ADD(db, bytes_compacted_written, c->output_bytes);
	if (c->blob_number != 0)
	{
		LSM_STAT_ADD(db, blob_files_written, 1);
		LSM_STAT_ADD(db, bytes_blob_written, c->blob_file_bytes);
		LSM_STAT_ADD(db, bytes_blob_relocated, c->blob_relocated);
	}
	return LSM_OK;

fail:
	run_state_free(&rs);
	delete_outputs(c);
	LSM_STAT_ADD(db, compaction_failures, 1);
	return rc;
}

/*
 * Installing
 */

/*
 * install
 *		One edit: every input out, every output (or the moved file) in.
 *		have_write_mu: the caller (a writer compacting inline) holds it.
 */
static LsmCode
install(LsmCompaction *c, bool have_write_mu, LsmStatus *st)
{
	LsmDb	   *db = c->db;
	LsmVersionEdit edit;
	int			level;
	int			i;
	LsmCode		rc = LSM_OK;

	if (c->installed)
		return LSM_OK;
	if (!c->ran && !c->trivial_move)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "a compaction must run before it is installed");
	lsm_edit_init(&edit);
	for (level = 0; rc == LSM_OK && level < LSM_NUM_LEVELS; level++)
		for (i = 0; rc == LSM_OK && i < c->n_inputs[level]; i++)
			rc = lsm_edit_delete_file(&edit, level, c->inputs[level][i]->number, st);
	if (c->trivial_move)
	{
		for (level = 0; rc == LSM_OK && level < LSM_NUM_LEVELS; level++)
			for (i = 0; rc == LSM_OK && i < c->n_inputs[level]; i++)
				rc = lsm_edit_add_file(&edit, c->output_level, c->inputs[level][i], st);
	}
	else
	{
		for (i = 0; rc == LSM_OK && i < c->n_outputs; i++)
			rc = lsm_edit_add_file(&edit, c->output_level, &c->outputs[i], st);
	}
	if (rc == LSM_OK)
	{
		c->install_tried = true;
		if (!have_write_mu)
			db->env->mutex_lock(db->write_mu);
		rc = lsm_db_apply_edit_locked(db, &edit, st);
		if (!have_write_mu)
			db->env->mutex_unlock(db->write_mu);
	}
	lsm_edit_free(&edit);
	if (rc != LSM_OK)
	{
		LSM_STAT_ADD(db, compaction_failures, 1);
		return rc;
	}
	c->installed = true;
	LSM_STAT_ADD(db, compactions, 1);
	if (c->trivial_move)
		LSM_STAT_ADD(db, trivial_moves, 1);
	LSM_STAT_ADD(db, compaction_entries_dropped, c->entries_dropped);
	LSM_STAT_ADD(db, filter_entries_dropped, c->filter_dropped);
	LSM_STAT_ADD(db, filter_bytes_dropped, c->filter_bytes);
	if (c->pointer_level > 0)
	{
		LsmFileMeta *f = c->inputs[c->pointer_level][c->n_inputs[c->pointer_level] - 1];
		LsmSlice	k = lsm_file_largest_user_key(f);

		db->env->mutex_lock(db->mu);
		lsm_buf_set(&db->compact_ptr[c->pointer_level], k.data, k.len);
		db->env->mutex_unlock(db->mu);
	}
	return LSM_OK;
}

LsmCode
lsm_compaction_install(LsmCompaction *c, LsmStatus *st)
{
	return install(c, false, st);
}

/*
 * lsm_compaction_release
 *		Un-reserve the inputs, unpin the version and free c.  Outputs of a
 *		run that was never offered to the MANIFEST are deleted; those of a
 *		failed install are left to the next open, since the MANIFEST may
 *		name them after a crash (its last record's fate is unknown).
 */
void
lsm_compaction_release(LsmCompaction *c)
{
	LsmDb	   *db;
	LsmCompaction **pp;
	int			level;
	int			i;

	if (c == NULL)
		return;
	db = c->db;
	if (!c->install_tried)
		delete_outputs(c);
	db->env->mutex_lock(db->mu);
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < c->n_inputs[level]; i++)
			c->inputs[level][i]->compacting = false;
	for (pp = &db->running; *pp != NULL; pp = &(*pp)->next_running)
		if (*pp == c)
		{
			*pp = c->next_running;
			db->n_running--;
			break;
		}
	__atomic_fetch_sub(&db->stats.running_compactions, 1, __ATOMIC_RELAXED);
	lsm_version_unref(c->v);
	lsm_db_unlock_and_delete_obsolete(db);
	compaction_free(c);
}

/*
 * Driving
 */

/*
 * lsm_db_compact_one
 *		Pick, run, install and release one compaction; *did says whether
 *		there was one.  have_write_mu: called by a writer holding it (the
 *		run then happens under it, which is what "synchronous" means).
 */
LsmCode
lsm_db_compact_one(LsmDb *db, bool have_write_mu, bool *did, LsmStatus *st)
{
	LsmCompaction *c;
	LsmCode		rc;

	*did = false;
	rc = pick(db, false, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &c, st);
	if (rc == LSM_NOT_FOUND)
		return LSM_OK;
	if (rc != LSM_OK)
		return rc;
	rc = lsm_compaction_run(c, st);
	if (rc == LSM_OK)
		rc = install(c, have_write_mu, st);
	lsm_compaction_release(c);
	*did = rc == LSM_OK;
	return rc;
}

/*
 * lsm_db_compact_until_done
 *		Compact until nothing is due.  Every compaction lowers the score it
 *		was picked for (leveled: files leave a level; tiered: runs merge),
 *		so this ends.
 */
LsmCode
lsm_db_compact_until_done(LsmDb *db, bool have_write_mu, LsmStatus *st)
{
	bool		did = true;
	LsmCode		rc = LSM_OK;

	while (did && rc == LSM_OK)
		rc = lsm_db_compact_one(db, have_write_mu, &did, st);
	return rc;
}

LsmCode
lsm_db_compact_pending(LsmDb *db, LsmStatus *st)
{
	return lsm_db_compact_until_done(db, false, st);
}

/*
 * lsm_db_compact_range
 *		Flush, then one manual compaction of everything in the range into
 *		the bottom level, waiting (1 ms at a time through the env's wait
 *		hook, no lock held; a wait it ends ends the call) while running
 *		compactions hold what it needs; then, with auto_compact, whatever
 *		became due.
 */
LsmCode
lsm_db_compact_range(LsmDb *db, LsmSlice lower, LsmSlice upper, LsmStatus *st)
{
	return lsm_db_compact_range_info(db, lower, upper, NULL, st);
}

/* Whether a blob file the current version references holds garbage. */
static bool
version_has_blob_garbage(LsmDb *db)
{
	LsmVersion *v;
	LsmBlobUses us;
	bool		any = false;
	int			i;

	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	db->env->mutex_unlock(db->mu);
	if (lsm_blob_version_uses(v, &us))
	{
		for (i = 0; i < us.n && !any; i++)
			any = us.u[i].bytes < us.u[i].total;
		lsm_blob_uses_free(&us);
	}
	db->env->mutex_lock(db->mu);
	lsm_version_unref(v);
	lsm_db_unlock_and_delete_obsolete(db);
	return any;
}

/*
 * manual_compaction
 *		Flush, then compact [lower, upper) in one compaction, waiting for
 *		running compactions that hold files of the range.  all_garbage:
 *		move the values out of every blob file with garbage, not only those
 *		past blob_gc_percent.
 */
static LsmCode
manual_compaction(LsmDb *db, LsmSlice lower, LsmSlice upper, bool all_garbage,
				  LsmCompactionInfo *info, LsmStatus *st)
{
	LsmCompaction *c;
	LsmCode		rc;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	rc = lsm_db_flush(db, st);
	if (rc != LSM_OK)
		return rc;
	for (;;)
	{
		rc = pick(db, true, lower, upper, &c, st);
		if (rc != LSM_BUSY)
			break;
		rc = lsm_env_wait(db->env, LSM_WAIT_COMPACTION, 1000, st);
		if (rc != LSM_OK)
			return rc;
	}
	if (rc == LSM_NOT_FOUND)
		rc = LSM_OK;
	else if (rc == LSM_OK)
	{
		for (int i = 0; all_garbage && i < c->n_blob_info; i++)
			c->blob_gc[i] = c->blob_info[i].bytes < c->blob_info[i].total;
		rc = lsm_compaction_run(c, st);
		if (rc == LSM_OK)
			rc = install(c, false, st);
		if (rc == LSM_OK && info != NULL)
			lsm_compaction_info(c, info);
		lsm_compaction_release(c);
	}
	if (rc == LSM_OK && db->opts.auto_compact)
		rc = lsm_db_compact_until_done(db, false, st);
	return rc;
}

LsmCode
lsm_db_compact_range_info(LsmDb *db, LsmSlice lower, LsmSlice upper,
						  LsmCompactionInfo *info, LsmStatus *st)
{
	return manual_compaction(db, lower, upper, false, info, st);
}

LsmCode
lsm_db_compact_blob_garbage(LsmDb *db, LsmCompactionInfo *info, LsmStatus *st)
{
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (!version_has_blob_garbage(db))
		return LSM_OK;
	return manual_compaction(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), true, info, st);
}

/*
 * lsm_compaction_check_options
 *		Refuse settings the pickers cannot work with.
 */
LsmCode
lsm_compaction_check_options(const LsmOptions *o, LsmStatus *st)
{
	if (o->compaction_style != LSM_COMPACT_LEVELED &&
		o->compaction_style != LSM_COMPACT_TIERED)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "unknown compaction style %d", (int) o->compaction_style);
	if (o->l0_compaction_trigger < 1 || o->l0_compaction_trigger > 1000)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "l0_compaction_trigger %d is outside 1..1000",
							  o->l0_compaction_trigger);
	if (o->l0_open_compaction_trigger < 0)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "l0_open_compaction_trigger %d is negative",
							  o->l0_open_compaction_trigger);
	if (o->l0_slowdown_writes_trigger < 0 || o->l0_stop_writes_trigger < 0)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "write stall triggers must not be negative");
	if (o->level_size_multiplier < 2 || o->level_size_multiplier > 1000)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "level_size_multiplier %d is outside 2..1000",
							  o->level_size_multiplier);
	if (o->max_bytes_for_level_base < 1024)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "max_bytes_for_level_base %llu is below 1 KiB",
							  (unsigned long long) o->max_bytes_for_level_base);
	if (o->target_file_size < 1024)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "target_file_size %llu is below 1 KiB",
							  (unsigned long long) o->target_file_size);
	if (!(o->tiered_size_ratio >= 1.0))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "tiered_size_ratio %g is below 1", o->tiered_size_ratio);
	if (o->tiered_max_merge_width < 2)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "tiered_max_merge_width %d is below 2",
							  o->tiered_max_merge_width);
	return LSM_OK;
}
