#!/usr/bin/env bats
# pgflo-format: each format against examples from its own documentation and
# code (tests/fixtures/format/, each file naming its source), every type
# class, hostile identifiers, positions, bad input, and a real capture
# beside the wal2json plugin on the same changes.

load test_helper

FX=$BATS_TEST_DIRNAME/fixtures/format

setup_file() {
	pg_start
}

teardown_file() {
	pg_stop
}

# The fixture without its '#' comment lines.
fx() {
	grep -v '^#' "$FX/$1"
}

# The times a format takes from the clock of the process that writes it
# (Debezium's envelope and snapshot rows, pg_flo's EmittedAt, a Sequin
# backfill's commit_timestamp), shown as <now>.
norm() {
	sed -E -e 's/"EmittedAt":"[^"]*"/"EmittedAt":"<now>"/' \
		-e 's/"ts_ms":[0-9]+,"ts_us":[0-9]+,"ts_ns":[0-9]+(}|,"message")/"ts_ms":<now>\1/' \
		-e 's/"ts_ms":[0-9]+,"snapshot":"true"(.*"sequence":null,)"ts_us":[0-9]+,"ts_ns":[0-9]+/"ts_ms":<now>,"snapshot":"true"\1"ts_us":<now>,"ts_ns":<now>/' \
		-e 's/("action":"read".*"commit_timestamp":)"[^"]*"/\1"<now>"/'
}

# check FIXTURE.ndjson EXPECTED.out ARGS...: exact output, normalized.
check() {
	local in=$1 want=$2
	shift 2
	fx "$in" | env -u PGDATABASE pgflo-format "$@" >"$BATS_TEST_TMPDIR/raw"
	norm <"$BATS_TEST_TMPDIR/raw" >"$BATS_TEST_TMPDIR/got"
	run diff <(fx "$want") "$BATS_TEST_TMPDIR/got"
	assert_success
	assert_output ''
}

@test "pgflo-format: wal2json: the README's format-version 2 example, byte for byte" {
	check wal2json-readme.ndjson wal2json-readme.out -t wal2json
}

@test "pgflo-format: debezium: the PostgreSQL connector documentation's events" {
	check debezium-docs.ndjson debezium-docs.out -t debezium \
		-n PostgreSQL_server --db postgres --debezium-version 2.7.0.Final \
		--skipped-operations none
	# Debezium's default skipped.operations=t: no truncate event.
	run -0 bash -c 'grep -v "^#" "$1" | pgflo-format -t debezium | jq -r .op' _ \
		"$FX/debezium-docs.ndjson"
	assert_output "$(printf 'c\nd\nm')"
	run -0 bash -c 'grep -v "^#" "$1" | pgflo-format -t debezium --skipped-operations c,d | jq -r .op' _ \
		"$FX/debezium-docs.ndjson"
	assert_output "$(printf 't\nm')"
	run -2 --separate-stderr pgflo-format -t debezium --skipped-operations c,x
	assert_equal "${stderr_lines[0]}" "pgflo-format: --skipped-operations 'c,x': expected c, u, d, t separated by commas, or none"
}

@test "pgflo-format: sequin: the message reference's insert, update and delete" {
	check sequin-docs.ndjson sequin-docs.out -t sequin
}

@test "pgflo-format: pg_flo: messages as its sinks marshal them" {
	check pg_flo-code.ndjson pg_flo-code.out -t pg_flo
	# pg_flo's own e2e checks (internal/scripts/e2e_*.sh) read it so.
	run jq -r 'select(.Type == "INSERT" and .NewTuple.id == 1) | .NewTuple.email' \
		"$BATS_TEST_TMPDIR/raw"
	assert_output a@example.com
	run jq -r 'select(.Type == "UPDATE") | .NewTuple.email' "$BATS_TEST_TMPDIR/raw"
	assert_output "$(printf 'b@example.com\nb@example.com')"
}

