# Differential test of the SQL surface: the same seeded stream of thousands
# of random statements runs against lsm_fdw tables (one psql session owns
# them all: a lsm_fdw table is used by one session at a time) and against
# identical heap tables with a PRIMARY KEY on the same columns (a second
# psql session), and every statement must give the same result: the same
# rows (sorted, unless the query orders by the full key; then exactly), the
# same row count and the same SQLSTATE.  The first mismatch fails the test
# with the seed, the statement, the transaction it is in and both results.
#
# Tables (1MB memtables, rows of a few hundred bytes, so memtables flush to
# SSTables during the run; each also with a different block size,
# compression, bloom filter or compaction setting):
#   l_int / h_int  int8 key
#   l_txt / h_txt  text key, COLLATE "C"
#   l_cmp / h_cmp  (int4, text COLLATE "C") key
#   l_ovr / h_ovr  int8 key, on_duplicate 'overwrite' (the heap side turns
#                  plain INSERTs into INSERT ... ON CONFLICT (k) DO UPDATE)
# and a static heap table j to join with.
# Statements: INSERT (single, multi-row with duplicate keys, bulk, INSERT
# ... SELECT from the same table, ON CONFLICT DO NOTHING, RETURNING, NULL
# keys), COPY FROM STDIN, UPDATE (values, key changes of one row and of
# ranges, key set to itself, UPDATE ... FROM, self-referencing subqueries),
# DELETE (point, ranges, USING, RETURNING), TRUNCATE; SELECTs with point,
# IN and = ANY lists (with NULLs), cross-type integer values, <, <=, >, >=,
# BETWEEN [SYMMETRIC], LIKE 'prefix%' with escapes and ESCAPE clauses, ^@,
# non-C collations, ORDER BY key [DESC] with LIMIT/OFFSET, aggregates,
# GROUP BY, UNION, window functions, joins / LATERAL / correlated
# subqueries with a heap table, self-joins; cursors interleaved with
# writes; prepared statements with generic plans; writable CTEs; planner
# settings toggled; transactions with nested SAVEPOINT / ROLLBACK TO /
# RELEASE / ROLLBACK / COMMIT and errors inside them; lsm_fdw_flush() now
# and then, lsm_fdw_verify() and full-table checksums at the end of every
# chunk.  The stream is cut into chunks, each run by fresh sessions; odd
# chunks run with psql's ON_ERROR_ROLLBACK; between chunks the server is
# left running, restarted, or stopped in immediate mode and restarted.
# Before the stream, EXPLAIN checks that the access paths it means to reach
# (point get, multi-get, ranges, prefixes, reverse order, parameterized
# joins) are used.
#
# LSM_TEST_SEED replays a run; LSM_DIFF_STATEMENTS sets the number of
# statements (default 6000; about 10 s on 2 idle cores).  The scripts both
# sessions ran, their outputs and the setup are kept in tmp_check as
# diff_setup.sql and diff_chunk<N>_{l,h}.{sql,out}.  LSM_DIFF_SKIP=a,b
# leaves statement classes out, to look past a known mismatch: a class is
# named in the mismatch report; besides those, "bigtx" keeps the writes of
# each transaction statement to a few rows, "cursor", "prepared",
# "truncate", "flush", "analyze" drop those groups and "donothing" drops
# ON CONFLICT DO NOTHING from multi-row INSERTs.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes ();
use Encode ();

$ENV{PGCLIENTENCODING} = 'UTF8';

