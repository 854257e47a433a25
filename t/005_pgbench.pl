# Many clients on the same lsm_fdw tables, driven by pgbench.
#
# 0. First writes: 8 sessions, released together by an advisory-lock
#    barrier, write the same 30 brand-new tables at once (each table's
#    files are created by whichever session comes first; 1MB memtables, as
#    every open table holds one in the shared pool): no error, every row.
# 1. Mixed (LSM_PGBENCH_SECONDS, default 15 s): 8 clients run random
#    transactions, each applying the same operation to an lsm table (l,
#    on_duplicate 'overwrite') and to a heap twin (hl, primary key) in ONE
#    transaction:
#      put      INSERT (a blind overwrite on l; INSERT ... ON CONFLICT DO
#               UPDATE on hl), or INSERT ... ON CONFLICT DO NOTHING on both
#      delete   DELETE ... WHERE k = :k on both
#      inc      UPDATE ... SET n = n + 1 WHERE k = :k on both, plus an
#               increment of one of 10 lsm counters (c) and a row in a heap
#               log (clog) naming that counter
#    while 2 more clients only read l and c (point gets, ranges) and a
#    background session flushes l now and then.  Afterwards l equals hl
#    (EXCEPT both ways is empty), every counter in c equals the number of
#    its rows in clog, pgbench reports no failed transaction and no aborted
#    client, and lsm_fdw_verify passes.
# 2. Hot counters, lsm only (LSM_PGBENCH_HOT_SECONDS, default 8 s): 8
#    clients increment 10 lsm counters, one increment per transaction, in
#    the direct-modify form (autocommit) and in a form with a local qual
#    inside BEGIN/COMMIT; the sum of the counters equals the number of
#    transactions pgbench reports as processed, with zero failed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $seconds = $ENV{LSM_PGBENCH_SECONDS} // 15;
my $hot_seconds = $ENV{LSM_PGBENCH_HOT_SECONDS} // 8;
my $seed = $ENV{LSM_TEST_SEED} // time() % 1_000_000_000;
diag("seed $seed (pgbench --random-seed; the interleaving of clients cannot be replayed)");

