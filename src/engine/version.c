/*
 * version.c
 *		File metadata, version edits and their encoding, immutable versions,
 *		and the version set with its MANIFEST and CURRENT files.
 *
 * The MANIFEST is a log (wal.h) of LSM_LOG_EDIT records.  Every MANIFEST
 * starts with a snapshot edit that lists every live file and all counters,
 * so recovery needs only the one file CURRENT names, and older MANIFESTs
 * can be deleted as soon as CURRENT points past them.  A new MANIFEST is
 * started at every open, after a failed append (a record of unknown fate
 * must never be followed by more records in the same file) and when the
 * file grows past manifest_rollover.
 *
 * Reference counts.  A version's refs is protected by the set's mutex.  A
 * file's refs counts the versions listing it and is changed with atomic
 * operations, because the edit thread builds the next version (taking file
 * references) outside the mutex while readers may free old versions
 * (dropping them) under it.  When a set version's last reference goes, the
 * files it alone listed move to the obsolete list; the caller deletes them
 * after releasing the mutex (lsm_versionset_take_obsolete/delete_files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm_coding.h"
#include "lsm_alloc.h"
#include "blob.h"
#include "version.h"

/* Tags of edit fields (docs/format.md): stored in files, never renumber. */
#define EDIT_TAG_LOG_NUMBER		1
#define EDIT_TAG_NEXT_FILE		2
#define EDIT_TAG_LAST_SEQ		3
#define EDIT_TAG_DELETED_FILE	4
#define EDIT_TAG_ADDED_FILE		5
#define EDIT_TAG_INGESTED_FILE	6	/* added file + its global sequence number */
#define EDIT_TAG_FILE_BLOBS		7	/* blob files the file added last references */

#define MANIFEST_ROLLOVER_DEFAULT (4 * 1024 * 1024)

/* Longest CURRENT file we accept: "MANIFEST-" + 20 digits + "\n". */
#define CURRENT_MAX_LEN 64

/*
 * File names
 */

/*
 * lsm_file_path
 *		Format the path of a database file.  Numbers are zero-padded to six
 *		digits so that a directory listing sorts them, but any width parses.
 */
bool
lsm_file_path(char *out, const char *dir, LsmFileType type, uint64_t number)
{
	unsigned long long n = (unsigned long long) number;
	int			len = -1;

	switch (type)
	{
		case LSM_FILE_TABLE:
			len = snprintf(out, LSM_PATH_MAX, "%s/%06llu.sst", dir, n);
			break;
		case LSM_FILE_BLOB:
			len = snprintf(out, LSM_PATH_MAX, "%s/%06llu.blob", dir, n);
			break;
		case LSM_FILE_LOG:
			len = snprintf(out, LSM_PATH_MAX, "%s/%06llu.log", dir, n);
			break;
		case LSM_FILE_MANIFEST:
			len = snprintf(out, LSM_PATH_MAX, "%s/MANIFEST-%06llu", dir, n);
			break;
		case LSM_FILE_CURRENT:
			len = snprintf(out, LSM_PATH_MAX, "%s/CURRENT", dir);
			break;
		case LSM_FILE_TEMP:
			len = snprintf(out, LSM_PATH_MAX, "%s/CURRENT.tmp", dir);
			break;
	}
	return len >= 0 && len < LSM_PATH_MAX;
}

/*
 * parse_number
 *		Parse a run of 1..20 decimal digits ending at end; false on anything
 *		else, including overflow.
 */
static bool
parse_number(const char *p, const char *end, uint64_t *out)
{
	uint64_t	v = 0;

	if (p >= end || end - p > 20)
		return false;
	for (; p < end; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t) (*p - '0');
	}
	*out = v;
	return true;
}

/*
 * lsm_parse_file_name
 *		Classify a directory entry by name, so that recovery can find logs
 *		and delete leftovers without touching files it does not own.
 */
bool
lsm_parse_file_name(const char *name, LsmFileType *type, uint64_t *number)
{
	size_t		len = strlen(name);

	*number = 0;
	if (strcmp(name, "CURRENT") == 0)
	{
		*type = LSM_FILE_CURRENT;
		return true;
	}
	if (strcmp(name, "CURRENT.tmp") == 0)
	{
		*type = LSM_FILE_TEMP;
		return true;
	}
	if (strncmp(name, "MANIFEST-", 9) == 0)
	{
		*type = LSM_FILE_MANIFEST;
		return parse_number(name + 9, name + len, number);
	}
	if (len > 4 && strcmp(name + len - 4, ".sst") == 0)
	{
		*type = LSM_FILE_TABLE;
		return parse_number(name, name + len - 4, number);
	}
	if (len > 4 && strcmp(name + len - 4, ".log") == 0)
	{
		*type = LSM_FILE_LOG;
		return parse_number(name, name + len - 4, number);
	}
	if (len > 5 && strcmp(name + len - 5, ".blob") == 0)
	{
		*type = LSM_FILE_BLOB;
		return parse_number(name, name + len - 5, number);
	}
	return false;
}

/*
 * File metadata
 */

