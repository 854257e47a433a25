# Drops that a savepoint undoes, and drops a crash cuts (drop markers).
#
# 1. A DROP FOREIGN TABLE undone by ROLLBACK TO SAVEPOINT (or a PL/pgSQL
#    exception block) removed the table's files at the commit anyway: the
#    table stayed in the catalog with none of its rows.
# 2. A crash between a drop's commit and the removal of its files left the
#    directory for good.  The drop now leaves a marker first; the next start
#    finishes the drop when pg_xact says it committed, and otherwise keeps
#    the table.  lsm_fdw.debug_kill_at makes the dropping session kill
#    itself (SIGKILL) right before or after its commit, markers written.
# 3. A PREPARE TRANSACTION after a drop is refused (0A000).
# Also (1b, 1c): a write and a drop of one table in one transaction crashed
# the server at commit, and a rolled-back
# CREATE of a table written to left its files.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('drop_markers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
max_prepared_transactions = 2
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO kv SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});
my $dboid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
my $top = $node->data_dir . "/lsm_fdw";
my $dbdir = "$top/$dboid";
my $relid = $node->safe_psql('postgres', q{SELECT 'kv'::regclass::oid});

my ($ret, $out, $err);

# 1: drops undone by a subtransaction keep the table's files
my $sum = $node->safe_psql('postgres', q{SELECT sum(length(v)) FROM kv});
for my $case (
	[ 'ROLLBACK TO SAVEPOINT',
	  q{BEGIN; SAVEPOINT a; DROP FOREIGN TABLE kv; ROLLBACK TO a; COMMIT;} ],
	[ 'a nested savepoint released into one rolled back',
	  q{BEGIN; SAVEPOINT a; SAVEPOINT b; DROP FOREIGN TABLE kv; RELEASE b; ROLLBACK TO a; COMMIT;} ],
	[ 'a PL/pgSQL exception block',
	  q{DO $$ BEGIN BEGIN DROP FOREIGN TABLE kv; RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN NULL; END; END $$;} ])
{
	my ($name, $sql) = @$case;
	$node->safe_psql('postgres', $sql);
	is($node->safe_psql('postgres', q{SELECT count(*), sum(length(v)) FROM kv}), "1000|$sum",
		"$name: the table keeps its rows");
	$node->safe_psql('postgres', q{SELECT lsm_fdw_flush('kv')});
	is($node->safe_psql('postgres', q{SELECT count(*) FROM kv}), 1000,
		"$name: and its files");
	ok(-d "$dbdir/$relid" && !-e "$dbdir/$relid.drop", "$name: no marker is left");
}

# 1b: a write and a drop of one table in one transaction: the commit applied
# the write after the drop had closed the engine (a segmentation fault)
$node->safe_psql('postgres', q{CREATE TABLE h (i int)});
for my $heap (0, 1)
{
	$node->safe_psql('postgres', q{
		CREATE FOREIGN TABLE kw (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
		INSERT INTO kw SELECT g, 'x' FROM generate_series(1, 100) g;
	});
	my $relid_w = $node->safe_psql('postgres', q{SELECT 'kw'::regclass::oid});
	($ret, $out, $err) = $node->psql('postgres',
		'BEGIN; INSERT INTO kw VALUES (1000, \'y\'); UPDATE kw SET v = \'z\' WHERE k = 1; '
		  . ($heap ? 'INSERT INTO h VALUES (1); ' : '')
		  . 'DROP FOREIGN TABLE kw; COMMIT;');
	is($ret, 0, "write and drop in one transaction (heap write: $heap) commits") or diag($err);
	ok(!-e "$dbdir/$relid_w" && !-e "$dbdir/$relid_w.drop", "and the files are gone (heap write: $heap)");
}

# 1c: a CREATE rolled back, the table written to: its files go
my $before = join(',', sort grep { !/^\./ } do { opendir(my $dh, $dbdir) or die; readdir($dh) });
for my $case (
	[ 'ROLLBACK', q{BEGIN; CREATE FOREIGN TABLE kc (k int8 OPTIONS (key 'true'), v text) SERVER lsm; INSERT INTO kc SELECT g, 'c' FROM generate_series(1, 100) g; ROLLBACK;} ],
	[ 'ROLLBACK TO SAVEPOINT', q{BEGIN; SAVEPOINT a; CREATE FOREIGN TABLE kc (k int8 OPTIONS (key 'true'), v text) SERVER lsm; INSERT INTO kc SELECT g, 'c' FROM generate_series(1, 100) g; SELECT count(*) FROM kc; ROLLBACK TO a; COMMIT;} ],
	[ 'a created table written in a savepoint, the whole rolled back', q{BEGIN; CREATE FOREIGN TABLE kc (k int8 OPTIONS (key 'true'), v text) SERVER lsm; SAVEPOINT a; INSERT INTO kc VALUES (1, 'c'); RELEASE a; ROLLBACK;} ])
{
	my ($name, $sql) = @$case;
	($ret, $out, $err) = $node->psql('postgres', $sql);
	is($ret, 0, "$name: runs") or diag($err);
	my $after = join(',', sort grep { !/^\./ } do { opendir(my $dh, $dbdir) or die; readdir($dh) });
	is($after, $before, "$name: the created table left no files");
}
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE FOREIGN TABLE kc (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	SAVEPOINT a; INSERT INTO kc SELECT g, 'c' FROM generate_series(1, 100) g; RELEASE a;
	SAVEPOINT b; INSERT INTO kc VALUES (0, 'rolled back'); ROLLBACK TO b;
	COMMIT;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM kc}), 100,
	'a created table written in a released savepoint keeps its rows at commit');
