# Failures that must leave lsm_fdw tables readable and consistent:
#  - a backend killed with SIGKILL mid-transaction and mid-commit (the
#    postmaster then restarts every backend and the tables recover);
#  - a full disk (a small tmpfs prepared by test/run_all.sh when it runs as
#    root, passed in LSM_SMALL_DISK; skipped with a reason otherwise).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $seed = $ENV{LSM_TEST_SEED} // time();
srand($seed);
note("seed $seed (replay with LSM_TEST_SEED=$seed)");

my $node = PostgreSQL::Test::Cluster->new('failures');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\nrestart_after_crash = on\n");
if ($ENV{LSM_SMALL_DISK})
{
	# The lsm_fdw directory lives on the small disk.
	mkdir "$ENV{LSM_SMALL_DISK}/lsm_fdw" or die "mkdir: $!";
	symlink("$ENV{LSM_SMALL_DISK}/lsm_fdw", $node->data_dir . '/lsm_fdw') or die "symlink: $!";
}
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int8 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (memtable_size '1MB');
	INSERT INTO t SELECT g, 'committed' FROM generate_series(1, 1000) g;
});

# Wait for crash recovery to finish and the server to accept connections.
sub wait_ready
{
	for (1 .. 300)
	{
		my ($rc) = $node->psql('postgres', 'SELECT 1');
		return 1 if $rc == 0;
		usleep(100_000);
	}
	return 0;
}

# 1. A backend killed while its transaction holds uncommitted writes.
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "BEGIN;\nINSERT INTO t SELECT g, 'uncommitted' FROM generate_series(1001, 2000) g;\nUPDATE t SET v = 'uncommitted' WHERE k <= 10;\nSELECT 'pid ' || pg_backend_pid();\n";
	for (1 .. 300) { last if $out =~ /pid (\d+)/; $h->pump_nb; usleep(50_000); }
	my ($pid) = $out =~ /pid (\d+)/;
	ok($pid, 'got the backend pid of the open transaction');
	kill 'KILL', $pid;
	$h->finish;
	ok(wait_ready(), 'server accepts connections after the crash restart');
	is($node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE v = 'committed') FROM t"),
		'1000|1000', 'committed rows are all there, uncommitted ones are not');
}

# 2. Backends killed at random moments while committing.
for my $round (1 .. 5)
{
	my $base = 100_000 * $round;
	my $script = "$PostgreSQL::Test::Utils::tmp_check/kill_$round.sql";
	open my $fh, '>', $script or die;
	print $fh "\\set ON_ERROR_STOP 1\nSELECT 'pid ' || pg_backend_pid();\n";
	for my $i (1 .. 10000)
	{
		my $k = $base + $i * 10;
		print $fh "BEGIN;\n";
		print $fh "INSERT INTO t VALUES ($k + $_, 'txn $i');\n" for 0 .. 4;
		print $fh "COMMIT;\n\\echo ack $i\n";
	}
	close $fh;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
		'>', \$out, '2>', \$err);
	for (1 .. 300) { last if $out =~ /pid (\d+)/; $h->pump_nb; usleep(20_000); }
	my ($pid) = $out =~ /pid (\d+)/;
	usleep(50_000 + int(rand(600_000)));
	kill 'KILL', $pid if $pid;
	$h->finish;
	wait_ready() or BAIL_OUT('server did not come back');
	my %acked = map { $_ => 1 } ($out =~ /^ack (\d+)$/mg);
	my $rows = $node->safe_psql('postgres',
		"SELECT substr(v, 5)::int, count(*) FROM t WHERE k > $base AND k < $base + 100000 GROUP BY 1");
	my ($missing, $partial) = (0, 0);
	my %seen;
	for (split /\n/, $rows) { my ($i, $c) = split /\|/; $seen{$i} = 1; $partial++ if $c != 5; }
	for (keys %acked) { $missing++ unless $seen{$_}; }
	is("$missing/$partial", '0/0',
		"round $round: " . scalar(keys %acked) . ' acknowledged transactions survive a killed backend, none partial');
}
is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('t')"), '', 'lsm_fdw_verify passes after the crashes');

# 3. A full disk.
SKIP:
{
	skip 'no small disk: run test/run_all.sh as root to test a full disk', 6 unless $ENV{LSM_SMALL_DISK};

	# Ballast to delete later, so the disk can be "freed".
	my $ballast = "$ENV{LSM_SMALL_DISK}/ballast";
	open my $b, '>', $ballast or die;
	print $b ('x' x (1024 * 1024)) for 1 .. 6;
	close $b;

	my $sqlstate;
	my $script = "$PostgreSQL::Test::Utils::tmp_check/fill.sql";
	open my $fh, '>', $script or die;
	print $fh "\\set VERBOSITY verbose\n";
	for my $i (1 .. 4000)
	{
		print $fh "INSERT INTO t SELECT 10000000 + $i * 10 + g, (SELECT string_agg(md5(random()::text || s.i || g), '') FROM generate_series(1, 60) s(i)) FROM generate_series(0, 4) g;\n";
		print $fh "\\if :ERROR\n\\else\n\\echo ack $i\n\\endif\n";
	}
	# The same session reads everything it committed, on the full disk.
	print $fh "SELECT 'rows ' || count(*) FROM t WHERE k >= 10000000;\n";
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
		'>', \$out, '2>', \$err);
	my @acks = ($out =~ /^ack (\d+)$/mg);
	($sqlstate) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	my ($first_error) = $err =~ /(ERROR:[^\n]*)/;
	note("disk full after " . scalar(@acks) . " commits: " . ($first_error // 'no error'));
	ok(@acks > 0 && @acks < 4000, 'commits succeed until the disk is full');
	is($sqlstate // 'none', '53100', 'a write on a full disk fails with disk_full (53100)');
	my ($rows) = $out =~ /^rows (\d+)$/m;
	ok(defined $rows && ($rows == 5 * scalar(@acks) || $rows == 5 * scalar(@acks) + 5),
		'the session reads every row it committed, on the full disk (' . ($rows // 'none') . ' rows)');
	unlink $ballast;
	$node->restart;
	# The failed statement is "in doubt" only if it failed after its WAL
	# record was written: then it may be present, but whole.
	my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k >= 10000000');
	ok($after == 5 * scalar(@acks) || $after == 5 * scalar(@acks) + 5,
		"every acknowledged row is present after space is freed and the server restarts ($after rows, " . scalar(@acks) . ' acknowledged commits)');
	is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('t')"), '', 'lsm_fdw_verify passes after the full disk');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k <= 1000'), '1000', 'older rows intact');
}

$node->stop;
done_testing();
