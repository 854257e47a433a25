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

# 9. The load's own-write checks (a filter of the keys written, an index
# brought up to date only when read, runs sorted from the log).
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE d (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE o (k int8 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (on_duplicate 'overwrite');
});
# A CSV file of the given keys, in that order, values "<tag>-<k>-<padding>".
sub csv_keys
{
	my ($name, $tag, $pad, @keys) = @_;
	my $path = $node->basedir . "/$name.csv";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "$_,$tag-$_-" . ('x' x $pad) . "\n" for @keys;
	close($fh);
	chmod(0644, $path);
	return $path;
}
# a duplicate of a key spilled long before, and of one still in memory
for my $dup (5, 19990)
{
	my $f = csv_keys("dup$dup", 'd', 100, 1 .. 20000, $dup);
	my ($ret, $stdout, $stderr) = $node->psql('postgres', "COPY d FROM '$f' (FORMAT csv)",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	like($stderr, qr/23505: duplicate key value violates the key of lsm_fdw table "d"/,
		"a COPY repeating key $dup fails with 23505");
	like($stderr, qr/Key \(k\)=\($dup\) already exists/, "and names key $dup");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM d'), '0', 'and leaves nothing');
}
is(bulk_files(), 0, 'the failed loads left no file');
# on_duplicate 'overwrite': the last of a key's rows wins, across spills
my $fo = $node->basedir . '/ow.csv';
open(my $fh, '>', $fo) or die "$fo: $!";
print $fh "7,first\n";
print $fh "$_,o-$_-" . ('x' x 100) . "\n" for 1 .. 20000;
print $fh "7,last\n19990,last\n";
close($fh);
chmod(0644, $fo);
$out = $node->safe_psql('postgres', qq{
	BEGIN;
	COPY o FROM '$fo' (FORMAT csv);
	SELECT count(*), string_agg(v, ',' ORDER BY k) FILTER (WHERE k IN (7, 19990)) FROM o;
	COMMIT;
	SELECT count(*), string_agg(v, ',' ORDER BY k) FILTER (WHERE k IN (7, 19990)) FROM o;
	SELECT v FROM o WHERE k = 8;
});
is($out, "20000|last,last\n20000|last,last\no-8-" . ('x' x 100),
	'an overwrite load keeps the last row of each key, before and after its commit');
# the index is built when the transaction first reads what it wrote
$out = $node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO d SELECT g, 'i' FROM generate_series(1, 1000) g;
	SELECT count(*), max(k) FROM d;
	INSERT INTO d SELECT g, 'j' FROM generate_series(1001, 1500) g;
	SELECT count(*), max(k), min(v) FROM d WHERE k > 900;
	SAVEPOINT s;
	INSERT INTO d SELECT g, 'k' FROM generate_series(1501, 1600) g;
	ROLLBACK TO s;
	SELECT count(*), max(k) FROM d;
	INSERT INTO d VALUES (1550, 'again');
	SAVEPOINT s2;
	INSERT INTO d SELECT g, 'l' FROM generate_series(1601, 1700) g;
	SELECT count(*) FROM d;
	ROLLBACK TO s2;
	SELECT count(*), max(k) FROM d;
	COMMIT;
});
is($out, "1000|1000\n600|1500|i\n1500|1500\n1601\n1501|1550",
	'own reads see lazily indexed writes, before and after ROLLBACK TO');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	BEGIN;
	INSERT INTO d SELECT g, 'x' FROM generate_series(2001, 3000) g;
	SAVEPOINT s;
	INSERT INTO d VALUES (3001, 'x');
	ROLLBACK TO s;
	INSERT INTO d VALUES (3001, 'y');
	INSERT INTO d VALUES (2500, 'dup');
	COMMIT;
});
like($stderr, qr/Key \(k\)=\(2500\) already exists/,
	'a key written earlier in the transaction is a duplicate');
is($node->safe_psql('postgres', 'SELECT count(*) FROM d WHERE k > 2000'), '0',
	'and the transaction rolled back');
