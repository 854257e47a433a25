# lsm_fdw_orphans(): directories that belong to no lsm_fdw table.
#
# A table's directory is made at its first open, which may come before its
# CREATE FOREIGN TABLE commits; a crash while that transaction is open left
# the directory for good (a README known limit: remove it by hand).  The
# function lists such directories and removes them when asked, and never
# takes for an orphan a live table's directory, one of a CREATE still in
# progress in another session, or one of the caller's own transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('orphans');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE live (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO live SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
	SELECT lsm_fdw_flush('live');
});
my $dboid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
my $dbdir = $node->data_dir . "/lsm_fdw/$dboid";
my $live = $node->safe_psql('postgres', q{SELECT 'live'::regclass::oid});
my $sum = $node->safe_psql('postgres', q{SELECT count(*), sum(length(v)) FROM live});

is($node->safe_psql('postgres', q{SELECT count(*) FROM lsm_fdw_orphans()}), 0,
	'no orphans at first');

# An interactive psql session that opens a transaction, creates table
# $name in it, writes to it and prints its OID; the transaction stays open.
my ($in, $out, $err);
sub open_create
{
	my ($name, $rows) = @_;
	($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		\$in, \$out, \$err);
	$in .= qq{BEGIN;
CREATE FOREIGN TABLE $name (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO $name SELECT g, repeat('x', 200) FROM generate_series(1, $rows) g;
SELECT '$name'::regclass::oid;
};
	$h->pump until $out =~ /^(\d+)$/m || $err ne '';
	my ($oid) = $out =~ /^(\d+)$/m;
	return ($h, $oid);
}

# A session creates and writes a table and is still open at the crash.
my ($h, $doomed) = open_create('doomed', 5000);
ok(defined $doomed && -d "$dbdir/$doomed", 'the open transaction made its table\'s directory')
  or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM lsm_fdw_orphans()}), 0,
	'a CREATE in progress in another session is not an orphan');

$node->stop('immediate');
$h->kill_kill;
$node->start;

ok(-d "$dbdir/$doomed", 'the crash left the directory');
is($node->safe_psql('postgres', q{SELECT table_oid, path = } . "'$dbdir/$doomed'" . q{, bytes > 0, removed FROM lsm_fdw_orphans()}),
	"$doomed|t|t|f", 'lsm_fdw_orphans() lists it, without removing it');
ok(-d "$dbdir/$doomed", 'listing leaves it in place');

# After the restart, another CREATE in progress, and one of our own
# transaction, beside the orphan.
my $pending;
($h, $pending) = open_create('pending', 1);
ok(defined $pending && -d "$dbdir/$pending", 'a second open CREATE made its directory') or diag($err);

is($node->safe_psql('postgres', q{
	BEGIN;
	CREATE FOREIGN TABLE mine (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO mine VALUES (1, 'm');
	SELECT string_agg(table_oid::text || ':' || removed, ',') FROM lsm_fdw_orphans(true);
	COMMIT;
}), "$doomed:true", 'remove => true removes the orphan only');
ok(!-e "$dbdir/$doomed", 'its directory is gone');
ok(-d "$dbdir/$live" && -d "$dbdir/$pending", 'the live and the pending tables keep theirs');
is($node->safe_psql('postgres', q{SELECT count(*), sum(length(v)) FROM live}), $sum,
	'the live table keeps its rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mine}), 1,
	'the table created beside the call keeps its row');
ok($node->log_contains(qr/lsm_fdw removed ".*\/$doomed", which belonged to no lsm_fdw table/),
	'the removal is logged');

$in .= "COMMIT;\nSELECT count(*) FROM pending;\n";
$h->pump until $out =~ /^1$/m || $err ne '';
$in .= "\\q\n";
$h->finish;
is($node->safe_psql('postgres', q{SELECT count(*) FROM pending}), 1,
	'the pending table, committed after the call, keeps its row');

# a table dropped afterwards is no orphan either: its files went at the drop
$node->safe_psql('postgres', q{DROP FOREIGN TABLE mine});
is($node->safe_psql('postgres', q{SELECT count(*) FROM lsm_fdw_orphans()}), 0,
	'nothing else is an orphan');

# superusers only
$node->safe_psql('postgres', q{CREATE ROLE plain LOGIN});
my ($ret, $o2, $e2) = $node->psql('postgres', q{SELECT * FROM lsm_fdw_orphans()},
	extra_params => [ '-U', 'plain' ]);
isnt($ret, 0, 'a plain role may not call it');
like($e2, qr/permission denied for function lsm_fdw_orphans/, 'with permission denied');

$node->stop;
done_testing();
