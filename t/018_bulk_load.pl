# Bulk loading (issue 17): a transaction whose writes to a table pass
# lsm_fdw.spill_threshold (lowered here to 256kB) spills them to sorted runs
# and commits by ingesting SSTables, with one small log record.
#  - a COPY into an empty table lands in the bottom level, the transaction
#    reads its own rows after the spill, and lsm_fdw/bulk is empty after;
#  - a COPY over existing keys goes to level 0 and newer values win;
#  - a concurrent reader sees all of a load or none of it;
#  - BEGIN; TRUNCATE; COPY; ROLLBACK keeps the old rows, COMMIT replaces them;
#  - SIGKILL of the postmaster in the middle of a COPY: nothing of it after
#    the restart, and its temporary files are gone;
#  - SIGKILL right after the COMMIT of a COPY (also one that wrote a heap
#    table, the PREPARE path): every row is there after the restart;
#  - backend memory stays bounded during a load;
#  - pg_restore of a dump takes the same path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('bulk');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
lsm_fdw.spill_threshold = '256kB'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE t (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE u (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE TABLE h (id int PRIMARY KEY);
});
my $bulk = $node->data_dir . '/lsm_fdw/bulk';

# A CSV file of keys $from..$to with values "<tag>-<k>-<padding>".
sub csv
{
	my ($name, $from, $to, $tag) = @_;
	my $path = $node->basedir . "/$name.csv";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "$_,$tag-$_-" . ('x' x 100) . "\n" for $from .. $to;
	close($fh);
	chmod(0644, $path);
	return $path;
}

sub bulk_files
{
	opendir(my $d, $bulk) or return 0;
	my @f = grep { !/^\.\.?$/ } readdir($d);
	closedir($d);
	return scalar(@f);
}

sub level_files
{
	my ($table, $level) = @_;
	return $node->safe_psql('postgres',
		"SELECT (lsm_fdw_stats('$table')->'levels'->$level->>'files')::int");
}

sub crash_and_restart
{
	my @also = @_;
	my $pid = $node->{_pid};
	# a backend outlives its postmaster until it next checks: kill it too
	kill('KILL', @also) if @also;
	$node->kill9;
	for (my $i = 0; $i < 600 && kill(0, $pid); $i++) { usleep(50_000); }
	# a busy backend notices the postmaster's death only at its next check
	for my $try (1 .. 40)
	{
		return if $node->start(fail_ok => 1);
		usleep(500_000);
	}
	BAIL_OUT("node did not restart");
}

# 1. Into an empty table: bottom level, own reads after the spill.
my $f1 = csv('a', 1, 20000, 'a');
my $out = $node->safe_psql('postgres', qq{
	BEGIN;
	COPY t FROM '$f1' (FORMAT csv);
	SELECT count(*), count(DISTINCT k), min(k), max(k) FROM t;
	SELECT v FROM t WHERE k = 12345;
	SELECT count(*) FROM t WHERE k BETWEEN 100 AND 199;
	COMMIT;
});
is($out, "20000|20000|1|20000\na-12345-" . ('x' x 100) . "\n100",
	'the loading transaction reads its own rows after a spill');
ok(-d $bulk, 'the load used the bulk directory');
is(bulk_files(), 0, 'runs and bulk files are gone after the commit');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM t'),
	'20000|' . (20000 * 20001 / 2), 'every row is committed');
is(level_files('t', 6) > 0 ? 'bottom' : 'not', 'bottom', 'the load went to the bottom level');
is(level_files('t', 0), '0', 'and nothing to level 0');
is($node->safe_psql('postgres',
		"SELECT (lsm_fdw_stats('t')->>'memtable_bytes')::int8 < 1024 * 1024"), 't',
	'and not through the memtable');

# 2. Overlapping keys: level 0, newer values win.
my $f2 = csv('b', 10001, 30000, 'b');
$node->safe_psql('postgres', "ALTER FOREIGN TABLE t OPTIONS (ADD on_duplicate 'overwrite')");
$node->safe_psql('postgres', "COPY t FROM '$f2' (FORMAT csv)");
is($node->safe_psql('postgres', q{
	SELECT count(*), count(*) FILTER (WHERE v LIKE 'a-%'), count(*) FILTER (WHERE v LIKE 'b-%') FROM t}),
	'30000|10000|20000', 'an overlapping load replaces the rows it rewrites');
ok(level_files('t', 0) >= 1 || $node->safe_psql('postgres',
		"SELECT (lsm_fdw_stats('t')->>'compactions')::int8 > 0") eq 't',
	'an overlapping load goes to level 0');
is($node->safe_psql('postgres', "SELECT v FROM t WHERE k = 15000"),
	'b-15000-' . ('x' x 100), 'a point read finds the newest value');

# 3. A concurrent reader sees all of a load or none of it.
my $script = $node->basedir . '/reader.sql';
open(my $sfh, '>', $script) or die;
print $sfh "SELECT count(*) FROM u;\n" x 400;
close($sfh);
my ($rout, $rerr) = ('', '');
my $reader = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-f', $script ],
	'>', \$rout, '2>', \$rerr);
my $f3 = csv('c', 1, 30000, 'c');
$node->safe_psql('postgres', "COPY u FROM '$f3' (FORMAT csv)");
$reader->finish;
my %seen = map { $_ => 1 } split /\n/, $rout;
is(join(',', grep { $_ ne '0' && $_ ne '30000' } sort keys %seen), '',
	'a concurrent reader saw only 0 or 30000 rows');
is($rerr, '', 'the reader had no error');