/* Atomic reference counting of files; see the file header for why. */
static inline void
file_ref(LsmFileMeta *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

static inline bool
file_unref(LsmFileMeta *f)
{
	return __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

/*
 * file_free
 *		Free a meta and close its table, if one was opened.  Deletes nothing.
 */
static void
file_free(LsmFileMeta *f)
{
	if (f == NULL)
		return;
	if (f->table != NULL)
		lsm_sst_close(f->table);
	lsm_buf_free(&f->smallest);
	lsm_buf_free(&f->largest);
	lsm_free(f->blobs);
	lsm_free(f);
}

/*
 * file_copy
 *		Copy the persistent fields of src into a zeroed dst (refs, table
 *		left empty).  False when out of memory; dst then holds nothing.
 */
static bool
file_copy(LsmFileMeta *dst, const LsmFileMeta *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->number = src->number;
	dst->level = src->level;
	dst->size = src->size;
	dst->min_seq = src->min_seq;
	dst->max_seq = src->max_seq;
	dst->entries = src->entries;
	dst->tombstones = src->tombstones;
	dst->global_seq = src->global_seq;
	if (src->n_blobs > 0)
	{
		dst->blobs = lsm_malloc((size_t) src->n_blobs * sizeof(LsmBlobUse));
		if (dst->blobs != NULL)
		{
			memcpy(dst->blobs, src->blobs, (size_t) src->n_blobs * sizeof(LsmBlobUse));
			dst->n_blobs = src->n_blobs;
		}
	}
	if ((src->n_blobs > 0 && dst->blobs == NULL) ||
		!lsm_buf_set(&dst->smallest, src->smallest.data, src->smallest.len) ||
		!lsm_buf_set(&dst->largest, src->largest.data, src->largest.len))
	{
		lsm_buf_free(&dst->smallest);
		lsm_buf_free(&dst->largest);
		lsm_free(dst->blobs);
		dst->blobs = NULL;
		dst->n_blobs = 0;
		return false;
	}
	return true;
}

/*
 * Version edits
 */

void
lsm_edit_init(LsmVersionEdit *e)
{
	memset(e, 0, sizeof(*e));
}

void
lsm_edit_free(LsmVersionEdit *e)
{
	int			i;

	for (i = 0; i < e->n_added; i++)
	{
		lsm_buf_free(&e->added[i].smallest);
		lsm_buf_free(&e->added[i].largest);
		lsm_free(e->added[i].blobs);
	}
	lsm_free(e->added);
	lsm_free(e->deleted);
	lsm_edit_init(e);
}

void
lsm_edit_set_log_number(LsmVersionEdit *e, uint64_t n)
{
	e->has_log_number = true;
	e->log_number = n;
}

void
lsm_edit_set_next_file_number(LsmVersionEdit *e, uint64_t n)
{
	e->has_next_file_number = true;
	e->next_file_number = n;
}

void
lsm_edit_set_last_seq(LsmVersionEdit *e, LsmSeq seq)
{
	e->has_last_seq = true;
	e->last_seq = seq;
}

/*
 * grow_array
 *		Make room for one more element of size elem in *arr; false on OOM.
 */
static bool
grow_array(void **arr, int n, int *cap, size_t elem)
{
	void	   *p;
	int			ncap;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 8;
	p = lsm_realloc(*arr, (size_t) ncap * elem);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

LsmCode
lsm_edit_delete_file(LsmVersionEdit *e, int level, uint64_t number, LsmStatus *st)
{
	if (level < 0 || level >= LSM_NUM_LEVELS)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "cannot delete file %llu at level %d: no such level",
							  (unsigned long long) number, level);
	if (!grow_array((void **) &e->deleted, e->n_deleted, &e->cap_deleted,
					sizeof(LsmDeletedFile)))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory building a version edit");
	e->deleted[e->n_deleted].level = level;
	e->deleted[e->n_deleted].number = number;
	e->n_deleted++;
	return LSM_OK;
}

LsmCode
lsm_edit_add_file(LsmVersionEdit *e, int level, const LsmFileMeta *f, LsmStatus *st)
{
	if (level < 0 || level >= LSM_NUM_LEVELS)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "cannot add file %llu at level %d: no such level",
							  (unsigned long long) f->number, level);
	if (!grow_array((void **) &e->added, e->n_added, &e->cap_added,
					sizeof(LsmFileMeta)) ||
		!file_copy(&e->added[e->n_added], f))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory building a version edit");
	e->added[e->n_added].level = level;
	e->n_added++;
	return LSM_OK;
}

static bool put_added_file_fields(LsmBuf *b, int level, const LsmFileMeta *f);

/*
 * put_added_file
 *		Append one EDIT_TAG_ADDED_FILE field, followed by an
 *		EDIT_TAG_FILE_BLOBS field when the file references blob files.  Shared by edits and by
 *		snapshots, which encode a version's files without copying them.
 */
static bool
put_added_file(LsmBuf *b, int level, const LsmFileMeta *f)
{
	int			i;

	if (!put_added_file_fields(b, level, f))
		return false;
	if (f->n_blobs == 0)
		return true;
	if (!(lsm_buf_put_varint32(b, EDIT_TAG_FILE_BLOBS) &&
		  lsm_buf_put_varint64(b, f->number) &&
		  lsm_buf_put_varint32(b, (uint32_t) f->n_blobs)))
		return false;
	for (i = 0; i < f->n_blobs; i++)
		if (!(lsm_buf_put_varint64(b, f->blobs[i].number) &&
			  lsm_buf_put_varint64(b, f->blobs[i].bytes) &&
			  lsm_buf_put_varint64(b, f->blobs[i].total) &&
			  lsm_buf_put_varint64(b, f->blobs[i].file_size)))
			return false;
	return true;
}

static bool
put_added_file_fields(LsmBuf *b, int level, const LsmFileMeta *f)
{
	return lsm_buf_put_varint32(b, f->global_seq != 0 ?
								EDIT_TAG_INGESTED_FILE : EDIT_TAG_ADDED_FILE) &&
		lsm_buf_put_varint32(b, (uint32_t) level) &&
		lsm_buf_put_varint64(b, f->number) &&
		lsm_buf_put_varint64(b, f->size) &&
		lsm_buf_put_lenprefixed(b, lsm_buf_slice(&f->smallest)) &&
		lsm_buf_put_lenprefixed(b, lsm_buf_slice(&f->largest)) &&
		lsm_buf_put_varint64(b, f->min_seq) &&
		lsm_buf_put_varint64(b, f->max_seq) &&
		lsm_buf_put_varint64(b, f->entries) &&
		lsm_buf_put_varint64(b, f->tombstones) &&
		(f->global_seq == 0 || lsm_buf_put_varint64(b, f->global_seq));
}

/*
 * put_scalars
 *		Append the optional scalar fields of an edit.
 */
static bool
put_scalars(LsmBuf *b, const LsmVersionEdit *e)
{
	if (e->has_log_number &&
		!(lsm_buf_put_varint32(b, EDIT_TAG_LOG_NUMBER) &&
		  lsm_buf_put_varint64(b, e->log_number)))
		return false;
	if (e->has_next_file_number &&
		!(lsm_buf_put_varint32(b, EDIT_TAG_NEXT_FILE) &&
		  lsm_buf_put_varint64(b, e->next_file_number)))
		return false;
	if (e->has_last_seq &&
		!(lsm_buf_put_varint32(b, EDIT_TAG_LAST_SEQ) &&
		  lsm_buf_put_varint64(b, e->last_seq)))
		return false;
	return true;
}

/*
 * lsm_edit_encode
 *		Append the tagged fields of e to out: scalars, deletions, additions.
 */
LsmCode
lsm_edit_encode(const LsmVersionEdit *e, LsmBuf *out, LsmStatus *st)
{
	int			i;

	if (!put_scalars(out, e))
		goto oom;
	for (i = 0; i < e->n_deleted; i++)
	{
		if (!(lsm_buf_put_varint32(out, EDIT_TAG_DELETED_FILE) &&
			  lsm_buf_put_varint32(out, (uint32_t) e->deleted[i].level) &&
			  lsm_buf_put_varint64(out, e->deleted[i].number)))
			goto oom;
	}
	for (i = 0; i < e->n_added; i++)
	{
		if (!put_added_file(out, e->added[i].level, &e->added[i]))
			goto oom;
	}
	return LSM_OK;

oom:
	return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory encoding a version edit");
}

/*
 * check_file_fields
 *		Check that a file's keys are internal keys in order and its
 *		sequence range is sane.  Returns a reason, or NULL when fine.
 */
static const char *
check_file_fields(const LsmFileMeta *f)
{
	LsmParsedKey pk;

	if (f->number == 0)
		return "file number 0";
	if (!lsm_ikey_parse(lsm_buf_slice(&f->smallest), &pk))
		return "malformed smallest key";
	if (!lsm_ikey_parse(lsm_buf_slice(&f->largest), &pk))
		return "malformed largest key";
	if (lsm_ikey_cmp(lsm_buf_slice(&f->smallest), lsm_buf_slice(&f->largest)) > 0)
		return "smallest key above largest key";
	if (f->min_seq > f->max_seq || f->max_seq > LSM_MAX_SEQ)
		return "impossible sequence range";
	return NULL;
}

/*
 * lsm_edit_decode
 *		Parse an edit.  Every field is bounds-checked against the input, so
 *		corrupt bytes produce LSM_CORRUPTION and never a read past the end.
 */
LsmCode
lsm_edit_decode(LsmVersionEdit *e, LsmSlice in, LsmStatus *st)
{
	const uint8_t *p = in.data;
	const uint8_t *limit = in.data + in.len;
	const char *why = NULL;
	size_t		field_off = 0;

	lsm_edit_init(e);
	while (p < limit)
	{
		uint32_t	tag;
		uint32_t	level;
		uint64_t	v;

		field_off = (size_t) (p - in.data);
		p = lsm_decode_varint32(p, limit, &tag);
		if (p == NULL)
		{
			why = "truncated tag";
			goto bad;
		}
		switch (tag)
		{
			case EDIT_TAG_LOG_NUMBER:
			case EDIT_TAG_NEXT_FILE:
			case EDIT_TAG_LAST_SEQ:
				p = lsm_decode_varint64(p, limit, &v);
				if (p == NULL)
				{
					why = "truncated number";
					goto bad;
				}
				if (tag == EDIT_TAG_LOG_NUMBER)
				{
					if (e->has_log_number)
						goto repeated;
					lsm_edit_set_log_number(e, v);
				}
				else if (tag == EDIT_TAG_NEXT_FILE)
				{
					if (e->has_next_file_number)
						goto repeated;
					lsm_edit_set_next_file_number(e, v);
				}
				else
				{
					if (e->has_last_seq)
						goto repeated;
					if (v > LSM_MAX_SEQ)
					{
						why = "sequence number out of range";
						goto bad;
					}
					lsm_edit_set_last_seq(e, v);
				}
				break;

			case EDIT_TAG_DELETED_FILE:
				p = lsm_decode_varint32(p, limit, &level);
				if (p != NULL)
					p = lsm_decode_varint64(p, limit, &v);
				if (p == NULL)
				{
					why = "truncated deleted file";
					goto bad;
				}
				if (level >= LSM_NUM_LEVELS || v == 0)
				{
					why = "impossible level or number of deleted file";
					goto bad;
				}
				if (lsm_edit_delete_file(e, (int) level, v, st) != LSM_OK)
					goto fail;
				break;

			case EDIT_TAG_ADDED_FILE:
			case EDIT_TAG_INGESTED_FILE:
				{
					LsmFileMeta f;
					LsmSlice	smallest;
					LsmSlice	largest;
					LsmCode		rc;

					memset(&f, 0, sizeof(f));
					p = lsm_decode_varint32(p, limit, &level);
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.number);
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.size);
					if (p != NULL && !lsm_get_lenprefixed(&p, limit, &smallest))
						p = NULL;
					if (p != NULL && !lsm_get_lenprefixed(&p, limit, &largest))
						p = NULL;
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.min_seq);
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.max_seq);
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.entries);
					if (p != NULL)
						p = lsm_decode_varint64(p, limit, &f.tombstones);
					if (p != NULL && tag == EDIT_TAG_INGESTED_FILE)
					{
						p = lsm_decode_varint64(p, limit, &f.global_seq);
						if (p != NULL &&
							(f.global_seq == 0 || f.global_seq != f.min_seq ||
							 f.global_seq != f.max_seq))
						{
							why = "bad global sequence number of ingested file";
							goto bad;
						}
					}
					if (p == NULL)
					{
						why = "truncated added file";
						goto bad;
					}
					if (level >= LSM_NUM_LEVELS)
					{
						why = "impossible level of added file";
						goto bad;
					}
					/* borrow the keys for the check and the copy */
					f.smallest.data = (uint8_t *) smallest.data;
					f.smallest.len = smallest.len;
					f.largest.data = (uint8_t *) largest.data;
					f.largest.len = largest.len;
					why = check_file_fields(&f);
					if (why != NULL)
						goto bad;
					rc = lsm_edit_add_file(e, (int) level, &f, st);
					if (rc != LSM_OK)
						goto fail;
				}
				break;

			case EDIT_TAG_FILE_BLOBS:
				{
					uint64_t	number = 0;
					uint32_t	n = 0;
					LsmFileMeta *f = e->n_added > 0 ? &e->added[e->n_added - 1] : NULL;
					uint32_t	i;

					p = lsm_decode_varint64(p, limit, &number);
					if (p != NULL)
						p = lsm_decode_varint32(p, limit, &n);
					if (p == NULL || f == NULL || f->number != number ||
						f->n_blobs != 0 || n == 0 || n > (uint32_t) (limit - p) / 4)
					{
						why = "blob list without its file";
						goto bad;
					}
					f->blobs = lsm_malloc((size_t) n * sizeof(LsmBlobUse));
					if (f->blobs == NULL)
					{
						lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory decoding a version edit");
						goto fail;
					}
					for (i = 0; i < n && p != NULL; i++)
					{
						LsmBlobUse *u = &f->blobs[i];

						p = lsm_decode_varint64(p, limit, &u->number);
						if (p != NULL)
							p = lsm_decode_varint64(p, limit, &u->bytes);
						if (p != NULL)
							p = lsm_decode_varint64(p, limit, &u->total);
						if (p != NULL)
							p = lsm_decode_varint64(p, limit, &u->file_size);
						if (p != NULL && (u->number == 0 || u->bytes > u->total ||
										  (i > 0 && u->number <= f->blobs[i - 1].number)))
							p = NULL;
						f->n_blobs = (int) i + 1;
					}
					if (p == NULL)
					{
						why = "malformed blob list";
						goto bad;
					}
				}
				break;

			default:
				why = "unknown field tag";
				goto bad;
		}
	}
	return LSM_OK;

