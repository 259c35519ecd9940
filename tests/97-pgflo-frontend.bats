#!/usr/bin/env bats
# pgflo, the front end that runs pg_flo's commands: pg_flo's own end to end
# scenarios (its internal/scripts/e2e_*.sh: stream only, copy only, copy
# and stream, transform and filter, DDL, resume, routing, order, postgres
# sink, multi-table, ...) as pg_flo users run them, with a pg_flo config
# file, rules and routing files (tests/fixtures/pg_flo/), against a real
# PostgreSQL and nats-server.  The tests that need pgflo-format or
# pgflo-schema skip until those tools are built.

load test_helper

FIX=$BATS_TEST_DIRNAME/fixtures/pg_flo

setup_file() {
	pg_start
	nats_start
}

teardown_file() {
	nats_stop
	pg_stop
}

setup() {
	run_dir=$BATS_TEST_TMPDIR
	group=g$BATS_TEST_NUMBER
	slot=pg_flo_${group}_publication
	pids=()
	# The config file carries the password: no .pgpass for pgflo.
	sed -e "s|@PORT@|$PGPORT|g" -e "s|@NATS@|$PGFLO_NATS_URL|g" \
	    -e "s|@GROUP@|$group|g" "$FIX/config.yaml.in" >"$run_dir/cfg.yaml"
}

teardown() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	pgflo-capture -d "$PGFLO_SRC" -S "$slot" --drop >/dev/null 2>&1 || true
}

# pgflo ARGS in the background without ~/.pgpass or PGFLO_NATS_URL (the
# config file has both), stderr to $run_dir/NAME.err.
bg() {
	local name=$1
	shift
	(unset PGPASSFILE PGFLO_NATS_URL; exec pgflo "$@") \
	    >"$run_dir/$name.out" 2>"$run_dir/$name.err" 3>&- &
	pids+=($!)
	eval "${name}_pid=$!"
}

# Stops background pgflo $1 with SIGTERM; fails unless it exits 0.
stop() {
	local pid
	eval "pid=\$${1}_pid"
	kill -TERM "$pid"
	wait "$pid" || { cat "$run_dir/$1.err" >&2; return 1; }
}