my $t_start = Time::HiRes::time();
my $seed = $ENV{LSM_TEST_SEED} // (int(Time::HiRes::time() * 1000) ^ ($$ << 12)) % 2**31;
srand($seed);
diag("seed $seed (replay with LSM_TEST_SEED=$seed)");
my $nstmts = $ENV{LSM_DIFF_STATEMENTS} // 6000;
my %skip = map { $_ => 1 } grep { length } split /[\s,]+/, ($ENV{LSM_DIFF_SKIP} // '');

# ---------------------------------------------------------------------------
# Random helpers

sub R      { int(rand($_[0])) }
sub ri     { $_[0] + int(rand($_[1] - $_[0] + 1)) }
sub pick   { $_[ R(scalar @_) ] }
sub chance { rand() < $_[0] }

# Weighted choice among name => weight pairs.
sub wpick
{
	my @p = @_;
	my $total = 0;
	for (my $i = 1; $i < @p; $i += 2) { $total += $p[$i]; }
	my $r = rand($total);
	for (my $i = 0; $i < @p; $i += 2)
	{
		return $p[$i] if ($r -= $p[ $i + 1 ]) < 0;
	}
	return $p[-2];
}

sub lit
{
	my $s = shift;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# ---------------------------------------------------------------------------
# Value domains

my @int8_extremes = ('-9223372036854775808', '9223372036854775807', '-9223372036854775807',
	'9223372036854775806', -1, 0, 1, 127, 128, 255, 256, -255, -256, 65535, 65536,
	2147483647, 2147483648, -2147483648, -2147483649, 4294967296);

# Keys the stream inserted, so that point statements often hit a row.
my (@iseen, @tseen, @cseen);

sub remember
{
	my ($pool, @v) = @_;
	for my $v (@v)
	{
		if (@$pool < 3000) { push @$pool, $v; }
		else { $pool->[ R(3000) ] = $v; }
	}
}

# Keys of the int8 table: a dense main region, a region that range key
# changes move rows to and back (+-10000), negated keys, and extremes.
sub ikey
{
	return pick(@iseen) if @iseen && chance(0.35);
	my $r = rand();
	return pick(@int8_extremes) if $r < 0.03;
	return ri(9700, 13300) if $r < 0.13;
	return ri(-3300, -1) if $r < 0.16;
	return ri(-300, 3300);
}

# Base of a range in the main or the moved region; never an extreme.
sub ibase { chance(0.85) ? ri(-350, 3300) : ri(9650, 13300) }
sub iwidth { pick(0, 1, 2, 3, 10, 30, 50, 100, 200, 400, 1000, 5000) }
sub fits_int4 { my $v = shift; $v >= -2147483648 && $v <= 2147483647 }
sub fits_int2 { my $v = shift; $v >= -32768 && $v <= 32767 }

# Characters of text keys, in no particular order; 'M' is reserved as the
# prefix key-changing UPDATEs add and remove, so no generated key starts
# with it.  No 'T', 'B', 'L' (the table placeholder is TBL_x).
my @tchars = (('a') x 10, ('b') x 8, ('c') x 5, 'd', 'z', '0', '1', '9', '_', '%',
	'\\', "'", ' ', '~', '-', '.', '/', 'é', 'ÿ', 'ž', '€', '𝄞', 'A', 'Z');

sub tstr
{
	my ($min, $max) = @_;
	my $len = ri($min, $max);
	return join('', map { pick(@tchars) } 1 .. $len);
}

sub tkey
{
	return pick(@tseen) if @tseen && chance(0.35);
	return '' if chance(0.02);
	return tstr(1, 5);
}

# A LIKE pattern: mostly a fixed (escaped) prefix followed by a wildcard,
# sometimes raw characters (so '_' and '%' act as wildcards), an ESCAPE
# clause, or a pattern without wildcards.  Never ends in a lone escape.
sub like_pattern
{
	my $no_clause = shift;    # no ESCAPE clause (for parameters)
	my $prefix = tstr(0, 3);
	my $mode = $no_clause ? wpick(esc => 3, raw => 1) : wpick(esc => 6, raw => 2, hash => 1, noesc => 1);
	my $tail = pick('%', '%', '%', '_%', '%a', '', '_', '%%');
	my ($pat, $clause);
	if ($mode eq 'esc')
	{
		(my $e = $prefix) =~ s/([\\%_])/\\$1/g;
		$pat = $e . $tail;
		$clause = '';
	}
	elsif ($mode eq 'hash')
	{
		(my $e = $prefix) =~ s/([#%_])/#$1/g;
		$pat = $e . $tail;
		$clause = " ESCAPE '#'";
	}
	elsif ($mode eq 'noesc')
	{
		$pat = $prefix . $tail;
		$clause = " ESCAPE ''";
	}
	else
	{
		$pat = $prefix . $tail;
		$clause = '';
	}
	# A trailing odd run of backslashes would be an escape of nothing.
	if ($clause eq '' && $pat =~ /(\\+)$/ && length($1) % 2 == 1)
	{
		$pat .= '%';
	}
	return lit($pat) . $clause;
}

sub small_n { chance(0.1) ? 'NULL' : ri(-5, 20) }

# A payload: pay(seed, n) is 32n bytes of md5 hex, so rows are a few
# hundred bytes; sometimes short literals or NULL.
sub payload_expr
{
	my $keyexpr = shift;    # SQL text of the key, or undef
	my $r = rand();
	return 'NULL' if $r < 0.04;
	return lit('s' . R(1000)) if $r < 0.10;
	my $salt = R(100000);
	my $n = ri(3, 16);
	return defined $keyexpr ? "pay($keyexpr || '/$salt', $n)" : "pay('$salt', $n)";
}

my $has_icu = 0;        # set once the cluster runs

# LSM_DIFF_SKIP=bigtx: transactions write only a few rows per statement
# (point and IN-list writes), so that a transaction's own index of its
# writes stays small.
our $small_tx = 0;
our $narrow = 0;        # predicates of point/IN-list form only
our $in_tx = 0;         # no COPY FROM STDIN in transactions: in an aborted
                        # one psql would read its data as SQL
my $small_kinds = qr/^(sel|sel_order|sel_agg|sel_group|sel_icu_order|exists|join|lateral|corr|selfjoin|union|window|ins_one|ins_multi|ins_null|upd_val|upd_n|upd_null|upd_key|upd_keynull|del|overflow|upd_selfref|ins_join)$/;

# ---------------------------------------------------------------------------
# Statements.  Each is [sql, ordered, class, COPY data]; ordered means the
# query orders by the full key and results compare exactly; TBL_int,
# TBL_txt, TBL_cmp, TBL_ovr stand for the lsm_fdw (l_*) or heap (h_*)
# table; see side_sql.

my $uniq = 0;           # cursor, prepared statement and savepoint names

sub S { my ($sql, $ord, $cls, $data) = @_; return [ $sql, $ord ? 1 : 0, $cls, $data ]; }

# COPY ... FROM STDIN of up to 150 rows (text format), with a duplicate key
# now and then; keygen returns the key column values of a row.
sub copy_field
{
	my $v = shift;
	return '\\N' unless defined $v;
	$v =~ s/\\/\\\\/g;
	return $v;
}

sub hexpay { join('', map { sprintf('%08x', R(4294967296)) } 1 .. ri(12, 120)) }

sub copy_stmt
{
	my ($t, $cols, $keygen) = @_;
	my @rows = map { [ $keygen->() ] } 1 .. ri(1, 150);
	push @rows, [ @{ pick(@rows) } ] if chance(0.2);
	my $data = join('', map {
			join("\t", (map { copy_field($_) } @$_), copy_field(chance(0.05) ? undef : hexpay()),
				copy_field(chance(0.1) ? undef : ri(-5, 20))) . "\n"
	} @rows);
	return S("COPY TBL_$t ($cols, v, n) FROM STDIN", 0, "${t}_copy", $data);
}

# ---- int8 key table -------------------------------------------------------

sub int_range_pred
{
	my $a = ibase();
	my $b = $a + iwidth();
	return pick("k BETWEEN $a AND $b", "k >= $a AND k < $b", "k > $a AND k <= $b",
		"$a < k AND $b >= k", "k > $a AND k < $b", "k BETWEEN SYMMETRIC $b AND $a",
		"k >= $a", "k > $a", "k < $b", "k <= $b");
}

sub int_list
{
	my $n = ri(1, 8);
	my @l = map { chance(0.3) ? ibase() + R(5) : ikey() } 1 .. $n;
	push @l, $l[0] if chance(0.2);
	return @l;
}

sub int_pred
{
	my $form = wpick(eq => 10, eqc => 3, cross => 4, in => 6, any => 5, range => 20,
		rangef => 4, or => 3, ne => 2, sub => 2, numeric => 1, twolow => 2, not => 1,
		contra => 1, edge => 4, null => 2, all => 3, empty => 1);
	$form = pick('eq', 'in', 'any') if $narrow;
	my $k = ikey();
	if ($form eq 'eq') { return "k = $k"; }
	if ($form eq 'eqc') { return "$k = k"; }
	if ($form eq 'cross')
	{
		return "k = ${k}::int2" if fits_int2($k) && chance(0.5);
		return "k = ${k}::int4" if fits_int4($k);
		return "k = '$k'";
	}
	if ($form eq 'in') { return "k IN (" . join(', ', int_list()) . ")"; }
	if ($form eq 'any')
	{
		my @l = int_list();
		push @l, 'NULL' if chance(0.3);
		if (chance(0.3) && !grep { $_ ne 'NULL' && !fits_int4($_) } @l)
		{
			return "k = ANY(ARRAY[" . join(', ', @l) . "]::int4[])";
		}
		return "k = ANY(ARRAY[" . join(', ', @l) . "]::int8[])";
	}
	if ($form eq 'empty') { return "k = ANY('{}'::int8[])"; }
	if ($form eq 'range') { return int_range_pred(); }
	if ($form eq 'rangef')
	{
		return int_range_pred() . pick(' AND n = 3', ' AND n IS NULL', ' AND v IS NOT NULL',
			' AND n > 5', ' AND length(v) > 200');
	}
	if ($form eq 'or') { return "(k = $k OR " . int_range_pred() . ")"; }
	if ($form eq 'ne') { return "k <> $k AND " . int_range_pred(); }
	if ($form eq 'sub')
	{
		my $a = ibase();
		return "k IN (SELECT id FROM j WHERE id BETWEEN $a AND " . ($a + iwidth()) . ")";
	}
	if ($form eq 'numeric') { return "k < " . (ibase() + 0.5) . " AND k > " . (ibase() - 100.5); }
	if ($form eq 'twolow')
	{
		my $a = ibase();
		return "k > $a AND k >= " . ($a + ri(-5, 5)) . " AND k < " . ($a + iwidth());
	}
	if ($form eq 'not') { my $a = ibase(); return "NOT (k < $a) AND k < " . ($a + iwidth()); }
	if ($form eq 'contra') { my $a = ibase(); return "k = $a AND k = " . pick($a, $a + 1); }
	if ($form eq 'edge')
	{
		return pick('k > 9223372036854775807', 'k >= 9223372036854775807',
			'k > 9223372036854775806', 'k <= 9223372036854775807', 'k < -9223372036854775808',
			'k <= -9223372036854775808', 'k >= -9223372036854775808 AND k < -1',
			'k > 2147483647', 'k >= 65535 AND k <= 4294967296', 'k < -2147483648',
			'k > -1 AND k < 1', 'k >= -256 AND k <= 256', 'k = 9223372036854775807',
			'k = -9223372036854775808', 'k < 0', 'k >= 0 AND k < 100',
			'k > 32767::int2', 'k < (-32768)::int2', 'k BETWEEN 9223372036854775000 AND 9223372036854775807');
	}
	if ($form eq 'null') { return pick('k = NULL', 'k IN (NULL)', 'k > NULL', 'k IS NULL', 'k IS NOT NULL AND k < 0'); }
	return 'true';
}

sub int_row_values
{
	my $k = shift;
	return "($k, " . payload_expr(undef) . ", " . small_n() . ")";
}

# gen_int also serves the table with on_duplicate 'overwrite' (TBL_ovr),
# whose heap twin turns plain INSERTs into upserts.
our $itab = 'TBL_int';

sub gen_ovr
{
	local $itab = 'TBL_ovr';
	my $s = gen_int();
	$s->[2] =~ s/^int_/ovr_/;
	$s->[2] = 'ovr_donothing' if $s->[0] =~ /^INSERT INTO TBL_ovr.*ON CONFLICT DO NOTHING/ && $s->[2] ne 'selfref';
	return $s;
}

sub gen_int
{
	my $kind = wpick(sel => 14, sel_order => 10, sel_agg => 6, sel_group => 2, exists => 1,
		join => 3, lateral => 1, corr => 1, selfjoin => 1, union => 1, window => 1,
		ins_one => 10, ins_multi => 5, ins_bulk => 6, ins_self => 2, ins_null => 1,
		upd_val => 7, upd_n => 3, upd_null => 1, upd_key => 4, upd_shift => 3, upd_neg => 1,
		upd_same => 1, upd_keynull => 1, upd_from => 1, upd_selfref => 1, ins_join => 1,
		del => 5, del_using => 1, del_sub => 1, cte => 1, cte_snap => 1, del_all => 0.05, copy => 1);
	return gen_int() if ($small_tx && $kind !~ $small_kinds) || ($in_tx && $kind eq 'copy');
	local $narrow = ($small_tx && $kind =~ /^(upd|del)/) || ($kind eq 'del' && chance(0.7));
	my $T = $itab;
	my $ret = chance(0.25);
	if ($kind eq 'sel') { return S("SELECT k, md5(v), n FROM $T WHERE " . int_pred(), 0, 'int_sel'); }
	if ($kind eq 'sel_order')
	{
		my $sql = "SELECT k, md5(v), n FROM $T WHERE " . int_pred() . " ORDER BY k" . pick('', ' DESC', ' ASC');
		$sql .= " LIMIT " . pick(0, 1, 2, 5, 20, 100) if chance(0.7);
		$sql .= " OFFSET " . pick(1, 3, 10) if chance(0.15);
		return S($sql, 1, 'int_order');
	}
	if ($kind eq 'sel_agg')
	{
		return S("SELECT count(*), sum(k), min(k), max(k), count(v), sum(length(v)), sum(n), "
			  . "md5(string_agg(k::text || ':' || coalesce(md5(v), '-'), ',' ORDER BY k)) FROM $T WHERE "
			  . int_pred(), 0, 'int_agg');
	}
	if ($kind eq 'sel_group')
	{
		return S("SELECT n, count(*), min(k), max(k), sum(length(v)) FROM $T WHERE " . int_pred() . " GROUP BY n",
			0, 'int_group');
	}
	if ($kind eq 'exists') { return S("SELECT EXISTS (SELECT 1 FROM $T WHERE k = " . ikey() . ")", 0, 'int_exists'); }
	if ($kind eq 'join')
	{
		my $a = ibase();
		my $b = $a + iwidth();
		return S(pick(
				"SELECT j.id, t.n, md5(t.v) FROM j JOIN $T t ON t.k = j.id WHERE j.id BETWEEN $a AND $b",
				"SELECT j.id, t.k IS NOT NULL, t.n FROM j LEFT JOIN $T t ON t.k = j.id WHERE j.a = " . ri(-3, 11) . " AND j.id < $b",
				"SELECT count(*), sum(t.n), sum(j.a) FROM $T t JOIN j ON j.id = t.k WHERE t.k BETWEEN $a AND $b",
				"SELECT t.k, j.name FROM $T t JOIN j ON j.id = t.k + 1 WHERE " . int_pred(),
				"SELECT j.id FROM j WHERE j.id BETWEEN $a AND $b AND NOT EXISTS (SELECT 1 FROM $T t WHERE t.k = j.id)",
				"SELECT t.k, t.n FROM $T t WHERE t.k IN (SELECT id FROM j WHERE a = " . ri(-3, 11) . ") AND t.k < $b"),
			0, 'int_join');
	}
	if ($kind eq 'lateral')
	{
		my $a = ibase();
		return S("SELECT j.id, x.k, x.n FROM j CROSS JOIN LATERAL (SELECT k, n FROM $T WHERE k >= j.id ORDER BY k"
			  . pick('', ' DESC') . " LIMIT 2) x WHERE j.id BETWEEN $a AND " . ($a + ri(0, 60)), 0, 'int_lateral');
	}
	if ($kind eq 'corr')
	{
		my $a = ibase();
		return S("SELECT j.id, (SELECT n FROM $T t WHERE t.k = j.id), (SELECT count(*) FROM $T t WHERE t.k BETWEEN j.id AND j.id + 5) "
			  . "FROM j WHERE j.id BETWEEN $a AND " . ($a + ri(0, 100)), 0, 'int_corr');
	}
	if ($kind eq 'selfjoin')
	{
		my $a = ibase();
		return S("SELECT t1.k, t2.k, t2.n FROM $T t1 JOIN $T t2 ON t2.k = t1.k + " . pick(1, 2, 10000)
			  . " WHERE t1.k BETWEEN $a AND " . ($a + iwidth()), 0, 'int_selfjoin');
	}
	if ($kind eq 'union')
	{
		return S("SELECT k FROM $T WHERE " . int_pred() . " UNION " . pick('', 'ALL ')
			  . "SELECT k FROM $T WHERE " . int_pred(), 0, 'int_union');
	}
	if ($kind eq 'window')
	{
		return S("SELECT k, lag(k) OVER (ORDER BY k), row_number() OVER (ORDER BY k DESC) FROM $T WHERE "
			  . int_range_pred(), 0, 'int_window');
	}
	if ($kind eq 'ins_one')
	{
		my $k = ikey();
		remember(\@iseen, $k);
		my $sql = "INSERT INTO $T (k, v, n) VALUES " . int_row_values($k);
		$sql .= " ON CONFLICT DO NOTHING" if chance(0.4);
		$sql .= " RETURNING k, n" if $ret;
		return S($sql, 0, 'int_ins');
	}
	if ($kind eq 'ins_multi')
	{
		my @k = map { chance(0.5) ? ibase() + R(3) : ikey() } 1 .. ri(2, 8);
		if ($T eq 'TBL_ovr')
		{
			# The heap twin's upsert may not touch a row twice (21000).
			my %u;
			@k = grep { !$u{$_}++ } @k;
		}
		elsif (chance(0.25))
		{
			push @k, pick(@k);
		}
		remember(\@iseen, @k);
		my $sql = "INSERT INTO $T VALUES " . join(', ', map { int_row_values($_) } @k);
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.5);
		$sql .= " RETURNING k" if $ret;
		return S($sql, 0, 'int_ins_multi');
	}
	if ($kind eq 'ins_bulk')
	{
		my $a = ibase();
		my $b = $a + ri(1, 250);
		my $step = pick(1, 1, 1, 2, 3, 7);
		my $salt = R(100000);
		remember(\@iseen, map { $a + $step * R(int(($b - $a) / $step) + 1) } 1 .. 5);
		my $sql = "INSERT INTO $T SELECT g, pay(g::text || '/$salt', " . ri(4, 14) . "), g % 13 "
		  . "FROM generate_series($a, $b, $step) g";
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.85);
		return S($sql, 0, 'int_ins_bulk');
	}
	if ($kind eq 'ins_self')
	{
		my $a = ibase();
		my $d = pick(1, 2, 5, 100);
		my $sql = "INSERT INTO $T SELECT k + $d, v, n FROM $T WHERE k BETWEEN $a AND " . ($a + iwidth());
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.8);
		return S($sql, 0, 'int_ins_self');
	}
	if ($kind eq 'ins_null') { return S("INSERT INTO $T VALUES (NULL, 'x', 1)", 0, 'int_ins_null'); }
	if ($kind eq 'upd_val')
	{
		my $sql = "UPDATE $T SET v = " . payload_expr('k::text') . ", n = coalesce(n, 0) + 1 WHERE " . int_pred();
		$sql .= " RETURNING k, n, md5(v)" if $ret;
		return S($sql, 0, 'int_upd');
	}
	if ($kind eq 'upd_n')
	{
		return S("UPDATE $T SET n = (coalesce(n, 0) + " . ri(1, 9) . ") % 50 WHERE " . int_pred()
			  . ($ret ? " RETURNING k, n" : ''), 0, 'int_upd');
	}
	if ($kind eq 'upd_null') { return S("UPDATE $T SET v = NULL WHERE " . int_pred(), 0, 'int_upd'); }
	if ($kind eq 'upd_key')
	{
		my $old = chance(0.7) ? ibase() : ikey();
		my $new = chance(0.1) ? $old : ikey();
		remember(\@iseen, $new);
		return S("UPDATE $T SET k = $new WHERE k = $old" . ($ret ? " RETURNING k, n, md5(v)" : ''), 0, 'int_upd_key');
	}
	if ($kind eq 'upd_shift')
	{
		# Moved rows never land in the moving range: no order dependence.
		my $w = pick(0, 1, 5, 20, 100, 300);
		my ($a, $d) = chance(0.6) ? (ri(-350, 3300), 10000) : (ri(9650, 13300), -10000);
		return S("UPDATE $T SET k = k + $d WHERE k BETWEEN $a AND " . ($a + $w)
			  . pick('', '', ' AND n > 3', ' AND n IS NOT NULL') . ($ret ? " RETURNING k" : ''), 0, 'int_upd_shift');
	}
	if ($kind eq 'upd_neg')
	{
		my $a = ri(1, 3300);
		return S("UPDATE $T SET k = -k WHERE k BETWEEN $a AND " . ($a + pick(0, 3, 30, 200)), 0, 'int_upd_shift');
	}
	if ($kind eq 'upd_same') { return S("UPDATE $T SET k = k, n = 7 WHERE " . int_range_pred(), 0, 'int_upd_same'); }
	if ($kind eq 'upd_keynull') { return S("UPDATE $T SET k = NULL WHERE k = " . ibase(), 0, 'int_upd_keynull'); }
	if ($kind eq 'upd_from')
	{
		my $a = ibase();
		return S("UPDATE $T t SET n = j.a FROM j WHERE t.k = j.id AND j.id BETWEEN $a AND " . ($a + iwidth())
			  . ($ret ? " RETURNING t.k, t.n" : ''), 0, 'int_upd_from');
	}
	if ($kind eq 'upd_selfref')
	{
		my $a = ibase();
		return S("UPDATE $T SET n = coalesce((SELECT max(t2.n) FROM $T t2 WHERE t2.k BETWEEN $T.k - 3 AND $T.k - 1), -1) + 1 "
			  . "WHERE k BETWEEN $a AND " . ($a + pick(2, 10, 50)), 0, 'selfref');
	}
	if ($kind eq 'ins_join')
	{
		# The join's lsm side must not see the rows this statement inserts.
		my $a = ibase();
		return S("INSERT INTO $T SELECT t.k + 3, t.v, t.n FROM j JOIN $T t ON t.k = j.id WHERE j.id BETWEEN $a AND "
			  . ($a + ($small_tx ? 30 : pick(10, 100, 300))) . " ON CONFLICT DO NOTHING", 0, 'selfref');
	}
	if ($kind eq 'del')
	{
		return S("DELETE FROM $T WHERE " . int_pred() . ($ret ? " RETURNING k, n, md5(v)" : ''), 0, 'int_del');
	}
	if ($kind eq 'del_using')
	{
		return S("DELETE FROM $T t USING j WHERE t.k = j.id AND j.a = " . ri(-3, 11) . " AND j.id BETWEEN "
			  . ibase() . " AND " . (ibase() + 400), 0, 'int_del_using');
	}
	if ($kind eq 'del_sub')
	{
		return S("DELETE FROM $T WHERE k IN (SELECT k FROM $T WHERE k > " . ibase() . " ORDER BY k LIMIT " . ri(1, 10)
			  . ")", 0, 'int_del_sub');
	}
	if ($kind eq 'cte')
	{
		return S("WITH d AS (DELETE FROM $T WHERE " . int_pred() . " RETURNING k, n) SELECT count(*), sum(k), sum(n) FROM d",
			0, 'int_cte');
	}
	if ($kind eq 'cte_snap')
	{
		my $a = ibase();
		return S("WITH u AS (UPDATE $T SET n = 1000 WHERE k BETWEEN $a AND " . ($a + iwidth())
			  . " RETURNING k) SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM $T WHERE n = 1000)", 0, 'cte_snap');
	}
	if ($kind eq 'del_all') { return S("DELETE FROM $T", 0, 'int_del'); }
	if ($kind eq 'copy' && $T ne 'TBL_ovr')
	{
		my $a = ibase();
		return copy_stmt('int', 'k', sub { chance(0.7) ? $a++ : ikey() });
	}
	return gen_int() if $kind eq 'copy';
	die "int kind $kind";
}

# ---- text key table -------------------------------------------------------

sub txt_bounds
{
	my ($x, $y) = sort { $a cmp $b } (tkey(), tkey());
	return ($x, $y);
}

sub txt_range_pred
{
	my ($x, $y) = txt_bounds();
	my ($lx, $ly) = (lit($x), lit($y));
	return pick("k BETWEEN $lx AND $ly", "k >= $lx AND k < $ly", "k > $lx AND k <= $ly",
		"k > $lx", "k >= $lx", "k < $ly", "k <= $ly", "$lx < k AND k < $ly");
}

sub txt_pred
{
	my $form = wpick(eq => 10, varchar => 2, in => 5, any => 4, range => 14, like => 14,
		startsw => 6, likerange => 2, notlike => 1, localonly => 3, icu => 2, edge => 3,
		null => 1, all => 2, or => 2);
	$form = pick('eq', 'in', 'any') if $narrow;
	my $k = lit(tkey());
	if ($form eq 'eq') { return pick("k = $k", "$k = k"); }
	if ($form eq 'varchar') { return "k = $k" . "::varchar"; }
	if ($form eq 'in') { return "k IN (" . join(', ', map { lit(tkey()) } 1 .. ri(1, 6)) . ")"; }
	if ($form eq 'any')
	{
		my @l = map { lit(tkey()) } 1 .. ri(1, 6);
		push @l, $l[0] if chance(0.2);
		push @l, 'NULL' if chance(0.3);
		return "k = ANY(ARRAY[" . join(', ', @l) . "]::text[])";
	}
	if ($form eq 'range') { return txt_range_pred(); }
	if ($form eq 'like') { return "k LIKE " . like_pattern(); }
	if ($form eq 'startsw') { return "k ^@ " . lit(tstr(0, 3)); }
	if ($form eq 'likerange') { return "k LIKE " . like_pattern() . " AND " . txt_range_pred(); }
	if ($form eq 'notlike') { return "k NOT LIKE " . like_pattern() . " AND " . txt_range_pred(); }
	if ($form eq 'localonly')
	{
		return pick("starts_with(k, " . lit(tstr(1, 2)) . ")", "length(k) = " . ri(0, 4),
			"k || '' = $k", "k ILIKE " . lit(tstr(1, 2) . '%'), "k ~ " . lit('^' . pick('a', 'b', 'ab', 'c')),
			"k COLLATE \"POSIX\" > $k");
	}
	if ($form eq 'icu' && $has_icu)
	{
		my ($x, $y) = txt_bounds();
		return "k COLLATE \"und-x-icu\" BETWEEN " . lit($x) . " AND " . lit($y);
	}
	if ($form eq 'edge')
	{
		return pick("k = ''", "k >= ''", "k > ''", "k < ''", "k <= ''", "k ^@ ''", "k LIKE ''", "k LIKE '%'",
			"k > 'ÿ'", "k ^@ 'ÿ'", "k LIKE 'é%'", "k >= '𝄞'", "k < 'a'", "k ^@ '\\'", "k LIKE '\\\\%'",
			"k LIKE 'a\\%%'", "k LIKE '\\_%'");
	}
	if ($form eq 'null') { return pick("k = NULL", "k IS NULL", "k LIKE NULL", "k ^@ NULL", "k > NULL"); }
	if ($form eq 'or') { return "(k = $k OR k LIKE " . like_pattern() . ")"; }
	return 'true';
}

sub txt_row_values
{
	my $k = shift;
	return "(" . lit($k) . ", " . payload_expr(undef) . ", " . small_n() . ")";
}

sub gen_txt
{
	my $kind = wpick(sel => 14, sel_order => 10, sel_agg => 5, sel_icu_order => 1, join => 3,
		lateral => 1, ins_one => 10, ins_multi => 5, ins_bulk => 6, ins_null => 1, upd_val => 7,
		upd_key => 4, upd_m => 2, upd_unm => 2, upd_same => 1, del => 5, cte => 1, upd_selfref => 0.5, copy => 1);
	return gen_txt() if ($small_tx && $kind !~ $small_kinds) || ($in_tx && $kind eq 'copy');
	local $narrow = ($small_tx && $kind =~ /^(upd|del)/) || ($kind eq 'del' && chance(0.7));
	my $T = 'TBL_txt';
	my $ret = chance(0.25);
	if ($kind eq 'sel') { return S("SELECT k, md5(v), n FROM $T WHERE " . txt_pred(), 0, 'txt_sel'); }
	if ($kind eq 'sel_order')
	{
		my $sql = "SELECT k, md5(v), n FROM $T WHERE " . txt_pred() . " ORDER BY k" . pick('', ' DESC');
		$sql .= " LIMIT " . pick(0, 1, 2, 5, 20, 100) if chance(0.7);
		$sql .= " OFFSET " . pick(1, 3, 10) if chance(0.15);
		return S($sql, 1, 'txt_order');
	}
	if ($kind eq 'sel_icu_order' && $has_icu)
	{
		return S("SELECT k FROM $T WHERE " . txt_pred() . " ORDER BY k COLLATE \"und-x-icu\"" . pick('', ' DESC')
			  . " LIMIT " . pick(5, 50), 1, 'txt_icu_order');
	}
	if ($kind eq 'sel_agg' || $kind eq 'sel_icu_order')
	{
		return S("SELECT count(*), min(k), max(k), sum(length(k)), sum(n), md5(string_agg(k, '|' ORDER BY k)), "
			  . "md5(string_agg(coalesce(md5(v), '-'), ',' ORDER BY k)) FROM $T WHERE " . txt_pred(), 0, 'txt_agg');
	}
	if ($kind eq 'join')
	{
		return S(pick(
				"SELECT j.id, t.k, t.n FROM j JOIN $T t ON t.k = j.t WHERE j.id BETWEEN " . ibase() . " AND " . (ibase() + 300),
				"SELECT t.k, j.id FROM $T t JOIN j ON j.t = t.k WHERE " . txt_pred(),
				"SELECT count(*) FROM j LEFT JOIN $T t ON t.k = j.t WHERE t.k IS NULL AND j.a = " . ri(-3, 11),
				"SELECT t.k FROM $T t WHERE t.k IN (SELECT j.t FROM j WHERE j.a = " . ri(-3, 11) . ")"),
			0, 'txt_join');
	}
	if ($kind eq 'lateral')
	{
		return S("SELECT j.id, x.k FROM j CROSS JOIN LATERAL (SELECT k FROM $T WHERE k > j.t ORDER BY k LIMIT 1) x "
			  . "WHERE j.a = " . ri(-3, 11) . " AND j.id < " . ibase(), 0, 'txt_lateral');
	}
	if ($kind eq 'ins_one')
	{
		my $k = tkey();
		remember(\@tseen, $k);
		my $sql = "INSERT INTO $T VALUES " . txt_row_values($k);
		$sql .= " ON CONFLICT DO NOTHING" if chance(0.4);
		$sql .= " RETURNING k" if $ret;
		return S($sql, 0, 'txt_ins');
	}
	if ($kind eq 'ins_multi')
	{
		my @k = map { tkey() } 1 .. ri(2, 8);
		push @k, pick(@k) if chance(0.25);
		remember(\@tseen, @k);
		my $sql = "INSERT INTO $T VALUES " . join(', ', map { txt_row_values($_) } @k);
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.5);
		return S($sql, 0, 'txt_ins_multi');
	}
	if ($kind eq 'ins_bulk')
	{
		my $pr = tstr(0, 3);
		my $p = lit($pr);
		my $a = ri(0, 500);
		my $b = $a + ri(1, 200);
		my $salt = R(100000);
		remember(\@tseen, map { $pr . ri($a, $b) } 1 .. 5);
		my $sql = "INSERT INTO $T SELECT $p || g::text, pay(g::text || '/$salt', " . ri(4, 14) . "), g % 11 "
		  . "FROM generate_series($a, $b) g";
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.85);
		return S($sql, 0, 'txt_ins_bulk');
	}
	if ($kind eq 'ins_null') { return S("INSERT INTO $T VALUES (NULL, 'x', 1)", 0, 'txt_ins_null'); }
	if ($kind eq 'upd_val')
	{
		return S("UPDATE $T SET v = " . payload_expr('k') . ", n = coalesce(n, 0) + 1 WHERE " . txt_pred()
			  . ($ret ? " RETURNING k, n" : ''), 0, 'txt_upd');
	}
	if ($kind eq 'upd_key')
	{
		my $old = lit(tkey());
		my $new = chance(0.1) ? $old : lit(tkey());
		remember(\@tseen, substr($new, 1, -1) =~ s/''/'/gr);
		return S("UPDATE $T SET k = $new WHERE k = $old" . ($ret ? " RETURNING k, n" : ''), 0, 'txt_upd_key');
	}
	if ($kind eq 'upd_m')
	{
		# Into the 'M' namespace and back: never onto a row being moved.
		return S("UPDATE $T SET k = 'M' || k WHERE k NOT LIKE 'M%' AND " . pick(txt_range_pred(), "k LIKE " . like_pattern(),
				"k ^@ " . lit(tstr(1, 2))), 0, 'txt_upd_shift');
	}
	if ($kind eq 'upd_unm')
	{
		return S("UPDATE $T SET k = substr(k, 2) WHERE k ^@ 'M'"
			  . pick('', " AND k < 'Mb'", " AND k >= " . lit('M' . tstr(1, 2)), " AND k LIKE 'M%a%'")
			  . ($ret ? " RETURNING k" : ''), 0, 'txt_upd_shift');
	}
	if ($kind eq 'upd_same') { return S("UPDATE $T SET k = k, n = 8 WHERE " . txt_pred(), 0, 'txt_upd_same'); }
	if ($kind eq 'del') { return S("DELETE FROM $T WHERE " . txt_pred() . ($ret ? " RETURNING k, n" : ''), 0, 'txt_del'); }
	if ($kind eq 'cte')
	{
		return S("WITH d AS (DELETE FROM $T WHERE " . txt_pred() . " RETURNING k) SELECT count(*), min(k), max(k) FROM d",
			0, 'txt_cte');
	}
	if ($kind eq 'copy')
	{
		my $p = tstr(0, 2);
		my $g = R(300);
		return copy_stmt('txt', 'k', sub { chance(0.6) ? $p . $g++ : tkey() });
	}
	if ($kind eq 'upd_selfref')
	{
		return S("UPDATE $T SET n = (SELECT count(*) FROM $T t2 WHERE t2.k < $T.k AND t2.n = 8) WHERE " . txt_range_pred(),
			0, 'selfref');
	}
	return gen_txt();    # icu kinds without ICU
}

