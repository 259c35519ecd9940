#!/usr/bin/env bats
# End to end: pgflo-capture | pgflo-sink-pg between two real databases.
# The target must end identical to the source: every type, TOAST,
# REPLICA IDENTITY FULL, hostile identifiers, replays, kill -9.

load test_helper

FIX="$BATS_TEST_DIRNAME/fixtures/e2e"

have_tools() {
	[ -x "$TOP/bin/pgflo-capture" ] && [ -x "$TOP/bin/pgflo-sink-pg" ]
}

setup() {
	# Until both tools have landed this suite has nothing to run.
	have_tools || skip "pgflo-capture or pgflo-sink-pg not built yet"
}

setup_file() {
	if ! have_tools; then
		return 0
	fi
	pg_start
	psql_src -f "$FIX/schema.sql" 2>/dev/null
	psql_dst -f "$FIX/schema.sql" 2>/dev/null
}

teardown_file() {
	if have_tools; then
		pg_stop
	fi
}

# md5 of every row's text form, in a stable order, for one table.
table_md5() {	# table_md5 psqlfn table
	"$1" -c "select count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '-') from $2 t"
}

same_tables() {
	local t s d
	for t in types '"we""ird tab lé"' nokey docs "$@"; do
		s=$(table_md5 psql_src "$t")
		d=$(table_md5 psql_dst "$t")
		[ "$s" = "$d" ] || fail "table $t differs: src $s, dst $d"
	done
}

endpos() {
	psql_src -c "select pg_current_wal_insert_lsn()"
}

# Stream everything up to now from slot $1 into dst.
sync_slot() {
	pgflo-capture -d "$PGFLO_SRC" -S "$1" --endpos "$(endpos)" |
		pgflo-sink-pg -d "$PGFLO_DST" -g "$1" > "$BATS_TEST_TMPDIR/positions"
}

@test "e2e: every type, key and identifier round-trips through capture | sink-pg" {
	pgflo-capture -d "$PGFLO_SRC" -S e2e -t 'public.*' --create-slot --endpos 0/1 \
		> /dev/null
	psql_src -f "$FIX/rows.sql"
	sync_slot e2e
	same_tables
	run -0 psql_dst -c "select count(*) from types"
	assert_output 5
	run -0 psql_dst -c "select id, c_jsonb is null, c_jsonb_arr from types where id in (3, 5) order by id"
	assert_output '3|t|
5|f|{"null",NULL}'

	# The last line sink-pg printed is the position of the last commit.
	run -0 tail -n1 "$BATS_TEST_TMPDIR/positions"
	assert_output --regexp '^\{"op":"position","commit_lsn":"[0-9A-F]+/[0-9A-F]+","ordinal":[0-9]+'
}

@test "e2e: json keeps key order and duplicates; whitespace is compacted" {
	psql_src -c "INSERT INTO types (id, c_json) VALUES (6, E'{ \"b\" : 1,\n \"a\": [ 2 ], \"b\": \"x y\" }')"
	sync_slot e2e
	run -0 psql_dst -c "select c_json from types where id = 6"
	assert_output '{"b":1,"a":[2],"b":"x y"}'
	psql_src -c "DELETE FROM types WHERE id = 6"
	sync_slot e2e
}

@test "e2e: updates, key changes, deletes and TOAST-unchanged columns" {
	psql_src <<'SQL'
UPDATE types SET c_text = c_text || ' updated', c_int_arr = '{9}' WHERE id = 1;
UPDATE types SET id = 40 WHERE id = 4;
DELETE FROM types WHERE id = 2;
UPDATE docs SET n = n + 1;             -- body and meta are TOASTed, unchanged
UPDATE "we""ird tab lé" SET "Mixed Case" = 5, "ünï ☃" = 'ß' WHERE "select" = 1;
DELETE FROM "we""ird tab lé" WHERE "select" = 3;
UPDATE nokey SET b = 'two' WHERE a = 2;
DELETE FROM nokey WHERE ctid = (SELECT min(ctid) FROM nokey WHERE a = 1);
SQL
	sync_slot e2e
	same_tables
	run -0 psql_dst -c "select n, length(body), length(meta->>'k') from docs order by id limit 1"
	assert_output '1|1280000|100000'
	run -0 psql_dst -c "select count(*) from nokey where a = 1"
	assert_output 1
}

