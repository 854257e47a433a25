/*
 * memtable.c
 *		A skiplist of internal keys inside one caller-supplied region.
 *
 * Layout of the region (all little-endian host order; the region never
 * leaves the machine, so host order is fine):
 *
 *		offset 0		LsmMemTable header
 *		HEAD_OFFSET		head node: height MAX_HEIGHT, no key
 *		buckets			hash chain heads, nbuckets uint32 offsets
 *		...				nodes, each starting at a multiple of 8, upwards
 *						from first_node to used
 *		...				free
 *		vlow .. size	values, downwards from the region's end
 *
 * Values live apart from the nodes.  A search reads keys and links only;
 * with values of 1 KiB between them, every node it visits was a cache miss
 * and, in shared memory of 4 KiB pages, a TLB miss (the insert's search
 * was 2.5 us of a put's CPU in a backend).  Packed together, the nodes of
 * a 32 MiB memtable of such values take about 2 MB.
 *
 * A node is
 *
 *		uint32	height | fast << 4 | run << 8
 *										height 1..MAX_HEIGHT; fast: how many
 *										versions of its key in a row, itself
 *										included, took the short insert;
 *										run: for a merge operand, how many
 *										successive operands of its key end
 *										with it in this memtable (itself
 *										included)
 *		uint32	hnext					next node of its hash chain, 0 = none
 *		uint32	prev0					its predecessor at level 0 (writer's)
 *		uint32	next[height]			offsets of successors, 0 = none
 *		uint32	vback					its value is at size - vback
 *		varint32 ikey_len, ikey bytes	internal key (lsm_format.h)
 *
 * and a value is varint32 value_len, value bytes.  Values are found from
 * the end, so that growing a private memtable moves them to the new end
 * without touching a node.
 *
 * Offsets rather than pointers let the region be mapped at a different
 * address in every process (or memcpy'd) and still be read.  Offset 0 is
 * the header, so it can never be a node and serves as "none".
 *
 * Concurrency (see memtable.h): one writer, any number of lock-free
 * readers.  The writer fills a node completely while it is still
 * unreachable, then links it bottom level first with release stores into
 * the predecessors' next[] slots; readers follow links with acquire loads,
 * so every node a reader reaches is complete.  A node linked at level 0 but
 * not yet at upper levels is merely harder to find, never wrong.  Nodes are
 * never unlinked or changed after publication, except for next[] slots
 * being overwritten by later inserts, which is exactly the atomic part,
 * and hnext (the same, for the hash chains) and prev0 (the writer's own).
 *
 * Header counters (used, count, seqs, max_height) are written only by the
 * writer and read by anyone with relaxed atomics: they are statistics, and
 * a reader seeing a slightly stale value is harmless.  max_height is the
 * subtle one: a reader that sees a new, larger height starts at a head
 * slot that may still be 0 and just descends; one that sees a stale,
 * smaller height finds new tall nodes through their lower levels.
 *
 * Point gets.  A get of a random key in a memtable of 500k entries walks
 * ~25 skiplist nodes, nearly each a cache miss (the counter increment's
 * existence check spent 13% of a backend's CPU there).  So the region also
 * holds a chained hash of user keys, sized at 1 bucket per 256 bytes,
 * whose chains hold each user key's newest node only: a get hashes its
 * key, finds that node in a few misses (chains average one key per 256
 * bytes of entries) and steps along level 0 past the versions newer than
 * its snapshot, or searches the skiplist when there are many.  The writer
 * adds a node to its chain after linking it (hashing the key once for the
 * lookup and the add), replacing the key's older node in place (one
 * release store of the predecessor's link; the old node keeps its hnext,
 * so a reader standing on it still walks the rest of the chain).  A
 * reader needs only versions at or below its snapshot, which were applied
 * before the snapshot was taken, so a node not yet in its chain is never
 * one it needs.  A region grown by lsm_memtable_grow keeps its bucket
 * array, too small for it: the hash is switched off there, before any
 * insert the hash would miss, and gets search the skiplist as before.
 *
 * Short inserts.  The insert's own search is as costly (4 us of misses at
 * 500k entries, and the host runs it under its log lock).  A new version
 * of a key the memtable holds goes right before that key's newest node,
 * which the hash finds; every node keeps its level-0 predecessor (written
 * and read by the writer only), so such a version is linked at level 0
 * alone, after that predecessor, with no search.  A node of height 1 adds
 * nothing to the levels above, so short inserts follow only a node of
 * height 2 or more, at most FAST_MAX in a row, and a newer version that
 * takes the full search gets a height of at least 2: each run of short
 * nodes lies between two nodes of level 1, and a search stepping along
 * level 0 meets at most FAST_MAX of them.
 */
