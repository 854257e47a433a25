/*
 * block_cache.c
 *		A sharded LRU cache of decoded SSTable blocks (see block_cache.h).
 *
 * The cache is split into LSM_CACHE_SHARDS shards by a hash of the key, each
 * with its own mutex, hash table, LRU list and byte budget (capacity /
 * shards), so that readers of different blocks rarely contend.
 *
 * Entries and their locking.  Every field of a shard, and of the entries it
 * holds, is read and written only under the shard's mutex, except an
 * entry's key, data and len, which never change after insert and so may be
 * read through a pinned handle without the lock.  An entry is in one of
 * three states:
 *   - in the hash table with refs > 0: pinned by that many handles;
 *   - in the hash table with refs == 0: on the LRU list, evictable;
 *   - detached (evicted, erased, or never cached because capacity is 0)
 *     with refs > 0: reachable only through its handles; the last release
 *     frees it.
 * So handles stay valid across eviction, as the interface promises.
 *
 * Capacity 0 caches nothing: insert returns a detached handle that works
 * like any other and frees the block on release, so callers need no special
 * case.
 *
 * Sharing.  Several databases may use one cache (the host's, sized for the
 * whole server); each sees it through a view (lsm_block_cache_view), a
 * small object that puts the database's id in the top bits of every file
 * number before passing the call on, so that file 7 of one database is
 * never taken for file 7 of another.  The engine below the database
 * object cannot tell a view from a cache.  Destroying a view erases every
 * block cached under its id, so ids may be reused: a database opened later
 * with the id of a closed one never finds the closed one's blocks.
 */
#include <stdlib.h>
#include <string.h>

#include "block_cache.h"
#include "lsm_alloc.h"

#define LSM_CACHE_SHARDS 16
#define LSM_CACHE_SHARD_BITS 4
/* Bits of a file number a view keeps; the id takes the ones above. */
#define LSM_CACHE_FILE_BITS 40

struct LsmCacheHandle
{
	uint64_t	file_number;
	uint64_t	offset;
	uint8_t    *data;
	size_t		len;
	uint32_t	hash;
	uint32_t	refs;			/* handles outstanding */
	bool		in_cache;		/* in the shard's hash table */
	struct LsmCacheHandle *hnext;	/* hash chain */
	struct LsmCacheHandle *lru_prev;	/* LRU list, only while refs == 0 */
	struct LsmCacheHandle *lru_next;
};

typedef struct CacheShard
{
	LsmMutex   *mu;
	LsmCacheHandle **buckets;
	size_t		nbuckets;		/* a power of two */
	size_t		count;			/* entries in the hash table */
	size_t		usage;			/* bytes of entries in the hash table */
	size_t		capacity;
	uint64_t	hits;			/* lookups that found their block */
	uint64_t	misses;			/* and those that did not */
	LsmCacheHandle lru;			/* sentinel; lru.lru_next is the oldest */
	/*
	 * Handles of evicted entries, for the next inserts (chained by hnext,
	 * at most LSM_CACHE_SPARES).  In a host the cache's memory is a heap
	 * every process shares under one mutex; with gets that mostly miss,
	 * four backends queued on it (perf: futex waits 5% of all CPU in a
	 * 4-client join, half of them for these handles).  A spare is taken and
	 * given back under the shard's own mutex, which insert and evict hold
	 * anyway.
	 */
	LsmCacheHandle *spares;
	int			n_spares;
	/*
	 * Evicted entries that kept their block's memory (len: its size), for
	 * the next blocks read (lsm_block_cache_buffer): the other half of the
	 * heap's traffic.  At most LSM_CACHE_BUFFER_BYTES of them per shard,
	 * outside the capacity (1 MB for the 16 shards), each at most
	 * LSM_CACHE_BUFFER_MAX.
	 */
	LsmCacheHandle *buffers;
	size_t		buffer_bytes;
} CacheShard;

#define LSM_CACHE_SPARES 256
#define LSM_CACHE_BUFFER_BYTES (64 * 1024)
#define LSM_CACHE_BUFFER_MAX (16 * 1024)

/*
 * A cache, or a view of one: base is then the cache itself and shards is
 * not allocated.
 */
struct LsmBlockCache
{
	LsmBlockCache *base;		/* NULL for a cache */
	uint64_t	id_bits;		/* a view's id, shifted into place */
	LsmEnv	   *env;
	CacheShard	shards[];		/* LSM_CACHE_SHARDS of them, for a cache */
};

