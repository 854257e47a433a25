# TTL (ttl_column): compaction drops expired rows without any DELETE, and
# their bytes show in lsm_fdw_stats; nothing unexpired is lost, and no older
# version of a dropped row comes back.  A transaction that started before
# the rows expired keeps seeing them through a compaction (the cutoff is the
# oldest running transaction's read time).  pg_dump dumps no expired row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('ttl');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;
# Rows expire at $at, late enough for the setup to finish under load.
my $at = $node->safe_psql('postgres', q{SELECT (clock_timestamp() + interval '8 seconds')::text});
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE s (k int8 OPTIONS (key 'true'), v text, e timestamptz)
		SERVER lsm OPTIONS (ttl_column 'e');
	-- older versions at the bottom, never expiring
	INSERT INTO s SELECT g, md5(g::text), NULL FROM generate_series(1, 2000) g;
	SELECT lsm_fdw_flush('s');
	SELECT lsm_fdw_compact('s');
	-- newer versions of half of them expire soon, with as many new rows
	UPDATE s SET v = md5(k::text || 'x'), e = '$at'
	  WHERE k % 2 = 0;
	INSERT INTO s SELECT g, repeat(md5(g::text), 4),
	  CASE WHEN g % 2 = 0 THEN timestamptz '$at'
	       WHEN g % 3 = 0 THEN NULL ELSE now() + interval '1 day' END
	  FROM generate_series(2001, 20000) g;
	SELECT lsm_fdw_flush('s');
});
my $live = q{SELECT count(*), sum(k) FROM s};

# A transaction that reads before the rows expire.
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT 'before ' || count(*) FROM s;\n";
for (1 .. 300) { last if $out =~ /before (\d+)/; $h->pump_nb; usleep(20_000); }
like($out, qr/before 20000\n/, 'every row is visible before the expiry');

$node->safe_psql('postgres', qq{SELECT pg_sleep_until('$at'::timestamptz + interval '1.5 seconds')});
my $expect_live = $node->safe_psql('postgres',
	q{SELECT count(*), sum(g) FROM generate_series(1, 20000) g WHERE g % 2 = 1});
is($node->safe_psql('postgres', $live), $expect_live, 'expired rows are invisible');

# pg_dump: no expired row in the dump.
my $dump = PostgreSQL::Test::Utils::tempdir() . '/ttl_dump.sql';
$node->command_ok(['pg_dump', '--include-foreign-data=lsm', '--data-only', '-t', 's',
	'-f', $dump, 'postgres'], 'pg_dump of the table');
my $copied = 0;
open my $fh, '<', $dump or die "$dump: $!";
my $in_copy = 0;
while (<$fh>)
{
	if (/^COPY public\.s /) { $in_copy = 1; next; }
	if ($in_copy && /^\\\.$/) { $in_copy = 0; next; }
	$copied++ if $in_copy;
}
close $fh;
is($copied, 10000, 'pg_dump dumps only the unexpired rows');

# The open transaction holds the cutoff back: nothing it sees is dropped.
$node->safe_psql('postgres', "SELECT lsm_fdw_compact('s')");
is($node->safe_psql('postgres', q{SELECT lsm_fdw_stats('s')->>'ttl_entries_dropped'}), '0',
	'no row is dropped while a transaction that saw it runs');
$in .= "SELECT 'during ' || count(*) FROM s;\nCOMMIT;\n";
for (1 .. 300) { last if $out =~ /during (\d+)/; $h->pump_nb; usleep(20_000); }
like($out, qr/during 20000\n/, 'that transaction still sees every row after the compaction');
$in .= "\\q\n";
$h->finish;

my $before = $node->safe_psql('postgres', q{SELECT (lsm_fdw_stats('s')->>'bytes')::bigint});
$node->safe_psql('postgres', "SELECT lsm_fdw_compact('s')");
my $stats = $node->safe_psql('postgres', q{SELECT (v->>'bytes')::bigint, v->>'ttl_entries_dropped',
	(v->>'ttl_bytes_dropped')::bigint FROM lsm_fdw_stats('s') v});
my ($after, $dropped, $dropped_bytes) = split /\|/, $stats;
note("bytes before $before, after $after; $dropped rows, $dropped_bytes bytes dropped");
is($dropped, 10000, 'compaction dropped the expired rows');
ok($dropped_bytes > 10000 * 40, 'their bytes are counted');
ok($after < $before * 0.7, "the table shrank ($before -> $after bytes)");
is($node->safe_psql('postgres', $live), $expect_live, 'every unexpired row is still there');

# Without the option, the dropped rows stay gone: no older version is back.
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE s OPTIONS (DROP ttl_column)});
is($node->safe_psql('postgres', $live), $expect_live, 'no older version of a dropped row came back');

# After a restart the table reads the same.
$node->restart;
is($node->safe_psql('postgres', $live), $expect_live, 'the same rows after a restart');

# ttl: rows expire ttl after their ttl_column; compaction drops them too.
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE r (k int8 OPTIONS (key 'true'), v text, seen timestamptz)
		SERVER lsm OPTIONS (ttl_column 'seen', ttl '30 minutes');
	INSERT INTO r SELECT g, md5(g::text),
	  CASE WHEN g % 2 = 0 THEN now() - interval '1 hour' ELSE now() END
	  FROM generate_series(1, 4000) g;
	SELECT lsm_fdw_flush('r');
	SELECT lsm_fdw_compact('r');
});
is($node->safe_psql('postgres', q{SELECT lsm_fdw_stats('r')->>'ttl_entries_dropped'}), '2000',
	'with ttl, compaction drops the rows seen more than ttl ago');
is($node->safe_psql('postgres', q{SELECT count(*), sum(k) FROM r}),
	$node->safe_psql('postgres', q{SELECT count(*), sum(g) FROM generate_series(1, 4000) g WHERE g % 2 = 1}),
	'and keeps the others');

# An ALTER that set ttl_column and rolled back left it in the table's
# OPTIONS file; after a restart compaction must still follow the catalog.
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE q (k int8 OPTIONS (key 'true'), e timestamptz) SERVER lsm;
	INSERT INTO q SELECT g, now() - interval '1 hour' FROM generate_series(1, 1000) g;
	SELECT lsm_fdw_flush('q');
	BEGIN;
	ALTER FOREIGN TABLE q OPTIONS (ADD ttl_column 'e');
	ROLLBACK;
});
$node->restart;
$node->safe_psql('postgres', q{SELECT lsm_fdw_compact('q')});
is($node->safe_psql('postgres', q{SELECT count(*), lsm_fdw_stats('q')->>'ttl_entries_dropped' FROM q}),
	'1000|0', 'a rolled-back ttl_column drops nothing, also after a restart');

done_testing();
