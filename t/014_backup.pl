# Online backup (lsm_fdw_backup, bin/lsm_fdw_backup.sh): 8 clients commit
# transactions that write two lsm tables and a counter; each logs, per
# transaction, when it began and when its COMMIT was acknowledged.  While
# they run, bin/lsm_fdw_backup.sh takes the lsm backup through SQL, a
# pg_basebackup of the heap side, and verifies the restored copy.  The
# copy is started as a new instance; there, per client:
#  - the transactions present are a prefix 1..m of the client's (each
#    client commits in order, and the backup is one point of one log);
#  - every transaction acknowledged before lsm_fdw_backup started is in it;
#  - no transaction that began after lsm_fdw_backup returned is in it;
#  - each is whole: its rows in both tables, and the client's counter = m.
# The log is kept small (64 kB segments, checkpoints every 8 MB), so that
# checkpoints and compactions run during the backup.  Table a keeps its
# rows' values in blob files, which the backup must copy; b keeps them in
# its tree.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use File::Path qw(rmtree);

my $clients = 8;
my $per_client = $ENV{LSM_BACKUP_TXNS} // 3000;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
lsm_fdw.wal_segment_size = 64
lsm_fdw.max_wal_size = '16MB'
max_connections = 30
log_statement = none
});
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE a (k int8 OPTIONS (key 'true'), client int4, i int4, pad text) SERVER lsm OPTIONS (memtable_size '1MB', blob_min_size '200');
	CREATE FOREIGN TABLE b (k int8 OPTIONS (key 'true'), pad text) SERVER lsm OPTIONS (memtable_size '1MB', compaction 'tiered', blob_min_size '0');
	CREATE FOREIGN TABLE cnt (k int4 OPTIONS (key 'true'), n int4) SERVER lsm;
	CREATE FOREIGN TABLE idle (k int4 OPTIONS (key 'true')) SERVER lsm;
	INSERT INTO idle VALUES (1), (2);
	INSERT INTO cnt SELECT g, 0 FROM generate_series(1, $clients) g;
	CREATE DATABASE other;
});
$node->safe_psql('other', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE o (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO o SELECT g, 'other ' || g FROM generate_series(1, 1000) g;
});
# Push the records of "idle" and "o" out of the log (a checkpoint flushes
# every table and removes the segments), then restart: a table nobody used
# since the start is not open, and the backup must open it.  The rows go
# to client 0, which the checks below ignore.
my $l0 = $node->safe_psql('postgres', "SELECT lsm_fdw_server_stats()->>'log_insert_lsn'");
for my $r (0 .. 5)
{
	$node->safe_psql('postgres', "INSERT INTO a SELECT g, 0, g, repeat('z', 500) FROM generate_series($r * 4000 + 1, $r * 4000 + 4000) g;
		INSERT INTO b SELECT g, repeat('z', 500) FROM generate_series($r * 4000 + 1, $r * 4000 + 4000) g");
}
ok($node->poll_query_until('postgres', "SELECT (s->>'log_segments')::bigint * 65536 < (s->>'log_insert_lsn')::numeric - $l0
	FROM lsm_fdw_server_stats() s"), 'a checkpoint removed the log of the idle tables');
$node->restart;

# refusals that name a path (the others are in sql/extension.sql)
my $pgdata = $node->data_dir;
my ($rc, $out, $err) = $node->psql('postgres', "SELECT lsm_fdw_backup('$pgdata/bk')");
like($err, qr/is inside the data directory/, 'a backup into the data directory is refused');
my $full = PostgreSQL::Test::Utils::tempdir();
mkdir "$full/x";
($rc, $out, $err) = $node->psql('postgres', "SELECT lsm_fdw_backup('$full')");
like($err, qr/is not empty/, 'a backup into a non-empty directory is refused');

my $tmp = PostgreSQL::Test::Utils::tempdir();
my @h;
for my $c (1 .. $clients)
{
	my $script = "$tmp/client$c.sql";
	open my $f, '>', $script or die;
	print $f "\\set ON_ERROR_STOP 1\n";
	for my $i (1 .. $per_client)
	{
		my $k = $c * 1_000_000 + $i;
		print $f "SELECT 'b', $i, extract(epoch from clock_timestamp());\n",
		  "BEGIN;\nINSERT INTO a VALUES ($k, $c, $i, repeat('a', 300));\n",
		  "INSERT INTO b VALUES ($k, repeat('b', 300));\n",
		  "UPDATE cnt SET n = $i WHERE k = $c;\nCOMMIT;\n",
		  "SELECT 'a', $i, extract(epoch from clock_timestamp());\n";
	}
	close $f;
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $script ],
		'>', "$tmp/client$c.out", '2>', "$tmp/client$c.err");
}

sub acked
{
	my ($c) = @_;
	open my $f, '<', "$tmp/client$c.out" or return 0;
	my $n = grep { /^a\|/ } <$f>;
	return $n;
}
# back up once the load is well under way
for (my $i = 0; $i < 1200 && acked(1) < $per_client / 5; $i++) { usleep(50_000); }
ok(acked(1) >= $per_client / 5 && acked(1) < $per_client, 'the backup starts during the load');

my $target = "$tmp/backup";
my $bout = `bin/lsm_fdw_backup.sh -d '@{[ $node->connstr('postgres') ]}' -D '$target' 2>&1`;
is($?, 0, 'bin/lsm_fdw_backup.sh succeeds (backup, base backup, verify)') or diag($bout);
like($bout, qr/restored copy verified, no problem/, 'lsm_fdw_verify found no problem in the restored copy');
my @verified = ($bout =~ /^verify /mg);
is(scalar(@verified), 5, 'every lsm table of every database was verified');
ok(acked(1) < $per_client, 'the load was still running when the backup ended');

$_->finish for @h;
# 64 kB segments under this load: the worker keeps a spare ready for many
# of the switches (the others make their segment themselves)
my $spares = $node->safe_psql('postgres',
	"SELECT (s->>'log_spare_segments_used')::bigint FROM lsm_fdw_server_stats() s");
ok($spares > 0, "segment switches took spare segments ($spares)");
for my $c (1 .. $clients)
{
	my $e = slurp_file("$tmp/client$c.err");
	is($e, '', "client $c saw no error");
}

# the backup point, as the server's clock saw it
open my $jf, '<', "$target/lsm_backup.json" or die;
my $json = <$jf>;
close $jf;
diag("lsm_fdw_backup returned $json");
my ($start_time) = $json =~ /"start_time": "([^"]+)"/;
my ($end_time) = $json =~ /"end_time": "([^"]+)"/;
my ($tables) = $json =~ /"tables": (\d+)/;
my ($bytes) = $json =~ /"bytes": (\d+)/;
my ($log_bytes) = $json =~ /"log_bytes": (\d+)/;
is($tables, 5, 'the backup holds all five tables');
ok($bytes > 0 && $log_bytes > 0, "the backup reports its bytes ($bytes, of which log $log_bytes)");
ok(-f "$target/lsm/lsm_fdw/backup_label.json", 'the backup has a label');
my ($t0, $t1) = split /\|/, $node->safe_psql('postgres',
	"SELECT extract(epoch from '$start_time'::timestamptz), extract(epoch from '$end_time'::timestamptz)");