# ---- composite (int4, text) key table -------------------------------------

sub akey
{
	my $r = rand();
	return pick(-2147483648, 2147483647, 0) if $r < 0.03;
	return ri(97, 112) if $r < 0.1;
	return ri(-3, 12);
}
sub bkey { chance(0.03) ? '' : tstr(1, 3) }
sub cpair { @cseen && chance(0.4) ? @{ pick(@cseen) } : (akey(), bkey()) }

sub cmp_pred
{
	my $form = wpick(point => 10, multi => 5, prefix => 8, prefixrange => 8, prefixlike => 5,
		prefixsw => 3, arange => 6, bonly => 3, ain => 2, cross => 4, row => 2, or => 1, icu => 1,
		null => 1, all => 2, prefixrange2 => 2);
	$form = pick('point', 'multi') if $narrow;
	my ($ak, $bk) = cpair();
	$bk = lit($bk);
	if ($form eq 'point') { return pick("a = $ak AND b = $bk", "b = $bk AND a = $ak"); }
	if ($form eq 'multi')
	{
		my @l = map { lit(bkey()) } 1 .. ri(1, 6);
		push @l, 'NULL' if chance(0.2);
		return pick("a = $ak AND b IN (" . join(', ', @l) . ")", "a = $ak AND b = ANY(ARRAY[" . join(', ', @l) . "])");
	}
	if ($form eq 'prefix') { return "a = $ak"; }
	if ($form eq 'prefixrange')
	{
		my ($x, $y) = sort { $a cmp $b } (bkey(), bkey());
		return "a = $ak AND " . pick("b > " . lit($x), "b >= " . lit($x) . " AND b < " . lit($y),
			"b <= " . lit($y), "b BETWEEN " . lit($x) . " AND " . lit($y));
	}
	if ($form eq 'prefixrange2')
	{
		my ($x) = bkey();
		return "a = $ak AND b > " . lit($x) . " AND b ^@ " . lit(substr($x, 0, 1));
	}
	if ($form eq 'prefixlike') { return "a = $ak AND b LIKE " . like_pattern(); }
	if ($form eq 'prefixsw') { return "a = $ak AND b ^@ " . lit(tstr(0, 2)); }
	if ($form eq 'arange')
	{
		my $x = ri(-4, 12);
		my $y = $x + ri(0, 6);
		return pick("a BETWEEN $x AND $y", "a > $x", "a <= $y", "a >= $x AND a < $y", "a > 90",
			"a BETWEEN $x AND $y AND b < " . lit(bkey()));
	}
	if ($form eq 'bonly') { return pick("b = $bk", "b LIKE " . like_pattern(), "b > $bk"); }
	if ($form eq 'ain') { return pick("a IN ($ak, " . akey() . ")", "a IN ($ak, " . akey() . ") AND b = $bk"); }
	if ($form eq 'cross')
	{
		return pick("a = ${ak}::int8 AND b = $bk", "a = ${ak}::int8", "a < 3000000000", "a > 3000000000",
			"a = 3000000000", "a >= -3000000000 AND a < $ak", "a BETWEEN -5000000000 AND $ak",
			"a <= 2147483647::int8 AND a > 2147483646", "a = ${ak}::int2",
			"a = ANY(ARRAY[$ak, 3000000000]::int8[]) AND b = $bk", "a = -2147483648");
	}
	if ($form eq 'row') { return pick("(a, b) > ($ak, $bk)", "(a, b) IN (($ak, $bk), (" . akey() . ", " . lit(bkey()) . "))"); }
	if ($form eq 'or') { return "(a = $ak AND b = $bk OR a = " . akey() . ")"; }
	if ($form eq 'icu' && $has_icu)
	{
		return "a = $ak AND b COLLATE \"und-x-icu\" > $bk";
	}
	if ($form eq 'null') { return pick("a = $ak AND b = NULL", "a = NULL", "b IS NULL"); }
	return 'true';
}

