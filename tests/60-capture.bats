#!/usr/bin/env bats
# pgflo-capture against a real PostgreSQL 15 (scripts/test-pg).

load test_helper

setup_file() {
	pg_start
	psql_src -c "ALTER SYSTEM SET wal_sender_timeout = '10s'" \
		-c 'SELECT pg_reload_conf()' >/dev/null
	psql_src <"$BATS_TEST_DIRNAME/fixtures/capture/types.sql"
}

teardown_file() {
	pg_stop
}

# The LSN after everything committed so far: --endpos for deterministic ends.
endpos() {
	psql_src -c 'SELECT pg_current_wal_insert_lsn()'
}

capture() {
	pgflo-capture -d "$PGFLO_SRC" "$@"
}

# Creates slot $1 and its publication for tables $2, reading nothing.
mkslot() {
	capture -S "$1" -t "$2" --create-slot -E 0/1
}

# poll_slot SLOT EXPR WANT TRIES PAUSE: polls EXPR over slot SLOT's row of
# pg_replication_slots, TRIES times PAUSE seconds apart, until it is WANT;
# prints its last value.
poll_slot() {
	local v _
	for _ in $(seq 1 "$4"); do
		v=$(psql_src -c "SELECT $2 FROM pg_replication_slots WHERE slot_name = '$1'")
		[ "$v" = "$3" ] && break
		sleep "$5"
	done
	echo "$v"
}

@test "pgflo-capture: every type round-trips value by value" {
	mkslot s_types public.types
	psql_src -c 'UPDATE types SET id = id + 10'
	capture -S s_types -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	for id in 11 12; do
		jq -S -c "select(.op == \"update\" and .new.id == $id) | .new" \
			"$BATS_TEST_TMPDIR/out" >"$BATS_TEST_TMPDIR/got"
		psql_src -c "SELECT expected($id)" | jq -S -c . >"$BATS_TEST_TMPDIR/want"
		run diff <(jq -c 'to_entries[]' "$BATS_TEST_TMPDIR/want") \
			<(jq -c 'to_entries[]' "$BATS_TEST_TMPDIR/got")
		assert_success
		assert_output ''
	done
	# What jq cannot see: exact digits, json text and key order, types.
	run grep -c '"op":"update"' "$BATS_TEST_TMPDIR/out"
	assert_output 2
	line=$(grep '"id":11' "$BATS_TEST_TMPDIR/out")
	for want in '"c_int8":9223372036854775807' '"c_oid":4294967295' \
		'"c_num":"123456789012345678901234567890.000000000000000000001"' \
		'"c_num102":"1234.50"' '"c_real":3.4028235e+38' '"c_double":0.1' \
		'"c_nan":"NaN"' '"c_inf":"-Infinity"' '"c_money":"$1,234.50"' \
		'"c_json":{"b":[1,2.50,"x y"],"a":null,"a":1e400}' \
		'"c_jsonb":{"f":1.10,"n":12345678901234567890,"plan":"pro"}' \
		'"c_bytea":"\\xdeadbeef00"' '"c_tstz":"2026-11-23 16:00:00.5+00"' \
		'"c_text":"quote\" backslash\\ tab\t newline\n unicode é 😀 nul-free \u0001"' \
		'"a_int2d":[[1,2],[3,null]]' '"a_float":[1.5,"NaN","-Infinity",1e-300]' \
		'"a_text":["a","b c",null,"NULL","quote\"","back\\slash","{}",""]' \
		'"a_jsonb":[{"a":1},[1,"x"],null]' '"a_num":["1.10","NaN","-0.5"]' \
		'"a_box":["(1,1),(0,0)","(3,3),(2,2)"]' '"a_pair":["(1,x)",null]' \
		'"a_bounds":"[0:2]={7,8,9}"' '"c_posint":42' '"c_mood":"happy"' \
		'"types":{"id":"integer","c_int2":"smallint"' '"c_num102":"numeric(10,2)"' \
		'"c_varchar":"character varying(20)"' '"a_mood":"mood[]"' \
		'"c_posint":"posint"' '"a_int2d":"integer[]"' '"key":["id"]'; do
		[[ $line == *"$want"* ]] || { echo "missing $want in $line"; false; }
	done
}

@test "pgflo-capture: 1000 inserts, 500 updates, 250 deletes counted exactly" {
	psql_src -c 'CREATE TABLE counts (id int PRIMARY KEY, v text)'
	mkslot s_counts public.counts
	psql_src -c "INSERT INTO counts SELECT g, 'v' || g FROM generate_series(1, 1000) g" \
		-c "UPDATE counts SET v = 'u' WHERE id <= 500" \
		-c 'DELETE FROM counts WHERE id > 750'
	capture -S s_counts -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run bash -c "jq -r .op '$BATS_TEST_TMPDIR/out' | sort | uniq -c | awk '{print \$2, \$1}'"
	assert_output "begin 3
commit 3
delete 250
insert 1000
update 500"
	# Ordinals: begin 0, changes 1..n, commit n+1, one commit_lsn each.
	run jq -r 'select(.op == "commit") | .ordinal' "$BATS_TEST_TMPDIR/out"
	assert_output "1001
501
251"
	run bash -c "jq -r '[.commit_lsn, .ordinal] | @tsv' '$BATS_TEST_TMPDIR/out' | sort -u | wc -l"
	assert_output 1756
}