my $node = PostgreSQL::Test::Cluster->new('pgbench');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
log_statement = none
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE l (k int4 OPTIONS (key 'true'), v text, n int8) SERVER lsm
		OPTIONS (on_duplicate 'overwrite', memtable_size '1MB');
	CREATE TABLE hl (k int4 PRIMARY KEY, v text, n int8);
	CREATE FOREIGN TABLE c (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
	CREATE TABLE clog (client int4, c int4);
	CREATE FOREIGN TABLE c2 (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
	INSERT INTO l SELECT g, 'init', 0 FROM generate_series(1, 500, 2) g;
	INSERT INTO hl SELECT g, 'init', 0 FROM generate_series(1, 500, 2) g;
	INSERT INTO c SELECT g, 0 FROM generate_series(1, 10) g;
	INSERT INTO c2 SELECT g, 0 FROM generate_series(1, 10) g;
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

my $put_over = script('put_over', q{
\set k random(1, 500)
\set r random(1, 1000000000)
BEGIN;
INSERT INTO l VALUES (:k, 'o' || :r || repeat('.', :r % 200), 0);
INSERT INTO hl VALUES (:k, 'o' || :r || repeat('.', :r % 200), 0) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = excluded.n;
COMMIT;
});
my $put_nothing = script('put_nothing', q{
\set k random(1, 500)
\set r random(1, 1000000000)
BEGIN;
INSERT INTO l VALUES (:k, 'n' || :r, 0) ON CONFLICT DO NOTHING;
INSERT INTO hl VALUES (:k, 'n' || :r, 0) ON CONFLICT DO NOTHING;
COMMIT;
});
my $delete = script('delete', q{
\set k random(1, 500)
BEGIN;
DELETE FROM l WHERE k = :k;
DELETE FROM hl WHERE k = :k;
COMMIT;
});
my $inc = script('inc', q{
\set k random(1, 500)
\set c random(1, 10)
BEGIN;
UPDATE l SET n = n + 1 WHERE k = :k;
UPDATE hl SET n = n + 1 WHERE k = :k;
UPDATE c SET n = n + 1 WHERE k = :c;
INSERT INTO clog VALUES (:client_id, :c);
COMMIT;
});
my $read = script('read', q{
\set k random(1, 500)
SELECT * FROM l WHERE k = :k;
SELECT count(*), sum(n) FROM l WHERE k BETWEEN :k AND :k + 50;
SELECT * FROM l WHERE k IN (:k, :k + 1, :k + 7);
SELECT n FROM c WHERE k = :k % 10 + 1;
});
my $hot_direct = script('hot_direct', q{
\set c random(1, 10)
UPDATE c2 SET n = n + 1 WHERE k = :c;
});
my $hot_scan = script('hot_scan', q{
\set c random(1, 10)
BEGIN;
UPDATE c2 SET n = n + 1 WHERE k = :c AND n >= 0;
COMMIT;
});

# 0. First writes to brand-new tables, from 8 sessions at once.
{
	my $tables = 30;
	$node->safe_psql('postgres', join('', map {
		"CREATE FOREIGN TABLE new$_ (k int4 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (memtable_size '1MB');\n" }
		1 .. $tables));
	# A barrier: the sessions wait for an advisory lock this session holds,
	# so that all 8 reach each new table at the same moment.
	my ($bin, $bout, $berr) = ("SELECT pg_advisory_lock(4242);\n\\echo locked\n", '', '');
	my $barrier = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$bin, '>', \$bout, '2>', \$berr);
	for (1 .. 300) { last if $bout =~ /locked/; $barrier->pump_nb; select(undef, undef, undef, 0.02); }
	my @h;
	my %err;
	for my $s (1 .. 8)
	{
		my $sql = "SELECT pg_advisory_lock_shared(4242);\nSELECT pg_advisory_unlock_shared(4242);\n"
		  . join('', map { "INSERT INTO new$_ VALUES ($s, 'session $s');\n" } 1 .. $tables);
		$err{$s} = '';
		push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres') ],
			'<', \$sql, '>', \my $o, '2>', \$err{$s});
	}
	my $waiting = 0;
	for (1 .. 300)
	{
		$_->pump_nb for @h;
		$waiting = $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted");
		last if $waiting == 8;
		select(undef, undef, undef, 0.02);
	}
	note("$waiting sessions at the barrier");
	$bin .= "SELECT pg_advisory_unlock(4242);\n";
	$barrier->finish;
	$_->finish for @h;
	my $errors = join('', values %err);
	is($errors, '', '8 sessions writing 30 brand-new tables at once get no error');
	is($node->safe_psql('postgres', join(' UNION ALL ', map { "SELECT count(*) FROM new$_" } 1 .. $tables)
		  =~ s/^/SELECT sum(count) FROM (/r . ') x'),
		8 * $tables, 'every row written to the new tables is there');
	# Their memtables go back to the pool.
	$node->safe_psql('postgres', 'DROP FOREIGN TABLE ' . join(', ', map { "new$_" } 1 .. $tables));
}

my @conn = ('-h', $node->host, '-p', $node->port);
sub start_pgbench
{
	my ($clients, $secs, @files) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-c', $clients, '-j', 2, '-T', $secs, "--random-seed=$seed",
		  (map { ('-f', $_) } @files), @conn, 'postgres' ],
		'>', \$out, '2>', \$err);
	return [ $h, \$out, \$err ];
}

