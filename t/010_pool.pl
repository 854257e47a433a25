# The memtable pool and big rows (issue 12, fault 6).
#
# 1. Default settings: the largest row a write accepts (a quarter of
#    lsm_fdw.memtable_memory, 16 MB) is inserted, flushed, compacted, read
#    back and survives a crash; a row just over the limit is refused with
#    54000 by INSERT, UPDATE and COPY.  Six scans each on such a row fit
#    in an 80 MB shared heap (values are copied to backend memory).
# 2. lsm_fdw.memtable_memory = 8MB: while the flushes of two tables fail
#    (their directories are read-only) and their frozen memtables keep the
#    pool over its limit, commits to another table go on; once the
#    directories are writable again the flushes succeed and nothing is lost.
#    lsm_fdw_flush of the other table returns meanwhile.
# 3. Same node, 30 tables with data, crash: replay opens them all and
#    fills their memtables (the pool is 4x over its limit); the worker
#    shrinks them, and lsm_fdw_flush of each returns.
# 4. Same node: 16 pgbench clients, 90% two-row INSERTs of 2 kB values
#    into the 30 tables, 10% 5000-row INSERTs into one overwrite table,
#    finish with no failed transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $seconds = $ENV{LSM_POOL_PGBENCH_SECONDS} // 10;

# psql that gives up after $secs (a hang is a failure, not a stuck test)
sub psql_within
{
	my ($node, $secs, $sql) = @_;
	my ($out, $err, $timed_out) = ('', '', 0);
	my $rc = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		timeout => $secs, timed_out => \$timed_out,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($timed_out ? 'timeout' : $rc, $out, $err);
}

sub poll_log
{
	my ($node, $re, $offset, $what) = @_;
	for (1 .. 600)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	diag("no '$what' in the log within 60 s");
	return 0;
}

sub stats
{
	my ($node, $field) = @_;
	return $node->safe_psql('postgres', "SELECT lsm_fdw_server_stats()->>'$field'");
}

# ---------------------------------------------------------------------
# 1. The largest row, with a 64MB pool (the default is 256MB, whose
#    largest row, 64MB, would only make the test slower)
# ---------------------------------------------------------------------
my $big = PostgreSQL::Test::Cluster->new('pool_big');
$big->init;
$big->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
fsync = on
log_statement = none
lsm_fdw.memtable_memory = '64MB'
});
$big->start;
$big->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE big (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
});

# A quarter of the 64MB pool; a text value takes its length plus
# at most 13 bytes of row format (column count, null bitmap, varint).
my $limit = 16 * 1024 * 1024;
my $max = $limit - 13;
my ($rc, $out, $err) = psql_within($big, 120,
	"INSERT INTO big VALUES (1, repeat('a', $max)), (2, repeat('b', $max))");
is($rc, 0, "two rows of the largest allowed size ($max bytes of text) are accepted") or diag($err);

($rc, $out, $err) = psql_within($big, 60, "INSERT INTO big VALUES (3, repeat('c', $max + 1))");
like($err, qr/ERROR:  54000: row is too large for lsm_fdw.*\n.*maximum of $limit bytes/,
	'INSERT of a row one byte over the limit: 54000 naming the limit');
($rc, $out, $err) = psql_within($big, 60, "INSERT INTO big VALUES (3, repeat('c', 60 * 1024 * 1024))");
like($err, qr/54000: row is too large/, 'INSERT of a 60 MB row: 54000');
($rc, $out, $err) = psql_within($big, 60, "UPDATE big SET v = v || 'x' WHERE k = 1");
like($err, qr/54000: row is too large/, 'UPDATE that grows a row over the limit: 54000');

my $check = "SELECT string_agg(k || ':' || length(v) || ':' || (v = repeat(chr(ascii('a') + k - 1), $max)), ' ' ORDER BY k) FROM big";
my $off = -s $big->logfile;
($rc, $out, $err) = psql_within($big, 120, "SELECT lsm_fdw_flush('big')");
is($rc, 0, 'the largest rows flush') or diag($err);
($rc, $out, $err) = psql_within($big, 120, "SELECT lsm_fdw_compact('big')");
is($rc, 0, 'and compact') or diag($err);
is($big->safe_psql('postgres', $check), "1:$max:true 2:$max:true", 'and read back whole');
is($big->safe_psql('postgres', "SELECT length(v) FROM big WHERE k = 2"), $max, 'by a point read too');

# one more in the log only, then a crash: replay must take it
($rc, $out, $err) = psql_within($big, 120, "INSERT INTO big VALUES (3, repeat('c', $max))");
is($rc, 0, 'a third largest row') or diag($err);
$big->stop('immediate');
$big->start;
is($big->safe_psql('postgres', $check), "1:$max:true 2:$max:true 3:$max:true",
	'after a crash: every largest row is back whole');