@test "pgflo-capture: unchanged TOAST values are listed, never null" {
	psql_src -c 'CREATE TABLE toasty (id int PRIMARY KEY, big text, small text)' \
		-c 'ALTER TABLE toasty ALTER big SET STORAGE EXTERNAL'
	mkslot s_toast public.toasty
	psql_src -c "INSERT INTO toasty VALUES (1, repeat(md5('x'), 4000), 'a')" \
		-c "UPDATE toasty SET small = 'b'"
	capture -S s_toast -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.op == "update") | [.new, .unchanged]' "$BATS_TEST_TMPDIR/out"
	assert_output '[{"id":1,"small":"b"},["big"]]'
	run jq -r 'select(.op == "insert") | .new.big | length' "$BATS_TEST_TMPDIR/out"
	assert_output 128000
}

@test "pgflo-capture: replica identities give the right key and old" {
	psql_src -c 'CREATE TABLE ri_def (id int PRIMARY KEY, v text)' \
		-c 'CREATE TABLE ri_full (id int, v text)' \
		-c 'ALTER TABLE ri_full REPLICA IDENTITY FULL' \
		-c 'CREATE TABLE ri_idx (id int PRIMARY KEY, u int NOT NULL, v text)' \
		-c 'CREATE UNIQUE INDEX ri_idx_u ON ri_idx (u)' \
		-c 'ALTER TABLE ri_idx REPLICA IDENTITY USING INDEX ri_idx_u' \
		-c 'CREATE TABLE ri_none (id int, v text)' \
		-c 'ALTER TABLE ri_none REPLICA IDENTITY NOTHING'
	# -t refuses ri_none (NOTHING): added by hand, as a user may.
	mkslot s_ri 'public.ri_d*,public.ri_f*,public.ri_i*'
	psql_src -c 'ALTER PUBLICATION s_ri ADD TABLE ri_none'
	psql_src -c "INSERT INTO ri_def VALUES (1, 'a')" -c "UPDATE ri_def SET v = 'b'" \
		-c 'UPDATE ri_def SET id = 2' -c 'DELETE FROM ri_def' \
		-c "INSERT INTO ri_full VALUES (1, 'a')" -c "UPDATE ri_full SET v = 'b'" \
		-c 'DELETE FROM ri_full' \
		-c "INSERT INTO ri_idx VALUES (1, 10, 'a')" -c 'UPDATE ri_idx SET u = 11' \
		-c 'DELETE FROM ri_idx' -c "INSERT INTO ri_none VALUES (1, 'a')"
	capture -S s_ri -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.table) | [.table, .op, .key, .old]' "$BATS_TEST_TMPDIR/out"
	assert_output '["ri_def","insert",["id"],null]
["ri_def","update",["id"],null]
["ri_def","update",["id"],{"id":1}]
["ri_def","delete",["id"],{"id":2}]
["ri_full","insert",["id","v"],null]
["ri_full","update",["id","v"],{"id":1,"v":"a"}]
["ri_full","delete",["id","v"],{"id":1,"v":"b"}]
["ri_idx","insert",["u"],null]
["ri_idx","update",["u"],{"u":10}]
["ri_idx","delete",["u"],{"u":11}]
["ri_none","insert",[],null]'
}

@test "pgflo-capture: truncate with cascade gives one record per table" {
	psql_src -c 'CREATE TABLE tr_a (id int PRIMARY KEY)' \
		-c 'CREATE TABLE tr_b (id int PRIMARY KEY, a int REFERENCES tr_a)'
	mkslot s_trunc 'public.tr_?'
	psql_src -c 'INSERT INTO tr_a VALUES (1)' -c 'INSERT INTO tr_b VALUES (1, 1)' \
		-c 'TRUNCATE tr_a RESTART IDENTITY CASCADE'
	capture -S s_trunc -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.op == "truncate") | [.table, .ordinal, .cascade, .restart_identity]' \
		"$BATS_TEST_TMPDIR/out"
	assert_output '["tr_a",1,true,true]
["tr_b",2,true,true]'
}

@test "pgflo-capture: messages are records; binary content as content_hex" {
	psql_src -c 'CREATE TABLE msg_t (id int PRIMARY KEY)'
	mkslot s_msg public.msg_t
	psql_src -c "SELECT pg_logical_emit_message(true, 'app', 'deploy 42')" \
		-c "SELECT pg_logical_emit_message(false, 'app', '\\xff00'::bytea)" \
		-c "SELECT pg_logical_emit_message(false, 'pgflo.heartbeat', '')" >/dev/null
	capture -S s_msg -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c '[.op, .ordinal, .prefix, .content, .content_hex, .transactional, (.xid != null)]' \
		"$BATS_TEST_TMPDIR/out"
	assert_output '["begin",0,null,null,null,null,true]
["message",1,"app","deploy 42",null,true,true]
["commit",2,null,null,null,null,true]
["message",1,"app",null,"\\xff00",false,false]'
}

