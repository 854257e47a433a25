# A bulk load, then a TRUNCATE, then a restart.
#
# The truncate replaced the table's engine by an empty one, which said it
# held nothing; the replay after the next start then applied the log's
# records of the table from before the truncate again, and the bulk load's
# record asked for files its first ingest had consumed: recovery failed at
# every start and every lsm table of the server was unavailable.  The empty
# engine now holds, for the replay, everything up to the truncate.
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
unlike(slurp_file($node->logfile), qr/could not replay|recovery failed|PANIC/,
	'recovery never failed');
$node->stop;
done_testing();
