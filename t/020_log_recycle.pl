# The server log across restarts, and recycled segments.
#  - A server restarted before every max_wal_size / 2 of writes still
#    checkpoints: the log kept from before a restart counts, so the log
#    stays within lsm_fdw.max_wal_size.  Before, the count started at the
#    insert position of each start, no checkpoint ever ran, and the log
#    (and every restart's replay) grew without bound.
#  - A checkpoint renames old segments to xlogrecycled.N (at most
#    max_wal_size / 2 of them) and the maintenance worker reuses them as
#    spare segments instead of writing zeros.
#  - After lsm_fdw.wal_recycle_idle_timeout without log writes, at most one
#    recycled segment stays (the disk an idle server keeps).
#  - Every committed row survives clean restarts and a SIGKILL while
#    recycled segments hold the log, and a clean restart whose current
#    segment is a recycled one (old records behind the end) reports no
#    torn tail.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('recycle');
$node->init;
# 1MB segments, a checkpoint every 8MB of log, at most 8 recycled files
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
lsm_fdw.wal_segment_size = 1MB
lsm_fdw.max_wal_size = 16MB
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int8 OPTIONS (key 'true'), v text) SERVER lsm
	  OPTIONS (on_duplicate 'overwrite');
});
my $wal = $node->data_dir . '/lsm_fdw/wal';

sub count_files
{
	my ($re) = @_;
	opendir(my $d, $wal) or die "opendir $wal: $!";
	my $n = grep { /$re/ } readdir($d);
	closedir($d);
	return $n;
}

# About 5.3MB of log in 50 commits of 100 rows of 1 KiB; keys of batch $b
# are new, so every row stays.
sub write_batch
{
	my ($b) = @_;
	my $sql = '';
	for my $s (0 .. 49)
	{
		my $lo = $b * 10000 + $s * 100;
		$sql .= "INSERT INTO kv SELECT g, repeat(md5(g::text), 32) FROM generate_series($lo, $lo + 99) g;\n";
	}
	$node->safe_psql('postgres', $sql);
}

my $stats = q{SELECT (j->>'log_segments_recycled')::int, (j->>'log_spare_segments_recycled')::int
  FROM lsm_fdw_server_stats() j};
my ($max_segments, $max_files) = (0, 0);
for my $b (1 .. 8)
{
	write_batch($b);
	$node->restart;
	# the checkpoint after the replay may take a moment
	my $n;
	for (1 .. 300)
	{
		$n = count_files(qr/^[0-9A-F]{16}\.xlog$/);
		last if $n <= 16;
		usleep(100_000);
	}
	my $files = $n + count_files(qr/^xlogrecycled\.\d+$/);
	$max_segments = $n if $n > $max_segments;
	$max_files = $files if $files > $max_files;
}
cmp_ok($max_segments, '<=', 16,
	'restarts every 5.3MB: the log stays within max_wal_size (16 segments)');
cmp_ok($max_files, '<=', 17, 'so do its segments and the recycled ones together');
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)) FROM kv'),
	'40000|40960000', 'every row after 8 restarts');

# One lifetime with more than a checkpoint's worth of log: spares come
# from recycled segments.
write_batch($_) for (9 .. 12);
my ($seg_recycled, $spares_recycled) = split /\|/, $node->safe_psql('postgres', $stats);
cmp_ok($seg_recycled, '>=', 1, 'a checkpoint recycled segments');
cmp_ok($spares_recycled, '>=', 1, 'spares were recycled segments');

# A clean restart while the current segment is a recycled one: old
# records lie behind the end, and they are no torn tail.
my $offset = -s $node->logfile;
$node->restart;
my $log = slurp_file($node->logfile, $offset);
like($log, qr/lsm_fdw replayed \d+ log records/, 'the log replayed');
unlike($log, qr/torn tail/, 'old records in a recycled segment are no torn tail');
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)) FROM kv'),
	'60000|61440000', 'every row after the clean restart');

# SIGKILL right after commits that went into recycled segments.
write_batch(13);
my ($spares_before) = (split /\|/, $node->safe_psql('postgres', $stats))[1];
write_batch(14);
my $pid = $node->{_pid};
$node->kill9;
for (my $i = 0; $i < 600 && kill(0, $pid); $i++) { usleep(50_000); }
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)) FROM kv'),
	'70000|71680000', 'every committed row after a SIGKILL');
is($node->safe_psql('postgres', q{SELECT count(*) FROM kv WHERE k BETWEEN 140000 AND 149999}),
	'5000', 'the last batch whole');
diag("recycled: $seg_recycled segments, spares $spares_recycled; before the kill $spares_before spares");

# An idle log gives its recycled segments back: after
# lsm_fdw.wal_recycle_idle_timeout without writes, one at most stays.
# The start after the kill checkpointed (more than 8MB of log), so some
# wait now.
my $before_idle;
for (1 .. 100)
{
	$before_idle = count_files(qr/^xlogrecycled\.\d+$/);
	last if $before_idle >= 2;
	usleep(100_000);
}
cmp_ok($before_idle, '>=', 2, 'recycled segments wait after the restart');
$node->safe_psql('postgres', q{ALTER SYSTEM SET lsm_fdw.wal_recycle_idle_timeout = '2s'; SELECT pg_reload_conf()});
my $after_idle;
for (1 .. 300)
{
	$after_idle = count_files(qr/^xlogrecycled\.\d+$/);
	last if $after_idle <= 1;
	usleep(100_000);
}
cmp_ok($after_idle, '<=', 1, 'an idle log keeps one recycled segment at most');
is($node->safe_psql('postgres', 'SELECT count(*), sum(length(v)) FROM kv'),
	'70000|71680000', 'every row after the trim');

$node->stop;
done_testing();
