# A transaction bigger than lsm_fdw's whole shared memory (~160 MB with the
# defaults): its commit applies in chunks and returns, the rows read back,
# and after a SIGKILL of the postmaster right after the commit, replay (which
# must read a log record larger than the shared heap) restores every row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('big');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
});
my $rows = 200_000;
$node->safe_psql('postgres', qq{
	SET lsm_fdw.max_transaction_memory = '2GB';
	INSERT INTO t SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, $rows) g;
});
my $expect = "$rows|" . ($rows * 1024) . "|$rows";
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)), count(DISTINCT k) FROM t'),
	$expect, 'a 200 MB transaction commits and reads back');
ok($node->safe_psql('postgres', "SELECT (lsm_fdw_server_stats()->>'heap_bytes')::int8 < 200 * 1024 * 1024"),
	'it is bigger than the shared heap');

my $pid = $node->{_pid};
$node->kill9;
for (my $i = 0; $i < 600 && kill(0, $pid); $i++) { usleep(50_000); }
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)), count(DISTINCT k) FROM t'),
	$expect, 'after a crash, replay restores every row');
is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('t')->>'problems'"), '0', 'lsm_fdw_verify passes');
$node->stop;
done_testing();
