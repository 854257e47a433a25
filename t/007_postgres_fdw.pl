# lsm_fdw tables read and written through postgres_fdw (a loopback server
# on the same instance).  postgres_fdw pushes an UPDATE or DELETE down whole
# when it can; otherwise it reads the rows with SELECT ... ctid ... FOR
# UPDATE and sends "UPDATE ... WHERE ctid = $1" for each.  lsm rows have no
# ctid, so every reference to it must be refused (0A000) rather than match
# every row.  Each statement must change exactly the intended rows or fail
# with that error and change nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgfdw');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;

my $host = $node->host;
my $port = $node->port;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE EXTENSION postgres_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE t2 (a int OPTIONS (key 'true'), b text OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
		OPTIONS (host '$host', port '$port', dbname 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER loopback;
	CREATE FOREIGN TABLE rt (k int, v text) SERVER loopback OPTIONS (table_name 't');
	CREATE FOREIGN TABLE rt2 (a int, b text, v text) SERVER loopback OPTIONS (table_name 't2');
});

sub reset_rows
{
	$node->safe_psql('postgres', q{
		DELETE FROM t; INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
		DELETE FROM t2; INSERT INTO t2 VALUES (1, 'x', 'a'), (1, 'y', 'b'), (2, 'x', 'c');
	});
}

sub rows
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(k || '=' || v, ',' ORDER BY k) FROM t});
}

sub rows2
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(a || b || '=' || v, ',' ORDER BY a, b) FROM t2});
}

# A statement that must fail with the ctid refusal and change nothing.
sub refused
{
	my ($sql, $name) = @_;
	reset_rows();
	my ($before, $before2) = (rows(), rows2());
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	isnt($rc, 0, "$name: fails");
	like($err, qr/0A000: lsm_fdw table "t2?" has no ctid/, "$name: ctid refused");
	like($err, qr/HINT:  Rows of lsm_fdw tables are addressed by their key columns/,
		"$name: hint");
	is(rows(), $before, "$name: t unchanged");
	is(rows2(), $before2, "$name: t2 unchanged");
}

# A statement that must succeed and leave exactly the expected rows.
sub changes
{
	my ($sql, $name, $want, $want2) = @_;
	reset_rows();
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	is($rc, 0, "$name: succeeds") or diag($err);
	is(rows(), $want, "$name: t as expected");
	is(rows2(), $want2, "$name: t2 as expected");
}

my $t0 = '1=a,2=b,3=c';
my $t20 = '1x=a,1y=b,2x=c';

# Pushed down whole: exactly the rows the WHERE clause names.
changes(q{UPDATE rt SET v = 'y' WHERE k = 2}, 'pushed UPDATE', '1=a,2=y,3=c', $t20);
changes(q{DELETE FROM rt WHERE k = 3}, 'pushed DELETE', '1=a,2=b', $t20);
changes(q{UPDATE rt SET v = v || '!' WHERE k >= 2}, 'pushed range UPDATE',
	'1=a,2=b!,3=c!', $t20);
changes(q{UPDATE rt2 SET v = 'z' WHERE a = 1 AND b = 'y'}, 'pushed UPDATE, composite key',
	$t0, '1x=a,1y=z,2x=c');
changes(q{DELETE FROM rt2 WHERE a = 1}, 'pushed DELETE, composite key prefix',
	$t0, '2x=c');
changes(q{UPDATE rt SET v = 'r' WHERE k = 1 RETURNING k, v}, 'pushed UPDATE RETURNING',
	'1=r,2=b,3=c', $t20);
changes(q{INSERT INTO rt VALUES (4, 'd')}, 'INSERT', '1=a,2=b,3=c,4=d', $t20);
reset_rows();
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM rt WHERE k > 1}),
	'2b,3c', 'SELECT through postgres_fdw');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rt}), '3', 'count(*) through postgres_fdw');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE v > 'a'}), '2', 'count(*) on the lsm table');

# Not pushable (a volatile qual, a local join): postgres_fdw needs ctid.
refused(q{UPDATE rt SET v = 'y' WHERE k = 2 AND random() >= 0}, 'UPDATE with volatile qual');
refused(q{DELETE FROM rt WHERE k = 3 AND random() >= 0}, 'DELETE with volatile qual');
refused(q{UPDATE rt2 SET v = 'y' WHERE a = 1 AND b = 'x' AND random() >= 0},
	'UPDATE with volatile qual, composite key');
refused(q{DELETE FROM rt2 WHERE a = 2 AND random() >= 0},
	'DELETE with volatile qual, composite key');
