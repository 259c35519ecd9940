#!/usr/bin/env bats
# pgflo-copy against a real PostgreSQL: snapshot copies into pgflo-sink-pg,
# the handover to pgflo-capture under concurrent writes, resuming after
# kill -9 with --checkpoint, and the odd tables (empty, never analysed,
# dead tuples, two schemas, partitions).

load test_helper

BIG_DDL="CREATE TABLE big (id bigint PRIMARY KEY, name text, val int,
  amount numeric(12,2), ts timestamptz, data jsonb, tags int[], flag bool,
  f float8, u uuid, d date, b bytea, note varchar(20)[],
  g int GENERATED ALWAYS AS (val * 2) STORED)"

setup_file() {
	pg_start
	psql_src -c "$BIG_DDL"
	psql_src -c "INSERT INTO big SELECT i,
	    'name ' || i || CASE WHEN i % 7 = 0 THEN E'\t\\\\q\"\n' ELSE '' END,
	    i % 1000, (i * 1.01)::numeric(12,2),
	    '2026-01-01'::timestamptz + i * interval '1.5 s',
	    jsonb_build_object('i', i, 'tag', 't' || (i % 13), 'a',
	        jsonb_build_array(i, 1.50, NULL, 'é')),
	    ARRAY[i, NULL, i % 5],
	    i % 2 = 0, CASE WHEN i % 100 = 0 THEN 'NaN'::float8 ELSE i / 7.0 END,
	    md5(i::text)::uuid, '2026-01-01'::date + (i % 365),
	    decode(md5(i::text), 'hex'),
	    CASE WHEN i % 3 = 0 THEN ARRAY['a,b', NULL, '{x}'] END
	  FROM generate_series(1, 500000) i"
	# One row with a ~2 MB jsonb value.
	psql_src -c "INSERT INTO big (id, data) SELECT 500001,
	    jsonb_build_object('blob', string_agg(md5(g::text), ''))
	  FROM generate_series(1, 65000) g"
}

teardown_file() {
	pg_stop
}

# newdb NAME: an empty target database NAME owned by pgflo; prints its
# conninfo.
newdb() {
	psql_admin -c "CREATE DATABASE $1 OWNER pgflo" >/dev/null
	psql_admin -c "ALTER ROLE pgflo IN DATABASE $1 SET search_path = public" >/dev/null
	echo "${PGFLO_SRC/dbname=src/dbname=$1}"
}

# digest CONNINFO TABLE [ORDER]: row count and md5 of the rows ordered by
# ORDER, id by default.
digest() {
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "SELECT count(*) || ' ' ||
	    coalesce(md5(string_agg(_r::text, E'\n' ORDER BY ${3:-id})), '-')
	  FROM $2 _r"
}

# same TARGET TABLE [ORDER]: the table is equal in src and TARGET.
same() {
	local a b
	a=$(digest "$PGFLO_SRC" "$2" "${3:-}")
	b=$(digest "$1" "$2" "${3:-}")
	echo "src $a / target $b"
	[ "$a" = "$b" ]
}

# same_rows TARGET TABLE: as same, for tables without a key: the whole rows
# in order, duplicates counted.
same_rows() {
	same "$1" "$2" _r::text
}

# Waits (up to 30 s) until table $2 of database $1 holds at least $3 rows
# (and fewer than $4, when given), to kill a stage mid-copy.
wait_rows() {
	local n
	for _ in $(seq 1 600); do
		n=$(psql -X -At -d "$1" -c "SELECT count(*) FROM $2")
		[ "$n" -ge "$3" ] && [ "$n" -lt "${4:-999999999}" ] && return 0
		sleep 0.05
	done
}

slots() {
	psql_admin -c "SELECT coalesce(string_agg(slot_name, ' ' ORDER BY slot_name), '')
	  FROM pg_replication_slots"
}