@test "pgflo-capture: --track-ddl writes ddl records in order with the data" {
	psql_src -c 'CREATE TABLE ddl_t (id int PRIMARY KEY)' -c 'CREATE TABLE ddl_other (id int)'
	capture -S s_ddl -t public.ddl_t --create-slot --track-ddl -E 0/1
	psql_src -c 'INSERT INTO ddl_t VALUES (1)' \
		-c 'BEGIN' -c 'ALTER TABLE ddl_t ADD COLUMN v text' \
		-c "INSERT INTO ddl_t VALUES (2, 'x')" -c 'COMMIT' \
		-c 'ALTER TABLE ddl_other ADD COLUMN w text' \
		-c 'CREATE INDEX ON ddl_t (v)' -c 'DROP TABLE ddl_t'
	capture -S s_ddl --track-ddl -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.op != "begin" and .op != "commit") | [.op, .ordinal, .table, .tag, .object_type, .statement, .new]' \
		"$BATS_TEST_TMPDIR/out"
	assert_output '["insert",1,"ddl_t",null,null,null,{"id":1}]
["ddl",1,"ddl_t","ALTER TABLE","table","ALTER TABLE ddl_t ADD COLUMN v text",null]
["insert",2,"ddl_t",null,null,null,{"id":2,"v":"x"}]
["ddl",1,"ddl_t","CREATE INDEX","index","CREATE INDEX ON ddl_t (v)",null]
["ddl",1,"ddl_t","DROP TABLE","table","DROP TABLE ddl_t",null]'
	capture -S s_ddl --drop
	run psql_src -c "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'pgflo_ddl%s_ddl'"
	assert_output 0
}

@test "pgflo-capture: --track-ddl adds a new table matching -t from its CREATE on" {
	psql_src -c 'CREATE SCHEMA nt_other'
	capture -S s_new -t 'public.*' --create-slot --track-ddl --replica-identity-full -E 0/1
	psql_src -c 'BEGIN' -c 'CREATE TABLE nt_a (id int PRIMARY KEY, v text)' \
		-c "INSERT INTO nt_a VALUES (1, 'same')" -c 'COMMIT' \
		-c "INSERT INTO nt_a VALUES (2, 'later')" \
		-c 'CREATE TABLE nt_other.b (id int)' -c 'INSERT INTO nt_other.b VALUES (1)' \
		-c 'CREATE UNLOGGED TABLE nt_u (id int)' -c 'INSERT INTO nt_u VALUES (1)' \
		-c 'CREATE TABLE nt_c AS SELECT 1 AS id' -c 'INSERT INTO nt_c VALUES (2)' \
		-c 'CREATE TABLE nt_p (id int) PARTITION BY RANGE (id)' \
		-c 'CREATE TABLE nt_p1 PARTITION OF nt_p FOR VALUES FROM (0) TO (10)' \
		-c 'INSERT INTO nt_p VALUES (3)'
	capture -S s_new --track-ddl -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.op != "begin" and .op != "commit") | [.op, .ordinal, .schema, .table, .tag, .statement, .new]' \
		"$BATS_TEST_TMPDIR/out"
	assert_output '["ddl",1,"public","nt_a","CREATE TABLE","CREATE TABLE nt_a (id int PRIMARY KEY, v text)",null]
["insert",2,"public","nt_a",null,null,{"id":1,"v":"same"}]
["insert",1,"public","nt_a",null,null,{"id":2,"v":"later"}]
["ddl",1,"public","nt_c","CREATE TABLE AS","CREATE TABLE nt_c AS SELECT 1 AS id",null]
["insert",1,"public","nt_c",null,null,{"id":2}]
["ddl",1,"public","nt_p","CREATE TABLE","CREATE TABLE nt_p (id int) PARTITION BY RANGE (id)",null]
["ddl",1,"public","nt_p1","CREATE TABLE","CREATE TABLE nt_p1 PARTITION OF nt_p FOR VALUES FROM (0) TO (10)",null]
["insert",1,"public","nt_p1",null,null,{"id":3}]'
	# The run without -t kept the patterns: a later table joins too.
	psql_src -c 'CREATE TABLE nt_d (id int)'
	run psql_src -c "SELECT n.nspname || '.' || c.relname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = 's_new' AND (c.relname LIKE 'nt%' OR n.nspname LIKE 'nt%') ORDER BY 1"
	assert_output 'public.nt_a
public.nt_c
public.nt_d
public.nt_p'
	# --replica-identity-full, kept too: the keyless ones got FULL.
	run psql_src -c "SELECT relname || ' ' || relreplident::text FROM pg_class WHERE relname IN ('nt_a', 'nt_c', 'nt_d', 'nt_p', 'nt_p1') ORDER BY 1"
	assert_output 'nt_a d
nt_c f
nt_d f
nt_p f
nt_p1 f'
	capture -S s_new --drop
}

