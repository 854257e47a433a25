/*
 * test_merge_iter.c
 *		The merging iterator against a model: random children (keys may
 *		repeat across children), random walks mixing seeks, next and prev
 *		with direction switches, and children that fail part way.
 */
#include "testutil.h"

#include "iter_merge.h"
#include "lsm_iter.h"

/* A child over a sorted array of keys; fails after fail_after moves. */
typedef struct VecIter
{
	LsmIter		base;
	char	  **keys;
	char	  **vals;
	int			n;
	int			pos;			/* -1 or n: invalid */
	long		fail_after;		/* < 0: never */
	LsmStatus	err;
} VecIter;

static bool
vec_moved(VecIter *v)
{
	if (v->fail_after < 0 || v->err.code != LSM_OK)
		return v->err.code == LSM_OK;
	if (v->fail_after-- == 0)
	{
		lsm_status_set(&v->err, LSM_IO_ERROR, 5, "child failed on purpose");
		return false;
	}
	return true;
}

static bool
vec_valid(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	return v->err.code == LSM_OK && v->pos >= 0 && v->pos < v->n;
}

static void
vec_seek_first(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	if (vec_moved(v))
		v->pos = 0;
}

static void
vec_seek_last(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	if (vec_moved(v))
		v->pos = v->n - 1;
}

static void
vec_seek(LsmIter *it, LsmSlice t)
{
	VecIter    *v = (VecIter *) it;
	int			i;

	if (!vec_moved(v))
		return;
	for (i = 0; i < v->n; i++)
		if (lsm_slice_cmp(lsm_slice_str(v->keys[i]), t) >= 0)
			break;
	v->pos = i;
}

static void
vec_next(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	if (vec_moved(v))
		v->pos++;
}

static void
vec_prev(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	if (vec_moved(v))
		v->pos--;
}

static LsmSlice
vec_key(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	return lsm_slice_str(v->keys[v->pos]);
}

static LsmSlice
vec_value(LsmIter *it)
{
	VecIter    *v = (VecIter *) it;

	return lsm_slice_str(v->vals[v->pos]);
}

static LsmCode
vec_status(LsmIter *it, LsmStatus *st)
{
	VecIter    *v = (VecIter *) it;

	if (v->err.code != LSM_OK && st)
		*st = v->err;
	return v->err.code;
}

static void
vec_destroy(LsmIter *it)
{
	free(it);
}

static const LsmIterOps vec_ops = {
	vec_valid, vec_seek_first, vec_seek_last, vec_seek, vec_next, vec_prev,
	vec_key, vec_value, vec_status, vec_destroy
};

static int
bytewise(LsmSlice a, LsmSlice b)
{
	return lsm_slice_cmp(a, b);
}

/* Model entry: the merged order is (key, child). */
typedef struct ModelEnt
{
	char	   *key;
	char	   *val;
	int			child;
} ModelEnt;