# lines_are LINE ...: $lines, the output of the last run, is these LINEs,
# no more and no fewer.
lines_are() {
	local i
	for ((i = 1; i <= $#; i++)); do
		[ "${lines[i - 1]}" = "${!i}" ] || return 1
	done
	[ "${#lines[@]}" -eq $# ]
}

@test "pgflo-copy: 500,001 rows with a 2 MB jsonb row land equal through pgflo-sink-pg" {
	dst=$(newdb t1)
	psql -X -q -d "$dst" -c "$BIG_DDL"
	run --separate-stderr bash -c 'set -o pipefail
	  pgflo-copy -d "$PGFLO_SRC" -S big1 -t public.big --no-progress |
	  tee "$BATS_TEST_TMPDIR/out" | pgflo-sink-pg -d "$1" >/dev/null' _ "$dst"
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	run same "$dst" big
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "src 500001 "* ]]
	# The generated column is left out, as pgoutput leaves it out.
	run grep -c '"g":' "$BATS_TEST_TMPDIR/out"
	[ "$output" = 0 ]
	lsn=$(psql_admin -c "SELECT confirmed_flush_lsn FROM pg_replication_slots
	  WHERE slot_name = 'big1'")
	run head -n1 "$BATS_TEST_TMPDIR/out"
	[ "$output" = '{"op":"snapshot","phase":"begin","schema":"public","table":"big","slot":"big1","lsn":"'"$lsn"'"}' ]
	run tail -n2 "$BATS_TEST_TMPDIR/out"
	[ "${lines[0]}" = '{"op":"snapshot","phase":"end","schema":"public","table":"big","slot":"big1","lsn":"'"$lsn"'","rows":500001}' ]
	[ "${lines[1]}" = '{"op":"snapshot","phase":"done","slot":"big1","lsn":"'"$lsn"'","tables":1,"rows":500001}' ]
	# The publication is the slot's, as pgflo-capture makes it.
	run psql_src -c "SELECT schemaname || '.' || tablename FROM pg_publication_tables
	  WHERE pubname = 'big1'"
	[ "$output" = public.big ]
	psql_admin -c "SELECT pg_drop_replication_slot('big1')"
}

@test "pgflo-copy: a row copies byte-identical to what pgflo-capture streams for it" {
	psql_src -c "CREATE TABLE vals (id int PRIMARY KEY, a text[], j json,
	  r real, n numeric, i interval, ts timestamp, h hstore, arr2 int[][])"
	pgflo-copy -d "$PGFLO_SRC" -S vals1 -t public.vals >/dev/null
	psql_src -c "INSERT INTO vals VALUES (1, '{\"x y\",NULL,\"q\\\"\"}',
	  '{\"a\" : [1, 2.50]}', '-Infinity', 1.10, '1 day 02:00', '2026-11-23 18:00:00.5',
	  'a=>1', '{{1,2},{3,NULL}}')"
	end=$(psql_src -c "SELECT pg_current_wal_insert_lsn()")
	pgflo-capture -d "$PGFLO_SRC" -S vals1 -E "$end" | grep '"op":"insert"' |
	  sed 's/.*"key"/"key"/' >"$BATS_TEST_TMPDIR/cap"
	pgflo-copy -d "$PGFLO_SRC" --no-slot -t vals | grep '"op":"insert"' |
	  sed 's/.*"key"/"key"/' >"$BATS_TEST_TMPDIR/copy"
	cat "$BATS_TEST_TMPDIR/copy"
	[ -s "$BATS_TEST_TMPDIR/copy" ]
	cmp "$BATS_TEST_TMPDIR/cap" "$BATS_TEST_TMPDIR/copy"
	pgflo-capture -d "$PGFLO_SRC" -S vals1 --drop
}

@test "pgflo-copy: copy then capture under 3,000 concurrent inserts: no gap, no duplicate" {
	dst=$(newdb t3)
	ddl="CREATE TABLE live (id int PRIMARY KEY, v text, at timestamptz DEFAULT now());
	  CREATE TABLE mid (id int PRIMARY KEY, v text)"
	psql_src -c "$ddl"
	psql -X -q -d "$dst" -c "$ddl"
	psql_src -c "INSERT INTO live (id, v) SELECT i, 'seed' FROM generate_series(1, 100) i;
	  INSERT INTO mid SELECT i, repeat('m', 200) FROM generate_series(1, 300000) i"
	# 3,000 single-row transactions, paced so they overlap the copy.
	for i in $(seq 101 3100); do
		echo "INSERT INTO live (id, v) VALUES ($i, 'live $i');"
		[ $((i % 3)) -eq 0 ] && echo "SELECT pg_sleep(0.003);"
	done >"$BATS_TEST_TMPDIR/writer.sql"
	run --separate-stderr bash -c 'set -o pipefail
	  psql -X -q -d "$PGFLO_SRC" -f "$BATS_TEST_TMPDIR/writer.sql" >/dev/null &
	  writer=$!
	  until [ "$(psql -X -At -d "$PGFLO_SRC" -c "SELECT count(*) FROM live")" -gt 400 ]; do
		sleep 0.05; done
	  { pgflo-copy -d "$PGFLO_SRC" -S live1 -t "live,mid" -j 2 || exit 1
	    until [ "$(psql -X -At -d "$PGFLO_SRC" -c "SELECT count(*) FROM live")" -eq 3100 ]; do
		sleep 0.05; done
	    end=$(psql -X -At -d "$PGFLO_SRC" -c "SELECT pg_current_wal_insert_lsn()")
	    pgflo-capture -d "$PGFLO_SRC" -S live1 -E "$end"; } |
	  tee "$BATS_TEST_TMPDIR/out" | pgflo-sink-pg -d "$1" >/dev/null' _ "$dst"
	echo "$stderr"
	[ "$status" -eq 0 ]
	run same "$dst" live
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "src 3100 "* ]]
	run same "$dst" mid
	[ "$status" -eq 0 ]
	# Each live row arrives exactly once: from the snapshot or the stream.
	grep '"table":"live"' "$BATS_TEST_TMPDIR/out" | grep '"op":"insert"' |
	  jq -r .new.id | sort -n >"$BATS_TEST_TMPDIR/ids"
	run wc -l <"$BATS_TEST_TMPDIR/ids"
	[ "$output" -eq 3100 ]
	run bash -c "uniq -d <'$BATS_TEST_TMPDIR/ids' | wc -l"
	[ "$output" -eq 0 ]
	# The copy really overlapped the writer.
	snap=$(grep '"table":"live"' "$BATS_TEST_TMPDIR/out" | grep -c '"snapshot":true')
	echo "snapshot rows of live: $snap"
	[ "$snap" -gt 400 ] && [ "$snap" -lt 3100 ]
	pgflo-capture -d "$PGFLO_SRC" -S live1 --drop
}