@test "pgflo-format: every type class, each format (NULL, unicode, numeric, arrays, json, bytea, times)" {
	local t
	for t in debezium pg_flo sequin wal2json; do
		check types.ndjson "types.$t.out" -t "$t"
	done
	# A few facts spelled out, beside the fixtures.
	fx types.ndjson | pgflo-format -t debezium | sed -n 1p >"$BATS_TEST_TMPDIR/d"
	for want in '"c_num":"123456789012345678901234567890.000000000000000000001"' \
		'"c_money":"1234.50"' '"c_bytea":"3q2+7wA="' '"c_date":20780' \
		'"c_ts":1795456800500000' '"c_tstz":"2026-11-23T16:00:00.5Z"' \
		'"c_timetz":"16:00:00Z"' '"c_nan":"NaN"' '"c_posint":42' \
		'"c_jsonb":"{\"f\": 1.10, \"n\": 12345678901234567890, \"plan\": \"pro\"}"' \
		'"a_int2d":[[1,2],[3,null]]' '"c_text":"quote\" backslash\\ tab\t newline\n unicode é 😀 nul-free \u0001"'; do
		grep -qF -- "$want" "$BATS_TEST_TMPDIR/d" || fail "debezium lacks $want"
	done
	# Precisions: ZonedTimestamp with exactly (p) digits, Timestamp and
	# Time in milliseconds up to (3), MicroTime beyond.
	run -0 bash -c 'pgflo-format -t debezium | jq -c .after' <<<'{"op":"insert","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"key":[],"types":{"a":"timestamp(3) with time zone","b":"timestamp(3) without time zone","c":"time(3) without time zone","d":"time(4) without time zone","e":"timestamp(0) with time zone"},"new":{"a":"2026-11-23 18:00:00.5+00","b":"1969-12-31 23:59:59.9995","c":"00:00:01.5","d":"00:00:01.5","e":"2026-11-23 18:00:01+05:30"}}'
	assert_output '{"a":"2026-11-23T18:00:00.500Z","b":-1,"c":1500,"d":1500000,"e":"2026-11-23T12:30:01Z"}'
	# Beyond int64 microseconds: the text, not an overflow.
	run -0 bash -c 'pgflo-format -t debezium | jq -c .after' <<<'{"op":"insert","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"key":[],"types":{"a":"timestamp with time zone","b":"date","c":"interval","d":"interval","e":"time without time zone"},"new":{"a":"294277-01-01 00:00:00+00","b":"5874897-12-31","c":"2147483647 years 2562047787:00:00","d":"2147483648 days","e":"00:99999999999999999:00"}}'
	assert_output '{"a":"294277-01-01 00:00:00+00","b":2145042905,"c":"2147483647 years 2562047787:00:00","d":"2147483648 days","e":"00:99999999999999999:00"}'
	# hstore.handling.mode=json: the map as a string of JSON.
	run -0 bash -c 'pgflo-format -t debezium | jq -r .after.h' <<<'{"op":"insert","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"key":[],"types":{"h":"hstore"},"new":{"h":"\"a\\\"q\"=>\"x\\\\y\", \"\"=>\"\", \"n\"=>NULL"}}'
	assert_output '{"a\"q":"x\\y","":"","n":null}'
	fx types.ndjson | pgflo-format -t pg_flo | sed -n 1p >"$BATS_TEST_TMPDIR/p"
	for want in '"c_num":123456789012345678901234567890.000000000000000000001' \
		'"c_uuid":[160,238,188,153,156,11,78,248,187,109,107,185,189,56,10,17]' \
		'"c_interval":{"Microseconds":14706700000,"Days":3,"Months":14,"Valid":true}' \
		'"a_text":"{a,\"b c\",NULL,\"NULL\",\"quote\\\"\",\"back\\\\slash\",\"{}\",\"\"}"' \
		'"c_xml":"\u003ca b=\"c\"\u003etext \u0026amp; more\u003c/a\u003e"'; do
		grep -qF -- "$want" "$BATS_TEST_TMPDIR/p" || fail "pg_flo lacks $want"
	done
}

