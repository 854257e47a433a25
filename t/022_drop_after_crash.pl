# Drops around a crash.
#
# 1. A crash in the middle of removing a dropped table's files (after the
#    rename to <relid>.removing, before the tree is deleted) left that tree
#    for good; the replay after the next start now deletes it.
# 2. A DROP FOREIGN TABLE committed while the maintenance worker was still
#    replaying the log closed the table's engine under the replay, which
#    uses it without a pin: the worker PANICked on a freed mutex.  A drop
#    now waits for the replay.  Whether the DROP lands inside the replay
#    depends on timing, so this part exercises the path and checks that
#    nothing crashed and nothing was left, rather than forcing the overlap.
use strict;
use warnings;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('drop_after_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv_a (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE kv_b (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE kv_c (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO kv_a SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g;
	INSERT INTO kv_c SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
	SELECT lsm_fdw_flush('kv_a'), lsm_fdw_flush('kv_c');
});
my $dboid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
my $relid_a = $node->safe_psql('postgres', q{SELECT 'kv_a'::regclass::oid});
my $relid_b = $node->safe_psql('postgres', q{SELECT 'kv_b'::regclass::oid});
my $dbdir = $node->data_dir . "/lsm_fdw/$dboid";

# 1: the state a crash between the rename and the delete leaves
$node->stop;
my $copy = $node->basedir . "/kv_a_copy";
PostgreSQL::Test::RecursiveCopy::copypath("$dbdir/$relid_a", $copy);
$node->start;
$node->safe_psql('postgres', q{DROP FOREIGN TABLE kv_a});
ok(!-e "$dbdir/$relid_a", 'the dropped table\'s directory is gone');
$node->stop;
rename($copy, "$dbdir/$relid_a.removing") or die "rename: $!";
my $log_offset = -s $node->logfile;
$node->start;
$node->safe_psql('postgres', q{SELECT count(*) FROM kv_c});	# waits for the replay
ok(!-e "$dbdir/$relid_a.removing", 'the start deleted the tree a crashed drop left');
like(slurp_file($node->logfile, $log_offset), qr/removed ".*\Q$relid_a\E\.removing", left by a drop/,
	'and said so in the log');

# 2: a drop right after a crash, while the replay may still run
for my $round (1 .. 3)
{
	$node->safe_psql('postgres', qq{
		CREATE FOREIGN TABLE IF NOT EXISTS kv_b (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
		INSERT INTO kv_b SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g;
		INSERT INTO kv_c VALUES ($round + 100000, 'round $round');
	});
	$relid_b = $node->safe_psql('postgres', q{SELECT 'kv_b'::regclass::oid});
	$node->stop('immediate');
	$log_offset = -s $node->logfile;
	$node->start;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', q{DROP FOREIGN TABLE kv_b});
	is($ret, 0, "round $round: DROP right after the start succeeds") or diag($stderr);
	is($node->safe_psql('postgres', q{SELECT count(*) FROM kv_c}), 1000 + $round,
		"round $round: the other table has every committed row");
	my $log = slurp_file($node->logfile, $log_offset);
	unlike($log, qr/PANIC|terminated by signal/, "round $round: nothing crashed");
	ok(!-e "$dbdir/$relid_b" && !-e "$dbdir/$relid_b.removing",
		"round $round: nothing is left of the dropped table");
}

$node->stop;
done_testing();