@test "pgflo-copy: a never-analysed table is copied whole in many chunks" {
	psql_src -c "CREATE TABLE fresh (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
	  INSERT INTO fresh SELECT i, repeat('x', 100) FROM generate_series(1, 20000) i"
	run psql_src -c "SELECT relpages, reltuples FROM pg_class WHERE relname = 'fresh'"
	[ "$output" = "0|-1" ]
	run --separate-stderr bash -c 'pgflo-copy -d "$PGFLO_SRC" --no-slot -t fresh --chunk-pages 16 -j 3 |
	  grep "\"op\":\"insert\"" | jq -r .new.id | sort -n | uniq | wc -l'
	[ "$status" -eq 0 ]
	[ "$output" -eq 20000 ]
}

@test "pgflo-copy: an empty table gives its begin and end records, then done" {
	psql_src -c "CREATE TABLE empty (id int)"
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t empty
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	lines_are '{"op":"snapshot","phase":"begin","schema":"public","table":"empty"}' \
	    '{"op":"snapshot","phase":"end","schema":"public","table":"empty","rows":0}' \
	    '{"op":"snapshot","phase":"done","tables":1,"rows":0}'
}

@test "pgflo-copy: dead tuples after a big UPDATE are not copied" {
	psql_src -c "CREATE TABLE churn (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = off);
	  INSERT INTO churn SELECT i, 0 FROM generate_series(1, 30000) i;
	  UPDATE churn SET n = n + 1; UPDATE churn SET n = n + 1 WHERE id % 2 = 0"
	run psql_src -c "SELECT n_dead_tup > 30000 FROM pg_stat_user_tables WHERE relname = 'churn'"
	[ "$output" = t ]
	pgflo-copy -d "$PGFLO_SRC" --no-slot -t churn --chunk-pages 8 -j 2 |
	  grep '"op":"insert"' | jq -r '"\(.new.id) \(.new.n)"' | sort -n >"$BATS_TEST_TMPDIR/rows"
	psql_src -c "SELECT id || ' ' || n FROM churn ORDER BY id" >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/rows" "$BATS_TEST_TMPDIR/want"
}

@test "pgflo-copy: two schemas with the same table name, and partitions through their leaves" {
	psql_src -c "CREATE SCHEMA s1; CREATE SCHEMA s2;
	  CREATE TABLE s1.items (id int PRIMARY KEY, v text);
	  CREATE TABLE s2.items (id int PRIMARY KEY, v text);
	  INSERT INTO s1.items VALUES (1, 'one'); INSERT INTO s2.items VALUES (2, 'two');
	  CREATE TABLE s1.part (id int, v text) PARTITION BY RANGE (id);
	  CREATE TABLE s1.part_a PARTITION OF s1.part FOR VALUES FROM (0) TO (10);
	  CREATE TABLE s1.part_b PARTITION OF s1.part FOR VALUES FROM (10) TO (20);
	  INSERT INTO s1.part VALUES (5, 'a'), (15, 'b')"
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t 's*.items,s1.part' -j 1
	[ "$status" -eq 0 ]
	run jq -c 'select(.op == "insert") | [.schema, .table, .key, .new]' <<<"$output"
	lines_are '["s1","items",["id"],{"id":1,"v":"one"}]' \
	    '["s1","part_a",[],{"id":5,"v":"a"}]' \
	    '["s1","part_b",[],{"id":15,"v":"b"}]' \
	    '["s2","items",["id"],{"id":2,"v":"two"}]'
}

