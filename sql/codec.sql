-- Key and row encodings (src/fdw/keycodec.c, rowcodec.c), exercised through
-- the test hooks of src/fdw/codec_test.c, which the extension script does
-- not install.
CREATE SCHEMA codec;
SET search_path = codec;

CREATE FUNCTION key_type(regtype) RETURNS text
	AS 'lsm_fdw', 'lsm_fdw_test_key_type' LANGUAGE C STRICT;
CREATE FUNCTION key_bytes(anyelement) RETURNS bytea
	AS 'lsm_fdw', 'lsm_fdw_test_key_bytes' LANGUAGE C STRICT;
CREATE FUNCTION key_prefix(anyelement) RETURNS bytea
	AS 'lsm_fdw', 'lsm_fdw_test_key_prefix' LANGUAGE C STRICT;
CREATE FUNCTION key_roundtrip(anyelement) RETURNS anyelement
	AS 'lsm_fdw', 'lsm_fdw_test_key_roundtrip' LANGUAGE C STRICT;
CREATE FUNCTION key_decode(bytea, anyelement) RETURNS anyelement
	AS 'lsm_fdw', 'lsm_fdw_test_key_decode' LANGUAGE C;
CREATE FUNCTION row_bytes(record, int4[] DEFAULT '{}') RETURNS bytea
	AS 'lsm_fdw', 'lsm_fdw_test_row_bytes' LANGUAGE C;
CREATE FUNCTION row_decode(bytea, anyelement, int4[] DEFAULT '{}') RETURNS anyelement
	AS 'lsm_fdw', 'lsm_fdw_test_row_decode' LANGUAGE C;

-- The SQLSTATE, message and detail of a statement's error, or 'ok'.
CREATE FUNCTION err(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '');
END $$;

-- Checks the key encoding of type typ over the values of query gen:
--   pairs_wrong      pairs (x, y) whose SQL comparison differs from the
--                    bytewise comparison of their encodings: both < and =
--                    for ordered types, = only for equality-only ones
--   same_order       ORDER BY encoding lists the values as ORDER BY value
--   roundtrip_wrong  values that do not decode to an equal value
--   text_changed     values that decode to an equal value printed otherwise
-- Text compares under the C collation.
CREATE FUNCTION check_keys(typ regtype, gen text,
	OUT n int, OUT distinct_values int, OUT pairs_wrong int,
	OUT same_order bool, OUT roundtrip_wrong int, OUT text_changed int)
LANGUAGE plpgsql AS $$
DECLARE
	coll text := CASE WHEN (SELECT typcollation FROM pg_type WHERE oid = typ) <> 0
		THEN ' COLLATE "C"' ELSE '' END;
	ordered bool := key_type(typ) = 'ordered';
BEGIN
	EXECUTE format('CREATE TEMP TABLE kv AS SELECT v::%s%s AS v, NULL::bytea AS k FROM (%s) s(v)',
				   typ, coll, gen);
	UPDATE kv SET k = key_bytes(v);
	SELECT count(*), count(DISTINCT v) INTO n, distinct_values FROM kv;
	SELECT count(*) INTO pairs_wrong FROM kv a, kv b
	 WHERE (a.v = b.v) IS DISTINCT FROM (a.k = b.k)
		OR (ordered AND (a.v < b.v) IS DISTINCT FROM (a.k < b.k));
	IF ordered THEN
		SELECT array_agg(v ORDER BY k) = array_agg(v ORDER BY v) INTO same_order FROM kv;
	END IF;
	SELECT count(*) FILTER (WHERE key_roundtrip(v) IS DISTINCT FROM v),
		   count(*) FILTER (WHERE key_roundtrip(v)::text IS DISTINCT FROM v::text)
	  INTO roundtrip_wrong, text_changed FROM kv;
	DROP TABLE kv;
END $$;

-- Which types can be key columns.
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
SELECT t AS type, key_type(t) FROM unnest('{int2,int4,int8,bool,float4,float8,date,timestamp,timestamptz,uuid,text,varchar,bytea,numeric,posint,bpchar,name,oid,interval,point,jsonb,int4[]}'::regtype[]) t;