sub cmp_row_values
{
	my ($a, $b) = @_;
	return "($a, " . lit($b) . ", " . payload_expr(undef) . ", " . small_n() . ")";
}

sub gen_cmp
{
	my $kind = wpick(sel => 14, sel_order => 10, sel_agg => 5, join => 3, ins_one => 10,
		ins_multi => 5, ins_bulk => 6, ins_null => 1, upd_val => 7, upd_key => 4, upd_shift => 3,
		upd_b => 2, upd_same => 1, del => 5, overflow => 0.3, copy => 1);
	return gen_cmp() if ($small_tx && $kind !~ $small_kinds) || ($in_tx && $kind eq 'copy');
	local $narrow = ($small_tx && $kind =~ /^(upd|del)/) || ($kind eq 'del' && chance(0.7));
	my $T = 'TBL_cmp';
	my $ret = chance(0.25);
	if ($kind eq 'sel') { return S("SELECT a, b, md5(v), n FROM $T WHERE " . cmp_pred(), 0, 'cmp_sel'); }
	if ($kind eq 'sel_order')
	{
		my $p = cmp_pred();
		my $desc = chance(0.5);
		my $ord = $desc ? " ORDER BY a DESC, b DESC" : " ORDER BY a, b";
		my $exact = 1;
		if ($p =~ /^a = -?\d+( AND|$)/ && $p !~ / OR /)
		{
			$ord = $desc ? " ORDER BY b DESC" : " ORDER BY b" if chance(0.5);
		}
		if (chance(0.1))
		{
			$ord = $desc ? " ORDER BY a DESC" : " ORDER BY a";    # not the full key
			$exact = 0;
		}
		my $sql = "SELECT a, b, md5(v), n FROM $T WHERE $p$ord";
		$sql .= " LIMIT " . pick(1, 2, 5, 20, 100) if $exact && chance(0.7);
		return S($sql, $exact, 'cmp_order');
	}
	if ($kind eq 'sel_agg')
	{
		return S(pick(
				"SELECT count(*), sum(a), min(b), max(b), sum(n), md5(string_agg(a::text || '/' || b || '/' || coalesce(md5(v), '-'), ',' ORDER BY a, b)) FROM $T WHERE "
				  . cmp_pred(),
				"SELECT a, count(*), min(b), max(b), sum(length(v)) FROM $T WHERE " . cmp_pred() . " GROUP BY a"),
			0, 'cmp_agg');
	}
	if ($kind eq 'join')
	{
		return S(pick(
				"SELECT j.id, c.b, c.n FROM j JOIN $T c ON c.a = j.a AND c.b = j.t WHERE j.id BETWEEN " . ibase() . " AND " . (ibase() + 500),
				"SELECT j.id, count(c.b) FROM j LEFT JOIN $T c ON c.a = j.a WHERE j.id BETWEEN " . ibase() . " AND " . (ibase() + 40) . " GROUP BY j.id",
				"SELECT c.a, c.b, j.id FROM (SELECT * FROM $T WHERE " . cmp_pred() . ") c JOIN j ON j.a = c.a AND j.t = c.b"),
			0, 'cmp_join');
	}
	if ($kind eq 'ins_one')
	{
		my @r = (akey(), bkey());
		remember(\@cseen, [@r]);
		my $sql = "INSERT INTO $T VALUES " . cmp_row_values(@r);
		$sql .= " ON CONFLICT DO NOTHING" if chance(0.4);
		$sql .= " RETURNING a, b" if $ret;
		return S($sql, 0, 'cmp_ins');
	}
	if ($kind eq 'ins_multi')
	{
		my @r = map { [ akey(), bkey() ] } 1 .. ri(2, 8);
		push @r, [ @{ pick(@r) } ] if chance(0.25);
		remember(\@cseen, @r);
		my $sql = "INSERT INTO $T VALUES " . join(', ', map { cmp_row_values(@$_) } @r);
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.5);
		return S($sql, 0, 'cmp_ins_multi');
	}
	if ($kind eq 'ins_bulk')
	{
		my $x = ri(-3, 12);
		my $y = $x + pick(0, 0, 1, 3);
		my $pr = tstr(0, 2);
		my $p = lit($pr);
		my $salt = R(100000);
		my $gmax = ri(1, 120);
		remember(\@cseen, map { [ ri($x, $y), $pr . R($gmax + 1) ] } 1 .. 5);
		my $sql = "INSERT INTO $T SELECT x, $p || g::text, pay(x::text || g::text || '/$salt', " . ri(4, 14) . "), g % 17 "
		  . "FROM generate_series($x, $y) x, generate_series(0, $gmax) g";
		$sql .= " ON CONFLICT DO NOTHING" if !$skip{donothing} && chance(0.85);
		return S($sql, 0, 'cmp_ins_bulk');
	}
	if ($kind eq 'ins_null')
	{
		return S(pick("INSERT INTO $T VALUES (1, NULL, 'x', 1)", "INSERT INTO $T VALUES (NULL, 'x', 'x', 1)"), 0, 'cmp_ins_null');
	}
	if ($kind eq 'upd_val')
	{
		return S("UPDATE $T SET v = " . payload_expr("a::text || b") . ", n = coalesce(n, 0) + 1 WHERE " . cmp_pred()
			  . ($ret ? " RETURNING a, b, n" : ''), 0, 'cmp_upd');
	}
	if ($kind eq 'upd_key')
	{
		my ($a, $b) = cpair();
		$b = lit($b);
		my $set = pick("a = " . akey(), "b = " . lit(bkey()), "a = " . akey() . ", b = " . lit(bkey()), "a = $a, b = $b");
		return S("UPDATE $T SET $set WHERE a = $a AND b = $b", 0, 'cmp_upd_key');
	}
	if ($kind eq 'upd_shift')
	{
		if (chance(0.6))
		{
			my $x = ri(-3, 12);
			return S("UPDATE $T SET a = a + 100 WHERE a BETWEEN $x AND " . ($x + pick(0, 0, 1, 4))
				  . pick('', " AND b LIKE " . like_pattern(), " AND b < " . lit(bkey())), 0, 'cmp_upd_shift');
		}
		my $x = ri(97, 112);
		return S("UPDATE $T SET a = a - 100 WHERE a BETWEEN $x AND " . ($x + pick(0, 1, 15))
			  . pick('', " AND b > " . lit(bkey())), 0, 'cmp_upd_shift');
	}
	if ($kind eq 'upd_b')
	{
		my $a = akey();
		return S(pick("UPDATE $T SET b = 'M' || b WHERE a = $a AND b NOT LIKE 'M%'" . pick('', " AND b < " . lit(bkey())),
				"UPDATE $T SET b = substr(b, 2) WHERE a = $a AND b ^@ 'M'"), 0, 'cmp_upd_shift');
	}
	if ($kind eq 'upd_same') { return S("UPDATE $T SET a = a, b = b, n = 9 WHERE " . cmp_pred(), 0, 'cmp_upd_same'); }
	if ($kind eq 'del') { return S("DELETE FROM $T WHERE " . cmp_pred() . ($ret ? " RETURNING a, b" : ''), 0, 'cmp_del'); }
	if ($kind eq 'overflow') { return S("UPDATE $T SET a = a + 1 WHERE a = 2147483647", 0, 'cmp_overflow'); }
	if ($kind eq 'copy')
	{
		my $x = ri(-3, 12);
		my $p = tstr(0, 2);
		my $g = R(100);
		return copy_stmt('cmp', 'a, b', sub { chance(0.7) ? ($x, $p . $g++) : cpair() });
	}
	die "cmp kind $kind";
}