@test "pgflo-copy: a bare table name in -t is that table in every schema, as in pgflo-rule" {
	psql_src -c "CREATE SCHEMA bt1; CREATE SCHEMA bt2;
	  CREATE TABLE public.bt_items (id int PRIMARY KEY);
	  CREATE TABLE bt1.bt_items (id int PRIMARY KEY);
	  CREATE TABLE bt2.bt_items (id int PRIMARY KEY);
	  CREATE TABLE bt2.bt_other (id int PRIMARY KEY);
	  INSERT INTO public.bt_items VALUES (0); INSERT INTO bt1.bt_items VALUES (1);
	  INSERT INTO bt2.bt_items VALUES (2); INSERT INTO bt2.bt_other VALUES (3)"
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t bt_items -j 1
	[ "$status" -eq 0 ]
	run jq -c 'select(.op == "insert") | [.schema, .table, .new.id]' <<<"$output"
	assert_output '["bt1","bt_items",1]
["bt2","bt_items",2]
["public","bt_items",0]'
}

# The copy-and-stream line of pgflo-copy(1), with one store for both; $1
# the target, $2 the store, $3 the slot, $4 the tables, then more options of
# pgflo-copy; runs until --endpos
# (the source's insert position when capture starts).  The records it
# carries are kept in $2.rec.
LINE='set -o pipefail
  { pgflo-copy -d "$PGFLO_SRC" -S "$3" -t "$4" -j 2 --chunk-pages 64 -c "file:$2" "${@:5}" &&
    pgflo-capture -d "$PGFLO_SRC" -S "$3" -c "file:$2" \
      -E "$(psql -X -At -d "$PGFLO_SRC" -c "SELECT pg_current_wal_insert_lsn()")"; } |
  tee "$2.rec" | pgflo-sink-pg -d "$1" -g "$3" | pgflo-checkpoint --save "file:$2"'

# nokey_table TARGET TABLE ROWS: TABLE (id, v, pad) without a key, replica
# identity full, with ROWS rows of 200 bytes padding in src, empty in TARGET.
nokey_table() {
	psql_src -c "CREATE TABLE $2 (id int, v text, pad text); ALTER TABLE $2 REPLICA IDENTITY FULL;
	  INSERT INTO $2 SELECT i, 'v' || i, repeat('x', 200) FROM generate_series(1, $3) i"
	psql -X -q -d "$1" -c "CREATE TABLE $2 (id int, v text, pad text)"
}

# kill_copy TARGET CK TABLE MIN [MAX [ARG ...]]: runs $LINE on TABLE, its
# slot named after it, with ARGs for pgflo-copy, in the background; kills
# pgflo-copy with SIGKILL once TARGET holds MIN rows (and fewer than MAX) and
# waits for the rest of the line to end.
kill_copy() {
	bash -c "$LINE" _ "$1" "$2" "$3" "$3" "${@:6}" 2>/dev/null 3>&- &
	wait_rows "$1" "$3" "$4" "$5"
	pkill -9 -f "pgflo-copy -d $PGFLO_SRC -S $3"
	wait || true
}

@test "pgflo-copy: kill -9 of the sink mid-copy, changes, the same line again: target converges" {
	dst=$(newdb t8)
	psql_src -c "CREATE TABLE big2 AS SELECT * FROM big; ALTER TABLE big2 ADD PRIMARY KEY (id)"
	psql -X -q -d "$dst" -c "$BIG_DDL"
	psql -X -q -d "$dst" -c "CREATE TABLE big2 AS SELECT * FROM big WITH NO DATA;
	  ALTER TABLE big2 ADD PRIMARY KEY (id)"
	ck=$BATS_TEST_TMPDIR/ck
	bash -c "$LINE" _ "$dst" "$ck" big2 big2 2>"$BATS_TEST_TMPDIR/err1" 3>&- &
	wait_rows "$dst" big2 100000
	pkill -9 -f "pgflo-sink-pg -d $dst"
	wait || true
	n=$(psql -X -At -d "$dst" -c "SELECT count(*) FROM big2")
	echo "rows in the target after the kill: $n"
	[ "$n" -ge 100000 ] && [ "$n" -lt 500001 ]
	# Nothing durable recorded a finished table, but some chunks.
	run jq -c '[.copy.done, (.copy.tables[0].chunks | length > 0), .copy.tables[0].lsn]' "$ck"
	[ "$output" = '[false,true,null]' ]
	# Changes while nothing runs: the slot keeps them.
	psql_src -c "UPDATE big2 SET name = 'moved ' || id WHERE id % 50 = 0;
	  UPDATE big2 SET id = id + 1000000 WHERE id % 1000 = 3;
	  DELETE FROM big2 WHERE id % 77 = 0;
	  INSERT INTO big2 (id, name, data) SELECT i, 'new', '{}' FROM generate_series(600001, 601000) i;
	  UPDATE big2 SET note = ARRAY['late'] WHERE id BETWEEN 1 AND 1000"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" big2 big2
	echo "$stderr"
	[ "$status" -eq 0 ]
	run same "$dst" big2
	echo "$output"
	[ "$status" -eq 0 ]
	run jq -c '.copy | [.slot, .done, [.tables[] | .table]]' "$ck"
	[ "$output" = '["big2",true,["big2"]]' ]
	# The rerun copied what was missing, not everything again.
	rows2=$(grep -c '"snapshot":true' "$ck.rec")
	echo "rows copied by the rerun: $rows2"
	[ "$rows2" -lt 450000 ]
	# Again: the copy is complete, so nothing is copied, nothing changes.
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" big2 big2
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	run same "$dst" big2
	[ "$status" -eq 0 ]
	pgflo-capture -d "$PGFLO_SRC" -S big2 --drop
}

