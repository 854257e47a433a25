# Failures that must leave lsm_fdw tables readable and consistent, with
# several sessions using the same table:
#  - a backend killed with SIGKILL while it holds uncommitted writes and key
#    locks, with another session waiting for one of those keys and a third
#    one's commit just done; and backends killed at random moments while
#    three sessions commit to the same table (the postmaster then restarts
#    every backend and the tables recover);
#  - a full disk (a small tmpfs prepared by test/run_all.sh when it runs as
#    root, passed in LSM_SMALL_DISK; skipped with a reason otherwise): two
#    sessions fill it, every write then fails with 53100, another session
#    reads every committed row, writes resume once space is freed, and
#    nothing committed is lost across a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $seed = $ENV{LSM_TEST_SEED} // time();
srand($seed);
diag("seed $seed (replay with LSM_TEST_SEED=$seed)");

my $node = PostgreSQL::Test::Cluster->new('failures');
$node->init;
# Small log segments, so that the log fits on the small disk.
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'lsm_fdw'\nrestart_after_crash = on\nlsm_fdw.wal_segment_size = '1MB'\n");
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

# 1. A backend killed while its transaction holds uncommitted writes (and
# their key locks), while another session waits for one of those keys and
# after a third one committed.
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	# 510 keys: below lsm_fdw.max_key_locks_per_transaction (1000), so the
	# transaction locks keys, not the whole table.
	$in .= "BEGIN;\nINSERT INTO t SELECT g, 'uncommitted' FROM generate_series(1001, 1500) g;\nUPDATE t SET v = 'uncommitted' WHERE k <= 10;\nSELECT 'pid ' || pg_backend_pid();\n";
	for (1 .. 300) { last if $out =~ /pid (\d+)/; $h->pump_nb; usleep(50_000); }
	my ($pid) = $out =~ /pid (\d+)/;
	ok($pid, 'got the backend pid of the open transaction');
	$node->safe_psql('postgres', "INSERT INTO t VALUES (3000, 'committed')");
	my ($wout, $werr) = ('', '');
	my $w = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'),
		'-c', "UPDATE t SET v = 'waiter' WHERE k = 5" ], '>', \$wout, '2>', \$werr);
	my $waiting = 0;
	for (1 .. 300)
	{
		$waiting = $node->safe_psql('postgres', 'SELECT count(*) FROM pg_locks WHERE NOT granted');
		last if $waiting > 0;
		usleep(50_000);
	}
	is($waiting, 1, 'another session waits for a key the open transaction wrote');
	kill 'KILL', $pid;
	$h->finish;
	$w->finish;
	ok(wait_ready(), 'server accepts connections after the crash restart');
	is($node->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE v = 'committed') FROM t"),
		'1001|1001', 'committed rows are all there (also the other session\'s), uncommitted ones are not');
	$node->safe_psql('postgres', 'DELETE FROM t WHERE k = 3000');
}

# 2. Three sessions commit 5-row transactions to the same table; one of
# their backends is killed at a random moment.
my $writers = 3;
for my $round (1 .. 5)
{
	my $base = 10_000 * 10 * $round;
	my (@h, %out);
	for my $w (1 .. $writers)
	{
		my $script = "$PostgreSQL::Test::Utils::tmp_check/kill_${round}_$w.sql";
		open my $fh, '>', $script or die;
		print $fh "\\set ON_ERROR_STOP 1\nSELECT 'pid ' || pg_backend_pid();\n";
		for my $i (1 .. 3000)
		{
			my $k = $base + ($i * $writers + $w - 1) * 10;
			print $fh "BEGIN;\n";
			print $fh "INSERT INTO t VALUES ($k + $_, '$w:$i');\n" for 0 .. 4;
			print $fh "COMMIT;\n\\echo ack $w:$i\n";
		}
		close $fh;
		$out{$w} = '';
		my $err = '';
		push @h, IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
			'>', \$out{$w}, '2>', \$err);
	}
	my $victim = 1 + int(rand($writers));
	for (1 .. 300) { last if $out{$victim} =~ /pid (\d+)/; $_->pump_nb for @h; usleep(20_000); }
	my ($pid) = $out{$victim} =~ /pid (\d+)/;
	usleep(50_000 + int(rand(600_000)));
	kill 'KILL', $pid if $pid;
	$_->finish for @h;
	wait_ready() or BAIL_OUT('server did not come back');
	my %acked = map { $_ => 1 } map { /^ack (\d+:\d+)$/mg } values %out;
	my $rows = $node->safe_psql('postgres',
		"SELECT v, count(*) FROM t WHERE k >= $base AND k < $base + 100000 GROUP BY 1");
	my ($missing, $partial) = (0, 0);
	my %seen;
	for (split /\n/, $rows) { my ($i, $c) = split /\|/; $seen{$i} = 1; $partial++ if $c != 5; }
	for (keys %acked) { $missing++ unless $seen{$_}; }
	is("$missing/$partial", '0/0',
		"round $round: " . scalar(keys %acked) . " acknowledged transactions of $writers sessions survive a killed backend (of session $victim), none partial");
}
is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('t')->>'problems'"), '0', 'lsm_fdw_verify passes after the crashes');