@test "pgflo-capture: -t refuses tables without a replica identity, naming each, and changes nothing" {
	psql_src -c 'CREATE SCHEMA rid' -c 'CREATE SCHEMA "rid odd"' \
		-c 'CREATE TABLE rid.keyed (id int PRIMARY KEY)' \
		-c 'CREATE TABLE rid.nokey (id int, v text)' \
		-c 'CREATE TABLE rid.byidx (id int NOT NULL)' \
		-c 'CREATE UNIQUE INDEX rid_byidx_id ON rid.byidx (id)' \
		-c 'ALTER TABLE rid.byidx REPLICA IDENTITY USING INDEX rid_byidx_id' \
		-c 'CREATE TABLE rid.full (id int)' -c 'ALTER TABLE rid.full REPLICA IDENTITY FULL' \
		-c 'CREATE TABLE rid.lost (id int NOT NULL)' \
		-c 'CREATE UNIQUE INDEX rid_lost_id ON rid.lost (id)' \
		-c 'ALTER TABLE rid.lost REPLICA IDENTITY USING INDEX rid_lost_id' \
		-c 'DROP INDEX rid.rid_lost_id' \
		-c 'CREATE TABLE rid.nothing (id int PRIMARY KEY)' \
		-c 'ALTER TABLE rid.nothing REPLICA IDENTITY NOTHING' \
		-c 'CREATE TABLE rid.defer (id int PRIMARY KEY DEFERRABLE)' \
		-c 'CREATE TABLE rid.parted (id int) PARTITION BY RANGE (id)' \
		-c 'CREATE TABLE rid.parted_a PARTITION OF rid.parted FOR VALUES FROM (0) TO (10)' \
		-c 'CREATE TABLE rid.parted_b PARTITION OF rid.parted FOR VALUES FROM (10) TO (20)' \
		-c 'ALTER TABLE rid.parted_b REPLICA IDENTITY FULL' \
		-c 'CREATE TABLE "rid odd"."T x" (id int)' \
		-c "INSERT INTO rid.nokey VALUES (1, 'a')"
	tail='(UPDATE and DELETE on them would fail once published; run ALTER TABLE ... REPLICA IDENTITY FULL, use --replica-identity-full, --publish-inserts-only, or leave them out of -t)'
	run --separate-stderr capture -S s_rid -t 'rid.*,rid odd.*' --create-slot -E 0/1
	[ "$status" -eq 2 ]
	[ "$stderr" = "pgflo-capture: tables without a replica identity: rid.defer, rid.lost, rid.nokey, rid.nothing, rid.parted_a (partition of rid.parted), \"rid odd\".\"T x\" $tail" ]
	run psql_src -c "SELECT (SELECT count(*) FROM pg_publication WHERE pubname = 's_rid') + (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's_rid')"
	assert_output 0
	run -0 psql_src -c "UPDATE rid.nokey SET v = 'b'" -c 'DELETE FROM rid.nokey'
	# A name without a wildcard is refused the same way.
	run --separate-stderr capture -S s_rid -t 'rid.keyed,rid.nokey' --create-slot -E 0/1
	[ "$status" -eq 2 ]
	[ "$stderr" = "pgflo-capture: tables without a replica identity: rid.nokey $tail" ]
	# A publication that holds one already: named so, and left as it is.
	psql_src -c 'CREATE PUBLICATION s_rid FOR TABLE rid.nokey'
	run --separate-stderr capture -S s_rid -t 'rid.keyed,rid.nokey' --create-slot -E 0/1
	[ "$status" -eq 2 ]
	[ "$stderr" = "pgflo-capture: tables without a replica identity: rid.nokey (already published: its UPDATE and DELETE fail now) $tail" ]
	run psql_src -c "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 's_rid'"
	assert_output 'rid.nokey'
	psql_src -c 'DROP PUBLICATION s_rid'
	# Keys, USING INDEX and FULL (partitions too) are accepted.
	run --separate-stderr capture -S s_rid -t 'rid.keyed,rid.byidx,rid.full' --create-slot -E 0/1
	[ "$status" -eq 0 ]
	[ "$stderr" = '' ]
	capture -S s_rid --drop
}

@test "pgflo-capture: --replica-identity-full sets FULL on them; updates carry the old row" {
	psql_src -c 'CREATE SCHEMA rif' -c 'CREATE TABLE rif.keyed (id int PRIMARY KEY)' \
		-c 'CREATE TABLE rif.nokey (id int, v text)'
	run --separate-stderr capture -S s_rif -t 'rif.*' --create-slot --replica-identity-full -E 0/1
	[ "$status" -eq 0 ]
	[ "$stderr" = 'pgflo-capture: warning: rif.nokey had no replica identity: set REPLICA IDENTITY FULL' ]
	run psql_src -c "SELECT relname || ' ' || relreplident::text FROM pg_class WHERE relnamespace = 'rif'::regnamespace AND relkind = 'r' ORDER BY 1"
	assert_output 'keyed d
nokey f'
	psql_src -c "INSERT INTO rif.nokey VALUES (1, 'a')" -c "UPDATE rif.nokey SET v = 'b'" \
		-c 'DELETE FROM rif.nokey'
	capture -S s_rif -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.table) | [.op, .table, .key, .old, .new]' "$BATS_TEST_TMPDIR/out"
	assert_output '["insert","nokey",["id","v"],null,{"id":1,"v":"a"}]