repeated:
	why = "repeated field";
bad:
	lsm_edit_free(e);
	return lsm_status_set(st, LSM_CORRUPTION, 0,
						  "malformed version edit: %s at byte %zu of %zu",
						  why, field_off, in.len);
fail:
	lsm_edit_free(e);
	return st ? st->code : LSM_NO_MEMORY;
}

/*
 * Versions
 */

static LsmVersion *
version_alloc(void)
{
	return lsm_calloc(1, sizeof(LsmVersion));
}

LsmVersion *
lsm_version_new_empty(void)
{
	LsmVersion *v = version_alloc();

	if (v != NULL)
		v->refs = 1;
	return v;
}

/*
 * obsolete_push
 *		Queue a file whose last version went away; caller holds mu.  If the
 *		list cannot grow the meta is freed without deleting the file, which
 *		the next open then removes as unreferenced.
 */
static void
obsolete_push(LsmVersionSet *vs, LsmFileMeta *f)
{
	if (!grow_array((void **) &vs->obsolete, vs->n_obsolete, &vs->cap_obsolete,
					sizeof(LsmFileMeta *)))
	{
		file_free(f);
		return;
	}
	vs->obsolete[vs->n_obsolete++] = f;
}

/*
 * version_free
 *		Drop the version's file references and free it.  A file of a set
 *		version whose count reaches zero becomes obsolete; one of a version
 *		outside any set (being built, recovered or discarded) is only freed,
 *		since outside a set nothing knows whether the file is needed.
 */
static void
version_free(LsmVersion *v)
{
	int			level;
	int			i;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
	{
		for (i = 0; i < v->n_files[level]; i++)
		{
			LsmFileMeta *f = v->files[level][i];

			if (file_unref(f))
			{
				if (v->vs != NULL)
					obsolete_push(v->vs, f);
				else
					file_free(f);
			}
		}
		lsm_free(v->files[level]);
	}
	if (v->prev != NULL)
	{
		v->prev->next = v->next;
		v->next->prev = v->prev;
	}
	lsm_free(v);
}

void
lsm_version_ref(LsmVersion *v)
{
	v->refs++;
}

void
lsm_version_unref(LsmVersion *v)
{
	if (--v->refs == 0)
		version_free(v);
}