@test "e2e: truncate reaches the target" {
	psql_src -c "INSERT INTO nokey VALUES (9, 'nine', NULL)" -c "TRUNCATE nokey"
	sync_slot e2e
	run -0 psql_dst -c "select count(*) from nokey"
	assert_output 0
	same_tables
}

@test "e2e: applying the same captured stream twice changes nothing" {
	psql_src -c "select pg_create_logical_replication_slot('replay', 'pgoutput')" > /dev/null
	psql_src -c "INSERT INTO types (id, c_text) SELECT g, 'r' || g FROM generate_series(100, 199) g" \
		-c "UPDATE types SET c_int4 = id WHERE id >= 100" \
		-c "DELETE FROM types WHERE id BETWEEN 150 AND 159"
	pgflo-capture -d "$PGFLO_SRC" -S replay -P e2e --endpos "$(endpos)" \
		> "$BATS_TEST_TMPDIR/stream"
	pgflo-sink-pg -d "$PGFLO_DST" -g replay < "$BATS_TEST_TMPDIR/stream" > /dev/null
	same_tables
	before=$(table_md5 psql_dst types)
	pgflo-sink-pg -d "$PGFLO_DST" -g replay < "$BATS_TEST_TMPDIR/stream" > /dev/null
	[ "$(table_md5 psql_dst types)" = "$before" ]
	# The e2e slot sees the same changes again: its group skips nothing
	# it has not applied, and the result is still identical.
	sync_slot e2e
	same_tables
}

@test "e2e: kill -9 of the whole pipeline, then a rerun, converges" {
	cp="$BATS_TEST_TMPDIR/e2e.pos"
	# A writer of 300 transactions while the pipeline runs.
	(
		for i in $(seq 0 299); do
			echo "BEGIN; INSERT INTO load SELECT g, md5(g::text), g / 7.0 FROM generate_series($((i * 100)), $((i * 100 + 99))) g;"
			echo "UPDATE load SET v = 'u' WHERE id = $((i * 100)); DELETE FROM load WHERE id = $((i * 100 + 1)); COMMIT;"
		done
	) > "$BATS_TEST_TMPDIR/load.sql"
	psql_src -f "$BATS_TEST_TMPDIR/load.sql" &
	writer=$!
	for round in 1 2 3; do
		pgflo-capture -d "$PGFLO_SRC" -S e2e -t 'public.*' --checkpoint "file:$cp" 3>&- |
			pgflo-sink-pg -d "$PGFLO_DST" -g e2e 3>&- |
			pgflo-checkpoint -s "file:$cp" -i 100ms 3>&- &
		pipeline=$!
		sleep 1.$round
		pkill -9 -f "pgflo-capture -d $PGFLO_SRC -S e2e" || true
		pkill -9 -f "pgflo-sink-pg -d $PGFLO_DST -g e2e" || true
		wait "$pipeline" || true
	done
	wait "$writer"
	pgflo-capture -d "$PGFLO_SRC" -S e2e --checkpoint "file:$cp" --endpos "$(endpos)" |
		pgflo-sink-pg -d "$PGFLO_DST" -g e2e | pgflo-checkpoint -s "file:$cp"
	same_tables load
	run -0 psql_dst -c "select count(*) from load"
	assert_output 29700
}