["update","nokey",["id","v"],{"id":1,"v":"a"},{"id":1,"v":"b"}]
["delete","nokey",["id","v"],{"id":1,"v":"b"},null]'
	# Nothing left to set: a second run is silent.
	run --separate-stderr capture -S s_rif -t 'rif.*' --replica-identity-full -E 0/1
	[ "$status" -eq 0 ]
	[ "$stderr" = '' ]
	run capture -S s_rif -t 'rif.*' --replica-identity-full --publish-inserts-only -E 0/1
	assert_failure 2
	assert_line --index 0 'pgflo-capture: --publish-inserts-only and --replica-identity-full exclude each other'
	run capture -S s_rif --replica-identity-full -E 0/1
	assert_failure 2
	assert_line --index 0 'pgflo-capture: --publish-inserts-only and --replica-identity-full need -t'
	capture -S s_rif --drop
}

@test "pgflo-capture: --publish-inserts-only takes them: inserts flow, updates stay on the source" {
	psql_src -c 'CREATE SCHEMA rio' -c 'CREATE TABLE rio.nokey (id int, v text)'
	warn='pgflo-capture: warning: publication "s_rio" publishes inserts and truncates only: updates and deletes are not captured'
	run --separate-stderr capture -S s_rio -t 'rio.*' --create-slot --publish-inserts-only -E 0/1
	[ "$status" -eq 0 ]
	[ "$stderr" = "$warn" ]
	run -0 psql_src -c "INSERT INTO rio.nokey VALUES (1, 'a')" -c "UPDATE rio.nokey SET v = 'b'" \
		-c 'DELETE FROM rio.nokey' -c "INSERT INTO rio.nokey VALUES (2, 'c')"
	capture -S s_rio -E "$(endpos)" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.table) | [.op, .new]' "$BATS_TEST_TMPDIR/out"
	assert_output '["insert",{"id":1,"v":"a"}]
["insert",{"id":2,"v":"c"}]'
	run psql_src -c "SELECT relreplident FROM pg_class WHERE oid = 'rio.nokey'::regclass"
	assert_output d
	# Without the flag, -t would publish updates again: refused, unchanged.
	run --separate-stderr capture -S s_rio -t 'rio.*' -E 0/1
	[ "$status" -eq 2 ]
	[[ $stderr == 'pgflo-capture: tables without a replica identity: rio.nokey (UPDATE and DELETE'* ]]
	# Other publish settings are made to follow the flag.
	psql_src -c "ALTER PUBLICATION s_rio SET (publish = 'insert, delete')"
	run --separate-stderr capture -S s_rio -t 'rio.*' --publish-inserts-only -E 0/1
	[ "$status" -eq 0 ]
	[ "$stderr" = "$warn" ]
	run psql_src -c "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 's_rio'"
	assert_output 't|f|f|t'
	capture -S s_rio --drop
}