# ---- blocks: single statements, transactions, cursors, prepared ----------

my %gen = (int => \&gen_int, txt => \&gen_txt, cmp => \&gen_cmp, ovr => \&gen_ovr);
my %range_pred = (int => \&int_range_pred, txt => \&txt_range_pred, cmp => sub { "a = " . ri(-3, 12) },
	ovr => \&int_range_pred);
my %cursor_sel = (
	int => [ 'k, md5(v), n', 'k' ],
	ovr => [ 'k, md5(v), n', 'k' ],
	txt => [ 'k, md5(v), n', 'k' ],
	cmp => [ 'a, b, md5(v), n', 'a, b' ]);

# One statement of the table, retried while its class is skipped.
sub one_stmt
{
	my $t = shift;
	for (1 .. 100)
	{
		my $s = $gen{$t}->();
		return $s unless $skip{ $s->[2] };
	}
	return S("SELECT 1", 0, 'noop');
}

sub full_check
{
	my $t = shift;
	my %agg = (
		int => "k::text || ':' || coalesce(md5(v), '-') || ':' || coalesce(n::text, '-')",
		ovr => "k::text || ':' || coalesce(md5(v), '-') || ':' || coalesce(n::text, '-')",
		txt => "k || ':' || coalesce(md5(v), '-') || ':' || coalesce(n::text, '-')",
		cmp => "a::text || '/' || b || ':' || coalesce(md5(v), '-') || ':' || coalesce(n::text, '-')");
	my $key = $cursor_sel{$t}[1];
	my $desc = join(', ', map { "$_ DESC" } split /, /, $key);
	return (S("SELECT count(*), md5(string_agg($agg{$t}, ',' ORDER BY $key)) FROM TBL_$t", 0, 'check'),
		S("SELECT count(*), md5(string_agg(x, ',')) FROM (SELECT $agg{$t} AS x FROM TBL_$t ORDER BY "
			  . (chance(0.5) ? $key : $desc) . ") s", 0, 'check'));
}

