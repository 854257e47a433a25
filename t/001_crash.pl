# Crash safety with several clients per table: LSM_CRASH_CLIENTS psql
# clients (default 4) write the same tables at once, and each one logs
# every transaction whose COMMIT it saw acknowledged; the postmaster is
# killed with SIGKILL at a random moment (now and then right after the
# restart, while the tables recover); after the restart:
#  - every acknowledged transaction is present, whole, in every table it
#    wrote (lsm tables and heap table alike);
#  - no transaction is partially present, and nothing that was never
#    attempted, or was rolled back (also to a savepoint), appears;
#  - per client at most one transaction is present without its
#    acknowledgement (the one in flight at the kill);
#  - rows committed in earlier rounds are all still there (checked in
#    aggregate: rows and sum of transaction ids per table);
#  - counters incremented by the transactions (one per client, and one hot
#    counter every client increments) equal the number of those
#    transactions present;
#  - no client got an SQL error before the kill, and lsm_fdw_verify passes
#    (every 5th round and the last).
#
# Transactions (txn ids encode the client and the kind):
#   A  one autocommit INSERT into t1                        t1: 1 row
#   B  BEGIN; 10 rows into t1 (single, multi-row and INSERT ... SELECT
#      forms, and a row rolled back to a savepoint); COMMIT  t1: 10
#   C  5 rows into t1, 5 into t2, the client's counter + 1  t1: 5, t2: 5
#   D  a heap row and 3 lsm rows, in either order           h: 1, t2: 3
#   E  the hot counter + 1 and one row into t2              t2: 1
#   R  rows into t1 and h, then ROLLBACK                    nothing
#   F  every client's first transaction: one row into "fresh", a table
#      created just before the round, so that the clients race to open a
#      table nobody has written yet                         fresh: 1
# Client 1 also flushes t1 now and then, so kills land in flushes too.
# Rows of t1 and t2 with a long pad keep it in blob files (blob_min_size),
# so kills also land in blob files being written and read.
#
# LSM_CRASH_ROUNDS sets the number of rounds (default 10, about 40 s on 2
# cores); LSM_TEST_SEED replays a run (the scripts, the kind of every
# transaction and the kill delays; the timing of the kill itself cannot be
# replayed).  test/crash_loop.sh runs it with 200 rounds.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $rounds = $ENV{LSM_CRASH_ROUNDS} // 10;
my $clients = $ENV{LSM_CRASH_CLIENTS} // 4;
my $seed = $ENV{LSM_TEST_SEED} // time() % 1_000_000_000;
srand($seed);
diag("seed $seed (replay with LSM_TEST_SEED=$seed), $rounds rounds, $clients clients");
die "LSM_CRASH_CLIENTS must be 1..7" if $clients < 1 || $clients > 7;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# fsync on: commits wait for real syncs, so more of them are in flight at
# the kill; no statement logging, it would only slow the clients down.
# Small log segments and max_wal_size: kills land in segment switches, and
# in checkpoints that recycle segments, and the log continues in recycled
# segments (old records behind its end).
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
fsync = on
log_statement = none
max_connections = 30
lsm_fdw.wal_segment_size = 256kB
lsm_fdw.max_wal_size = 16MB
});
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t1 (k int8 OPTIONS (key 'true'), txn int8, pad text) SERVER lsm OPTIONS (memtable_size '1MB', blob_min_size '250');
	CREATE FOREIGN TABLE t2 (k int8 OPTIONS (key 'true'), txn int8, pad text) SERVER lsm OPTIONS (memtable_size '1MB', compaction 'tiered', blob_min_size '100');
	CREATE FOREIGN TABLE cnt (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
	CREATE TABLE h (txn int8 PRIMARY KEY, client int4);
	INSERT INTO cnt SELECT g, 0 FROM generate_series(0, $clients) g;
});

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

# A transaction id carries its kind (low 3 bits) and its client (next 3).
my %kind_code = (A => 1, B => 2, C => 3, D => 4, E => 5, R => 6, F => 7);
my %code_kind = reverse %kind_code;
my %rows_of = (    # kind => { table => rows }
	A => { t1 => 1 },
	B => { t1 => 10 },
	C => { t1 => 5, t2 => 5 },
	D => { h => 1, t2 => 3 },
	E => { t2 => 1 },
	R => {},
	F => { fresh => 1 });