# Waits (up to ~30 s) until SQL $2 on the target prints exactly $1.
wait_dst() {
	local i got
	for i in $(seq 1 100); do
		got=$(psql_dst -c "$2" 2>/dev/null) || true
		[ "$got" = "$1" ] && return 0
		sleep 0.3
	done
	echo "target: expected:" >&2
	echo "$1" >&2
	echo "got:" >&2
	echo "$got" >&2
	cat "$run_dir"/*.err >&2
	return 1
}

# Waits until the replicator's slot exists and is streaming.
wait_slot() {
	local i
	for i in $(seq 1 100); do
		[ "$(psql_src -c "SELECT count(*) FROM pg_replication_slots
		    WHERE slot_name = '$slot' AND active")" = 1 ] && return 0
		sleep 0.2
	done
	cat "$run_dir"/*.err >&2
	return 1
}

# The pids $@ and all their descendants.
descendants() {
	local p
	for p in "$@"; do
		echo "$p"
		descendants $(ps -o pid= --ppid "$p")
	done
}

# SQL $1 on the source and the target.  The target's role is pgflo and
# pgflo-sink-pg makes the schema pgflo, which "$user" would put first.
both() {
	psql_src -c "$1"
	psql_dst -c "SET search_path = public; $1"
}

@test "pgflo: --help and version exit 0 on stdout, lines fit 80 columns" {
	run --separate-stderr pgflo --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "$output" == *"pgflo [--config FILE] replicator"* ]]
	[ -z "$(pgflo --help | awk 'length > 80')" ]
	run -0 pgflo version
	[ "$output" = "pgflo (pgflo) $(cat "$TOP/VERSION")" ]
	run -0 pgflo --version
	[ "$output" = "pgflo (pgflo) $(cat "$TOP/VERSION")" ]
}

@test "pgflo: usage errors exit 2: no command, unknown flag, a flag of another command, two modes" {
	run -2 --separate-stderr pgflo
	[[ "$stderr" == "pgflo: a command is required"* ]]
	run -2 --separate-stderr pgflo replicator --group g --dbname src --bogus
	[[ "$stderr" == "pgflo: unknown flag: --bogus"* ]]
	run -2 --separate-stderr pgflo worker stdout --group g --host h
	[[ "$stderr" == "pgflo: unknown flag: --host (not a flag of stdout)"* ]]
	run -2 --separate-stderr pgflo replicator --group g --dbname src --copy --stream
	[[ "$stderr" == "pgflo: cannot specify multiple modes: use --stream, --copy-and-stream, or --copy"* ]]
	run -2 --separate-stderr pgflo worker
	[[ "$stderr" == "pgflo: worker needs a sink"* ]]
	run -2 --separate-stderr pgflo worker postgres --group 'a b' --target-dbname dst
	[[ "$stderr" == "pgflo: --group: only letters, digits, _ and -"* ]]
	run -2 --separate-stderr pgflo replicator --dbname src
	[[ "$stderr" == "pgflo: missing required configuration: group (--group, PG_FLO_GROUP or the config file)"* ]]
	run -2 --separate-stderr pgflo replicator --group g --dbname src --port x
	[[ "$stderr" == "pgflo: --port: not a number: x"* ]]
}

@test "pgflo: a bad config file is a usage error naming FILE:LINE; unknown keys warn" {
	printf 'group: g\nhost: [a\n' >"$run_dir/bad.yaml"
	run -2 --separate-stderr pgflo --config "$run_dir/bad.yaml" replicator
	[[ "$stderr" == "pgflo: $run_dir/bad.yaml:"[0-9]*": "* ]]
	printf 'group: g\nport: many\n' >"$run_dir/bad.yaml"
	run -2 --separate-stderr pgflo --config "$run_dir/bad.yaml" replicator --dbname x
	[[ "$stderr" == "pgflo: $run_dir/bad.yaml:2: --port: not a number: many"* ]]
	printf 'group: "g"\nhots: x\n' >"$run_dir/bad.yaml"
	run -2 --separate-stderr pgflo --config "$run_dir/bad.yaml" replicator
	[[ "$stderr" == "pgflo: warning: $run_dir/bad.yaml:2: unknown key hots, ignored"* ]]
	run -2 --separate-stderr pgflo --config "$run_dir/none.yaml" replicator
	[[ "$stderr" == "pgflo: $run_dir/none.yaml: No such file or directory"* ]]
	# Without --config, ~/.pg_flo.yaml; a flag beats it, PG_FLO_* too.
	printf 'group: "a b"\n' >"$run_dir/.pg_flo.yaml"
	HOME=$run_dir run -2 --separate-stderr pgflo replicator --dbname x
	[ "${stderr_lines[1]}" = "pgflo: --group: only letters, digits, _ and - (as a stream name): a b" ]
	HOME=$run_dir run -2 --separate-stderr pgflo replicator --group ok
	[ "${stderr_lines[0]}" = "Using config file: $run_dir/.pg_flo.yaml" ]
	[ "${stderr_lines[1]}" = "pgflo: missing required configuration: dbname (--dbname, PG_FLO_DBNAME or the config file)" ]
	HOME=$run_dir PG_FLO_GROUP=ok run -2 --separate-stderr pgflo replicator
	[[ "$stderr" == *"missing required configuration: dbname"* ]]
}

@test "pgflo: a missing tool is named: worker stdout without pgflo-format" {
	# The front end alone, away from the tools it looks for beside itself.
	mkdir "$run_dir/lone"
	cp "$(command -v pgflo)" "$run_dir/lone/pgflo"
	run -2 --separate-stderr env PATH=/usr/bin:/bin "$run_dir/lone/pgflo" worker stdout --group g
	[ "$stderr" = "pgflo: worker stdout needs pgflo-consume, which is not built or installed" ]
	for t in consume checkpoint; do cp "$(command -v pgflo-$t)" "$run_dir/lone/"; done
	run -2 --separate-stderr env PATH=/usr/bin:/bin "$run_dir/lone/pgflo" worker stdout --group g
	[ "$stderr" = "pgflo: worker stdout needs pgflo-format, which is not built or installed" ]
	run -2 --separate-stderr env PATH=/usr/bin:/bin "$run_dir/lone/pgflo" worker file --group g --file-output-dir "$run_dir/o"
	[ "$stderr" = "pgflo: worker file needs pgflo-format, which is not built or installed" ]
}

# e2e_stream_only.sh
@test "pgflo: stream only: inserts, updates and deletes reach the postgres sink" {
	both "CREATE TABLE so_users (id int PRIMARY KEY, name text, n numeric(10,2))"
	sed -i 's/^schema: .*/schema: "public"\ntables: [so_users]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator --stream
	wait_slot
	psql_src -c "INSERT INTO so_users SELECT i, 'n' || i, i * 1.5 FROM generate_series(1, 50) i;
	    UPDATE so_users SET name = 'up' WHERE id % 10 = 0;
	    DELETE FROM so_users WHERE id > 45"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "45|1552.50|4" "SELECT count(*), sum(n), count(*) FILTER (WHERE name = 'up') FROM so_users"
	[ "$(psql_dst -c "SELECT * FROM so_users WHERE id IN (9, 10) ORDER BY id")" = "9|n9|13.50
10|up|15.00" ]
	stop wrk
	stop rep
}

# e2e_copy_only.sh
@test "pgflo: copy only copies the tables and exits 0; the worker applies them" {
	both "CREATE TABLE co_items (id int PRIMARY KEY, v text)"
	psql_src -c "INSERT INTO co_items SELECT i, 'v' || i FROM generate_series(1, 500) i"
	sed -i 's/^schema: .*/schema: "public"\ntables: [co_items]/' "$run_dir/cfg.yaml"
	run -0 bash -c 'unset PGPASSFILE PGFLO_NATS_URL; exec pgflo --config "$1" replicator --copy 2>&1' _ "$run_dir/cfg.yaml"
	# No slot is left behind by a copy only.
	[ "$(psql_src -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 0 ]
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "500|125250" "SELECT count(*), sum(id) FROM co_items"
	stop wrk
}

# e2e_copy_and_stream.sh
@test "pgflo: copy and stream: the copy, then the changes made during and after it" {
	both "CREATE TABLE cs_t (id int PRIMARY KEY, v text)"
	psql_src -c "INSERT INTO cs_t SELECT i, 'c' FROM generate_series(1, 2000) i"
	sed -i 's/^schema: .*/schema: "public"\ntables: [cs_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator --copy-and-stream
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_slot
	psql_src -c "UPDATE cs_t SET v = 'u' WHERE id <= 100; DELETE FROM cs_t WHERE id > 1990;
	    INSERT INTO cs_t VALUES (5000, 's')"
	wait_dst "1991|100|1" "SELECT count(*), count(*) FILTER (WHERE v = 'u'), count(*) FILTER (WHERE v = 's') FROM cs_t"
	[ "$(psql_dst -c "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM cs_t t")" = \
	  "$(psql_src -c "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM cs_t t")" ]
	stop wrk
	stop rep
}

# e2e_transform_filter.sh, with a pg_flo rules file
@test "pgflo: transform and filter: a pg_flo rules file masks, rewrites and filters" {
	both "DROP TABLE IF EXISTS users; CREATE TABLE users (id int PRIMARY KEY, email text, phone text, age int, ssn text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [users]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO users VALUES
	    (1, 'john@example.com', '1234567890', 25, '123-45-6789'),
	    (2, 'kid@example.com', '5551234567', 15, '987-65-4321'),
	    (3, 'ann@example.com', '12345', 40, '111-22-3333');
	    UPDATE users SET age = 17 WHERE id = 3;
	    UPDATE users SET phone = '9998887777' WHERE id = 1"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres --rules-config "$FIX/rules.yml"
	# Masks keep the first and the last character, as pg_flo's do; the
	# phone of 1 is rewritten on update, 2 (15) and 3's update (17) are
	# filtered out.
	wait_dst "1|j**************m|(999) 888-7777|25|1XXXXXXXXX9
3|a*************m|12345|40|1XXXXXXXXX3" "SELECT * FROM users ORDER BY id"
	stop wrk
	stop rep
}

# e2e_routing.sh, with a pg_flo routing file
@test "pgflo: routing: a pg_flo routing file renames tables and columns, drops operations" {
	psql_src -c "DROP TABLE IF EXISTS users, orders;
	    CREATE TABLE users (id int PRIMARY KEY, username text, email text);
	    CREATE TABLE orders (id int PRIMARY KEY, total_amount numeric(15,2))"
	psql_dst -c "SET search_path = public; DROP TABLE IF EXISTS users;
	    CREATE TABLE customers (customer_id int PRIMARY KEY, customer_name text, email text);
	    CREATE TABLE transactions (transaction_id int PRIMARY KEY, amount numeric(15,2))"
	sed -i 's/^schema: .*/schema: "public"\ntables: [users, orders]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO users VALUES (1, 'ann', 'a@x'), (2, 'bob', 'b@x');
	    INSERT INTO orders VALUES (10, 9.99), (11, 20.00);
	    UPDATE users SET username = 'anna' WHERE id = 1;
	    DELETE FROM users WHERE id = 2;
	    DELETE FROM orders WHERE id = 11"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres --routing-config "$FIX/routing.yml"
	wait_dst "10|9.99" "SELECT * FROM transactions ORDER BY 1"
	# users' deletes are not routed (operations: INSERT, UPDATE).
	wait_dst "1|anna|a@x
2|bob|b@x" "SELECT * FROM customers ORDER BY 1"
	stop wrk
	stop rep
	psql_src -c "DROP TABLE users, orders"
	psql_dst -c "DROP TABLE customers, transactions"
}

# e2e_ddl.sh
@test "pgflo: --track-ddl: added and dropped columns reach the target" {
	both "CREATE TABLE ddl_t (id int PRIMARY KEY, a text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [ddl_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator --track-ddl
	wait_slot
	psql_src -c "INSERT INTO ddl_t VALUES (1, 'x')"
	psql_src -c "ALTER TABLE ddl_t ADD COLUMN b int"
	psql_src -c "INSERT INTO ddl_t VALUES (2, 'y', 42)"
	psql_src -c "ALTER TABLE ddl_t DROP COLUMN a"
	psql_src -c "INSERT INTO ddl_t VALUES (3, 7)"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "1|
2|42
3|7" "SELECT * FROM ddl_t ORDER BY id"
	stop wrk
	stop rep
}

# e2e_resume_test.rb
@test "pgflo: resume: worker and replicator stopped and started again mid-stream, every row once" {
	both "CREATE TABLE rs_t (id int PRIMARY KEY, v int)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [rs_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	for i in $(seq 1 30); do
		psql_src -c "INSERT INTO rs_t VALUES ($i, 0); UPDATE rs_t SET v = v + 1"
		if [ "$i" = 10 ]; then stop wrk; fi
		if [ "$i" = 15 ]; then stop rep; fi
		if [ "$i" = 20 ]; then
			bg rep --config "$run_dir/cfg.yaml" replicator
			bg wrk --config "$run_dir/cfg.yaml" worker postgres
		fi
	done
	wait_dst "30|465" "SELECT count(*), sum(v) FROM rs_t"
	stop wrk
	stop rep
}

# e2e_order_test.rb
@test "pgflo: order: 200 updates of one row in separate transactions end as the last" {
	both "CREATE TABLE ord_t (id int PRIMARY KEY, seq int, log text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [ord_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	psql_src -c "INSERT INTO ord_t VALUES (1, 0, '')"
	for i in $(seq 1 200); do
		echo "UPDATE ord_t SET seq = $i, log = log || '$i,';"
	done | psql_src
	wait_dst "1|200|$(seq -s, 1 200)," "SELECT * FROM ord_t"
	stop wrk
	stop rep
}

# e2e_postgres.sh and e2e_postgres_data_type.sh
@test "pgflo: postgres sink: data types round-trip exactly, env PG_FLO_* beats the config file" {
	both "CREATE TABLE ty_t (id bigint PRIMARY KEY, n numeric(38,10), j jsonb,
	    a text[], ts timestamptz, b bytea, u uuid, f float8, t text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [nope]/' "$run_dir/cfg.yaml"
	# PG_FLO_TABLES overrides the config file's list.
	PG_FLO_TABLES=ty_t bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO ty_t VALUES
	    (9223372036854775807, 1234567890123456789012345678.0123456789,
	     '{\"a\": [1, 2.50, \"x\"]}', '{a,\"b c\",NULL}',
	     '2026-01-02 03:04:05.123456+00', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	     1.5e300, E'line\\nbreak \\u00e9'),
	    (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "$(psql_src -c "SELECT t::text FROM ty_t t ORDER BY id")" "SELECT t::text FROM ty_t t ORDER BY id"
	stop wrk
	stop rep
}

# e2e_multi_tenant / multi-table
@test "pgflo: multi-table: --tables a,b on the command line, --schema of another schema" {
	both "CREATE SCHEMA IF NOT EXISTS shop; CREATE TABLE shop.m1 (id int PRIMARY KEY);
	    CREATE TABLE shop.m2 (id int PRIMARY KEY); CREATE TABLE shop.m3 (id int PRIMARY KEY)"
	bg rep --config "$run_dir/cfg.yaml" replicator --schema shop --tables m1 --tables m2
	wait_slot
	psql_src -c "INSERT INTO shop.m1 VALUES (1), (2); INSERT INTO shop.m2 VALUES (3);
	    INSERT INTO shop.m3 VALUES (4)"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "1
2
3" "SELECT id FROM shop.m1 UNION ALL SELECT id FROM shop.m2 UNION ALL SELECT id FROM shop.m3 ORDER BY 1"
	[ "$(psql_src -c "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = '$slot'")" = "m1,m2" ]
	stop wrk
	stop rep
}

# e2e_multi_tenant.sh
@test "pgflo: multi-tenant: PG_FLO_RULES_CONFIG's filter keeps one tenant's rows" {
	both "CREATE TABLE events (id serial PRIMARY KEY, tenant_id int NOT NULL, name text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [events]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO events (tenant_id, name) VALUES (1, 'Alice'), (2, 'Bob'),
	    (3, 'Charlie'), (3, 'David'), (4, 'Eve'), (3, 'Frank');
	    UPDATE events SET name = 'Dave' WHERE name = 'David';
	    UPDATE events SET name = 'Bobby' WHERE name = 'Bob'"
	PG_FLO_RULES_CONFIG=$FIX/tenant_rules.yml bg wrk --config "$run_dir/cfg.yaml" worker postgres
	wait_dst "3|3|Charlie
4|3|Dave
6|3|Frank" "SELECT * FROM events ORDER BY id"
	stop wrk
	stop rep
}

@test "pgflo: passwords never reach argv; --password warns and still works" {
	both "CREATE TABLE pw_t (id int PRIMARY KEY)"
	sed -i -e 's/^schema: .*/schema: "public"\ntables: [pw_t]/' \
	    -e '/^password:/d' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator --password 'p!@#%&w0rd'
	wait_slot
	[[ "$(cat "$run_dir/rep.err")" == *"pgflo: warning: --password on the command line is visible to other users (ps); use PG_FLO_PASSWORD, the config file or ~/.pgpass"* ]]
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	psql_src -c "INSERT INTO pw_t VALUES (1)"
	wait_dst "1" "SELECT id FROM pw_t"
	# No process of the two pipelines has the password on its command
	# line, pgflo's own included (it overwrites its copy).
	local p n=0
	for p in $(descendants "$rep_pid" "$wrk_pid"); do
		n=$((n + 1))
		! tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF 'w0rd' ||
		    fail "password on the command line of $(tr '\0' ' ' <"/proc/$p/cmdline")"
	done
	[ "$n" -ge 7 ] || fail "only $n processes seen"
	stop wrk
	stop rep
}

@test "pgflo: SIGTERM stops a replicator and a worker with status 0" {
	both "CREATE TABLE st_t (id int PRIMARY KEY)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [st_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	bg wrk --config "$run_dir/cfg.yaml" worker postgres
	psql_src -c "INSERT INTO st_t VALUES (1)"
	wait_dst "1" "SELECT id FROM st_t"
	stop wrk
	stop rep
	# Every stage is gone with them.
	! pgrep -f "pgflo-(capture|publish|consume|sink-pg).*$group" || fail "a stage outlived pgflo"
}

@test "pgflo: worker webhook posts every change and resumes from its checkpoint" {
	psql_src -c "CREATE TABLE wh_t (id int PRIMARY KEY)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [wh_t]/' "$run_dir/cfg.yaml"
	python3 "$TOP/tests/fixtures/http/receiver.py" --portfile "$run_dir/port" \
	    --log "$run_dir/hook.log" </dev/null >/dev/null 2>&1 3>&- &
	pids+=($!)
	for i in $(seq 1 100); do [ -s "$run_dir/port" ] && break; sleep 0.05; done
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO wh_t VALUES (1); INSERT INTO wh_t VALUES (2)"
	bg wrk --config "$run_dir/cfg.yaml" worker webhook --webhook-url "http://127.0.0.1:$(cat "$run_dir/port")/hook"
	for i in $(seq 1 100); do [ "$(wc -l <"$run_dir/hook.log")" -ge 2 ] && break; sleep 0.2; done
	stop wrk
	psql_src -c "INSERT INTO wh_t VALUES (3)"
	bg wrk --config "$run_dir/cfg.yaml" worker webhook --webhook-url "http://127.0.0.1:$(cat "$run_dir/port")/hook"
	for i in $(seq 1 100); do [ "$(wc -l <"$run_dir/hook.log")" -ge 3 ] && break; sleep 0.2; done
	sleep 1
	stop wrk
	stop rep
	run -0 jq -r '.body | fromjson | "\(.op) \(.table) \(.new.id)"' "$run_dir/hook.log"
	[ "$output" = "insert wh_t 1
insert wh_t 2
insert wh_t 3" ]
}

# pg_flo's JSON of the messages in file(s) $@, without EmittedAt.
pg_flo_json() {
	jq -c '{Type, Schema, Table, NewTuple, OldTuple}' "$@"
}

# e2e_stream_only.sh's stdout worker, then its resume
@test "pgflo: worker stdout writes pg_flo's JSON and resumes after the last line written" {
	command -v pgflo-format >/dev/null || skip "pgflo-format is not built"
	both "CREATE TABLE sw_t (id int PRIMARY KEY, v text)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [sw_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO sw_t VALUES (1, 'a'), (2, 'b'); UPDATE sw_t SET v = 'c' WHERE id = 1"
	bg wrk --config "$run_dir/cfg.yaml" worker stdout
	for i in $(seq 1 100); do [ "$(wc -l <"$run_dir/wrk.out")" -ge 3 ] && break; sleep 0.2; done
	stop wrk
	run -0 pg_flo_json "$run_dir/wrk.out"
	[ "$output" = '{"Type":"INSERT","Schema":"public","Table":"sw_t","NewTuple":{"id":1,"v":"a"},"OldTuple":null}
{"Type":"INSERT","Schema":"public","Table":"sw_t","NewTuple":{"id":2,"v":"b"},"OldTuple":null}
{"Type":"UPDATE","Schema":"public","Table":"sw_t","NewTuple":{"id":1,"v":"c"},"OldTuple":null}' ]
	psql_src -c "DELETE FROM sw_t WHERE id = 2"
	bg wrk --config "$run_dir/cfg.yaml" worker stdout
	for i in $(seq 1 100); do [ "$(wc -l <"$run_dir/wrk.out")" -ge 1 ] && break; sleep 0.2; done
	sleep 1
	stop wrk
	stop rep
	run -0 pg_flo_json "$run_dir/wrk.out"
	[ "$output" = '{"Type":"DELETE","Schema":"public","Table":"sw_t","NewTuple":null,"OldTuple":{"id":2,"v":null}}' ]
}

@test "pgflo: worker stdout | head -n 1 ends at once, quietly, by SIGPIPE" {
	command -v pgflo-format >/dev/null || skip "pgflo-format is not built"
	both "CREATE TABLE hd_t (id int PRIMARY KEY)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [hd_t]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO hd_t SELECT generate_series(1, 100)"
	run -0 --separate-stderr timeout 20 bash -c 'unset PGPASSFILE
	    pgflo --config "$1" worker stdout 2>"$2" | head -n 1
	    echo "${PIPESTATUS[0]}"' _ "$run_dir/cfg.yaml" "$run_dir/head.err"
	[ "${#lines[@]}" = 2 ]
	[ "$(jq -c '{Type, Table, NewTuple}' <<<"${lines[0]}")" = '{"Type":"INSERT","Table":"hd_t","NewTuple":{"id":1}}' ]
	[ "${lines[1]}" = 141 ]
	[ "$(grep -v '^Using config file' "$run_dir/head.err" | grep -v 'holds no position')" = "" ]
	stop rep
}

@test "pgflo: worker file appends pg_flo's JSON to pg_flo_log_*.jsonl (0600), each change once across a restart" {
	command -v pgflo-format >/dev/null || skip "pgflo-format is not built"
	both "CREATE TABLE fw_t (id int PRIMARY KEY)"
	sed -i 's/^schema: .*/schema: "public"\ntables: [fw_t]/' "$run_dir/cfg.yaml"
	echo "file-output-dir: $run_dir/out" >>"$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	psql_src -c "INSERT INTO fw_t SELECT generate_series(1, 5)"
	bg wrk --config "$run_dir/cfg.yaml" worker file
	for i in $(seq 1 100); do [ "$(cat "$run_dir"/out/* 2>/dev/null | wc -l)" -ge 5 ] && break; sleep 0.2; done
	stop wrk
	sleep 1
	psql_src -c "INSERT INTO fw_t SELECT generate_series(6, 8)"
	bg wrk --config "$run_dir/cfg.yaml" worker file
	for i in $(seq 1 100); do [ "$(cat "$run_dir"/out/* | wc -l)" -ge 8 ] && break; sleep 0.2; done
	sleep 1
	stop wrk
	stop rep
	for f in "$run_dir"/out/*; do
		[[ "$(basename "$f")" =~ ^pg_flo_log_[0-9]{8}T[0-9]{6}Z\.jsonl$ ]] || fail "file name $f"
		[ "$(stat -c %a "$f")" = 600 ] || fail "mode of $f"
	done
	cat "$run_dir"/out/* >"$run_dir/all"
	run -0 jq -r '"\(.Type) \(.NewTuple.id)"' "$run_dir/all"
	[ "$output" = "$(seq -f 'INSERT %g' 1 8)" ]
}

@test "pgflo: --target-sync-schema makes the target's enum, domain, tables and foreign keys with pgflo-schema" {
	command -v pgflo-schema >/dev/null || skip "pgflo-schema is not built"
	psql_src -c "CREATE TYPE ss_mood AS ENUM ('sad', 'ok', 'happy');
	    CREATE DOMAIN ss_pos AS int CHECK (VALUE > 0);
	    CREATE TABLE ss_parent (id int PRIMARY KEY, mood ss_mood NOT NULL);
	    CREATE TABLE ss_child (id int PRIMARY KEY, parent int REFERENCES ss_parent, n ss_pos);
	    CREATE INDEX ss_child_n ON ss_child (n) WHERE n > 10"
	sed -i 's/^schema: .*/schema: "public"\ntables: [ss_parent, ss_child]/' "$run_dir/cfg.yaml"
	bg rep --config "$run_dir/cfg.yaml" replicator
	wait_slot
	mkdir "$run_dir/tmp"
	TMPDIR=$run_dir/tmp bg wrk --config "$run_dir/cfg.yaml" worker postgres --target-sync-schema
	psql_src -c "INSERT INTO ss_parent VALUES (1, 'happy'); INSERT INTO ss_child VALUES (10, 1, 42)"
	wait_dst "10|1|42|happy" "SELECT c.*, p.mood FROM public.ss_child c JOIN public.ss_parent p ON p.id = c.parent"
	# The passwords went to pgflo-schema in a passfile, removed since.
	[ -z "$(ls -A "$run_dir/tmp")" ]
	stop wrk
	stop rep
	[ "$(psql_dst -c "SELECT conname FROM pg_constraint WHERE conrelid = 'public.ss_child'::regclass AND contype = 'f'")" = ss_child_parent_fkey ]
	run -0 psql_dst -c "SELECT indexdef FROM pg_indexes WHERE indexname = 'ss_child_n'"
	[ "$output" = "CREATE INDEX ss_child_n ON public.ss_child USING btree (n) WHERE ((n)::integer > 10)" ]
	[ "$(psql_dst -c "SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'ss_mood'")" = "sad,ok,happy" ]
	# The foreign key is enforced on the target.
	run ! psql_dst -c "INSERT INTO public.ss_child VALUES (11, 99, 1)"
	# A second start finds everything there and leaves it.
	bg wrk --config "$run_dir/cfg.yaml" worker postgres --target-sync-schema
	sleep 2
	stop wrk
}

# e2e_copy_and_stream.sh with --target-sync-schema, the common pg_flo setup
@test "pgflo: copy and stream into a target synced with --target-sync-schema, foreign keys enforced" {
	command -v pgflo-schema >/dev/null || skip "pgflo-schema is not built"
	psql_src -c "CREATE TABLE fk_a (id int PRIMARY KEY);
	    CREATE TABLE fk_b (id int PRIMARY KEY, a int NOT NULL REFERENCES fk_a);
	    CREATE TABLE fk_c (id int PRIMARY KEY, b int NOT NULL REFERENCES fk_b);
	    INSERT INTO fk_a SELECT generate_series(1, 3000);
	    INSERT INTO fk_b SELECT i, i FROM generate_series(1, 3000) i;
	    INSERT INTO fk_c SELECT i, i FROM generate_series(1, 3000) i"
	sed -i 's/^schema: .*/schema: "public"\ntables: [fk_c, fk_b, fk_a]/' "$run_dir/cfg.yaml"
	bg wrk --config "$run_dir/cfg.yaml" worker postgres --target-sync-schema
	bg rep --config "$run_dir/cfg.yaml" replicator --copy-and-stream
	wait_slot
	psql_src -c "INSERT INTO fk_a VALUES (5000); INSERT INTO fk_b VALUES (5000, 5000);
	    INSERT INTO fk_c VALUES (5000, 5000); DELETE FROM fk_c WHERE id = 1"
	wait_dst "3001|3001|3000" "SELECT (SELECT count(*) FROM public.fk_a), (SELECT count(*) FROM public.fk_b), (SELECT count(*) FROM public.fk_c)"
	for i in $(seq 1 50); do
		[ "$(psql_dst -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text IN ('fk_b', 'fk_c')")" = 2 ] && break
		sleep 0.2
	done
	[ "$(psql_dst -c "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text IN ('fk_b', 'fk_c')")" = "fk_b_a_fkey,fk_c_b_fkey" ]
	psql_src -c "INSERT INTO fk_c VALUES (5001, 5000)"
	wait_dst "3001" "SELECT count(*) FROM public.fk_c"
	stop wrk
	stop rep
	run ! psql_dst -c "INSERT INTO public.fk_c VALUES (9999, 9999)"
}