static int
model_cmp(const void *a, const void *b)
{
	const ModelEnt *x = a;
	const ModelEnt *y = b;
	int			r = strcmp(x->key, y->key);

	return r ? r : x->child - y->child;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

typedef struct Setup
{
	int			nchild;
	char	  **keys[40];
	char	  **vals[40];
	int			n[40];
	ModelEnt   *model;
	int			nmodel;
} Setup;

static void
setup_random(Setup *s, TestRng *rng, int nchild, int keyspace)
{
	int			c;
	int			i;

	memset(s, 0, sizeof(*s));
	s->nchild = nchild;
	s->model = malloc(sizeof(ModelEnt) * (size_t) (nchild * 64 + 1));
	for (c = 0; c < nchild; c++)
	{
		int			want = (int) test_rng_below(rng, 40);
		char	  **ks = malloc(sizeof(char *) * 64);
		int			n = 0;

		/* distinct keys within a child, drawn from a small key space */
		for (i = 0; i < want; i++)
		{
			char		buf[16];
			int			j;
			bool		dup = false;

			snprintf(buf, sizeof(buf), "%04d", (int) test_rng_below(rng, (uint64_t) keyspace));
			for (j = 0; j < n; j++)
				if (strcmp(ks[j], buf) == 0)
					dup = true;
			if (!dup)
				ks[n++] = strdup(buf);
		}
		qsort(ks, (size_t) n, sizeof(char *), str_cmp);
		s->keys[c] = ks;
		s->vals[c] = malloc(sizeof(char *) * (size_t) (n + 1));
		s->n[c] = n;
		for (i = 0; i < n; i++)
		{
			char		buf[32];

			snprintf(buf, sizeof(buf), "c%d:%s", c, ks[i]);
			s->vals[c][i] = strdup(buf);
			s->model[s->nmodel].key = ks[i];
			s->model[s->nmodel].val = s->vals[c][i];
			s->model[s->nmodel].child = c;
			s->nmodel++;
		}
	}
	qsort(s->model, (size_t) s->nmodel, sizeof(ModelEnt), model_cmp);
}

static void
setup_free(Setup *s)
{
	for (int c = 0; c < s->nchild; c++)
	{
		for (int i = 0; i < s->n[c]; i++)
		{
			free(s->keys[c][i]);
			free(s->vals[c][i]);
		}
		free(s->keys[c]);
		free(s->vals[c]);
	}
	free(s->model);
}

static LsmIter *
make_merge(Setup *s, int failing_child, long fail_after)
{
	LsmIter    *children[40];

	for (int c = 0; c < s->nchild; c++)
	{
		VecIter    *v = calloc(1, sizeof(VecIter));

		v->base.ops = &vec_ops;
		v->keys = s->keys[c];
		v->vals = s->vals[c];
		v->n = s->n[c];
		v->pos = -1;
		v->fail_after = c == failing_child ? fail_after : -1;
		children[c] = &v->base;
	}
	return lsm_merge_iter_new(children, s->nchild, bytewise);
}

/* Compare the iterator with model position p. */
static int
matches(LsmIter *it, Setup *s, int p)
{
	if (p < 0 || p >= s->nmodel)
	{
		CHECK_RET(!lsm_iter_valid(it), 0);
		CHECK_RET(lsm_iter_status(it, NULL) == LSM_OK, 0);
		return 1;
	}
	CHECK_RET(lsm_iter_valid(it), 0);
	CHECK_RET(lsm_slice_eq(lsm_iter_key(it), lsm_slice_str(s->model[p].key)), 0);
	CHECK_RET(lsm_slice_eq(lsm_iter_value(it), lsm_slice_str(s->model[p].val)), 0);
	return 1;
}

static void
test_random_walks(void)
{
	uint64_t	seed = test_seed("merge_iter");
	TestRng		rng = {seed};
	const char *env = getenv("LSM_TEST_ITERS");
	int			rounds = env ? atoi(env) : 300;

	for (int round = 0; round < rounds; round++)
	{
		Setup		s;
		int			nchild = 1 + (int) test_rng_below(&rng, round % 3 == 0 ? 3 : 12);
		int			keyspace = 20 + (int) test_rng_below(&rng, 200);
		LsmIter    *it;
		int			p = -1;

		setup_random(&s, &rng, nchild, keyspace);
		it = make_merge(&s, -1, -1);
		CHECK(it != NULL);
		for (int step = 0; step < 400; step++)
		{
			int			op = (int) test_rng_below(&rng, 10);

			if (op == 0)
			{
				lsm_iter_seek_first(it);
				p = 0;
			}
			else if (op == 1)
			{
				lsm_iter_seek_last(it);
				p = s.nmodel - 1;
			}
			else if (op == 2)
			{
				char		t[16];

				snprintf(t, sizeof(t), "%04d", (int) test_rng_below(&rng, (uint64_t) keyspace + 1));
				if (test_rng_below(&rng, 4) == 0)
					strcat(t, "x");	/* between keys */
				lsm_iter_seek(it, lsm_slice_str(t));
				for (p = 0; p < s.nmodel && strcmp(s.model[p].key, t) < 0; p++)
					;
			}
			else if (p >= 0 && p < s.nmodel)
			{
				if (op < 6)
				{
					lsm_iter_next(it);
					p++;
				}
				else
				{
					lsm_iter_prev(it);
					p--;
				}
			}
			if (!matches(it, &s, p))
			{
				fprintf(stderr, "  round %d step %d op %d (seed %llu)\n", round, step, op,
						(unsigned long long) seed);
				lsm_iter_destroy(it);
				setup_free(&s);
				return;
			}
		}
		/* full scans both ways */
		{
			int			i = 0;

			for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
				CHECK(matches(it, &s, i++));
			CHECK(i == s.nmodel);
			i = s.nmodel - 1;
			for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
				CHECK(matches(it, &s, i--));
			CHECK(i == -1);
		}
		lsm_iter_destroy(it);
		setup_free(&s);
	}
}

/* A child that fails stops the merge with its error, in both directions. */
static void
test_child_error(void)
{
	TestRng		rng = {12345};

	for (int round = 0; round < 50; round++)
	{
		Setup		s;
		LsmIter    *it;
		LsmStatus	st;
		int			steps = 0;

		setup_random(&s, &rng, 4, 100);
		if (s.n[2] == 0)
		{
			setup_free(&s);
			continue;
		}
		it = make_merge(&s, 2, (long) test_rng_below(&rng, 30));
		if (round % 2)
			for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
				steps++;
		else
			for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
				steps++;
		if (steps < s.nmodel)
		{
			CHECK(lsm_iter_status(it, &st) == LSM_IO_ERROR);
			CHECK(strstr(st.msg, "on purpose") != NULL);
		}
		/* the error is not silently forgotten by further movement */
		lsm_iter_next(it);
		CHECK(!lsm_iter_valid(it));
		lsm_iter_destroy(it);
		setup_free(&s);
	}
}

static void
test_small_cases(void)
{
	LsmIter    *it;

	/* no children: empty */
	it = lsm_merge_iter_new(NULL, 0, bytewise);
	CHECK(it != NULL);
	lsm_iter_seek_first(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, NULL) == LSM_OK);
	lsm_iter_destroy(it);
}

int
main(void)
{
	RUN(test_small_cases);
	RUN(test_random_walks);
	RUN(test_child_error);
	return test_finish();
}
