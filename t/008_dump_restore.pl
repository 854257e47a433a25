# Backups of lsm_fdw tables with pg_dump, and pg_upgrade.  pg_dump writes
# CREATE FOREIGN TABLE without column options and adds them (the key) by
# ALTER; the restore must bring back every table with the same key (column
# order decides the key order), its table and server options and every
# row, with no hand edits: plain format through psql, custom format through
# pg_restore -j (parallel COPY into different tables), into a fresh
# database and into a fresh instance.  Then a pg_upgrade from 15 to 15,
# with $PGDATA/lsm_fdw copied by hand as the README says.
use strict;
use warnings;
use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $conf = "shared_preload_libraries = 'lsm_fdw'\nmax_worker_processes = 16\n";
my $src = PostgreSQL::Test::Cluster->new('dump_src');
$src->init;
$src->append_conf('postgresql.conf', $conf);
$src->start;

$src->safe_psql('postgres', 'CREATE DATABASE src');
$src->safe_psql('src', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw
		OPTIONS (compression 'none', bloom_bits_per_key '12');
	CREATE DOMAIN pos AS int8 CHECK (VALUE > 0);
	CREATE FOREIGN TABLE kv (k pos OPTIONS (key 'true'), v text, n int4, ts timestamptz)
		SERVER lsm OPTIONS (block_size '8kB', memtable_size '2MB', compaction 'tiered',
							on_duplicate 'overwrite');
	-- key order (b, a) is column order, not name order
	CREATE FOREIGN TABLE comp (b text OPTIONS (key 'true'), x numeric,
							   a int4 OPTIONS (key 'true'), u uuid, bin bytea)
		SERVER lsm OPTIONS (compression 'zstd', compression_level '5');
	CREATE FOREIGN TABLE dropped (k int OPTIONS (key 'true'), gone text, v text) SERVER lsm;
	ALTER FOREIGN TABLE dropped DROP COLUMN gone;
	CREATE FOREIGN TABLE empty_t (id uuid OPTIONS (key 'true'), v jsonb) SERVER lsm;
	CREATE SCHEMA s2;
	CREATE FOREIGN TABLE s2."Mixed Case" ("Key" text OPTIONS (key 'true'), "Val" int) SERVER lsm;

	INSERT INTO kv SELECT g, repeat('v', g % 50) || g, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 7 END,
		'2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute'
		FROM generate_series(1, 20000) g;
	SELECT lsm_fdw_flush('kv');
	UPDATE kv SET v = 'updated' WHERE k % 100 = 0;
	DELETE FROM kv WHERE k % 333 = 0;
	INSERT INTO comp SELECT 'b' || (g % 97), g / 3.0, g, md5(g::text)::uuid,
		CASE WHEN g % 4 = 0 THEN NULL ELSE sha256(g::text::bytea) END
		FROM generate_series(1, 5000) g;
	INSERT INTO dropped SELECT g, 'd' || g FROM generate_series(1, 300) g;
	INSERT INTO s2."Mixed Case" SELECT 'key ' || g, g FROM generate_series(1, 100) g;
});

my @tables = ('kv', 'comp', 'dropped', 'empty_t', 's2."Mixed Case"');

# Every row of every table, in the engine's order (the key order: a key
# restored in another column order would give another order), and the
# definitions: columns with their options, table and server options.
sub contents
{
	my ($node, $db) = @_;
	my $out = '';
	for my $t (@tables)
	{
		$out .= "== $t\n" . $node->safe_psql($db, "COPY (SELECT * FROM $t) TO STDOUT") . "\n";
	}
	$out .= $node->safe_psql($db, q{
		SELECT c.relname, (SELECT array_agg(o ORDER BY o) FROM unnest(ft.ftoptions) o),
			string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
			|| coalesce(' ' || a.attfdwoptions::text, ''), ', ' ORDER BY a.attnum)
		FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		GROUP BY c.relname, ft.ftoptions ORDER BY 1;
		SELECT srvname, (SELECT array_agg(o ORDER BY o) FROM unnest(srvoptions) o)
		FROM pg_foreign_server ORDER BY 1;
	});
	return $out;
}

# is() for long texts: on a mismatch, show the first differing lines only.
my $ndiff = 0;
sub same
{
	my ($got, $expected, $name) = @_;
	return pass($name) if $got eq $expected;
	my $base = PostgreSQL::Test::Utils::tempdir . '/diff' . $ndiff++;
	PostgreSQL::Test::Utils::append_to_file("$base.want", $expected);
	PostgreSQL::Test::Utils::append_to_file("$base.got", $got);
	diag(scalar `diff "$base.want" "$base.got" | head -20`);
	return fail($name);
}

my $want = contents($src, 'src');
like($want, qr/20000|19999/, 'source tables filled');

my $dir = PostgreSQL::Test::Utils::tempdir;
$src->command_ok(['pg_dump', '--include-foreign-data=lsm', '-f', "$dir/plain.sql", 'src'],
	'pg_dump, plain format');