@test "pgflo-copy: the sink fails on a missing table; table made, rows changed, same line: all rows" {
	dst=$(newdb t9)
	psql_src -c "CREATE TABLE pkt (id int PRIMARY KEY, v text);
	  INSERT INTO pkt SELECT i, 'v' || i FROM generate_series(1, 1000) i"
	ck=$BATS_TEST_TMPDIR/dup.pos
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" dup pkt
	[ "$status" -ne 0 ]
	[[ $stderr == *'relation "public.pkt" does not exist'* ]]
	psql -X -q -d "$dst" -c "CREATE TABLE pkt (id int PRIMARY KEY, v text)"
	psql_src -c "UPDATE pkt SET v = 'changed' WHERE id <= 10"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" dup pkt
	echo "$stderr"
	[ "$status" -eq 0 ]
	run same "$dst" pkt
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "src 1000 "* ]]
	pgflo-capture -d "$PGFLO_SRC" -S dup --drop
}

@test "pgflo-copy: the finished line run again twice: a table without a key gets no duplicates" {
	dst=$(newdb t10)
	psql_src -c "CREATE TABLE nk (id int, v text); ALTER TABLE nk REPLICA IDENTITY FULL;
	  INSERT INTO nk SELECT i, 'v' || i FROM generate_series(1, 3) i"
	psql -X -q -d "$dst" -c "CREATE TABLE nk (id int, v text)"
	ck=$BATS_TEST_TMPDIR/nk.pos
	bash -c "$LINE" _ "$dst" "$ck" nk nk
	psql_src -c "INSERT INTO nk VALUES (4, 'v4'), (5, 'v5')"
	bash -c "$LINE" _ "$dst" "$ck" nk nk
	bash -c "$LINE" _ "$dst" "$ck" nk nk
	run psql -X -At -d "$dst" -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM nk"
	[ "$output" = "1,2,3,4,5" ]
	pgflo-capture -d "$PGFLO_SRC" -S nk --drop
}

@test "pgflo-copy: kill -9 mid-copy of a table without a key, changes, same line: no row twice" {
	dst=$(newdb t11)
	nokey_table "$dst" nk2 200000
	ck=$BATS_TEST_TMPDIR/nk2.pos
	kill_copy "$dst" "$ck" nk2 30000
	n=$(psql -X -At -d "$dst" -c "SELECT count(*) FROM nk2")
	echo "rows in the target after the kill: $n"
	[ "$n" -ge 30000 ] && [ "$n" -lt 200000 ]
	psql_src -c "UPDATE nk2 SET v = 'u' || id WHERE id % 10 = 0;
	  DELETE FROM nk2 WHERE id % 7 = 0;
	  INSERT INTO nk2 SELECT i, 'new', '' FROM generate_series(200001, 201000) i"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" nk2 nk2
	echo "$stderr"
	[ "$status" -eq 0 ]
	same_rows "$dst" nk2
	# Changes after the copy still flow, and the table's sync point is in the store.
	psql_src -c "DELETE FROM nk2 WHERE id = 1; UPDATE nk2 SET v = 'late' WHERE id = 2"
	bash -c "$LINE" _ "$dst" "$ck" nk2 nk2
	same_rows "$dst" nk2
	pgflo-capture -d "$PGFLO_SRC" -S nk2 --drop
}

