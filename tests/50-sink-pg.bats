#!/usr/bin/env bats
# pgflo-sink-pg against a real PostgreSQL: hand-written records (the format
# of pgflo-record(5)) or records generated from a source table by SQL.

load test_helper

setup_file() {
	pg_start
	# The role is called pgflo: keep "$user" from picking our pgflo schema.
	psql_admin -c "ALTER ROLE pgflo IN DATABASE dst SET search_path = public"
}

teardown_file() {
	pg_stop
}

setup() {
	# Every test gets its own group so positions do not interfere.
	export PGFLO_GROUP="t$BATS_TEST_NUMBER"
}

# rec OP TABLE LSN ORD JSON-REST: one change record on the users table.
U_TYPES='"key":["id"],"types":{"id":"integer","email":"text","n":"integer"}'
rec() {
	printf '{"op":"%s","schema":"public","table":"%s","commit_lsn":"%s","ordinal":%s,%s,%s}\n' \
		"$1" "$2" "$3" "$4" "$U_TYPES" "$5"
}
begin() { printf '{"op":"begin","commit_lsn":"%s","ordinal":0,"xid":1}\n' "$1"; }
commit() { printf '{"op":"commit","commit_lsn":"%s","ordinal":%s,"xid":1}\n' "$1" "$2"; }

# users_table NAME [CONSTRAINT]: a table in dst of the shape rec writes.
users_table() {
	psql_dst -c "CREATE TABLE $1 (id int PRIMARY KEY, email text, n int${2:+ $2})"
}