-- Some encodings, byte by byte.
SELECT 'int2 -1' AS value, key_bytes((-1)::int2) AS key
UNION ALL SELECT 'int4 0', key_bytes(0)
UNION ALL SELECT 'int4 1', key_bytes(1)
UNION ALL SELECT 'int4 min', key_bytes((-2147483648)::int4)
UNION ALL SELECT 'int8 -2', key_bytes((-2)::int8)
UNION ALL SELECT 'posint 5', key_bytes(5::posint)
UNION ALL SELECT 'bool false', key_bytes(false)
UNION ALL SELECT 'bool true', key_bytes(true)
UNION ALL SELECT 'date 2000-01-01', key_bytes('2000-01-01'::date)
UNION ALL SELECT 'date -infinity', key_bytes('-infinity'::date)
UNION ALL SELECT 'timestamp infinity', key_bytes('infinity'::timestamp)
UNION ALL SELECT 'float8 -1', key_bytes((-1)::float8)
UNION ALL SELECT 'float8 -0', key_bytes('-0'::float8)
UNION ALL SELECT 'float8 0', key_bytes(0::float8)
UNION ALL SELECT 'float8 Infinity', key_bytes('Infinity'::float8)
UNION ALL SELECT 'float8 NaN', key_bytes('NaN'::float8)
UNION ALL SELECT 'float8 -NaN', key_bytes(-'NaN'::float8)
UNION ALL SELECT 'float4 1', key_bytes(1::float4)
UNION ALL SELECT 'uuid', key_bytes('0123456789abcdef0123456789abcdef'::uuid)
UNION ALL SELECT 'text empty', key_bytes(''::text)
UNION ALL SELECT 'text ab', key_bytes('ab'::text)
UNION ALL SELECT 'text é', key_bytes('é'::text)
UNION ALL SELECT 'varchar ab', key_bytes('ab'::varchar)
UNION ALL SELECT 'bytea 00 01', key_bytes('\x0001'::bytea)
UNION ALL SELECT 'numeric 1.50', key_bytes(1.50)
UNION ALL SELECT 'numeric -0.0', key_bytes('-0.0'::numeric)
UNION ALL SELECT 'numeric NaN', key_bytes('NaN'::numeric)
UNION ALL SELECT 'prefix text ab', key_prefix('ab'::text)
UNION ALL SELECT 'prefix bytea 00 01', key_prefix('\x0001'::bytea);

