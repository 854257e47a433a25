# lsm_fdw_verify on a damaged table: one byte of a data block flipped on
# disk.  Verify must report the problem (a WARNING with XX001, the count and
# the message naming the file in its result), go on with the table's other
# file, and report a healthy table of the same database as checked with no
# problem.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('verify');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lsm_fdw'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE d (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	CREATE FOREIGN TABLE h (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
	INSERT INTO d SELECT g, repeat('d', 100) FROM generate_series(1, 2000) g;
	SELECT lsm_fdw_flush('d');
	INSERT INTO d SELECT g, repeat('e', 100) FROM generate_series(2001, 4000) g;
	SELECT lsm_fdw_flush('d');
	INSERT INTO h SELECT g, repeat('h', 100) FROM generate_series(1, 2000) g;
	SELECT lsm_fdw_flush('h');
});

my $check = q{SELECT v->>'files', v->>'problems', (v->>'blocks')::int > 0, v->>'entries'
  FROM lsm_fdw_verify('%s') v};
is($node->safe_psql('postgres', sprintf($check, 'd')), '2|0|t|4000',
	'verify checks both files of an intact table');

# Flip one byte in the middle of the first data block of d's oldest file.
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relid = $node->safe_psql('postgres', "SELECT 'd'::regclass::oid");
my @sst = sort glob($node->data_dir . "/lsm_fdw/$dboid/$relid/*.sst");
is(scalar @sst, 2, 'the table has two table files');
my $victim = $sst[0];
open my $fh, '+<:raw', $victim or die "$victim: $!";
seek($fh, 200, 0) or die "seek: $!";
read($fh, my $byte, 1) == 1 or die "read: $!";
seek($fh, 200, 0) or die "seek: $!";
print $fh chr(ord($byte) ^ 0xff);
close $fh or die "close: $!";

my ($rc, $out, $err) = $node->psql('postgres', sprintf($check, 'd'));
is($rc, 0, 'verify of a damaged table returns');
is($out, '2|1|t|2000', 'it checked both files, found one problem and went on with the other file');
like($err, qr/WARNING:  foreign table "d" has a damaged file/, 'the problem is a WARNING');
(my $name = $victim) =~ s{.*/}{};
like($node->safe_psql('postgres', "SELECT lsm_fdw_verify('d')->>'messages'"),
	qr/\Q$name\E/, 'the message names the damaged file');
($rc, $out, $err) = $node->psql('postgres', "SELECT lsm_fdw_verify('d')->>'problems'",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/WARNING:  XX001:/, 'with SQLSTATE XX001 (data corrupted)');

is($node->safe_psql('postgres', sprintf($check, 'h')), '1|0|t|2000',
	'another table is checked and has no problem');

$node->stop;
done_testing();