@test "pgflo-capture: --track-ddl leaves out a new table without a replica identity, with warnings" {
	psql_src -c 'CREATE SCHEMA rit' -c 'CREATE TABLE rit.keyed (id int PRIMARY KEY)'
	capture -S s_rit -t 'rit.*' --create-slot --track-ddl -E 0/1 2>/dev/null
	run --separate-stderr psql_src -c 'CREATE TABLE rit.nokey (id int, v text)' \
		-c "INSERT INTO rit.nokey VALUES (1, 'a')" -c "UPDATE rit.nokey SET v = 'b'" \
		-c 'DELETE FROM rit.nokey' -c "INSERT INTO rit.nokey VALUES (2, 'c')" \
		-c 'CREATE TABLE rit.later (id int PRIMARY KEY)' -c 'INSERT INTO rit.later VALUES (1)'
	[ "$status" -eq 0 ]
	[ "$stderr" = 'WARNING:  pgflo: new table rit.nokey is not added to publication s_rit: it has no replica identity
HINT:  Give it a primary key or REPLICA IDENTITY FULL, then run pgflo-capture with -t to add it.' ]
	run --separate-stderr capture -S s_rit --track-ddl -E "$(endpos)"
	[ "$status" -eq 0 ]
	[ "$stderr" = 'pgflo-capture: warning: new table rit.nokey is not added to publication s_rit: it has no replica identity' ]
	run jq -c 'select(.table) | [.op, .table, .tag, .new]' <<<"$output"
	assert_output '["ddl","later","CREATE TABLE",null]
["insert","later",null,{"id":1}]'
	# Given a key later, it joins at the next start with -t.
	psql_src -c 'ALTER TABLE rit.nokey ADD PRIMARY KEY (id)' -c "UPDATE rit.nokey SET v = 'd'"
	run -0 capture -S s_rit -t 'rit.*' --track-ddl -E 0/1
	run psql_src -c "SELECT tablename FROM pg_publication_tables WHERE pubname = 's_rit' ORDER BY 1"
	assert_output 'keyed
later
nokey'
	capture -S s_rit --drop
}

@test "pgflo-capture: restart from a checkpoint neither loses nor repeats" {
	psql_src -c 'CREATE TABLE cp_t (id int PRIMARY KEY)'
	mkslot s_cp public.cp_t
	psql_src -c 'INSERT INTO cp_t SELECT generate_series(1, 3)' \
		-c 'INSERT INTO cp_t SELECT generate_series(4, 6)'
	end=$(endpos)
	# With an empty checkpoint store nothing is confirmed to the server.
	capture -S s_cp -c "file:$BATS_TEST_TMPDIR/cp" -E "$end" >"$BATS_TEST_TMPDIR/all"
	# Downstream made the first transaction and one row of the second durable.
	jq -c 'select(.new.id == 4) | {op: "position", commit_lsn, ordinal}' \
		"$BATS_TEST_TMPDIR/all" >"$BATS_TEST_TMPDIR/cp"
	run jq -c .new.id "$BATS_TEST_TMPDIR/all"
	assert_output 'null
1
2
3
null
null
4
5
6
null'
	capture -S s_cp -c "file:$BATS_TEST_TMPDIR/cp" -E "$end" >"$BATS_TEST_TMPDIR/again"
	run jq -c '[.op, .new.id]' "$BATS_TEST_TMPDIR/again"
	assert_output '["insert",5]
["insert",6]
["commit",null]'
	# The slot was confirmed only up to the checkpoint: the second
	# transaction is still there for a plain restart.
	run bash -c "pgflo-capture -d \"\$PGFLO_SRC\" -S s_cp -E '$end' | jq -c .new.id"
	assert_output 'null
4
5
6
null'
}

@test "pgflo-capture: --start skips what is at or before the position" {
	psql_src -c 'CREATE TABLE st_t (id int PRIMARY KEY)'
	mkslot s_start public.st_t
	psql_src -c 'INSERT INTO st_t SELECT generate_series(1, 3)'
	end=$(endpos)
	capture -S s_start -c "file:$BATS_TEST_TMPDIR/none" -E "$end" >"$BATS_TEST_TMPDIR/all"
	pos=$(jq -r 'select(.new.id == 2) | "\(.commit_lsn):\(.ordinal)"' "$BATS_TEST_TMPDIR/all")
	run bash -c "pgflo-capture -d \"\$PGFLO_SRC\" -S s_start -I '$pos' -E '$end' | jq -c '[.op, .new.id]'"
	assert_success
	assert_output '["insert",3]
["commit",null]'
}

@test "pgflo-capture: --endpos stops at once when nothing is pending" {
	psql_src -c 'CREATE TABLE ep_t (id int PRIMARY KEY)'
	mkslot s_endpos public.ep_t
	run -0 timeout 20 pgflo-capture -d "$PGFLO_SRC" -S s_endpos -E "$(endpos)"
	assert_output ''
}

@test "pgflo-capture: a 300k-row transaction streams with bounded memory" {
	psql_src -c 'CREATE TABLE big (id int PRIMARY KEY, v text)'
	mkslot s_big public.big
	psql_src -c "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 300000) g"
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" \
		pgflo-capture -d "$PGFLO_SRC" -S s_big -E "$(endpos)" |
		wc -l >"$BATS_TEST_TMPDIR/n"
	run cat "$BATS_TEST_TMPDIR/n"
	assert_output 300002
	rss=$(cat "$BATS_TEST_TMPDIR/rss")
	limit=32768
	# AddressSanitizer's shadow memory and quarantine (make SANITIZE=1).
	! ldd "$TOP/bin/pgflo-capture" | grep -q libasan || limit=262144
	echo "peak RSS ${rss} KiB (limit $limit)"
	[ "$rss" -lt "$limit" ]
}

@test "pgflo-capture: an idle slot follows the server while another database is busy" {
	psql_src -c 'CREATE TABLE idle_t (id int PRIMARY KEY)'
	mkslot s_idle public.idle_t
	before=$(psql_src -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's_idle'")
	pgflo-capture -d "$PGFLO_SRC" -S s_idle -s 1 >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	psql_dst -c 'CREATE TABLE busy (v text)'
	for i in 1 2 3 4 5; do
		psql_dst -c "INSERT INTO busy SELECT repeat('y', 100) FROM generate_series(1, 2000)"
		sleep 0.5
	done
	target=$(psql_src -c 'SELECT pg_current_wal_insert_lsn()')
	advanced=$(poll_slot s_idle "confirmed_flush_lsn >= '$target'" t 40 0.25)
	kill -TERM "$pid"
	wait "$pid"
	echo "before $before target $target"
	[ "$advanced" = t ]
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
}

@test "pgflo-capture: SIGTERM mid-stream exits 0 after a whole record" {
	psql_src -c 'CREATE TABLE term_t (id int PRIMARY KEY, v text)'
	mkslot s_term public.term_t
	psql_src -c "INSERT INTO term_t SELECT g, 'v' FROM generate_series(1, 200000) g"
	pgflo-capture -d "$PGFLO_SRC" -S s_term >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	for i in $(seq 1 100); do
		[ -s "$BATS_TEST_TMPDIR/out" ] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ -s "$BATS_TEST_TMPDIR/out" ]
	run tail -c 1 "$BATS_TEST_TMPDIR/out"
	assert_output ''	# a newline: the last record is whole
	jq -c . "$BATS_TEST_TMPDIR/out" >/dev/null
}

@test "pgflo-capture: -t globs several schemas; the publication follows the list" {
	psql_src -c 'CREATE SCHEMA s1' -c 'CREATE SCHEMA s2' \
		-c 'CREATE TABLE s1.a (id int PRIMARY KEY)' -c 'CREATE TABLE s1.b (id int PRIMARY KEY)' \
		-c 'CREATE TABLE s2.a (id int PRIMARY KEY)' -c 'CREATE TABLE s2.c (id int PRIMARY KEY)'
	mkslot s_glob 's1.*,s2.a'
	run psql_src -c "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 's_glob' ORDER BY 1"
	assert_output 's1.a
s1.b
s2.a'
	capture -S s_glob -t '*.c' -E 0/1
	run psql_src -c "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 's_glob' ORDER BY 1"
	assert_output 's2.c'
	run capture -S s_glob -t 'nosuch.*' -E 0/1
	assert_failure 1
	assert_output "pgflo-capture: no table matches 'nosuch.*'"
}

@test "pgflo-capture: --drop removes the slot and the publication" {
	psql_src -c 'CREATE TABLE drop_t (id int PRIMARY KEY)'
	mkslot s_drop public.drop_t
	run -0 capture -S s_drop --drop
	run psql_src -c "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's_drop') + (SELECT count(*) FROM pg_publication WHERE pubname = 's_drop')"
	assert_output 0
	run capture -S s_drop -t public.drop_t -E 0/1
	assert_failure 1
	assert_output 'pgflo-capture: slot "s_drop" does not exist (use --create-slot)'
}

@test "pgflo-capture: connection loss reconnects without repeating; --no-loop exits 3" {
	psql_src -c 'CREATE TABLE loss_t (id int PRIMARY KEY)'
	mkslot s_loss public.loss_t
	psql_src -c 'INSERT INTO loss_t VALUES (1)'
	pgflo-capture -d "$PGFLO_SRC" -S s_loss >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	for i in $(seq 1 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge 3 ] && break
		sleep 0.05
	done
	psql_src -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_loss'" >/dev/null
	psql_src -c 'INSERT INTO loss_t VALUES (2)'
	for i in $(seq 1 100); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge 6 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid"
	run jq -c '[.op, .new.id]' "$BATS_TEST_TMPDIR/out"
	assert_output '["begin",null]
["insert",1]
["commit",null]
["begin",null]
["insert",2]
["commit",null]'
	run grep -c 'connection lost' "$BATS_TEST_TMPDIR/err"
	assert_output 1

	pgflo-capture -d "$PGFLO_SRC" -S s_loss -n >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	sleep 1
	psql_src -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_loss'" >/dev/null
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 3 ]
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial 'pgflo-capture: connection lost: '
}

