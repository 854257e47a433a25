/*
 * iter_check.c
 *		The iterator conformance check: the LsmIter contract (lsm_iter.h)
 *		tested the same way for every iterator kind, against a model.
 *
 * Each kind (memtable, block, SSTable, level, merging, database, empty) is
 * also tested on its own, but those tests walk the parts of the contract
 * their author thought of.  This check walks all of it for all of them:
 * first and last, full walks both ways, a seek to every key and to keys
 * between them, a change of direction right after a seek (where merging
 * and database iterators keep the most state), and random walks.  The
 * model is a sorted array, so what each step must show is never in doubt.
 */
#include "testutil.h"

typedef struct Checker
{
	LsmIter    *it;
	const TestKV *m;
	long		n;
	const char *step;			/* what the check was doing, for messages */
	long		arg;
} Checker;

/* Print at most 24 bytes of s, escaping what is not printable. */
static void
print_slice(const char *label, LsmSlice s)
{
	fprintf(stderr, "    %s (%zu bytes): \"", label, s.len);
	for (size_t i = 0; i < s.len && i < 24; i++)
	{
		uint8_t		c = s.data[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "%s\"\n", s.len > 24 ? "..." : "");
}

static int
fail(Checker *c, const char *what)
{
	fprintf(stderr, "  iterator check failed: %s (step: %s %ld)\n",
			what, c->step, c->arg);
	tu_cur_failed = 1;
	return 0;
}

/*
 * Whether the iterator shows model entry pos; a pos outside [0, n) means
 * it must be invalid, and then with status LSM_OK.
 */
static int
at(Checker *c, long pos)
{
	LsmStatus	st;

	if (pos < 0 || pos >= c->n)
	{
		if (lsm_iter_valid(c->it))
		{
			print_slice("unexpected key", lsm_iter_key(c->it));
			return fail(c, "valid where the model has no entry");
		}
		if (lsm_iter_status(c->it, &st) != LSM_OK)
		{
			fprintf(stderr, "    status: %s\n", st.msg);
			return fail(c, "invalid with an error");
		}
		return 1;
	}
	if (!lsm_iter_valid(c->it))
	{
		if (lsm_iter_status(c->it, &st) != LSM_OK)
			fprintf(stderr, "    status: %s\n", st.msg);
		print_slice("expected key", c->m[pos].key);
		return fail(c, "invalid where the model has an entry");
	}
	if (!lsm_slice_eq(lsm_iter_key(c->it), c->m[pos].key))
	{
		print_slice("key", lsm_iter_key(c->it));
		print_slice("expected key", c->m[pos].key);
		return fail(c, "wrong key");
	}
	if (!lsm_slice_eq(lsm_iter_value(c->it), c->m[pos].value))
	{
		print_slice("key", c->m[pos].key);
		print_slice("value", lsm_iter_value(c->it));
		print_slice("expected value", c->m[pos].value);
		return fail(c, "wrong value");
	}
	return 1;
}

/* The first model entry >= target. */
static long
lower_bound(const Checker *c, LsmSlice target, LsmKeyCmp cmp)
{
	long		lo = 0;
	long		hi = c->n;

	while (lo < hi)
	{
		long		mid = lo + (hi - lo) / 2;

		if (cmp(c->m[mid].key, target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * After a seek to target that landed at pos: step back, forward and
 * forward again; then seek again and step forward and back.  Movements
 * stop once the iterator is invalid, where the contract says nothing.
 */
static int
turn_around(Checker *c, LsmSlice target, long pos)
{
	if (pos >= c->n)
		return 1;
	lsm_iter_prev(c->it);
	if (!at(c, pos - 1))
		return 0;
	if (pos > 0)
	{
		lsm_iter_next(c->it);
		if (!at(c, pos))
			return 0;
		lsm_iter_next(c->it);
		if (!at(c, pos + 1))
			return 0;
	}
	lsm_iter_seek(c->it, target);
	if (!at(c, pos))
		return 0;
	lsm_iter_next(c->it);
	if (!at(c, pos + 1))
		return 0;
	if (pos + 1 < c->n)
	{
		lsm_iter_prev(c->it);
		if (!at(c, pos))
			return 0;
	}
	return 1;
}

int
test_iter_check(LsmIter *it, const TestKV *model, size_t n,
				const LsmSlice *probes, size_t n_probes,
				LsmKeyCmp cmp, uint64_t seed)
{
	Checker		c = {it, model, (long) n, "", 0};
	TestRng		rng = {seed};
	long		pos;

	/* the model itself must be what the check assumes */
	for (long i = 1; i < c.n; i++)
		if (cmp(model[i - 1].key, model[i].key) >= 0)
		{
			c.step = "model order";
			c.arg = i;
			return fail(&c, "the model is not sorted with distinct keys");
		}

	c.step = "seek_first and next";
	lsm_iter_seek_first(it);
	for (pos = 0;; pos++)
	{
		c.arg = pos;
		if (!at(&c, pos))
			return 0;
		if (pos >= c.n)
			break;
		lsm_iter_next(it);
	}

	c.step = "seek_last and prev";
	lsm_iter_seek_last(it);
	for (pos = c.n - 1;; pos--)
	{
		c.arg = pos;
		if (!at(&c, pos))
			return 0;
		if (pos < 0)
			break;
		lsm_iter_prev(it);
	}

	c.step = "seek to model key";
	for (long i = 0; i < c.n; i++)
	{
		c.arg = i;
		lsm_iter_seek(it, model[i].key);
		if (!at(&c, i) || !turn_around(&c, model[i].key, i))
			return 0;
	}

	c.step = "seek to probe";
	for (size_t i = 0; i < n_probes; i++)
	{
		c.arg = (long) i;
		pos = lower_bound(&c, probes[i], cmp);
		lsm_iter_seek(it, probes[i]);
		if (!at(&c, pos) || !turn_around(&c, probes[i], pos))
			return 0;
	}

	/* Random walks from random starting points. */
	c.step = "random walk";
	for (int w = 0; w < 200; w++)
	{
		uint64_t	how = test_rng_below(&rng, 4);

		c.arg = w;
		if (how == 0 || (c.n == 0 && n_probes == 0 && how >= 2))
		{
			lsm_iter_seek_first(it);
			pos = 0;
		}
		else if (how == 1)
		{
			lsm_iter_seek_last(it);
			pos = c.n - 1;
		}
		else if (how == 2 && c.n > 0)
		{
			pos = (long) test_rng_below(&rng, (uint64_t) c.n);
			lsm_iter_seek(it, model[pos].key);
		}
		else if (n_probes > 0)
		{
			LsmSlice	p = probes[test_rng_below(&rng, n_probes)];

			pos = lower_bound(&c, p, cmp);
			lsm_iter_seek(it, p);
		}
		else
		{
			lsm_iter_seek_first(it);
			pos = 0;
		}
		if (!at(&c, pos))
			return 0;
		for (int s = 0; s < 40 && pos >= 0 && pos < c.n; s++)
		{
			if (test_rng_below(&rng, 2))
			{
				lsm_iter_next(it);
				pos++;
			}
			else
			{
				lsm_iter_prev(it);
				pos--;
			}
			if (!at(&c, pos))
				return 0;
		}
	}
	return 1;
}
