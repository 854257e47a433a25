# Transactions that write a Postgres table and an lsm table, across crashes.
#
# 1. The PREPARE record named the transaction by an xid that Postgres's WAL
#    did not hold yet: a crash between the PREPARE and Postgres's commit
#    record made Postgres hand the xid out again, and once a later
#    transaction with it committed, a replay applied the lsm rows of the one
#    that never did.  The xid is now durable in the WAL before the PREPARE.
# 2. With synchronous_commit off, Postgres may lose its latest commit records
#    in a crash; the lsm side kept the rows of those transactions (the
#    RESOLVE record survived).  The replay now asks pg_xact about RESOLVEs
#    too, and no table file takes rows before their commit record is
#    durable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('heap_lsm_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
restart_after_crash = on
wal_writer_delay = '10s'
wal_writer_flush_after = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE TABLE h (k int PRIMARY KEY, v text);
});

# 1: killed with its PREPARE durable, before Postgres's commit record
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET lsm_fdw.debug_kill_at = prepared;
	BEGIN;
	INSERT INTO h VALUES (1, 'never committed');
	INSERT INTO kv VALUES (1, 'never committed');
	SELECT pg_current_xact_id();
	COMMIT;
});
isnt($ret, 0, 'the session died after its PREPARE');
my ($dead_xid) = $out =~ /^(\d+)$/m;
ok(defined $dead_xid, "its xid was $dead_xid");
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM kv})
  or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM h) || '/' || (SELECT count(*) FROM kv)}),
	'0/0', 'after the crash neither half is there');
# the next transactions must get other xids, and commit
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', qq{INSERT INTO h VALUES (100 + $i, 'later')});
}
my $next = $node->safe_psql('postgres', q{SELECT pg_current_xact_id()});
cmp_ok($next, '>', $dead_xid + 5, 'the xid of the transaction that died was not handed out again');
for my $round (1 .. 2)
{
	$node->stop('immediate');
	$node->start;
	is($node->safe_psql('postgres', q{SELECT count(*) FROM kv WHERE v = 'never committed'}), 0,
		"restart $round: the lsm rows of the transaction that never committed stay away");
}

# 2: synchronous_commit off, Postgres's commit records lost in the crash
$node->safe_psql('postgres', q{TRUNCATE h; TRUNCATE kv; CHECKPOINT});
my $sql = "SET synchronous_commit = off;\n";
for my $i (1 .. 200)
{
	$sql .= "BEGIN; INSERT INTO h VALUES ($i, 'x'); INSERT INTO kv VALUES ($i, 'x'); COMMIT;\n";
}
$node->safe_psql('postgres', $sql);
is($node->safe_psql('postgres', q{SELECT count(*) FROM kv}), 200, 'the transactions committed');
$node->stop('immediate');
$node->start;
my $h = $node->safe_psql('postgres', q{SELECT count(*) FROM h});
my $kv = $node->safe_psql('postgres', q{SELECT count(*) FROM kv});
note("after the crash: $h heap rows, $kv lsm rows");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM h FULL JOIN kv USING (k) WHERE h.k IS NULL OR kv.k IS NULL}), 0,
	'every transaction has both halves or neither');

# and with a memtable flush after the commits (the rows in a table file)
$node->safe_psql('postgres', q{TRUNCATE h; TRUNCATE kv; CHECKPOINT});
$sql = "SET synchronous_commit = off;\n";
for my $i (1 .. 100)
{
	$sql .= "BEGIN; INSERT INTO h VALUES ($i, 'y'); INSERT INTO kv VALUES ($i, 'y'); COMMIT;\n";
}
$sql .= "SELECT lsm_fdw_flush('kv');\n";
$node->safe_psql('postgres', $sql);
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM h}), 100,
	'a flush of the lsm table made the commit records durable first');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM h FULL JOIN kv USING (k) WHERE h.k IS NULL OR kv.k IS NULL}), 0,
	'and every transaction has both halves');

# 3: a memtable flush while Postgres's WAL insert position sits right after
# a page header (the first version of the fix flushed the WAL to the insert
# position, and XLogFlush refused it with an ERROR that left the table unable
# to flush)
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO h VALUES (100000, 'z'); INSERT INTO kv VALUES (100000, 'z'); COMMIT;
	DO $$
	DECLARE r int;
	BEGIN
	  FOR i IN 1..50 LOOP
	    r := 8192 - ((pg_current_wal_insert_lsn() - '0/0')::numeric % 8192)::int;
	    EXIT WHEN r = 8192 - 24;
	    IF r < 400 THEN PERFORM pg_logical_emit_message(false, 'p', repeat('x', 500)); CONTINUE; END IF;
	    PERFORM pg_logical_emit_message(false, 'p', repeat('x', r - 55));
	  END LOOP;
	END $$;
});
like($node->safe_psql('postgres', q{SELECT lsm_fdw_flush('kv')->>'files'}), qr/^\d+$/,
	'a flush with the WAL insert position after a page header works');
$node->safe_psql('postgres', q{INSERT INTO kv SELECT g, repeat('w', 300) FROM generate_series(200000, 210000) g});
is($node->safe_psql('postgres', q{SELECT count(*) FROM kv WHERE k >= 200000}), 10001, 'and the table takes writes after it');

unlike(slurp_file($node->logfile), qr/PANIC|could not replay|flush request/, 'no PANIC, no failed replay, no refused WAL flush');
$node->stop;
done_testing();