$src->command_ok(['pg_dump', '--include-foreign-data=lsm', '-Fc', '-f', "$dir/custom.dump", 'src'],
	'pg_dump, custom format');

# Plain format into a fresh database of the same instance.
$src->safe_psql('postgres', 'CREATE DATABASE r_plain');
$src->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'r_plain', '-f', "$dir/plain.sql"],
	'plain dump restores without errors');
same(contents($src, 'r_plain'), $want, 'plain format: same tables, options and rows');

# Custom format, parallel restore, into a fresh database.
$src->safe_psql('postgres', 'CREATE DATABASE r_custom');
$src->command_ok(['pg_restore', '-j', '4', '--exit-on-error', '-d', 'r_custom', "$dir/custom.dump"],
	'pg_restore -j 4 into a fresh database');
same(contents($src, 'r_custom'), $want, 'custom format: same tables, options and rows');

# The restored tables are ordinary lsm tables: writable, and the key cannot
# change any more now that they hold rows.
$src->safe_psql('r_custom', q{INSERT INTO kv VALUES (30000, 'new', 1, now())});
my ($rc, $out, $err) = $src->psql('r_custom',
	q{ALTER FOREIGN TABLE comp ALTER COLUMN x OPTIONS (ADD key 'true')});
like($err, qr/cannot change the key option of column "x"/, 'key of a restored table is fixed');

# A fresh instance: plain and custom (parallel) format.
my $dst = PostgreSQL::Test::Cluster->new('dump_dst');
$dst->init;
$dst->append_conf('postgresql.conf', $conf);
$dst->start;
$dst->safe_psql('postgres', 'CREATE DATABASE r_plain');
$dst->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'r_plain', '-f', "$dir/plain.sql"],
	'plain dump restores into a fresh instance');
same(contents($dst, 'r_plain'), $want, 'fresh instance, plain format: same tables, options and rows');
$dst->command_ok(['pg_restore', '-j', '4', '--exit-on-error', '--create', '-d', 'postgres',
	"$dir/custom.dump"], 'pg_restore -j 4 --create into a fresh instance');
same(contents($dst, 'src'), $want, 'fresh instance, custom format: same tables, options and rows');

# The restored rows survive a restart of the fresh instance (they were
# committed through the lsm log like any others).
$dst->restart;
same(contents($dst, 'src'), $want, 'fresh instance after restart: same rows');

# CREATE DATABASE ... TEMPLATE copies the lsm tables' files, durably before
# its commit: the copy keeps every row across a kill -9 right after it.
$dst->safe_psql('src', q{UPDATE kv SET v = 'in the memtable' WHERE k = 7});
my $want_copy = contents($dst, 'src');
$dst->safe_psql('postgres', 'CREATE DATABASE copy1 TEMPLATE src');
same(contents($dst, 'copy1'), $want_copy, 'CREATE DATABASE TEMPLATE: same tables and rows');
$dst->stop('immediate');
$dst->start;
same(contents($dst, 'copy1'), $want_copy, 'the copy after kill -9: same rows');
same(contents($dst, 'src'), $want_copy, 'the template after kill -9: same rows');
$dst->safe_psql('copy1', q{DELETE FROM kv WHERE k < 100});
is($dst->safe_psql('src', q{SELECT count(*) FROM kv WHERE k < 100}), '99',
	'template independent of its copy');
$dst->stop;

# pg_upgrade 15 -> 15: catalogs by pg_upgrade (it keeps database and table
# OIDs), the lsm_fdw directory copied from the cleanly stopped old cluster.
$src->safe_psql('postgres', 'DROP DATABASE r_plain');
$src->safe_psql('postgres', 'DROP DATABASE r_custom');
$want = contents($src, 'src');
my $new = PostgreSQL::Test::Cluster->new('upgraded');
$new->init;
$new->append_conf('postgresql.conf', $conf);
$src->stop;
my $bindir = $src->config_data('--bindir');
{
	my $cwd = PostgreSQL::Test::Utils::tempdir;
	chdir $cwd or die "chdir: $!";
	command_ok(['pg_upgrade', '--no-sync', '-b', $bindir, '-B', $bindir,
				'-d', $src->data_dir, '-D', $new->data_dir,
				'-p', $src->port, '-P', $new->port, '-s', $cwd],
		'pg_upgrade');
}
rmtree($new->data_dir . '/lsm_fdw');
system('cp', '-a', $src->data_dir . '/lsm_fdw', $new->data_dir . '/lsm_fdw') == 0
	or die "copy lsm_fdw failed";
$new->start;
same(contents($new, 'src'), $want, 'pg_upgrade: same tables, options and rows');
$new->safe_psql('src', q{INSERT INTO comp VALUES ('zz', 1, 1, NULL, NULL)});
is($new->safe_psql('src', q{SELECT x FROM comp WHERE b = 'zz' AND a = 1}), '1',
	'upgraded table writable');
$new->stop;

done_testing();
