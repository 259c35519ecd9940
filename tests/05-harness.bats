#!/usr/bin/env bats
# The test harness itself: scripts/test-pg, scripts/test-nats and the
# helpers in test_helper.bash start what the server tests need, and leave
# nothing behind.

load test_helper

PGFLO_PW='p!@#%&w0rd'
WEAK_PW='weak!@#%pw'

setup_file() {
	pg_start
	nats_start
}

teardown_file() {
	nats_stop
	pg_stop
}

# Fail if a non-zombie process with pid $1 exists.
refute_alive() {
	local st
	read -r st <"/proc/$1/stat" 2>/dev/null || return 0
	st=${st##*) }
	[ "${st%% *}" = Z ] || fail "process $1 is still alive: $(tr '\0' ' ' <"/proc/$1/cmdline")"
}

@test "harness: pg_start exports the connection variables" {
	assert_equal "$PGHOST" 127.0.0.1
	assert_equal "$PGUSER" pgflo
	assert_equal "$PGDATABASE" src
	assert_equal "$PGFLO_TEST_PGDIR" "$BATS_FILE_TMPDIR/pg"
	assert_equal "$PGFLO_SRC" "host=127.0.0.1 port=$PGPORT dbname=src user=pgflo"
	assert_equal "$PGFLO_DST" "host=127.0.0.1 port=$PGPORT dbname=dst user=pgflo"
	assert_equal "$PGFLO_ADMIN" "host=127.0.0.1 port=$PGPORT dbname=postgres user=postgres"
	assert_file_exists "$PGPASSFILE"
	run -0 stat -c %a "$PGPASSFILE"
	assert_output 600
	# The socket dir is short, whatever the length of the bats tmpdir.
	[ -S "$PGFLO_TEST_SOCKDIR/.s.PGSQL.$PGPORT" ]
	(( ${#PGFLO_TEST_SOCKDIR} < 40 ))
}

@test "harness: PostgreSQL 15 runs with wal_level=logical" {
	run -0 psql_admin -c 'show wal_level'
	assert_output logical
	run -0 psql_admin -c 'show server_version_num'
	[[ $output == 15* ]]
	run -0 psql_admin -c 'show max_replication_slots'
	assert_output 30
}

@test "harness: pgflo connects over TCP with its password from .pgpass" {
	run -0 psql_src -c 'select current_user, current_database(), inet_server_addr()'
	assert_output 'pgflo|src|127.0.0.1'
	# The plain PG* variables alone are enough, too.
	run -0 psql -X -At -c 'select current_user'
	assert_output pgflo
	# Without the password file the server asks for a password: no trust.
	: >"$BATS_TEST_TMPDIR/empty"
	chmod 600 "$BATS_TEST_TMPDIR/empty"
	PGPASSFILE=$BATS_TEST_TMPDIR/empty run ! psql -X -w -d "$PGFLO_SRC" -c 'select 1'
	assert_output --partial 'no password supplied'
}

@test "harness: the passwords appear on no command line and in no log" {
	psql_src -c 'select 1' >/dev/null
	run -0 ps -eww -o args=
	refute_output --partial "$PGFLO_PW"
	refute_output --partial "$WEAK_PW"
	run -0 cat "$PGFLO_TEST_PGDIR/pg.log"
	refute_output --partial "$PGFLO_PW"
	refute_output --partial "$WEAK_PW"
}

@test "harness: pgflo opens a replication connection" {
	run -0 psql -X -At -d "$PGFLO_SRC replication=database" -c IDENTIFY_SYSTEM
	assert_output --regexp '^[0-9]+\|1\|[0-9A-F]+/[0-9A-F]+\|src$'
}

@test "harness: pgflo_weak connects but has no REPLICATION" {
	local weak="host=127.0.0.1 port=$PGPORT dbname=src user=pgflo_weak"
	run -0 psql -X -At -d "$weak" \
		-c 'select rolsuper, rolreplication from pg_roles where rolname = current_user'
	assert_output 'f|f'
	run ! psql -X -At -d "$weak replication=database" -c IDENTIFY_SYSTEM
	assert_output --partial 'must be superuser or replication role'
}

@test "harness: databases src and dst belong to pgflo and have hstore" {
	run -0 psql_admin -c "select datname, pg_get_userbyid(datdba) from pg_database
		where datname in ('src', 'dst') order by 1"
	assert_output "$(printf 'dst|pgflo\nsrc|pgflo')"
	run -0 psql_src -c "select 'a=>1'::hstore -> 'a'"
	assert_output 1
	run -0 psql_dst -c "select 'a=>1'::hstore -> 'a'"
	assert_output 1
}

@test "harness: a REPLICATION role may create a wal2json slot" {
	# PG 15.19+ allows only whitelisted output plugins to non-superusers.
	run -0 psql_admin <<-'SQL'
		CREATE ROLE harness_repl REPLICATION;
		SET ROLE harness_repl;
		SELECT slot_name FROM pg_create_logical_replication_slot('harness_w2j', 'wal2json');
		RESET ROLE;
		SELECT pg_drop_replication_slot('harness_w2j');
		DROP ROLE harness_repl;
	SQL
	assert_line harness_w2j
}

@test "harness: psql_src reads SQL from stdin" {
	run -0 psql_src <<-'SQL'
		CREATE TABLE harness_t (id int PRIMARY KEY);
		INSERT INTO harness_t VALUES (1), (2);
		SELECT count(*) FROM harness_t;
		DROP TABLE harness_t;
	SQL
	assert_output 2
}

@test "harness: nats-server accepts a TCP connection" {
	[[ $PGFLO_NATS_URL =~ ^nats://127\.0\.0\.1:([0-9]+)$ ]]
	local port=${BASH_REMATCH[1]} line
	exec 4<>"/dev/tcp/127.0.0.1/$port"
	read -r -t 5 line <&4
	exec 4<&-
	[[ $line == 'INFO {'* ]]
	[[ $line == *'"jetstream":true'* ]]
}

@test "harness: a second cluster runs beside the first and stops cleanly" {
	local dir=$BATS_TEST_TMPDIR/pg2 sock pid kids
	run -0 "$TOP/scripts/test-pg" start "$dir"
	assert_output ''
	# In a subshell, so that the first cluster's variables stay.
	run -0 bash -c '. "$1/env" && echo "$PGPORT $PGFLO_TEST_SOCKDIR" &&
		psql -X -q -v ON_ERROR_STOP=1 -d "$PGFLO_SRC" \
			-c "create table only_in_second (id int)"' _ "$dir"
	refute_output "$PGPORT $PGFLO_TEST_SOCKDIR"
	refute_output --partial "$PGFLO_TEST_SOCKDIR"
	# The first cluster did not see that.
	run -0 psql_src -c "select to_regclass('only_in_second') is null"
	assert_output t

	sock=$(. "$dir/env" && echo "$PGFLO_TEST_SOCKDIR")
	pid=$(head -n 1 "$sock/data/postmaster.pid")
	kids=$(pgrep -P "$pid")
	[ -n "$kids" ]
	run -0 "$TOP/scripts/test-pg" stop "$dir"
	assert_output ''
	run -1 pgrep -f "$sock"
	run -1 pgrep -f "$dir"
	for k in $pid $kids; do refute_alive "$k"; done
	assert_dir_not_exists "$sock"
	# The first one is still up.
	run -0 psql_src -c 'select 1'
	# Stopping again, or a DIR that never ran, is fine.
	run -0 "$TOP/scripts/test-pg" stop "$dir"
	run -0 "$TOP/scripts/test-pg" stop "$BATS_TEST_TMPDIR/never"
}

@test "harness: a second nats-server starts, restarts on its port and stops" {
	local dir=$BATS_TEST_TMPDIR/nats2 url pid
	run -0 "$TOP/scripts/test-nats" start "$dir"
	assert_output ''
	url=$(. "$dir/nats.env" && echo "$PGFLO_NATS_URL")
	[ "$url" != "$PGFLO_NATS_URL" ]
	pid=$(cat "$dir/nats.pid")
	run -0 "$TOP/scripts/test-nats" stop "$dir"
	refute_alive "$pid"
	run -1 pgrep -f "$dir"
	# A restart keeps the URL, so clients can reconnect.
	run -0 "$TOP/scripts/test-nats" start "$dir"
	run -0 bash -c '. "$1/nats.env" && echo "$PGFLO_NATS_URL"' _ "$dir"
	assert_output "$url"
	run -0 "$TOP/scripts/test-nats" stop "$dir"
	run -1 pgrep -f "$dir"
	run -0 "$TOP/scripts/test-nats" stop "$dir"
	run -0 "$TOP/scripts/test-nats" stop "$BATS_TEST_TMPDIR/never"
}

@test "harness: the scripts reject bad usage with status 2" {
	run -2 "$TOP/scripts/test-pg" frobnicate "$BATS_TEST_TMPDIR/x"
	assert_output --partial 'usage: test-pg'
	run -2 "$TOP/scripts/test-nats"
	assert_output --partial 'usage: test-nats'
}

@test "harness: install-deps is quiet when everything is installed" {
	run -0 "$TOP/scripts/install-deps"
	assert_output ''
}
