# Readers see a transaction that wrote a heap table and an lsm table whole.
#
# Such a transaction shows committed in Postgres first, then numbers and
# publishes its lsm rows in its COMMIT callback.  A reader whose snapshot
# fell between the two saw its heap rows without its lsm rows, and one whose
# snapshot came first but whose lsm read point came after saw the reverse
# (a pgbench run of 4 writers and 2 readers found both within seconds).  lsm_fdw.debug_resolve_lock holds a commit
# between the two steps here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('heap_lsm_reads');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE lx (k int OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE TABLE hx (k int PRIMARY KEY, v text);
});

sub start_psql
{
	my ($sql) = @_;
	my ($in, $out, $err) = ($sql, '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub wait_for
{
	my ($p, $re) = @_;
	for (1 .. 600)
	{
		return 1 if ${ $p->{out} } =~ $re;
		$p->{h}->pump_nb;
		usleep(20_000);
	}
	return 0;
}

my $count = q{SELECT (SELECT count(*) FROM hx) || '|' || (SELECT count(*) FROM lx)};

# 1: the holder of the lock, and a writer held between its two steps
my $holder = start_psql("SELECT pg_advisory_lock(77);\nSELECT 'locked';\n");
ok(wait_for($holder, qr/locked/), 'advisory lock 77 held');
my $writer = start_psql(q{
	SET lsm_fdw.debug_resolve_lock = 77;
	BEGIN;
	INSERT INTO hx VALUES (1, 'x');
	INSERT INTO lx VALUES (1, 'x');
	COMMIT;
	SELECT 'writer done';
});
my $held = 0;
for (1 .. 600)
{
	$writer->{h}->pump_nb;
	$held = $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 77 AND NOT granted});
	last if $held > 0;
	usleep(50_000);
}
ok($held > 0, 'the writer waits in its COMMIT callback') or die;
is($node->safe_psql('postgres', q{SELECT count(*) FROM hx}), 1,
	'Postgres shows the writer committed');

# readers whose snapshots show the writer committed: they wait for its lsm
# rows (READ COMMITTED, and REPEATABLE READ at its first statement)
my $rr = start_psql(qq{
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SELECT 'rr first ' || count(*) FROM hx;
	SELECT 'rr later ' || ($count);
	COMMIT;
});
my $rc = start_psql("SELECT 'rc ' || ($count);\n");
for (1 .. 25) { $_->{h}->pump_nb for ($rr, $rc); usleep(20_000); }
unlike(${ $rc->{out} }, qr/rc /, 'a READ COMMITTED reader waits for the lsm rows');
unlike(${ $rr->{out} }, qr/rr /, 'so does a REPEATABLE READ one');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity
	 WHERE wait_event_type = 'Extension' AND (query LIKE '%rr first%' OR query LIKE 'SELECT ''rc %')}),
	2, 'both show an Extension wait event');
$holder->{h}->finish;	# releases the lock
ok(wait_for($writer, qr/writer done/), 'the writer finished');
ok(wait_for($rc, qr/rc \d/), 'the READ COMMITTED reader went on');
like(${ $rc->{out} }, qr/rc 1\|1/, 'and saw both halves');
ok(wait_for($rr, qr/rr later/), 'the REPEATABLE READ reader finished');
like(${ $rr->{out} }, qr/rr first 1\n.*rr later 1\|1/s, 'and saw both halves');
$_->{h}->finish for ($writer, $rc, $rr);

# 2: a REPEATABLE READ reader whose snapshot came first (it read only heap
# rows), then a whole heap+lsm commit, then its first lsm read
$rr = start_psql(qq{
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SELECT 'first ' || count(*) FROM hx;
	SELECT pg_sleep(1);
	SELECT 'later ' || ($count);
	COMMIT;
});
ok(wait_for($rr, qr/first 1/), 'the reader took its snapshot');
$node->safe_psql('postgres', q{BEGIN; INSERT INTO hx VALUES (2, 'y'); INSERT INTO lx VALUES (2, 'y'); COMMIT;});
ok(wait_for($rr, qr/later/), 'the reader read the lsm table after the commit');
like(${ $rr->{out} }, qr/later 1\|1/, 'and saw neither half of the later transaction');
$rr->{h}->finish;

$node->stop;
done_testing();