-- Order, equality and decoding, type by type, over a few hundred values
-- each, extremes included.  Every pairs_wrong and roundtrip_wrong is 0.
SELECT * FROM check_keys('int2', $$
	SELECT unnest('{-32768,32767,0,-1,1,-2,2,127,128,-128,-129,255,256,-255,-256}'::int2[])
	UNION ALL SELECT ((i * 7919) % 65536 - 32768)::int2 FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('int4', $$
	SELECT unnest('{-2147483648,2147483647,0,-1,1,255,256,-256,65535,65536,-65536,16777216,-16777217}'::int4[])
	UNION ALL SELECT ((i::int8 * 2654435761) % 4294967296 - 2147483648)::int4 FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('posint', $$
	SELECT unnest('{1,2,255,256,2147483647}'::int4[])
	UNION ALL SELECT (i * 7919) FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('int8', $$
	SELECT unnest('{-9223372036854775808,9223372036854775807,0,-1,1,4294967296,-4294967296,2147483648,-2147483649}'::int8[])
	UNION ALL SELECT ('x' || substr(md5(i::text), 1, 16))::bit(64)::int8 >> (i % 60) FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('bool', $$
	SELECT i % 3 = 0 FROM generate_series(1, 20) i$$);
-- Includes -0 and 0, and NaNs of three bit patterns (NaN, -NaN, inf - inf).
SELECT * FROM check_keys('float8', $$
	SELECT unnest('{-Infinity,Infinity,NaN,-0,0,1,-1,0.1,-0.1,1e-300,-1e-300,4.9e-324,-4.9e-324,2.2250738585072014e-308,1.7976931348623157e308,-1.7976931348623157e308,0.5,2}'::float8[])
	UNION ALL SELECT 'Infinity'::float8 - 'Infinity'::float8
	UNION ALL SELECT -'NaN'::float8
	UNION ALL SELECT (CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END) * (1 + (i * 0.6180339887) % 1)::float8
		* 10::float8 ^ ((i * 37) % 600 - 300) FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('float4', $$
	SELECT unnest('{-Infinity,Infinity,NaN,-0,0,1,-1,0.1,-0.1,1e-45,-1e-45,1.17549435e-38,3.4028235e38,-3.4028235e38}'::float4[])
	UNION ALL SELECT 'Infinity'::float4 - 'Infinity'::float4
	UNION ALL SELECT -'NaN'::float4
	UNION ALL SELECT ((CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END) * (1 + (i * 0.6180339887) % 1)::float8
		* 10::float8 ^ ((i * 37) % 76 - 38))::float4 FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('date', $$
	SELECT unnest('{-infinity,infinity,4714-11-24 BC,5874897-12-31,2000-01-01,1999-12-31,1970-01-01,0001-01-01,0001-12-31 BC}'::date[])
	UNION ALL SELECT '2000-01-01'::date + ((i * 7919) % 2000000 - 1000000) FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('timestamp', $$
	SELECT unnest('{-infinity,infinity,4714-11-24 00:00:00 BC,294276-12-31 23:59:59.999999,2000-01-01,1970-01-01,2000-01-01 00:00:00.000001,1999-12-31 23:59:59.999999}'::timestamp[])
	UNION ALL SELECT '2000-01-01'::timestamp + ((i * 7919) % 2000000 - 1000000) * interval '1 day'
		+ (i * 104729) * interval '1 microsecond' FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('timestamptz', $$
	SELECT unnest('{-infinity,infinity,4714-11-24 00:00:00+00 BC,294276-12-31 23:59:59.999999+00,2000-01-01 00:00+00,1970-01-01 00:00+00,2000-01-01 00:00:00.000001+00,1999-12-31 23:59:59.999999+00}'::timestamptz[])
	UNION ALL SELECT '2000-01-01 00:00+00'::timestamptz + ((i * 7919) % 2000000 - 1000000) * interval '1 day'
		+ (i * 104729) * interval '1 microsecond' FROM generate_series(1, 300) i$$);
SELECT * FROM check_keys('uuid', $$
	SELECT unnest('{00000000-0000-0000-0000-000000000000,ffffffff-ffff-ffff-ffff-ffffffffffff,80000000-0000-0000-0000-000000000000,7fffffff-ffff-ffff-ffff-ffffffffffff,00000000-0000-0000-0000-000000000001}'::uuid[])
	UNION ALL SELECT md5((i % 250)::text)::uuid FROM generate_series(1, 300) i$$);

-- Strings over a small alphabet (with \x01, \x7f, space and multibyte
-- characters), so that many are prefixes of others.
CREATE TABLE strings AS
	SELECT unnest(ARRAY['', 'a', E'a\x01', E'a\x01b', 'ab', 'a b', 'a ', 'a  ', 'b', E'\x01',
		E'\x7f', 'é', 'e', 'f', '€', '😀', 'ÿ', 'aé', 'a€', 'a😀', 'abc', 'abcd', 'abd', 'Z', 'z']) AS s
	UNION ALL SELECT translate(left(md5(i::text), i % 7), '0123456789abcdef', E'\x01abé z€ab\x7fa😀bbaa')
	FROM generate_series(1, 300) i;
CREATE TABLE bytes AS
	SELECT unnest(ARRAY['\x', '\x00', '\x0000', '\x0001', '\x00ff', '\x01', '\x0100', '\xff', '\xff00',
		'\xffff', '\x00fe', '\x0002']::bytea[]) AS b
	UNION ALL SELECT decode(translate(left(md5(i::text), 2 * (i % 6)), '123456789abcde', '00000ff0f10f01'), 'hex')
	FROM generate_series(1, 300) i;
SELECT * FROM check_keys('text', 'SELECT s FROM codec.strings');
SELECT * FROM check_keys('varchar', 'SELECT s FROM codec.strings');
SELECT * FROM check_keys('bytea', 'SELECT b FROM codec.bytes');

-- Numeric keys give equality only: equal values of any scale encode alike.
SELECT * FROM check_keys('numeric', $$
	SELECT unnest('{1.0,1.00,1,-0,0,0.000,-0.0,NaN,Infinity,-Infinity,1e100,1e-100,-1.5,-1.50,1.5,123456789012345678901234567890.123456789,0.1,0.10,10,100,1e3,1000.000}'::numeric[])
	UNION ALL SELECT round((i - 150) * 0.25, i % 4) FROM generate_series(1, 300) i$$);
SELECT key_bytes(1.0) = key_bytes(1.00) AS "1.0 = 1.00",
	key_bytes('-0'::numeric) = key_bytes(0.000) AS "-0 = 0.000",
	key_bytes(10) <> key_bytes(1) AS "10 <> 1",
	key_bytes(1.5) <> key_bytes(1.05) AS "1.5 <> 1.05";

-- What decoding does not keep: the display scale of numeric, the sign of
-- a float zero, NaN's bit pattern (all equal to the original in SQL).
SELECT key_roundtrip(1.50) AS numeric_1_50, key_roundtrip('-0'::float8) AS float8_minus_0,
	key_roundtrip(-'NaN'::float8) AS float8_minus_nan, key_roundtrip('a '::text) AS text_trailing_space;

-- Two-column keys: the concatenated encodings sort as the row (a, b).
CREATE FUNCTION check_pairs(typa regtype, gena text, typb regtype, genb text,
	OUT n int, OUT pairs_wrong int)
LANGUAGE plpgsql AS $$
DECLARE
	colla text := CASE WHEN (SELECT typcollation FROM pg_type WHERE oid = typa) <> 0
		THEN ' COLLATE "C"' ELSE '' END;
	collb text := CASE WHEN (SELECT typcollation FROM pg_type WHERE oid = typb) <> 0
		THEN ' COLLATE "C"' ELSE '' END;
BEGIN
	EXECUTE format('CREATE TEMP TABLE kv2 AS SELECT a::%s%s AS a, b::%s%s AS b, NULL::bytea AS k
					FROM (%s) sa(a), (%s) sb(b)', typa, colla, typb, collb, gena, genb);
	UPDATE kv2 SET k = key_bytes(a) || key_bytes(b);
	SELECT count(*) INTO n FROM kv2;
	SELECT count(*) INTO pairs_wrong FROM kv2 x, kv2 y
	 WHERE ((x.a, x.b) < (y.a, y.b)) IS DISTINCT FROM (x.k < y.k)
		OR ((x.a, x.b) = (y.a, y.b)) IS DISTINCT FROM (x.k = y.k);
	DROP TABLE kv2;
END $$;
SELECT * FROM check_pairs('text', 'SELECT DISTINCT s FROM codec.strings WHERE length(s) < 3',
						  'int4', 'SELECT unnest(''{-2147483648,-1,0,1,256,2147483647}''::int4[])');
SELECT * FROM check_pairs('int4', 'SELECT unnest(''{-2147483648,-1,0,1,256,2147483647}''::int4[])',
						  'text', 'SELECT DISTINCT s FROM codec.strings WHERE length(s) < 3');
SELECT * FROM check_pairs('text', 'SELECT DISTINCT s FROM codec.strings WHERE length(s) < 3',
						  'text', 'SELECT DISTINCT s FROM codec.strings WHERE length(s) < 3');
SELECT * FROM check_pairs('bytea', 'SELECT DISTINCT b FROM codec.bytes WHERE length(b) < 3',
						  'bytea', 'SELECT DISTINCT b FROM codec.bytes WHERE length(b) < 3');
SELECT * FROM check_pairs('float8', 'SELECT unnest(''{-Infinity,-1,-0,0,1e-300,1,Infinity,NaN}''::float8[])',
						  'bool', 'SELECT unnest(''{false,true}''::bool[])');

-- Prefixes: a value starts with p exactly when its key starts with the
-- prefix encoding of p.
SELECT count(*) AS pairs, count(*) FILTER (WHERE starts_with(v.s, p.s)) AS matches,
	count(*) FILTER (WHERE starts_with(v.s, p.s) IS DISTINCT FROM
		(substr(key_bytes(v.s), 1, length(key_prefix(p.s))) = key_prefix(p.s))) AS wrong
  FROM strings v, (SELECT DISTINCT s FROM strings WHERE length(s) < 4) p;
SELECT count(*) AS pairs, count(*) FILTER (WHERE substr(v.b, 1, length(p.b)) = p.b) AS matches,
	count(*) FILTER (WHERE (substr(v.b, 1, length(p.b)) = p.b) IS DISTINCT FROM
		(substr(key_bytes(v.b), 1, length(key_prefix(p.b))) = key_prefix(p.b))) AS wrong
  FROM bytes v, (SELECT DISTINCT b FROM bytes WHERE length(b) < 3) p;
SELECT key_prefix(1);

-- Toasted values are detoasted first.
CREATE TABLE toasty (a int4, b text, c int2);
INSERT INTO toasty VALUES (1, repeat('abc', 100000), 2),
	(2, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i), 3);
SELECT a, key_roundtrip(b) = b AS key_roundtrip_ok, key_bytes(b) = key_bytes(b || '') AS same_key,
	row_decode(row_bytes(t), t) = t AS row_roundtrip_ok
  FROM toasty t ORDER BY a;

-- Unsupported key types.
SELECT key_bytes(point '(1,2)');
SELECT key_bytes('{}'::jsonb);
SELECT key_roundtrip('x'::bpchar);

-- Malformed keys are reported as data corruption, never misread.
SELECT input, typ, err(format('SELECT codec.key_decode(%L::bytea, NULL::%s)', input, typ))
  FROM (VALUES ('\x', 'int4'), ('\x800000', 'int4'), ('\x8000000000', 'int4'),
			   ('\x02', 'bool'), ('\x7fffffffffffffff', 'float8'), ('\xfff8000000000001', 'float8'),
			   ('\x7fffffff', 'float4'), ('\x0123', 'uuid'),
			   ('\x6162', 'text'), ('\x6100', 'text'), ('\x610002', 'text'), ('\xc30001', 'text'),
			   ('\x00ff0001', 'text'), ('\x00ff0001', 'bytea'), ('\x61000100', 'bytea'),
			   ('\x312e300001', 'numeric'), ('\x2d300001', 'numeric'), ('\x6162630001', 'numeric'),
			   ('\x0001', 'numeric'), ('\x312e0001', 'numeric'), ('\x312e350001', 'numeric'),
			   ('\x4e614e0001', 'numeric')) AS m(input, typ);

-- Rows: every kind of attribute, with NULLs in varying places.
CREATE TYPE rowtype AS (a int4, b text, c int8, d float8, e uuid, f interval, g bytea, h bool,
	i numeric, j name, k int2, l "char", m int4[], n float4, o date, p timestamptz,
	q varchar(10), r jsonb);
CREATE TABLE rows AS SELECT ROW(
	CASE WHEN i % 7 <> 0 THEN i * 1000 - 70000 END,
	CASE WHEN i % 5 <> 1 THEN repeat(chr(97 + i % 26), i % 13) || 'é' END,
	CASE WHEN i % 3 <> 2 THEN i::int8 * 123456789012 - 9000000000000 END,
	CASE WHEN i % 11 <> 3 THEN (i - 100) / 7.0::float8 END,
	CASE WHEN i % 4 <> 0 THEN md5(i::text)::uuid END,
	CASE WHEN i % 6 <> 5 THEN make_interval(months => i, days => -i, secs => i * 1.5) END,
	CASE WHEN i % 9 <> 4 THEN decode(repeat('00ff', i % 5), 'hex') END,
	CASE WHEN i % 2 = 0 THEN i % 4 = 0 END,
	CASE WHEN i % 8 <> 7 THEN round((i - 100) * 1.25, i % 4) END,
	CASE WHEN i % 10 <> 9 THEN ('name' || i)::name END,
	CASE WHEN i % 13 <> 2 THEN (i * 300 - 30000)::int2 END,
	CASE WHEN i % 14 <> 3 THEN chr(65 + i % 26)::"char" END,
	CASE WHEN i % 12 <> 0 THEN ARRAY[i, NULL, -i] END,
	CASE WHEN i % 15 <> 4 THEN (i / 3.0)::float4 END,
	CASE WHEN i % 16 <> 5 THEN '2000-01-01'::date + i * 100 END,
	CASE WHEN i % 17 <> 6 THEN '2000-01-01 00:00+00'::timestamptz + i * interval '1 hour 1 second' END,
	CASE WHEN i % 18 <> 7 THEN left(md5(i::text), i % 11)::varchar(10) END,
	CASE WHEN i % 19 <> 8 THEN jsonb_build_object('i', i, 'a', ARRAY[i]) END)::rowtype AS r
	FROM generate_series(1, 200) i
	UNION ALL SELECT ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL)::rowtype;
SELECT count(*) AS rows,
	count(*) FILTER (WHERE row_decode(row_bytes(r), r) IS DISTINCT FROM r) AS roundtrip_wrong,
	count(*) FILTER (WHERE row_decode(row_bytes(r), r)::text IS DISTINCT FROM r::text) AS text_changed,
	count(*) FILTER (WHERE row_decode(row_bytes(r), NULL::rowtype)::text IS DISTINCT FROM r::text) AS null_template_wrong
  FROM rows;
-- Key columns are not stored, and come back NULL here.
SELECT count(*) FILTER (WHERE (x).a IS NOT NULL OR (x).c IS NOT NULL
			OR to_jsonb(x) - 'a' - 'c' IS DISTINCT FROM to_jsonb(r) - 'a' - 'c') AS keyed_wrong,
	count(*) FILTER (WHERE length(row_bytes(r, '{1,3}')) >= length(row_bytes(r))
			AND ((r).a IS NOT NULL OR (r).c IS NOT NULL)) AS keyed_not_shorter
  FROM (SELECT r, row_decode(row_bytes(r, '{1,3}'), r, '{1,3}') AS x FROM rows) s;
SELECT row_bytes(r, '{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18}') AS all_key,
	row_bytes(ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL)::rowtype) AS all_null
  FROM rows LIMIT 1;

-- The row format, byte by byte: version 1, natts, bitmap, then values.
CREATE TYPE small AS (a int4, b text, c int2);
SELECT row_bytes(ROW(1, 'ab', NULL)::small) AS "(1,ab,)",
	row_bytes(ROW(-2, NULL, 258)::small) AS "(-2,,258)",
	row_bytes(ROW(1, 'ab', 3)::small, '{1}') AS "(1,ab,3) key a",
	row_decode('\x01030101000000', NULL::small) AS decoded;

-- Rows written before ADD ATTRIBUTE read it as NULL; bytes of a dropped
-- attribute are skipped.
CREATE TYPE evo AS (a int4, b text, c int8);
CREATE TABLE saved AS SELECT row_bytes(ROW(1, 'one', 10)::evo) AS b1,
	row_bytes(ROW(2, NULL, 20)::evo) AS b2;
ALTER TYPE evo ADD ATTRIBUTE d text;
SELECT row_decode(b1, NULL::evo), row_decode(b2, NULL::evo) FROM saved;
ALTER TYPE evo DROP ATTRIBUTE b;
SELECT row_decode(b1, NULL::evo), row_decode(b2, NULL::evo) FROM saved;
SELECT row_bytes(ROW(3, 30, 'three')::evo) AS new_row,
	row_decode(row_bytes(ROW(3, 30, 'three')::evo), NULL::evo) AS decoded;

-- Malformed rows are reported as data corruption, never misread.
SELECT input, err(format('SELECT codec.row_decode(%L::bytea, NULL::codec.small)', input))
  FROM (VALUES ('\x'), ('\x02'), ('\x01'), ('\x0104'), ('\x0103'), ('\x010308'),
			   ('\x0103010100'), ('\x010302ff'), ('\x010302ffffffffffffffffffff01'),
			   ('\x010302ffffffffffffffffff01'), ('\x0103020561'), ('\x010300ff'),
			   ('\x0103020100')) AS m(input);

-- The size limit of a row: a quarter of lsm_fdw.memtable_memory (256MB), at most 64MB.
SELECT err($$SELECT codec.row_bytes(ROW(1, repeat('x', 64 * 1024 * 1024), 1)::codec.small)$$);

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA codec CASCADE;
RESET client_min_messages;
