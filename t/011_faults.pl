# Faults that must neither spread nor hide (issue 12):
#  (a) one table's table file is missing when the server starts: recovery
#      skips that table's log records and marks it failed (XX001, the file
#      named, on every access) while every other table, in every database,
#      works; the log is kept from the skipped records on, so once the file
#      is restored a restart brings every committed row of the table back;
#  (b) the server log is damaged in the middle (valid records follow the
#      damage): recovery refuses to start lsm_fdw (XX001 on every access,
#      the LSN in the server log) instead of dropping the records after the
#      damage, until lsm_fdw.ignore_log_corruption = on accepts the loss;
#      the damaged record lies below a later record's durable_lsn (the
#      records are synced commits), which is what proves it was durable;
#  (c) an unsynced tail persisted out of order (an OS crash or power loss
#      can lose an earlier block and keep a later one): lsm_fdw starts on
#      its own, drops the tail from the hole on and says how many valid
#      records it discarded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'lsm_fdw'\n"
	  . "lsm_fdw.wal_segment_size = '1MB'\n"
	  . "lsm_fdw.max_wal_size = '16MB'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE a (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE b (k int8 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (memtable_size '16MB');
	CREATE DATABASE d2;
});
$node->safe_psql('d2', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE c (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
});

my $pgdata = $node->data_dir;
my $dboid = $node->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relid = $node->safe_psql('postgres', "SELECT 'a'::regclass::oid");
my $adir = "$pgdata/lsm_fdw/$dboid/$relid";
my $waldir = "$pgdata/lsm_fdw/wal";

# Run sql, expecting an error; returns stderr (with the SQLSTATE).
sub psql_error
{
	my ($db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\n$sql");
	return $rc == 0 ? '' : $err;
}

# The records of a segment file: [offset, lsn, durable_lsn (undef for v1),
# size], up to the first zero header.
sub records
{
	my ($img, $start) = @_;
	my @r;
	my $off = 0;
	while ($off + 16 <= length($img))
	{
		my ($crc, $field, $lsn) = unpack('V V Q<', substr($img, $off, 16));
		last if $crc == 0 && $field == 0 && $lsn == 0;
		last if $lsn != $start + $off;
		my $v2 = $field & 0x80000000;
		my $len = $field & 0x7fffffff;
		my $hdr = $v2 ? 24 : 16;
		my $durable = $v2 ? unpack('Q<', substr($img, $off + 16, 8)) : undef;
		push @r, [ $off, $lsn, $durable, $hdr + $len ];
		$off += $hdr + $len;
	}
	return @r;
}

sub segments
{
	opendir(my $d, $waldir) or die "opendir $waldir: $!";
	my @s = sort grep { /^[0-9A-F]{16}\.xlog$/ } readdir($d);
	closedir($d);
	return @s;
}

# --- (a) a table file missing at start -----------------------------------

# Rows 1..1000 of a go to a table file, 1001..1500 stay in the log only.
$node->safe_psql('postgres', q{
	INSERT INTO a SELECT g, 'flushed' FROM generate_series(1, 1000) g;
	SELECT lsm_fdw_flush('a');
	INSERT INTO a SELECT g, 'logged' FROM generate_series(1001, 1500) g;
	INSERT INTO b SELECT g, 'b' FROM generate_series(1, 1000) g;
});
$node->safe_psql('d2', "INSERT INTO c SELECT g, 'c' FROM generate_series(1, 100) g");
$node->stop('immediate');

opendir(my $ad, $adir) or die "opendir $adir: $!";
my @ssts = grep { /\.sst$/ } readdir($ad);
closedir($ad);
ok(@ssts > 0, 'table a has a table file');
my $saved = PostgreSQL::Test::Utils::tempdir();
move("$adir/$_", "$saved/$_") or die "move $_: $!" for @ssts;

$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM b'), '1000',
	'another table of the database is readable');
is($node->safe_psql('d2', 'SELECT count(*) FROM c'), '100',
	'a table of another database is readable');