@test "pgflo-format: hostile identifiers, an unchanged TOASTed column, JSON null, a copied row" {
	check hostile.ndjson hostile.debezium.out -t debezium -T
	check hostile.ndjson hostile.pg_flo.out -t pg_flo
	check hostile.ndjson hostile.sequin.out -t sequin
	check hostile.ndjson hostile.wal2json.out -t wal2json -x -s
	# Every line is one JSON object, also with newlines and quotes in names.
	local t
	for t in debezium pg_flo sequin wal2json; do
		run bash -c 'grep -v "^#" "$1" | pgflo-format -t "$2" -T | jq -c . | wc -l' _ \
			"$FX/hostile.ndjson" "$t"
		assert_output "$(fx "hostile.$t.out" | wc -l)"
	done
}

@test "pgflo-format: an unchanged TOASTed column: Debezium takes it from a FULL old row, else its placeholder" {
	printf '%s\n' '{"op":"update","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"key":["id","big","b"],"types":{"id":"integer","big":"text","b":"bytea"},"old":{"id":1,"big":"x","b":"\\x01"},"new":{"id":1},"unchanged":["big","b"]}' \
		'{"op":"update","schema":"s","table":"t","commit_lsn":"0/1","ordinal":2,"key":["id"],"types":{"id":"integer","big":"text","b":"bytea","a":"text[]"},"new":{"id":1},"unchanged":["big","b","a"]}' >"$BATS_TEST_TMPDIR/in"
	run -0 bash -c 'pgflo-format -t debezium <"$1" | jq -c "[.before, .after]"' _ "$BATS_TEST_TMPDIR/in"
	assert_output '[{"id":1,"big":"x","b":"AQ=="},{"id":1,"big":"x","b":"AQ=="}]
[null,{"id":1,"big":"__debezium_unavailable_value","b":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==","a":["__debezium_unavailable_value"]}]'
	run -0 bash -c 'pgflo-format -t debezium --placeholder "?" <"$1" | jq -c .after' _ "$BATS_TEST_TMPDIR/in"
	assert_line --index 1 '{"id":1,"big":"?","b":"Pw==","a":["?"]}'
	# pg_flo: null, as its NewTuple holds a 'u' column; wal2json: left out.
	run -0 bash -c 'pgflo-format -t pg_flo <"$1" | jq -c .NewTuple' _ "$BATS_TEST_TMPDIR/in"
	assert_line --index 1 '{"a":null,"b":null,"big":null,"id":1}'
	run -0 bash -c 'pgflo-format -t wal2json <"$1" | jq -c "[.columns[].name]"' _ "$BATS_TEST_TMPDIR/in"
	assert_output '["id"]
["id"]'
}

@test "pgflo-format: position records pass through byte for byte, in place" {
	local t pos='{"op":"position","commit_lsn":"0/1A2B3D00","ordinal":12,"stream_seq":4711,"x":1.10}'
	for t in debezium pg_flo sequin wal2json; do
		run -0 --separate-stderr bash -c "{ grep -m1 '\"insert\"' \"\$1\"; echo '$pos'; grep -m1 '\"insert\"' \"\$1\"; } | pgflo-format -t $t | sed -n 2p" _ "$FX/pg_flo-code.ndjson"
		assert_output "$pos"
		[ -z "$stderr" ]
	done
	# White space around the object goes, and only that.
	run -0 bash -c "printf ' \t%s \r\n' '$pos' | pgflo-format -t wal2json"
	assert_output "$pos"
	# pgflo-checkpoint takes them from there.
	fx pg_flo-code.ndjson | pgflo-format -t pg_flo | grep '^{"op":"position"' |
		pgflo-checkpoint --save "file:$BATS_TEST_TMPDIR/ck"
	run pgflo-checkpoint --get "file:$BATS_TEST_TMPDIR/ck" -f stream_seq
	assert_output 4711
}

@test "pgflo-format: debezium -T: BEGIN and END events with counts per table, transaction blocks" {
	{
		echo '{"op":"begin","commit_lsn":"0/100","ordinal":0,"xid":7,"commit_ts":"2026-11-23T18:00:00.000000Z"}'
		for i in 1 2 3; do
			t=a; [ "$i" = 2 ] && t=b
			echo "{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"$t\",\"commit_lsn\":\"0/100\",\"ordinal\":$i,\"xid\":7,\"commit_ts\":\"2026-11-23T18:00:00.000000Z\",\"key\":[\"id\"],\"types\":{\"id\":\"integer\"},\"new\":{\"id\":$i}}"
		done
		echo '{"op":"commit","commit_lsn":"0/100","ordinal":4,"xid":7,"commit_ts":"2026-11-23T18:00:00.000000Z","end_lsn":"0/130"}'
	} >"$BATS_TEST_TMPDIR/in"
	run -0 bash -c 'pgflo-format -t debezium -T <"$1" | jq -c "if .status then . else .transaction end"' _ "$BATS_TEST_TMPDIR/in"
	assert_output '{"status":"BEGIN","id":"7:256","ts_ms":1795456800000,"event_count":null,"data_collections":null}
{"id":"7:256","total_order":1,"data_collection_order":1}
{"id":"7:256","total_order":2,"data_collection_order":1}
{"id":"7:256","total_order":3,"data_collection_order":2}
{"status":"END","id":"7:256","ts_ms":1795456800000,"event_count":3,"data_collections":[{"data_collection":"s.a","event_count":2},{"data_collection":"s.b","event_count":1}]}'
	# Without -T: no boundary events, "transaction" null.
	run -0 bash -c 'pgflo-format -t debezium <"$1" | jq -c .transaction' _ "$BATS_TEST_TMPDIR/in"
	assert_output "$(printf 'null\nnull\nnull')"
}

@test "pgflo-format: the clock's fields are the time of formatting" {
	local before after
	before=$(date +%s%3N)
	fx debezium-docs.ndjson | head -n 1 | pgflo-format -t debezium >"$BATS_TEST_TMPDIR/d"
	fx pg_flo-code.ndjson | sed -n 2p | pgflo-format -t pg_flo >"$BATS_TEST_TMPDIR/p"
	after=$(date +%s%3N)
	ts=$(jq .ts_ms "$BATS_TEST_TMPDIR/d")
	(( ts >= before && ts <= after )) || fail "ts_ms $ts not in [$before, $after]"
	[ "$(jq .ts_us "$BATS_TEST_TMPDIR/d")" -ge $((ts * 1000)) ]
	em=$(jq -r .EmittedAt "$BATS_TEST_TMPDIR/p")
	[[ $em == 20[0-9][0-9]-*T*Z ]] || fail "EmittedAt $em"
	s=$(date -u -d "$em" +%s%3N)
	(( s >= before - 1 && s <= after )) || fail "EmittedAt $em not in range"
}

@test "pgflo-format: bad input names the line and exits 1" {
	run -1 --separate-stderr bash -c 'printf "%s\n" "{\"op\":\"position\",\"commit_lsn\":\"0/1\",\"ordinal\":1}" "{\"op\":" | pgflo-format -t wal2json'
	assert_output '{"op":"position","commit_lsn":"0/1","ordinal":1}'
	[[ $stderr == "pgflo-format: <stdin>:2: invalid JSON: "* ]] || fail "$stderr"
	run -1 --separate-stderr pgflo-format -t debezium <<<'{"op":"insert","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"types":{"a":"text"}}'
	assert_equal "$stderr" 'pgflo-format: <stdin>:1: insert record without "new"'
	run -1 --separate-stderr pgflo-format -t pg_flo <<<'{"op":"upsert"}'
	assert_equal "$stderr" 'pgflo-format: <stdin>:1: unknown op "upsert"'
	run -1 --separate-stderr bash -c 'printf "{\"op\":\"position\",\"group\":\"\x80\"}\n" | pgflo-format -t sequin'
	assert_equal "$stderr" 'pgflo-format: <stdin>:1: invalid JSON: unable to decode byte 0x80 near '\''"'\'' (column 26)'
	run -1 --separate-stderr pgflo-format -t sequin <<<'[1,2]'
	assert_equal "$stderr" 'pgflo-format: <stdin>:1: record is not a JSON object'
	run -1 --separate-stderr pgflo-format -t sequin <<<'{"schema":"s"}'
	assert_equal "$stderr" 'pgflo-format: <stdin>:1: record without "op"'
}

@test "pgflo-format: -k warns and goes on, --dead-letter sets the line aside" {
	printf '%s\n' "$(fx wal2json-readme.ndjson | sed -n 3p)" 'not json' \
		"$(fx wal2json-readme.ndjson | sed -n 4p)" >"$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr pgflo-format -t wal2json -k <"$BATS_TEST_TMPDIR/in"
	assert_equal "${#lines[@]}" 2
	[[ $stderr == "pgflo-format: <stdin>:2: invalid JSON: "*" (skipped)" ]] || fail "$stderr"
	run -0 --separate-stderr pgflo-format -t wal2json -v \
		--dead-letter "$BATS_TEST_TMPDIR/dl" <"$BATS_TEST_TMPDIR/in"
	assert_equal "${#lines[@]}" 2
	assert_equal "$(cat "$BATS_TEST_TMPDIR/dl")" 'not json'
	assert_equal "$(stat -c %a "$BATS_TEST_TMPDIR/dl")" 600
	[[ $stderr == *"pgflo-format: 3 records read, 2 written, 0 without counterpart in wal2json, 1 bad" ]] ||
		fail "$stderr"
}

@test "pgflo-format: -t is required, PGFLO_FORMAT stands in, an unknown format is a usage error" {
	run -2 --separate-stderr pgflo-format </dev/null
	assert_equal "${stderr_lines[0]}" 'pgflo-format: -t is required (or PGFLO_FORMAT)'
	assert_equal "${stderr_lines[1]}" 'usage: pgflo-format [-Tksvx] [-n name] [--dead-letter file] -t format'
	run -2 --separate-stderr pgflo-format -t avro </dev/null
	assert_equal "${stderr_lines[0]}" "pgflo-format: --to 'avro': unknown format (debezium, pg_flo, wal2json, sequin)"
	run -0 bash -c 'fx() { grep -v "^#" "$1"; }; fx "$1" | PGFLO_FORMAT=wal2json pgflo-format | head -n 1' _ "$FX/wal2json-readme.ndjson"
	assert_output '{"action":"M","transactional":false,"prefix":"wal2json","content":"this non-transactional message will be delivered even if you rollback the transaction"}'
	# -t over the environment; PGFLO_FORMAT_NAME for -n.
	run -0 bash -c 'grep -v "^#" "$1" | head -n 1 | PGFLO_FORMAT=wal2json PGFLO_FORMAT_NAME=envname pgflo-format -t debezium | jq -r .source.name' _ "$FX/debezium-docs.ndjson"
	assert_output envname
}

@test "pgflo-format: a line over 1 MiB and an unterminated last line" {
	big=$(head -c 1200000 /dev/zero | tr '\0' x)
	{
		echo "{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"commit_lsn\":\"0/1\",\"ordinal\":1,\"key\":[],\"types\":{\"v\":\"text\"},\"new\":{\"v\":\"$big\"}}"
		printf '%s' '{"op":"commit","commit_lsn":"0/1","ordinal":2}'
	} >"$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr bash -c 'pgflo-format -t wal2json <"$1" | cut -c1-80' _ "$BATS_TEST_TMPDIR/in"
	assert_output '{"action":"I","schema":"s","table":"t","columns":[{"name":"v","type":"text","val
{"action":"C"}'
	run -0 bash -c 'pgflo-format -t wal2json <"$1" | head -n 1 | jq ".columns[0].value | length"' _ "$BATS_TEST_TMPDIR/in"
	assert_output 1200000
}

@test "pgflo-format: | head -n1 ends it at once, stderr empty" {
	for _ in $(seq 2000); do fx types.ndjson; done >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr bash -c 'pgflo-format -t debezium <"$1" | head -n1 >/dev/null; echo "${PIPESTATUS[0]}"' _ "$BATS_TEST_TMPDIR/in"
	assert_output 141
	[ -z "$stderr" ]
}

@test "pgflo-format: stdout on /dev/full exits 1 with write error" {
	run -1 --separate-stderr bash -c 'grep -v "^#" "$1" | pgflo-format -t sequin >/dev/full' _ "$FX/sequin-docs.ndjson"
	[[ $stderr == "pgflo-format: write error"* ]] || fail "$stderr"
}

@test "pgflo-format: SIGTERM and SIGINT between lines: exit 0, every line whole" {
	local sig
	for sig in TERM INT; do
		mkfifo "$BATS_TEST_TMPDIR/fifo$sig"
		python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("pgflo-format", ["pgflo-format", "-t", "wal2json"])' \
			<"$BATS_TEST_TMPDIR/fifo$sig" >"$BATS_TEST_TMPDIR/out$sig" 3>&- &
		pid=$!
		exec 5>"$BATS_TEST_TMPDIR/fifo$sig"
		fx wal2json-readme.ndjson | head -n 3 >&5
		for _ in $(seq 100); do
			[ "$(wc -l <"$BATS_TEST_TMPDIR/out$sig")" -eq 3 ] && break
			sleep 0.05
		done
		kill -"$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		exec 5>&-
		assert_equal "$rc" 0
		run diff "$BATS_TEST_TMPDIR/out$sig" <(fx wal2json-readme.out | head -n 3)
		assert_success
	done
}

@test "pgflo-format: the man page's example runs" {
	fx wal2json-readme.ndjson >"$BATS_TEST_TMPDIR/changes.ndjson"
	cd "$BATS_TEST_TMPDIR"
	run -0 bash -c 'pgflo-format -t wal2json -x < changes.ndjson | head -n 2'
	assert_output '{"action":"M","xid":null,"transactional":false,"prefix":"wal2json","content":"this non-transactional message will be delivered even if you rollback the transaction"}
{"action":"B","xid":501}'
}

@test "pgflo-format: capture | format against PostgreSQL: byte for byte what the wal2json plugin writes" {
	psql_src <"$BATS_TEST_DIRNAME/fixtures/capture/types.sql"
	psql_src -c "CREATE TABLE \"we\"\"ird\n<&>\" (\"k\"\"ey\" int PRIMARY KEY, \"big é\" text, n numeric)"
	psql_src -c "INSERT INTO \"we\"\"ird\n<&>\" SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 4000) i"
	pgflo-capture -d "$PGFLO_SRC" -S fmt -t 'public.*' --create-slot -E 0/1
	psql_src -c "SELECT 'x' FROM pg_create_logical_replication_slot('w2j', 'wal2json')" >/dev/null
	psql_src -c 'UPDATE types SET id = id + 10' \
		-c "UPDATE \"we\"\"ird\n<&>\" SET n = 1.50" \
		-c 'INSERT INTO types (id, c_text) VALUES (3, E'\''new\nline'\'')' \
		-c 'DELETE FROM types WHERE id = 12' -c 'TRUNCATE types' \
		-c "BEGIN; INSERT INTO types (id) VALUES (4); SELECT 'x' FROM pg_logical_emit_message(true, 'p\"1', E'tx \"msg\"\\n'); SELECT 'x' FROM pg_logical_emit_message(false, 'nt', 'non-tx é'); COMMIT" >/dev/null
	end=$(psql_src -c 'SELECT pg_current_wal_insert_lsn()')
	pgflo-capture -d "$PGFLO_SRC" -S fmt -E "$end" |
		pgflo-format -t wal2json -x -s >"$BATS_TEST_TMPDIR/ours"
	psql_src -c "SELECT data FROM pg_logical_slot_get_changes('w2j', '$end', NULL,
		'format-version', '2', 'include-xids', '1', 'include-timestamp', '1')" \
		>"$BATS_TEST_TMPDIR/theirs"
	# json keeps its original spacing in wal2json; pgflo's records drop it.
	strip() { sed 's/"c_json","type":"json","value":"[^}]*}"/"c_json"/' "$1"; }
	run diff <(strip "$BATS_TEST_TMPDIR/theirs") <(strip "$BATS_TEST_TMPDIR/ours")
	assert_success
	assert_output ''
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/ours")" 21
	run grep -c '"action":"M"' "$BATS_TEST_TMPDIR/ours"
	assert_output 2
	# The unchanged TOASTed column is left out by both.
	run grep -c '"name":"big é"' "$BATS_TEST_TMPDIR/ours"
	assert_output 0
	grep -qF '{"name":"c_json","type":"json","value":"{\"b\":[1,2.50,\"x y\"],\"a\":null,\"a\":1e400}"}' \
		"$BATS_TEST_TMPDIR/ours"
}