#include <stdlib.h>
#include <string.h>

#include "memtable.h"
#include "bloom.h"
#include "lsm_alloc.h"

#define MEMTABLE_MAGIC		0x4c534d4du		/* "MMSL" little-endian */
#define MAX_HEIGHT			12
#define BRANCHING			4

/* The region's header; lives at offset 0 of the region. */
struct LsmMemTable
{
	uint32_t	magic;
	uint32_t	max_height;		/* tallest node linked so far (>= 1) */
	uint64_t	size;			/* bytes of the region */
	uint64_t	used;			/* node cursor, a multiple of 8 */
	uint64_t	vlow;			/* value cursor: values fill [vlow, size) */
	uint32_t	head;			/* offset of the head node */
	uint32_t	buckets;		/* offset of the hash chain heads */
	uint32_t	nbuckets;		/* a power of two; 0: no hash (grown) */
	uint32_t	first_node;		/* where the nodes start: used when empty */
	uint64_t	count;			/* entries linked */
	uint64_t	min_seq;		/* LSM_MAX_SEQ when empty */
	uint64_t	max_seq;		/* 0 when empty */
	uint64_t	rng;			/* writer's xorshift state, for node heights */
};

#define ALIGN8(x)			(((x) + 7) & ~(uint64_t) 7)
#define HEAD_OFFSET			((uint32_t) ALIGN8(sizeof(LsmMemTable)))
#define NODE_FIXED(h)		(sizeof(uint32_t) * (4 + (size_t) (h)))
#define FAST_MAX			4		/* short inserts of a key in a row */
#define BUCKET_BYTES		256		/* region bytes per hash bucket */
#define SEEK_KEY_MAX_STEPS	16		/* versions a get steps over, at most */

static inline uint8_t *
mt_base(const LsmMemTable *mt)
{
	return (uint8_t *) mt;
}

static inline uint32_t *
node_words(const LsmMemTable *mt, uint32_t node)
{
	return (uint32_t *) (mt_base(mt) + node);
}

static inline uint32_t
node_height(const LsmMemTable *mt, uint32_t node)
{
	return node_words(mt, node)[0] & 0x0f;
}

#define MAX_RUN				0xffffffu

static inline uint32_t
node_fast(const LsmMemTable *mt, uint32_t node)
{
	return (node_words(mt, node)[0] >> 4) & 0x0f;
}

static inline uint32_t
node_run(const LsmMemTable *mt, uint32_t node)
{
	return node_words(mt, node)[0] >> 8;
}

/* Successor of node at level; acquire pairs with the writer's release. */
static inline uint32_t
node_next(const LsmMemTable *mt, uint32_t node, int level)
{
	return __atomic_load_n(&node_words(mt, node)[3 + level], __ATOMIC_ACQUIRE);
}

static inline void
node_set_next(LsmMemTable *mt, uint32_t node, int level, uint32_t next)
{
	__atomic_store_n(&node_words(mt, node)[3 + level], next, __ATOMIC_RELEASE);
}

/*
 * node_key
 *		The internal key of a (published, hence well-formed) node.
 *
 * The varint was written by us, so decoding needs no bounds beyond the
 * region's end, which keeps a damaged region from making us read outside
 * it.
 */
static inline LsmSlice
node_key(const LsmMemTable *mt, uint32_t node)
{
	const uint8_t *p = mt_base(mt) + node + NODE_FIXED(node_height(mt, node));
	const uint8_t *limit = mt_base(mt) + mt->size;
	uint32_t	len = 0;

	/* keys under 128 bytes, the common case, need no call */
	if (*p < 0x80)
		return lsm_slice(p + 1, *p);
	p = lsm_decode_varint32(p, limit, &len);
	return lsm_slice(p, len);
}

static inline LsmSlice
node_value(const LsmMemTable *mt, uint32_t node)
{
	uint32_t	vback = node_words(mt, node)[3 + node_height(mt, node)];
	const uint8_t *limit = mt_base(mt) + mt->size;
	const uint8_t *p = limit - vback;
	uint32_t	len = 0;

	p = lsm_decode_varint32(p, limit, &len);
	return lsm_slice(p, len);
}

/* The (seq << 8 | kind) trailer of a node's internal key. */
static inline uint64_t
node_tag(const LsmMemTable *mt, uint32_t node)
{
	LsmSlice	k = node_key(mt, node);

	return lsm_get_fixed64(k.data + k.len - LSM_IKEY_TRAILER);
}