my $err = psql_error('postgres', 'SELECT count(*) FROM a');
like($err, qr/XX001/, 'reading the broken table reports XX001');
like($err, qr/\Q$ssts[0]\E|\.sst/, 'the error names the missing file');
like(psql_error('postgres', "INSERT INTO a VALUES (5000, 'x')"), qr/XX001/,
	'writing the broken table reports XX001');
like(slurp_file($node->logfile), qr/could not open table $relid .*during recovery/,
	'the server log says which table recovery skipped');

# The log is kept from the skipped records on, across checkpoints: write
# well past half of lsm_fdw.max_wal_size into b, so that the maintenance
# worker checkpoints, and check that the oldest segment stays.  About 11MB
# go to b, less than its 16MB memtable, so only a checkpoint flushes it.
my ($oldest) = segments();
for my $i (0 .. 3)
{
	$node->safe_psql('postgres', sprintf(
		"INSERT INTO b SELECT g, repeat('x', 300) FROM generate_series(%d, %d) g",
		10000 + $i * 9000, 10000 + $i * 9000 + 8999));
}
my $checkpointed = 0;
for (1 .. 100)
{
	my $stats = $node->safe_psql('postgres', "SELECT lsm_fdw_stats('b')->>'bytes_flushed'");
	if ($stats && $stats > 0) { $checkpointed = 1; last; }
	usleep(100_000);
}
ok($checkpointed, 'the maintenance worker checkpointed (b was flushed)');
my ($oldest_after) = segments();
is($oldest_after, $oldest, 'the log segment holding the skipped records is kept');

# The operator restores the file; after a restart every committed row of a
# is back, the ones that were only in the log included.
$node->stop('immediate');
move("$saved/$_", "$adir/$_") or die "move back $_: $!" for @ssts;
$node->start;
is($node->safe_psql('postgres',
	"SELECT count(*), count(*) FILTER (WHERE v = 'logged') FROM a"),
	'1500|500', 'after the repair and a restart, table a has every committed row');
is($node->safe_psql('postgres', 'SELECT count(*) FROM b'), '37000',
	'table b kept every row');

# --- (b) damage in the middle of the server log ---------------------------

# Each INSERT is a synced commit, so every record after the first carries
# a durable_lsn at or past the end of the record before it: damage in any
# but the last record is proven damage (checked on the bytes below).
$node->safe_psql('postgres', 'SELECT lsm_fdw_flush(x) FROM unnest(ARRAY[\'a\', \'b\']::regclass[]) x');
for my $i (1 .. 50)
{
	$node->safe_psql('postgres', sprintf(
		"SET lsm_fdw.synchronous_commit = on; INSERT INTO a SELECT g, 'late' FROM generate_series(%d, %d) g",
		100000 + $i * 100, 100000 + $i * 100 + 99));
}
$node->stop('immediate');

# Flip a byte half-way through the written part of the newest segment.
my @segs = segments();
my $seg = "$waldir/$segs[-1]";
open(my $fh, '+<:raw', $seg) or die "open $seg: $!";
my $img = do { local $/; <$fh> };
my $end = length($img);
$end-- while $end > 0 && substr($img, $end - 1, 1) eq "\0";
ok($end > 1000, 'the newest log segment holds records');
my $at = int($end / 2);
{
	my ($start) = $segs[-1] =~ /^([0-9A-F]{16})/;
	my @recs = records($img, hex($start));
	my ($hit) = grep { $_->[0] <= $at && $at < $_->[0] + $_->[3] } @recs;
	ok(defined $hit, 'the damaged byte lies in a record');
	ok((grep { defined $_->[2] && $_->[2] > $hit->[1] } @recs),
		'a later record was appended once the damaged one was synced (its durable_lsn is above it)');
}
seek($fh, $at, 0);
print $fh chr(ord(substr($img, $at, 1)) ^ 0x5a);
close($fh);