# Finish a pgbench run; check it and return the number of transactions
# it processed.
sub check_pgbench
{
	my ($run, $what) = @_;
	$run->[0]->finish;
	my $rc = $run->[0]->result;
	my ($out, $err) = (${ $run->[1] }, ${ $run->[2] });
	my ($processed) = $out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	my @aborted = $err =~ /^(.*(?:aborted|error|ERROR).*)$/mg;
	diag("$what: pgbench exit $rc\n$out\n$err") if $rc != 0 || !defined $failed || $failed != 0 || @aborted;
	ok($rc == 0 && defined $processed && $processed > 0 && defined $failed && $failed == 0 && !@aborted,
		"$what: " . ($processed // 'no') . ' transactions processed, ' . ($failed // '?') . ' failed, no client aborted');
	return $processed // 0;
}

# 1. Mixed workload, heap twin in the same transactions.
my $flusher_script = script('flusher', join('', map { "SELECT lsm_fdw_flush('l');\nSELECT pg_sleep(1.5);\n" }
	1 .. int($seconds / 1.5)));
my ($fo, $fe) = ('', '');
my $flusher = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', $flusher_script ], '>', \$fo, '2>', \$fe);
my $writers = start_pgbench(8, $seconds, "$put_over\@3", "$put_nothing\@1", "$delete\@2", "$inc\@3");
my $readers = start_pgbench(2, $seconds, $read);
my $n_mixed = check_pgbench($writers, 'mixed writers (8 clients)');
check_pgbench($readers, 'readers (2 clients)');
$flusher->finish;
is($fe, '', 'the background flushes raised no error');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM ((TABLE l EXCEPT TABLE hl) UNION ALL (TABLE hl EXCEPT TABLE l)) d}),
	'0', 'the lsm table equals its heap twin (EXCEPT both ways is empty)')
  or diag($node->safe_psql('postgres', q{
	SELECT 'lsm', * FROM (TABLE l EXCEPT TABLE hl) a
	UNION ALL SELECT 'heap', * FROM (TABLE hl EXCEPT TABLE l) b ORDER BY 2, 1}));
is($node->safe_psql('postgres', 'SELECT count(*) = (SELECT count(*) FROM hl) FROM l'), 't',
	'same number of rows (' . $node->safe_psql('postgres', 'SELECT count(*) FROM l') . ')');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM c FULL JOIN (SELECT c AS k, count(*) AS n FROM clog GROUP BY c) g USING (k)
	 WHERE c.n IS DISTINCT FROM coalesce(g.n, 0)}),
	'0', 'every counter equals its committed increments in the heap log ('
	  . $node->safe_psql('postgres', 'SELECT sum(n) FROM c') . ' increments)');
ok($node->safe_psql('postgres', 'SELECT sum(n) FROM c') > 0, 'some increments happened');
for my $t ('l', 'c')
{
	my ($rc, $o, $e) = $node->psql('postgres', "SELECT lsm_fdw_verify('$t')->>'problems'");
	is("$rc $o$e", '0 0', "lsm_fdw_verify('$t') passes");
}

# 2. Hot counters, lsm only.
my $hot = start_pgbench(8, $hot_seconds, "$hot_direct\@3", "$hot_scan\@1");
my $n_hot = check_pgbench($hot, 'hot counters (8 clients, 10 keys)');
is($node->safe_psql('postgres', 'SELECT sum(n) FROM c2'), $n_hot,
	"the 10 hot counters add up to the $n_hot transactions pgbench processed");
my ($rc, $o, $e) = $node->psql('postgres', "SELECT lsm_fdw_verify('c2')->>'problems'");
is("$rc $o$e", '0 0', "lsm_fdw_verify('c2') passes");

# Everything is still there after a restart.
my $before = $node->safe_psql('postgres', 'SELECT (SELECT sum(n) FROM c), (SELECT sum(n) FROM c2), (SELECT count(*) FROM l)');
$node->restart;
is($node->safe_psql('postgres', 'SELECT (SELECT sum(n) FROM c), (SELECT sum(n) FROM c2), (SELECT count(*) FROM l)'),
	$before, 'counters and rows unchanged after a restart');

$node->stop;
done_testing();
