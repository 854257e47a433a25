# A blob table's zstd dictionary across restarts and a crash.
#
# The dictionary a table trains lives in shared memory; its blob files each
# carry a copy.  After a restart (clean, then a kill -9 with rows still in
# the log) the table takes the dictionary of its newest blob file, so its
# next flush writes a small zstd file at once, and every row reads back in
# backends that have digested no dictionary yet.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('blob_dict_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'lsm_fdw'
});
$node->start;

# session records as JSON: field names and user agents repeat, ids do not
my $rows = sub {
	my ($from, $to) = @_;
	return qq{SELECT g, format('{"session_id":"%s","user_id":%s,"email":"%s\@mail.test",'
		'"agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",'
		'"locale":"%s","csrf":"%s","cart":[{"sku":"SKU-%s","qty":%s}]}',
		md5(g::text) || md5((g + 1)::text), 1000000 + g * 7, left(md5((g * 3)::text), 10),
		CASE WHEN g % 2 = 0 THEN 'en-US' ELSE 'ja-JP' END, md5((g * 5)::text), g % 9000, 1 + g % 5)
		FROM generate_series($from, $to) g};
};
$node->safe_psql('postgres', qq{
	CREATE EXTENSION lsm_fdw;
	CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
	CREATE FOREIGN TABLE kv (k int4 OPTIONS (key 'true'), v text) SERVER lsm
		OPTIONS (blob_min_size '100', on_duplicate 'overwrite');
	CREATE TABLE kv_heap (k int4 PRIMARY KEY, v text);
	INSERT INTO kv_heap @{[ $rows->(1, 8000) ]};
	INSERT INTO kv SELECT * FROM kv_heap WHERE k <= 2000;
	SELECT lsm_fdw_flush('kv');
	INSERT INTO kv SELECT * FROM kv_heap WHERE k > 2000 AND k <= 4000;
	SELECT lsm_fdw_flush('kv');
});
my $stat = sub {
	my ($field) = @_;
	return $node->safe_psql('postgres', qq{SELECT lsm_fdw_stats('kv')->>'$field'});
};
my $same = sub {
	my ($upto) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT (SELECT array_agg(md5(v) ORDER BY k) FROM kv) =
		       (SELECT array_agg(md5(v) ORDER BY k) FROM kv_heap WHERE k <= $upto)});
};
my $dict = $stat->('blob_dict_bytes');
cmp_ok($dict, '>', 1000, 'the first flush trained a dictionary');
is($same->(4000), 't', 'every row reads back');

# a clean restart: the dictionary comes back from the newest blob file
$node->restart;
is($stat->('blob_dict_bytes'), $dict, 'after a restart the table has its dictionary');
is($same->(4000), 't', 'every row reads back after the restart');
my $before = $stat->('blob_file_bytes');
$node->safe_psql('postgres', q{
	INSERT INTO kv SELECT * FROM kv_heap WHERE k > 4000 AND k <= 6000;
	SELECT lsm_fdw_flush('kv');
});
my $added = $stat->('blob_file_bytes') - $before;
my $raw = $node->safe_psql('postgres', q{SELECT sum(length(v)) FROM kv_heap WHERE k > 4000 AND k <= 6000});
cmp_ok($added, '<', $raw * 0.5, "the first flush after the restart compressed with it ($added bytes for $raw)");

# a crash with committed rows only in the log
$node->safe_psql('postgres', q{INSERT INTO kv SELECT * FROM kv_heap WHERE k > 6000});
$node->stop('immediate');
$node->start;
is($same->(8000), 't', 'after a crash every committed row reads back');
cmp_ok($stat->('blob_dict_bytes'), '>', 1000, 'and the table has a dictionary');
is($node->safe_psql('postgres', q{SELECT lsm_fdw_verify('kv')->>'problems'}), '0',
	'verification finds nothing wrong');

$node->stop;
done_testing();