# txn LSN TABLE OP JSON-REST [OP JSON-REST ...]: one transaction on TABLE:
# begin, a record per OP with ordinals from 1, commit with the next one.
txn() {
	local lsn=$1 table=$2 ord=0
	shift 2
	begin "$lsn"
	while (($# >= 2)); do
		rec "$1" "$table" "$lsn" $((++ord)) "$2"
		shift 2
	done
	commit "$lsn" $((ord + 1))
}

# records TABLE LSN: insert records for every row of TABLE in src, as the
# capture encoder would write them (row_to_json values, format_type types).
records() {
	psql_src -c "SELECT json_build_object('op','insert','schema',n.nspname,
	  'table',c.relname,'commit_lsn','$2','ordinal',row_number() OVER (),
	  'key',json_build_array('id'),
	  'types',(SELECT json_object_agg(attname, format_type(atttypid, atttypmod)
	    ORDER BY attnum) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0
	    AND NOT attisdropped),
	  'new',row_to_json(_r))
	  FROM $1 _r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE c.oid = '$1'::regclass ORDER BY _r.id"
}

# digest DBFUNC TABLE: md5 of every row as row_to_json text.
digest() {
	"$1" -c "SELECT md5(string_agg(row_to_json(_r)::text, E'\n' ORDER BY id)) FROM $2 _r"
}

@test "pgflo-sink-pg: insert, update, key change and delete; position printed" {
	users_table users
	{
		begin 0/100
		rec insert users 0/100 1 '"new":{"id":1,"email":"a@x","n":1}'
		rec insert users 0/100 2 '"new":{"id":2,"email":"b@x","n":2}'
		commit 0/100 3
		rec update users 0/200 1 '"new":{"id":1,"email":"c@x","n":10}'
		rec update users 0/300 1 '"old":{"id":2},"new":{"id":5,"email":"b@x","n":2}'
		rec delete users 0/400 1 '"old":{"id":1}'
		rec insert users 0/500 1 '"new":{"id":7,"email":null,"n":7}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/500","ordinal":1,"group":"'"$PGFLO_GROUP"'"}'
	run psql_dst -c "SELECT id, coalesce(email,'NULL'), n FROM users ORDER BY id"
	assert_output $'5|b@x|2\n7|NULL|7'
	run psql_dst -c "SELECT commit_lsn, ordinal FROM pgflo.applied WHERE group_name = 't1'"
	assert_output '0/500|1'
	run pgflo-sink-pg -d "$PGFLO_DST" --position
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/500","ordinal":1,"group":"'"$PGFLO_GROUP"'"}'
}

@test "pgflo-sink-pg: replaying the same input twice changes nothing" {
	users_table replay
	{
		rec insert replay 0/100 1 '"new":{"id":1,"email":"a","n":1}'
		rec update replay 0/200 1 '"new":{"id":1,"email":"a","n":2}'
		rec insert replay 0/300 1 '"new":{"id":2,"email":"b","n":1}'
		rec delete replay 0/400 1 '"old":{"id":2}'
	} >"$BATS_TEST_TMPDIR/in"
	pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in" >/dev/null
	psql_dst -c "UPDATE replay SET n = n"
	run --separate-stderr pgflo-sink-pg -v -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output ''
	[[ $stderr == *"0 changes applied, 4 records skipped"* ]]
	run psql_dst -c "SELECT id, email, n FROM replay"
	assert_output '1|a|2'
}

@test "pgflo-sink-pg: --position with nothing applied prints the start of a stream and exits 1; an unreachable target prints nothing" {
	run --separate-stderr pgflo-sink-pg -g nothing-here -d "$PGFLO_DST" --position
	assert_failure 1
	assert_output '{"op":"position","stream_seq":0,"group":"nothing-here"}'
	assert_equal "$stderr" 'pgflo-sink-pg: no position applied for group nothing-here: printed stream_seq 0, the start of a stream'
	run --separate-stderr pgflo-sink-pg -g nothing-here -d "host=127.0.0.1 port=1 dbname=x" --position
	assert_failure 3
	assert_output ''
}

@test "pgflo-sink-pg: the position is accepted by pgflo-checkpoint" {
	users_table ck
	rec insert ck 1/A0 4 '"new":{"id":1,"email":"a","n":1}' |
		pgflo-sink-pg -d "$PGFLO_DST" | pgflo-checkpoint -s "file:$BATS_TEST_TMPDIR/ck"
	run pgflo-checkpoint -g "file:$BATS_TEST_TMPDIR/ck" -f commit_lsn
	assert_output '1/A0'
}

@test "pgflo-sink-pg: REPLICA IDENTITY FULL without a key changes one row only" {
	psql_dst -c "CREATE TABLE full_t (a int, b json, c point)"
	psql_dst -c "INSERT INTO full_t VALUES (1, '{\"x\": 1}', '(1,2)'), (1, '{\"x\": 1}', '(1,2)'), (2, null, null)"
	T='"key":["a","b","c"],"types":{"a":"integer","b":"json","c":"point"}'
	{
		echo '{"op":"update","schema":"public","table":"full_t","commit_lsn":"0/10","ordinal":1,'"$T"',"old":{"a":1,"b":{"x":1},"c":"(1,2)"},"new":{"a":9,"b":{"x":1},"c":"(1,2)"}}'
		echo '{"op":"delete","schema":"public","table":"full_t","commit_lsn":"0/20","ordinal":1,'"$T"',"old":{"a":2,"b":null,"c":null}}'
	} | pgflo-sink-pg -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT a, b::text, c::text FROM full_t ORDER BY a"
	assert_output $'1|{"x": 1}|(1,2)\n9|{"x":1}|(1,2)'
}

@test "pgflo-sink-pg: a table without identity gets inserts only and one warning" {
	psql_dst -c "CREATE TABLE noid (id int, email text, n int)"
	T='"key":[],"types":{"id":"integer","email":"text","n":"integer"}'
	{
		echo '{"op":"insert","schema":"public","table":"noid","commit_lsn":"0/10","ordinal":1,'"$T"',"new":{"id":1,"email":"a","n":1}}'
		echo '{"op":"update","schema":"public","table":"noid","commit_lsn":"0/20","ordinal":1,'"$T"',"new":{"id":1,"email":"b","n":1}}'
		echo '{"op":"update","schema":"public","table":"noid","commit_lsn":"0/30","ordinal":1,'"$T"',"new":{"id":1,"email":"c","n":1}}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$stderr" 'pgflo-sink-pg: warning: "public"."noid" has no replica identity: updates skipped'
	run psql_dst -c "SELECT id, email FROM noid"
	assert_output '1|a'
}

@test "pgflo-sink-pg: composite keys and unique-index keys, with key changes" {
	psql_dst -c "CREATE TABLE comp (a int, b text, v text, PRIMARY KEY (a, b))"
	psql_dst -c "CREATE TABLE uq (id serial PRIMARY KEY, code text NOT NULL UNIQUE, v text)"
	C='"key":["a","b"],"types":{"a":"integer","b":"text","v":"text"}'
	Q='"key":["code"],"types":{"id":"integer","code":"text","v":"text"}'
	{
		echo '{"op":"insert","schema":"public","table":"comp","commit_lsn":"0/10","ordinal":1,'"$C"',"new":{"a":1,"b":"x","v":"1"}}'
		echo '{"op":"insert","schema":"public","table":"comp","commit_lsn":"0/10","ordinal":2,'"$C"',"new":{"a":1,"b":"y","v":"2"}}'
		echo '{"op":"update","schema":"public","table":"comp","commit_lsn":"0/20","ordinal":1,'"$C"',"old":{"a":1,"b":"x"},"new":{"a":2,"b":"x","v":"3"}}'
		echo '{"op":"delete","schema":"public","table":"comp","commit_lsn":"0/20","ordinal":2,'"$C"',"old":{"a":1,"b":"y"}}'
		echo '{"op":"insert","schema":"public","table":"uq","commit_lsn":"0/30","ordinal":1,'"$Q"',"new":{"id":1,"code":"A","v":"1"}}'
		echo '{"op":"insert","schema":"public","table":"uq","commit_lsn":"0/30","ordinal":2,'"$Q"',"new":{"id":1,"code":"A","v":"2"}}'
		echo '{"op":"update","schema":"public","table":"uq","commit_lsn":"0/40","ordinal":1,'"$Q"',"old":{"code":"A"},"new":{"id":1,"code":"B","v":"3"}}'
	} | pgflo-sink-pg -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT a, b, v FROM comp"
	assert_output '2|x|3'
	run psql_dst -c "SELECT id, code, v FROM uq"
	assert_output '1|B|3'
}

@test "pgflo-sink-pg: truncate honours cascade and restart_identity" {
	psql_dst -c "CREATE TABLE tp (id serial PRIMARY KEY); CREATE TABLE tc (id int REFERENCES tp)"
	psql_dst -c "INSERT INTO tp DEFAULT VALUES; INSERT INTO tp DEFAULT VALUES; INSERT INTO tc VALUES (1)"
	echo '{"op":"truncate","schema":"public","table":"tp","commit_lsn":"0/10","ordinal":1,"cascade":true,"restart_identity":true}' |
		pgflo-sink-pg -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT (SELECT count(*) FROM tp) + (SELECT count(*) FROM tc), nextval('tp_id_seq')"
	assert_output '0|1'
}

@test "pgflo-sink-pg: an unchanged TOASTed 1 MB jsonb survives an update" {
	psql_dst -c "CREATE TABLE toast (id int PRIMARY KEY, big jsonb, n int)"
	psql_dst -c "INSERT INTO toast SELECT 1, jsonb_build_object('s', string_agg(md5(i::text), '')), 0 FROM generate_series(1, 32768) i"
	before=$(psql_dst -c "SELECT md5(big::text) || length(big::text) FROM toast")
	echo '{"op":"update","schema":"public","table":"toast","commit_lsn":"0/10","ordinal":1,"key":["id"],"types":{"id":"integer","big":"jsonb","n":"integer"},"new":{"id":1,"n":5},"unchanged":["big"]}' |
		pgflo-sink-pg -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT md5(big::text) || length(big::text), n FROM toast"
	assert_output "$before|5"
}

@test "pgflo-sink-pg: values of many types round-trip exactly (md5 equal)" {
	sql="CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy ''quoted''');
	CREATE TYPE pair AS (x int, y text);
	CREATE DOMAIN posint AS int CHECK (VALUE > 0);
	CREATE TABLE types (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8,
	  n numeric(38,10), nn numeric, m money, f4 float4, f8 float8, b bool,
	  t text, vc varchar(50), ch char(5), by bytea, d date, tm time, ttz timetz,
	  ts timestamp, tstz timestamptz, iv interval, u uuid, ip inet, cidr cidr,
	  mac macaddr, j json, jb jsonb, ia int4[], ta text[], i2d int[][],
	  jba jsonb[], mo mood, r int4range, tr tstzrange, p point, bx box,
	  x xml, bi bit(4), vb varbit, tv tsvector, na numeric[],
	  dm posint, oi oid, c1 \"char\", ba bool[], bxa box[]);"
	psql_src -c "$sql"
	psql_dst -c "$sql"
	psql_src -c "INSERT INTO types VALUES (1, -32768, 2147483647, 9223372036854775807,
	  '1234567890123456789012345678.0123456789', '-0.000000000000000000000000000001',
	  '\$1,234.50', 0.1, 1.0000000000000002, true, E'a\\\\b\"c\\nd\\te''f ✓',
	  'varchar', 'ab', '\\xdeadbeef00', '2026-11-23', '23:59:59.999999', '12:00+05:30',
	  '2026-11-23 18:00:00.123456', '2026-11-23 18:00:00.5+01', '1 year 2 mons -3 days 04:05:06.7',
	  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
	  '{\"b\": [1, 2.50, 1e400], \"a\": 12345678901234567890123}',
	  '{\"big\": 123456789012345678901234567890, \"f\": 1.10, \"s\": \"x\\\"y\"}',
	  '{1,NULL,3}', ARRAY['a', NULL, 'b c', 'q\"uote', 'back\\\\slash', 'NULL', '', '{x}'],
	  '{{1,2},{3,NULL}}', ARRAY['{\"k\": [1, \"a,b\"]}'::jsonb, NULL, '\"str\"'], 'happy ''quoted''',
	  '[1,10)', '[2026-01-01 00:00+00,infinity)', '(1.5,-2)', '(3,4),(1,2)',
	  '<a x=\"1\">t</a>', B'1010', B'101', 'a fat:2 cat',
	  '{1.10,NaN,-0.5}', 7, 4294967295, 'x', '{t,f,NULL}', '{(1,1),(0,0);(2,2),(1,1)}'),
	  (2, NULL, NULL, NULL, 'NaN', NULL, NULL, 'NaN', '-Infinity', false, '', NULL, NULL, '\\x',
	  'infinity', NULL, NULL, '-infinity', NULL, '0', NULL, '::1', NULL, NULL, 'null', '[]', '{}',
	  '{}', '{}', '{}', 'sad', 'empty', NULL, NULL, NULL, NULL, NULL, NULL, '', '{}',
	  NULL, 0, NULL, NULL, NULL)"
	records types 0/10 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	want=$(digest psql_src types)
	run digest psql_dst types
	assert_output "$want"
	# And once more as updates of every column.
	# (json_build_object writes "key" : value, with spaces.)
	sed 's/"op" : "insert"/"op" : "update"/; s/"commit_lsn" : "0\/10"/"commit_lsn" : "0\/20"/' \
		"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/up"
	psql_dst -c "UPDATE types SET t = 'changed', jb = '{}', ta = '{}'"
	pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/up" >/dev/null
	run digest psql_dst types
	assert_output "$want"
}

@test "pgflo-sink-pg: hostile identifiers are quoted, never pasted" {
	psql_dst -c 'CREATE SCHEMA "my sch""ema"; CREATE TABLE "my sch""ema"."tâble ""x""; drop" ("ïd ""k""" int PRIMARY KEY, "v; --" text)'
	T='"schema":"my sch\"ema","table":"tâble \"x\"; drop","key":["ïd \"k\""],"types":{"ïd \"k\"":"integer","v; --":"text"}'
	{
		echo '{"op":"insert",'"$T"',"commit_lsn":"0/10","ordinal":1,"new":{"ïd \"k\"":1,"v; --":"a'"'"'b"}}'
		echo '{"op":"insert",'"$T"',"commit_lsn":"0/10","ordinal":2,"new":{"ïd \"k\"":2,"v; --":"x"}}'
		echo '{"op":"update",'"$T"',"commit_lsn":"0/20","ordinal":1,"new":{"ïd \"k\"":1,"v; --":"c\"d"}}'
		echo '{"op":"delete",'"$T"',"commit_lsn":"0/30","ordinal":1,"old":{"ïd \"k\"":2}}'
	} | pgflo-sink-pg -d "$PGFLO_DST" >/dev/null
	run psql_dst -c 'SELECT * FROM "my sch""ema"."tâble ""x""; drop"'
	assert_output '1|c"d'
}

@test "pgflo-sink-pg: bad JSON exits 1 naming the line, after committing what came before" {
	users_table badj
	{
		rec insert badj 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		begin 0/20
		rec insert badj 0/20 1 '"new":{"id":2,"email":"a","n":1}'
		echo '{"op":"insert",'
		commit 0/20 2
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":1,"group":"'"$PGFLO_GROUP"'"}'
	[[ $stderr == "pgflo-sink-pg: <stdin>:4: invalid JSON: "* ]]
	run psql_dst -c "SELECT id FROM badj"
	assert_output '1'
}

@test "pgflo-sink-pg: a constraint violation exits 1 naming line, table and key; its transaction is not applied" {
	users_table cv 'CHECK (n > 0)'
	{
		begin 0/10
		rec insert cv 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		commit 0/10 2
		begin 0/20
		rec insert cv 0/20 1 '"new":{"id":2,"email":"b","n":1}'
		rec insert cv 0/20 2 '"new":{"id":3,"email":"c","n":-1}'
		commit 0/20 3
		rec insert cv 0/30 1 '"new":{"id":4,"email":"d","n":1}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"'"$PGFLO_GROUP"'"}'
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:6: insert "public"."cv" (id)=(3): new row for relation "cv" violates check constraint "cv_n_check" (Failing row contains (3, c, -1).)'
	run psql_dst -c "SELECT id FROM cv"
	assert_output '1'
}

@test "pgflo-sink-pg: --dead-letter writes the failing transaction there and goes on" {
	users_table dl 'CHECK (n > 0)'
	{
		rec insert dl 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		txn 0/20 dl insert '"new":{"id":2,"email":"b","n":1}' \
		    insert '"new":{"id":3,"email":"c","n":-1}'
		rec insert dl 0/30 1 '"new":{"id":4,"email":"d","n":1}'
		echo 'not json'
		rec insert dl 0/40 1 '"new":{"id":5,"email":"d","n":1}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg --dead-letter "$BATS_TEST_TMPDIR/dead" -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/40","ordinal":1,"group":"'"$PGFLO_GROUP"'"}'
	run psql_dst -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM dl"
	assert_output '1,4,5'
	run cat "$BATS_TEST_TMPDIR/dead"
	# In the order of the input: the failing transaction, the bad line.
	assert_output "$(sed -n 2,5p "$BATS_TEST_TMPDIR/in"; sed -n 7p "$BATS_TEST_TMPDIR/in")"
}

@test "pgflo-sink-pg: a partial transaction is never visible" {
	users_table part
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-pg -m 50 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	begin 0/10 >&5
	rec insert part 0/10 1 '"new":{"id":1,"email":"a","n":1}' >&5
	sleep 0.5
	run psql_dst -c "SELECT count(*) FROM part"
	assert_output '0'
	commit 0/10 2 >&5
	sleep 0.5
	run psql_dst -c "SELECT count(*) FROM part"
	assert_output '1'
	# A quiet input commits the batch: the position is out before EOF.
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"'"$PGFLO_GROUP"'"}'
	begin 0/20 >&5
	rec insert part 0/20 1 '"new":{"id":2,"email":"a","n":1}' >&5
	exec 5>&-
	wait "$pid"
	run psql_dst -c "SELECT count(*) FROM part"
	assert_output '1'
}

# group_commit TABLE ENV...: one transaction into sink-pg -m 10s, its input
# held open; prints what the target and stdout hold within 1 s.
group_commit() {
	local t=$1 out="$BATS_TEST_TMPDIR/out"
	shift
	users_table "$t"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	env "$@" pgflo-sink-pg -m 10s -b 100000 -d "$PGFLO_DST" \
		<"$BATS_TEST_TMPDIR/fifo" >"$out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	txn 0/10 "$t" insert '"new":{"id":1,"email":"a","n":1}' >&5
	for _ in $(seq 10); do
		[ -s "$out" ] && break
		sleep 0.1
	done
	echo "rows: $(psql_dst -c "SELECT count(*) FROM $t")"
	cat "$out"
	exec 5>&-
	wait "$pid"
}

@test "pgflo-sink-pg: group commit: a transaction is committed once input is quiet, not on -m's timer" {
	run -0 group_commit gc
	assert_output 'rows: 1
{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"'"$PGFLO_GROUP"'"}'
}

@test "pgflo-sink-pg: PGFLO_GROUP_COMMIT=0 commits on -m's timer alone" {
	run -0 group_commit gc0 PGFLO_GROUP_COMMIT=0
	assert_output 'rows: 0'
	run psql_dst -c "SELECT count(*) FROM gc0"
	assert_output '1'
}

@test "pgflo-sink-pg: SIGTERM commits complete transactions, rolls back the rest, exits 0" {
	users_table term
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-pg -m 1h -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	{
		begin 0/10
		rec insert term 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		commit 0/10 2
		begin 0/20
		rec insert term 0/20 1 '"new":{"id":2,"email":"a","n":1}'
	} >&5
	sleep 0.5
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	exec 5>&-
	run psql_dst -c "SELECT id FROM term"
	assert_output '1'
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"'"$PGFLO_GROUP"'"}'
}

@test "pgflo-sink-pg: kill -9 mid-batch, then a rerun gives the same target" {
	psql_src -c "CREATE TABLE k9 (id int PRIMARY KEY, v text, n numeric(12,2));
	  INSERT INTO k9 SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 30000) i"
	psql_dst -c "CREATE TABLE k9 (id int PRIMARY KEY, v text, n numeric(12,2))"
	# One source transaction per 100 rows.
	records k9 0/0 | awk '{ t = int(NR / 100) + 1; o = NR % 100 + 1;
	  sub(/"commit_lsn" : "0\/0", "ordinal" : [0-9]+/, sprintf("\"commit_lsn\":\"1/%X\",\"ordinal\":%d", t, o)); print }' \
		>"$BATS_TEST_TMPDIR/in"
	pgflo-sink-pg -b 2000 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in" >/dev/null 3>&- &
	pid=$!
	sleep 0.3
	kill -KILL "$pid" || true
	wait "$pid" || true
	run pgflo-sink-pg -b 2000 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	want=$(digest psql_src k9)
	run digest psql_dst k9
	assert_output "$want"
}

@test "pgflo-sink-pg: one large source transaction streams through in one commit" {
	psql_src -c "CREATE TABLE big (id int PRIMARY KEY, v text)
	  ; INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 50000) i"
	psql_dst -c "CREATE TABLE big (id int PRIMARY KEY, v text)"
	{
		begin 2/0
		records big 2/0
		commit 2/0 50001
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -v -b 1000 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"2/0","ordinal":50001,"group":"'"$PGFLO_GROUP"'"}'
	[[ $stderr == *"50000 changes applied, 0 records skipped, 1 commits"* ]]
	run digest psql_dst big
	assert_output "$(digest psql_src big)"
}

@test "pgflo-sink-pg: snapshot rows are idempotent upserts; their markers come back after the commit" {
	users_table snap
	S='{"op":"insert","schema":"public","table":"snap","snapshot":true,'"$U_TYPES"
	{
		echo '{"op":"snapshot","phase":"begin","schema":"public","table":"snap"}'
		echo "$S"',"new":{"id":1,"email":"a","n":1}}'
		echo "$S"',"new":{"id":2,"email":"b","n":1}}'
		echo "$S"',"new":{"id":1,"email":"c","n":2}}'
		echo '{"op":"snapshot","phase":"end","schema":"public","table":"snap","rows":3}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	# No position (snapshot rows have none); the markers, as copy progress.
	assert_output "$(grep '"op":"snapshot"' "$BATS_TEST_TMPDIR/in")"
	pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in" >/dev/null
	run psql_dst -c "SELECT id, email, n FROM snap ORDER BY id"
	assert_output $'1|c|2\n2|b|1'
}

@test "pgflo-sink-pg: --create-tables and --map-schema create only the tables that flow" {
	psql_dst -c "CREATE SCHEMA other"
	T='"key":["id"],"types":{"id":"bigint","v":"character varying(10)","ts":"timestamp with time zone","a":"numeric(10,2)[]"}'
	echo '{"op":"insert","schema":"app","table":"made","commit_lsn":"0/10","ordinal":1,'"$T"',"new":{"id":1,"v":"x","ts":"2026-11-23 18:00:00+00","a":["1.50",null]}}' |
		pgflo-sink-pg -c -s app=other -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT id, v, ts, a FROM other.made"
	assert_output '1|x|2026-11-23 18:00:00+00|{1.50,NULL}'
	run psql_dst -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'other.made'::regclass AND attnum > 0 ORDER BY attnum"
	assert_output $'bigint\ncharacter varying(10)\ntimestamp with time zone\nnumeric(10,2)[]'
	run psql_dst -c "SELECT to_regclass('app.made') IS NULL"
	assert_output 't'
}

@test "pgflo-sink-pg: --create-tables refuses a type name that is not one" {
	T='"key":["id"],"types":{"id":"integer","v":"integer); DROP TABLE users; --"}'
	run --separate-stderr pgflo-sink-pg -c -d "$PGFLO_DST" <<<'{"op":"insert","schema":"public","table":"evil","commit_lsn":"0/10","ordinal":1,'"$T"',"new":{"id":1,"v":1}}'
	assert_failure 1
	[[ $stderr == *"unsafe type name integer); DROP TABLE users; --"* ]]
	run psql_dst -c "SELECT to_regclass('public.evil') IS NULL, to_regclass('public.users') IS NULL"
	assert_output 'f|f' || assert_output 't|f'
}

@test "pgflo-sink-pg: ddl records are a notice, or applied with --apply-ddl" {
	psql_dst -c "CREATE TABLE ddl_t (id int PRIMARY KEY)"
	D='{"op":"ddl","schema":"public","table":"ddl_t","commit_lsn":"0/10","ordinal":1,"tag":"ALTER TABLE","object_type":"table","statement":"ALTER TABLE ddl_t ADD COLUMN age integer"}'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$D"
	assert_success
	assert_equal "$stderr" 'pgflo-sink-pg: notice: ddl not applied (use --apply-ddl): ALTER TABLE ddl_t ADD COLUMN age integer'
	run --separate-stderr pgflo-sink-pg -g ddl2 -a -d "$PGFLO_DST" <<<"$D"
	assert_success
	run psql_dst -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'ddl_t'::regclass AND attname = 'age'"
	assert_output '1'
}

@test "pgflo-sink-pg: a target it cannot connect to exits 3" {
	run --separate-stderr pgflo-sink-pg -d "host=127.0.0.1 port=1 dbname=x" </dev/null
	assert_failure 3
	[[ $stderr == "pgflo-sink-pg: could not connect: "* ]]
}

@test "pgflo-sink-pg: missing -d is a usage error" {
	run --separate-stderr pgflo-sink-pg </dev/null
	assert_failure 2
	[[ $stderr == *"usage: pgflo-sink-pg"* ]]
}

# snaprec TABLE JSON-NEW: one snapshot row of the vals table shape.
V_TYPES='"key":["id"],"types":{"id":"integer","t":"text","ta":"text[]","j":"jsonb","b":"bytea","n":"numeric","ia":"integer[]"}'
snaprec() {
	printf '{"op":"insert","schema":"public","table":"%s","snapshot":true,%s,"new":%s}\n' \
		"$1" "$V_TYPES" "$2"
}
vals_rows() {	# TABLE: rows with every COPY-text hazard
	snaprec "$1" '{"id":1,"t":"tab\there","ta":["a\tb",null,"c\\d","q\"u","NULL","\\N"],"j":{"k":"v\tw\n","b":"\\","n":1.10},"b":"\\xdeadbeef00","n":"1.10","ia":[[1,null],[3,4]]}'
	snaprec "$1" '{"id":2,"t":"nl\nline\r\nend","ta":[],"j":[1,"\u00e9",null],"b":"\\x","n":"-0.000001","ia":null}'
	snaprec "$1" '{"id":3,"t":"back\\slash \\N \\. \\t","ta":null,"j":"str","b":null,"n":"NaN","ia":[]}'
	snaprec "$1" '{"id":4,"t":"h\u00e9llo \u2713 \ud83d\ude00","ta":["\u00e9"],"j":{},"b":"\\x5c0a09","n":"123456789012345678901234567890.5","ia":[1]}'
	snaprec "$1" '{"id":5,"t":null,"ta":[null],"j":null,"b":null,"n":null,"ia":[null]}'
	snaprec "$1" '{"id":6,"t":"\\N","ta":["",""],"j":null,"b":"\\x00","n":"0","ia":[]}' |
		sed 's/}}$/},"json_null":["j"]}/'
	snaprec "$1" '{"id":7,"t":"","ta":["{}","a,b"," "],"j":{"a":{"b":[true,false,null]}},"b":"\\x00ff","n":"1e3","ia":[-1]}'
}

@test "pgflo-sink-pg: snapshot rows through COPY keep NULLs, tabs, newlines, backslashes, unicode, arrays, jsonb, bytea" {
	for t in vcopy vstage vstmt; do
		psql_dst -c "CREATE TABLE $t (id int PRIMARY KEY, t text, ta text[], j jsonb, b bytea, n numeric, ia int[])"
	done
	# vstage holds every key already: COPY fails, the staging upsert runs.
	psql_dst -c "INSERT INTO vstage SELECT i, 'old' FROM generate_series(1, 7) i"
	vals_rows vcopy | pgflo-sink-pg -d "$PGFLO_DST"
	vals_rows vstage | pgflo-sink-pg -d "$PGFLO_DST"
	# The statement path: the same rows as streamed inserts, one by one.
	# Each change has its own position (pgflo-record(5)): ordinals 1..7.
	vals_rows vstmt | awk '{ sub(/"snapshot":true/, "\"commit_lsn\":\"0/10\",\"ordinal\":" NR); print }' |
		pgflo-sink-pg -d "$PGFLO_DST" -b 1 >/dev/null
	run psql_dst -c "SELECT id, t, ta, j, b, n, ia FROM vcopy WHERE id IN (1, 3, 6) ORDER BY id"
	assert_output "$(printf '%s\n' '1|tab	here|{"a	b",NULL,"c\\d","q\"u","NULL","\\N"}|{"b": "\\", "k": "v\tw\n", "n": 1.10}|\xdeadbeef00|1.10|{{1,NULL},{3,4}}' \
		'3|back\slash \N \. \t||"str"||NaN|{}' '6|\N|{"",""}|null|\x00|0|{}')"
	run psql_dst -c "SELECT t FROM vcopy WHERE id = 2"
	assert_output $'nl\nline\r\nend'
	run psql_dst -c "SELECT t, ta[1] FROM vcopy WHERE id = 4"
	assert_output $'h\u00e9llo \u2713 \U0001F600|\u00e9'
	run psql_dst -c "SELECT count(*) FROM vcopy WHERE id = 5 AND t IS NULL AND j IS NULL AND b IS NULL AND n IS NULL AND ia = '{NULL}'"
	assert_output '1'
	for t in vstage vstmt; do
		assert_equal "$(digest psql_dst $t)" "$(digest psql_dst vcopy)"
	done
}

@test "pgflo-sink-pg: a snapshot row whose key exists updates that row" {
	psql_dst -c "CREATE TABLE sup (id int PRIMARY KEY, email text, n bigint)"
	psql_dst -c "INSERT INTO sup VALUES (2, 'old', 0), (9, 'kept', 9)"
	S='{"op":"insert","schema":"public","table":"sup","snapshot":true,'"$U_TYPES"
	for i in 1 2 3; do
		echo "$S"',"new":{"id":'$i',"email":"e'$i'","n":'$i'}}'
	done >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -v -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT id, email, n FROM sup ORDER BY id"
	assert_output $'1|e1|1\n2|e2|2\n3|e3|3\n9|kept|9'
}

@test "pgflo-sink-pg: a snapshot row whose key exists, then a transaction in the same batch" {
	# The COPY fails on the existing key and the batch goes again through
	# staging; that replay must not run inside the aborted transaction.
	users_table pk3
	psql_dst -c "INSERT INTO pk3 VALUES (1, 'old', 0)"
	{
		echo '{"op":"insert","schema":"public","table":"pk3","snapshot":true,'"$U_TYPES"',"new":{"id":1,"email":"snap","n":1}}'
		echo '{"op":"begin","commit_lsn":"0/300","ordinal":0,"xid":7}'
		echo '{"op":"update","schema":"public","table":"pk3","commit_lsn":"0/300","ordinal":1,"xid":7,'"$U_TYPES"',"new":{"id":1,"email":"upd","n":2}}'
		echo '{"op":"commit","commit_lsn":"0/300","ordinal":2,"xid":7}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" -g pk3 <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/300","ordinal":2,"group":"pk3"}'
	[ "$stderr" = "" ]
	run psql_dst -c "SELECT id, email, n FROM pk3"
	assert_output '1|upd|2'
}

@test "pgflo-sink-pg: a key move onto a row the target already has (a copy ahead of the stream)" {
	users_table km
	# id 1 from an older copy, id 2 from a newer one: the stream replays
	# the move 1 -> 2, then a later update of 2.
	psql_dst -c "INSERT INTO km VALUES (1, 'old', 1), (2, 'newer', 5), (4, 'newer', 4),
	  (6, 'newer', 6), (8, 'newer', 8)"
	T='"schema":"public","table":"km",'"$U_TYPES"
	{
		echo '{"op":"update",'"$T"',"commit_lsn":"0/400","ordinal":1,"old":{"id":1},"new":{"id":2,"email":"moved","n":1}}'
		echo '{"op":"update",'"$T"',"commit_lsn":"0/500","ordinal":1,"new":{"id":2,"email":"later","n":6}}'
		# 3 -> 4 where 3 is not there: the whole row replaces the newer 4.
		echo '{"op":"update",'"$T"',"commit_lsn":"0/600","ordinal":1,"old":{"id":3},"new":{"id":4,"email":"moved","n":3}}'
		# 5 -> 6, n unchanged (not sent), 5 not there: the newer 6 stays.
		echo '{"op":"update",'"$T"',"commit_lsn":"0/700","ordinal":1,"old":{"id":5},"new":{"id":6,"email":"moved"},"unchanged":["n"]}'
		# 7 -> 9, not there, 9 free: the whole row is inserted.
		echo '{"op":"update",'"$T"',"commit_lsn":"0/800","ordinal":1,"old":{"id":7},"new":{"id":9,"email":"moved","n":7}}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" -g km <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT id, email, n FROM km ORDER BY id"
	assert_output $'2|later|6\n4|moved|3\n6|newer|6\n8|newer|8\n9|moved|7'
}

# sv_rows TABLE: four snapshot rows, the third breaking a CHECK constraint.
sv_rows() {
	S='{"op":"insert","schema":"public","table":"'$1'","snapshot":true,'"$U_TYPES"
	for i in 1 2 3 4; do
		echo "$S"',"new":{"id":'$i',"email":"e'$i'","n":'$((i == 3 ? -1 : i))'}}'
	done
}

@test "pgflo-sink-pg: a constraint violation in a COPY of snapshot rows names the record" {
	users_table sv 'CHECK (n > 0)'
	sv_rows sv >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:3: insert "public"."sv" (id)=(3): new row for relation "sv" violates check constraint "sv_n_check" (Failing row contains (3, e3, -1).)'
	run psql_dst -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM sv"
	assert_output '1,2'
}

@test "pgflo-sink-pg: --dead-letter takes the bad snapshot row out of a COPY batch" {
	users_table svd 'CHECK (n > 0)'
	sv_rows svd >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg --dead-letter "$BATS_TEST_TMPDIR/dead" -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM svd"
	assert_output '1,2,4'
	run cat "$BATS_TEST_TMPDIR/dead"
	assert_output "$(sed -n 3p "$BATS_TEST_TMPDIR/in")"
}

@test "pgflo-sink-pg: a role that cannot create pgflo.applied gets the cause, exit 2" {
	psql_admin -c "CREATE DATABASE weakdst OWNER postgres"
	run -2 --separate-stderr pgflo-sink-pg -d "${PGFLO_DST/dbname=dst/dbname=weakdst} user=pgflo_weak" < /dev/null
	assert_equal "$stderr" "pgflo-sink-pg: cannot create pgflo.applied: ERROR:  permission denied for database weakdst (the role needs CREATE on the database, or the table made for it: see pgflo-sink-pg(1))"
}

@test "pgflo-sink-pg: a transaction sent again from its begin while the batch is open applies once" {
	psql_dst -c "CREATE TABLE public.rep (id int, v text)"
	ins() { printf '{"op":"insert","schema":"public","table":"rep","commit_lsn":"0/100","ordinal":%s,"key":[],"types":{"id":"integer","v":"text"},"new":{"id":%s,"v":"x"}}\n' "$1" "$1"; }
	{
		echo '{"op":"begin","commit_lsn":"0/100","ordinal":0}'
		ins 1; ins 2
		# upstream restarted: the same transaction again, whole.
		echo '{"op":"begin","commit_lsn":"0/100","ordinal":0}'
		ins 1; ins 2; ins 3
		echo '{"op":"commit","commit_lsn":"0/100","ordinal":4}'
	} > "$BATS_TEST_TMPDIR/in"
	run -0 pgflo-sink-pg -d "$PGFLO_DST" -g rep < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"position","commit_lsn":"0/100","ordinal":4,"group":"rep"}'
	run -0 psql_dst -c "select string_agg(id::text, ',' order by id) from public.rep"
	assert_output '1,2,3'
}

# A password file for user $1 with password $2 on the test server.
pgpass() {
	(umask 077 && printf '127.0.0.1:%s:*:%s:%s\n' "$PGPORT" "$1" "$2" \
		>"$BATS_TEST_TMPDIR/pgpass")
	echo "$BATS_TEST_TMPDIR/pgpass"
}

# wait_exit PID SECS: sets st to the status of PID once it ends within
# SECS; if it does not, kills it and returns 1.
wait_exit() {
	local i
	st=
	for i in $(seq 1 $(($2 * 10))); do
		if ! kill -0 "$1" 2>/dev/null; then
			st=0
			wait "$1" || st=$?
			return 0
		fi
		sleep 0.1
	done
	kill -TERM "$1" 2>/dev/null
	wait "$1" || true
	echo "still running after $2 s" >&2
	return 1
}

@test "pgflo-sink-pg: a wrong password exits 2 (not 3), also when reconnecting" {
	PGPASSFILE=$(pgpass pgflo wrong) run pgflo-sink-pg -d "$PGFLO_DST" </dev/null
	assert_failure 2
	assert_line --index 0 --regexp '^pgflo-sink-pg: could not connect: connection to server at "127.0.0.1", port [0-9]+ failed: FATAL:  password authentication failed for user "pgflo"$'
	PGPASSFILE=$(pgpass pgflo wrong) run pgflo-sink-pg -p -d "$PGFLO_DST"
	assert_failure 2
	run pgflo-sink-pg -d 'host=127.0.0.1 port=1 connect_timeout=2' </dev/null
	assert_failure 3

	users_table relog
	psql_admin <<<"CREATE ROLE relog2 LOGIN SUPERUSER PASSWORD 'good!pw'"
	pf=$(pgpass relog2 'good!pw')
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	PGPASSFILE=$pf pgflo-sink-pg -d "$PGFLO_DST user=relog2" \
		<"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	{ begin 0/10; rec insert relog 0/10 1 '"new":{"id":1,"email":"a","n":1}'; commit 0/10 2; } >&5
	for _ in $(seq 1 100); do
		[ -s "$BATS_TEST_TMPDIR/out" ] && break
		sleep 0.1
	done
	pgpass relog2 'bad!pw' >/dev/null
	psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'relog2'" >/dev/null
	{ begin 0/20; rec insert relog 0/20 1 '"new":{"id":2,"email":"a","n":1}'; commit 0/20 2; } >&5
	wait_exit "$pid" 15 || { cat "$BATS_TEST_TMPDIR/err"; false; }
	exec 5>&-
	psql_dst -c 'REASSIGN OWNED BY relog2 TO pgflo'
	psql_admin -c 'DROP ROLE relog2'
	assert_equal "$st" 2
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial 'pgflo-sink-pg: connection lost: '
	assert_output --regexp 'pgflo-sink-pg: could not connect: [^
]*password authentication failed for user "relog2"'
	refute_output --partial 'reconnecting:'
}

@test "pgflo-sink-pg: pgflo-checkpoint killed while nothing flows ends the sink with 141" {
	users_table idle
	mkfifo "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	pgflo-checkpoint -s "file:$BATS_TEST_TMPDIR/pos" <"$BATS_TEST_TMPDIR/out" 3>&- &
	cpid=$!
	pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/in"
	{ begin 0/10; rec insert idle 0/10 1 '"new":{"id":1,"email":"a","n":1}'; commit 0/10 2; } >&5
	for _ in $(seq 1 100); do
		[ "$(pgflo-checkpoint -g "file:$BATS_TEST_TMPDIR/pos" -f commit_lsn 2>/dev/null)" = 0/10 ] && break
		sleep 0.1
	done
	run -0 pgflo-checkpoint -g "file:$BATS_TEST_TMPDIR/pos" -f commit_lsn
	assert_output 0/10
	kill -9 "$cpid"
	t0=$EPOCHREALTIME
	wait_exit "$pid" 10
	t1=$EPOCHREALTIME
	exec 5>&-
	wait "$cpid" || true
	assert_equal "$st" 141
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	echo "the sink ended ${ms} ms after the checkpoint"
	[ "$ms" -le 3000 ]
}

@test "pgflo-sink-pg: Ctrl-C of capture | sink-pg | checkpoint, 4 times: all exit 0, the position is stored" {
	psql_src -c 'CREATE TABLE cc (id serial PRIMARY KEY, v text)'
	psql_dst -c 'CREATE TABLE cc (id int PRIMARY KEY, v text)'
	pgflo-capture -d "$PGFLO_SRC" -S s_cc -t public.cc --create-slot -E 0/1
	# The README's line, as a process group of its own, as in a terminal.
	# (This shell, a background job, ignores SIGINT; the tools catch it.)
	cat >"$BATS_TEST_TMPDIR/line" <<-'EOF'
		echo $$ >"$1.pgid"
		pgflo-capture -d "$PGFLO_SRC" -S s_cc -c "file:$1" 2>>"$2" |
			pgflo-sink-pg -d "$PGFLO_DST" 2>>"$2" |
			pgflo-checkpoint -s "file:$1" 2>>"$2"
		echo "${PIPESTATUS[*]}" >>"$3"
	EOF
	T=$BATS_TEST_TMPDIR
	for round in 1 2 3 4; do
		# Changes keep flowing, so the sink has a last commit to report.
		( for i in $(seq 1 80); do
			psql_src -c "INSERT INTO cc (v) VALUES ('r$round.$i')"
			sleep 0.02
		done ) 3>&- &
		writer=$!
		rm -f "$T/pos.pgid"
		setsid bash "$T/line" "$T/pos" "$T/err" "$T/rc" 3>&- &
		job=$!
		for _ in $(seq 1 50); do
			[ -s "$T/pos.pgid" ] && [ -s "$T/pos" ] && break
			sleep 0.1
		done
		sleep 0.5
		kill -INT -- -"$(cat "$T/pos.pgid")"
		wait_exit "$job" 20 || { cat "$T/err"; false; }
		wait "$writer"
		stored=$(pgflo-checkpoint -g "file:$T/pos" | jq -c '[.commit_lsn, .ordinal]')
		applied=$(psql_dst -c "SELECT json_build_array(commit_lsn::text, ordinal) FROM pgflo.applied WHERE group_name = '$PGFLO_GROUP'")
		echo "round $round: stored $stored, applied $applied"
		assert_equal "$stored" "$(jq -c . <<<"$applied")"
	done
	cat "$T/err"
	run cat "$T/rc"
	assert_output '0 0 0
0 0 0
0 0 0
0 0 0'
}

# The hardening cases of issue 10: each failed before its fix.

@test "pgflo-sink-pg: --create-tables never pastes a type name: an unclosed quoted identifier is refused" {
	# With this domain, the old check let the next column's name become SQL.
	psql_dst -c 'CREATE TABLE victim (id int); CREATE DOMAIN """, " AS text'
	T='"key":["id"],"types":{"id":"integer","a":"\"\"\"",") ; drop table victim; --":"text"}'
	run --separate-stderr pgflo-sink-pg -c -d "$PGFLO_DST" <<<'{"op":"insert","schema":"public","table":"inj","commit_lsn":"0/10","ordinal":1,'"$T"',"new":{"id":1}}'
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: insert "public"."inj" (id)=(1): cannot create "public"."inj": unsafe type name """'
	run psql_dst -c "SELECT to_regclass('public.victim') IS NOT NULL, to_regclass('public.inj') IS NULL"
	assert_output 't|t'
}

@test "pgflo-sink-pg: --create-tables writes the target's own type names: modifiers, intervals, domains, enums, arrays" {
	psql_dst -c "CREATE SCHEMA \"S q\"; CREATE TYPE \"S q\".\"E n\" AS ENUM ('a'); CREATE DOMAIN \"My Dom\" AS int"
	T='"key":["id"],"types":{"id":"bigint","ts":"timestamp(3) with time zone","i":"interval day to second(2)","y":"interval year to month","p":"interval(3)","b":"bit(4)","bb":"\"bit\"","c":"character(5)","e":"\"S q\".\"E n\"[]","d":"\"My Dom\"","t":"time(2) without time zone","ch":"\"char\""}'
	echo '{"op":"insert","schema":"public","table":"canon","commit_lsn":"0/10","ordinal":1,'"$T"',"new":{"id":1,"i":"1 day 00:00:01.25","e":["a"],"d":3}}' |
		pgflo-sink-pg -c -d "$PGFLO_DST" >/dev/null
	run psql_dst -c "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'canon'::regclass AND attnum > 0"
	assert_output 'bigint, timestamp(3) with time zone, interval day to second(2), interval year to month, interval(3), bit(4), "bit", character(5), "S q"."E n"[], "My Dom", time(2) without time zone, "char"'
	run psql_dst -c "SELECT id, i, e, d FROM canon"
	assert_output '1|1 day 00:00:01.25|{a}|3'
	# A type the target lacks, or a modifier it does not take, is named.
	run --separate-stderr pgflo-sink-pg -c -d "$PGFLO_DST" <<<'{"op":"insert","schema":"public","table":"canon2","commit_lsn":"0/20","ordinal":1,"key":["id"],"types":{"id":"integer","v":"nosuchtype(3)"},"new":{"id":1}}'
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: insert "public"."canon2" (id)=(1): cannot create "public"."canon2": type nosuchtype(3) does not exist in the target'
	run --separate-stderr pgflo-sink-pg -c -d "$PGFLO_DST" <<<'{"op":"insert","schema":"public","table":"canon2","commit_lsn":"0/20","ordinal":1,"key":["id"],"types":{"id":"integer","v":"numeric(1001)"},"new":{"id":1}}'
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: insert "public"."canon2" (id)=(1): cannot create "public"."canon2": type numeric(1001): NUMERIC precision 1001 must be between 1 and 1000'
}

@test "pgflo-sink-pg: a change without commit_lsn is a bad record; its transaction is applied whole or not at all" {
	users_table mk 'CHECK (n > 0)'
	{
		begin 0/10
		rec insert mk 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		echo '{"op":"insert","schema":"public","table":"mk",'"$U_TYPES"',"new":{"id":2,"email":"b","n":1}}'
		rec insert mk 0/10 3 '"new":{"id":3,"email":"c","n":-1}'
		commit 0/10 4
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:3: insert record without commit_lsn'
	run psql_dst -c "SELECT count(*) FROM mk"
	assert_output '0'
	run psql_dst -c "SELECT count(*) FROM pgflo.applied WHERE group_name = '$PGFLO_GROUP'"
	assert_output '0'
	# Outside a transaction too: every change capture writes has one.
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<'{"op":"delete","schema":"public","table":"mk",'"$U_TYPES"',"old":{"id":1}}'
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: delete record without commit_lsn'
	# A snapshot row belongs to no transaction.
	{
		begin 0/20
		rec insert mk 0/20 1 '"new":{"id":4,"email":"a","n":1}'
		echo '{"op":"insert","schema":"public","table":"mk","snapshot":true,'"$U_TYPES"',"new":{"id":5,"email":"b","n":1}}'
		commit 0/20 2
	} >"$BATS_TEST_TMPDIR/in2"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in2"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:3: a snapshot record inside a transaction'
	run psql_dst -c "SELECT count(*) FROM mk"
	assert_output '0'
}

@test "pgflo-sink-pg: a bad line after a transaction whose commit is missing exits 1, the transaction before committed" {
	users_table sil
	{
		begin 0/10
		rec insert sil 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		begin 0/20
		echo 'not json'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	[[ $stderr == "pgflo-sink-pg: <stdin>:4: invalid JSON: "* ]]
	# 0/10 ended where 0/20 began.
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":1,"group":"'"$PGFLO_GROUP"'"}'
	run psql_dst -c "SELECT id FROM sil"
	assert_output '1'
}

@test "pgflo-sink-pg: the first error is reported with its line: a missing table before a transaction, a deferred constraint at commit" {
	users_table fe
	{
		rec insert nosuch 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		txn 0/20 fe insert '"new":{"id":1,"email":"a","n":1}' \
		    update '"new":{"id":1,"email":"b","n":1}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: insert "public"."nosuch" (id)=(1): relation "public.nosuch" does not exist'
	# A deferred foreign key fails at COMMIT: its transaction is found.
	psql_dst -c "CREATE TABLE dp (id int PRIMARY KEY); CREATE TABLE dc (id int PRIMARY KEY, p int REFERENCES dp DEFERRABLE INITIALLY DEFERRED)"
	P='"key":["id"],"types":{"id":"integer","p":"integer"}'
	{
		echo '{"op":"insert","schema":"public","table":"dp","commit_lsn":"0/10","ordinal":1,"key":["id"],"types":{"id":"integer"},"new":{"id":1}}'
		echo '{"op":"insert","schema":"public","table":"dc","commit_lsn":"0/20","ordinal":1,'"$P"',"new":{"id":1,"p":9}}'
		echo '{"op":"insert","schema":"public","table":"dp","commit_lsn":"0/30","ordinal":1,"key":["id"],"types":{"id":"integer"},"new":{"id":3}}'
	} >"$BATS_TEST_TMPDIR/in2"
	run --separate-stderr pgflo-sink-pg -g deferred -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in2"
	assert_failure 1
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":1,"group":"deferred"}'
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:2: insert "public"."dc" (id)=(1): commit failed: insert or update on table "dc" violates foreign key constraint "dc_p_fkey" (Key (p)=(9) is not present in table "dp".)'
	run psql_dst -c "SELECT (SELECT string_agg(id::text, ',') FROM dp), (SELECT count(*) FROM dc)"
	assert_output '1|0'
}

@test "pgflo-sink-pg: --dead-letter sets a transaction aside once: a rerun skips it (257 missing tables)" {
	users_table dlr
	{
		rec insert dlr 0/8 1 '"new":{"id":1,"email":"a","n":1}'
		for i in $(seq 1 257); do
			rec insert "miss$i" "0/$(printf %X $((i * 16)))" 1 '"new":{"id":1,"email":"a","n":1}'
		done
		begin 1/10
		rec insert dlr 1/10 1 '"new":{"id":2,"email":"a","n":1}'
		rec insert gone 1/10 2 '"new":{"id":3,"email":"a","n":1}'
		commit 1/10 3
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg --dead-letter "$BATS_TEST_TMPDIR/dead" -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	# The last position is that of the transaction set aside last.
	assert_output '{"op":"position","commit_lsn":"1/10","ordinal":3,"group":"'"$PGFLO_GROUP"'"}'
	[ "$(grep -c '^pgflo-sink-pg: <stdin>:[0-9]*: insert "public"."miss[0-9]*" (id)=(1): relation "public.miss[0-9]*" does not exist (transaction written to' <<<"$stderr")" -eq 257 ]
	[ "$(wc -l <<<"$stderr")" -eq 258 ]
	[[ $stderr == *'<stdin>:261: insert "public"."gone" (id)=(3): relation "public.gone" does not exist (transaction written to '* ]]
	run cat "$BATS_TEST_TMPDIR/dead"
	assert_output "$(sed -n 2,262p "$BATS_TEST_TMPDIR/in")"
	# Again: nothing is set aside twice, nothing applied twice.
	run --separate-stderr pgflo-sink-pg -v --dead-letter "$BATS_TEST_TMPDIR/dead" -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output ''
	[[ $stderr == *'pgflo-sink-pg: 0 changes applied, 262 records skipped, 0 commits' ]]
	[[ $stderr != *'written to'* ]]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/dead")" -eq 261 ]
	run psql_dst -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM dlr"
	assert_output '1'
}

@test "pgflo-sink-pg: a record of 100,000 columns is a bad record naming its line; what came before commits" {
	users_table wide
	{
		begin 0/10
		rec insert wide 0/10 1 '"new":{"id":1,"email":"a","n":1}'
		commit 0/10 2
		awk 'BEGIN { printf "{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"wide\",\"commit_lsn\":\"0/20\",\"ordinal\":1,\"key\":[\"c1\"],\"types\":{";
		  for (i = 1; i <= 100000; i++) printf "%s\"c%d\":\"integer\"", (i > 1 ? "," : ""), i;
		  printf "},\"new\":{";
		  for (i = 1; i <= 100000; i++) printf "%s\"c%d\":%d", (i > 1 ? "," : ""), i, i;
		  print "}}" }'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"'"$PGFLO_GROUP"'"}'
	assert_equal "$stderr" "pgflo-sink-pg: <stdin>:4: record has more than 1600 columns, PostgreSQL's limit"
	run psql_dst -c "SELECT id FROM wide"
	assert_output '1'
}

@test "pgflo-sink-pg: a NUL byte or a name longer than 63 bytes is refused, never cut short" {
	long=$(printf 'a%.0s' $(seq 1 63))
	psql_dst -c "CREATE TABLE nt (id int PRIMARY KEY, v text); CREATE TABLE $long (id int PRIMARY KEY, v text)"
	T='"key":["id"],"types":{"id":"integer","v":"text"}'
	ins() { printf '{"op":"insert","schema":"%s","table":"%s","commit_lsn":"0/10","ordinal":1,%s,"new":%s}\n' "$1" "$2" "$T" "$3"; }
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(ins public 'nt\u0000evil' '{"id":1,"v":"x"}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: the table name holds a NUL byte (\u0000), which PostgreSQL cannot store'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(ins public nt '{"id":2,"v":"abc\u0000hidden tail"}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: column v: a text value holds a NUL byte (\u0000), which PostgreSQL cannot store'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(ins public "${long}b" '{"id":3,"v":"x"}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: the table name is 64 bytes long, more than the 63 of a PostgreSQL name'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(ins 'pub\u0000lic' nt '{"id":4,"v":"x"}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: the schema name holds a NUL byte (\u0000), which PostgreSQL cannot store'
	T='"key":["id"],"types":{"id":"integer","'"${long}x"'":"text"}'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(ins public nt '{"id":5}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: a column name is 64 bytes long, more than the 63 of a PostgreSQL name'
	# In a snapshot row (COPY) too; a json value may hold it, jsonb says no.
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<'{"op":"insert","schema":"public","table":"nt","snapshot":true,"key":["id"],"types":{"id":"integer","v":"text[]"},"new":{"id":6,"v":["ok","a\u0000b"]}}'
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: column v: a text[] value holds a NUL byte (\u0000), which PostgreSQL cannot store'
	run psql_dst -c "SELECT (SELECT count(*) FROM nt) + (SELECT count(*) FROM $long)"
	assert_output '0'
}

@test "pgflo-sink-pg: --apply-ddl applies one statement whose command tag is the record's, nothing else" {
	psql_dst -c "CREATE TABLE ddl_v (id int PRIMARY KEY, email text, n int); CREATE TABLE victim2 (id int)"
	ddl() { printf '{"op":"ddl","schema":"public","table":"ddl_v","commit_lsn":"%s","ordinal":1,"tag":"%s","object_type":"table","statement":"%s"}\n' "$1" "$2" "$3"; }
	n=0
	for stmt in 'ALTER TABLE ddl_v ADD COLUMN a int; DROP TABLE victim2' 'DROP TABLE victim2'; do
		n=$((n + 1))
		{
			rec insert ddl_v 0/10 1 '"new":{"id":1,"email":"a","n":1}'
			ddl 0/20 'ALTER TABLE' "$stmt"
		} >"$BATS_TEST_TMPDIR/in"
		run --separate-stderr pgflo-sink-pg -g "hard$n" -a -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
		assert_failure 1
		assert_output '{"op":"position","commit_lsn":"0/10","ordinal":1,"group":"hard'$n'"}'
		case $stmt in
		*\;*) assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:2: ddl "public"."ddl_v": the statement holds more than one command: not applied (-a applies single statements only)' ;;
		*) assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:2: ddl "public"."ddl_v": the statement is no ALTER TABLE: not applied: DROP TABLE victim2' ;;
		esac
	done
	# The tag PostgreSQL reports must be the record's: else rolled back.
	run --separate-stderr pgflo-sink-pg -g hard3 -a -d "$PGFLO_DST" <<<"$(ddl 0/30 'CREATE INDEX' 'CREATE TABLE victim3 (id int)')"
	assert_failure 1
	assert_equal "$stderr" "pgflo-sink-pg: <stdin>:1: ddl \"public\".\"ddl_v\": the statement was CREATE TABLE, the record's tag is CREATE INDEX: rolled back"
	run psql_dst -c "SELECT to_regclass('victim2') IS NOT NULL, to_regclass('victim3') IS NULL, (SELECT count(*) FROM pg_attribute WHERE attrelid = 'ddl_v'::regclass AND attname = 'a')"
	assert_output 't|t|0'
	# With -s: names of the source schema rewritten, search_path set for it.
	psql_dst -c "CREATE SCHEMA ddlo; CREATE TABLE ddlo.dm (id int PRIMARY KEY)"
	{
		echo '{"op":"ddl","schema":"app","table":"dm","commit_lsn":"0/40","ordinal":1,"tag":"ALTER TABLE","object_type":"table","statement":"ALTER TABLE app.dm ADD COLUMN x int"}'
		echo '{"op":"ddl","schema":"app","table":"dm","commit_lsn":"0/50","ordinal":1,"tag":"CREATE TABLE AS","object_type":"table","statement":"CREATE TABLE dm2 AS SELECT 1 AS id"}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -g hard4 -a -s app=ddlo -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'ddlo.dm'::regclass AND attname = 'x'), to_regclass('ddlo.dm2') IS NOT NULL"
	assert_output '1|t'
}

@test "pgflo-sink-pg: --dead-letter in a large batch sets aside the one transaction, the ones before and after are applied" {
	users_table big_dl
	{
		for t in 1 2 3 4 5; do
			begin "0/${t}0"
			rec insert big_dl "0/${t}0" 1 '"new":{"id":'$t'1,"email":"a","n":1}'
			if [ "$t" = 3 ]; then
				echo '{"op":"insert","schema":"public","table":"big_dl",'"$U_TYPES"',"new":{"id":32,"email":"a","n":1}}'
			fi
			rec insert big_dl "0/${t}0" 2 '"new":{"id":'$t'3,"email":"a","n":1}'
			commit "0/${t}0" 3
		done
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -m 1h --dead-letter "$BATS_TEST_TMPDIR/dead" -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/50","ordinal":3,"group":"'"$PGFLO_GROUP"'"}'
	assert_equal "$stderr" "pgflo-sink-pg: <stdin>:11: insert record without commit_lsn (transaction written to $BATS_TEST_TMPDIR/dead)"
	run psql_dst -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM big_dl"
	assert_output '11,13,21,23,41,43,51,53'
	run cat "$BATS_TEST_TMPDIR/dead"
	assert_output "$(sed -n 9,13p "$BATS_TEST_TMPDIR/in")"
}

@test "pgflo-sink-pg: an error message is one line, whatever the values hold" {
	users_table nl 'CHECK (n > 0)'
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <<<"$(rec insert nl 0/10 1 '"new":{"id":1,"email":"two\nlines","n":-1}')"
	assert_failure 1
	assert_equal "$stderr" 'pgflo-sink-pg: <stdin>:1: insert "public"."nl" (id)=(1): new row for relation "nl" violates check constraint "nl_n_check" (Failing row contains (1, two lines, -1).)'
}

@test "pgflo-sink-pg: batched updates and deletes keep their order: a row twice, delete after update, key moves, unchanged columns" {
	users_table ub
	psql_dst -c "INSERT INTO ub SELECT i, 'e' || i, i FROM generate_series(1, 300) i"
	{
		begin 0/100
		o=0
		# Runs of one shape around the orderings that split them.
		for i in $(seq 10 10 300); do
			rec update ub 0/100 $((++o)) '"new":{"id":'$i',"email":"u'$i'","n":-'$i'}'
		done
		rec update ub 0/100 $((++o)) '"new":{"id":1,"email":"a1","n":10}'
		rec update ub 0/100 $((++o)) '"new":{"id":1,"email":"a2","n":11}'
		rec update ub 0/100 $((++o)) '"new":{"id":2,"email":"b1","n":20}'
		rec delete ub 0/100 $((++o)) '"old":{"id":2}'
		rec delete ub 0/100 $((++o)) '"old":{"id":3}'
		rec insert ub 0/100 $((++o)) '"new":{"id":3,"email":"c1","n":30}'
		rec update ub 0/100 $((++o)) '"new":{"id":3,"email":"c2","n":31}'
		rec update ub 0/100 $((++o)) '"new":{"id":4,"n":40},"unchanged":["email"]'
		rec update ub 0/100 $((++o)) '"new":{"id":4,"email":"d1","n":41}'
		rec update ub 0/100 $((++o)) '"new":{"id":5,"n":50},"unchanged":["email"]'
		rec update ub 0/100 $((++o)) '"old":{"id":5},"new":{"id":1005,"email":"e5","n":51}'
		rec update ub 0/100 $((++o)) '"new":{"id":1005,"email":"e5b","n":52}'
		rec update ub 0/100 $((++o)) '"new":{"id":6,"email":"f1","n":60}'
		rec delete ub 0/100 $((++o)) '"old":{"id":6}'
		rec update ub 0/100 $((++o)) '"new":{"id":6,"email":"f2","n":61}'
		rec delete ub 0/100 $((++o)) '"old":{"id":7}'
		rec delete ub 0/100 $((++o)) '"old":{"id":7}'
		rec update ub 0/100 $((++o)) '"new":{"id":9999,"email":"none","n":0}'
		rec update ub 0/100 $((++o)) '"new":{"id":8,"email":"g1","n":80}'
		rec update ub 0/100 $((++o)) '"new":{"id":9,"email":"h1","n":90}'
		rec update ub 0/100 $((++o)) '"new":{"id":8,"email":"g2","n":81}'
		for i in $(seq 11 300); do
			rec delete ub 0/100 $((++o)) '"old":{"id":'$i'}'
		done
		commit 0/100 $((++o))
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT id, coalesce(email, 'NULL'), n FROM ub ORDER BY id"
	assert_output "$(printf '%s\n' 1\|a2\|11 3\|c2\|31 4\|d1\|41 8\|g2\|81 9\|h1\|90 \
		10\|u10\|-10 1005\|e5b\|52)"
}

@test "pgflo-sink-pg: batched updates of a composite key and a unique-index key, across transactions" {
	psql_dst -c "CREATE TABLE ubk (a int, b text, v text, w int, PRIMARY KEY (a, b));
	  CREATE TABLE ubu (id serial PRIMARY KEY, code text NOT NULL UNIQUE, v int);
	  INSERT INTO ubk SELECT i % 3, 'k' || i, 'v', 0 FROM generate_series(1, 9) i;
	  INSERT INTO ubu (code, v) SELECT 'c' || i, 0 FROM generate_series(1, 5) i"
	CT='"key":["a","b"],"types":{"a":"integer","b":"text","v":"text","w":"integer"}'
	UT='"key":["code"],"types":{"code":"text","v":"integer"}'
	c() { printf '{"op":"%s","schema":"public","table":"ubk","commit_lsn":"%s","ordinal":%s,%s,%s}\n' "$1" "$2" "$3" "$CT" "$4"; }
	u() { printf '{"op":"%s","schema":"public","table":"ubu","commit_lsn":"%s","ordinal":%s,%s,%s}\n' "$1" "$2" "$3" "$UT" "$4"; }
	{
		begin 0/100
		c update 0/100 1 '"new":{"a":1,"b":"k1","v":"x","w":1}'
		c update 0/100 2 '"new":{"a":1,"b":"k4","v":"y","w":2}'
		c update 0/100 3 '"new":{"a":1,"b":"k1","v":"z","w":3}'
		c delete 0/100 4 '"old":{"a":2,"b":"k2"}'
		commit 0/100 5
		begin 0/200
		u update 0/200 1 '"new":{"code":"c1","v":1}'
		u update 0/200 2 '"new":{"code":"c2","v":2}'
		c update 0/200 3 '"new":{"a":0,"b":"k3","v":"q","w":4}'
		u update 0/200 4 '"new":{"code":"c1","v":3}'
		# The same key written with an escape: not twice in a statement.
		u update 0/200 5 '"new":{"code":"\u00631","v":4}'
		u delete 0/200 6 '"old":{"code":"c5"}'
		commit 0/200 7
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	assert_success
	run psql_dst -c "SELECT a, b, v, w FROM ubk WHERE w > 0 OR a = 2 ORDER BY a, b"
	assert_output $'0|k3|q|4\n1|k1|z|3\n1|k4|y|2\n2|k5|v|0\n2|k8|v|0'
	run psql_dst -c "SELECT code, v FROM ubu ORDER BY code"
	assert_output $'c1|4\nc2|2\nc3|0\nc4|0'
}

# snaprows TABLE [KEY]: records TABLE as snapshot rows (no position), with
# "key" KEY (default ["id"]).
snaprows() {
	records "$1" 0/0 | sed -E 's/"commit_lsn" : "0\/0", "ordinal" : [0-9]+/"snapshot" : true/;
	  s/"key" : \["id"\]/"key" : '"${2:-[\"id\"]}"'/'
}

@test "pgflo-sink-pg: -j 3 loads snapshot rows over three connections; markers after the commit, in order; the stream after sees the rows" {
	ddl="CREATE TABLE jb1 (id int PRIMARY KEY, v text, n numeric(12,2));
	  CREATE TABLE jb2 (id int PRIMARY KEY, v text, n numeric(12,2));
	  CREATE TABLE jb3 (id int, v text, n numeric(12,2))"
	psql_src -c "$ddl"
	psql_dst -c "$ddl"
	psql_src -c "INSERT INTO jb1 SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 20000) i;
	  INSERT INTO jb2 SELECT i, E'x\\t' || i, i FROM generate_series(1, 6000) i;
	  INSERT INTO jb3 SELECT i % 100, 'k' || i, i FROM generate_series(1, 3000) i"
	in=$BATS_TEST_TMPDIR/in
	{
		m() { printf '{"op":"snapshot","phase":"%s","schema":"public","table":"%s"%s}\n' "$@"; }
		m begin jb1 ''; m begin jb2 ''; m begin jb3 ''
		snaprows jb1 >"$BATS_TEST_TMPDIR/jb1"
		snaprows jb2 >"$BATS_TEST_TMPDIR/jb2"
		snaprows jb3 '[]' >"$BATS_TEST_TMPDIR/jb3"
		# Chunks of the tables interleaved, a marker after each.
		for c in 0 1 2 3; do
			sed -n "$((c * 5000 + 1)),$((c * 5000 + 5000))p" "$BATS_TEST_TMPDIR/jb1"
			m chunk jb1 ',"chunk":'$c
			sed -n "$((c * 1500 + 1)),$((c * 1500 + 1500))p" "$BATS_TEST_TMPDIR/jb2"
			m chunk jb2 ',"chunk":'$c
			sed -n "$((c * 750 + 1)),$((c * 750 + 750))p" "$BATS_TEST_TMPDIR/jb3"
		done
		m end jb1 ',"rows":20000'; m end jb2 ',"rows":6000'; m end jb3 ',"rows":3000'
		# The stream after the copy, in the batch of the last rows: a
		# statement each (they alternate), so they run before the commit.
		begin 0/100
		for i in $(seq 1 300); do
			printf '{"op":"update","schema":"public","table":"jb1","commit_lsn":"0/100","ordinal":%d,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":%d,"v":"late"}}\n' $((2 * i - 1)) $((19000 + i))
			printf '{"op":"delete","schema":"public","table":"jb2","commit_lsn":"0/100","ordinal":%d,"key":["id"],"types":{"id":"integer"},"old":{"id":%d}}\n' $((2 * i)) $((3000 + i))
		done
		commit 0/100 601
	} >"$in"
	# One batch: the change must see rows the loaders have not committed.
	run --separate-stderr pgflo-sink-pg -j 3 -b 100000 -m 60000 -d "$PGFLO_DST" <"$in"
	echo "$stderr"
	assert_success
	assert_output "$(grep '"op":"snapshot"' "$in"; echo '{"op":"position","commit_lsn":"0/100","ordinal":601,"group":"'"$PGFLO_GROUP"'"}')"
	psql_src -c "UPDATE jb1 SET v = 'late' WHERE id BETWEEN 19001 AND 19300;
	  DELETE FROM jb2 WHERE id BETWEEN 3001 AND 3300"
	for t in jb1 jb2; do
		want=$(digest psql_src $t)
		run digest psql_dst $t
		assert_output "$want"
	done
	want=$(psql_src -c "SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM jb3 r")
	run psql_dst -c "SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM jb3 r"
	assert_output "$want"
}

@test "pgflo-sink-pg: -j 2 with snapshot rows whose keys exist: the loaders' COPY fails, the batch applies again as upserts" {
	psql_src -c "CREATE TABLE jx (id int PRIMARY KEY, v text);
	  INSERT INTO jx SELECT i, 'v' || i FROM generate_series(1, 3000) i"
	psql_dst -c "CREATE TABLE jx (id int PRIMARY KEY, v text);
	  INSERT INTO jx SELECT i, 'old' FROM generate_series(1000, 4000, 10) i"
	snaprows jx >"$BATS_TEST_TMPDIR/in"
	echo '{"op":"snapshot","phase":"end","schema":"public","table":"jx","rows":3000}' >>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-pg -j 2 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	echo "$stderr"
	assert_success
	assert_output '{"op":"snapshot","phase":"end","schema":"public","table":"jx","rows":3000}'
	run psql_dst -c "SELECT count(*), count(*) FILTER (WHERE v = 'old'), min(id), max(id) FROM jx"
	assert_output '3100|100|1|4000'
	want=$(digest psql_src jx)
	run digest psql_dst "(SELECT * FROM jx WHERE id <= 3000)"
	assert_output "$want"
}

@test "pgflo-sink-pg: -j and PGFLO_JOBS take 1 to 32" {
	run --separate-stderr pgflo-sink-pg -j 0 -d "$PGFLO_DST"
	assert_failure 2
	[[ $stderr == *"invalid --jobs: 0"* ]]
	PGFLO_JOBS=33 run --separate-stderr pgflo-sink-pg -d "$PGFLO_DST"
	assert_failure 2
	[[ $stderr == *"invalid PGFLO_JOBS: 33"* ]]
	PGFLO_JOBS=2 run --separate-stderr pgflo-sink-pg -j 1 -d "$PGFLO_DST" </dev/null
	assert_success
}

@test "pgflo-sink-pg: -j 2 while another session locks the table: the loaders give up after 5 s, the batch applies over one connection" {
	psql_src -c "CREATE TABLE jl (id int PRIMARY KEY, v text);
	  INSERT INTO jl SELECT i, 'v' || i FROM generate_series(1, 2000) i"
	psql_dst -c "CREATE TABLE jl (id int PRIMARY KEY, v text)"
	snaprows jl >"$BATS_TEST_TMPDIR/in"
	echo '{"op":"snapshot","phase":"end","schema":"public","table":"jl","rows":2000}' >>"$BATS_TEST_TMPDIR/in"
	psql_dst -c "BEGIN; LOCK TABLE jl IN SHARE MODE; SELECT pg_sleep(8); COMMIT" >/dev/null &
	lockpid=$!
	sleep 1
	start=$SECONDS
	run --separate-stderr pgflo-sink-pg -v -j 2 -d "$PGFLO_DST" <"$BATS_TEST_TMPDIR/in"
	wait "$lockpid"
	echo "$stderr"
	assert_success
	assert_output '{"op":"snapshot","phase":"end","schema":"public","table":"jl","rows":2000}'
	[[ $stderr == *"COPY loaders failed (COPY loader: "*"lock timeout"*"): one connection instead"* ]]
	[ $((SECONDS - start)) -ge 5 ]
	want=$(digest psql_src jl)
	run digest psql_dst jl
	assert_output "$want"
}

@test "pgflo-sink-pg: an older pgflo.applied gets commit_ts in place; it holds the applied transaction's commit time" {
	local db="${PGFLO_DST/dbname=dst/dbname=old50}" weak
	psql_admin -c "CREATE DATABASE old50 OWNER pgflo"
	# pgflo.applied as pgflo-sink-pg made it before commit_ts.
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE SCHEMA pgflo;
	  CREATE TABLE pgflo.applied (group_name text PRIMARY KEY,
	    commit_lsn pg_lsn, ordinal bigint, stream_seq bigint,
	    updated_at timestamptz NOT NULL DEFAULT now());
	  INSERT INTO pgflo.applied VALUES ('g', '0/50', 2, NULL, now());
	  CREATE TABLE public.users (id int PRIMARY KEY, email text, n int)"
	ts() { printf '"xid":1,"commit_ts":"%s"' "$1"; }
	{
		printf '{"op":"begin","commit_lsn":"0/100","ordinal":0,%s}\n' "$(ts 2026-11-23T18:00:00.123456Z)"
		printf '{"op":"insert","schema":"public","table":"users","commit_lsn":"0/100","ordinal":1,%s,%s,"new":{"id":1,"email":"a","n":1}}\n' \
			"$(ts 2026-11-23T18:00:00.123456Z)" "$U_TYPES"
		printf '{"op":"commit","commit_lsn":"0/100","ordinal":2,%s}\n' "$(ts 2026-11-23T18:00:00.123456Z)"
	} >"$BATS_TEST_TMPDIR/in1"
	run -0 --separate-stderr pgflo-sink-pg -d "$db" -g g <"$BATS_TEST_TMPDIR/in1"
	assert_equal "$stderr" ""
	q="SELECT commit_lsn, ordinal, to_char(commit_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM pgflo.applied WHERE group_name = 'g'"
	assert_equal "$(psql -X -At -d "$db" -c "$q")" "0/100|2|2026-11-23 18:00:00.123456"
	# Again (idempotent), a later transaction with a short fraction; the
	# commit record alone carries the time.
	{
		cat "$BATS_TEST_TMPDIR/in1"
		rec insert users 0/200 1 '"new":{"id":2,"email":"b","n":2}'
		printf '{"op":"commit","commit_lsn":"0/200","ordinal":2,%s}\n' "$(ts 2026-11-23T18:00:05.5Z)"
	} >"$BATS_TEST_TMPDIR/in2"
	run -0 --separate-stderr pgflo-sink-pg -d "$db" -g g <"$BATS_TEST_TMPDIR/in2"
	assert_equal "$stderr" ""
	assert_equal "$(psql -X -At -d "$db" -c "$q")" "0/200|2|2026-11-23 18:00:05.500000"
	assert_equal "$(psql -X -At -d "$db" -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'pgflo.applied'::regclass AND attname = 'commit_ts'")" 1
	# A transaction without a commit time (or a bad one) stores null.
	{
		rec insert users 0/300 1 '"new":{"id":3,"email":"c","n":3}'
		printf '{"op":"commit","commit_lsn":"0/300","ordinal":2,%s}\n' "$(ts 2026-02-30T00:00:00Z)"
	} | pgflo-sink-pg -d "$db" -g g >/dev/null
	assert_equal "$(psql -X -At -d "$db" -c "$q")" "0/300|2|"
	# A role that may use the old table but not alter it: a warning, and
	# it applies as before.
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER TABLE pgflo.applied DROP COLUMN commit_ts;
	  GRANT USAGE ON SCHEMA pgflo TO pgflo_weak;
	  GRANT SELECT, INSERT, UPDATE ON pgflo.applied, public.users TO pgflo_weak"
	weak="$db user=pgflo_weak"
	rec insert users 0/400 1 '"new":{"id":4,"email":"d","n":4}' >"$BATS_TEST_TMPDIR/in4"
	run -0 --separate-stderr pgflo-sink-pg -d "$weak" -g g <"$BATS_TEST_TMPDIR/in4"
	assert_equal "$stderr" "pgflo-sink-pg: warning: pgflo.applied has no commit_ts column and it cannot be added (ERROR:  must be owner of table applied): the target's lag in seconds stays unknown"
	assert_equal "$(psql -X -At -d "$db" -c "SELECT commit_lsn, ordinal FROM pgflo.applied WHERE group_name = 'g'")" "0/400|1"
	assert_equal "$(psql -X -At -d "$db" -c 'SELECT count(*) FROM public.users')" 4
}

# slow_txns N TABLE: N one-row transactions on TABLE, 0.3 s apart, each
# with the time it was written as its commit_ts.
slow_txns() {
	local i ts lsn
	for ((i = 1; i <= $1; i++)); do
		ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
		lsn=$(printf '0/%X' $((0x1000000 + i * 256)))
		printf '{"op":"begin","commit_lsn":"%s","ordinal":0,"xid":%d,"commit_ts":"%s"}\n' "$lsn" "$i" "$ts"
		rec insert "$2" "$lsn" 1 "\"new\":{\"id\":$i,\"email\":\"e\",\"n\":$i}"
		printf '{"op":"commit","commit_lsn":"%s","ordinal":2,"xid":%d,"commit_ts":"%s"}\n' "$lsn" "$i" "$ts"
		sleep 0.3
	done
}

@test "pgflo-sink-pg: --progress keeps one line of rows, rows/s and lag on stderr; nothing on a pipe unless asked" {
	users_table prog50
	slow_txns 8 prog50 |
		pgflo-sink-pg -d "$PGFLO_DST" -m 50 --progress >/dev/null 2>"$BATS_TEST_TMPDIR/err"
	# One line, rewritten: every update starts with \r, only the last ends.
	assert_equal "$(head -c 1 "$BATS_TEST_TMPDIR/err" | od -An -c | tr -d ' ')" '\r'
	run -0 tr '\r' '\n' <"$BATS_TEST_TMPDIR/err"
	((${#lines[@]} >= 3))
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^pgflo-sink-pg:\ [0-9]+\ rows,\ [0-9]+\ rows/s,\ lag\ [0-9]+\.[0-9]s\ *$ ]] ||
			fail "not a progress line: '$l'"
	done
	[[ "${lines[-1]}" =~ ^pgflo-sink-pg:\ 8\ rows,\ [0-9]+\ rows/s,\ lag\ 0\.[0-9]s$ ]]
	assert_equal "$(tr -cd '\n' <"$BATS_TEST_TMPDIR/err" | wc -c)" 1
	assert_equal "$(tail -c 1 "$BATS_TEST_TMPDIR/err" | od -An -c | tr -d ' ')" '\n'
	assert_equal "$(psql_dst -c 'SELECT count(*) FROM prog50')" 8
	# Without it: nothing on a file or a pipe; --no-progress wins.
	psql_dst -c 'TRUNCATE prog50'
	export PGFLO_GROUP=${PGFLO_GROUP}b
	slow_txns 4 prog50 | pgflo-sink-pg -d "$PGFLO_DST" >/dev/null 2>"$BATS_TEST_TMPDIR/err2"
	assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/err2")" 0
	export PGFLO_GROUP=${PGFLO_GROUP}c
	run -0 bash -c "$(declare -f slow_txns rec); U_TYPES='$U_TYPES'; slow_txns 4 prog50 |
		pgflo-sink-pg -d \"\$PGFLO_DST\" 2>&1 >/dev/null | cat"
	assert_output ''
	run -0 bash -c "$(declare -f slow_txns rec); U_TYPES='$U_TYPES'; slow_txns 2 prog50 |
		pgflo-sink-pg -d \"\$PGFLO_DST\" -g x50 --progress --no-progress 2>&1 >/dev/null | cat"
	assert_output ''
	assert_equal "$(psql_dst -c 'SELECT count(*) FROM prog50')" 4
}