/*
 * resolve
 *		The cache behind c and the key file number stands for there; false
 *		when that number cannot carry the view's id (the block must then
 *		bypass the cache; file numbers that large are not expected).
 */
static inline bool
resolve(LsmBlockCache **c, uint64_t *file_number)
{
	if ((*c)->base == NULL)
		return true;
	if (*file_number >= ((uint64_t) 1 << LSM_CACHE_FILE_BITS))
		return false;
	*file_number |= (*c)->id_bits;
	*c = (*c)->base;
	return true;
}

static inline uint32_t
cache_hash(uint64_t file_number, uint64_t offset)
{
	uint64_t	h = file_number * 0x9e3779b97f4a7c15ULL ^ offset;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return (uint32_t) h;
}

static inline CacheShard *
shard_of(LsmBlockCache *c, uint32_t hash)
{
	return &c->shards[hash >> (32 - LSM_CACHE_SHARD_BITS)];
}

static void
lru_remove(LsmCacheHandle *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

/* Append as the most recently used. */
static void
lru_append(CacheShard *s, LsmCacheHandle *e)
{
	e->lru_next = &s->lru;
	e->lru_prev = s->lru.lru_prev;
	e->lru_prev->lru_next = e;
	s->lru.lru_prev = e;
}

static void
entry_free(LsmCacheHandle *e)
{
	lsm_free(e->data);
	lsm_free(e);
}

/* Pointer to the chain link that holds (or would hold) the key. */
static LsmCacheHandle **
hash_find(CacheShard *s, uint32_t hash, uint64_t file_number, uint64_t offset)
{
	LsmCacheHandle **pp = &s->buckets[hash & (s->nbuckets - 1)];

	while (*pp != NULL &&
		   ((*pp)->hash != hash || (*pp)->file_number != file_number ||
			(*pp)->offset != offset))
		pp = &(*pp)->hnext;
	return pp;
}

/*
 * hash_grow
 *		Double the bucket array once it averages more than one entry per
 *		bucket.  Failure to allocate is harmless: chains just get longer.
 */
static void
hash_grow(CacheShard *s)
{
	size_t		nb = s->nbuckets * 2;
	LsmCacheHandle **nbk = lsm_calloc(nb, sizeof(LsmCacheHandle *));

	if (nbk == NULL)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
	{
		LsmCacheHandle *e = s->buckets[i];

		while (e != NULL)
		{
			LsmCacheHandle *next = e->hnext;
			LsmCacheHandle **head = &nbk[e->hash & (nb - 1)];

			e->hnext = *head;
			*head = e;
			e = next;
		}
	}
	lsm_free(s->buckets);
	s->buckets = nbk;
	s->nbuckets = nb;
}

/* Take e out of the hash table (it must be there); caller holds the lock. */
static void
detach(CacheShard *s, LsmCacheHandle *e)
{
	LsmCacheHandle **pp = hash_find(s, e->hash, e->file_number, e->offset);

	*pp = e->hnext;
	e->hnext = NULL;
	e->in_cache = false;
	s->count--;
	s->usage -= e->len;
}

/*
 * evict
 *		Drop least recently used unpinned entries until the shard fits its
 *		budget.  Pinned entries cannot be dropped, so usage may stay above
 *		capacity until they are released.  Freed entries are chained on
 *		*garbage so the caller can free them after unlocking.
 */
static void
evict(CacheShard *s, LsmCacheHandle **garbage)
{
	while (s->usage > s->capacity && s->lru.lru_next != &s->lru)
	{
		LsmCacheHandle *e = s->lru.lru_next;

		lru_remove(e);
		detach(s, e);
		e->hnext = *garbage;
		*garbage = e;
	}
}

static void free_chain(LsmCacheHandle *e);

/*
 * Give the entries of a chain (out of the hash table, no lock held) to
 * shard s: as buffers with their blocks, then as spare handles, as many as
 * it takes; the rest are freed.
 */
static void
recycle_chain(LsmBlockCache *c, CacheShard *s, LsmCacheHandle *e)
{
	LsmCacheHandle *spares = NULL;
	LsmCacheHandle *rest = NULL;

	if (e == NULL)
		return;
	c->env->mutex_lock(s->mu);
	while (e != NULL)
	{
		LsmCacheHandle *next = e->hnext;

		if (e->data != NULL && e->len <= LSM_CACHE_BUFFER_MAX &&
			s->buffer_bytes + e->len <= LSM_CACHE_BUFFER_BYTES)
		{
			e->hnext = s->buffers;
			s->buffers = e;
			s->buffer_bytes += e->len;
		}
		else if (s->n_spares < LSM_CACHE_SPARES)
		{
			/* its block is freed below, without the lock */
			e->hnext = spares;
			spares = e;
		}
		else
		{
			e->hnext = rest;
			rest = e;
		}
		e = next;
	}
	c->env->mutex_unlock(s->mu);
	free_chain(rest);
	if (spares == NULL)
		return;
	for (e = spares; e != NULL; e = e->hnext)
	{
		lsm_free(e->data);
		e->data = NULL;
	}
	c->env->mutex_lock(s->mu);
	while (spares != NULL && s->n_spares < LSM_CACHE_SPARES)
	{
		e = spares;
		spares = e->hnext;
		e->hnext = s->spares;
		s->spares = e;
		s->n_spares++;
	}
	c->env->mutex_unlock(s->mu);
	free_chain(spares);
}

/* A new handle holds a block, pinned once. */
static void
handle_fill(LsmCacheHandle *e, uint64_t file_number, uint64_t offset, uint8_t *data,
			size_t len, uint32_t hash)
{
	e->file_number = file_number;
	e->offset = offset;
	e->data = data;
	e->len = len;
	e->hash = hash;
	e->refs = 1;
}

/* A handle for an insert: a spare of shard s (its mutex held) or a new one. */
static LsmCacheHandle *
handle_new(CacheShard *s)
{
	LsmCacheHandle *e = s->spares;

	if (e == NULL)
		return lsm_calloc(1, sizeof(LsmCacheHandle));
	s->spares = e->hnext;
	s->n_spares--;
	memset(e, 0, sizeof(*e));
	return e;
}

static void erase_matching(LsmBlockCache *c, uint64_t mask, uint64_t want);

static void
free_chain(LsmCacheHandle *e)
{
	while (e != NULL)
	{
		LsmCacheHandle *next = e->hnext;

		entry_free(e);
		e = next;
	}
}

LsmBlockCache *
lsm_block_cache_create(LsmEnv *env, size_t capacity)
{
	LsmBlockCache *c;

	if (env == NULL)
		env = lsm_env_posix();
	c = lsm_calloc(1, sizeof(LsmBlockCache) + LSM_CACHE_SHARDS * sizeof(CacheShard));
	if (c == NULL)
		return NULL;
	c->env = env;
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		CacheShard *s = &c->shards[i];

		s->capacity = capacity / LSM_CACHE_SHARDS +
			(capacity % LSM_CACHE_SHARDS ? 1 : 0);
		s->nbuckets = 64;
		s->buckets = lsm_calloc(s->nbuckets, sizeof(LsmCacheHandle *));
		s->mu = env->mutex_create(env);
		s->lru.lru_next = s->lru.lru_prev = &s->lru;
		if (s->buckets == NULL || s->mu == NULL)
		{
			lsm_block_cache_destroy(c);
			return NULL;
		}
	}
	return c;
}