$out = $node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO d SELECT g, 'x' FROM generate_series(2001, 3000) g;
	SAVEPOINT s;
	INSERT INTO d VALUES (3001, 'x');
	ROLLBACK TO s;
	INSERT INTO d VALUES (3001, 'y');
	COMMIT;
	SELECT count(*), max(v) FROM d WHERE k > 2000;
});
is($out, '1001|y', 'a key rolled back to a savepoint can be inserted again');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	BEGIN;
	TRUNCATE d;
	INSERT INTO d VALUES (1, 'after truncate');
	INSERT INTO d VALUES (1, 'twice');
	COMMIT;
});
like($stderr, qr/Key \(k\)=\(1\) already exists/,
	'after TRUNCATE a committed key can be inserted once, not twice');
is($node->safe_psql('postgres', q{
	BEGIN;
	TRUNCATE d;
	INSERT INTO d VALUES (1, 'after truncate');
	COMMIT;
	SELECT count(*), max(v) FROM d;
}), '1|after truncate', 'TRUNCATE and an insert of a key it had');

# 10. A load that never reads its own writes builds no index: with 32MB
# runs, 60 MB of 1 KiB rows grow the backend by about a run's log, not by
# a log and a skiplist of it (~70 MB before).  Into an on_duplicate table
# and a default one (whose duplicate checks the key filter answers).
my $f10 = csv_keys('kib', 'k', 1000, map { ($_ * 7919) % 60000 } 1 .. 60000);
for my $tbl ('o10', 'd10')
{
	$node->safe_psql('postgres', "CREATE FOREIGN TABLE $tbl (k int8 OPTIONS (key 'true'), v text) SERVER lsm"
		. ($tbl eq 'o10' ? " OPTIONS (on_duplicate 'overwrite')" : ''));
	my ($b10, $a10) = split /\n/, $node->safe_psql('postgres', qq{
		SET lsm_fdw.spill_threshold = '32MB';
		$hwm;
		COPY $tbl FROM '$f10' (FORMAT csv);
		$hwm;
	});
	my $g10 = int(($a10 - $b10) / 1024);
	ok($g10 < 52, "a 60 MB load into $tbl with 32MB runs grows the backend by $g10 MB (< 52)");
	is($node->safe_psql('postgres', "SELECT count(*), count(DISTINCT k) FROM $tbl"), '60000|60000',
		'and commits every row');
}

