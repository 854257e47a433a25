# Crash safety: writers commit rows (single-row and 10-row transactions)
# and record each acknowledged commit; the postmaster is killed with
# SIGKILL at a random moment; after restart every acknowledged commit must
# be present, every transaction whole or absent, and nothing that was never
# attempted may appear.  LSM_CRASH_ROUNDS sets the number of rounds
# (default 10); LSM_TEST_SEED replays a run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $rounds = $ENV{LSM_CRASH_ROUNDS} // 10;
my $seed = $ENV{LSM_TEST_SEED} // time();
srand($seed);
note("seed $seed (replay with LSM_TEST_SEED=$seed)");

my $writers = 3;    # one table each: a table is used by one session at a time
my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
});
for my $w (1 .. $writers)
{
	$node->safe_psql('postgres',
		"CREATE FOREIGN TABLE t$w (k int8 OPTIONS (key 'true'), txn int8, pad text) SERVER lsm OPTIONS (memtable_size '1MB')");
}

# Wait until a SIGKILLed postmaster is really gone, then start again.
sub crash_and_restart
{
	my $pid = $node->{_pid};
	$node->kill9;
	for (my $i = 0; $i < 600 && kill(0, $pid); $i++) { usleep(50_000); }
	for my $try (1 .. 20)
	{
		return if $node->start(fail_ok => 1);
		usleep(500_000);
	}
	BAIL_OUT("node did not restart");
}

my $outdir = $PostgreSQL::Test::Utils::tmp_check;
my %acked;      # "$w:$txn" => number of rows
my %tried;      # "$w:$txn" => number of rows
my $next_txn = 1;
for my $round (1 .. $rounds)
{
	my @h;
	for my $w (1 .. $writers)
	{
		my $script = "$outdir/w$w.sql";
		open my $fh, '>', $script or die;
		print $fh "\\set ON_ERROR_STOP 1\n";
		# The last writer commits without fsync: a crash of Postgres (not of
		# the machine) must still lose nothing it acknowledged.
		print $fh "SET lsm_fdw.synchronous_commit = off;\n" if $w == $writers;
		for my $i (1 .. 3000)
		{
			my $txn = $next_txn++;
			my $n = ($i % 3 == 0) ? 10 : 1;
			$tried{"$w:$txn"} = $n;
			my $pad = 'x' x (50 + int(rand(400)));
			if ($n == 1)
			{
				print $fh "INSERT INTO t$w VALUES ($txn * 100, $txn, '$pad');\n";
			}
			else
			{
				print $fh "BEGIN;\n";
				print $fh "INSERT INTO t$w VALUES ($txn * 100 + $_, $txn, '$pad');\n" for 0 .. 9;
				print $fh "COMMIT;\n";
			}
			print $fh "\\echo ack $txn $n\n";
		}
		close $fh;
		my ($out, $err) = ('', '');
		push @h, [ IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $script ],
			'>', \$out, '2>', \$err), \$out ];
	}
	usleep(200_000 + int(rand(1_500_000)));
	crash_and_restart();
	for my $x (@h)
	{
		$x->[0]->finish;
		for my $line (split /\n/, ${ $x->[1] })
		{
			$acked{ (split ' ', $line)[1] } = 1 if $line =~ /^ack (\d+) (\d+)$/;
		}
	}

	# Every acknowledged transaction is present and whole; every present
	# transaction was attempted and is whole.
	my ($missing, $partial, $unknown, $present) = (0, 0, 0, 0);
	my %seen;
	for my $w (1 .. $writers)
	{
		my $rows = $node->safe_psql('postgres', "SELECT txn, count(*) FROM t$w GROUP BY txn");
		for my $line (split /\n/, $rows)
		{
			my ($txn, $cnt) = split /\|/, $line;
			$seen{$txn} = $cnt;
			$present++;
			if (!exists $tried{"$w:$txn"}) { $unknown++; }
			elsif ($tried{"$w:$txn"} != $cnt) { $partial++; }
		}
	}
	for my $txn (keys %acked)
	{
		$missing++ unless exists $seen{$txn};
	}
	is("$missing/$partial/$unknown", "0/0/0",
		"round $round: " . scalar(keys %acked) . " acknowledged transactions, $present present; missing/partial/unknown");
}

$node->stop;
done_testing();