@test "pgflo-format: a value that is no JSON number stays a string; an absent field is null" {
	run -0 pgflo-format -t wal2json <<<'{"op":"insert","schema":"s","table":"t","commit_lsn":"0/1","ordinal":1,"key":[],"types":{"n":"numeric","m":"integer"},"new":{"n":"2026-11-23","m":"1e"}}'
	assert_output '{"action":"I","schema":"s","table":"t","columns":[{"name":"n","type":"numeric","value":"2026-11-23"},{"name":"m","type":"integer","value":"1e"}]}'
	run -0 pgflo-format -t wal2json <<<'{"op":"message","commit_lsn":"0/1","ordinal":1,"transactional":false}'
	assert_output '{"action":"M","transactional":false,"prefix":null,"content":null}'
}

@test "pgflo-format: 20000 mutated records: every line out is one JSON object, never a crash" {
	python3 - "$FX" >"$BATS_TEST_TMPDIR/in" <<'PY'
import glob, json, random, sys
random.seed(18)
lines = []
for f in sorted(glob.glob(sys.argv[1] + '/*.ndjson')):
    lines += [l.rstrip('\n') for l in open(f) if not l.startswith('#')]
types = ["integer", "numeric", "bytea", "date", "timestamp with time zone",
         "timestamp(3) without time zone", "time(2) without time zone",
         "time with time zone", "interval", "uuid", "inet", "jsonb", "json",
         "money", "boolean", "text[]", "integer[]", "jsonb[]", "box[]",
         "macaddr", '"char"', "double precision", "mood[]"]
vals = ['null', '1', '-1.5', '"x"', '""', '"\\\\xzz"', '"\\\\x0"', '[1,[2,[3]]]',
        '{"a":[]}', '"2026-13-45 99:99:99"', '"infinity"', '"-infinity"',
        '"1 year -2 mons +3 days -04:05:06.5"', '"12:00:00+05:30"', '"NaN"',
        'true', '"\\u0000"', '[]', '[null,"a,b",{"k":"v"}]', '"08:00:2b"',
        '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd38"', '"::1"', '"1.5.5"']
for i in range(20000):
    l = random.choice(lines)
    if random.random() < 0.3:
        print(l[:random.randint(0, len(l))])
        continue
    o = json.loads(l)
    for k in list(o.get('types', {})):
        if random.random() < 0.5:
            o['types'][k] = random.choice(types)
    for row in ('new', 'old'):
        for k in list(o.get(row, {}) if isinstance(o.get(row), dict) else []):
            if random.random() < 0.5:
                o[row][k] = json.loads(random.choice(vals))
    if random.random() < 0.1:
        o[random.choice(list(o))] = json.loads(random.choice(vals))
    print(json.dumps(o, ensure_ascii=False, separators=(',', ':')))
PY
	local t
	for t in debezium pg_flo sequin wal2json; do
		run -0 bash -c 'pgflo-format -t "$1" -k -T -x -s <"$2" 2>/dev/null | jq -c "type" | sort | uniq -c' _ "$t" "$BATS_TEST_TMPDIR/in"
		[[ $output =~ ^\ *[0-9]+\ \"object\"$ ]] || fail "$t: $output"
	done
}

@test "pgflo-format: scripts/fuzz format: statuses, named lines, JSON out, positions kept" {
	run -0 --separate-stderr env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" \
		"$TOP/scripts/fuzz" format
	[[ "$output" == "fuzz: format: "*" runs, "*": ok" ]] || { echo "$stderr"; false; }
}