# 4. TRUNCATE + COPY: rollback keeps the old rows, commit replaces them.
my $f4 = csv('d', 1, 5000, 'd');
$node->safe_psql('postgres', "BEGIN; TRUNCATE u; COPY u FROM '$f4' (FORMAT csv); ROLLBACK;");
is($node->safe_psql('postgres', "SELECT count(*), min(v) FROM u WHERE k = 1"),
	'1|c-1-' . ('x' x 100), 'TRUNCATE + COPY rolled back: the old rows are there');
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), '30000', 'all of them');
$node->safe_psql('postgres', "BEGIN; TRUNCATE u; COPY u FROM '$f4' (FORMAT csv); COMMIT;");
is($node->safe_psql('postgres', q{SELECT count(*), count(*) FILTER (WHERE v LIKE 'd-%') FROM u}),
	'5000|5000', 'TRUNCATE + COPY committed: only the new rows');
is(level_files('u', 0), '0', 'into the emptied table, nothing in level 0');
is(bulk_files(), 0, 'no bulk file is left');

# 5. SIGKILL in the middle of a COPY.
$node->safe_psql('postgres',
	'CREATE FOREIGN TABLE big (k int8 OPTIONS (key \'true\'), v text) SERVER lsm');
my $f5 = csv('e', 1, 400000, 'e');
my ($cout, $cerr) = ('', '');
my $copy = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  "COPY big FROM '$f5' (FORMAT csv)" ],
	'>', \$cout, '2>', \$cerr);
my $waited = 0;
while (bulk_files() < 2 && $waited < 600) { usleep(50_000); $waited++; }
ok(bulk_files() >= 2, 'the COPY spilled runs before the kill');
my $copy_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY big%'");
ok($copy_pid =~ /^\d+$/, 'the COPY is still running at the kill');
crash_and_restart($copy_pid);
$copy->finish;
is($node->safe_psql('postgres', 'SELECT count(*) FROM big'), '0',
	'after a kill in the middle of a COPY nothing of it is visible');
is(bulk_files(), 0, 'and its temporary files are gone');

# 6. SIGKILL right after the commit returns; also with a heap write (PREPARE).
$node->safe_psql('postgres', "COPY big FROM '$f5' (FORMAT csv)");
crash_and_restart();
is($node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM big'),
	'400000|' . (400000 * 400001 / 2), 'a committed COPY survives a crash');
# The record is durable, the ingest has not happened (a test-only delay
# holds it): replay ingests the files from lsm_fdw/bulk.
my $f7 = csv('g', 500001, 530000, 'g');
my ($dout, $derr) = ('', '');
my $delayed = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  "SET lsm_fdw.debug_ingest_delay = '60s'", '-c', "COPY big FROM '$f7' (FORMAT csv)" ],
	'>', \$dout, '2>', \$derr);
my $load_built = 0;
for (my $i = 0; $i < 600 && !$load_built; $i++)
{
	opendir(my $d, $bulk) or die;
	$load_built = grep { /^load-/ } readdir($d);
	closedir($d);
	usleep(50_000) unless $load_built;
}
ok($load_built, 'the bulk commit built its files');
usleep(1_500_000);	# the record is appended and synced right after
my $delayed_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY big%'");
ok($delayed_pid =~ /^\d+$/, 'the commit waits before its ingest');
crash_and_restart($delayed_pid);
$delayed->finish;
is($node->safe_psql('postgres', 'SELECT count(*) FROM big WHERE k > 500000'), '30000',
	'replay ingests a bulk commit whose record was durable before the crash');
is(bulk_files(), 0, 'and removes its files afterwards');

my $f6 = csv('f', 400001, 420000, 'f');
$node->safe_psql('postgres', "BEGIN; INSERT INTO h VALUES (1); COPY big FROM '$f6' (FORMAT csv); COMMIT;");
crash_and_restart();
is($node->safe_psql('postgres', 'SELECT count(*) FROM big WHERE k BETWEEN 400001 AND 420000'), '20000',
	'a committed COPY that also wrote a heap table survives a crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM h'), '1', 'with its heap row');
is(bulk_files(), 0, 'no bulk file is left after recovery');
is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('big')->>'problems'"), '0',
	'lsm_fdw_verify passes');

# 7. Backend memory stays bounded: a load of ~45 MB through ~180 spills of
# 256kB grows the backend's peak RSS by a few MB, not by what it loads (each
# spill used to keep its old index region until the transaction ended).
$node->safe_psql('postgres',
	'CREATE FOREIGN TABLE m (k int8 OPTIONS (key \'true\'), v text) SERVER lsm');
my $hwm = q{SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s*(\d+) kB'))[1]::int8};
my ($before, $after) = split /\n/, $node->safe_psql('postgres', qq{
	SET lsm_fdw.max_transaction_memory = '1GB';
	$hwm;
	COPY m FROM '$f5' (FORMAT csv);
	$hwm;
});
my $growth_mb = int(($after - $before) / 1024);
ok($growth_mb < 24, "a 45 MB load grows the backend's peak RSS by $growth_mb MB (< 24)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM m'), '400000', 'and commits every row');

# 8. pg_restore takes the same path.
my $dump = $node->basedir . '/t.dump';
$node->command_ok(['pg_dump', '--include-foreign-data=lsm', '-Fc', '-t', 't', '-f', $dump, 'postgres'],
	'pg_dump of a loaded table');
$node->safe_psql('postgres', 'CREATE DATABASE r');
$node->safe_psql('r', 'CREATE EXTENSION lsm_fdw; CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', 'r', $dump], 'pg_restore');
is($node->safe_psql('r', 'SELECT count(*), sum(k) FROM t'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM t'), 'the restored table has every row');
is($node->safe_psql('r', "SELECT (lsm_fdw_stats('t')->'levels'->6->>'files')::int > 0"), 't',
	'the restore was ingested into the bottom level');

$node->stop;
done_testing();