@test "e2e: sink-pg reconnects when its backend is killed and applies everything once" {
	psql_src -c "CREATE TABLE IF NOT EXISTS recon (id int PRIMARY KEY, v int)"
	psql_dst -c "CREATE TABLE IF NOT EXISTS public.recon (id int PRIMARY KEY, v int)"
	psql_src -c "select pg_create_logical_replication_slot('recon', 'pgoutput')" > /dev/null
	psql_src -c "CREATE PUBLICATION recon FOR TABLE recon"
	for i in $(seq 1 40); do
		echo "INSERT INTO recon SELECT g, $i FROM generate_series($((i * 50)), $((i * 50 + 49))) g;"
		echo "UPDATE recon SET v = v + 1 WHERE id = $((i * 50));"
	done | psql_src
	pgflo-capture -d "$PGFLO_SRC" -S recon --endpos "$(endpos)" > "$BATS_TEST_TMPDIR/stream"
	[ "$(grep -c "\"op\":\"insert\"" "$BATS_TEST_TMPDIR/stream")" -eq 2000 ]
	# Feed the stream slowly, kill the sink's session in the middle.
	( while IFS= read -r line; do printf '%s\n' "$line"; sleep 0.002; done \
		< "$BATS_TEST_TMPDIR/stream" ) 3>&- |
		pgflo-sink-pg -d "$PGFLO_DST" -g recon --batch-rows 50 3>&- \
		> "$BATS_TEST_TMPDIR/pos" 2> "$BATS_TEST_TMPDIR/err" &
	sink=$!
	sleep 0.6
	run -0 psql_admin -c "select count(pg_terminate_backend(pid)) > 0 from pg_stat_activity where datname = 'dst' and application_name = 'pgflo-sink-pg'"
	assert_output t
	wait "$sink"
	grep -q "reconnect" "$BATS_TEST_TMPDIR/err" ||
		fail "no reconnect reported: $(cat "$BATS_TEST_TMPDIR/err")"
	same_tables recon
	run -0 psql_dst -c "select count(*), sum(v) from recon"
	assert_output "$(psql_src -c 'select count(*), sum(v) from recon')"
}

@test "e2e: --disable-triggers keeps target triggers from firing" {
	psql_src -c "CREATE TABLE IF NOT EXISTS trig (id int PRIMARY KEY)"
	psql_dst <<'SQL'
CREATE TABLE IF NOT EXISTS public.trig (id int PRIMARY KEY);
CREATE TABLE IF NOT EXISTS public.trig_audit (id int);
CREATE OR REPLACE FUNCTION trig_audit() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.trig_audit VALUES (NEW.id); RETURN NEW; END$$;
CREATE TRIGGER trig_audit AFTER INSERT ON public.trig FOR EACH ROW EXECUTE FUNCTION trig_audit();
SQL
	rec() { printf '{"op":"insert","schema":"public","table":"trig","key":["id"],"types":{"id":"integer"},"new":{"id":%s},"commit_lsn":"1/%X","ordinal":1}\n' "$1" "$1"; }
	rec 1 | pgflo-sink-pg -d "$PGFLO_DST" -g trig > /dev/null
	rec 2 | pgflo-sink-pg -d "$PGFLO_DST" -g trig --disable-triggers > /dev/null
	run -0 psql_dst -c "select string_agg(id::text, ',' order by id) from trig"
	assert_output '1,2'
	run -0 psql_dst -c "select string_agg(id::text, ',' order by id) from trig_audit"
	assert_output '1'
}