/* Sort order of level 0: newest (highest max_seq) first. */
static int
cmp_level0(const void *a, const void *b)
{
	const LsmFileMeta *fa = *(LsmFileMeta *const *) a;
	const LsmFileMeta *fb = *(LsmFileMeta *const *) b;

	if (fa->max_seq != fb->max_seq)
		return fa->max_seq > fb->max_seq ? -1 : 1;
	if (fa->number != fb->number)
		return fa->number > fb->number ? -1 : 1;
	return 0;
}

/* Sort order of deeper levels: smallest internal key ascending. */
static int
cmp_by_smallest(const void *a, const void *b)
{
	const LsmFileMeta *fa = *(LsmFileMeta *const *) a;
	const LsmFileMeta *fb = *(LsmFileMeta *const *) b;
	int			r = lsm_ikey_cmp(lsm_buf_slice(&fa->smallest),
								 lsm_buf_slice(&fb->smallest));

	if (r != 0)
		return r;
	return fa->number < fb->number ? -1 : fa->number > fb->number ? 1 : 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * lsm_version_check_invariants
 *		Verify the rules the read path relies on.  Point gets stop at the
 *		first level-0 file holding a key, which is only right if level-0
 *		files are ordered newest first with disjoint sequence ranges; they
 *		read one file per deeper level, which needs those levels sorted and
 *		free of overlap at user-key granularity (the versions of one user
 *		key must not straddle two files).
 */
LsmCode
lsm_version_check_invariants(const LsmVersion *v, LsmStatus *st)
{
	uint64_t   *numbers;
	int			total = 0;
	int			level;
	int			i;
	int			k = 0;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
	{
		for (i = 0; i < v->n_files[level]; i++)
		{
			const LsmFileMeta *f = v->files[level][i];
			const char *why = check_file_fields(f);

			if (why != NULL)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "file %llu at level %d: %s",
									  (unsigned long long) f->number, level, why);
			if (f->level != level)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "file %llu is listed at level %d but records level %d",
									  (unsigned long long) f->number, level, f->level);
			if (i == 0)
				continue;
			if (level == 0)
			{
				const LsmFileMeta *newer = v->files[0][i - 1];

				if (newer->min_seq <= f->max_seq)
					return lsm_status_set(st, LSM_CORRUPTION, 0,
										  "level-0 files %llu (seq %llu..%llu) and %llu (seq %llu..%llu) are not ordered newest first with disjoint sequence ranges",
										  (unsigned long long) newer->number,
										  (unsigned long long) newer->min_seq,
										  (unsigned long long) newer->max_seq,
										  (unsigned long long) f->number,
										  (unsigned long long) f->min_seq,
										  (unsigned long long) f->max_seq);
			}
			else
			{
				const LsmFileMeta *left = v->files[level][i - 1];

				if (lsm_slice_cmp(lsm_file_largest_user_key(left),
								  lsm_file_smallest_user_key(f)) >= 0)
					return lsm_status_set(st, LSM_CORRUPTION, 0,
										  "level-%d files %llu and %llu overlap or are out of order",
										  level, (unsigned long long) left->number,
										  (unsigned long long) f->number);
			}
		}
		total += v->n_files[level];
	}

	if (total < 2)
		return LSM_OK;
	numbers = lsm_malloc((size_t) total * sizeof(uint64_t));
	if (numbers == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory checking a version");
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			numbers[k++] = v->files[level][i]->number;
	qsort(numbers, (size_t) total, sizeof(uint64_t), cmp_u64);
	for (i = 1; i < total; i++)
	{
		if (numbers[i] == numbers[i - 1])
		{
			unsigned long long dup = (unsigned long long) numbers[i];

			lsm_free(numbers);
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "file %llu is listed twice", dup);
		}
	}
	lsm_free(numbers);
	return LSM_OK;
}

/*
 * edit_deletes
 *		Whether edit deletes (level, number).
 */
static bool
edit_deletes(const LsmVersionEdit *e, int level, uint64_t number)
{
	int			i;

	for (i = 0; i < e->n_deleted; i++)
		if (e->deleted[i].level == level && e->deleted[i].number == number)
			return true;
	return false;
}

/*
 * lsm_version_apply
 *		Build base + edit.  The result shares the metas of base's surviving
 *		files (taking references on them) and gets fresh metas for added
 *		ones, so older versions stay untouched for their readers.
 */
LsmCode
lsm_version_apply(const LsmVersion *base, const LsmVersionEdit *edit,
				  LsmVersion **out, LsmStatus *st)
{
	LsmVersion *v;
	int			matched = 0;
	int			level;
	int			i;
	LsmCode		rc;

	*out = NULL;
	v = version_alloc();
	if (v == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory building a version");
	v->refs = 1;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
	{
		int			n_base = base ? base->n_files[level] : 0;
		int			cap = n_base;

		for (i = 0; i < edit->n_added; i++)
			if (edit->added[i].level == level)
				cap++;
		if (cap == 0)
			continue;
		v->files[level] = lsm_malloc((size_t) cap * sizeof(LsmFileMeta *));
		if (v->files[level] == NULL)
			goto oom;

		for (i = 0; i < n_base; i++)
		{
			LsmFileMeta *f = base->files[level][i];

			if (edit_deletes(edit, level, f->number))
			{
				matched++;
				continue;
			}
			file_ref(f);
			v->files[level][v->n_files[level]++] = f;
		}
		for (i = 0; i < edit->n_added; i++)
		{
			LsmFileMeta *f;

			if (edit->added[i].level != level)
				continue;
			f = lsm_malloc(sizeof(LsmFileMeta));
			if (f == NULL)
				goto oom;
			if (!file_copy(f, &edit->added[i]))
			{
				lsm_free(f);
				goto oom;
			}
			f->refs = 1;
			v->files[level][v->n_files[level]++] = f;
		}
		qsort(v->files[level], (size_t) v->n_files[level], sizeof(LsmFileMeta *),
			  level == 0 ? cmp_level0 : cmp_by_smallest);
	}

	if (matched != edit->n_deleted)
	{
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"version edit deletes %d files, but only %d of them are in the version",
							edit->n_deleted, matched);
		goto fail;
	}
	rc = lsm_version_check_invariants(v, st);
	if (rc != LSM_OK)
		goto fail;
	*out = v;
	return LSM_OK;

oom:
	rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory building a version");
fail:
	version_free(v);
	return rc;
}

uint64_t
lsm_version_level_bytes(const LsmVersion *v, int level)
{
	uint64_t	sum = 0;
	int			i;

	for (i = 0; i < v->n_files[level]; i++)
		sum += v->files[level][i]->size;
	return sum;
}

LsmSeq
lsm_version_max_seq(const LsmVersion *v)
{
	LsmSeq		max = 0;
	int			level;
	int			i;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			if (v->files[level][i]->max_seq > max)
				max = v->files[level][i]->max_seq;
	return max;
}

/*
 * lsm_version_find_file
 *		Binary search a sorted level by largest user key.
 */
