# Blind increments (merge operands) on one hot key from 16 clients at once
# (LSM_HOT_TRANSACTIONS each, default 2500; -t, not -T: a client stopped
# by the timer may leave a commit uncounted), with synchronous_commit off so that
# commits are short and operands pile up fast.  Transactions, by weight:
#   6  UPDATE c SET n = n + 1 WHERE k = 1 (autocommit)                 +1
#   2  BEGIN; +1; SAVEPOINT; +1000; ROLLBACK TO; +1; COMMIT            +2
#   1  BEGIN; +1; ROLLBACK                                             +0
#   1  UPDATE c SET n = n * 1 + 1 WHERE k = 1 (read-modify-write, the
#      key's lock in ExclusiveLock: waits for the increments)          +1
# Before the mix, 16 x 500 increments pile up as operands behind an open
# transaction holding an increment of the key.  An increment whose
# existence check folded many operands rewrites the row when it gets the
# lock exclusively; the counter must still equal the sum over committed
# transactions exactly, and a read afterwards folds few operands.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $transactions = $ENV{LSM_HOT_TRANSACTIONS} // 2500;

my $node = PostgreSQL::Test::Cluster->new('hot');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
log_statement = none
max_connections = 40
synchronous_commit = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE c (k int4 OPTIONS (key 'true'), n int8) SERVER lsm;
	INSERT INTO c VALUES (1, 0), (2, 0);
});

my $dir = $PostgreSQL::Test::Utils::tmp_check;
my @scripts = (
	[ 6, 1, "UPDATE c SET n = n + 1 WHERE k = 1;\n" ],
	[ 2, 2, "BEGIN;\nUPDATE c SET n = n + 1 WHERE k = 1;\nSAVEPOINT s;\n"
		  . "UPDATE c SET n = n + 1000 WHERE k = 1;\nROLLBACK TO SAVEPOINT s;\n"
		  . "UPDATE c SET n = n + 1 WHERE k = 1;\nCOMMIT;\n" ],
	[ 1, 0, "BEGIN;\nUPDATE c SET n = n + 1 WHERE k = 1;\nROLLBACK;\n" ],
	[ 1, 1, "UPDATE c SET n = n * 1 + 1 WHERE k = 1;\n" ]);
my @args;
for my $i (0 .. $#scripts)
{
	my $f = "$dir/hot$i.sql";
	open my $fh, '>', $f or die "$f: $!";
	print $fh $scripts[$i][2];
	close $fh;
	push @args, '-f', "$f\@$scripts[$i][0]";
}

my @conn = ('-h', $node->host, '-p', $node->port);
my $inc = "$dir/inc.sql";
{
	open my $fh, '>', $inc or die "$inc: $!";
	print $fh $scripts[0][2];
	close $fh;
}

# Phase A: a transaction holds the key's lock (it incremented the key and
# stays open), so no increment can rewrite the row; the operands still do
# not pile up: every 16th operand of the key in a memtable is applied
# folded (merge_fold_every; before, a read folded all 8000).
my ($hin, $hout, $herr) = ('', '', '');
my $holder = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$hin, '>', \$hout, '2>', \$herr);
$hin .= "BEGIN;\nUPDATE c SET n = n + 1 WHERE k = 1;\nSELECT 'held';\n";
for (1 .. 600) { last if $hout =~ /held/; $holder->pump_nb; usleep(50_000); }
like($hout, qr/held/, 'a transaction holds an increment of the key');
my ($aout, $aerr) = ('', '');
my $aok = IPC::Run::run([ 'pgbench', '-n', '-c', 16, '-j', 2, '-t', 500, '-f', $inc, @conn, 'postgres' ],
	'>', \$aout, '2>', \$aerr);
ok($aok && $aout =~ /number of failed transactions: 0/, 'phase A: no error') or diag("$aout\n$aerr");
my $plan = $node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT n FROM c WHERE k = 1');
my ($piled) = $plan =~ /Merge Operands Folded: (\d+)/;
# (EXPLAIN leaves the line out when the read folded none)
ok($plan =~ /LSM Engine Gets: 1/ && ($piled // 0) < 64,
	'operands do not pile up behind the open transaction (' . ($piled // 0) . ')')
  or diag($plan);
$hin .= "COMMIT;\n\\q\n";
$holder->finish;

# Phase B: the mix (increments, savepoints, rollbacks, read-modify-write
# updates of the same key).
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ 'pgbench', '-n', '-c', 16, '-j', 2, '-t', $transactions, @args, @conn, 'postgres' ],
	'>', \$out, '2>', \$err);
my @counts = $out =~ /^ - (\d+) transactions/mg;
my ($failed) = $out =~ /number of failed transactions: (\d+)/;
ok($ok && @counts == @scripts && defined $failed && $failed == 0 && $err !~ /aborted|ERROR/,
	'pgbench: every client finished without error') or diag("$out\n$err");

my $expected = 1 + 16 * 500;
$expected += $counts[$_] * $scripts[$_][1] for 0 .. $#counts;
# pgbench's per-script counts now and then miss a few transactions (at
# most one per client, seen: up to 3) that its total counts; each of those
# added 0, 1 or 2.
my ($processed) = $out =~ /number of transactions actually processed: (\d+)/;
my $unaccounted = ($processed // 0) - eval { my $t = 0; $t += $_ for @counts; $t };
my $n = $node->safe_psql('postgres', 'SELECT n FROM c WHERE k = 1');
ok($unaccounted >= 0 && $unaccounted <= 16 && $n >= $expected && $n <= $expected + 2 * $unaccounted,
	"the hot counter equals the committed increments (" . join('/', @counts)
	  . ", $unaccounted unaccounted): $n, expected $expected");
is($node->safe_psql('postgres', 'SELECT n FROM c WHERE k = 2'), '0', 'the other key is untouched');

# a read folds a bounded number of operands
$plan = $node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT n FROM c WHERE k = 1');
my ($folded) = $plan =~ /Merge Operands Folded: (\d+)/;
ok(($folded // 0) < 1000, 'a read of the hot key folds few operands (' . ($folded // 0) . ')');

$node->stop;
done_testing();