@test "e2e: copy then capture round-trips every type, JSON null included" {
	psql_admin -c "DROP DATABASE IF EXISTS copysrc" -c "DROP DATABASE IF EXISTS copydst" \
		-c "CREATE DATABASE copysrc OWNER pgflo" -c "CREATE DATABASE copydst OWNER pgflo"
	src="${PGFLO_SRC/dbname=src/dbname=copysrc}"
	dst="${PGFLO_DST/dbname=dst/dbname=copydst}"
	psql -X -q -v ON_ERROR_STOP=1 -d "$src" -f "$FIX/schema.sql" 2>/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -f "$FIX/schema.sql" 2>/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d "$src" -f "$FIX/rows.sql"
	pgflo-copy -d "$src" -S cp -t 'public.*' > "$BATS_TEST_TMPDIR/copy"
	grep -q '"json_null":\["c_json","c_jsonb"\]' "$BATS_TEST_TMPDIR/copy"
	psql -X -q -d "$src" -c "UPDATE types SET c_text = 'after copy' WHERE id = 1"
	end=$(psql -X -At -d "$src" -c "select pg_current_wal_insert_lsn()")
	{ cat "$BATS_TEST_TMPDIR/copy"; pgflo-capture -d "$src" -S cp --endpos "$end"; } |
		pgflo-sink-pg -d "$dst" > /dev/null
	local t s d
	for t in types '"we""ird tab lé"' nokey docs; do
		s=$(psql -X -At -d "$src" -c "select count(*) || ' ' || md5(string_agg(t::text, '|' order by t::text)) from $t t")
		d=$(psql -X -At -d "$dst" -c "select count(*) || ' ' || md5(string_agg(t::text, '|' order by t::text)) from $t t")
		[ "$s" = "$d" ] || fail "table $t differs after copy: $s vs $d"
	done
	run -0 psql -X -At -d "$dst" -c "select c_text from types where id = 1"
	assert_output 'after copy'
}

@test "e2e: domains over jsonb, json and arrays round-trip like their base types" {
	for db in psql_src psql_dst; do
		$db <<'SQL'
CREATE DOMAIN jdom AS jsonb;
CREATE DOMAIN jdom2 AS jdom CHECK (VALUE IS NOT NULL);
CREATE DOMAIN jtdom AS json;
CREATE TABLE public.doms (id int PRIMARY KEY, j jdom, j2 jdom2, jt jtdom, ja jdom[], p posint);
SQL
	done
	pgflo-capture -d "$PGFLO_SRC" -S doms -t public.doms --create-slot --endpos 0/1 > /dev/null
	psql_src <<'SQL'
INSERT INTO doms VALUES
 (1, '"abc"', 'true', '[1,2]', ARRAY['{"a":1}'::jdom, '"x"'::jdom], 5),
 (2, '[1, "two"]', '{"k": null}', '"s"', '{}', 7),
 (3, 'null', '1.10', 'null', NULL, NULL);
SQL
	sync_slot doms
	same_tables doms
	run -0 psql_dst -c "select j is null, j::text from doms where id = 3"
	assert_output 'f|null'
}

@test "e2e: pgflo(7) scaling recipe: two table groups, two pipelines, one target" {
	for db in psql_src psql_dst; do
		$db -c "CREATE TABLE public.order_lines (id int PRIMARY KEY, qty int)" \
			-c "CREATE TABLE public.users (id int PRIMARY KEY, name text)"
	done
	cd "$BATS_TEST_TMPDIR"
	for g in "orders public.order*" "users public.users"; do
		set -- $g
		pgflo-capture -d "$PGFLO_SRC" -S "$1" -t "$2" --create-slot --endpos 0/1 > /dev/null
	done
	psql_src -c "INSERT INTO order_lines SELECT g, g FROM generate_series(1, 500) g" \
		-c "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 300) g" \
		-c "BEGIN; UPDATE order_lines SET qty = 0 WHERE id < 10; DELETE FROM users WHERE id < 5; COMMIT"
	end=$(endpos)
	for g in orders users; do
		pgflo-capture -d "$PGFLO_SRC" -S $g --checkpoint file:$g.pos --endpos "$end" |
		pgflo-sink-pg -d "$PGFLO_DST" -g $g |
		pgflo-checkpoint --save file:$g.pos &
	done
	wait
	same_tables order_lines users
	run -0 psql_dst -c "select group_name from pgflo.applied where group_name in ('orders', 'users') order by 1"
	assert_output $'orders\nusers'
	run -0 pgflo-checkpoint --get file:users.pos -f commit_lsn
	assert_output --regexp '^[0-9A-F]+/[0-9A-F]+$'
}