@test "pgflo-capture: a walsender terminated by the server: the warning says why" {
	psql_src -c 'CREATE TABLE why_t (id int PRIMARY KEY)'
	mkslot s_why public.why_t
	pgflo-capture -d "$PGFLO_SRC" -S s_why -n >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	poll_slot s_why 'active' t 100 0.05 >/dev/null
	psql_src -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_why'" >/dev/null
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 3 ]
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output 'pgflo-capture: connection lost: terminating connection due to administrator command'
}

@test "pgflo-capture: bad or unreachable conninfo gives exit 2 or 3" {
	run pgflo-capture -d 'nosuchoption=1' -S s1
	assert_failure 2
	assert_line --index 0 --partial 'pgflo-capture: bad connection string: invalid connection option "nosuchoption"'
	run pgflo-capture -d 'host=127.0.0.1 port=1 connect_timeout=2' -S s1
	assert_failure 3
	assert_output --partial 'pgflo-capture: could not connect: '
	run pgflo-capture -d "$PGFLO_SRC" -S 'Bad-Slot'
	assert_failure 2
	run pgflo-capture -d "$PGFLO_SRC" -S s1 -E nonsense
	assert_failure 2
}

@test "pgflo-capture: missing privileges give a clear error" {
	run pgflo-capture -d "$PGFLO_SRC user=pgflo_weak" -S s_weak -t public.types
	assert_failure 2
	assert_output 'pgflo-capture: role "pgflo_weak" may not use replication: it needs the REPLICATION attribute'
	psql_src -c "ALTER ROLE pgflo_weak REPLICATION"
	run pgflo-capture -d "$PGFLO_SRC user=pgflo_weak" -S s_weak -t public.types --create-slot
	psql_src -c "ALTER ROLE pgflo_weak NOREPLICATION"
	assert_failure 1
	assert_output --partial 'pgflo-capture: could not create the publication: ERROR:  permission denied for database src'
}

