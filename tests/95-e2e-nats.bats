#!/usr/bin/env bats
# End to end through NATS: capture | publish | checkpoint fills a stream
# while consume | sink-pg drains it into another database, under writes,
# then with kill -9 of a random process 10 times, each restarted.  The
# target must end md5-equal to the source.

load test_helper

setup_file() {
	pg_start
	nats_start
}

teardown_file() {
	nats_stop
	pg_stop
}

# md5 of every row of table $2, in order, through psql function $1.
table_md5() {
	"$1" -c "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM $2 t"
}

# Waits (up to ~90 s) until the target's table $1 is the source's.
wait_same() {
	local i s d
	for i in $(seq 1 150); do
		s=$(table_md5 psql_src "$1")
		d=$(table_md5 psql_dst "$1")
		[ "$s" = "$d" ] && return 0
		sleep 0.3
	done
	echo "table $1 differs: src $s, dst $d" >&2
	return 1
}

# $1 transactions of 1, 3 or 10 rows on table $2: inserts, updates, deletes.
writer_sql() {
	awk -v n="$1" -v t="$2" -v base="${3:-0}" 'BEGIN {
		for (i = 1; i <= n; i++) {
			k = i % 3 == 0 ? 10 : (i % 3 == 1 ? 1 : 3)
			print "BEGIN;"
			for (j = 1; j <= k; j++) {
				id = (base + i) * 100 + j
				printf "INSERT INTO %s VALUES (%d, %s);\n", t, id, "'\''v'\''"
				if (j % 3 == 0)
					printf "UPDATE %s SET v = %s WHERE id = %d;\n", t, "'\''u'\''", id - 1
				if (j % 5 == 0)
					printf "DELETE FROM %s WHERE id = %d;\n", t, id - 2
			}
			print "COMMIT;"
		}
	}'
}

# Runs stage $1 (a name for its pid file) as the rest of the arguments.
stage() {
	local name=$1
	shift
	bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$run/$name.pid" "$@"
}

# The two pipelines, each restarted whenever it ends, until $run/stop.
upstream() {
	while [ ! -e "$run/stop" ]; do
		stage capture pgflo-capture -d "$PGFLO_SRC" -S e2n -c nats:pgflo/e2n -s 1 |
			stage publish pgflo-publish --stream e2n --create |
			stage checkpoint pgflo-checkpoint --save nats:pgflo/e2n -i 100ms ||
			true	# a killed stage ends the line; bats' errexit must not
		sleep 0.2
	done
}

downstream() {
	local pos
	while [ ! -e "$run/stop" ]; do
		pos=$(pgflo-sink-pg -d "$PGFLO_DST" -g e2n --position 2>/dev/null) || pos=first
		stage consume pgflo-consume --stream e2n --from "$pos" |
			stage sink pgflo-sink-pg -d "$PGFLO_DST" -g e2n >/dev/null || true
		sleep 0.2
	done
}

# What each side holds, for a failure's message.
state() {
	local p
	echo "stream at $("$BATS_TEST_DIRNAME/nats-dump" -l e2n), sink at $(pgflo-sink-pg -d "$PGFLO_DST" -g e2n --position), slot at $(psql_src -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'e2n'"), source at $(psql_src -c 'SELECT pg_current_wal_insert_lsn()')"
	for p in capture publish checkpoint consume sink; do
		echo "$p: $(ps -o stat=,args= -p "$(cat "$run/$p.pid")" || echo gone)"
	done
	cat "$run/up.err" "$run/down.err"
}

stop_all() {
	local p
	touch "$run/stop"
	for p in capture publish checkpoint consume sink; do
		kill -TERM "$(cat "$run/$p.pid")" 2>/dev/null || true
	done
	wait "$up" "$down" 2>/dev/null || true
}

@test "e2e nats: capture | publish | checkpoint and consume | sink-pg at once, then kill -9 of any of them 10 times: target md5-equal" {
	run=$BATS_TEST_TMPDIR
	declare -A last
	psql_src -c 'CREATE TABLE e2n (id int PRIMARY KEY, v text)'
	psql_dst -c 'CREATE TABLE e2n (id int PRIMARY KEY, v text)'
	pgflo-capture -d "$PGFLO_SRC" -S e2n -t public.e2n --create-slot -E 0/1
	pgflo-checkpoint --save nats:pgflo/e2n </dev/null
	upstream 2>"$run/up.err" 3>&- &
	up=$!
	downstream 2>"$run/down.err" 3>&- &
	down=$!
	writer_sql 300 e2n | psql_src >/dev/null
	wait_same e2n || { state >&2; stop_all; false; }
	# Under writes, kill -9 of a random stage 10 times.
	writer_sql 3000 e2n 1000 | psql_src >/dev/null &
	writer=$!
	stages=(capture publish checkpoint consume sink)
	killed=()
	for i in $(seq 1 10); do
		sleep 0.$((RANDOM % 4 + 2))
		s=${stages[RANDOM % 5]}
		# Its current process: one that runs, not one already killed.
		for j in $(seq 1 100); do
			p=$(cat "$run/$s.pid")
			[ "$p" != "${last[$s]:-}" ] && kill -0 "$p" 2>/dev/null && break
			sleep 0.05
		done
		kill -9 "$p" && killed+=("$s:$p")
		last[$s]=$p
	done
	wait "$writer"
	wait_same e2n || { state >&2; stop_all; false; }
	stop_all
	echo "# killed: ${killed[*]}" >&3
	[ "${#killed[@]}" -eq 10 ]
	run -0 psql_dst -c 'SELECT count(*) FROM e2n'
	[ "$output" -gt 5000 ]
}