/*
 * lsm_block_cache_destroy
 *		Free every cached block.  All handles must have been released.
 */
void
lsm_block_cache_destroy(LsmBlockCache *c)
{
	if (c == NULL)
		return;
	if (c->base != NULL)
	{
		/*
		 * The id is free for the next database once this view is gone, and
		 * that database's file numbers start again at 1: blocks left under
		 * the id would be taken for its own.
		 */
		erase_matching(c->base, ~(((uint64_t) 1 << LSM_CACHE_FILE_BITS) - 1),
					   c->id_bits);
		lsm_free(c);
		return;
	}
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		CacheShard *s = &c->shards[i];

		if (s->buckets != NULL)
		{
			for (size_t b = 0; b < s->nbuckets; b++)
				free_chain(s->buckets[b]);
			lsm_free(s->buckets);
		}
		free_chain(s->spares);
		free_chain(s->buffers);
		if (s->mu != NULL)
			c->env->mutex_destroy(s->mu);
	}
	lsm_free(c);
}

/*
 * lsm_block_cache_view
 *		A view of base for one database (see the file header); destroying it
 *		leaves base alone.  NULL when out of memory or id is too large.
 */
LsmBlockCache *
lsm_block_cache_view(LsmBlockCache *base, uint64_t id)
{
	LsmBlockCache *v;

	if (base->base != NULL)
		return NULL;
	if (id >= ((uint64_t) 1 << (64 - LSM_CACHE_FILE_BITS)))
		return NULL;
	v = lsm_calloc(1, sizeof(LsmBlockCache));
	if (v == NULL)
		return NULL;
	v->base = base;
	v->id_bits = id << LSM_CACHE_FILE_BITS;
	v->env = base->env;
	return v;
}

