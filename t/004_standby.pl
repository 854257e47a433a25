# On a hot standby lsm_fdw refuses reads and writes with a clear error: its
# data is not in Postgres's WAL, so the standby's copy would be stale.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO t VALUES (1, 'one');
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my ($rc, $out, $err) = $standby->psql('postgres', 'SELECT * FROM t');
isnt($rc, 0, 'a read on the standby fails');
like($err, qr/lsm_fdw tables cannot be used during recovery or on a standby/, 'with a clear message');
($rc, $out, $err) = $standby->psql('postgres', "SELECT lsm_fdw_stats('t')");
like($err, qr/cannot be used during recovery or on a standby/, 'functions refuse too');
is($primary->safe_psql('postgres', 'SELECT v FROM t WHERE k = 1'), 'one', 'the primary still serves the table');

$standby->stop;
$primary->stop;
done_testing();
