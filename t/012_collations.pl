# Text keys in every collation: a differential test against heap.
#
# In databases created with en_US.UTF-8 (libc), C.UTF-8, C and an ICU
# default collation (und), and on columns declared COLLATE "und-x-icu",
# the same random Unicode strings (accents, case, mixed scripts, combining
# marks next to their precomposed forms, ignorable characters, punctuation,
# empty and long strings) are the keys of a lsm_fdw table and of a heap
# table with a primary key.  Every range, ORDER BY [DESC] LIMIT, equality,
# IN, prefix (LIKE 'p%', ^@) and merge-join query must return the same rows
# in the same order from both (in the en_US.UTF-8 database the libc key's
# ranges and order are compared under COLLATE "C": see below).  Part of the
# rows sit in table files, part in the memtable, some are deleted, and a
# transaction's own writes are merged in, so every source of rows is
# compared.
#
# It also checks that the pushdown really happens (the range access and no
# Sort node) in the en_US.UTF-8, ICU and C.UTF-8 databases, that LIKE
# prefixes are not read as byte ranges under a linguistic collation, and
# that the collation versions are recorded.
#
# en_US.UTF-8 must exist (test/run_all.sh generates it as root).
# LSM_TEST_SEED replays a run; LSM_COLL_ROWS and LSM_COLL_QUERIES set the
# sizes (default 1500 rows, 250 query groups per database).
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use Encode ();

$ENV{PGCLIENTENCODING} = 'UTF8';

my $seed = $ENV{LSM_TEST_SEED} // (int(Time::HiRes::time() * 1000) ^ ($$ << 12)) % 2**31;
srand($seed);
diag("seed $seed (replay with LSM_TEST_SEED=$seed)");
my $nrows = $ENV{LSM_COLL_ROWS} // 1500;
my $nqueries = $ENV{LSM_COLL_QUERIES} // 250;

my $locales = `locale -a 2>/dev/null`;
ok($locales =~ /^en_US\.utf8$/mi, 'the en_US.UTF-8 locale exists')
  or BAIL_OUT('en_US.UTF-8 is missing: run test/run_all.sh as root, or localedef -i en_US -f UTF-8 en_US.UTF-8');

# ---------------------------------------------------------------------------
# Random strings

sub R    { int(rand($_[0])) }
sub pick { $_[ R(scalar @_) ] }

my @alphabet = (
	'a' .. 'z', 'A' .. 'Z', '0' .. '9',
	' ', '-', '_', '.', ',', ':', '/', '\'', '"', '!', '(', ')', '%', '\\', '@', '#',
	qw(é è ê ë É È à â ä Ä á Á ç Ç ñ Ñ ø Ø å Å ß æ Æ œ ö Ö ü Ü ı İ ł Ł),
	"e\x{301}", "E\x{301}", "a\x{308}", "o\x{302}",    # combining marks
	"\x{AD}", "\x{200D}", "\x{200B}",                   # ignorables
	qw(α β γ Δ Ω ω ж Ж я Я ё Ё),                         # Greek, Cyrillic
	qw(中 文 字 日 本 語 한 국), qw(ש ל ו ם), qw(ع ر ب),  # CJK, Hangul, Hebrew, Arabic
	"\x{1F600}", "\x{1F44D}", "\x{FB01}", "\x{FF21}", "\x{FF41}", "\x{2160}",
	"\x{1D400}", "\x{00BD}");
my @words = qw(user session path key apple Apple APPLE éclair eclair Eclair
  resume résumé Resume naïve naive coop co-op Co-op straße strasse Strasse
  zebra Zebra ǅemal đak 1abc abc1 _abc -abc ABC abc);

sub rand_string
{
	my $r = rand();
	return '' if $r < 0.01;
	if ($r < 0.35)
	{
		# a word with variations: case, accents, suffixes, separators
		my $w = pick(@words);
		$w = ucfirst($w) if rand() < 0.2;
		$w = uc($w)      if rand() < 0.1;
		$w .= pick(':', '/', '-', ' ', '') . R(1000) if rand() < 0.5;
		$w .= pick(@alphabet) if rand() < 0.3;
		return $w;
	}
	my $len = $r < 0.97 ? 1 + R(12) : 100 + R(200);
	return join('', map { pick(@alphabet) } 1 .. $len);
}