sub cursor_group
{
	my $t = shift;
	my $c = 'c' . ++$uniq;
	my ($cols, $key) = @{ $cursor_sel{$t} };
	$key = join(', ', map { "$_ DESC" } split /, /, $key) if chance(0.4);
	my @s = (S("DECLARE $c CURSOR FOR SELECT $cols FROM TBL_$t WHERE " . $range_pred{$t}->() . " ORDER BY $key", 0, 'cursor'));
	for (1 .. ri(1, 4))
	{
		push @s, S("FETCH " . pick(1, 3, 10, 50) . " FROM $c", 1, 'cursor');
		push @s, one_stmt($t) for 1 .. ri(0, 2);
	}
	push @s, S("FETCH ALL FROM $c", 1, 'cursor') if chance(0.5);
	push @s, S("CLOSE $c", 0, 'cursor');
	return @s;
}

sub prepared_group
{
	my $t = shift;
	$t = 'int' if $t eq 'ovr';
	my $p = 'p' . ++$uniq;
	my @s = (S("SET plan_cache_mode = " . pick('force_generic_plan', 'force_generic_plan', 'force_custom_plan', 'auto'), 0, 'prepared'));
	my ($def, $argf);
	if ($t eq 'int')
	{
		($def, $argf) = @{ pick(
				[ "(int8) AS SELECT k, md5(v), n FROM TBL_int WHERE k = \$1", sub { ikey() } ],
				[ "(int8, int8) AS SELECT k, n FROM TBL_int WHERE k >= \$1 AND k < \$2 ORDER BY k DESC LIMIT 20",
					sub { my $a = ibase(); "$a, " . ($a + iwidth()) } ],
				[ "(int8[]) AS SELECT k, n FROM TBL_int WHERE k = ANY(\$1)",
					sub { "ARRAY[" . join(', ', int_list()) . "]::int8[]" } ],
				[ "(int4, int8) AS UPDATE TBL_int SET n = \$1 WHERE k = \$2", sub { ri(0, 30) . ", " . ikey() } ],
				[ "(int8, int4) AS INSERT INTO TBL_int VALUES (\$1, 'p', \$2) ON CONFLICT DO NOTHING",
					sub { ikey() . ", " . ri(0, 30) } ]) };
	}
	elsif ($t eq 'txt')
	{
		($def, $argf) = @{ pick(
				[ "(text) AS SELECT k, n FROM TBL_txt WHERE k LIKE \$1", sub { like_pattern(1) } ],
				[ "(text) AS SELECT k, n FROM TBL_txt WHERE k ^@ \$1 ORDER BY k LIMIT 10", sub { lit(tstr(0, 2)) } ],
				[ "(text, text) AS SELECT k FROM TBL_txt WHERE k > \$1 AND k <= \$2",
					sub { my ($x, $y) = txt_bounds(); lit($x) . ", " . lit($y) } ],
				[ "(text) AS DELETE FROM TBL_txt WHERE k = \$1 RETURNING k, n", sub { lit(tkey()) } ]) };
	}
	else
	{
		($def, $argf) = @{ pick(
				[ "(int4, text) AS SELECT a, b, n FROM TBL_cmp WHERE a = \$1 AND b = \$2", sub { akey() . ", " . lit(bkey()) } ],
				[ "(int8) AS SELECT a, b FROM TBL_cmp WHERE a = \$1 ORDER BY b DESC LIMIT 5", sub { akey() } ],
				[ "(int4, text) AS SELECT a, b FROM TBL_cmp WHERE a = \$1 AND b LIKE \$2", sub { akey() . ", " . (like_pattern(1)) } ]) };
	}
	my $ordered = $def =~ /ORDER BY/ ? 1 : 0;
	push @s, S("PREPARE $p$def", 0, 'prepared');
	push @s, S("EXECUTE $p(" . $argf->() . ")", $ordered, 'prepared') for 1 .. ri(2, 8);
	push @s, S("DEALLOCATE $p", 0, 'prepared');
	push @s, S("RESET plan_cache_mode", 0, 'prepared');
	return @s;
}