$node->safe_psql('postgres', q{SELECT lsm_fdw_flush('kc')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM kc}), 100, 'also from its files');

# 3: PREPARE TRANSACTION after a drop
($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN; DROP FOREIGN TABLE kv; PREPARE TRANSACTION 'p1';},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/0A000: cannot PREPARE a transaction that has dropped lsm_fdw tables/,
	'PREPARE TRANSACTION after a drop is refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts}), 0, 'nothing was prepared');
is($node->safe_psql('postgres', q{SELECT count(*) FROM kv}), 1000, 'and the table is whole');

# 2a: a crash while a drop is in progress, its marker written but its
# commit not: the table stays
my $log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres',
	q{SET lsm_fdw.debug_kill_at = drop_before_commit; DROP FOREIGN TABLE kv;});
isnt($ret, 0, 'the dropping session died before its commit');
$node->poll_query_until('postgres', q{SELECT count(*) = 1000 FROM kv})
  or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT count(*), sum(length(v)) FROM kv}), "1000|$sum",
	'after a crash during an uncommitted drop the table has every row');
ok(-d "$dbdir/$relid" && !-e "$dbdir/$relid.drop", 'and the start removed the marker');
is($node->safe_psql('postgres', q{SELECT lsm_fdw_verify('kv')->>'problems'}), 0, 'the table verifies');

# the same with a transaction left open at an immediate stop: no marker yet
my ($in, $bgout, $bgerr) = ("BEGIN;\nDROP FOREIGN TABLE kv;\nSELECT 'dropped';\n", '', '');
my $bg = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$bgout, '2>', \$bgerr);
for (1 .. 600) { last if $bgout =~ /dropped/; $bg->pump_nb; usleep(50_000); }
like($bgout, qr/dropped/, 'a transaction dropped the table and is still open');
$node->stop('immediate');
$bg->kill_kill;
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*), sum(length(v)) FROM kv}), "1000|$sum",
	'after a crash with a drop in an open transaction the table has every row');

# 2b: a crash right after a drop's commit, before its files went
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE kv2 (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO kv2 SELECT g, repeat('y', 600) FROM generate_series(1, 2000) g;
	SELECT lsm_fdw_flush('kv2');
	INSERT INTO kv2 VALUES (0, 'in the log only');
});
my $relid2 = $node->safe_psql('postgres', q{SELECT 'kv2'::regclass::oid});
ok(-d "$dbdir/$relid2", 'the second table has files');
$log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres',
	q{SET lsm_fdw.debug_kill_at = drop_after_commit; DROP FOREIGN TABLE kv2;});
isnt($ret, 0, 'the dropping session died after its commit');
$node->poll_query_until('postgres', q{SELECT count(*) = 1000 FROM kv})
  or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'kv2'}), 0,
	'the drop committed');
ok(!-e "$dbdir/$relid2" && !-e "$dbdir/$relid2.removing" && !-e "$dbdir/$relid2.drop",
	'the start removed the files and the marker of the committed drop');
like(slurp_file($node->logfile, $log_offset),
	qr/lsm_fdw removed ".*\Q$relid2\E", left by a drop that committed before a crash/,
	'and said so in the log');

# 2c: the same for DROP DATABASE
$node->safe_psql('postgres', q{CREATE DATABASE gone});
$node->safe_psql('gone', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO kv SELECT g, md5(g::text) FROM generate_series(1, 500) g;
	SELECT lsm_fdw_flush('kv');
});
my $gone = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'gone'});
ok(-d "$top/$gone", 'the database has lsm_fdw files');
$log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres',
	q{SET lsm_fdw.debug_kill_at = drop_after_commit; DROP DATABASE gone;});
isnt($ret, 0, 'the session dropping the database died after its commit');
$node->poll_query_until('postgres', q{SELECT count(*) = 1000 FROM kv})
  or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'gone'}), 0,
	'DROP DATABASE committed');
ok(!-e "$top/$gone" && !-e "$top/$gone.drop",
	'the start removed the dropped database\'s files and its marker');

my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC/, 'nothing PANICked');
$node->stop;
done_testing();