($rc, $out, $err) = psql_within($big, 120, "SELECT lsm_fdw_flush('big'), lsm_fdw_verify('big')");
is($rc, 0, 'the replayed row flushes and the table verifies') or diag($err);
# COPY goes through the same check
my $copy_dir = $PostgreSQL::Test::Utils::tmp_check;
for my $n ($max + 1, $max)
{
	open my $fh, '>', "$copy_dir/row_$n.txt" or die "$copy_dir/row_$n.txt: $!";
	print $fh "4\t", 'd' x $n, "\n";
	close $fh;
}
($rc, $out, $err) = psql_within($big, 60, "COPY big FROM '$copy_dir/row_" . ($max + 1) . ".txt'");
like($err, qr/54000: row is too large/, 'COPY of a row one byte over the limit: 54000');
($rc, $out, $err) = psql_within($big, 60, "COPY big FROM '$copy_dir/row_$max.txt'");
is($rc, 0, 'COPY of the largest row is accepted') or diag($err);
is($big->safe_psql('postgres', "SELECT length(v) FROM big WHERE k = 4"), $max, 'and reads back');
unlike(slurp_file($big->logfile, $off), qr/could not flush|out of memory/,
	'no flush failure and no out-of-memory in the log');

# Six scans at once, each on a largest row, with a shared heap of 80 MB:
# what a scan copies of a value is the backend's memory, not the heap's.
$big->safe_psql('postgres', "SELECT lsm_fdw_flush('big')");
$big->append_conf('postgresql.conf', "lsm_fdw.block_cache_size = '8MB'\nlsm_fdw.metadata_memory = '8MB'\n");
$big->restart;
($rc, $out, $err) = psql_within($big, 120, join('',
	"BEGIN;\n",
	(map { "DECLARE c$_ CURSOR FOR SELECT k, length(v) FROM big;\n" } 1 .. 6),
	(map { "FETCH 1 FROM c$_;\n" } 1 .. 6),
	"SELECT (lsm_fdw_server_stats()->>'heap_used')::int8 < 16 * 1024 * 1024;\n",
	"COMMIT;\n"));
is($rc, 0, 'six scans hold a largest row each with an 80 MB shared heap') or diag($err);
is($out, join("\n", ("1|$max") x 6, 't'), 'each reads it whole, and the heap holds less than one such row');
$big->stop;