@test "pgflo-copy: after the copy, a table added to -t is copied, one left out leaves the publication, one put back converges" {
	dst=$(newdb t12)
	psql_src -c "CREATE TABLE ad1 (id int PRIMARY KEY, v text);
	  CREATE TABLE ad2 (id int, v text); ALTER TABLE ad2 REPLICA IDENTITY FULL;
	  CREATE TABLE ad3 (id int PRIMARY KEY, v text);
	  INSERT INTO ad1 SELECT i, 'a' || i FROM generate_series(1, 100) i;
	  INSERT INTO ad2 SELECT i, 'b' || i FROM generate_series(1, 100) i;
	  INSERT INTO ad3 SELECT i, 'c' || i FROM generate_series(1, 100) i"
	psql -X -q -d "$dst" -c "CREATE TABLE ad1 (id int PRIMARY KEY, v text);
	  CREATE TABLE ad2 (id int, v text); CREATE TABLE ad3 (id int PRIMARY KEY, v text)"
	ck=$BATS_TEST_TMPDIR/ad.pos
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ad ad1
	psql_src -c "UPDATE ad1 SET v = 'x' WHERE id <= 5; UPDATE ad2 SET v = 'y' WHERE id <= 5;
	  DELETE FROM ad3 WHERE id > 90"
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ad 'ad1,ad2,ad3'
	for t in ad1 ad2 ad3; do same_rows "$dst" $t; done
	# Left out: no longer published, so no longer streamed.
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ad 'ad1,ad3'
	run -0 psql_src -c "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'ad'"
	assert_output 'ad1,ad3'
	# Changed while out of the publication, then put back: copied again.
	psql_src -c "UPDATE ad2 SET v = 'z' WHERE id > 50; DELETE FROM ad2 WHERE id % 10 = 0;
	  INSERT INTO ad2 VALUES (1, 'b1')"
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ad 'ad1,ad2,ad3'
	for t in ad1 ad2 ad3; do same_rows "$dst" $t; done
	psql_src -c "UPDATE ad2 SET v = 'late' WHERE id = 2"
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ad 'ad1,ad2,ad3'
	same_rows "$dst" ad2
	pgflo-capture -d "$PGFLO_SRC" -S ad --drop
}

@test "pgflo-copy: a --reuse-slot copy killed mid-way, then the plain line: a table without a key has every row once" {
	dst=$(newdb t13)
	nokey_table "$dst" ru 150000
	ck=$BATS_TEST_TMPDIR/ru.pos
	run -0 --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ru ru
	same_rows "$dst" ru
	kill_copy "$dst" "$ck" ru 20000 150000 --reuse-slot
	n=$(psql -X -At -d "$dst" -c "SELECT count(*) FROM ru")
	echo "rows in the target after the kill: $n"
	[ "$n" -lt 150000 ]
	psql_src -c "DELETE FROM ru WHERE id % 9 = 0; UPDATE ru SET v = 'u' WHERE id % 5 = 0"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" ru ru
	echo "$stderr"
	[ "$status" -eq 0 ]
	same_rows "$dst" ru
	pgflo-capture -d "$PGFLO_SRC" -S ru --drop
}

@test "pgflo-copy: keys moved between rows before a rerun: no row lost" {
	dst=$(newdb t14)
	# 15 pages of 7 rows; the target refuses id 50 at first, so the first
	# run stops part way, with the chunks before it durable.
	psql_src -c "CREATE TABLE km2 (id int PRIMARY KEY, v text, pad text);
	  INSERT INTO km2 SELECT i, CASE WHEN i = 50 THEN 'stop' ELSE 'v' || i END,
	    repeat('p', 1000) FROM generate_series(1, 100) i"
	psql -X -q -d "$dst" -c "CREATE TABLE km2 (id int PRIMARY KEY,
	  v text CONSTRAINT nostop CHECK (v <> 'stop'), pad text)"
	ck=$BATS_TEST_TMPDIR/km2.pos
	PGFLO_BATCH_ROWS=3 run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" km2 km2 -j 1 --chunk-pages 1
	[ "$status" -ne 0 ]
	[[ $stderr == *'violates check constraint "nostop"'* ]]
	psql -X -q -d "$dst" -c "ALTER TABLE km2 DROP CONSTRAINT nostop"
	# Row 1 moves to 1001 and on to 1002; then row 90 takes 1001.
	psql_src -c "UPDATE km2 SET id = 1001 WHERE id = 1"
	psql_src -c "UPDATE km2 SET id = 1002 WHERE id = 1001"
	psql_src -c "UPDATE km2 SET id = 1001 WHERE id = 90"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" km2 km2 -j 1 --chunk-pages 1
	echo "$stderr"
	[ "$status" -eq 0 ]
	run same "$dst" km2
	echo "$output"
	[ "$status" -eq 0 ]
	pgflo-capture -d "$PGFLO_SRC" -S km2 --drop
}

@test "pgflo-copy: --no-slot leaves no slot and no publication behind" {
	before=$(slots)
	pubs=$(psql_src -c "SELECT count(*) FROM pg_publication")
	run --separate-stderr bash -c 'pgflo-copy -d "$PGFLO_SRC" --no-slot -t "s1.items" | wc -l'
	[ "$status" -eq 0 ]
	[ "$output" -eq 4 ]
	[ "$(slots)" = "$before" ]
	run psql_src -c "SELECT count(*) FROM pg_publication"
	[ "$output" = "$pubs" ]
}