@test "pgflo-capture: --heartbeat writes WAL messages but no records" {
	psql_src -c 'CREATE TABLE hb_t (id int PRIMARY KEY)'
	mkslot s_hb public.hb_t
	capture -S s_hb2 -P s_hb --create-slot -E 0/1
	pgflo-capture -d "$PGFLO_SRC" -S s_hb --heartbeat 300ms -s 1 >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	sleep 2
	kill -TERM "$pid"
	wait "$pid"
	[ ! -s "$BATS_TEST_TMPDIR/out" ]
	run psql_src -c "SELECT count(*) > 2 FROM pg_logical_slot_peek_binary_changes('s_hb2', NULL, NULL, 'proto_version', '1', 'publication_names', 's_hb', 'messages', 'true') WHERE position('pgflo.heartbeat' IN encode(data, 'escape')) > 0"
	assert_output t
	run -0 capture -S s_hb2 -P s_hb -E "$(endpos)"
	assert_output ''
}

# A password file for user $1 with password $2 on the test server.
pgpass() {
	(umask 077 && printf '127.0.0.1:%s:*:%s:%s\n' "$PGPORT" "$1" "$2" \
		>"$BATS_TEST_TMPDIR/pgpass")
	echo "$BATS_TEST_TMPDIR/pgpass"
}

@test "pgflo-capture: a wrong password exits 2 (not 3), with the server's reason" {
	PGPASSFILE=$(pgpass pgflo wrong) run pgflo-capture -d "$PGFLO_SRC" -S s1
	assert_failure 2
	assert_line --index 0 --regexp '^pgflo-capture: could not connect: connection to server at "127.0.0.1", port [0-9]+ failed: FATAL:  password authentication failed for user "pgflo"$'
	PGPASSFILE=/dev/null run pgflo-capture -d "$PGFLO_SRC" -S s1
	assert_failure 2
	assert_output --partial 'no password supplied'
	run pgflo-capture -d "$PGFLO_SRC dbname=nosuchdb" -S s1
	assert_failure 2
	assert_output --partial 'database "nosuchdb" does not exist'
	run pgflo-capture -d 'host=127.0.0.1 port=1 connect_timeout=2' -S s1
	assert_failure 3
}

@test "pgflo-capture: a login refused while reconnecting exits 2, no retrying forever" {
	psql_src -c 'CREATE TABLE relog_t (id int PRIMARY KEY)'
	mkslot s_relog public.relog_t
	# The role's password through stdin, never on a command line.
	psql_admin <<<"CREATE ROLE relog LOGIN REPLICATION SUPERUSER PASSWORD 'good!pw'"
	pf=$(pgpass relog 'good!pw')
	PGPASSFILE=$pf pgflo-capture -d "$PGFLO_SRC user=relog" -S s_relog \
		>/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	poll_slot s_relog active t 100 0.1 >/dev/null
	pgpass relog 'bad!pw' >/dev/null
	psql_src -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_relog'" >/dev/null
	st=
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { st=0; wait "$pid" || st=$?; break; }
		sleep 0.1
	done
	[ -n "$st" ] || { kill -TERM "$pid"; wait "$pid" || true; cat "$BATS_TEST_TMPDIR/err"; false; }
	psql_admin -c 'DROP ROLE relog'
	assert_equal "$st" 2
	run cat "$BATS_TEST_TMPDIR/err"
	assert_line --index 0 --partial 'pgflo-capture: connection lost: '
	assert_line --index 1 --regexp '^pgflo-capture: could not connect: .*password authentication failed for user "relog"$'
	refute_output --partial retrying
}

@test "pgflo-capture: a reader gone on an idle database ends it with 141 and frees the slot" {
	psql_src -c 'CREATE TABLE gone_t (id int PRIMARY KEY)'
	mkslot s_gone public.gone_t
	psql_src -c 'INSERT INTO gone_t VALUES (1)'
	# The reader takes the one transaction and goes; no WAL flows after it.
	run bash -c 'timeout 20 pgflo-capture -d "$PGFLO_SRC" -S s_gone 3>&- |
		{ head -n 3 >"$1"; echo "$EPOCHREALTIME" >"$2"; }
		echo "${PIPESTATUS[0]} $EPOCHREALTIME"' _ \
		"$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/t"
	read -r st t1 <<<"$output"
	t0=$(cat "$BATS_TEST_TMPDIR/t")
	assert_equal "$st" 141
	run jq -r .op "$BATS_TEST_TMPDIR/out"
	assert_output 'begin
insert
commit'
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	echo "capture ended ${ms} ms after its reader"
	[ "$ms" -le 3000 ]
	active=$(poll_slot s_gone active f 50 0.1)
	assert_equal "$active" f
	# The same command starts again on the slot at once.
	run -0 timeout 20 pgflo-capture -d "$PGFLO_SRC" -S s_gone -E "$(endpos)"
	refute_output --partial 'is active'
}