LsmCacheHandle *
lsm_block_cache_lookup(LsmBlockCache *c, uint64_t file_number, uint64_t offset)
{
	uint32_t	hash;
	CacheShard *s;
	LsmCacheHandle *e;

	if (!resolve(&c, &file_number))
		return NULL;
	hash = cache_hash(file_number, offset);
	s = shard_of(c, hash);
	c->env->mutex_lock(s->mu);
	e = *hash_find(s, hash, file_number, offset);
	if (e != NULL)
	{
		if (e->refs == 0)
			lru_remove(e);
		e->refs++;
		s->hits++;
	}
	else
		s->misses++;
	c->env->mutex_unlock(s->mu);
	return e;
}

/*
 * lsm_block_cache_insert
 *		Add a block and return it pinned.  If another reader inserted the
 *		same block first, theirs wins and ours is freed: both hold equal
 *		bytes, and keeping one copy keeps the byte count honest.
 */
LsmCacheHandle *
lsm_block_cache_insert(LsmBlockCache *c, uint64_t file_number, uint64_t offset,
					   uint8_t *malloced_data, size_t len)
{
	bool		cacheable = resolve(&c, &file_number);
	uint32_t	hash = cache_hash(file_number, offset);
	CacheShard *s;
	LsmCacheHandle *e;
	LsmCacheHandle **pp;
	LsmCacheHandle *garbage = NULL;

	if (!cacheable)
	{
		/* detached: freed by its release */
		e = lsm_calloc(1, sizeof(LsmCacheHandle));
		if (e == NULL)
			lsm_free(malloced_data);
		else
			handle_fill(e, file_number, offset, malloced_data, len, hash);
		return e;
	}

	s = shard_of(c, hash);
	c->env->mutex_lock(s->mu);
	pp = hash_find(s, hash, file_number, offset);
	if (*pp != NULL)
	{
		LsmCacheHandle *old = *pp;

		if (old->refs == 0)
			lru_remove(old);
		old->refs++;
		c->env->mutex_unlock(s->mu);
		lsm_free(malloced_data);
		return old;
	}
	if ((e = handle_new(s)) == NULL)
	{
		c->env->mutex_unlock(s->mu);
		lsm_free(malloced_data);
		return NULL;
	}
	handle_fill(e, file_number, offset, malloced_data, len, hash);
	if (s->capacity > 0)
	{
		e->in_cache = true;
		*pp = e;
		s->count++;
		s->usage += len;
		evict(s, &garbage);
		if (s->count > s->nbuckets)
			hash_grow(s);
	}
	c->env->mutex_unlock(s->mu);
	recycle_chain(c, s, garbage);
	return e;
}

uint8_t *
lsm_block_cache_buffer(LsmBlockCache *c, uint64_t file_number, uint64_t offset, size_t len)
{
	CacheShard *s;
	LsmCacheHandle **pp;
	LsmCacheHandle *e = NULL;
	uint8_t    *data = NULL;

	if (!resolve(&c, &file_number))
		return NULL;
	s = shard_of(c, cache_hash(file_number, offset));
	c->env->mutex_lock(s->mu);
	/* big enough, and not so big that a small block pins much memory */
	for (pp = &s->buffers; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->len >= len && (*pp)->len - len <= len / 4 + 256)
			break;
	if (*pp != NULL)
	{
		e = *pp;
		*pp = e->hnext;
		s->buffer_bytes -= e->len;
		data = e->data;
		e->data = NULL;
		if (s->n_spares < LSM_CACHE_SPARES)
		{
			e->hnext = s->spares;
			s->spares = e;
			s->n_spares++;
			e = NULL;
		}
	}
	c->env->mutex_unlock(s->mu);
	lsm_free(e);
	return data;
}

LsmSlice
lsm_block_cache_value(LsmCacheHandle *h)
{
	return lsm_slice(h->data, h->len);
}

/*
 * lsm_block_cache_release
 *		Unpin.  The last release of a cached entry makes it evictable (and
 *		evicts right away if the shard is over budget); the last release of
 *		a detached one frees it.
 */
