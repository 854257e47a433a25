# A session idle at its client closes lsm_fdw's files after
# lsm_fdw.idle_close_delay, so that files a compaction deleted meanwhile
# free their disk space; with the delay 0 it keeps them (the behaviour
# before round 2 session 17), which shows the case is real.
#  1. Two sessions read a flushed table and go idle: one with the delay
#     0, one with 300 ms.
#  2. A compaction deletes the files they read.
#  3. After 3 s the first still holds deleted table files open, the
#     second holds none (and no lsm_fdw file at all).
#  4. Both read the table again and see every row (from the new files, or
#     the shared block cache).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('idle_close');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO t SELECT g, repeat('v', 100) FROM generate_series(1, 5000) g;
	SELECT lsm_fdw_flush('t');
	INSERT INTO t SELECT g, repeat('w', 100) FROM generate_series(5001, 10000) g;
	SELECT lsm_fdw_flush('t');
});

# A psql reading its statements from a pipe, so that it stays connected.
sub start_session
{
	my ($delay) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my $s = { h => $h, in => \$in, out => \$out, err => \$err };
	query($s, "SET lsm_fdw.idle_close_delay = $delay");
	return $s;
}

# Run $sql in session $s and return its output.
sub query
{
	my ($s, $sql) = @_;
	${ $s->{out} } = '';
	${ $s->{in} } .= "$sql;\nSELECT 'done' || 'mark';\n";
	$s->{h}->pump until ${ $s->{out} } =~ /donemark/;
	my $r = ${ $s->{out} };
	$r =~ s/donemark\n?//;
	chomp $r;
	return $r;
}

# The lsm_fdw files process $pid holds open: (all, deleted ones).
sub lsm_fds
{
	my ($pid) = @_;
	my ($all, $deleted) = (0, 0);
	opendir(my $d, "/proc/$pid/fd") or die "cannot read /proc/$pid/fd: $!";
	for my $fd (readdir $d)
	{
		my $target = readlink("/proc/$pid/fd/$fd");
		next unless defined $target && $target =~ m{/lsm_fdw/\d+/};
		$all++;
		$deleted++ if $target =~ /\(deleted\)$/;
	}
	closedir $d;
	return ($all, $deleted);
}

my $keep = start_session(0);
my $close = start_session(300);
my ($keep_pid, $close_pid);
for my $s ($keep, $close)
{
	is(query($s, 'SELECT count(*) FROM t'), '10000', 'a session reads the table');
}
$keep_pid = query($keep, 'SELECT pg_backend_pid()');
$close_pid = query($close, 'SELECT pg_backend_pid()');
my ($all) = lsm_fds($keep_pid);
cmp_ok($all, '>', 0, "the session with the delay 0 holds $all table files open");

# The compaction merges the two files into new ones and deletes them.
$node->safe_psql('postgres', "SELECT lsm_fdw_compact('t')");
usleep(3_000_000);

my ($keep_all, $keep_deleted) = lsm_fds($keep_pid);
my ($close_all, $close_deleted) = lsm_fds($close_pid);
cmp_ok($keep_deleted, '>', 0,
	"with the delay 0 the idle session still holds $keep_deleted deleted table files");
is($close_deleted, 0, 'with the delay 300 ms the idle session holds no deleted table file');
is($close_all, 0, 'nor any other lsm_fdw file');

for my $s ($keep, $close)
{
	is(query($s, 'SELECT count(*), sum(length(v)) FROM t'), '10000|1000000',
		'the session reads every row again');
}

for my $s ($keep, $close)
{
	${ $s->{in} } .= "\\q\n";
	$s->{h}->finish;
}
$node->stop;
done_testing();
