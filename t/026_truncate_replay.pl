# A bulk load, then a TRUNCATE, then a restart.
#
# The truncate replaced the table's engine by an empty one, which said it
# held nothing; the replay after the next start then applied the log's
# records of the table from before the truncate again, and the bulk load's
# record asked for files its first ingest had consumed: recovery failed at
# every start and every lsm table of the server was unavailable.  The empty
# engine now holds, for the replay, everything up to the truncate.  And a
# crash while the new empty table takes the old one's place
# (lsm_fdw.debug_kill_at = truncate_swap) loses no row written after it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('truncate_replay');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
lsm_fdw.spill_threshold = '1MB'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE bt (k int OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE other (k int OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO other VALUES (1, 'unrelated table');
});

# After the truncate: nothing; rows in the log only; a flushed row and a row
# in the log.  Each with an immediate and a fast stop.
my @after = (
	[ 'nothing after it', '', '' ],
	[ 'rows in the log after it', q{INSERT INTO bt VALUES (2, 'in the log');}, "2|in the log" ],
	[ 'a flushed row after it',
	  q{INSERT INTO bt VALUES (1, 'flushed'); SELECT lsm_fdw_flush('bt'); INSERT INTO bt VALUES (2, 'in the log');},
	  "1|flushed\n2|in the log" ]);
my $other = 1;
for my $case (@after)
{
	my ($name, $sql, $expect) = @$case;
	for my $mode ('immediate', 'fast')
	{
		$other++;
		$node->safe_psql('postgres', qq{
			INSERT INTO bt SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g;
			TRUNCATE bt;
			INSERT INTO other VALUES ($other, 'in the log');
		} . $sql);
		$node->stop($mode);
		$node->start;
		my ($ret, $out, $err) = $node->psql('postgres', q{SELECT k, v FROM bt ORDER BY k});
		is($ret, 0, "$name, $mode stop: the table is readable after the restart") or diag($err);
		is($out, $expect, "$name, $mode stop: it holds exactly the rows committed after the truncate");
		is($node->safe_psql('postgres', q{SELECT count(*) FROM other}), $other,
			"$name, $mode stop: the other table is whole");
		$node->stop('immediate');
		$node->start;
		is($node->safe_psql('postgres', q{SELECT count(*) FROM bt}), $expect eq '' ? 0 : scalar(split /\n/, $expect),
			"$name, $mode stop: and after a second restart");
		$node->safe_psql('postgres', q{TRUNCATE bt});
	}
}
# A crash in the middle of putting a committed TRUNCATE's new table in place
# (between its two renames): the table used to have no directory there,
# the replay took it for dropped, and the rows the transaction wrote after
# its TRUNCATE were lost.
$node->safe_psql('postgres', q{
	INSERT INTO bt SELECT g, repeat('y', 700) FROM generate_series(1, 3000) g;
	SELECT lsm_fdw_flush('bt');
});
my $relid = $node->safe_psql('postgres', q{SELECT 'bt'::regclass::oid});
my $dboid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
my $log_offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET lsm_fdw.debug_kill_at = truncate_swap;
	BEGIN;
	TRUNCATE bt;
	INSERT INTO bt VALUES (7, 'written after the truncate'), (8, 'too');
	COMMIT;
});
isnt($ret, 0, 'the session died between the renames of its TRUNCATE');
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM other})
  or die 'the server did not come back';
is($node->safe_psql('postgres', q{SELECT k, v FROM bt ORDER BY k}),
	"7|written after the truncate\n8|too",
	'the table holds the rows written after the TRUNCATE, and none before it');
like(slurp_file($node->logfile, $log_offset), qr/put the empty table a TRUNCATE a crash interrupted had made in place/,
	'the start put the new table in place');
ok(!-e $node->data_dir . "/lsm_fdw/$dboid/$relid.truncating" &&
   !-e $node->data_dir . "/lsm_fdw/$dboid/$relid.removing", 'and left nothing aside');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM bt}), 2, 'the same after another restart');

unlike(slurp_file($node->logfile), qr/could not replay|recovery failed|PANIC/,
	'recovery never failed');
$node->stop;
done_testing();