static inline int
load_max_height(const LsmMemTable *mt)
{
	return (int) __atomic_load_n(&mt->max_height, __ATOMIC_RELAXED);
}

static inline uint32_t *
bucket_slot(const LsmMemTable *mt, uint64_t hash)
{
	uint32_t   *b = (uint32_t *) (mt_base(mt) + mt->buckets);

	return &b[hash & (mt->nbuckets - 1)];
}

/* The link to follow from a chain slot (a bucket or a node's hnext). */
static inline uint32_t
chain_load(const uint32_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/* The user key's newest node, from its hash chain; 0 when absent. */
static uint32_t
hash_find(const LsmMemTable *mt, LsmSlice user_key, uint64_t hash)
{
	for (uint32_t x = chain_load(bucket_slot(mt, hash)); x != 0;
		 x = chain_load(&node_words(mt, x)[1]))
	{
		LsmSlice	k = node_key(mt, x);

		if (k.len >= LSM_IKEY_TRAILER &&
			lsm_slice_eq(lsm_ikey_user_key(k), user_key))
			return x;
	}
	return 0;
}

/*
 * hash_add
 *		Make node, already linked in the skiplist, its key's entry in the
 *		hash: in place of the key's older node (the one it sorts before),
 *		else at the head of its chain.  The writer only.
 */
static void
hash_add(LsmMemTable *mt, uint32_t node, LsmSlice ikey, uint64_t hash)
{
	LsmSlice	user_key = lsm_ikey_user_key(ikey);
	uint32_t   *bucket = bucket_slot(mt, hash);
	uint32_t   *slot = bucket;
	uint32_t   *words = node_words(mt, node);

	for (uint32_t x = *slot; x != 0; x = *slot)
	{
		LsmSlice	k = node_key(mt, x);

		if (lsm_slice_eq(lsm_ikey_user_key(k), user_key))
		{
			if (lsm_ikey_cmp_inline(ikey, k) > 0)
				return;			/* an older version: the chain keeps x */
			__atomic_store_n(&words[1], node_words(mt, x)[1], __ATOMIC_RELAXED);
			__atomic_store_n(slot, node, __ATOMIC_RELEASE);
			return;
		}
		slot = &node_words(mt, x)[1];
	}
	__atomic_store_n(&words[1], *bucket, __ATOMIC_RELAXED);
	__atomic_store_n(bucket, node, __ATOMIC_RELEASE);
}

/*
 * find_ge
 *		The first node whose key is >= target, or 0.  When prev is given,
 *		prev[level] receives the last node < target at every level, which
 *		is where an insert of target splices in.
 */
static uint32_t
find_ge(const LsmMemTable *mt, LsmSlice target, uint32_t *prev)
{
	uint32_t	x = mt->head;
	int			level = load_max_height(mt) - 1;

	for (;;)
	{
		uint32_t	next = node_next(mt, x, level);

		if (next != 0)
		{
			/*
			 * Nearly every node of a big memtable is a cache miss: ask for
			 * the one after next while next's key is compared.
			 */
			uint32_t	after = node_next(mt, next, level);

			if (after != 0)
				__builtin_prefetch(mt_base(mt) + after);
			if (lsm_ikey_cmp_inline(node_key(mt, next), target) < 0)
			{
				x = next;
				continue;
			}
		}
		if (prev != NULL)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

/* The last node whose key is < target, or the head when there is none. */
static uint32_t
find_lt(const LsmMemTable *mt, LsmSlice target)
{
	uint32_t	x = mt->head;
	int			level = load_max_height(mt) - 1;

	for (;;)
	{
		uint32_t	next = node_next(mt, x, level);

		if (next != 0 && lsm_ikey_cmp_inline(node_key(mt, next), target) < 0)
			x = next;
		else if (level == 0)
			return x;
		else
			level--;
	}
}

/* The last node, or the head when the list is empty. */
static uint32_t
find_last(const LsmMemTable *mt)
{
	uint32_t	x = mt->head;
	int			level = load_max_height(mt) - 1;

	for (;;)
	{
		uint32_t	next = node_next(mt, x, level);

		if (next != 0)
			x = next;
		else if (level == 0)
			return x;
		else
			level--;
	}
}

/*
 * lsm_memtable_init
 *		Format region as an empty memtable.
 *
 * The region must be 8-byte aligned, because the header's 64-bit counters
 * are accessed atomically; shared memory and malloc both guarantee that.
 */
LsmMemTable *
lsm_memtable_init(void *region, size_t size)
{
	LsmMemTable *mt = region;
	uint32_t   *head;
	uint32_t	nbuckets;
	uint32_t	buckets;

	if (region == NULL || ((uintptr_t) region & 7) != 0 ||
		size < LSM_MEMTABLE_MIN_SIZE || (uint64_t) size > ((uint64_t) 1 << 32))
		return NULL;

	nbuckets = 1;
	while ((uint64_t) nbuckets * 2 * BUCKET_BYTES <= size)
		nbuckets *= 2;
	buckets = HEAD_OFFSET + ALIGN8(NODE_FIXED(MAX_HEIGHT));
	memset(mt, 0, buckets + (size_t) nbuckets * sizeof(uint32_t));
	mt->magic = MEMTABLE_MAGIC;
	mt->max_height = 1;
	mt->size = size;
	mt->head = HEAD_OFFSET;
	mt->buckets = buckets;
	mt->nbuckets = nbuckets;
	mt->used = ALIGN8(buckets + (uint64_t) nbuckets * sizeof(uint32_t));
	mt->vlow = size;
	mt->first_node = (uint32_t) mt->used;
	mt->count = 0;
	mt->min_seq = LSM_MAX_SEQ;
	mt->max_seq = 0;
	/* fixed seed: heights, and so performance, are reproducible */
	mt->rng = 0x9E3779B97F4A7C15ull ^ size;
	head = node_words(mt, mt->head);
	head[0] = MAX_HEIGHT;
	return mt;
}

/*
 * lsm_memtable_attach
 *		Use a region formatted by lsm_memtable_init, possibly at another
 *		address.  NULL when the header does not look like ours.
 */
LsmMemTable *
lsm_memtable_attach(void *region)
{
	LsmMemTable *mt = region;

	if (region == NULL || ((uintptr_t) region & 7) != 0 ||
		mt->magic != MEMTABLE_MAGIC || mt->head != HEAD_OFFSET ||
		mt->size < LSM_MEMTABLE_MIN_SIZE || mt->used > mt->vlow ||
		mt->vlow > mt->size)
		return NULL;
	return mt;
}

LsmMemTable *
lsm_memtable_grow(const LsmMemTable *old, void *region, size_t new_size)
{
	LsmMemTable *mt = region;
	uint64_t	values;

	if (lsm_memtable_attach((void *) old) == NULL || region == NULL ||
		((uintptr_t) region & 7) != 0 ||
		new_size < lsm_memtable_bytes_used(old) ||
		(uint64_t) new_size > ((uint64_t) 1 << 32))
		return NULL;
	values = old->size - old->vlow;
	memcpy(region, old, old->used);
	memcpy((uint8_t *) region + new_size - values, mt_base(old) + old->vlow, values);
	mt->size = new_size;
	mt->vlow = new_size - values;
	mt->nbuckets = 0;			/* too few buckets for it now: no hash */
	return mt;
}

/* Bytes of a node of the given height and key length, padding included. */
static uint64_t
node_bytes(int height, uint64_t ikey_len)
{
	return ALIGN8(NODE_FIXED(height) + lsm_varint_length(ikey_len) + ikey_len);
}

/* Bytes of an entry: its node and its value. */
static uint64_t
node_size(int height, uint64_t ikey_len, uint64_t value_len)
{
	return node_bytes(height, ikey_len) + lsm_varint_length(value_len) + value_len;
}

/*
 * lsm_memtable_entry_size
 *		Upper bound of the bytes an entry with a user key of key_len bytes
 *		and a value of value_len bytes takes: that of the tallest node.
 *		When lsm_memtable_bytes_free() is at least this, the add succeeds.
 */
size_t
lsm_memtable_entry_size(size_t key_len, size_t value_len)
{
	return (size_t) node_size(MAX_HEIGHT, (uint64_t) key_len + LSM_IKEY_TRAILER,
							  value_len);
}

/* A height >= 1 with P(height > h) = BRANCHING^-h, capped at MAX_HEIGHT. */
static int
random_height(uint64_t *rng)
{
	int			h = 1;

	for (;;)
	{
		uint64_t	x = *rng;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		*rng = x;
		if (h >= MAX_HEIGHT || ((x * 0x2545F4914F6CDD1Dull) >> 32) % BRANCHING != 0)
			return h;
		h++;
	}
}

/*
 * lsm_memtable_add
 *		Insert (user_key, seq, kind) -> value.
 *
 * Nothing in the region changes until it is known that the node fits, and
 * the RNG state is advanced on a local copy, so a refused add leaves the
 * region byte-for-byte identical.
 */
bool
lsm_memtable_add(LsmMemTable *mt, LsmSeq seq, LsmKind kind,
				 LsmSlice user_key, LsmSlice value)
{
	bool		fold_due;

	return lsm_memtable_add_op(mt, seq, kind, user_key, value, 0, &fold_due);
}

/*
 * lsm_memtable_add_op
 *		lsm_memtable_add, which also counts the run of successive merge
 *		operands a key's newest entries form in this memtable: a merge
 *		operand that would make the run a multiple of fold_every (> 0) is
 *		not added (*fold_due, false), so that the caller can fold the run
 *		into a value and add that instead.  The node and its value are built
 *		in free space and only linked once known to stay, so a refused add
 *		changes nothing outside the free space between the two cursors.
 */
bool
lsm_memtable_add_op(LsmMemTable *mt, LsmSeq seq, LsmKind kind,
					LsmSlice user_key, LsmSlice value, uint32_t fold_every,
					bool *fold_due)
{
	uint64_t	rng = mt->rng;
	int			height;
	uint64_t	ikey_len = (uint64_t) user_key.len + LSM_IKEY_TRAILER;
	uint64_t	hash = 0;
	uint32_t	newest = 0;
	uint32_t	fast = 0;
	uint32_t	succ;
	uint64_t	need;
	uint64_t	nbytes;
	uint64_t	vpos;
	uint32_t	node;
	uint32_t   *words;
	uint8_t    *p;
	uint32_t	prev[MAX_HEIGHT];
	int			max_height;
	uint32_t	run = 0;
	uint32_t	below;
	int			i;

	*fold_due = false;
	if (ikey_len > UINT32_MAX || value.len > UINT32_MAX || seq > LSM_MAX_SEQ)
		return false;

	/* a newer version of a key held here: the short insert (see top) */
	if (mt->nbuckets > 0)
	{
		hash = lsm_bloom_hash(user_key);
		newest = hash_find(mt, user_key, hash);
		if (newest != 0 && lsm_pack_seq_kind(seq, kind) <= node_tag(mt, newest))
			newest = 0;			/* an older version: the full search */
		if (newest != 0 && node_fast(mt, newest) < FAST_MAX &&
			(node_fast(mt, newest) > 0 || node_height(mt, newest) >= 2))
			fast = node_fast(mt, newest) + 1;
	}
	height = fast > 0 ? 1 : random_height(&rng);

	/*
	 * A newer version that takes the search is at least 2 high, so that a
	 * run of short inserts has a node of level 1 on both sides.
	 */
	if (fast == 0 && newest != 0 && height < 2)
		height = 2;
	nbytes = node_bytes(height, ikey_len);
	need = node_size(height, ikey_len, value.len);
	if (need > mt->vlow - mt->used)
		return false;

	/* build the node and its value while nobody can reach them */
	vpos = mt->vlow - (need - nbytes);
	p = lsm_encode_varint32(mt_base(mt) + vpos, (uint32_t) value.len);
	if (value.len > 0)
		memcpy(p, value.data, value.len);
	node = (uint32_t) mt->used;
	words = node_words(mt, node);
	words[0] = (uint32_t) height | fast << 4;
	words[1] = 0;
	words[3 + height] = (uint32_t) (mt->size - vpos);
	p = mt_base(mt) + node + NODE_FIXED(height);
	p = lsm_encode_varint32(p, (uint32_t) ikey_len);
	if (user_key.len > 0)
		memcpy(p, user_key.data, user_key.len);
	lsm_put_fixed64(p + user_key.len, lsm_pack_seq_kind(seq, kind));

	if (fast > 0)
	{
		prev[0] = node_words(mt, newest)[2];
		below = newest;
	}
	else
		below = find_ge(mt, node_key(mt, node), prev);
	if (kind == LSM_KIND_MERGE)
	{
		LsmParsedKey pk;

		run = 1;
		if (below != 0 && lsm_ikey_parse(node_key(mt, below), &pk) &&
			pk.kind == LSM_KIND_MERGE && lsm_slice_eq(pk.user_key, user_key))
		{
			run = node_run(mt, below);
			run = run < MAX_RUN ? run + 1 : MAX_RUN;
		}
		if (fold_every > 0 && run % fold_every == 0)
		{
			*fold_due = true;
			return false;
		}
		words[0] = (uint32_t) height | fast << 4 | run << 8;
	}
	max_height = load_max_height(mt);
	if (height > max_height)
	{
		for (i = max_height; i < height; i++)
			prev[i] = mt->head;
		__atomic_store_n(&mt->max_height, (uint32_t) height, __ATOMIC_RELAXED);
	}

	/*
	 * Our own next[] slots are not yet visible, so relaxed stores would do;
	 * the release stores into the predecessors are what publish the node.
	 */
	for (i = 0; i < height; i++)
	{
		__atomic_store_n(&words[3 + i], node_next(mt, prev[i], i), __ATOMIC_RELAXED);
		node_set_next(mt, prev[i], i, node);
	}
	words[2] = prev[0];
	succ = words[3];
	if (succ != 0)
		node_words(mt, succ)[2] = node;
	if (mt->nbuckets > 0)
		hash_add(mt, node, node_key(mt, node), hash);

	mt->rng = rng;
	__atomic_store_n(&mt->used, mt->used + nbytes, __ATOMIC_RELAXED);
	__atomic_store_n(&mt->vlow, vpos, __ATOMIC_RELAXED);
	__atomic_store_n(&mt->count, mt->count + 1, __ATOMIC_RELAXED);
	if (seq < mt->min_seq)
		__atomic_store_n(&mt->min_seq, seq, __ATOMIC_RELAXED);
	if (seq > mt->max_seq)
		__atomic_store_n(&mt->max_seq, seq, __ATOMIC_RELAXED);
	return true;
}

/*
 * The writer moves used up and vlow down; anyone else may read the pair
 * half-updated, which these figures (statistics, for them) tolerate: vlow
 * never falls below any used it will be paired with.
 */
size_t
lsm_memtable_bytes_used(const LsmMemTable *mt)
{
	return (size_t) (__atomic_load_n(&mt->used, __ATOMIC_RELAXED) +
					 (mt->size - __atomic_load_n(&mt->vlow, __ATOMIC_RELAXED)));
}

size_t
lsm_memtable_entry_bytes(const LsmMemTable *mt)
{
	return lsm_memtable_bytes_used(mt) - mt->first_node;
}

size_t
lsm_memtable_bytes_free(const LsmMemTable *mt)
{
	return (size_t) (__atomic_load_n(&mt->vlow, __ATOMIC_RELAXED) -
					 __atomic_load_n(&mt->used, __ATOMIC_RELAXED));
}

uint64_t
lsm_memtable_count(const LsmMemTable *mt)
{
	return __atomic_load_n(&mt->count, __ATOMIC_RELAXED);
}

LsmSeq
lsm_memtable_min_seq(const LsmMemTable *mt)
{
	return __atomic_load_n(&mt->min_seq, __ATOMIC_RELAXED);
}

LsmSeq
lsm_memtable_max_seq(const LsmMemTable *mt)
{
	return __atomic_load_n(&mt->max_seq, __ATOMIC_RELAXED);
}

/*
 * verify_hash
 *		The chains are in bounds and end, every key's first node (its
 *		newest) is what its chain holds, and the chains hold nothing else.
 *		After the skiplist checks, so the nodes themselves are sound.
 */
static LsmCode
verify_hash(const LsmMemTable *mt, LsmStatus *st)
{
	uint64_t	keys = 0;
	uint64_t	chained = 0;
	LsmSlice	prev = {NULL, 0};

	if (mt->nbuckets == 0)
		return LSM_OK;
	if ((mt->nbuckets & (mt->nbuckets - 1)) != 0 ||
		mt->buckets < HEAD_OFFSET + NODE_FIXED(MAX_HEIGHT) ||
		mt->buckets + (uint64_t) mt->nbuckets * sizeof(uint32_t) > mt->first_node ||
		mt->first_node > mt->used)
		return lsm_status_set(st, LSM_CORRUPTION, 0, "memtable hash header is damaged");
	for (uint32_t b = 0; b < mt->nbuckets; b++)
	{
		const uint32_t *heads = (const uint32_t *) (mt_base(mt) + mt->buckets);

		for (uint32_t x = heads[b]; x != 0; x = node_words(mt, x)[1])
		{
			if (x < mt->first_node || x >= mt->used || (x & 7) != 0 || ++chained > mt->count)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable hash chain %u is damaged", b);
		}
	}
	for (uint32_t x = node_next(mt, mt->head, 0); x != 0; x = node_next(mt, x, 0))
	{
		LsmSlice	uk = lsm_ikey_user_key(node_key(mt, x));

		if (prev.data != NULL && lsm_slice_eq(prev, uk))
			continue;
		prev = uk;
		keys++;
		if (hash_find(mt, uk, lsm_bloom_hash(uk)) != x)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "memtable hash does not lead to node %u, its key's newest", x);
	}
	if (chained != keys)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "memtable hash holds %llu nodes for %llu keys",
							  (unsigned long long) chained, (unsigned long long) keys);
	return LSM_OK;
}

/*
 * lsm_memtable_verify
 *		Check the structure: every node in bounds and well-formed, every
 *		level sorted, level i a sub-list of level i-1, and the count right.
 *		Only meaningful while no writer is active.
 */
LsmCode
lsm_memtable_verify(const LsmMemTable *mt, LsmStatus *st)
{
	uint64_t	n = 0;
	uint32_t	x;
	int			level;

	if (mt->magic != MEMTABLE_MAGIC || mt->used > mt->vlow || mt->vlow > mt->size ||
		mt->max_height < 1 || mt->max_height > MAX_HEIGHT)
		return lsm_status_set(st, LSM_CORRUPTION, 0, "memtable header is damaged");

	for (level = (int) mt->max_height - 1; level >= 0; level--)
	{
		LsmSlice	prev_key = {NULL, 0};
		uint32_t	lower = mt->head;

		for (x = node_next(mt, mt->head, level); x != 0; x = node_next(mt, x, level))
		{
			uint32_t	h;
			const uint8_t *p;
			const uint8_t *limit = mt_base(mt) + mt->used;
			const uint8_t *vlimit;
			uint32_t	klen;
			uint32_t	vlen;
			uint32_t	vback;
			LsmSlice	key;
			LsmParsedKey pk;

			if (x < HEAD_OFFSET + NODE_FIXED(MAX_HEIGHT) || x >= mt->used || (x & 7) != 0)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable node offset %u out of bounds at level %d",
									  x, level);
			h = node_height(mt, x);
			if (h < 1 || h > MAX_HEIGHT || (int) h <= level ||
				x + NODE_FIXED(h) > mt->used)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable node %u has bad height %u at level %d",
									  x, h, level);
			p = mt_base(mt) + x + NODE_FIXED(h);
			if ((p = lsm_decode_varint32(p, limit, &klen)) == NULL ||
				(size_t) (limit - p) < klen ||
				!lsm_ikey_parse(lsm_slice(p, klen), &pk))
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable node %u has a bad key", x);
			key = lsm_slice(p, klen);
			vback = node_words(mt, x)[3 + h];
			vlimit = mt_base(mt) + mt->size;
			if (vback == 0 || vback > mt->size - mt->vlow ||
				(p = lsm_decode_varint32(vlimit - vback, vlimit, &vlen)) == NULL ||
				(size_t) (vlimit - p) < vlen)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable node %u has a bad value", x);
			if (prev_key.data != NULL && lsm_ikey_cmp(prev_key, key) >= 0)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "memtable out of order at node %u level %d",
									  x, level);
			prev_key = key;
			/* the same node must be reachable one level down */
			if (level > 0)
			{
				while (lower != 0 && lower != x)
					lower = node_next(mt, lower, level - 1);
				if (lower == 0)
					return lsm_status_set(st, LSM_CORRUPTION, 0,
										  "memtable node %u at level %d missing from level %d",
										  x, level, level - 1);
			}
			if (level == 0)
				n++;
		}
	}
	if (n != mt->count)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "memtable holds %llu entries, header says %llu",
							  (unsigned long long) n, (unsigned long long) mt->count);
	/* the writer's level-0 back links, and the short inserts' marks */
	for (uint32_t p = mt->head, y = node_next(mt, mt->head, 0); y != 0;
		 p = y, y = node_next(mt, y, 0))
	{
		if (node_words(mt, y)[2] != p)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "memtable node %u does not link back to node %u", y, p);
		if (node_fast(mt, y) > FAST_MAX ||
			(node_fast(mt, y) > 0 && node_height(mt, y) != 1))
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "memtable node %u has a bad short-insert mark", y);
	}
	return verify_hash(mt, st);
}