sub q_lit
{
	my $s = shift;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub like_prefix
{
	my $s = shift;
	$s =~ s/([\\%_])/\\$1/g;
	return $s;
}

# psql's output rows, each with its bytes in hex: a failure's strings are
# full of characters a log shows wrong or not at all
sub hexrows
{
	return join('', map { "$_  [" . unpack('H*', $_) . "]\n" } split /\n/, shift);
}

# ---------------------------------------------------------------------------
# The node and its databases

my $node = PostgreSQL::Test::Cluster->new('coll');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
log_statement = none
});
$node->start;

my %dbs = (
	d_en    => "LOCALE 'en_US.UTF-8'",
	d_cutf8 => "LOCALE 'C.UTF-8'",
	d_c     => "LOCALE 'C'",
	d_icu   => "LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'und'",);
for my $db (sort keys %dbs)
{
	$node->safe_psql('postgres',
		"CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' $dbs{$db}");
}

# Run a script, return its output (psql -XAtq); die on any error.
sub run_sql
{
	my ($db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql($db, Encode::encode_utf8($sql),
		stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	die "psql failed in $db (exit $ret): $err" if $ret != 0;
	return $out;
}

for my $db (sort keys %dbs)
{
	# the key sets: k alone, and (a COLLATE und-x-icu, b)
	my (%k, %ab);
	$k{ rand_string() } = 1 while keys %k < $nrows;
	while (keys %ab < $nrows)
	{
		my $a = rand() < 0.7 ? pick(@words) : rand_string();
		$ab{ $a . "\x{1}" . rand_string() } = 1;
	}
	my @k = sort keys %k;
	my @ab = map { [ split /\x{1}/, $_, 2 ] } sort keys %ab;
	$_->[1] //= '' for @ab;

	my $setup = qq{
CREATE EXTENSION lsm_fdw;
CREATE SERVER s FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE l1 (k text OPTIONS (key 'true'), v int) SERVER s OPTIONS (memtable_size '1MB');
CREATE TABLE h1 (k text PRIMARY KEY, v int);
CREATE FOREIGN TABLE l2 (a text OPTIONS (key 'true') COLLATE "und-x-icu", b varchar OPTIONS (key 'true'), v int) SERVER s;
CREATE TABLE h2 (a text COLLATE "und-x-icu", b varchar, v int, PRIMARY KEY (a, b));
CREATE TABLE j (k text);
};
	# the first half goes to table files, the rest stays in the memtable
	my $half = int(@k / 2);
	my @rows1 = map { '(' . q_lit($k[$_]) . ", $_)" } 0 .. $#k;
	my @rows2 = map { '(' . q_lit($ab[$_][0]) . ', ' . q_lit($ab[$_][1]) . ", $_)" } 0 .. $#ab;
	for my $t ('h', 'l')
	{
		$setup .= "INSERT INTO ${t}1 VALUES " . join(',', @rows1[ 0 .. $half - 1 ]) . ";\n";
		$setup .= "INSERT INTO ${t}2 VALUES " . join(',', @rows2[ 0 .. $half - 1 ]) . ";\n";
	}
	$setup .= "SELECT lsm_fdw_flush('l1'); SELECT lsm_fdw_flush('l2');\n";
	for my $t ('h', 'l')
	{
		$setup .= "INSERT INTO ${t}1 VALUES " . join(',', @rows1[ $half .. $#rows1 ]) . ";\n";
		$setup .= "INSERT INTO ${t}2 VALUES " . join(',', @rows2[ $half .. $#rows2 ]) . ";\n";
		$setup .= "DELETE FROM ${t}1 WHERE v % 17 = 3;\n";
		$setup .= "DELETE FROM ${t}2 WHERE v % 13 = 5;\n";
	}
	$setup .= "INSERT INTO j SELECT k FROM h1 WHERE v % 3 = 0;\n";
	$setup .= "INSERT INTO j VALUES " . join(',', map { '(' . q_lit(rand_string()) . ')' } 1 .. 100) . ";\n";
	$setup .= "ANALYZE h1; ANALYZE h2; ANALYZE j;\n";
	run_sql($db, $setup);

	my $versions = run_sql($db,
		"SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'l1'::regclass");
	like($versions, qr/key_format=2/, "$db: new tables get key format 2");
	if ($db eq 'd_en' || $db eq 'd_icu')
	{
		like($versions, qr/collation_version=\d/, "$db: the collation version is recorded");
	}

	# the queries, each run against l* and h*
	#
	# In d_en the libc key gets no pushdown: Postgres filters and sorts the
	# rows of both tables itself, with glibc's strcoll, so lsm_fdw's part in
	# those queries is only the set of rows.  Two CI runs got a
	# "k < x ORDER BY k DESC LIMIT n" whose rows differed between heap (read
	# without an index) and lsm_fdw, neither of them near x as strcoll orders
	# the strings on the developers' machine, where hundreds of runs never
	# failed.  (Round 2 session 9 found a test bug that gives exactly that:
	# a random value "T1" or "T2" was rewritten to a table name, differently
	# for the two tables; see the substitution below.  The COLLATE "C" stays
	# until d_en is shown to pass without it.)  So d_en compares the libc
	# key's ranges and order under COLLATE "C", a total order.  What lsm_fdw does itself in d_en is still
	# compared row for row: every row decoded from its strxfrm-prefixed key,
	# equality and IN lookups through that encoding, the ICU column's
	# pushdown.
	my $c = $db eq 'd_en' ? ' COLLATE "C"' : '';
	my @values = (@k, map { $_->[0] } @ab);
	my $val = sub { rand() < 0.7 ? pick(@values) : rand_string() };
	my @queries;
	for (1 .. $nqueries)
	{
		my ($x, $y) = ($val->(), $val->());
		my ($lx, $ly) = (q_lit($x), q_lit($y));
		my $p = substr($x, 0, 1 + R(3));
		my $lim = 1 + R(30);
		push @queries,
		  "SELECT k, v FROM {T1} WHERE k > $lx$c AND k <= $ly$c ORDER BY k$c",
		  "SELECT k, v FROM {T1} WHERE k >= $lx$c ORDER BY k$c LIMIT $lim",
		  "SELECT k, v FROM {T1} WHERE k < $lx$c ORDER BY k$c DESC LIMIT $lim",
		  "SELECT k FROM {T1} WHERE k BETWEEN SYMMETRIC ($lx$c) AND ($ly$c) ORDER BY k$c DESC",
		  "SELECT k, v FROM {T1} WHERE k = $lx",
		  "SELECT k FROM {T1} WHERE k IN ($lx, $ly) ORDER BY k$c",
		  "SELECT k FROM {T1} WHERE k LIKE " . q_lit(like_prefix($p) . '%') . " ORDER BY k$c",
		  "SELECT k FROM {T1} WHERE k ^@ " . q_lit($p) . " ORDER BY k$c DESC",
		  "SELECT k FROM {T1} WHERE k >= $lx COLLATE \"C\" ORDER BY k COLLATE \"C\" LIMIT $lim",
		  "SELECT a, b FROM {T2} WHERE a = $lx AND b > $ly$c ORDER BY a, b$c",
		  "SELECT a, b FROM {T2} WHERE a >= $lx ORDER BY a, b$c LIMIT $lim",
		  "SELECT a, b FROM {T2} WHERE a < $lx ORDER BY a DESC, b$c DESC LIMIT $lim",
		  "SELECT a, b FROM {T2} WHERE a IN ($lx, $ly, " . q_lit(pick(@words)) . ") AND b < $ly$c ORDER BY a, b$c";
	}
	push @queries,
	  "SELECT k FROM {T1} ORDER BY k$c",
	  "SELECT k FROM {T1} ORDER BY k$c DESC",
	  "SELECT a, b FROM {T2} ORDER BY a, b$c",
	  "SET enable_hashjoin = off; SET enable_nestloop = off; SELECT j.k, t.v FROM j JOIN {T1} t ON t.k = j.k ORDER BY j.k$c; RESET enable_hashjoin; RESET enable_nestloop",
	  # the transaction's own writes merged into ranges
	  "BEGIN; DELETE FROM {T1} WHERE v % 5 = 0; INSERT INTO {T1} VALUES "
	  . join(',', map { '(' . q_lit(rand_string() . "\x{2}x$_") . ", -$_)" } 1 .. 50)
	  . "; UPDATE {T1} SET k = k || 'ü' || chr(3) || v WHERE v % 7 = 1; "
	  . "SELECT k, v FROM {T1} WHERE k > " . q_lit($val->()) . "$c ORDER BY k$c; "
	  . "SELECT k, v FROM {T1} ORDER BY k$c DESC LIMIT 40; ROLLBACK";

	my ($script_l, $script_h) = ('', '');

	for my $i (0 .. $#queries)
	{
		# {T1} and {T2} name the tables: a bare T1 could be a value too (a
		# random key "T2" once became 'l2' in one query and 'h2' in the other)
		(my $ql = $queries[$i]) =~ s/\{T([12])\}/l$1/g;
		(my $qh = $queries[$i]) =~ s/\{T([12])\}/h$1/g;
		$script_l .= "\\echo ==Q $i\n$ql;\n";
		$script_h .= "\\echo ==Q $i\n$qh;\n";
	}
	my $out_l = run_sql($db, $script_l);
	my $out_h = run_sql($db, $script_h);
	my @res_l = split /^==Q \d+\n/m, $out_l;
	my @res_h = split /^==Q \d+\n/m, $out_h;
	my $bad = 0;
	for my $i (1 .. $#res_h)
	{
		next if ($res_l[$i] // '') eq $res_h[$i];
		$bad++;
		if ($bad <= 3)
		{
			diag("$db: query $queries[$i - 1]\nlsm:\n" . hexrows($res_l[$i] // '(none)')
				  . "\nheap:\n" . hexrows($res_h[$i]));
		}
	}
	is($bad, 0, "$db: " . scalar(@queries) . " queries give the rows of heap in its order")
	  or diag("seed $seed");
	cmp_ok(scalar(@res_h), '==', scalar(@queries) + 1, "$db: every query ran");

	# pushdown is used where the collation allows it: byte order and ICU,
	# not libc's en_US.UTF-8, whose strxfrm and strcoll disagree (this test
	# found keys with characters outside its tables ordered differently)
	my $plan = run_sql($db, "EXPLAIN (COSTS OFF) SELECT k FROM l1 WHERE k >= 'b' ORDER BY k LIMIT 5");
	if ($db eq 'd_en')
	{
		unlike($plan, qr/LSM Access: range/, "$db: no range pushdown under a libc collation");
		like($plan, qr/Sort/, "$db: ORDER BY the key sorts under a libc collation");
		$plan = run_sql($db, "EXPLAIN (COSTS OFF) SELECT k FROM l1 WHERE k < 'b' ORDER BY k DESC LIMIT 5");
		unlike($plan, qr/LSM Key Order: descending/, "$db: no key order under a libc collation");
	}
	else
	{
		like($plan, qr/LSM Access: range/, "$db: a text range is read as a range");
		unlike($plan, qr/Sort/, "$db: ORDER BY the key needs no sort");
		$plan = run_sql($db, "EXPLAIN (COSTS OFF) SELECT k FROM l1 WHERE k < 'b' ORDER BY k DESC LIMIT 5");
		like($plan, qr/LSM Key Order: descending/, "$db: ORDER BY the key DESC reads backwards");
	}
	$plan = run_sql($db, "EXPLAIN (COSTS OFF) SELECT a, b FROM l2 WHERE a > 'b' ORDER BY a, b LIMIT 5");
	like($plan, qr/LSM Access: range/, "$db: a range on an ICU column is read as a range");
	if ($db eq 'd_en')
	{
		# b is under the database's libc collation: only a's order is usable
		like($plan, qr/Incremental Sort|Sort/, "$db: ORDER BY an ICU key and a libc key sorts on the libc one");
	}
	else
	{
		unlike($plan, qr/Sort/, "$db: ORDER BY an ICU key needs no sort");
	}
	$plan = run_sql($db, "SET enable_hashjoin = off; SET enable_nestloop = off; EXPLAIN (COSTS OFF) SELECT * FROM j JOIN l1 USING (k)");
	like($plan, qr/Merge Join/, "$db: merge join on the text key");
	if ($db eq 'd_en')
	{
		like($plan, qr/Sort Key: l1/, "$db: the merge join sorts l1 under a libc collation");
	}
	else
	{
		unlike($plan, qr/Sort Key: l1/, "$db: the merge join reads l1 in key order");
	}
	$plan = run_sql($db, "EXPLAIN (COSTS OFF) SELECT k FROM l1 WHERE k LIKE 'ab%'");
	if ($db eq 'd_en' || $db eq 'd_icu')
	{
		unlike($plan, qr/LIKE prefix/, "$db: no byte-prefix range under a linguistic collation");
	}
	else
	{
		like($plan, qr/LSM Access: range/, "$db: LIKE prefix is a byte range");
	}
}

$node->stop;
done_testing();