int
lsm_version_find_file(const LsmVersion *v, int level, LsmSlice user_key)
{
	int			lo = 0;
	int			hi = v->n_files[level];

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (lsm_slice_cmp(lsm_file_largest_user_key(v->files[level][mid]),
						  user_key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The version set
 */

LsmVersionSet *
lsm_versionset_create(LsmEnv *env, const char *dir, LsmMutex *mu,
					  LsmBlockCache *cache)
{
	LsmVersionSet *vs = lsm_calloc(1, sizeof(LsmVersionSet));

	if (vs == NULL)
		return NULL;
	vs->env = env;
	vs->mu = mu;
	vs->cache = cache;
	vs->dir = lsm_strdup(dir);
	vs->current = lsm_version_new_empty();
	if (vs->dir == NULL || vs->current == NULL)
	{
		lsm_free(vs->dir);
		lsm_free(vs->current);
		lsm_free(vs);
		return NULL;
	}
	vs->next_file_number = 1;
	vs->manifest_rollover = MANIFEST_ROLLOVER_DEFAULT;
	vs->current->vs = vs;
	vs->current->next = &vs->live;
	vs->current->prev = &vs->live;
	vs->live.next = vs->live.prev = vs->current;
	return vs;
}

/*
 * lsm_versionset_destroy
 *		Free everything without deleting files: the files are still named
 *		by the MANIFEST and belong to the next open.
 */
void
lsm_versionset_destroy(LsmVersionSet *vs)
{
	int			i;

	if (vs == NULL)
		return;
	if (vs->manifest != NULL)
		lsm_log_close(vs->manifest, NULL);
	while (vs->live.next != &vs->live)
	{
		LsmVersion *v = vs->live.next;

		/* detach from the set so its files are freed rather than queued */
		v->prev->next = v->next;
		v->next->prev = v->prev;
		v->prev = v->next = NULL;
		v->vs = NULL;
		version_free(v);
	}
	for (i = 0; i < vs->n_obsolete; i++)
		file_free(vs->obsolete[i]);
	lsm_free(vs->obsolete);
	lsm_free(vs->dir);
	lsm_free(vs);
}

uint64_t
lsm_versionset_new_file_number(LsmVersionSet *vs)
{
	return __atomic_fetch_add(&vs->next_file_number, 1, __ATOMIC_RELAXED);
}

void
lsm_versionset_mark_number_used(LsmVersionSet *vs, uint64_t n)
{
	uint64_t	cur = __atomic_load_n(&vs->next_file_number, __ATOMIC_RELAXED);

	while (cur <= n &&
		   !__atomic_compare_exchange_n(&vs->next_file_number, &cur, n + 1, false,
										__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

LsmVersion *
lsm_versionset_current(LsmVersionSet *vs)
{
	lsm_version_ref(vs->current);
	return vs->current;
}

LsmVersion *
lsm_versionset_live_head(LsmVersionSet *vs)
{
	return vs->live.next != &vs->live ? vs->live.next : NULL;
}

LsmVersion *
lsm_versionset_live_next(LsmVersionSet *vs, LsmVersion *v)
{
	return v->next != &vs->live ? v->next : NULL;
}

void
lsm_versionset_obsolete_list(LsmVersionSet *vs, LsmFileMeta *const **files, int *n)
{
	*files = vs->obsolete;
	*n = vs->n_obsolete;
}

bool
lsm_versionset_file_is_live(LsmVersionSet *vs, uint64_t number)
{
	LsmVersion *v;
	int			level;
	int			i;

	for (v = vs->live.next; v != &vs->live; v = v->next)
		for (level = 0; level < LSM_NUM_LEVELS; level++)
			for (i = 0; i < v->n_files[level]; i++)
				if (v->files[level][i]->number == number)
					return true;
	return false;
}

/*
 * lsm_versionset_take_obsolete
 *		Hand the obsolete files to the caller for deletion.  A file whose
 *		number is still listed by a live version under another meta (a file
 *		moved to another level keeps its number) is freed here instead:
 *		only its meta is obsolete, not the file.
 */
void
lsm_versionset_take_obsolete(LsmVersionSet *vs, LsmFileMeta ***files, int *n)
{
	int			i;
	int			k = 0;

	*files = NULL;
	*n = 0;
	if (vs->n_obsolete == 0)
		return;
	for (i = 0; i < vs->n_obsolete; i++)
	{
		LsmFileMeta *f = vs->obsolete[i];

		if (lsm_versionset_file_is_live(vs, f->number))
			file_free(f);
		else
			vs->obsolete[k++] = f;
	}
	*files = vs->obsolete;
	*n = k;
	vs->obsolete = NULL;
	vs->n_obsolete = 0;
	vs->cap_obsolete = 0;
}

/*
 * lsm_versionset_delete_files
 *		Close, uncache, unlink and free files taken from the obsolete list.
 *		Failure to unlink leaves a file the next open deletes; it is not an
 *		error anyone could act on.
 */
void
lsm_versionset_delete_files(LsmVersionSet *vs, LsmFileMeta **files, int n)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < n; i++)
	{
		LsmFileMeta *f = files[i];

		if (f->table != NULL)
		{
			lsm_sst_close(f->table);
			f->table = NULL;
		}
		if (vs->cache != NULL)
			lsm_block_cache_erase_file(vs->cache, f->number);
		if (lsm_file_path(path, vs->dir, LSM_FILE_TABLE, f->number))
			vs->env->unlink(vs->env, path, NULL);
		file_free(f);
	}
	lsm_free(files);
}

void
lsm_versionset_free_files(LsmFileMeta **files, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		file_free(files[i]);
	lsm_free(files);
}

/*
 * lsm_versionset_table
 *		Open a file's table reader once and cache it in the meta.  The open
 *		happens without any lock, so that a slow first read of one file
 *		does not block readers of others; a compare-and-swap settles races.
 */
LsmCode
lsm_versionset_table(LsmVersionSet *vs, LsmFileMeta *f, LsmSst **t, LsmStatus *st)
{
	LsmSst   *mine;
	LsmSst   *expected = NULL;
	char		path[LSM_PATH_MAX];
	LsmCode		rc;

	*t = __atomic_load_n(&f->table, __ATOMIC_ACQUIRE);
	if (*t != NULL)
		return LSM_OK;
	if (!lsm_file_path(path, vs->dir, LSM_FILE_TABLE, f->number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "path of table %llu in \"%s\" is too long",
							  (unsigned long long) f->number, vs->dir);
	rc = lsm_sst_open(vs->env, path, f->number, vs->cache, &mine, st);
	if (rc != LSM_OK)
		return rc;
	if (f->global_seq != 0)
		lsm_sst_set_global_seq(mine, f->global_seq);
	if (!__atomic_compare_exchange_n(&f->table, &expected, mine, false,
									 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
	{
		lsm_sst_close(mine);
		mine = expected;
	}
	*t = mine;
	return LSM_OK;
}

/*
 * MANIFEST and CURRENT
 */

/*
 * encode_snapshot
 *		Encode one edit that recreates version v with the given counters
 *		from nothing: the first record of every MANIFEST.
 */
static LsmCode
encode_snapshot(const LsmVersion *v, uint64_t log_number, uint64_t next_file,
				LsmSeq last_seq, LsmBuf *out, LsmStatus *st)
{
	LsmVersionEdit e;
	int			level;
	int			i;

	lsm_edit_init(&e);
	lsm_edit_set_log_number(&e, log_number);
	lsm_edit_set_next_file_number(&e, next_file);
	lsm_edit_set_last_seq(&e, last_seq);
	if (!put_scalars(out, &e))
		goto oom;
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			if (!put_added_file(out, level, v->files[level][i]))
				goto oom;
	return LSM_OK;

oom:
	return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory encoding a MANIFEST snapshot");
}

/*
 * set_current
 *		Point CURRENT at MANIFEST-number: write a temp file, sync it,
 *		rename it over CURRENT, sync the directory.  The rename is atomic,
 *		so after a crash CURRENT names either the old or the new MANIFEST,
 *		both complete.  *renamed tells the caller whether the new name may
 *		already be visible (then the new MANIFEST must not be removed).
 */
static LsmCode
write_current(LsmEnv *env, const char *dir, uint64_t number, bool *renamed,
			  LsmStatus *st)
{
	char		tmp[LSM_PATH_MAX];
	char		cur[LSM_PATH_MAX];
	char		content[CURRENT_MAX_LEN];
	LsmFile    *f;
	LsmCode		rc;
	int			len;

	*renamed = false;
	if (!lsm_file_path(tmp, dir, LSM_FILE_TEMP, 0) ||
		!lsm_file_path(cur, dir, LSM_FILE_CURRENT, 0))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", dir);
	len = snprintf(content, sizeof(content), "MANIFEST-%06llu\n",
				   (unsigned long long) number);

	rc = env->open_file(env, tmp, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_TRUNC,
						&f, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->write_at(f, content, (size_t) len, 0, st);
	if (rc == LSM_OK)
		rc = env->sync(f, st);
	if (rc != LSM_OK)
	{
		env->close_file(f, NULL);
		env->unlink(env, tmp, NULL);
		return rc;
	}
	rc = env->close_file(f, st);
	if (rc == LSM_OK)
		rc = env->rename(env, tmp, cur, st);
	if (rc != LSM_OK)
	{
		env->unlink(env, tmp, NULL);
		return rc;
	}
	*renamed = true;
	return env->sync_dir(env, dir, st);
}

static LsmCode
set_current(LsmVersionSet *vs, uint64_t number, bool *renamed, LsmStatus *st)
{
	return write_current(vs->env, vs->dir, number, renamed, st);
}

/*
 * start_manifest
 *		Write a new MANIFEST holding a snapshot of v with the given counters
 *		and make CURRENT name it.  On success it becomes the set's MANIFEST
 *		and the previous one is closed and deleted.
 */
static LsmCode
start_manifest(LsmVersionSet *vs, const LsmVersion *v, uint64_t log_number,
			   LsmSeq last_seq, LsmStatus *st)
{
	uint64_t	number = lsm_versionset_new_file_number(vs);
	char		path[LSM_PATH_MAX];
	LsmLogWriter *w = NULL;
	LsmBuf		rec = LSM_BUF_INIT;
	uint64_t	end;
	bool		renamed = false;
	LsmCode		rc;

	if (!lsm_file_path(path, vs->dir, LSM_FILE_MANIFEST, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", vs->dir);
	rc = encode_snapshot(v, log_number,
						 __atomic_load_n(&vs->next_file_number, __ATOMIC_RELAXED),
						 last_seq, &rec, st);
	if (rc == LSM_OK)
		rc = lsm_log_create(vs->env, path, number, &w, st);
	if (rc == LSM_OK)
		rc = lsm_log_append(w, LSM_LOG_EDIT, lsm_buf_slice(&rec), &end, st);
	if (rc == LSM_OK)
		rc = lsm_log_sync(w, end, st);
	if (rc == LSM_OK)
		rc = set_current(vs, number, &renamed, st);
	lsm_buf_free(&rec);
	if (rc != LSM_OK)
	{
		if (w != NULL)
			lsm_log_close(w, NULL);
		if (w != NULL && !renamed)
			vs->env->unlink(vs->env, path, NULL);
		else if (renamed && vs->manifest != NULL)
		{
			/*
			 * CURRENT may already name the new MANIFEST, so appending to the
			 * old one could lose edits after a crash: make the next edit
			 * start yet another MANIFEST and rewrite CURRENT.
			 */
			lsm_log_close(vs->manifest, NULL);
			vs->manifest = NULL;
		}
		return rc;
	}

	if (vs->manifest != NULL)
		lsm_log_close(vs->manifest, NULL);
	if (vs->manifest_number != 0 &&
		lsm_file_path(path, vs->dir, LSM_FILE_MANIFEST, vs->manifest_number))
		vs->env->unlink(vs->env, path, NULL);
	vs->manifest = w;
	vs->manifest_number = number;
	return LSM_OK;
}

/*
 * lsm_version_write_manifest
 *		A MANIFEST and CURRENT in dir recreating v with the given counters,
 *		for a copy of the database (a backup) whose files are put there by
 *		the caller.  The MANIFEST is numbered next_file, which no file of v
 *		can have, and the snapshot's next file number is above it.
 */
LsmCode
lsm_version_write_manifest(LsmEnv *env, const char *dir, const LsmVersion *v,
						   uint64_t log_number, uint64_t next_file,
						   LsmSeq last_seq, LsmStatus *st)
{
	char		path[LSM_PATH_MAX];
	LsmLogWriter *w = NULL;
	LsmBuf		rec = LSM_BUF_INIT;
	uint64_t	end;
	bool		renamed;
	LsmCode		rc;

	if (!lsm_file_path(path, dir, LSM_FILE_MANIFEST, next_file))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", dir);
	rc = encode_snapshot(v, log_number, next_file + 1, last_seq, &rec, st);
	if (rc == LSM_OK)
		rc = lsm_log_create(env, path, next_file, &w, st);
	if (rc == LSM_OK)
		rc = lsm_log_append(w, LSM_LOG_EDIT, lsm_buf_slice(&rec), &end, st);
	if (rc == LSM_OK)
		rc = lsm_log_sync(w, end, st);
	lsm_buf_free(&rec);
	if (w != NULL)
	{
		LsmStatus	ignore;

		if (rc == LSM_OK)
			rc = lsm_log_close(w, st);
		else
			lsm_log_close(w, &ignore);
	}
	if (rc == LSM_OK)
		rc = write_current(env, dir, next_file, &renamed, st);
	return rc;
}

LsmCode
lsm_versionset_write_snapshot(LsmVersionSet *vs, LsmStatus *st)
{
	return start_manifest(vs, vs->current, vs->log_number, vs->last_seq, st);
}

/*
 * install
 *		Make v (built outside the set) the current version; takes mu.
 */
static void
install(LsmVersionSet *vs, LsmVersion *v, uint64_t log_number, LsmSeq last_seq)
{
	LsmVersion *old;

	vs->env->mutex_lock(vs->mu);
	v->vs = vs;
	v->prev = vs->live.prev;
	v->next = &vs->live;
	vs->live.prev->next = v;
	vs->live.prev = v;
	old = vs->current;
	v->number = ++vs->installed;
	vs->current = v;
	vs->log_number = log_number;
	vs->last_seq = last_seq;
	lsm_version_unref(old);
	vs->env->mutex_unlock(vs->mu);
}

/*
 * lsm_versionset_log_and_apply
 *		Make an edit durable, then visible.  The version is built first, so
 *		that an edit that does not apply is refused before anything is
 *		written; after a failed append or sync the MANIFEST writer is
 *		dropped, because its last record may or may not have reached the
 *		disk and nothing may follow a record of unknown fate.
 */
LsmCode
lsm_versionset_log_and_apply(LsmVersionSet *vs, LsmVersionEdit *edit,
							 LsmStatus *st)
{
	LsmVersion *v;
	uint64_t	log_number;
	LsmSeq		last_seq;
	LsmCode		rc;

	if (!edit->has_log_number)
		lsm_edit_set_log_number(edit, vs->log_number);
	if (!edit->has_last_seq || edit->last_seq < vs->last_seq)
		lsm_edit_set_last_seq(edit, vs->last_seq);
	if (edit->log_number < vs->log_number)
		edit->log_number = vs->log_number;
	lsm_edit_set_next_file_number(edit,
								  __atomic_load_n(&vs->next_file_number, __ATOMIC_RELAXED));
	log_number = edit->log_number;
	last_seq = edit->last_seq;

	/* vs->current changes only here, and callers serialise: no lock needed */
	rc = lsm_version_apply(vs->current, edit, &v, st);
	if (rc != LSM_OK)
		return rc;

	if (vs->manifest == NULL || lsm_log_size(vs->manifest) >= vs->manifest_rollover)
		rc = start_manifest(vs, v, log_number, last_seq, st);
	else
	{
		LsmBuf		rec = LSM_BUF_INIT;
		uint64_t	end;

		rc = lsm_edit_encode(edit, &rec, st);
		if (rc == LSM_OK)
		{
			rc = lsm_log_append(vs->manifest, LSM_LOG_EDIT, lsm_buf_slice(&rec), &end, st);
			if (rc == LSM_OK)
				rc = lsm_log_sync(vs->manifest, end, st);
			if (rc != LSM_OK)
			{
				lsm_log_close(vs->manifest, NULL);
				vs->manifest = NULL;
			}
		}
		lsm_buf_free(&rec);
	}
	if (rc != LSM_OK)
	{
		/* outside the set, so the added files are freed, not deleted */
		lsm_version_unref(v);
		return rc;
	}
	install(vs, v, log_number, last_seq);
	return LSM_OK;
}

/*
 * Recovery
 */

typedef struct RecoverState
{
	LsmVersion *v;				/* outside the set while replaying */
	bool		has_log_number;
	uint64_t	log_number;
	bool		has_next_file;
	uint64_t	next_file;
	bool		has_last_seq;
	LsmSeq		last_seq;
	const char *path;
} RecoverState;

/*
 * recover_record
 *		Apply one MANIFEST record to the version being rebuilt.
 */
static LsmCode
recover_record(void *arg, uint8_t type, LsmSlice payload, uint64_t end_pos,
			   LsmStatus *st)
{
	RecoverState *rs = arg;
	LsmVersionEdit e;
	LsmVersion *nv;
	LsmCode		rc;
	LsmStatus	inner;

	if (type != LSM_LOG_EDIT)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "MANIFEST \"%s\" holds a record of type %u ending at offset %llu",
							  rs->path, (unsigned) type, (unsigned long long) end_pos);
	lsm_status_clear(&inner);
	rc = lsm_edit_decode(&e, payload, &inner);
	if (rc == LSM_OK)
	{
		rc = lsm_version_apply(rs->v, &e, &nv, &inner);
		if (rc == LSM_OK)
		{
			lsm_version_unref(rs->v);
			rs->v = nv;
			if (e.has_log_number)
			{
				rs->has_log_number = true;
				rs->log_number = e.log_number;
			}
			if (e.has_next_file_number)
			{
				rs->has_next_file = true;
				rs->next_file = e.next_file_number;
			}
			if (e.has_last_seq)
			{
				rs->has_last_seq = true;
				rs->last_seq = e.last_seq;
			}
		}
		lsm_edit_free(&e);
	}
	if (rc != LSM_OK)
		return lsm_status_set(st, rc, 0, "MANIFEST \"%s\", record ending at offset %llu: %s",
							  rs->path, (unsigned long long) end_pos, inner.msg);
	return LSM_OK;
}

/*
 * read_current
 *		Read CURRENT and return the MANIFEST number it names.
 */
static LsmCode
read_current(LsmVersionSet *vs, uint64_t *number, LsmStatus *st)
{
	LsmEnv	   *env = vs->env;
	char		path[LSM_PATH_MAX];
	char		buf[CURRENT_MAX_LEN + 1];
	LsmFile    *f;
	uint64_t	size;
	LsmFileType type;
	LsmCode		rc;

	if (!lsm_file_path(path, vs->dir, LSM_FILE_CURRENT, 0))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", vs->dir);
	if (!env->exists(env, path))
		return LSM_NOT_FOUND;
	rc = env->open_file(env, path, LSM_OPEN_READ, &f, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->file_size(f, &size, st);
	if (rc == LSM_OK && (size < 2 || size > CURRENT_MAX_LEN))
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"\"%s\" has an impossible size of %llu bytes",
							path, (unsigned long long) size);
	if (rc == LSM_OK)
		rc = env->read_at(f, buf, (size_t) size, 0, st);
	env->close_file(f, NULL);
	if (rc != LSM_OK)
		return rc;
	buf[size] = '\0';
	if (buf[size - 1] != '\n')
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "\"%s\" does not end in a newline", path);
	buf[size - 1] = '\0';
	if (!lsm_parse_file_name(buf, &type, number) || type != LSM_FILE_MANIFEST)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "\"%s\" does not name a MANIFEST", path);
	return LSM_OK;
}

/*
 * check_torn_tail
 *		Replay stopped early at offset off: accept it only when the bad
 *		record reaches the end of the file, which is what an interrupted
 *		append leaves.  A bad record followed by more bytes means damage in
 *		the middle, and edits after it would be silently lost.
 */
static LsmCode
check_torn_tail(LsmVersionSet *vs, const char *path, uint64_t number,
				const LsmLogReplayReport *rep, LsmStatus *st)
{
	uint64_t	off = rep->valid_bytes;
	uint64_t	left = rep->file_bytes - off;
	uint8_t		header[LSM_LOG_HEADER];
	LsmFile    *f;
	LsmCode		rc;

	if (left < LSM_LOG_HEADER)
		return LSM_OK;
	rc = vs->env->open_file(vs->env, path, LSM_OPEN_READ, &f, st);
	if (rc != LSM_OK)
		return rc;
	rc = vs->env->read_at(f, header, sizeof(header), off, st);
	vs->env->close_file(f, NULL);
	if (rc != LSM_OK)
		return rc;
	if ((uint64_t) lsm_get_fixed32(header + 4) + LSM_LOG_HEADER >= left)
		return LSM_OK;
	return lsm_status_set(st, LSM_CORRUPTION, 0,
						  "MANIFEST \"%s\" is damaged at offset %llu, %llu bytes before its end (%s)",
						  path, (unsigned long long) off,
						  (unsigned long long) left, rep->reason);
}

/*
 * lsm_versionset_recover
 *		Rebuild the current version from CURRENT and its MANIFEST.
 */
LsmCode
lsm_versionset_recover(LsmVersionSet *vs, LsmStatus *st)
{
	RecoverState rs;
	LsmLogReplayReport rep;
	char		path[LSM_PATH_MAX];
	uint64_t	number;
	LsmVersion *old;
	LsmCode		rc;
	int			level;
	int			i;

	rc = read_current(vs, &number, st);
	if (rc != LSM_OK)
		return rc;
	if (!lsm_file_path(path, vs->dir, LSM_FILE_MANIFEST, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", vs->dir);
	if (!vs->env->exists(vs->env, path))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "CURRENT names \"%s\", which does not exist", path);

	memset(&rs, 0, sizeof(rs));
	rs.path = path;
	rs.v = lsm_version_new_empty();
	if (rs.v == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory recovering \"%s\"", path);
	rc = lsm_log_replay(vs->env, path, number, recover_record, &rs, &rep, st);
	if (rc == LSM_OK && rep.torn)
		rc = check_torn_tail(vs, path, number, &rep, st);
	if (rc == LSM_OK && !(rs.has_log_number && rs.has_next_file && rs.has_last_seq))
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"MANIFEST \"%s\" lacks %s", path,
							rep.records == 0 ? "any valid record" : "its snapshot counters");
	if (rc != LSM_OK)
	{
		lsm_version_unref(rs.v);
		return rc;
	}

	vs->env->mutex_lock(vs->mu);
	old = vs->current;
	rs.v->vs = vs;
	rs.v->prev = vs->live.prev;
	rs.v->next = &vs->live;
	vs->live.prev->next = rs.v;
	vs->live.prev = rs.v;
	rs.v->number = ++vs->installed;
	vs->current = rs.v;
	vs->log_number = rs.log_number;
	vs->last_seq = rs.last_seq;
	vs->manifest_number = number;	/* deleted once a new one is started */
	lsm_version_unref(old);
	vs->env->mutex_unlock(vs->mu);

	lsm_versionset_mark_number_used(vs, rs.next_file - (rs.next_file > 0));
	lsm_versionset_mark_number_used(vs, number);
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < vs->current->n_files[level]; i++)
			lsm_versionset_mark_number_used(vs, vs->current->files[level][i]->number);
	return LSM_OK;
}

/*
 * Level iterator
 *
 * Concatenates the table iterators of a sorted, non-overlapping array of
 * files: one level of a version, or the inputs a compaction takes from one
 * level.  Only the table of the current file is open as an iterator, so a
 * scan over many files holds one table iterator at a time.
 */
typedef struct LevelIter
{
	LsmIter		base;
	LsmVersionSet *vs;
	LsmFileMeta *const *files;	/* kept alive by the caller */
	int			n_files;
	bool		fill_cache;
	LsmReadStats *stats;
	int			idx;			/* file of cur; -1 when none */
	LsmIter    *cur;
	LsmStatus	err;			/* first error; makes the iterator invalid */
} LevelIter;

/*
 * level_set_file
 *		Make file i the current one (out of range: none).  A table that
 *		cannot be opened records the error.
 */
static void
level_set_file(LevelIter *li, int i)
{
	LsmSst   *t;

	if (li->cur != NULL && li->idx == i)
		return;
	lsm_iter_destroy(li->cur);
	li->cur = NULL;
	li->idx = -1;
	if (i < 0 || i >= li->n_files)
		return;
	if (lsm_versionset_table(li->vs, li->files[i], &t, &li->err) != LSM_OK)
		return;
	li->cur = lsm_sst_iter(t, li->fill_cache, li->stats);
	if (li->cur == NULL)
	{
		lsm_status_set(&li->err, LSM_NO_MEMORY, 0, "out of memory opening a table iterator");
		return;
	}
	if (li->stats != NULL)
		li->stats->sst_probes++;
	li->idx = i;
}

/*
 * level_check_child
 *		When the current table iterator stopped because of an error, keep
 *		that error; true when the iterator may move on to another file.
 */
static bool
level_check_child(LevelIter *li)
{
	if (li->cur == NULL)
		return false;
	if (lsm_iter_status(li->cur, &li->err) != LSM_OK)
	{
		lsm_iter_destroy(li->cur);
		li->cur = NULL;
		li->idx = -1;
		return false;
	}
	return true;
}

static void
level_skip_forward(LevelIter *li)
{
	while (li->cur != NULL && !lsm_iter_valid(li->cur))
	{
		int			next = li->idx + 1;

		if (!level_check_child(li))
			return;
		level_set_file(li, next);
		if (li->cur != NULL)
			lsm_iter_seek_first(li->cur);
	}
}

static void
level_skip_backward(LevelIter *li)
{
	while (li->cur != NULL && !lsm_iter_valid(li->cur))
	{
		int			prev = li->idx - 1;

		if (!level_check_child(li))
			return;
		level_set_file(li, prev);
		if (li->cur != NULL)
			lsm_iter_seek_last(li->cur);
	}
}

static bool
level_valid(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	return li->err.code == LSM_OK && li->cur != NULL && lsm_iter_valid(li->cur);
}

static void
level_seek_first(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	lsm_status_clear(&li->err);
	level_set_file(li, 0);
	if (li->cur != NULL)
		lsm_iter_seek_first(li->cur);
	level_skip_forward(li);
}

static void
level_seek_last(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	lsm_status_clear(&li->err);
	level_set_file(li, li->n_files - 1);
	if (li->cur != NULL)
		lsm_iter_seek_last(li->cur);
	level_skip_backward(li);
}

static void
level_seek(LsmIter *it, LsmSlice target)
{
	LevelIter  *li = (LevelIter *) it;
	int			lo = 0;
	int			hi = li->n_files;

	/* first file whose largest key is >= target */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (lsm_ikey_cmp(lsm_buf_slice(&li->files[mid]->largest),
						 target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	lsm_status_clear(&li->err);
	level_set_file(li, lo);
	if (li->cur != NULL)
		lsm_iter_seek(li->cur, target);
	level_skip_forward(li);
}

static void
level_next(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	if (!level_valid(it))
		return;
	lsm_iter_next(li->cur);
	level_skip_forward(li);
}

static void
level_prev(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	if (!level_valid(it))
		return;
	lsm_iter_prev(li->cur);
	level_skip_backward(li);
}

static LsmSlice
level_key(LsmIter *it)
{
	return lsm_iter_key(((LevelIter *) it)->cur);
}

static LsmSlice
level_value(LsmIter *it)
{
	return lsm_iter_value(((LevelIter *) it)->cur);
}

static LsmCode
level_status(LsmIter *it, LsmStatus *st)
{
	LevelIter  *li = (LevelIter *) it;

	if (li->err.code != LSM_OK)
	{
		if (st != NULL)
			*st = li->err;
		return li->err.code;
	}
	if (li->cur != NULL)
		return lsm_iter_status(li->cur, st);
	return LSM_OK;
}

static void
level_destroy(LsmIter *it)
{
	LevelIter  *li = (LevelIter *) it;

	lsm_iter_destroy(li->cur);
	lsm_free(li);
}

static const LsmIterOps level_ops = {
	.valid = level_valid,
	.seek_first = level_seek_first,
	.seek_last = level_seek_last,
	.seek = level_seek,
	.next = level_next,
	.prev = level_prev,
	.key = level_key,
	.value = level_value,
	.status = level_status,
	.destroy = level_destroy,
};

LsmIter *
lsm_files_iter(LsmVersionSet *vs, LsmFileMeta *const *files, int n_files,
			   bool fill_cache, LsmReadStats *stats)
{
	LevelIter  *li = lsm_calloc(1, sizeof(LevelIter));

	if (li == NULL)
		return NULL;
	li->base.ops = &level_ops;
	li->vs = vs;
	li->files = files;
	li->n_files = n_files;
	li->fill_cache = fill_cache;
	li->stats = stats;
	li->idx = -1;
	return &li->base;
}

LsmIter *
lsm_version_level_iter(LsmVersionSet *vs, LsmVersion *v, int level,
					   bool fill_cache, LsmReadStats *stats)
{
	return lsm_files_iter(vs, v->files[level], v->n_files[level], fill_cache, stats);
}
