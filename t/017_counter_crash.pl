# Counters under crashes: 16 psql clients increment random hot and cold
# keys, as blind UPDATE increments (merge operands, int8 and numeric),
# read-modify-write UPDATEs and on_duplicate 'sum' INSERTs (single and
# multi-row, the same key twice in one statement now and then); some
# transactions roll back, some roll back to a savepoint.  The postmaster is
# killed with SIGKILL at a random moment, LSM_COUNTER_ROUNDS times (default
# 10; test/crash_loop.sh runs more).
#
# Every transaction also inserts its id into "done", logs "intent <id>"
# before its COMMIT and "ack <id>" after it.  After each restart:
#  - every acknowledged transaction is in "done"; every transaction in
#    "done" logged its intent (nothing never committed appears), and per
#    client at most one is there without its acknowledgement;
#  - every counter (ctr: blind and read-modify-write increments; sums:
#    summing inserts into a table whose every non-key column is summed, so
#    that they take the weak key lock as increments do) equals, exactly, the sum of the increments of the
#    transactions in "done", over all rounds so far: an in-flight
#    transaction is fully in or fully out, a rolled back one (or the part
#    rolled back to a savepoint) never counts;
#  - no client got an SQL error before the kill; lsm_fdw_verify passes
#    (every 5th round and the last).
#
# LSM_TEST_SEED replays the scripts and kill delays (not the kill's timing).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $rounds = $ENV{LSM_COUNTER_ROUNDS} // 10;
my $clients = 16;
my $nkeys = 2000;    # keys 0..3 are hot, the others cold
my $seed = $ENV{LSM_TEST_SEED} // time() % 1_000_000_000;
srand($seed);
diag("seed $seed (replay with LSM_TEST_SEED=$seed), $rounds rounds, $clients clients");

my $node = PostgreSQL::Test::Cluster->new('counters');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
fsync = on
log_statement = none
max_connections = 40
deadlock_timeout = '50ms'
});
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE ctr (k int4 OPTIONS (key 'true'), n int8, amt numeric) SERVER lsm
		OPTIONS (memtable_size '1MB');
	CREATE FOREIGN TABLE sums (k int4 OPTIONS (key 'true'), n int8, amt numeric) SERVER lsm
		OPTIONS (on_duplicate 'sum', memtable_size '1MB');
	CREATE FOREIGN TABLE done (txn int8 OPTIONS (key 'true')) SERVER lsm;
	INSERT INTO ctr SELECT g, 0, 0 FROM generate_series(0, $nkeys - 1) g;
});

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

sub key { rand() < 0.5 ? int(rand(4)) : 4 + int(rand($nkeys - 4)) }

# One increment: SQL, and its effect added to $eff (table => key => [n, cents]).
sub op
{
	my ($eff, $client) = @_;
	my $r = rand();
	my @rows = (1);
	push @rows, 2 if $r >= 0.85;
	push @rows, 3 if $r >= 0.95;
	my @vals;
	my $table = $r < 0.5 ? 'ctr' : 'sums';
	my $sql;
	for (@rows)
	{
		my $k = key();
		$k = $vals[0][0] if @vals && rand() < 0.3;    # the same key twice
		my $d = int(rand(151)) - 50;
		push @vals, [ $k, $d ];
		$eff->{$table}{$k}[0] += $d;
		$eff->{$table}{$k}[1] += $d;                 # amt = d / 100: in cents
	}
	my $amt = sub { my $d = shift; sprintf('%s%d.%02d', $d < 0 ? '-' : '', int(abs($d) / 100), abs($d) % 100) };
	if ($table eq 'ctr')
	{
		my ($k, $d) = @{ $vals[0] };
		return "UPDATE ctr SET n = n + $d, amt = amt + " . $amt->($d) . " WHERE k = $k;\n";
	}
	return 'INSERT INTO sums VALUES '
	  . join(', ', map { "($_->[0], $_->[1], " . $amt->($_->[1]) . ")" } @vals) . ";\n";
}

# A client's script: $n transactions; $effects->{txn} their increments.
my $next_seq = 1;
sub client_script
{
	my ($client, $n, $effects) = @_;
	my @s = ("\\set ON_ERROR_STOP 1\n\\set VERBOSITY verbose\n");
	for (1 .. $n)
	{
		my $txn = ($next_seq++ << 5) | $client;
		my %eff;
		my $rollback = rand() < 0.1;
		push @s, "BEGIN;\n";
		if (rand() < 0.15)
		{
			# a read-modify-write alone: with increments of other keys
			# before it, its exclusive lock could deadlock
			push @s, "UPDATE ctr SET n = n * 1 + 1, amt = amt + 0.01 WHERE k = " . (my $k = key()) . ";\n";
			$eff{ctr}{$k} = [ 1, 1 ];
		}
		else
		{
			push @s, op(\%eff, $client) for 1 .. 1 + int(rand(4));
			if (rand() < 0.3)
			{
				my %lost;
				push @s, "SAVEPOINT s;\n";
				push @s, op(\%lost, $client) for 1 .. 1 + int(rand(2));
				push @s, "ROLLBACK TO SAVEPOINT s;\n";
				push @s, op(\%eff, $client) if rand() < 0.5;
			}
		}
		if ($rollback)
		{
			push @s, "ROLLBACK;\n";
			next;
		}
		push @s, "INSERT INTO done VALUES ($txn);\n\\echo intent $txn\nCOMMIT;\n\\echo ack $txn\n";
		$effects->{$txn} = \%eff;
	}
	return join('', @s);
}