refused(q{WITH s(k) AS MATERIALIZED (SELECT 2) UPDATE rt SET v = 'y' FROM s WHERE rt.k = s.k},
	'UPDATE joined to a local CTE');

# Directly on the lsm table: every reference to ctid is refused.
refused(q{SELECT ctid FROM t}, 'SELECT ctid');
refused(q{SELECT k FROM t WHERE ctid = '(4294967295,0)'}, 'WHERE ctid');
refused(q{SELECT k FROM t ORDER BY ctid}, 'ORDER BY ctid');
refused(q{UPDATE t SET v = 'y' WHERE ctid = '(4294967295,0)'}, 'UPDATE WHERE ctid');
refused(q{DELETE FROM t WHERE k = 1 OR ctid = '(4294967295,0)'}, 'DELETE WHERE ctid');
refused(q{UPDATE t SET v = 'y' WHERE k = 1 RETURNING ctid}, 'UPDATE RETURNING ctid');
refused(q{DELETE FROM t WHERE k = 1 RETURNING ctid}, 'DELETE RETURNING ctid');
refused(q{INSERT INTO t VALUES (9, 'z') RETURNING ctid}, 'INSERT RETURNING ctid');
refused(q{SELECT a.k FROM t a JOIN t b ON a.ctid = b.ctid}, 'join on ctid');

# Statements for which Postgres itself asks children for ctid keep working:
# a heap parent's row mark; an UPDATE of a heap parent (its ctid row
# identity does not reach the lsm child).
$node->safe_psql('postgres', q{
	CREATE TABLE p (k int, v text);
	INSERT INTO p VALUES (100, 'heap');
	CREATE FOREIGN TABLE c (k int OPTIONS (key 'true'), v text) INHERITS (p) SERVER lsm;
	INSERT INTO c VALUES (1, 'a'), (2, 'b');
});
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM (SELECT * FROM p FOR UPDATE) s}),
	'1a,2b,100heap', 'FOR UPDATE on a heap parent of an lsm table');
$node->safe_psql('postgres', q{UPDATE p SET v = v || '!' WHERE k IN (2, 100)});
$node->safe_psql('postgres', q{DELETE FROM p WHERE k = 1});
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM p}),
	'2b!,100heap!', 'UPDATE and DELETE through a heap parent');
my ($rc, $out, $err) = $node->psql('postgres', q{DELETE FROM p WHERE ctid = '(4294967295,0)'});
like($err, qr/lsm_fdw table "c" has no ctid/, 'ctid qual through a parent refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM p}), '2', 'nothing deleted');

refused(q{SELECT k FROM (SELECT ctid AS c, k FROM t UNION ALL SELECT ctid, k FROM p) s WHERE c = '(0,1)'},
	'ctid of a UNION ALL branch');

# The same with a partitioned table: an lsm partition (its key added by
# ALTER, as pg_dump does) and a heap partition.
$node->safe_psql('postgres', q{
	CREATE TABLE pt (k int, v text) PARTITION BY RANGE (k);
	CREATE FOREIGN TABLE pt_lsm PARTITION OF pt FOR VALUES FROM (0) TO (10) SERVER lsm;
	ALTER FOREIGN TABLE pt_lsm ALTER COLUMN k OPTIONS (ADD key 'true');
	CREATE TABLE pt_heap PARTITION OF pt FOR VALUES FROM (10) TO (20);
	INSERT INTO pt VALUES (1, 'a'), (2, 'b'), (11, 'c'), (12, 'd');
});
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM (SELECT * FROM pt FOR UPDATE) s}),
	'1a,2b,11c,12d', 'FOR UPDATE on a partitioned table with an lsm partition');
$node->safe_psql('postgres', q{UPDATE pt SET v = v || '!' WHERE k IN (1, 11)});
$node->safe_psql('postgres', q{DELETE FROM pt WHERE k IN (2, 12)});
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM pt}),
	'1a!,11c!', 'UPDATE and DELETE of a partitioned table');
($rc, $out, $err) = $node->psql('postgres', q{UPDATE pt SET v = 'z' WHERE ctid = '(0,1)'});
like($err, qr/lsm_fdw table "pt_lsm" has no ctid/, 'ctid qual on a partitioned table refused');
is($node->safe_psql('postgres', q{SELECT string_agg(k || v, ',' ORDER BY k) FROM pt}),
	'1a!,11c!', 'nothing updated');

$node->stop;
done_testing();