@test "e2e: a 16 MB bytea row and a 7 MB unicode text survive, then stay through an update" {
	for db in psql_src psql_dst; do
		$db -c "CREATE TABLE public.huge (id int PRIMARY KEY, b bytea, t text)"
	done
	pgflo-capture -d "$PGFLO_SRC" -S huge -t public.huge --create-slot --endpos 0/1 > /dev/null
	psql_src -c "INSERT INTO huge SELECT 1, decode(repeat(md5('y'), 1000000), 'hex'), repeat('é☃', 1200000)" \
		-c "UPDATE huge SET t = t || '!' WHERE id = 1" \
		-c "INSERT INTO huge VALUES (2, '\\x00', 'small')" \
		-c "UPDATE huge SET id = 3 WHERE id = 1"
	sync_slot huge
	same_tables huge
	run -0 psql_dst -c "select id, length(b), length(t) from huge order by id"
	assert_output $'2|1|5\n3|16000000|2400001'
}

@test "e2e: a record over PGFLO_MAX_RECORD stops the sink with its line, unless raised" {
	psql_dst -c "CREATE TABLE IF NOT EXISTS public.huge (id int PRIMARY KEY, b bytea, t text)"
	printf '{"op":"insert","schema":"public","table":"huge","key":["id"],"types":{"id":"integer","t":"text"},"new":{"id":9,"t":"%s"},"commit_lsn":"9/1","ordinal":1}\n' \
		"$(head -c 3000000 /dev/zero | tr '\0' z)" > "$BATS_TEST_TMPDIR/big"
	PGFLO_MAX_RECORD=2M run -1 --separate-stderr pgflo-sink-pg -d "$PGFLO_DST" -g big < "$BATS_TEST_TMPDIR/big"
	assert_equal "$stderr" "pgflo-sink-pg: <stdin>:1: record exceeds the limit of 2097152 bytes (PGFLO_MAX_RECORD)"
	PGFLO_MAX_RECORD=4M run -0 pgflo-sink-pg -d "$PGFLO_DST" -g big < "$BATS_TEST_TMPDIR/big"
	run -0 psql_dst -c "select length(t) from huge where id = 9"
	assert_output 3000000
}

# The copy-and-stream line of README.md, with one checkpoint store; $1 the
# store. Every stage's stderr is appended to $BATS_TEST_TMPDIR/line.err.
ACC_LINE='{ pgflo-copy -d "$PGFLO_SRC" -S acc -t "acc.*" -c "file:$1" &&
    pgflo-capture -d "$PGFLO_SRC" -S acc -c "file:$1"; } |
  pgflo-sink-pg -d "$PGFLO_DST" -g acc | pgflo-checkpoint --save "file:$1"'

# acc_same: both acc tables equal in src and dst (count and md5 of rows).
acc_same() {
	local t
	for t in acc.k acc.n; do
		[ "$(table_md5 psql_src "$t")" = "$(table_md5 psql_dst "$t")" ] || return 1
	done
}