@test "pgflo-copy: an existing slot without --checkpoint is refused" {
	psql_admin -c "SELECT pg_create_logical_replication_slot('taken', 'pgoutput')" -d "$PGFLO_SRC" >/dev/null
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S taken -t s1.items
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = 'pgflo-copy: slot "taken" already exists (resume with the --checkpoint of its pipeline, or copy again with --reuse-slot)' ]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S taken -t s1.items --reuse-slot
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	[[ ${lines[2]} == '{"op":"snapshot","phase":"chunk","schema":"s1","table":"items","slot":"taken","chunk":0,"pages":1024,"xmin":'* ]]
	psql_admin -c "SELECT pg_drop_replication_slot('taken')" >/dev/null
}

@test "pgflo-copy: tables without a replica identity are refused before the slot; the flags take them" {
	psql_src -c "CREATE SCHEMA cri; CREATE TABLE cri.keyed (id int PRIMARY KEY);
	  CREATE TABLE cri.nokey (id int, v text);
	  INSERT INTO cri.keyed VALUES (1); INSERT INTO cri.nokey VALUES (1, 'a')"
	before=$(slots)
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S cri -t 'cri.*'
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = 'pgflo-copy: tables without a replica identity: cri.nokey (UPDATE and DELETE on them would fail once published; run ALTER TABLE ... REPLICA IDENTITY FULL, use --replica-identity-full, --publish-inserts-only, or leave them out of -t)' ]
	[ "$(slots)" = "$before" ]
	run psql_src -c "SELECT count(*) FROM pg_publication WHERE pubname = 'cri'"
	[ "$output" = 0 ]
	psql_src -c "UPDATE cri.nokey SET v = 'b'"
	# --no-slot makes no publication: it copies any table, and takes no flag.
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t 'cri.*'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 7 ]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t 'cri.*' --replica-identity-full
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'pgflo-copy: --no-slot makes no publication: --publish-inserts-only and --replica-identity-full do not apply' ]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S cri -t 'cri.*' --replica-identity-full --publish-inserts-only
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'pgflo-copy: --publish-inserts-only and --replica-identity-full exclude each other' ]

	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S cri -t 'cri.*' -j 1 --replica-identity-full
	[ "$status" -eq 0 ]
	[ "$stderr" = 'pgflo-copy: warning: cri.nokey had no replica identity: set REPLICA IDENTITY FULL' ]
	run jq -c 'select(.op == "insert") | [.table, .key, .new]' <<<"$output"
	[ "$output" = '["keyed",["id"],{"id":1}]
["nokey",["id","v"],{"id":1,"v":"b"}]' ]
	run psql_src -c "SELECT relreplident FROM pg_class WHERE oid = 'cri.nokey'::regclass"
	[ "$output" = f ]
	run psql_src -c "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'cri' ORDER BY 1"
	[ "$output" = 'cri.keyed
cri.nokey' ]
	pgflo-capture -d "$PGFLO_SRC" -S cri --drop

	psql_src -c "CREATE TABLE cri.ins (id int); INSERT INTO cri.ins VALUES (1)"
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S cri_ins -t cri.ins --publish-inserts-only
	[ "$status" -eq 0 ]
	[ "$stderr" = 'pgflo-copy: warning: publication "cri_ins" publishes inserts and truncates only: updates and deletes are not captured' ]
	[ "${#lines[@]}" -eq 4 ]
	run -0 psql_src -c "UPDATE cri.ins SET id = 2" -c "INSERT INTO cri.ins VALUES (3)"
	end=$(psql_src -c 'SELECT pg_current_wal_insert_lsn()')
	run --separate-stderr pgflo-capture -d "$PGFLO_SRC" -S cri_ins -E "$end"
	run jq -c 'select(.table) | [.op, .new]' <<<"$output"
	[ "$output" = '["insert",{"id":3}]' ]
	pgflo-capture -d "$PGFLO_SRC" -S cri_ins --drop
}

@test "pgflo-copy: usage errors exit 2" {
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -t big
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "pgflo-copy: -S is required (or --no-slot)" ]]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -S x -t big
	[ "$status" -eq 2 ]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" -S x -t big -c ftp:b/k
	[ "$status" -eq 2 ]
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t big -j 0
	[ "$status" -eq 2 ]
	run --separate-stderr pgflo-copy -d "port=1 host=127.0.0.1" --no-slot -t big
	[ "$status" -eq 3 ]
	[[ $stderr == "pgflo-copy: could not connect: "* ]]
}

@test "pgflo-copy: SIGTERM mid-copy stops with whole lines and status 143" {
	pgflo-copy -d "$PGFLO_SRC" --no-slot -t big -j 2 --chunk-pages 32 \
	  >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	until [ "$(stat -c %s "$BATS_TEST_TMPDIR/out")" -gt 5000000 ]; do sleep 0.02; done
	kill -TERM $pid
	status=0
	wait $pid || status=$?
	[ "$status" -eq 143 ]
	run cat "$BATS_TEST_TMPDIR/err"
	[ "$output" = "pgflo-copy: interrupted: 1 of 1 tables incomplete" ]
	jq -c . "$BATS_TEST_TMPDIR/out" >/dev/null
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -lt 500002 ]
}