my %acked_total;
my %begin;
my %ack;
for my $c (1 .. $clients)
{
	open my $f, '<', "$tmp/client$c.out" or die;
	while (<$f>)
	{
		chomp;
		my ($kind, $i, $ts) = split /\|/;
		next unless defined $ts;
		$begin{$c}{$i} = $ts if $kind eq 'b';
		$ack{$c}{$i} = $ts if $kind eq 'a';
	}
	close $f;
}
$node->stop;

# restore: the base backup with the lsm backup in it, as a new instance
my $restored = PostgreSQL::Test::Cluster->new('restored');
rename("$target/base", $node->backup_dir . '/full') or die "rename: $!";
$restored->init_from_backup($node, 'full');
$restored->start;

my %present;
for my $row (split /\n/, $restored->safe_psql('postgres', 'SELECT client, i FROM a ORDER BY 1, 2'))
{
	my ($c, $i) = split /\|/, $row;
	push @{ $present{$c} }, $i;
}
my $b_keys = $restored->safe_psql('postgres', 'SELECT count(*) FROM b');
my $a_keys = $restored->safe_psql('postgres', 'SELECT count(*) FROM a');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM a FULL JOIN b USING (k) WHERE a.k IS NULL OR b.k IS NULL'),
	0, "every transaction is whole: a and b hold the same keys ($a_keys)");
my %counter = map { split /\|/ } split /\n/, $restored->safe_psql('postgres', 'SELECT k, n FROM cnt');

my ($in_backup, $after_point) = (0, 0);
for my $c (1 .. $clients)
{
	my @p = @{ $present{$c} // [] };
	my $m = scalar(@p);
	is_deeply(\@p, [ 1 .. $m ], "client $c: the transactions present are a prefix (1..$m)");
	my $must = grep { $ack{$c}{$_} < $t0 } keys %{ $ack{$c} };
	my @late = sort { $a <=> $b } grep { $begin{$c}{$_} > $t1 } keys %{ $begin{$c} };
	ok($m >= $must, "client $c: all $must transactions acknowledged before the backup started are there");
	ok(!@late || $m < $late[0], "client $c: none begun after the backup returned is there (first: "
		  . ($late[0] // 'none') . ", present up to $m)");
	is($counter{$c}, $m, "client $c: the counter matches");
	$in_backup += $m;
	$after_point += scalar(keys %{ $ack{$c} }) - $m;
}
ok($in_backup > 0 && $after_point > 0,
	"the point splits the load ($in_backup transactions in the backup, $after_point after it)");
is($restored->safe_psql('other', 'SELECT count(*), min(v), max(k) FROM o'), '1000|other 1|1000',
	'a table of another database is in the backup');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM idle'), 2, 'a table unused since the start is in the backup');

# the restored instance is an ordinary one: it takes writes and keeps them
$restored->safe_psql('postgres', "INSERT INTO a VALUES (-1, 0, 0, 'after restore')");
$restored->restart;
is($restored->safe_psql('postgres', 'SELECT pad FROM a WHERE k = -1'), 'after restore', 'the restored copy takes writes');

$restored->stop;
done_testing();