sub guc_stmt
{
	return S(pick('SET enable_hashjoin = off', 'SET enable_mergejoin = off', 'SET enable_nestloop = off',
			'SET enable_sort = off', 'SET enable_material = off', 'SET enable_seqscan = off',
			'SET enable_indexscan = off', 'SET enable_bitmapscan = off', 'RESET ALL', 'RESET ALL'), 0, 'guc');
}

sub pick_table { pick('int', 'int', 'txt', 'txt', 'cmp', 'cmp', 'ovr') }

sub transaction
{
	my $main = pick_table();
	local $small_tx = $skip{bigtx} ? 1 : 0;
	local $in_tx = 1;
	my @s = (S(pick('BEGIN', 'BEGIN', 'START TRANSACTION', 'BEGIN ISOLATION LEVEL REPEATABLE READ'), 0, 'tx'));
	my @sp;
	my $truncated = 0;
	for (1 .. ri(1, 14))
	{
		my $r = rand();
		if ($r < 0.14)
		{
			my $name = 's' . ++$uniq;
			push @sp, $name;
			push @s, S("SAVEPOINT $name", 0, 'tx');
		}
		elsif ($r < 0.24 && @sp)
		{
			my $i = R(scalar @sp);
			push @s, S("ROLLBACK TO SAVEPOINT $sp[$i]", 0, 'tx');
			splice(@sp, $i + 1);
		}
		elsif ($r < 0.29 && @sp)
		{
			my $i = R(scalar @sp);
			push @s, S("RELEASE SAVEPOINT $sp[$i]", 0, 'tx');
			splice(@sp, $i);
		}
		elsif ($r < 0.34 && !$skip{cursor})
		{
			push @s, cursor_group(chance(0.8) ? $main : pick_table());
		}
		elsif ($r < 0.36)
		{
			push @s, full_check($main);
		}
		elsif ($r < 0.363 && !$skip{truncate})
		{
			$truncated = 1;
			push @s, S("TRUNCATE TBL_$main" . (chance(0.3) ? ", TBL_" . pick_table() : ''), 0, 'truncate');
		}
		elsif ($r < 0.45)
		{
			# As psql's ON_ERROR_ROLLBACK does: a statement in its own
			# subtransaction, kept or undone.
			my $name = 's' . ++$uniq;
			push @s, S("SAVEPOINT $name", 0, 'tx'), one_stmt(chance(0.8) ? $main : pick_table()),
			  S(pick("RELEASE SAVEPOINT $name", "ROLLBACK TO SAVEPOINT $name"), 0, 'tx');
		}
		else
		{
			push @s, one_stmt(chance(0.8) ? $main : pick_table());
		}
	}
	# Mostly undo a TRUNCATE, or the tables stay small.
	push @s, S(($truncated && chance(0.75)) ? 'ROLLBACK' : wpick('COMMIT' => 6, 'ROLLBACK' => 3, 'END' => 1), 0, 'tx');
	return @s;
}

sub block
{
	my $kind = wpick(single => 75, tx => 14, prepared => 3, guc => 2, check => 4, analyze => 0.3,
		flush => 1, truncate => 0.05);
	return one_stmt(pick_table()) if $kind eq 'single';
	return transaction() if $kind eq 'tx';
	return prepared_group(pick_table()) if $kind eq 'prepared' && !$skip{prepared};
	return guc_stmt() if $kind eq 'guc';
	return full_check(pick_table()) if $kind eq 'check';
	return S("ANALYZE TBL_" . pick_table(), 0, 'analyze') if $kind eq 'analyze' && !$skip{analyze};
	return S("FLUSH TBL_" . pick_table(), 0, 'flush') if $kind eq 'flush' && !$skip{flush};
	return S("TRUNCATE TBL_" . pick_table(), 0, 'truncate') if $kind eq 'truncate' && !$skip{truncate};
	return one_stmt(pick_table());
}

# ---------------------------------------------------------------------------
# The cluster

my $node = PostgreSQL::Test::Cluster->new('diff');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
log_statement = none
log_min_messages = warning
log_min_error_statement = panic
});
$node->start;
$has_icu = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'}) ? 1 : 0;

# Static heap table both sides join with: keys of every table's domain.
my @jrows;
for (my $id = -300; $id <= 3300; $id += 3) { push @jrows, $id; }
for (my $id = 9700; $id <= 13300; $id += 37) { push @jrows, $id; }
push @jrows, grep { $_ < -300 || $_ > 13300 } @int8_extremes;
my $jvalues = join(",\n", map { "($_, " . ((abs($_) % 15) - 3) . ", " . lit(chance(0.5) ? tkey() : tstr(1, 2)) . ", 'n$_')" } @jrows);

my $setup = qq{
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FUNCTION pay(s text, n int) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql
	AS \$\$ SELECT string_agg(md5(s || '.' || i::text), '' ORDER BY i) FROM generate_series(1, n) i \$\$;
CREATE TABLE j (id int8 PRIMARY KEY, a int4, t text COLLATE "C", name text);
INSERT INTO j VALUES $jvalues;
CREATE INDEX ON j (t);
CREATE INDEX ON j (a);
ANALYZE j;

CREATE FOREIGN TABLE l_int (k int8 OPTIONS (key 'true'), v text, n int4)
	SERVER lsm OPTIONS (memtable_size '1MB');
CREATE TABLE h_int (k int8 PRIMARY KEY, v text, n int4);
CREATE FOREIGN TABLE l_txt (k text OPTIONS (key 'true') COLLATE "C", v text, n int4)
	SERVER lsm OPTIONS (memtable_size '1MB', block_size '1kB', compression 'none');
CREATE TABLE h_txt (k text COLLATE "C" PRIMARY KEY, v text, n int4);
CREATE FOREIGN TABLE l_cmp (a int4 OPTIONS (key 'true'), b text OPTIONS (key 'true') COLLATE "C", v text, n int4)
	SERVER lsm OPTIONS (memtable_size '1MB', bloom_bits_per_key '0', compression_level '1');
CREATE TABLE h_cmp (a int4, b text COLLATE "C", v text, n int4, PRIMARY KEY (a, b));
CREATE FOREIGN TABLE l_ovr (k int8 OPTIONS (key 'true'), v text, n int4)
	SERVER lsm OPTIONS (memtable_size '1MB', on_duplicate 'overwrite', compaction 'tiered');
CREATE TABLE h_ovr (k int8 PRIMARY KEY, v text, n int4);
};
$node->safe_psql('postgres', Encode::encode('UTF-8', $setup));

# The statements below are meant to reach the engine through every access
# path; check that the plans use them (one session at a time).
for my $x (
	[ "SELECT * FROM l_int WHERE k = 5", qr/LSM Access: point get/ ],
	[ "SELECT * FROM l_int WHERE k = ANY(ARRAY[1, 2]::int8[])", qr/LSM Access: multi-get/ ],
	[ "SELECT * FROM l_int WHERE k > 1 AND k <= 9", qr/LSM Access: range on 1 key column, lower bound >, upper bound <=/ ],
	[ "SELECT * FROM l_int ORDER BY k DESC LIMIT 3", qr/LSM Key Order: descending/ ],
	[ "SELECT * FROM l_txt WHERE k LIKE 'ab%'", qr/LIKE prefix/ ],
	[ "SELECT * FROM l_txt WHERE k ^@ 'ab'", qr/\^@ prefix/ ],
	[ "SELECT * FROM l_txt WHERE k >= 'b'", qr/LSM Access: range on 1 key column, lower bound >=/ ],
	[ "SELECT * FROM l_cmp WHERE a = 1 AND b = 'x'", qr/LSM Access: point get/ ],
	[ "SELECT * FROM l_cmp WHERE a = 1 AND b IN ('x', 'y')", qr/LSM Access: multi-get on 2 key columns/ ],
	[ "SELECT * FROM l_cmp WHERE a = 1 AND b LIKE 'x%'", qr/LSM Access: range on 2 key columns, LIKE prefix/ ],
	[ "SELECT * FROM l_cmp WHERE a > 1 ORDER BY a DESC, b DESC LIMIT 3", qr/LSM Key Order: descending/ ],
	[ "SELECT * FROM l_cmp WHERE a < 3000000000", qr/LSM Access: range on 1 key column, upper bound </ ],
	[ "SET enable_hashjoin = off; SET enable_mergejoin = off; EXPLAIN (COSTS OFF) SELECT * FROM j JOIN l_int t ON t.k = j.id WHERE j.id < 5",
		qr/Nested Loop(.|\n)*LSM Access: point get/ ])
{
	my $q = $x->[0] =~ /^SET/ ? $x->[0] : "EXPLAIN (COSTS OFF) $x->[0]";
	like($node->safe_psql('postgres', $q), $x->[1], "plan of: $x->[0]");
}

