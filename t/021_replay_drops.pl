# The flushes and compactions that run while the log replays keep only the
# newest version of a key.  Nobody reads before the replay ends, so the
# horizon then is what the replay applied.  Before, it was the visible
# number not yet published (0): every overwritten version the replay
# flushed stayed in the tables until some later compaction happened to
# rewrite its file (never, for a bottom level, or for level-0 files below
# the trigger).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('replay_drops');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int8 OPTIONS (key 'true'), v text) SERVER lsm
	  OPTIONS (on_duplicate 'overwrite');
});

# 160 commits of the same 50 keys with 1 KiB values: 8 MB of log, most of
# it within one memtable of the default size (the first memtable of a
# table is small), so it is replayed after the stop.
my $sql = '';
for my $r (0 .. 159)
{
	$sql .= "INSERT INTO kv SELECT g, 'r$r-' || repeat(md5(g::text), 32) FROM generate_series(0, 49) g;\n";
}
$node->safe_psql('postgres', $sql);
my $levels = q{SELECT coalesce(sum((l->>'entries')::bigint), 0), coalesce(sum((l->>'files')::int), 0)
  FROM lsm_fdw_stats('kv') s, jsonb_array_elements(s->'levels') l};
my ($entries_before, $files_before) = split /\|/, $node->safe_psql('postgres', $levels);

# The replay flushes 1 MB memtables (the new size takes effect when the
# table opens), eight or so, and level 0 reaches its trigger.
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE kv OPTIONS (ADD memtable_size '1MB')});
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*), count(*) FILTER (WHERE v LIKE 'r159-%') FROM kv}),
	'50|50', 'every key with its last value after the replay');
my ($entries, $files) = split /\|/, $node->safe_psql('postgres', $levels);
my $flush_dropped = $node->safe_psql('postgres',
	q{SELECT (s->>'flush_entries_dropped')::bigint FROM lsm_fdw_stats('kv') s});
diag("before the stop: $files_before files, $entries_before entries; "
	  . "after the replay: $files files, $entries entries; flushes dropped $flush_dropped");
cmp_ok($files, '>=', 1, 'the table has files after the replay');
# a file flushed before the stop may hold one commit not yet published
# then (50 entries more), whatever the replay did
cmp_ok($entries, '<=', 50 * $files + $entries_before, 'about one version of each key per file');
cmp_ok($flush_dropped, '>', 0, 'the replay\'s flushes dropped the overwritten versions');
is($node->safe_psql('postgres', q{SELECT v = 'r159-' || repeat(md5('7'), 32) FROM kv WHERE k = 7}),
	't', 'a value read back whole');

$node->stop;
done_testing();