# ---------------------------------------------------------------------
# 2. A table whose flushes fail does not stall the others (8MB pool)
# ---------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('pool_small');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
lsm_fdw.memtable_memory = '8MB'
log_statement = none
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE bad1 (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE bad2 (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE good (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO bad1 VALUES (0, 'first');
	INSERT INTO bad2 VALUES (0, 'first');
	SELECT lsm_fdw_flush('bad1'), lsm_fdw_flush('bad2');
});
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my @bad_dirs = map {
	my $relid = $node->safe_psql('postgres', "SELECT '$_'::regclass::oid");
	$node->data_dir . "/lsm_fdw/$dboid/$relid"
} qw(bad1 bad2);
ok(-d $bad_dirs[0] && -d $bad_dirs[1], 'the two tables have their directories');
chmod 0555, @bad_dirs or die "chmod: $!";

# 2 x 5 MB in one commit: the memtables freeze, and their flushes fail
$off = -s $node->logfile;
($rc, $out, $err) = psql_within($node, 60, q{
	BEGIN;
	INSERT INTO bad1 SELECT g, repeat('x', 2000) FROM generate_series(1, 2500) g;
	INSERT INTO bad2 SELECT g, repeat('y', 2000) FROM generate_series(1, 2500) g;
	COMMIT;
});
is($rc, 0, '10 MB committed to the two tables') or diag($err);
poll_log($node, qr/could not flush table.*\n(?:.*\n)*.*could not flush table/, $off,
	'both flushes fail');
my $used = stats($node, 'memtable_pool_used');
cmp_ok($used, '>', 8 * 1024 * 1024, "their memtables keep the pool over its 8MB limit ($used bytes)");

($rc, $out, $err) = psql_within($node, 60, q{
	SET statement_timeout = '20s';
	INSERT INTO good SELECT g, repeat('g', 2000) FROM generate_series(1, 100) g;
	INSERT INTO good SELECT g, repeat('g', 2000) FROM generate_series(101, 200) g;
	INSERT INTO good SELECT g, repeat('g', 2000) FROM generate_series(201, 300) g;
	SELECT count(*) FROM good;
});
is($rc, 0, 'commits to another table go on while those flushes fail') or diag($err);
is($out, '300', 'with every row');
($rc, $out, $err) = psql_within($node, 60, "SELECT lsm_fdw_flush('good')");
is($rc, 0, 'lsm_fdw_flush of that table returns while the pool is over its limit') or diag($err);
($rc, $out, $err) = psql_within($node, 60, "INSERT INTO bad1 VALUES (-1, 'refused')");
like($err, qr/ERROR/, 'a commit to a failing table is refused, not left waiting');

$off = -s $node->logfile;
chmod 0700, @bad_dirs or die "chmod: $!";
poll_log($node, qr/flushes of table .* succeed again(?:.*\n)*.*succeed again/, $off,
	'both flushes succeed again');
is($node->safe_psql('postgres', "SELECT (SELECT count(*) FROM bad1) || ' ' || (SELECT count(*) FROM bad2)"),
	'2501 2501', 'once writable, nothing of the failing tables is lost');
$node->safe_psql('postgres', "INSERT INTO bad1 VALUES (-1, 'accepted')");
pass('and they take commits again');

# ---------------------------------------------------------------------
# 3. 30 tables with data and a crash: replay opens them all
# ---------------------------------------------------------------------
$node->safe_psql('postgres', join('', map {
	"CREATE FOREIGN TABLE t$_ (k int8 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (on_duplicate 'overwrite');\n"
	. "INSERT INTO t$_ SELECT g, repeat('v', 2000) FROM generate_series(1, 200) g;\n"
} 1 .. 30));
$node->stop('immediate');
$node->start;
diag('after replay of 30 tables the pool holds ' . stats($node, 'memtable_pool_used') . ' bytes');
# nobody writes them: the worker shrinks their memtables by itself
my $shrunk = 0;
for (1 .. 300)
{
	$used = stats($node, 'memtable_pool_used');
	last if ($shrunk = $used <= 8 * 1024 * 1024);
	usleep(100_000);
}
ok($shrunk, "idle tables do not pin the pool: it holds $used bytes");
($rc, $out, $err) = psql_within($node, 60,
	join('', map { "SELECT lsm_fdw_flush('t$_');\n" } 1 .. 30));
is($rc, 0, 'lsm_fdw_flush of each of 30 replayed tables returns') or diag($err);
is($node->safe_psql('postgres', 'SELECT ' . join(' + ', map { "(SELECT count(*) FROM t$_)" } 1 .. 30)),
	30 * 200, 'every replayed row is there');
$used = stats($node, 'memtable_pool_used');
cmp_ok($used, '<=', 8 * 1024 * 1024, "flushed tables keep small memtables: the pool holds $used bytes");

# ---------------------------------------------------------------------
# 4. Mixed load: 16 clients, two-row INSERTs and 5000-row INSERTs
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE ow (k int4 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (on_duplicate 'overwrite');
});
my $dir = $PostgreSQL::Test::Utils::tmp_check;
sub script
{
	my ($name, $text) = @_;
	my $f = "$dir/$name.sql";
	open my $fh, '>', $f or die "$f: $!";
	print $fh $text;
	close $fh;
	return $f;
}
my $small = script('pool_small', q{
\set t random(1, 30)
\set k random(1, 1000000000)
INSERT INTO t:t VALUES (:k, repeat('s', 2048)), (:k + 1000000000, repeat('s', 2048));
});
# the big ones one at a time: two of them would deadlock on their key locks
my $bulk = script('pool_bulk', q{
BEGIN;
SELECT pg_advisory_xact_lock(1);
INSERT INTO ow SELECT g, repeat('o', 2048) FROM generate_series(1, 5000) g;
COMMIT;
});
my ($pout, $perr) = ('', '');
my $h = IPC::Run::start(
	[ 'pgbench', '-n', '-c', 16, '-j', 2, '-T', $seconds, '-f', "$small\@9", '-f', "$bulk\@1",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$pout, '2>', \$perr,
	IPC::Run::timeout($seconds + 60));
eval { $h->finish; };
my $hung = $@;
$h->kill_kill if $hung;
my ($processed) = $pout =~ /number of transactions actually processed: (\d+)/;
my ($failed) = $pout =~ /number of failed transactions: (\d+)/;
my ($bulk_done) = $pout =~ /pool_bulk\.sql\n - weight: 1.*\n - (\d+) transactions/;
diag("pgbench: $pout\n$perr") if $hung || !defined $failed || $failed != 0;
ok(!$hung && defined $processed && $processed > 0 && defined $failed && $failed == 0,
	"16 clients with 5000-row INSERTs finish in time: " . ($processed // 'no')
	. ' transactions, ' . ($failed // '?') . ' failed');
cmp_ok($bulk_done // 0, '>', 0, '5000-row INSERTs committed: ' . ($bulk_done // 0));
is($node->safe_psql('postgres', "SELECT count(*) FROM ow"), '5000', 'the overwrite table holds its 5000 keys');
($rc, $out, $err) = psql_within($node, 60, "SELECT lsm_fdw_verify('ow'), lsm_fdw_verify('t1')");
is($rc, 0, 'the tables verify') or diag($err);

$node->stop;
done_testing();