@test "pgflo-copy: | head -n1 ends at once, quietly; >/dev/full is a write error" {
	run --separate-stderr bash -c 'pgflo-copy -d "$PGFLO_SRC" --no-slot -t big | head -n1'
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "$output" = '{"op":"snapshot","phase":"begin","schema":"public","table":"big"}' ]
	run --separate-stderr bash -c 'pgflo-copy -d "$PGFLO_SRC" --no-slot -t s1.items >/dev/full'
	[ "$status" -eq 1 ]
	[[ $stderr == "pgflo-copy: write error"* ]]
}

@test "pgflo-copy: --progress reports rows, rate and the end of each table" {
	run --separate-stderr pgflo-copy -d "$PGFLO_SRC" --no-slot -t s1.items --progress
	[ "$status" -eq 0 ]
	[[ $stderr =~ ^"pgflo-copy: s1.items: 1 rows, "[0-9.]+" "[kMG]?"B, "[0-9]+" rows/s, done"$ ]]
}

@test "pgflo-copy: a wrong password exits 2 (not 3); an unreachable server 3" {
	(umask 077 && printf '127.0.0.1:%s:*:pgflo:wrong\n' "$PGPORT" \
		>"$BATS_TEST_TMPDIR/pgpass")
	PGPASSFILE=$BATS_TEST_TMPDIR/pgpass run pgflo-copy -d "$PGFLO_SRC" -S pw_s -t public.nosuch
	assert_failure 2
	assert_line --index 0 --regexp '^pgflo-copy: could not connect: connection to server at "127.0.0.1", port [0-9]+ failed: FATAL:  password authentication failed for user "pgflo"$'
	run pgflo-copy -d "$PGFLO_SRC user=pgflo_nosuchrole" -S pw_s -t public.nosuch
	assert_failure 2
	run pgflo-copy -d 'host=127.0.0.1 port=1 connect_timeout=2' -S pw_s -t public.nosuch
	assert_failure 3
	assert_output --partial 'pgflo-copy: could not connect: '
}

@test "pgflo-copy: kill -9 of a sink-pg -j 3 mid-copy of two tables, one without a key, changes, the same line: target converges" {
	dst=$(newdb t30)
	psql_src -c "CREATE TABLE bigj AS SELECT * FROM big WHERE id <= 200000;
	  ALTER TABLE bigj ADD PRIMARY KEY (id)"
	psql -X -q -d "$dst" -c "$BIG_DDL"
	psql -X -q -d "$dst" -c "CREATE TABLE bigj AS SELECT * FROM big WITH NO DATA;
	  ALTER TABLE bigj ADD PRIMARY KEY (id)"
	nokey_table "$dst" nkj 60000
	ck=$BATS_TEST_TMPDIR/ck
	export PGFLO_JOBS=3
	bash -c "$LINE" _ "$dst" "$ck" bigj bigj,nkj 2>"$BATS_TEST_TMPDIR/err1" 3>&- &
	wait_rows "$dst" bigj 40000
	pkill -9 -f "pgflo-sink-pg -d $dst"
	wait || true
	n=$(psql -X -At -d "$dst" -c "SELECT count(*) FROM bigj")
	echo "rows in the target after the kill: $n"
	[ "$n" -ge 40000 ] && [ "$n" -lt 200000 ]
	psql_src -c "UPDATE bigj SET name = 'moved ' || id WHERE id % 50 = 0;
	  DELETE FROM bigj WHERE id % 77 = 0;
	  INSERT INTO bigj (id, name, data) SELECT i, 'new', '{}' FROM generate_series(600001, 601000) i;
	  UPDATE nkj SET v = 'u' || id WHERE id % 10 = 0; DELETE FROM nkj WHERE id % 7 = 0"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" bigj bigj,nkj
	echo "$stderr"
	[ "$status" -eq 0 ]
	run same "$dst" bigj
	echo "$output"
	[ "$status" -eq 0 ]
	same_rows "$dst" nkj
	run jq -c '.copy | [.done, ([.tables[] | .table] | sort)]' "$ck"
	[ "$output" = '[true,["bigj","nkj"]]' ]
	# Changes after the copy still flow.
	psql_src -c "UPDATE bigj SET val = -1 WHERE id <= 100; DELETE FROM nkj WHERE id = 1"
	run --separate-stderr bash -c "$LINE" _ "$dst" "$ck" bigj bigj,nkj
	[ "$status" -eq 0 ]
	same "$dst" bigj
	same_rows "$dst" nkj
	pgflo-capture -d "$PGFLO_SRC" -S bigj --drop
}
