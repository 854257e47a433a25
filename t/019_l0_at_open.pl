# Level 0 after a restart: a read-mostly table that had a few level-0 files
# (below the compaction trigger of 4) when the server stopped gets them
# compacted by the compaction worker soon after it is opened again, without
# any write or manual call, so that its gets search one level-0 file rather
# than three (issue 16).  Before, they stayed until writes brought level 0
# to the trigger.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('l0open');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE r (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	  OPTIONS (on_duplicate 'overwrite');
});

my $levels = q{SELECT (s->'levels'->0->>'files')::int, (s->>'compactions')::int
  FROM lsm_fdw_stats('r') s};

# Three level-0 files: one batch of rows per flush, until level 0 has three
# (the worker may have flushed a batch on its own).
my ($l0, $compactions) = (0, 0);
for my $i (1 .. 10)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO r SELECT g, 'v$i' FROM generate_series($i, 3000, 3) g;
		SELECT lsm_fdw_flush('r');
	});
	($l0, $compactions) = split /\|/, $node->safe_psql('postgres', $levels);
	last if $l0 >= 3;
}
is($l0, 3, 'three level-0 files before the restart');
is($compactions, 0, 'below the trigger: nothing compacted');
my $count = $node->safe_psql('postgres', 'SELECT count(*), max(v) FROM r');

$node->restart;

# Only reads from here on: the first one opens the table.
is($node->safe_psql('postgres', 'SELECT count(*), max(v) FROM r'), $count,
	'every row after the restart');
for (1 .. 300)
{
	($l0, $compactions) = split /\|/, $node->safe_psql('postgres', $levels);
	last if $l0 <= 1;
	usleep(100_000);
}
cmp_ok($l0, '<=', 1, 'level 0 compacted after the restart without a write');
cmp_ok($compactions, '>=', 1, 'by a compaction');
is($node->safe_psql('postgres', 'SELECT count(*), max(v) FROM r'), $count,
	'every row after the compaction');

# Back to the usual trigger: two new level-0 files stay.
for my $i (1 .. 2)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO r VALUES ($i, 'again');
		SELECT lsm_fdw_flush('r');
	});
}
usleep(1_000_000);
my ($l0_after) = split /\|/, $node->safe_psql('postgres', $levels);
cmp_ok($l0_after, '>=', 2, 'later flushes wait for the usual trigger');

$node->stop;
done_testing();