# 3. A full disk: two sessions fill it.
SKIP:
{
	skip 'no small disk: run test/run_all.sh as root to test a full disk', 10 unless $ENV{LSM_SMALL_DISK};

	# Ballast to delete later, so the disk can be "freed".
	my $ballast = "$ENV{LSM_SMALL_DISK}/ballast";
	open my $b, '>', $ballast or die;
	print $b ('x' x (1024 * 1024)) for 1 .. 6;
	close $b;

	# Each filler commits 5-row INSERTs (keys from 10,000,000 and from
	# 20,000,000) until they fail; a writer that waited instead of failing
	# would hit the statement timeout (57014) and fail the test.
	my (@h, %out, %err);
	for my $f (1, 2)
	{
		my $script = "$PostgreSQL::Test::Utils::tmp_check/fill_$f.sql";
		open my $fh, '>', $script or die;
		print $fh "\\set VERBOSITY verbose\nSET statement_timeout = '60s';\n";
		for my $i (1 .. 4000)
		{
			print $fh "INSERT INTO t SELECT ${f}0000000 + $i * 10 + g, (SELECT string_agg(md5(random()::text || s.i || g), '') FROM generate_series(1, 60) s(i)) FROM generate_series(0, 4) g;\n";
			print $fh "\\if :ERROR\n\\else\n\\echo ack $i\n\\endif\n";
		}
		# The same session reads everything it committed, on the full disk.
		print $fh "SELECT 'rows ' || count(*) FROM t WHERE k >= ${f}0000000 AND k < ${f}0000000 + 1000000;\n";
		close $fh;
		($out{$f}, $err{$f}) = ('', '');
		push @h, IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
			'>', \$out{$f}, '2>', \$err{$f});
	}
	$_->finish for @h;
	my %acks = map { $_ => scalar(() = $out{$_} =~ /^ack \d+$/mg) } (1, 2);
	my $acked = $acks{1} + $acks{2};
	my @states = map { /ERROR:\s+([0-9A-Z]{5}):/g } values %err;
	my %states = map { $_ => 1 } @states;
	my ($first_error) = ($err{1} . $err{2}) =~ /(ERROR:[^\n]*)/;
	note("disk full after $acks{1} + $acks{2} commits: " . ($first_error // 'no error'));
	ok($acks{1} > 0 && $acks{2} > 0 && $acks{1} < 4000 && $acks{2} < 4000, 'both sessions commit until the disk is full');
	is(join(',', sort keys %states) || 'none', '53100', 'writes on a full disk fail with disk_full (53100), and only with it');
	# As in contrib modules, errmsg says what failed and the engine's text
	# (file, errno) is the DETAIL.
	my @errors = ($err{1} . $err{2}) =~ /(ERROR:[^\n]*\n(?:DETAIL:[^\n]*)?)/g;
	my @bad = grep { !/^ERROR:\s+53100: lsm_fdw could not [^:\n]+\nDETAIL:\s+\S/ } @errors;
	ok(@errors && !@bad, "the engine's text is the DETAIL of the error, not its message")
	  or diag(join("\n", @bad[0 .. ($#bad < 2 ? $#bad : 2)]));
	my $ok_rows = 1;
	for my $f (1, 2)
	{
		my ($rows) = $out{$f} =~ /^rows (\d+)$/m;
		$ok_rows = 0 unless defined $rows && ($rows == 5 * $acks{$f} || $rows == 5 * $acks{$f} + 5);
	}
	ok($ok_rows, 'each session reads every row it committed, on the full disk');
	# The failed statements are "in doubt" only if they failed after their
	# log record was written: then they may be present, but whole.
	my $in_doubt = sub { my $n = shift; $n == 5 * $acked || $n == 5 * $acked + 5 || $n == 5 * $acked + 10 };
	my $full = $node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k >= 10000000');
	ok($in_doubt->($full), "another session reads every committed row on the full disk ($full rows, $acked commits)");

	# Once space is freed, writes go through again without a restart (a
	# failed memtable flush may take a retry of the background worker).
	unlink $ballast;
	my $resumed = 0;
	for (1 .. 60)
	{
		my ($rc) = $node->psql('postgres', "INSERT INTO t VALUES (30000000, 'after the disk was freed')");
		if ($rc == 0) { $resumed = 1; last; }
		usleep(500_000);
	}
	ok($resumed, 'writes succeed again once space is freed, without a restart');
	$node->restart;
	my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k >= 10000000 AND k < 30000000');
	ok($in_doubt->($after),
		"every acknowledged row is present after the server restarts ($after rows, $acked acknowledged commits)");
	is($after, $full, 'the same rows as on the full disk');
	is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('t')->>'problems'"), '0', 'lsm_fdw_verify passes after the full disk');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE k <= 1000 OR k = 30000000'), '1001',
		'older rows intact, the row written after freeing space too');
}

$node->stop;
done_testing();