/* ---------- iterator ---------- */

static bool
mi_valid(LsmIter *it)
{
	return ((LsmMemIter *) it)->node != 0;
}

static void
mi_seek_first(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;

	mi->node = node_next(mi->mt, mi->mt->head, 0);
}

static void
mi_seek_last(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;
	uint32_t	x = find_last(mi->mt);

	mi->node = (x == mi->mt->head) ? 0 : x;
}

static void
mi_seek(LsmIter *it, LsmSlice target)
{
	LsmMemIter *mi = (LsmMemIter *) it;

	mi->node = find_ge(mi->mt, target, NULL);
}

/*
 * lsm_memtable_iter_seek_key
 *		Where find_ge(target) is, when target's user key has entries here:
 *		from the key's newest node, past the versions newer than target.
 */
void
lsm_memtable_iter_seek_key(LsmMemIter *mi, LsmSlice target)
{
	const LsmMemTable *mt = mi->mt;
	uint32_t	x;

	if (mt->nbuckets == 0 || target.len < LSM_IKEY_TRAILER)
	{
		mi->node = find_ge(mt, target, NULL);
		return;
	}
	x = hash_find(mt, lsm_ikey_user_key(target),
				  lsm_bloom_hash(lsm_ikey_user_key(target)));
	for (int steps = 0; x != 0 && lsm_ikey_cmp_inline(node_key(mt, x), target) < 0; steps++)
	{
		/*
		 * Many versions newer than the snapshot (an old snapshot of a hot
		 * counter): the skiplist gets there in O(log n) instead.
		 */
		if (steps == SEEK_KEY_MAX_STEPS)
		{
			x = find_ge(mt, target, NULL);
			break;
		}
		x = node_next(mt, x, 0);
	}
	if (x != 0 && !lsm_slice_eq(lsm_ikey_user_key(node_key(mt, x)),
								lsm_ikey_user_key(target)))
		x = 0;					/* every version is newer than target */
	mi->node = x;
}