# 11. The commit's files written side by side (lsm_fdw.bulk_build_workers):
# 40000 keys in a shuffled order over ~25 runs, loaded with 0, 1 and 2
# workers, give the same rows; with workers the bottom level holds a file
# per key range, and every file checks out.  A worker that fails fails the
# commit and leaves nothing; a worker that cannot start leaves its range
# to the backend.
{
	my @keys = map { ($_ * 7919) % 40000 + 1 } 0 .. 39999;
	my $f11 = csv_keys('par', 'p', 120, @keys);
	my %files;
	my %digest;
	for my $w (0, 1, 2)
	{
		$node->safe_psql('postgres', qq{
			CREATE FOREIGN TABLE par$w (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
			SET lsm_fdw.bulk_build_workers = $w;
			COPY par$w FROM '$f11' (FORMAT csv);
		});
		$files{$w} = level_files("par$w", 6);
		$digest{$w} = $node->safe_psql('postgres',
			"SELECT count(*), sum(k), md5(string_agg(k || ':' || v, ',' ORDER BY k)) FROM par$w");
		is($node->safe_psql('postgres', "SELECT lsm_fdw_verify('par$w')->>'problems'"), '0',
			"par$w: the files check out");
		is(level_files("par$w", 0), '0', "par$w: nothing in level 0");
	}
	like($digest{0}, qr/^40000\|800020000\|/, 'the load without workers has every row');
	is($digest{1}, $digest{0}, 'one worker: the same rows');
	is($digest{2}, $digest{0}, 'two workers: the same rows');
	is($files{0}, 1, 'without workers: one file');
	is($files{1}, 2, 'one worker: a file per key range');
	is($files{2}, 3, 'two workers: a file per key range');
	# every key reads back by a get, on both sides of each split
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM generate_series(1, 40000, 7) g
		 WHERE (SELECT v FROM par2 WHERE k = g) = 'p-' || g || '-' || repeat('x', 120)}),
		'5715', 'par2: gets find the keys of every range');
	is(bulk_files(), 0, 'no bulk file is left');

	# a worker that fails after making a file
	my ($ret, $stdout, $stderr) = $node->psql('postgres', qq{
		CREATE FOREIGN TABLE parf (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
		SET lsm_fdw.debug_bulk_build_fault = 1;
		COPY parf FROM '$f11' (FORMAT csv);
	});
	like($stderr, qr/could not write the files of a bulk commit in a worker.*\n.*debug_bulk_build_fault/,
		'a failed worker fails the commit, with its reason');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM parf'), '0', 'and nothing of the load is there');
	is(bulk_files(), 0, 'the files of both sides are removed');

	# no worker to be had: the backend writes both ranges
	$node->safe_psql('postgres', qq{
		SET lsm_fdw.debug_bulk_build_fault = 2;
		COPY parf FROM '$f11' (FORMAT csv);
	});
	is($node->safe_psql('postgres',
		"SELECT count(*), sum(k), md5(string_agg(k || ':' || v, ',' ORDER BY k)) FROM parf"),
		$digest{0}, 'without a worker the backend writes every range');
	is(level_files('parf', 6), '2', 'still a file per range');
	is(bulk_files(), 0, 'no bulk file is left');

	# (a worker with no database connection is not in pg_stat_activity)
	sub bulk_worker_pid
	{
		my $pm = $node->{_pid};
		for (`ps -o pid=,args= --ppid $pm`)
		{
			return $1 if /^\s*(\d+)\s.*lsm_fdw bulk build/;
		}
		return '';
	}

	# a cancel while the backend waits for its worker, a SIGTERM of the
	# worker, and a SIGKILL of the server there:
	# the worker lingers after making its files (debug fault 3)
	$node->safe_psql('postgres',
		"CREATE FOREIGN TABLE parc (k int8 OPTIONS (key 'true'), v text) SERVER lsm");
	for my $how ('cancel', 'term', 'kill')
	{
		my ($pout, $perr) = ('', '');
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
			  '-c', 'SET lsm_fdw.debug_bulk_build_fault = 3',
			  '-c', "COPY parc FROM '$f11' (FORMAT csv)" ],
			'>', \$pout, '2>', \$perr);
		my $worker = '';
		for (my $i = 0; $i < 600 && $worker eq ''; $i++)
		{
			$worker = bulk_worker_pid();
			usleep(50_000) if $worker eq '';
		}
		ok($worker =~ /^\d+$/, "$how: the commit's worker is running");
		my $files_seen = 0;
		for (my $i = 0; $i < 600 && !$files_seen; $i++)
		{
			opendir(my $d, $bulk) or die;
			$files_seen = grep { /^load-$worker-/ } readdir($d);
			closedir($d);
			usleep(50_000) unless $files_seen;
		}
		ok($files_seen, "$how: the worker made its file");
		my $backend = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY parc%'");
		if ($how eq 'cancel')
		{
			$node->safe_psql('postgres', "SELECT pg_cancel_backend($backend)");
			$h->finish;
			like($perr, qr/canceling statement due to user request/, 'cancel: the COPY is canceled');
			is(bulk_worker_pid(), '', 'cancel: the worker is stopped');
			is(bulk_files(), 0, 'cancel: the files of both sides are removed');
		}
		elsif ($how eq 'term')
		{
			# the worker stopped by an administrator: the commit fails
			kill('TERM', $worker);
			$h->finish;
			like($perr, qr/bulk build worker 1 was stopped before it finished/,
				'term: a stopped worker fails the commit, saying so');
			is(bulk_files(), 0, 'term: the files of both sides are removed');
		}
		else
		{
			crash_and_restart($backend, $worker);
			$h->finish;
		}
		is($node->safe_psql('postgres', 'SELECT count(*) FROM parc'), '0',
			"$how: nothing of the load is there");
		# (after a restart, once the replay that the query waited for swept them)
		is(bulk_files(), 0, "$how: no bulk file is left") if $how eq 'kill';
	}
}

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