sub kind_of   { $code_kind{ $_[0] & 7 } // '?' }
sub client_of { ($_[0] >> 3) & 7 }

# One client's script for one round: $n transactions, "\echo ack <txn>"
# after each acknowledged COMMIT.
my $next_seq = 1;
sub client_script
{
	my ($client, $n, $tried) = @_;
	my @s = ("\\set ON_ERROR_STOP 1\n\\set VERBOSITY verbose\n");
	for my $i (0 .. $n)
	{
		my $r = rand();
		my $kind = $i == 0 ? 'F' : $r < 0.25 ? 'A' : $r < 0.45 ? 'B' : $r < 0.65 ? 'C' : $r < 0.83 ? 'D' : $r < 0.95 ? 'E' : 'R';
		my $txn = ($next_seq++ << 6) | ($client << 3) | $kind_code{$kind};
		my $k = $txn * 100;
		my $pad = "'" . ('x' x (50 + int(rand(400)))) . "'";
		$tried->{$txn} = 1;
		if ($kind eq 'F')
		{
			push @s, "INSERT INTO fresh VALUES ($k, $txn, $pad);\n";
		}
		elsif ($kind eq 'A')
		{
			push @s, "INSERT INTO t1 VALUES ($k, $txn, $pad);\n";
		}
		elsif ($kind eq 'B')
		{
			push @s, "BEGIN;\n";
			push @s, "INSERT INTO t1 VALUES ($k, $txn, $pad);\n";
			push @s, "INSERT INTO t1 VALUES (" . join('), (', map { $k + $_ . ", $txn, $pad" } 1 .. 3) . ");\n";
			push @s, "SAVEPOINT s;\nINSERT INTO t1 VALUES ($k + 50, $txn, 'rolled back');\nROLLBACK TO SAVEPOINT s;\n"
			  if rand() < 0.3;
			push @s, "INSERT INTO t1 SELECT $k + g, $txn, $pad FROM generate_series(4, 9) g;\n";
			push @s, "COMMIT;\n";
		}
		elsif ($kind eq 'C')
		{
			push @s, "BEGIN;\n";
			push @s, "INSERT INTO t1 SELECT $k + g, $txn, $pad FROM generate_series(0, 4) g;\n";
			push @s, "INSERT INTO t2 SELECT $k + g, $txn, $pad FROM generate_series(0, 4) g;\n";
			push @s, "UPDATE cnt SET n = n + 1 WHERE k = $client;\n";
			push @s, "COMMIT;\n";
		}
		elsif ($kind eq 'D')
		{
			my @w = ("INSERT INTO h VALUES ($txn, $client);\n",
				"INSERT INTO t2 SELECT $k + g, $txn, $pad FROM generate_series(0, 2) g;\n");
			@w = reverse @w if rand() < 0.5;
			push @s, "BEGIN;\n", @w, "COMMIT;\n";
		}
		elsif ($kind eq 'E')
		{
			push @s, "BEGIN;\nUPDATE cnt SET n = n + 1 WHERE k = 0;\n";
			push @s, "INSERT INTO t2 VALUES ($k, $txn, 'hot');\nCOMMIT;\n";
		}
		else
		{
			push @s, "BEGIN;\nINSERT INTO t1 SELECT $k + g, $txn, $pad FROM generate_series(0, 2) g;\n";
			push @s, "INSERT INTO h VALUES ($txn, $client);\nROLLBACK;\n";
		}
		push @s, "\\echo ack $txn\n" unless $kind eq 'R';
		push @s, "SELECT lsm_fdw_flush('t1');\n" if $client == 1 && $i % 400 == 0;
	}
	return join('', @s);
}

my $outdir = $PostgreSQL::Test::Utils::tmp_check;
# What earlier rounds left, as totals (rows and sum of txn ids per table,
# transactions per counter), so that a round checks its own transactions
# one by one and the older ones in aggregate.
my (%old_rows, %old_txnsum, %old_incs);
my $present_all = 0;
my ($t_start) = time();
for my $round (1 .. $rounds)
{
	my %tried;
	my @h;
	$node->safe_psql('postgres', q{
		DROP FOREIGN TABLE IF EXISTS fresh;
		CREATE FOREIGN TABLE fresh (k int8 OPTIONS (key 'true'), txn int8, pad text) SERVER lsm;
	});
	my $min_txn = $next_seq << 6;    # this round's txn ids, and keys, are above
	for my $c (1 .. $clients)
	{
		my $script = "$outdir/c$c.sql";
		open my $fh, '>', $script or die "$script: $!";
		print $fh client_script($c, 3000, \%tried);
		close $fh;
		my ($out, $err) = ('', '');
		push @h, [ IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
			'>', \$out, '2>', \$err), \$out, \$err ];
	}
	# Now and then kill while the clients connect and the tables recover.
	my $delay = rand() < 0.2 ? int(rand(300_000)) : 300_000 + int(rand(1_700_000));
	usleep($delay);
	crash_and_restart();

	my (%acked, @errors);
	my $finished = 0;
	for my $x (@h)
	{
		$x->[0]->finish;
		$acked{$1} = 1 while ${ $x->[1] } =~ /^ack (\d+)$/mg;
		# Losing the connection is expected; an SQL error is not.
		push @errors, grep { /ERROR:/ } split /\n/, ${ $x->[2] };
		$finished++ if ${ $x->[2] } eq '';
	}

	# This round's transactions, one by one: txn => { table => rows }.
	my %seen;
	my $min_k = $min_txn * 100;
	for my $t ('t1', 't2', 'fresh')
	{
		for (split /\n/, $node->safe_psql('postgres', "SELECT txn, count(*) FROM $t WHERE k >= $min_k GROUP BY txn"))
		{
			my ($txn, $n) = split /\|/;
			$seen{$txn}{$t} = $n;
		}
	}
	$seen{$_}{h} = 1 for split /\n/, $node->safe_psql('postgres', "SELECT txn FROM h WHERE txn >= $min_txn");

	my (@problems, %unacked, %rows, %txnsum, %incs);
	for my $txn (sort { $a <=> $b } keys %seen)
	{
		my $kind = kind_of($txn);
		if (!$tried{$txn})
		{
			push @problems, "txn $txn ($kind) was never attempted but is present";
			next;
		}
		my $want = $rows_of{$kind} // {};
		for my $t ('t1', 't2', 'h', 'fresh')
		{
			my ($w, $got) = ($want->{$t} // 0, $seen{$txn}{$t} // 0);
			push @problems, "txn $txn ($kind) has $got rows in $t, not $w" if $w != $got;
			$rows{$t} += $got;
			$txnsum{$t} += $got * $txn;
		}
		$unacked{ client_of($txn) }++ unless $acked{$txn};
		$incs{ client_of($txn) }++ if $kind eq 'C';
		$incs{0}++ if $kind eq 'E';
	}
	for my $txn (sort { $a <=> $b } keys %acked)
	{
		push @problems, "acknowledged txn $txn (" . kind_of($txn) . ") is missing" unless $seen{$txn};
	}
	for my $c (sort keys %unacked)
	{
		push @problems, "client $c has $unacked{$c} unacknowledged transactions present (at most 1 was in flight)"
		  if $unacked{$c} > 1;
	}

	# Earlier rounds' transactions, in aggregate: nothing lost, nothing added.
	for my $t ('t1', 't2', 'h')
	{
		my $cond = $t eq 'h' ? "txn < $min_txn" : "k < $min_k";
		my $got = $node->safe_psql('postgres', "SELECT count(*) || ' rows, txn sum ' || coalesce(sum(txn), 0) FROM $t WHERE $cond");
		my $want = ($old_rows{$t} // 0) . ' rows, txn sum ' . ($old_txnsum{$t} // 0);
		push @problems, "earlier rounds' part of $t has $got, not $want" if $got ne $want;
	}

	# The counters count every present transaction that incremented them.
	my %cnt = map { split /\|/ } split /\n/, $node->safe_psql('postgres', 'SELECT k, n FROM cnt');
	for my $c (0 .. $clients)
	{
		my $want = ($old_incs{$c} // 0) + ($incs{$c} // 0);
		push @problems, "counter $c is $cnt{$c}, but $want transactions that increment it are present"
		  if ($cnt{$c} // -1) != $want;
	}
	if ($round % 5 == 0 || $round == $rounds)
	{
		for my $t ('t1', 't2', 'cnt', 'fresh')
		{
			my ($rc, $o, $e) = $node->psql('postgres', "SELECT lsm_fdw_verify('$t')->>'problems'");
			push @problems, "lsm_fdw_verify('$t') failed: $o $e" if $rc != 0 || $o ne '0';
		}
	}
	push @problems, map { "client error: $_" } @errors;

	# "fresh" is dropped before the next round: its rows are not carried.
	for my $t ('t1', 't2', 'h')
	{
		$old_rows{$t} += $rows{$t} // 0;
		$old_txnsum{$t} += $txnsum{$t} // 0;
	}
	$old_incs{$_} += $incs{$_} for keys %incs;
	$present_all += scalar(keys %seen);
	diag("round $round: $_") for @problems[ 0 .. ($#problems < 19 ? $#problems : 19) ];
	is(scalar(@problems), 0,
		"round $round (kill after ${\ int($delay / 1000)} ms): " . scalar(keys %acked)
		  . ' acknowledged transactions, ' . scalar(keys %seen) . " present ($present_all in all), no problem"
		  . ($finished ? " ($finished clients finished their script before the kill)" : ''));
}
note(sprintf('%.1f s', time() - $t_start));

opendir(my $wd, $node->data_dir . '/lsm_fdw/wal') or die "opendir: $!";
my @wal = readdir($wd);
closedir($wd);
diag(sprintf("log at the end: %d segments, %d recycled files",
	scalar(grep { /\.xlog$/ } @wal), scalar(grep { /^xlogrecycled\./ } @wal)));
$node->stop;
done_testing();