static void
mi_next(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;

	mi->node = node_next(mi->mt, mi->node, 0);
}

/*
 * mi_prev
 *		There are no back links (they could not be published atomically
 *		together with the forward ones), so search from the top for the
 *		last node before the current key: O(log n).
 */
static void
mi_prev(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;
	uint32_t	x = find_lt(mi->mt, node_key(mi->mt, mi->node));

	mi->node = (x == mi->mt->head) ? 0 : x;
}

static LsmSlice
mi_key(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;

	return node_key(mi->mt, mi->node);
}

static LsmSlice
mi_value(LsmIter *it)
{
	LsmMemIter *mi = (LsmMemIter *) it;

	return node_value(mi->mt, mi->node);
}

/* Memory cannot fail to read: a memtable iterator has no errors. */
static LsmCode
mi_status(LsmIter *it, LsmStatus *st)
{
	return LSM_OK;
}

static void
mi_destroy_embedded(LsmIter *it)
{
}

static void
mi_destroy_heap(LsmIter *it)
{
	lsm_free(it);
}

/*
 * Two op tables that differ only in destroy, so the embeddable struct
 * needs no "allocated" flag: the table itself says who owns the memory.
 */
static const LsmIterOps mem_iter_embedded_ops = {
	.valid = mi_valid,
	.seek_first = mi_seek_first,
	.seek_last = mi_seek_last,
	.seek = mi_seek,
	.next = mi_next,
	.prev = mi_prev,
	.key = mi_key,
	.value = mi_value,
	.status = mi_status,
	.destroy = mi_destroy_embedded,
};