@test "e2e: the copy-and-stream line, kill -9 of a random stage 10 times under writes, converges" {
	cp=$BATS_TEST_TMPDIR/acc.pos
	for db in psql_src psql_dst; do
		$db -c "CREATE SCHEMA acc; CREATE TABLE acc.k (id int PRIMARY KEY, v text, n int);
		  CREATE TABLE acc.n (id int, v text, n int); ALTER TABLE acc.n REPLICA IDENTITY FULL"
	done
	psql_src -c "INSERT INTO acc.k SELECT g, md5(g::text), 0 FROM generate_series(1, 200000) g;
	  INSERT INTO acc.n SELECT g, md5(g::text), 0 FROM generate_series(1, 50000) g"
	# A writer: inserts, updates, key moves and deletes in both tables.
	for i in $(seq 1 4000); do
		b=$((1000000 + i * 3))
		echo "BEGIN;
INSERT INTO acc.k SELECT g, 'w' || g, 0 FROM generate_series($b, $((b + 2))) g;
INSERT INTO acc.n SELECT g, 'w' || g, 0 FROM generate_series($b, $((b + 2))) g;
UPDATE acc.k SET n = n + 1, v = 'u$i' WHERE id IN ($((i * 37 % 200000 + 1)), $((i * 91 % 200000 + 1)));
UPDATE acc.k SET id = id + 5000000 WHERE id = $((i * 7 % 200000 + 1));
DELETE FROM acc.k WHERE id = $((i * 101 % 200000 + 1));
UPDATE acc.n SET n = n + 1, v = 'u$i' WHERE id = $((i * 37 % 50000 + 1));
DELETE FROM acc.n WHERE id = $((i * 53 % 50000 + 1));
COMMIT; SELECT pg_sleep(0.02);"
	done >"$BATS_TEST_TMPDIR/writer.sql"
	psql -X -q -d "$PGFLO_SRC" -f "$BATS_TEST_TMPDIR/writer.sql" >/dev/null 3>&- &
	writer=$!
	stages=(pgflo-copy pgflo-capture pgflo-sink-pg pgflo-checkpoint)
	for round in $(seq 1 10); do
		bash -c "$ACC_LINE" _ "$cp" 2>>"$BATS_TEST_TMPDIR/line.err" 3>&- &
		line=$!
		# Rounds 1-3 kill during the copy (it takes seconds), later ones
		# mostly while streaming.
		if [ "$round" -le 3 ]; then
			sleep "0.$((3 + RANDOM % 7))"
		else
			sleep "$((4 + RANDOM % 4)).$((RANDOM % 10))"
		fi
		victim=
		for try in 0 1 2 3; do
			s=${stages[$(((RANDOM + try) % 4))]}
			if pkill -9 -f "^$s .*(-S acc|-g acc|file:$cp)"; then
				victim=$s
				break
			fi
		done
		echo "round $round at ${SECONDS}s: killed ${victim:-nothing (the line had ended)}"
		# The survivors notice and end: EOF, EPIPE or a gone reader.
		for _ in $(seq 1 600); do
			kill -0 "$line" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$line" 2>/dev/null; then
			ps -ef | grep 'pgflo-' | grep -v grep
			fail "round $round: the line did not end after $victim was killed"
		fi
		wait "$line" || true
	done
	kill "$writer" 2>/dev/null || true
	wait "$writer" || true
	echo "writer stopped at ${SECONDS}s"
	# The same line once more, until the target has caught up.
	bash -c "$ACC_LINE" _ "$cp" 2>>"$BATS_TEST_TMPDIR/line.err" 3>&- &
	line=$!
	for _ in $(seq 1 240); do
		acc_same && break
		sleep 0.5
	done
	echo "caught up at ${SECONDS}s"
	pkill -TERM -f "^pgflo-capture .*-S acc" || true
	wait "$line" || true
	if ! acc_same; then
		tail -n 20 "$BATS_TEST_TMPDIR/line.err"
		for t in acc.k acc.n; do
			echo "$t src $(table_md5 psql_src "$t") dst $(table_md5 psql_dst "$t")"
		done
		fail "the target did not converge"
	fi
	run -0 psql_dst -c "SELECT count(*) - count(DISTINCT (id, v, n)) FROM acc.n"
	assert_output 0
	run -0 psql_dst -c "SELECT count(*) FROM acc.n"
	[ "$output" -gt 50000 ]
	run -0 jq -c '.copy | [.slot, .done, ([.tables[].table] | sort)]' "$cp"
	assert_output '["acc",true,["k","n"]]'
	pgflo-capture -d "$PGFLO_SRC" -S acc --drop
}