# ---------------------------------------------------------------------------
# Generate the stream: chunks of whole blocks (no transaction spans chunks).

my $nchunks = $nstmts < 600 ? 1 : int($nstmts / 1500 + 0.5);
$nchunks = 2 if $nchunks < 2 && $nstmts >= 600;
$nchunks = 8 if $nchunks > 8;
my @chunks;
{
	my $per = int($nstmts / $nchunks) + 1;
	for my $c (1 .. $nchunks)
	{
		my @c;
		push @c, block() while @c < $per;
		push @c, full_check($_), S("VERIFY TBL_$_", 0, 'verify') for qw(int txt cmp ovr);
		push @chunks, \@c;
	}
}

my $outdir = $PostgreSQL::Test::Utils::tmp_check;
{
	# For replaying by hand: this, then the diff_chunk*_l.sql scripts.
	open my $fh, '>:encoding(UTF-8)', "$outdir/diff_setup.sql" or die;
	print $fh $setup;
	close $fh;
}
my $ntotal = 0;
$ntotal += scalar @$_ for @chunks;
note("$ntotal statements in $nchunks chunks" . ($has_icu ? '' : ' (no ICU: non-C collation cases left out)'));

# FLUSH and VERIFY are lsm_fdw functions; the heap side answers alike.
sub side_sql
{
	my ($sql, $side) = @_;
	if ($sql =~ /^FLUSH TBL_(\w+)$/)
	{
		return $side eq 'h' ? "SELECT ''" : "SELECT '' FROM lsm_fdw_flush('l_$1')";
	}
	if ($sql =~ /^VERIFY TBL_(\w+)$/)
	{
		# the problems verify found: none, as many as the heap has
		return $side eq 'h' ? "SELECT 0" : "SELECT (lsm_fdw_verify('l_$1')->>'problems')::int";
	}
	if ($side eq 'h' && $sql =~ /^INSERT INTO TBL_ovr/ && $sql !~ /ON CONFLICT/)
	{
		$sql =~ s/( RETURNING [^)]*)?$/ ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n$1/;
	}
	$sql =~ s/\bTBL_(int|txt|cmp|ovr)\b/${side}_$1/g;
	return $sql;
}

sub write_script
{
	my ($file, $stmts, $side, $on_error_rollback) = @_;
	open my $fh, '>:encoding(UTF-8)', $file or die "$file: $!";
	print $fh "\\set ON_ERROR_STOP 0\n\\set VERBOSITY terse\n\\pset null '<NULL>'\n";
	print $fh "\\set ON_ERROR_ROLLBACK on\n" if $on_error_rollback;
	for my $i (0 .. $#$stmts)
	{
		print $fh side_sql($stmts->[$i][0], $side), ";\n";
		print $fh $stmts->[$i][3], "\\.\n" if defined $stmts->[$i][3];
		print $fh "\\echo '\@\@END' $i :SQLSTATE :ROW_COUNT\n";
	}
	close $fh;
}

# Results of one side: per statement [lines, sqlstate, rowcount].
sub parse_output
{
	my $out = shift;
	my @res;
	my @lines;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^\@\@END (\d+) (\S+) (\S+)$/)
		{
			$res[$1] = [ [@lines], $2, $3 ];
			@lines = ();
		}
		else
		{
			push @lines, $line;
		}
	}
	return \@res;
}

sub show_result
{
	my $r = shift;
	return "(no result: the session ended)" unless $r;
	my @l = @{ $r->[0] };
	my $s = "SQLSTATE $r->[1], $r->[2] rows";
	my $max = 40;
	$s .= "\n    " . join("\n    ", @l[ 0 .. ($#l < $max - 1 ? $#l : $max - 1) ]) if @l;
	$s .= "\n    ... " . (@l - $max) . " more lines" if @l > $max;
	return $s;
}

# The statements of the transaction the failing one is in.
sub context_of
{
	my ($stmts, $i) = @_;
	for (my $b = $i - 1; $b >= 0; $b--)
	{
		my $sql = $stmts->[$b][0];
		return '' if $sql =~ /^(COMMIT|END|ROLLBACK)$/;
		return join('', map { "    $stmts->[$_][0];\n" } $b .. $i - 1) if $sql =~ /^(BEGIN|START)/;
	}
	return '';
}

sub run_side
{
	my ($side, $script, $out, $err) = @_;
	return IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
		'>', $out, '2>', $err);
}

# SSTable files of each lsm_fdw table, counted at the end of every chunk:
# the run must have exercised SSTables, not just memtables.
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my %relid = map { $_ => $node->safe_psql('postgres', "SELECT '$_'::regclass::oid") } qw(l_int l_txt l_cmp l_ovr);
my %max_sst;
sub count_sst
{
	for my $t (sort keys %relid)
	{
		my @sst = glob($node->data_dir . "/lsm_fdw/$dboid/$relid{$t}/*.sst");
		$max_sst{$t} = @sst if !defined $max_sst{$t} || @sst > $max_sst{$t};
	}
}

my $failed = 0;
my @between = ('reconnect', 'restart', 'crash');
for my $c (0 .. $#chunks)
{
	my $stmts = $chunks[$c];
	if ($c > 0)
	{
		my $how = $between[ ($c - 1) % @between ];
		if ($how eq 'restart') { $node->restart; }
		elsif ($how eq 'crash') { $node->stop('immediate'); $node->start; }
	}
	# The previous sessions must be gone: a lsm_fdw table still held by an
	# exiting backend would make the new session wait, and fail after 2 s.
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	  or die "sessions of the previous chunk did not end";
	my %res;
	my %err;
	my @h;
	my $t0 = Time::HiRes::time();
	for my $side ('l', 'h')
	{
		my $script = "$outdir/diff_chunk${c}_$side.sql";
		write_script($script, $stmts, $side, $c % 2 == 1);
		my ($out, $err) = ('', '');
		$res{$side} = \$out;
		$err{$side} = \$err;
		push @h, run_side($side, $script, \$out, \$err);
	}
	$_->finish for @h;
	count_sst();
	# A table the random statements never flushed (it depends on the seed)
	# is flushed here, so that the next chunks read it from SSTables too.
	for my $t (grep { !$max_sst{$_} } sort keys %max_sst)
	{
		$node->safe_psql('postgres', "SELECT lsm_fdw_flush('$t')");
	}
	count_sst();
	note(sprintf("chunk %d: %.1f s", $c, Time::HiRes::time() - $t0));
	for my $side ('l', 'h')
	{
		open my $fh, '>', "$outdir/diff_chunk${c}_$side.out";
		print $fh ${ $res{$side} }, "\n--- stderr\n", ${ $err{$side} };
		close $fh;
	}
	my $l = parse_output(Encode::decode('UTF-8', ${ $res{l} }));
	my $h = parse_output(Encode::decode('UTF-8', ${ $res{h} }));
	my $bad;
	for my $i (0 .. $#$stmts)
	{
		my ($rl, $rh) = ($l->[$i], $h->[$i]);
		my $same = $rl && $rh && $rl->[1] eq $rh->[1] && $rl->[2] eq $rh->[2];
		if ($same)
		{
			my @a = @{ $rl->[0] };
			my @b = @{ $rh->[0] };
			unless ($stmts->[$i][1])
			{
				@a = sort @a;
				@b = sort @b;
			}
			$same = join("\n", @a) eq join("\n", @b);
		}
		next if $same;
		my $ctx = context_of($stmts, $i);
		my $msg = "seed $seed: first mismatch at statement $i of chunk $c (class $stmts->[$i][2]):\n"
		  . ($ctx ? "  after, in the same transaction:\n$ctx" : '')
		  . "  statement: " . side_sql($stmts->[$i][0], 'l') . ";\n"
		  . "  lsm_fdw: " . show_result($rl) . "\n"
		  . "  heap:    " . show_result($rh) . "\n"
		  . "  scripts and outputs: $outdir/diff_chunk${c}_{l,h}.{sql,out}\n";
		if (!$rl || !$rh)
		{
			my $e = Encode::decode('UTF-8', $rl ? ${ $err{h} } : ${ $err{l} });
			my @e = split /\n/, $e;
			splice(@e, 0, @e - 15) if @e > 15;
			$msg .= "  stderr tail:\n    " . join("\n    ", @e) . "\n";
		}
		$bad = $msg;
		last;
	}
	if ($bad)
	{
		ok(0, "chunk $c: lsm_fdw and heap results match") or diag(Encode::encode('UTF-8', $bad));
		$failed = 1;
		last;
	}
	ok(1, "chunk $c: " . scalar(@$stmts) . " statements, lsm_fdw and heap results match");
}

if (!$failed)
{
	ok($max_sst{$_} > 0, "$_ had SSTables (up to $max_sst{$_} files)") for sort keys %max_sst;
}

$node->stop('fast', fail_ok => 1);
note(sprintf("seed %s, %d statements, %.1f s", $seed, $ntotal, Time::HiRes::time() - $t_start));
done_testing();
