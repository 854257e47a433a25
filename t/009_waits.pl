# lsm_fdw's waits are Postgres waits: they show a wait event in
# pg_stat_activity and end on a query cancel, on statement_timeout, and,
# inside a commit (which statement_timeout does not cover), on
# lsm_fdw.commit_wait_timeout.
#  1. A writer whose commit waits for room in a full memtable pool (the
#     maintenance worker's flushes paused with the test-only
#     lsm_fdw.debug_pause_flushes) shows the wait event, and
#     pg_cancel_backend ends it within 1 s with 57014; nothing of the
#     cancelled commit is applied.
#  2. statement_timeout ends the same wait.
#  3. lsm_fdw.commit_wait_timeout fails a commit that waits too long (an
#     autocommit INSERT, and an explicit COMMIT) before anything is logged.
#  4. With flushes resumed, the writes go on and every committed row is
#     there, also after a restart.
#  5. A commit that waits after its record is logged cannot fail: it warns
#     past lsm_fdw.commit_wait_timeout, ignores a cancel and completes once
#     flushes resume.
#  6. lsm_fdw_flush() with a pool full of 30 tables' memtables (where it
#     waited without end) returns, or ends within 1 s of pg_cancel_backend
#     should it still wait.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('waits');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'lsm_fdw'\nlsm_fdw.memtable_memory = '4MB'\n");
$node->start;
my $pgver = $node->safe_psql('postgres', 'SHOW server_version_num');
# Postgres 15 and 16 show every extension wait as "Extension".
my $room_event = $pgver >= 170000 ? 'LsmMemtableRoom' : 'Extension';

$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int4 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (memtable_size '1MB');
	INSERT INTO t VALUES (0, 'first');
});

sub set_pause
{
	my ($on) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET lsm_fdw.debug_pause_flushes = $on; SELECT pg_reload_conf();");
	usleep(1_000_000);		# the maintenance worker reloads within ~100 ms
}

# Start psql running each of @sql (separate transactions) in the
# background; returns (handle, \stdout, \stderr).
sub start_psql
{
	my (@sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'),
		  map { ('-c', $_) } @sql ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	return ($h, \$out, \$err);
}

# The pid of the backend running a query that contains $marker.
sub backend_of
{
	my ($marker) = @_;
	for (1 .. 600)
	{
		my $pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE '%$marker%' AND pid <> pg_backend_pid()");
		return $pid if $pid;
		usleep(50_000);
	}
	return undef;
}

# Wait until backend $pid shows wait event $event twice in a row, 200 ms
# apart (a stuck wait, not a passing one).
sub wait_for_event
{
	my ($pid, $event, $seconds) = @_;
	my $seen = 0;
	for (1 .. $seconds * 5)
	{
		my $ev = $node->safe_psql('postgres',
			"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE pid = $pid");
		$seen = $ev eq "Extension/$event" ? $seen + 1 : 0;
		return 1 if $seen >= 2;
		usleep(200_000);
	}
	return 0;
}

# Cancel backend $pid and time how long until psql $h is done.
sub cancel_and_time
{
	my ($pid, $h) = @_;
	my $t0 = time();
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	eval { $h->finish; };
	return time() - $t0;
}

# Commits of 100 rows of 2 kB (200 kB) each, one after the other in a DO
# block, until the pool (4 MB) is full.
sub writer_sql
{
	my ($marker, $base) = @_;
	return "DO \$\$ /* $marker */ BEGIN FOR i IN 0..199 LOOP "
	  . "INSERT INTO t SELECT $base + i * 100 + g, repeat('x', 2000) FROM generate_series(1, 100) g; "
	  . "COMMIT; END LOOP; END \$\$";
}

# 1. Cancel.
set_pause('on');
my ($h, $out, $err) = start_psql(writer_sql('writer_one', 1_000_000));
my $pid = backend_of('writer_one');
ok($pid, 'the writer runs');
ok(wait_for_event($pid, $room_event, 60), "the writer waits for memtable room (wait event $room_event)");
is($node->safe_psql('postgres',
		"SELECT (lsm_fdw_server_stats()->>'memtable_waits')::int8 > 0"), 't',
	'lsm_fdw_server_stats counts the memtable wait');
my $elapsed = cancel_and_time($pid, $h);
cmp_ok($elapsed, '<', 1.0, sprintf('pg_cancel_backend ends the wait within 1 s (%.3f s)', $elapsed));
like($$err, qr/ERROR:  57014: canceling statement due to user request/, 'the writer gets 57014');
is($node->safe_psql('postgres', 'SELECT count(*) % 100 FROM t WHERE k >= 1000000'), '0',
	'only whole commits of the cancelled writer are there');
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM t');

# 2. statement_timeout.
($h, $out, $err) = start_psql("SET statement_timeout = '1s'", writer_sql('writer_two', 2_000_000));
my $t0 = time();
eval { $h->finish; };
$elapsed = time() - $t0;
like($$err, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'statement_timeout ends a commit waiting for memtable room');
cmp_ok($elapsed, '<', 3.0, sprintf('within its bound (%.3f s)', $elapsed));
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k >= 2000000'), '0',
	'nothing of it is applied');