my $outdir = $PostgreSQL::Test::Utils::tmp_check;
my %want;    # table => key => [n, cents], over every round so far
my $t_start = time();
for my $round (1 .. $rounds)
{
	my (%effects, @h);
	my $min_txn = $next_seq << 5;
	for my $c (1 .. $clients)
	{
		my $script = "$outdir/counter_c$c.sql";
		open my $fh, '>', $script or die "$script: $!";
		print $fh client_script($c, 2000, \%effects);
		close $fh;
		my ($out, $err) = ('', '');
		push @h, [ IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
			'>', \$out, '2>', \$err), \$out, \$err ];
	}
	my $delay = 300_000 + int(rand(1_200_000));
	usleep($delay);
	crash_and_restart();

	my (%acked, %intent, @errors, @problems);
	for my $x (@h)
	{
		$x->[0]->finish;
		$acked{$1} = 1 while ${ $x->[1] } =~ /^ack (\d+)$/mg;
		$intent{$1} = 1 while ${ $x->[1] } =~ /^intent (\d+)$/mg;
		push @errors, grep { /ERROR:/ } split /\n/, ${ $x->[2] };
	}
	my %present = map { $_ => 1 }
	  split /\n/, $node->safe_psql('postgres', "SELECT txn FROM done WHERE txn >= $min_txn");
	my %unacked;
	for my $txn (sort { $a <=> $b } keys %present)
	{
		push @problems, "txn $txn is present but never logged its intent" unless $intent{$txn};
		$unacked{ $txn & 31 }++ unless $acked{$txn};
	}
	for my $txn (sort { $a <=> $b } keys %acked)
	{
		push @problems, "acknowledged txn $txn is missing" unless $present{$txn};
	}
	for my $c (sort keys %unacked)
	{
		push @problems, "client $c has $unacked{$c} unacknowledged transactions present (at most 1 was in flight)"
		  if $unacked{$c} > 1;
	}
	my $in_flight = scalar(grep { !$acked{$_} } keys %intent);
	my $in_flight_in = scalar(grep { !$acked{$_} } keys %present);

	for my $txn (keys %present)
	{
		my $eff = $effects{$txn} or next;
		for my $t (keys %$eff)
		{
			for my $k (keys %{ $eff->{$t} })
			{
				$want{$t}{$k}[$_] += $eff->{$t}{$k}[$_] for 0, 1;
			}
		}
	}
	for my $t ('ctr', 'sums')
	{
		my %got = map { my ($k, $n, $c) = split /\|/; ($k => [ $n, $c ]) }
		  split /\n/, $node->safe_psql('postgres', "SELECT k, n, (amt * 100)::int8 FROM $t");
		for my $k (sort { $a <=> $b } keys %{ { %got, %{ $want{$t} // {} } } })
		{
			my $w = $want{$t}{$k} // ($t eq 'ctr' ? [ 0, 0 ] : [ 'absent', 'absent' ]);
			my $g = $got{$k} // [ 'absent', 'absent' ];
			push @problems, "$t key $k is ($g->[0], $g->[1] cents), want ($w->[0], $w->[1] cents)"
			  if "$g->[0] $g->[1]" ne "$w->[0] $w->[1]";
		}
	}
	if ($round % 5 == 0 || $round == $rounds)
	{
		for my $t ('ctr', 'sums', 'done')
		{
			my ($rc, $o, $e) = $node->psql('postgres', "SELECT lsm_fdw_verify('$t')->>'problems'");
			push @problems, "lsm_fdw_verify('$t') failed: $o $e" if $rc != 0 || $o ne '0';
		}
	}
	push @problems, map { "client error: $_" } @errors;
	diag("round $round: $_") for @problems[ 0 .. ($#problems < 19 ? $#problems : 19) ];
	is(scalar(@problems), 0,
		"round $round (kill after ${\ int($delay / 1000)} ms): " . scalar(keys %acked)
		  . " acknowledged, $in_flight in flight ($in_flight_in of them in), every counter exact");
}
note(sprintf('%.1f s', time() - $t_start));

$node->stop;
done_testing();