void
lsm_block_cache_release(LsmBlockCache *c, LsmCacheHandle *h)
{
	CacheShard *s;
	LsmCacheHandle *garbage = NULL;

	if (c->base != NULL)
		c = c->base;
	s = shard_of(c, h->hash);

	c->env->mutex_lock(s->mu);
	if (--h->refs == 0)
	{
		if (h->in_cache)
		{
			lru_append(s, h);
			evict(s, &garbage);
		}
		else
			garbage = h;
	}
	c->env->mutex_unlock(s->mu);
	recycle_chain(c, s, garbage);
}

/*
 * erase_matching
 *		Take every entry whose key, masked by mask, equals want out of the
 *		hash table.  Pinned entries are detached and freed by their last
 *		release; unpinned ones are freed here.
 */
static void
erase_matching(LsmBlockCache *c, uint64_t mask, uint64_t want)
{
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		CacheShard *s = &c->shards[i];
		LsmCacheHandle *garbage = NULL;

		c->env->mutex_lock(s->mu);
		for (size_t b = 0; b < s->nbuckets; b++)
		{
			LsmCacheHandle **pp = &s->buckets[b];

			while (*pp != NULL)
			{
				LsmCacheHandle *e = *pp;

				if ((e->file_number & mask) != want)
				{
					pp = &e->hnext;
					continue;
				}
				*pp = e->hnext;
				e->hnext = NULL;
				e->in_cache = false;
				s->count--;
				s->usage -= e->len;
				if (e->refs == 0)
				{
					lru_remove(e);
					e->hnext = garbage;
					garbage = e;
				}
			}
		}
		c->env->mutex_unlock(s->mu);
		free_chain(garbage);
	}
}

/*
 * lsm_block_cache_shed
 *		Drop least recently used unpinned entries, about bytes of them spread
 *		over the shards (every one when bytes is SIZE_MAX), whatever the
 *		budget: a host whose cache shares a fixed heap with other memory
 *		gives that memory back when it runs short.  Returns the bytes
 *		dropped.
 */
size_t
lsm_block_cache_shed(LsmBlockCache *c, size_t bytes)
{
	size_t		per_shard = bytes / LSM_CACHE_SHARDS + 1;
	size_t		total = 0;

	if (c->base != NULL)
		c = c->base;
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		CacheShard *s = &c->shards[i];
		LsmCacheHandle *garbage = NULL;
		size_t		dropped = 0;

		c->env->mutex_lock(s->mu);
		/* the spares and kept blocks first: memory of no use to anyone */
		garbage = s->spares;
		s->spares = NULL;
		s->n_spares = 0;
		while (s->buffers != NULL)
		{
			LsmCacheHandle *e = s->buffers;

			s->buffers = e->hnext;
			e->hnext = garbage;
			garbage = e;
		}
		dropped += s->buffer_bytes;
		s->buffer_bytes = 0;
		while (dropped < per_shard && s->lru.lru_next != &s->lru)
		{
			LsmCacheHandle *e = s->lru.lru_next;

			lru_remove(e);
			detach(s, e);
			dropped += e->len;
			e->hnext = garbage;
			garbage = e;
		}
		c->env->mutex_unlock(s->mu);
		free_chain(garbage);
		total += dropped;
	}
	return total;
}

/*
 * lsm_block_cache_erase_file
 *		Forget every block of a deleted file.  Pinned blocks leave the hash
 *		table too (file numbers are never reused, so nobody will look them
 *		up again) and are freed by their last release.
 */
void
lsm_block_cache_erase_file(LsmBlockCache *c, uint64_t file_number)
{
	if (!resolve(&c, &file_number))
		return;
	erase_matching(c, UINT64_MAX, file_number);
}

size_t
lsm_block_cache_usage(LsmBlockCache *c)
{
	size_t		total = 0;

	if (c->base != NULL)
		c = c->base;
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		c->env->mutex_lock(c->shards[i].mu);
		total += c->shards[i].usage;
		c->env->mutex_unlock(c->shards[i].mu);
	}
	return total;
}

/*
 * lsm_block_cache_counters
 *		Lookups of the base cache that hit and missed, by every database
 *		using it; counted under the shards' mutexes, which lookups hold
 *		anyway, so counting adds no contention.
 */
void
lsm_block_cache_counters(LsmBlockCache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	if (c->base != NULL)
		c = c->base;
	for (int i = 0; i < LSM_CACHE_SHARDS; i++)
	{
		c->env->mutex_lock(c->shards[i].mu);
		*hits += c->shards[i].hits;
		*misses += c->shards[i].misses;
		c->env->mutex_unlock(c->shards[i].mu);
	}
}