# 3. lsm_fdw.commit_wait_timeout, which covers the commit of an
# autocommit statement (statement_timeout does not).
my ($rc, $stdout, $stderr) = $node->psql('postgres', q{
	\set VERBOSITY verbose
	SET statement_timeout = '100ms';
	SET lsm_fdw.commit_wait_timeout = '500ms';
	INSERT INTO t VALUES (3000000, 'autocommit');
});
like($stderr, qr/ERROR:  57014: canceling commit due to lsm_fdw.commit_wait_timeout/,
	'an autocommit INSERT waiting for room fails after lsm_fdw.commit_wait_timeout');
like($stderr, qr/DETAIL:  The commit waited longer than lsm_fdw.commit_wait_timeout \(500 ms\), in wait event LsmMemtableRoom; nothing of it was written\./,
	'the error says why, in errdetail');
($rc, $stdout, $stderr) = $node->psql('postgres', q{
	\set VERBOSITY verbose
	SET lsm_fdw.commit_wait_timeout = '300ms';
	BEGIN;
	INSERT INTO t VALUES (3000001, 'explicit');
	COMMIT;
});
like($stderr, qr/ERROR:  57014: canceling commit due to lsm_fdw.commit_wait_timeout/,
	'so does an explicit COMMIT');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k >= 3000000'), '0',
	'neither commit is applied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $committed,
	'the table holds what was committed before');

# 4. Flushes resume: writes go on, and everything survives a restart.
set_pause('off');
$node->safe_psql('postgres', "INSERT INTO t VALUES (4000000, 'after')");
$committed++;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $committed, 'writes go on once flushes resume');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $committed, 'every committed row survives a restart');

# 5. After its record is in the log a commit cannot fail: a wait there (the
# table's four frozen memtables wait for a flush, with room in the pool)
# ignores the cancel, warns once past lsm_fdw.commit_wait_timeout, and the
# commit completes once flushes resume; the cancel then ends the statement.
$node->append_conf('postgresql.conf', "lsm_fdw.memtable_memory = '16MB'\n");
$node->restart;
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE u (k int4 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (memtable_size '1MB');
});
set_pause('on');
($h, $out, $err) = start_psql("SET lsm_fdw.commit_wait_timeout = '500ms'",
	"DO \$\$ /* writer_three */ BEGIN FOR i IN 0..199 LOOP "
	  . "INSERT INTO u SELECT i * 100 + g, repeat('x', 2000) FROM generate_series(1, 100) g; "
	  . "RAISE NOTICE 'committing %', i; COMMIT; END LOOP; END \$\$");
$pid = backend_of('writer_three');
for (1 .. 600) { last if $$err =~ /WARNING/; $h->pump_nb; usleep(50_000); }
like($$err, qr/WARNING:  57014: lsm_fdw commit is waiting longer than lsm_fdw.commit_wait_timeout/,
	'a commit waiting after its record is logged warns past lsm_fdw.commit_wait_timeout');
like($$err, qr/DETAIL:  The commit is in lsm_fdw's log and can no longer be cancelled; it waits in wait event LsmMemtableRoom/,
	'the warning says why it goes on waiting');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
usleep(1_000_000);
is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $pid"), 'active',
	'a cancel does not end that wait');
set_pause('off');
eval { $h->finish; };
like($$err, qr/ERROR:  57014: canceling statement due to user request/,
	'the cancel ends the statement once the commit is done');
my @notices = $$err =~ /committing (\d+)/g;
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), ($notices[-1] + 1) * 100,
	'the commit that waited is applied, as are those before it');

# 6. lsm_fdw_flush() with the pool full of other tables' memtables.
$node->append_conf('postgresql.conf', "lsm_fdw.memtable_memory = '8MB'\n");
$node->restart;
my $ddl = '';
for my $i (1 .. 30)
{
	$ddl .= "CREATE FOREIGN TABLE f$i (k int4 OPTIONS (key 'true'), v text) SERVER lsm;\n"
	  . "INSERT INTO f$i SELECT g, repeat('y', 100) FROM generate_series(1, 100) g;\n";
}
$node->safe_psql('postgres', $ddl);
($h, $out, $err) = start_psql("SELECT 'flush_one', lsm_fdw_flush('f1')");
# it no longer waits for room (issue 12: a flush may go past the pool's limit)
$t0 = time;
while ($h->pumpable && time - $t0 < 5) { $h->pump_nb; usleep(50_000); }
if ($h->pumpable && ($pid = backend_of('flush_one')))
{
	$elapsed = cancel_and_time($pid, $h);
}
else
{
	eval { $h->finish; };
	$elapsed = 0;
}
cmp_ok($elapsed, '<', 1.0,
	sprintf('lsm_fdw_flush is done, at the latest within 1 s of pg_cancel_backend (%.3f s)', $elapsed));
like($$out . $$err, qr/flush_one|ERROR:  57014: canceling statement due to user request/,
	'it flushed or was cancelled (57014)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM f1'), '100', 'the table is intact');

$node->stop;
done_testing();