static const LsmIterOps mem_iter_heap_ops = {
	.valid = mi_valid,
	.seek_first = mi_seek_first,
	.seek_last = mi_seek_last,
	.seek = mi_seek,
	.next = mi_next,
	.prev = mi_prev,
	.key = mi_key,
	.value = mi_value,
	.status = mi_status,
	.destroy = mi_destroy_heap,
};

/*
 * lsm_memtable_iter_init
 *		Set up an iterator in caller-owned memory (point gets take one on
 *		the stack).  Destroying it is allowed and does nothing.
 */
void
lsm_memtable_iter_init(LsmMemIter *it, LsmMemTable *mt)
{
	it->base.ops = &mem_iter_embedded_ops;
	it->mt = mt;
	it->node = 0;
}

/*
 * lsm_memtable_iter_new
 *		A malloc'd iterator, freed by lsm_iter_destroy.  Out of memory gives
 *		an empty iterator whose status says so, never NULL.
 */
LsmIter *
lsm_memtable_iter_new(LsmMemTable *mt)
{
	LsmMemIter *it = lsm_malloc(sizeof(LsmMemIter));
	LsmStatus	st;

	if (it == NULL)
	{
		lsm_status_set(&st, LSM_NO_MEMORY, 0,
					   "out of memory allocating a memtable iterator");
		return lsm_iter_empty(&st);
	}
	lsm_memtable_iter_init(it, mt);
	it->base.ops = &mem_iter_heap_ops;
	return &it->base;
}