$node->start;
$err = psql_error('postgres', 'SELECT count(*) FROM b');
like($err, qr/XX001/, 'with a damaged log, lsm tables report XX001');
like($err, qr/damaged/, 'the error says the log is damaged');
like($err, qr/DETAIL:.*segment [0-9A-F]{16}, offset \d+/, 'the error names the segment and offset');
like($err, qr/DETAIL:.*appended once the log was synced up to LSN \d+, past the damage/,
	'the error says what proves the damage');
like($err, qr/HINT:.*lsm_fdw\.ignore_log_corruption/, 'the hint says what the operator can do');
like(slurp_file($node->logfile), qr/server log is damaged at LSN \d+ and committed records follow/,
	'the server log names the damaged LSN');
$err = psql_error('postgres', 'SELECT count(*) FROM a');
like($err, qr/XX001/, 'every lsm table is refused, not just some');

# The operator accepts the loss.
$node->append_conf('postgresql.conf', "lsm_fdw.ignore_log_corruption = on\n");
$node->reload;
my $count;
for (1 .. 300)
{
	my ($rc, $out) = $node->psql('postgres', "SELECT count(*) FILTER (WHERE v = 'late') FROM a");
	if ($rc == 0) { $count = $out; last; }
	usleep(100_000);
}
ok(defined $count && $count < 5000,
	'with lsm_fdw.ignore_log_corruption, lsm_fdw starts without the records after the damage');
like(slurp_file($node->logfile), qr/discarded its server log from LSN \d+ on/,
	'the loss is logged');
is($node->safe_psql('postgres', 'SELECT count(*) FROM b'), '37000',
	'rows flushed before the damage are all there');

# --- (c) an unsynced tail persisted out of order ----------------------------

# Twenty commits that are not synced (lsm_fdw.synchronous_commit off, and
# the maintenance worker's next sync seconds away), then a crash of Postgres.
$node->append_conf('postgresql.conf', "lsm_fdw.ignore_log_corruption = off\n"
	  . "lsm_fdw.wal_sync_delay = '10s'\n");
$node->restart;
$node->safe_psql('postgres', 'CREATE FOREIGN TABLE u (k int8 OPTIONS (key \'true\'), v text) SERVER lsm');
$node->safe_psql('postgres', "SET lsm_fdw.synchronous_commit = off;\n"
	  . join('', map { "INSERT INTO u SELECT g, 'u' FROM generate_series($_ * 10, $_ * 10 + 9) g;\n" } 0 .. 19));
$node->stop('immediate');

# Every record with an LSN at or above the highest durable_lsn in the log
# was unsynced.  Zero one in the middle of them, as a block the machine
# never wrote while it wrote the later ones: nothing after the hole proves
# it durable.
my @recs;
for my $s (segments())
{
	my ($segstart) = $s =~ /^([0-9A-F]{16})/;
	open(my $rh, '<:raw', "$waldir/$s") or die "open $s: $!";
	my $simg = do { local $/; <$rh> };
	close($rh);
	push @recs, map { [ "$waldir/$s", @$_ ] } records($simg, hex($segstart));
}
my $durable = 0;
for (@recs) { $durable = $_->[3] if defined $_->[3] && $_->[3] > $durable; }
my @unsynced = grep { $_->[2] >= $durable } @recs;
# (all twenty unless the worker's sync came in between)
ok(@unsynced >= 2 && @unsynced <= 20, 'the last commits are unsynced records');
my $hole_at = int(@unsynced / 2);
my $hole = $unsynced[$hole_at];
open($fh, '+<:raw', $hole->[0]) or die "open $hole->[0]: $!";
seek($fh, $hole->[1], 0);
print $fh "\0" x $hole->[4];
close($fh);
my $lost = @unsynced - $hole_at - 1;

$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), 10 * (20 - @unsynced + $hole_at),
	'lsm_fdw starts without an operator, with every commit before the hole');
like(slurp_file($node->logfile),
	qr/WARNING:.*discarded $lost valid server log records after LSN \d+, an unsynced tail written out of order/,
	'the server log says how many valid records were discarded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM b'), '37000',
	'the other tables are untouched');

$node->stop;
done_testing();
