#!/usr/bin/env bats
# pgflo-status against a running capture | sink-pg | checkpoint pipeline,
# the --metrics files of the long-running tools, and running pipelines:
# the systemd units and the cron example of pgflo(7).

load test_helper

# The target is a second cluster: the lag in bytes is the source's WAL,
# which the sink's own writes would move if they shared a server.
setup_file() {
	pg_start
	"$TOP/scripts/test-pg" start "$BATS_FILE_TMPDIR/pg2" 3>&- || return 1
	TDST=$(. "$BATS_FILE_TMPDIR/pg2/env" && echo "$PGFLO_DST")
	cat "$PGPASSFILE" "$BATS_FILE_TMPDIR/pg2/.pgpass" \
		>"$BATS_FILE_TMPDIR/pgpass"
	chmod 600 "$BATS_FILE_TMPDIR/pgpass"
	export TDST PGPASSFILE=$BATS_FILE_TMPDIR/pgpass
	nats_start
	psql_src -c 'CREATE TABLE st (id int PRIMARY KEY, v text)'
	psql -X -q -d "$TDST" -c 'CREATE TABLE st (id int PRIMARY KEY, v text)'
}

teardown_file() {
	nats_stop
	"$TOP/scripts/test-pg" stop "$BATS_FILE_TMPDIR/pg2" 3>&-
	pg_stop
}

# A pgflo-run a test left running stops with the test.
teardown() {
	[ -z "${runpid:-}" ] || kill -TERM "$runpid" 2>/dev/null || true
}

psql_tdst() {
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$TDST" "$@"
}

# Prometheus text on stdin, parsed by prometheus_client: one line per
# sample, "name{k=v,...} value", labels sorted; exit 1 if it does not parse.
PROMPARSE='
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        l = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, l, s.value))
'
# Debian's python3 (the package's), whatever python3 PATH finds first.
prom() {
	/usr/bin/python3 -c "$PROMPARSE"
}

# capture | sink-pg | checkpoint through fifos, the sink's pid in $sinkpid.
start_pipeline() {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/f1" "$d/f2"
	PGFLO_METRICS=$d/capture.prom pgflo-capture -d "$PGFLO_SRC" -S s88 \
		-t 'public.st' --create-slot --checkpoint "file:$d/pos" \
		>"$d/f1" 2>"$d/capture.err" 3>&- &
	cappid=$!
	pgflo-sink-pg -d "$TDST" -g g88 --metrics "$d/sink.prom" <"$d/f1" \
		>"$d/f2" 2>"$d/sink.err" 3>&- &
	sinkpid=$!
	pgflo-checkpoint -i 0 --save "file:$d/pos" <"$d/f2" \
		2>"$d/ckpt.err" 3>&- &
	ckptpid=$!
	# Changes count from the slot's creation: wait for it to be active.
	for _ in $(seq 1 300); do
		pgflo-status -d "$PGFLO_SRC" -S s88 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$d"/*.err
	return 1
}

stop_pipeline() {
	kill -CONT "$sinkpid" 2>/dev/null || true
	kill -TERM "$cappid" 2>/dev/null || true
	wait "$cappid" "$sinkpid" "$ckptpid" || true
	cat "$BATS_TEST_TMPDIR"/*.err
	psql_src -c "SELECT pg_drop_replication_slot('s88')" >/dev/null || true
}

# Waits (at most 30 s) until the target holds $1 rows.
wait_rows() {
	for _ in $(seq 1 300); do
		[ "$(psql_tdst -c 'SELECT count(*) FROM st')" = "$1" ] && return 0
		sleep 0.1
	done
	cat "$BATS_TEST_TMPDIR"/*.err
	return 1
}

status() {
	pgflo-status -d "$PGFLO_SRC" -S s88 --store "file:$BATS_TEST_TMPDIR/pos" \
		--target "$TDST" -g g88 "$@"
}

# Waits (at most 20 s) until pgflo-status "$@" exits 0.
wait_healthy() {
	for _ in $(seq 1 100); do
		status "$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

@test "pgflo-status: the target's lag grows while the sink is stopped and falls after" {
	start_pipeline
	ts="to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
	t0=$(psql_src -c "SELECT $ts")
	psql_src -c "INSERT INTO st SELECT g, 'a' FROM generate_series(1, 5) g"
	t1=$(psql_src -c "SELECT $ts")
	wait_rows 5
	wait_healthy --max-lag-bytes 4096

	run -0 --separate-stderr status --json
	echo "$output" | jq . >/dev/null
	assert_equal "$(echo "$output" | jq -c '[.healthy, .status, .problems]')" '[true,0,[]]'
	assert_equal "$(echo "$output" | jq -c '.slot | keys_unsorted')" \
		'["name","state","pid","restart_lsn","confirmed_flush_lsn","retained_bytes","lag_bytes","lag_seconds","wal_status","safe_wal_size"]'
	assert_equal "$(echo "$output" | jq -c '.slot | [.name, .state, .wal_status, .safe_wal_size]')" \
		'["s88","active","reserved",null]'
	assert_equal "$(echo "$output" | jq -c '.target | keys_unsorted')" \
		'["name","state","position","commit_lsn","stream_seq","lag_bytes","lag_seconds","applied_at","age_seconds","commit_ts"]'
	# Caught up: no lag in seconds; the commit time is the source's.
	assert_equal "$(echo "$output" | jq -c .target.lag_seconds)" 0
	[[ "$(echo "$output" | jq -r .target.commit_ts)" > "$t0" ]]
	[[ "$(echo "$output" | jq -r .target.commit_ts)" < "$t1" ]]
	applied=$(psql_tdst -c "SELECT commit_lsn FROM pgflo.applied WHERE group_name = 'g88'")
	assert_equal "$(echo "$output" | jq -c '[.target.name, .target.state, .target.commit_lsn, .stores[0].name, .stores[0].commit_lsn]')" \
		"[\"g88\",\"ok\",\"$applied\",\"file:$BATS_TEST_TMPDIR/pos\",\"$applied\"]"
	# The --metrics file is rewritten while the sink runs (every 5 s).
	for _ in $(seq 1 80); do
		prom <"$BATS_TEST_TMPDIR/sink.prom" | grep -qx \
			'pgflo_records_out_total{group=g88,op=insert,tool=sink-pg} 5.0' && break
		sleep 0.1
	done
	prom <"$BATS_TEST_TMPDIR/sink.prom" | grep -x \
		'pgflo_records_out_total{group=g88,op=insert,tool=sink-pg} 5.0'
	# The store's age is its file's mtime; the target's its updated_at.
	echo "$output" | jq -e '.stores[0].age_seconds >= 0 and .stores[0].age_seconds < 30 and .target.age_seconds >= 0 and .target.age_seconds < 30'

	# The target's lag stays 0 while idle (the slot's is its flush_lag,
	# until the capture confirms: it polls the store every 10 s).
	sleep 1.5
	run -0 --separate-stderr status --json --max-lag-bytes 4096
	assert_equal "$(echo "$output" | jq -c '[.healthy, .target.lag_seconds]')" '[true,0]'
	# An idle pipeline's slot does not grow: at most a standby snapshot
	# record more, nothing behind in seconds.
	ret1=$(echo "$output" | jq .slot.retained_bytes)
	sleep 2
	run -0 --separate-stderr status --json --max-lag-bytes 4096
	echo "$output" | jq -e --argjson r "$ret1" '.slot.retained_bytes <= $r + 512 and .slot.lag_bytes < 4096 and .target.lag_seconds == 0'

	kill -STOP "$sinkpid"
	psql_src -c "INSERT INTO st SELECT g, repeat('x', 100) FROM generate_series(6, 205) g"
	sleep 0.5
	run -1 --separate-stderr status --json --max-lag-bytes 4096
	lag1=$(echo "$output" | jq .target.lag_bytes)
	[ "$lag1" -gt 20000 ]
	echo "$output" | jq -e --argjson l "$lag1" '.healthy == false and .status == 1 and (.problems | index("target g88 is \($l) bytes behind (--max-lag-bytes 4096)")) != null'
	# In seconds: since the last commit applied, and growing.
	secs1=$(echo "$output" | jq .target.lag_seconds)
	echo "$output" | jq -e '.target.lag_seconds >= 2 and .target.lag_seconds < 60'
	sleep 1
	run -1 --separate-stderr status --json --max-lag-seconds 1.5
	secs2=$(echo "$output" | jq .target.lag_seconds)
	echo "$output" | jq -e --argjson a "$secs1" '.target.lag_seconds >= $a + 0.9'
	want="target g88 is $(printf %.3f "$secs2") seconds behind (--max-lag-seconds 1.5)"
	echo "$output" | jq -e --arg w "$want" '.status == 1 and (.problems | index($w)) != null'
	assert_equal "$(psql_tdst -c 'SELECT count(*) FROM st')" 5
	run -1 --separate-stderr status --max-lag-bytes 4096
	assert_line --index 0 --regexp '^KIND +NAME +STATE +POSITION +LAG_BYTES +LAG_SECONDS +AGE_SECONDS DETAIL$'
	assert_line --index 3 --regexp "^target +g88 +ok +$applied:[0-9]+ +[0-9]+ +[0-9]+\\.[0-9]{3} +[0-9.]+ +stream_seq=- applied_at=20[0-9-]+T[0-9:.]+Z commit_ts=20[0-9-]+T[0-9:.]{15}Z\$"
	# (a standby snapshot record may have come since: not $lag1 exactly)
	[[ "$stderr" =~ "pgflo-status: target g88 is "[0-9]+" bytes behind (--max-lag-bytes 4096)" ]]

	kill -CONT "$sinkpid"
	wait_rows 205
	wait_healthy --max-lag-bytes 4096
	run -0 --separate-stderr status --json --max-lag-bytes 4096
	lag2=$(echo "$output" | jq .target.lag_bytes)
	[ "$lag2" -lt "$lag1" ]
	[ "$lag2" -lt 4096 ]
	assert_equal "$(echo "$output" | jq -c .target.lag_seconds)" 0
	# The slot's flush_lag keeps its last value: with no WAL left
	# unconfirmed, the slot is not behind either.
	wait_healthy --max-lag-seconds 1

	applied=$(psql_tdst -c "SELECT commit_lsn - '0/0' FROM pgflo.applied WHERE group_name = 'g88'")
	status --prometheus >"$BATS_TEST_TMPDIR/prom"
	run -0 prom <"$BATS_TEST_TMPDIR/prom"
	assert_line "pgflo_status_healthy{} 1.0"
	assert_line "pgflo_target_commit_lsn{group=g88} $applied.0"
	assert_line "pgflo_target_lag_seconds{group=g88} 0.0"
	assert_line "pgflo_store_commit_lsn{store=file:$BATS_TEST_TMPDIR/pos} $applied.0"
	assert_line "pgflo_status_up{slot=s88,state=active} 1.0"
	assert_line "pgflo_status_up{group=g88,state=ok} 1.0"
	assert_line --regexp '^pgflo_slot_retained_bytes\{slot=s88\} [0-9]+\.0$'
	assert_line --regexp '^pgflo_slot_pid\{slot=s88\} [1-9][0-9]*\.0$'
	stop_pipeline

	# The --metrics files after the stop: records in = rows written.
	run -0 prom <"$BATS_TEST_TMPDIR/sink.prom"
	for op in insert begin commit; do
		n=205; [ $op = insert ] || n=2
		assert_line "pgflo_records_in_total{group=g88,op=$op,tool=sink-pg} $n.0"
		assert_line "pgflo_records_out_total{group=g88,op=$op,tool=sink-pg} $n.0"
	done
	assert_line "pgflo_records_out_total{group=g88,op=update,tool=sink-pg} 0.0"
	assert_line "pgflo_errors_total{group=g88,tool=sink-pg} 0.0"
	assert_line "pgflo_last_lsn{group=g88,tool=sink-pg} $applied.0"
	assert_line --regexp '^pgflo_batches_total\{group=g88,tool=sink-pg\} [2-9]\.0$'
	now=$(date +%s)
	echo "$output" | awk -v now="$now" '
		/^pgflo_(last_commit_timestamp|start_time)_seconds/ {
			n++; if ($2 < now - 120 || $2 > now + 1) exit 1 }
		END { exit n != 2 }'
	run -0 prom <"$BATS_TEST_TMPDIR/capture.prom"
	assert_line "pgflo_records_out_total{op=insert,slot=s88,tool=capture} 205.0"
	assert_line "pgflo_records_out_total{op=commit,slot=s88,tool=capture} 2.0"
	# The LSN confirmed to the server: the end of the last commit.
	last=$(echo "$output" | sed -n 's/^pgflo_last_lsn{slot=s88,tool=capture} \([0-9]*\)\.0$/\1/p')
	[ "$last" -gt "$applied" ] && [ "$last" -lt $((applied + 200)) ]
	assert_line --regexp '^pgflo_bytes_out_total\{slot=s88,tool=capture\} [1-9][0-9]+\.0$'
}

@test "pgflo-status: an inactive slot gives exit 1, a missing one too" {
	psql_src -c "SELECT pg_create_logical_replication_slot('idle88', 'pgoutput')" >/dev/null
	run -1 --separate-stderr pgflo-status -d "$PGFLO_SRC" -S idle88
	assert_line --index 1 --regexp '^slot +idle88 +inactive '
	assert_equal "$stderr" "pgflo-status: slot idle88 is not active"
	# An idle slot does not grow: nothing was written since.
	a=$(pgflo-status -d "$PGFLO_SRC" -S idle88 --json | jq -c '.slot | [.restart_lsn, .confirmed_flush_lsn]')
	psql_dst -c 'SELECT 1' >/dev/null
	b=$(pgflo-status -d "$PGFLO_SRC" -S idle88 --json | jq -c '.slot | [.restart_lsn, .confirmed_flush_lsn]')
	assert_equal "$a" "$b"
	psql_src -c "SELECT pg_drop_replication_slot('idle88')" >/dev/null
	run -1 --separate-stderr pgflo-status -d "$PGFLO_SRC" -S idle88 --json
	assert_equal "$(echo "$output" | jq -c '[.status, .problems, .slot]')" \
		'[1,["slot idle88 does not exist"],{"name":"idle88","state":"missing"}]'
}

@test "pgflo-status: a stream's messages and sequences; unreachable servers exit 3" {
	gen 3 | pgflo-publish --stream S88 --create \
		--metrics "$BATS_TEST_TMPDIR/pub.prom" >/dev/null
	run -0 prom <"$BATS_TEST_TMPDIR/pub.prom"
	assert_line "pgflo_records_in_total{op=insert,stream=S88,tool=publish} 5.0"
	assert_line "pgflo_records_out_total{op=insert,stream=S88,tool=publish} 5.0"
	assert_line "pgflo_records_out_total{op=commit,stream=S88,tool=publish} 3.0"
	assert_line "pgflo_last_stream_seq{stream=S88,tool=publish} 5.0"
	assert_line "pgflo_last_lsn{stream=S88,tool=publish} $((16777216 + 3 * 4096)).0"
	run -0 --separate-stderr pgflo-status --stream S88 --json
	assert_equal "$(echo "$output" | jq -c '.stream | del(.bytes)')" \
		'{"name":"S88","state":"ok","messages":5,"first_seq":1,"last_seq":5,"consumers":0}'
	echo "$output" | jq -e '.stream.bytes > 0'
	pgflo-status --stream S88 --prometheus >"$BATS_TEST_TMPDIR/prom"
	run -0 prom <"$BATS_TEST_TMPDIR/prom"
	assert_line "pgflo_stream_messages{stream=S88} 5.0"
	assert_line "pgflo_stream_last_seq{stream=S88} 5.0"
	assert_line "pgflo_stream_consumers{stream=S88} 0.0"
	# A nats: store's age is its entry's timestamp.
	echo '{"op":"position","commit_lsn":"0/16","ordinal":3}' |
		pgflo-checkpoint --save nats:b88/k
	run -0 --separate-stderr pgflo-status --store nats:b88/k --json
	assert_equal "$(echo "$output" | jq -c '.stores[0] | del(.age_seconds)')" \
		'{"name":"nats:b88/k","state":"ok","position":"0/16:3","commit_lsn":"0/16","stream_seq":null,"lag_bytes":null}'
	echo "$output" | jq -e '.stores[0].age_seconds >= 0 and .stores[0].age_seconds < 30'
	run -1 --separate-stderr pgflo-status --stream NOPE88 --json
	assert_equal "$(echo "$output" | jq -c '[.status, .problems]')" \
		'[1,["stream NOPE88 does not exist"]]'
	run -3 --separate-stderr pgflo-status --stream S88 -s nats://127.0.0.1:1
	run -3 --separate-stderr pgflo-status --target 'host=127.0.0.1 port=1 connect_timeout=2'
	assert_line --index 1 --regexp '^target +default +unreachable '
	[[ "$stderr" == "pgflo-status: target: "* ]]
}

@test "pgflo-status: usage errors exit 2" {
	run -2 pgflo-status
	assert_line --index 0 'pgflo-status: nothing to show: give -d, -S, --stream, --store or --target'
	run -2 pgflo-status -S x
	assert_line --index 0 'pgflo-status: -S needs -d (the source)'
	run -2 pgflo-status --store file:x --json --prometheus
	run -2 pgflo-status --store file:x --max-lag-bytes lots
	assert_line --index 0 'pgflo-status: invalid --max-lag-bytes: lots'
}

# slow_gen N [TABLE [FIRST]]: N transactions of 2 inserts on TABLE (st),
# from transaction FIRST (1) on, 0.25 s apart, each with the time it was
# written as its commit_ts.
slow_gen() {
	local i ts lsn
	for ((i = ${3:-1}; i < ${3:-1} + $1; i++)); do
		ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
		lsn=$(printf '0/%X' $((0x1000000 + i * 4096)))
		printf '{"op":"begin","commit_lsn":"%s","ordinal":0,"xid":%d,"commit_ts":"%s"}\n' "$lsn" "$i" "$ts"
		for o in 1 2; do
			printf '{"op":"insert","schema":"public","table":"%s","commit_lsn":"%s","ordinal":%d,"xid":%d,"commit_ts":"%s","key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":%d,"v":"p"}}\n' \
				"${2:-st}" "$lsn" "$o" "$i" "$ts" $((i * 10 + o))
		done
		printf '{"op":"commit","commit_lsn":"%s","ordinal":3,"xid":%d,"commit_ts":"%s"}\n' "$lsn" "$i" "$ts"
		sleep 0.25
	done
}

# progress_ok TOOL ROWS FILE: FILE is one progress line of TOOL, updated
# in place (each update after a \r, a newline at the very end only),
# ending at ROWS rows.
progress_ok() {
	local l n=0
	[ "$(head -c 1 "$3" | od -An -c | tr -d ' ')" = '\r' ] || fail "$3: no \\r first"
	[ "$(tr -cd '\n' <"$3" | wc -c)" = 1 ] || fail "$3: not one line"
	[ "$(tail -c 1 "$3" | od -An -c | tr -d ' ')" = '\n' ] || fail "$3: no newline last"
	while IFS= read -r -d $'\r' l || [ -n "$l" ]; do
		[ -z "$l" ] && continue
		n=$((n + 1))
		[[ "$l" =~ ^$1:\ [0-9]+\ rows,\ [0-9]+\ rows/s,\ lag\ ([0-9]+\.[0-9]s|-)\ *$'\n'?$ ]] ||
			fail "$3: not a progress line: '$l'"
		last=$l
	done <"$3"
	[[ "$last" == "$1: $2 rows, "* ]] || fail "$3: ends '$last', not at $2 rows"
	nupdates=$n
}

@test "publish and consume: --progress on a file, --metrics parsed, records in = records out; nothing on a pipe" {
	local d=$BATS_TEST_TMPDIR
	pgflo-publish --stream P88 --create </dev/null 2>/dev/null
	slow_gen 8 | pgflo-publish --stream P88 --create --progress \
		--metrics "$d/pub.prom" >"$d/pub.pos" 2>"$d/pub.err"
	progress_ok pgflo-publish 16 "$d/pub.err"
	((nupdates >= 2))
	[[ "$last" =~ lag\ 0\.[0-9]s ]]
	run -0 prom <"$d/pub.prom"
	assert_line "pgflo_records_in_total{op=insert,stream=P88,tool=publish} 16.0"
	assert_line "pgflo_records_out_total{op=insert,stream=P88,tool=publish} 16.0"
	assert_line "pgflo_records_out_total{op=commit,stream=P88,tool=publish} 8.0"
	assert_line --regexp '^pgflo_lag_seconds\{stream=P88,tool=publish\} 0\.[0-9]+$'

	pgflo-consume --stream P88 --no-wait --progress --metrics "$d/con.prom" \
		>"$d/out" 2>"$d/con.err"
	progress_ok pgflo-consume 16 "$d/con.err"
	assert_equal "$(grep -c '"op":"insert"' "$d/out")" 16
	run -0 prom <"$d/con.prom"
	assert_line "pgflo_records_in_total{op=insert,stream=P88,tool=consume} 16.0"
	assert_line "pgflo_records_out_total{op=insert,stream=P88,tool=consume} 16.0"
	assert_line "pgflo_records_in_total{op=begin,stream=P88,tool=consume} 8.0"
	assert_line "pgflo_records_out_total{op=begin,stream=P88,tool=consume} 8.0"
	assert_line "pgflo_records_out_total{op=commit,stream=P88,tool=consume} 8.0"
	assert_line "pgflo_records_out_total{op=update,stream=P88,tool=consume} 0.0"
	assert_line "pgflo_bytes_out_total{stream=P88,tool=consume} $(wc -c <"$d/out").0"
	assert_line "pgflo_last_stream_seq{stream=P88,tool=consume} $(tail -n 1 "$d/out" | jq .stream_seq).0"
	assert_line "pgflo_last_lsn{stream=P88,tool=consume} $((0x1000000 + 8 * 4096)).0"
	assert_line "pgflo_retries_total{stream=P88,tool=consume} 0.0"
	last_ts=$(tail -n 1 "$d/out" | jq -r .commit_ts)
	assert_line "pgflo_last_commit_timestamp_seconds{stream=P88,tool=consume} $(date -d "$last_ts" +%s.%6N | sed 's/0*$//')"
	assert_line --regexp '^pgflo_lag_seconds\{stream=P88,tool=consume\} [0-9.]+$'
	# No --progress: nothing on a file, nothing on a pipe; --no-progress.
	pgflo-consume --stream P88 --no-wait >/dev/null 2>"$d/quiet.err"
	assert_equal "$(wc -c <"$d/quiet.err")" 0
	run -0 bash -c 'pgflo-consume --stream P88 --no-wait 2>&1 >/dev/null | cat'
	assert_output ''
	run -0 bash -c 'pgflo-consume --stream P88 --no-wait --progress --no-progress 2>&1 >/dev/null | cat'
	assert_output ''
	run -0 bash -c 'pgflo-publish --stream P88 </dev/null 2>&1 >/dev/null | cat'
	assert_output ''
}

@test "pgflo-status: with --stream, the target is behind in seconds only while the stream holds messages it has not applied" {
	local d=$BATS_TEST_TMPDIR
	psql_tdst -c 'CREATE TABLE public.lt (id int PRIMARY KEY, v text)'
	slow_gen 3 lt | pgflo-publish --stream L88 --create >/dev/null 2>&1
	pgflo-consume --stream L88 --no-wait | pgflo-sink-pg -d "$TDST" -g l88 >/dev/null
	assert_equal "$(psql_tdst -c 'SELECT count(*) FROM public.lt')" 6
	sleep 1.2
	# Caught up with the stream: 0, also with the source's WAL moving on.
	psql_src -c "CREATE TABLE lt_other AS SELECT g FROM generate_series(1, 1000) g"
	for src in "" "$PGFLO_SRC"; do
		run -0 --separate-stderr pgflo-status ${src:+-d "$src"} --stream L88 \
			--target "$TDST" -g l88 --json --max-lag-seconds 0.5
		assert_equal "$(echo "$output" | jq -c '[.target.stream_seq, .stream.last_seq, .target.lag_seconds]')" '[6,6,0]'
	done
	# Two more in the stream, not applied: behind since the last applied.
	slow_gen 2 lt 4 | pgflo-publish --stream L88 >/dev/null 2>&1
	run -1 --separate-stderr pgflo-status -d "$PGFLO_SRC" --stream L88 --target "$TDST" -g l88 \
		--json --max-lag-seconds 0.5
	echo "$output" | jq -e '.target.lag_seconds >= 1.2 and .target.lag_seconds < 30'
	want="target l88 is $(echo "$output" | jq .target.lag_seconds | xargs printf %.3f) seconds behind (--max-lag-seconds 0.5)"
	assert_equal "$(echo "$output" | jq -c .problems)" "[\"$want\"]"
	pgflo-consume --stream L88 --no-wait --from "$(pgflo-sink-pg -d "$TDST" -g l88 -p)" |
		pgflo-sink-pg -d "$TDST" -g l88 >/dev/null
	run -0 --separate-stderr pgflo-status --stream L88 --target "$TDST" -g l88 --json --max-lag-seconds 0.5
	assert_equal "$(echo "$output" | jq -c '[.target.stream_seq, .target.lag_seconds]')" '[10,0]'
	# The table: the commit time applied, a number for the lag.
	run -0 --separate-stderr pgflo-status --stream L88 --target "$TDST" -g l88
	assert_line --index 2 --regexp "^target +l88 +ok +0/1005000:3 +- +0\\.000 +[0-9.]+ +stream_seq=10 applied_at=[0-9T:.Z-]+ commit_ts=20[0-9-]+T[0-9:]+\\.[0-9]{6}Z\$"
}

@test "copy, sink-file and checkpoint --save: --metrics parsed, the counts as what happened" {
	local d=$BATS_TEST_TMPDIR
	psql_src -c "CREATE TABLE cm88 (id int PRIMARY KEY, v text);
	  INSERT INTO cm88 SELECT g, 'v' || g FROM generate_series(1, 300) g"
	pgflo-copy -d "$PGFLO_SRC" --no-slot -t public.cm88 -j 2 \
		--metrics "$d/copy.prom" >"$d/copy.out"
	run -0 prom <"$d/copy.prom"
	assert_line "pgflo_records_out_total{op=insert,tool=copy} 300.0"
	assert_equal "$(grep -c '"op":"insert"' "$d/copy.out")" 300
	assert_line "pgflo_records_out_total{op=other,tool=copy} $(grep -vc '"op":"insert"' "$d/copy.out").0"
	assert_line "pgflo_bytes_out_total{tool=copy} $(wc -c <"$d/copy.out").0"
	assert_line "pgflo_records_in_total{op=insert,tool=copy} 0.0"

	# sink-file: what is in the files is what was counted out.
	mkdir "$d/files"
	{ gen 5; echo '{"op":"insert"'; gen 7 | tail -n +17; } >"$d/in"
	PGFLO_METRICS=$d/sf.prom pgflo-sink-file -d "$d/files" -g sf88 \
		--dead-letter "$d/dead" <"$d/in" >"$d/sf.pos"
	run -0 prom <"$d/sf.prom"
	assert_line "pgflo_records_in_total{group=sf88,op=insert,tool=sink-file} $(grep -c '"op":"insert",' "$d/in").0"
	assert_line "pgflo_records_in_total{group=sf88,op=other,tool=sink-file} 1.0"
	assert_line "pgflo_records_out_total{group=sf88,op=insert,tool=sink-file} $(cat "$d"/files/* | grep -c '"op":"insert"').0"
	assert_line "pgflo_records_out_total{group=sf88,op=commit,tool=sink-file} $(cat "$d"/files/* | grep -c '"op":"commit"').0"
	assert_line "pgflo_bytes_out_total{group=sf88,tool=sink-file} $(cat "$d"/files/* | wc -c).0"
	assert_line "pgflo_errors_total{group=sf88,tool=sink-file} 1.0"
	assert_line "pgflo_last_lsn{group=sf88,tool=sink-file} $((16777216 + 7 * 4096)).0"
	assert_line "pgflo_batches_total{group=sf88,tool=sink-file} $(wc -l <"$d/sf.pos").0"

	# checkpoint --save: positions stored, bad lines, -t copies.
	{ cat "$d/sf.pos"; echo 'not json'; } |
		pgflo-checkpoint -i 0 -t --save "file:$d/ck" --dead-letter "$d/ckdead" \
			--metrics "$d/ck.prom" >"$d/ck.out"
	run -0 prom <"$d/ck.prom"
	n=$(wc -l <"$d/sf.pos")
	assert_line "pgflo_records_in_total{op=other,store=file:$d/ck,tool=checkpoint} $((n + 1)).0"
	assert_line "pgflo_records_out_total{op=other,store=file:$d/ck,tool=checkpoint} $((n + 1)).0"
	assert_line "pgflo_batches_total{store=file:$d/ck,tool=checkpoint} $n.0"
	assert_line "pgflo_errors_total{store=file:$d/ck,tool=checkpoint} 1.0"
	assert_line "pgflo_last_lsn{store=file:$d/ck,tool=checkpoint} $((16777216 + 7 * 4096)).0"
	assert_line "pgflo_bytes_out_total{store=file:$d/ck,tool=checkpoint} $(wc -c <"$d/ck.out").0"
	run -2 pgflo-checkpoint --get "file:$d/ck" --metrics "$d/x.prom"
	assert_line --index 0 'pgflo-checkpoint: --metrics is for --save'
	# A file that cannot be written is a usage error, at start.
	run -2 --separate-stderr pgflo-sink-file -d "$d/files" --metrics "$d/no/such.prom" </dev/null
	[[ "$stderr" == "pgflo-sink-file: could not create metrics file $d/no/such.prom.tmp."* ]]
}

# The cron example of pgflo(7) RUNNING, with this test's servers and paths.
cron_job() {
	local d=$BATS_TEST_TMPDIR
	flock -n "$d/lock" bash -o pipefail -c 'pgflo-capture \
	  -d "$PGFLO_SRC" -S c88 -t public.ct --create-slot \
	  -c "file:$1/pos" \
	  -E "$(psql -d "$PGFLO_SRC" -XAtc "SELECT pg_current_wal_insert_lsn()")" |
	  pgflo-sink-pg -d "$TDST" -g c88 |
	  pgflo-checkpoint --save "file:$1/pos"' cron "$d"
}

@test "cron: the flock example runs twice in a row, and never beside itself" {
	psql_src -c 'CREATE TABLE public.ct (id int PRIMARY KEY, v text)'
	psql_tdst -c 'CREATE TABLE public.ct (id int PRIMARY KEY, v text)'
	# The first run creates the slot: what comes after it is captured.
	run -0 cron_job
	psql_src -c "INSERT INTO ct SELECT g, 'a' FROM generate_series(1, 50) g"
	run -0 cron_job
	assert_equal "$(psql_tdst -c 'SELECT count(*), sum(id) FROM ct')" "50|1275"
	psql_src -c "INSERT INTO ct SELECT g, 'b' FROM generate_series(51, 60) g"
	psql_src -c "UPDATE ct SET v = 'c' WHERE id <= 5"
	run -0 cron_job
	assert_equal "$(psql_tdst -c "SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'c') FROM ct")" "60|1830|5"
	# A run that finds one going exits 1 at once and does nothing.
	flock "$BATS_TEST_TMPDIR/lock" sleep 3 3>&- &
	sleep 0.3
	psql_src -c "INSERT INTO ct VALUES (61, 'd')"
	SECONDS=0
	run -1 cron_job
	[ "$SECONDS" -lt 2 ]
	assert_equal "$(psql_tdst -c 'SELECT count(*) FROM ct')" 60
	wait
	run -0 cron_job
	assert_equal "$(psql_tdst -c 'SELECT count(*) FROM ct')" 61
	psql_src -c "SELECT pg_drop_replication_slot('c88')" >/dev/null
}

# Waits (at most 30 s) for a line of file $1 to be $2.
wait_line() {
	for _ in $(seq 1 300); do
		grep -qxF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$1"
	return 1
}

@test "pgflo-run: SIGTERM stops every stage cleanly; a stage killed -9 starts the whole line again (-r)" {
	local d=$BATS_TEST_TMPDIR sink1 sink2
	psql_src -c 'CREATE TABLE public.rt (id int PRIMARY KEY, v text)'
	psql_tdst -c 'CREATE TABLE public.rt (id int PRIMARY KEY, v text)'
	export D=$d
	pgflo-run -r -b 0.2 'pgflo-capture -d "$PGFLO_SRC" -S r88 -t public.rt \
		--create-slot -c "file:$D/pos" |
	  pgflo-sink-pg -d "$TDST" -g r88 |
	  pgflo-checkpoint -i 0 --save "file:$D/pos"' 2>"$d/run.err" 3>&- &
	runpid=$!
	for _ in $(seq 1 300); do
		pgflo-status -d "$PGFLO_SRC" -S r88 >/dev/null 2>&1 && break
		sleep 0.1
	done
	psql_src -c "INSERT INTO rt SELECT g, 'a' FROM generate_series(1, 10) g"
	for _ in $(seq 1 300); do
		[ "$(psql_tdst -c 'SELECT count(*) FROM public.rt')" = 10 ] && break
		sleep 0.1
	done
	assert_equal "$(psql_tdst -c 'SELECT count(*) FROM public.rt')" 10
	sink1=$(pgrep -f -- "^pgflo-sink-pg -d $TDST -g r88")
	kill -9 "$sink1"
	# The capture sees its reader gone, the checkpoint its input end.
	wait_line "$d/run.err" "pgflo-run: the pipeline exited 137; starting it again in 0.2s"
	for _ in $(seq 1 300); do
		sink2=$(pgrep -f -- "^pgflo-sink-pg -d $TDST -g r88") && break
		sleep 0.1
	done
	[ -n "$sink2" ] && [ "$sink2" != "$sink1" ]
	for _ in $(seq 1 300); do
		pgflo-status -d "$PGFLO_SRC" -S r88 >/dev/null 2>&1 && break
		sleep 0.1
	done
	psql_src -c "INSERT INTO rt SELECT g, 'b' FROM generate_series(11, 20) g"
	for _ in $(seq 1 300); do
		[ "$(psql_tdst -c 'SELECT count(*) FROM public.rt')" = 20 ] && break
		sleep 0.1
	done
	assert_equal "$(psql_tdst -c 'SELECT count(*), sum(id) FROM public.rt')" "20|210"
	# One SIGTERM to pgflo-run: every stage drains and exits 0, so does it.
	kill -TERM "$runpid"
	st=0
	wait "$runpid" || st=$?
	[ "$st" -eq 0 ] || fail "pgflo-run exited $st: $(cat "$d/run.err")"
	[ -z "$(pgrep -f -- "-S r88 |-g r88" || true)" ] ||
		fail "left running: $(pgrep -af -- "-S r88 |-g r88")"
	assert_equal "$(pgflo-checkpoint --get "file:$d/pos" -f commit_lsn)" \
		"$(psql_tdst -c "SELECT commit_lsn FROM pgflo.applied WHERE group_name = 'r88'")"
	assert_equal "$(grep -c 'starting it again' "$d/run.err")" 1
	psql_src -c "SELECT pg_drop_replication_slot('r88')" >/dev/null
	# Exit 2 is not retried; the line's status is its last failing stage's.
	run -2 --separate-stderr pgflo-run -r -b 0 'echo once; exit 2'
	assert_output once
	assert_equal "$stderr" "pgflo-run: the pipeline exited 2 (usage, or a login refused): not started again"
	run -1 pgflo-run 'false | true'
	run -3 pgflo-run 'exit 3 | true'
	run -0 pgflo-run 'exit 3 | true; true'
	run -2 --separate-stderr pgflo-run 'a' 'b'
	assert_equal "${stderr_lines[0]}" "pgflo-run: unexpected argument: b (the pipeline is one argument: quote it)"
}

@test "systemd: the template units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null ||
		skip "systemd-analyze is not installed"
	local d=$BATS_TEST_TMPDIR k f
	for k in replicator worker; do
		cp "$TOP/scripts/systemd/pgflo-$k@.service" "$d/pgflo-$k@shop.service"
	done
	# --man=no: the pages are not installed here.
	run -0 systemd-analyze verify --man=no "$TOP"/scripts/systemd/*.service \
		"$d"/pgflo-*@shop.service
	assert_output ''
	for f in "$TOP"/scripts/systemd/*.service; do
		for k in Restart=always KillSignal=SIGTERM KillMode=control-group \
		    User=pgflo NoNewPrivileges=yes ProtectSystem=strict \
		    'EnvironmentFile=/etc/pgflo/%i.env'; do
			grep -qx -- "$k" "$f" || fail "$f: no $k"
		done
		! grep -i 'password=' "$f"
	done
	grep -qx 'ExecStart=/bin/bash -o pipefail -c ${PGFLO_REPLICATOR}' \
		"$TOP/scripts/systemd/pgflo-replicator@.service"
	grep -qx 'ExecStart=/bin/bash -o pipefail -c ${PGFLO_WORKER}' \
		"$TOP/scripts/systemd/pgflo-worker@.service"
	# The example's pipeline is a valid line for bash.
	(set -a; . "$TOP/scripts/systemd/example.env"
	 bash -n -o pipefail -c "$PGFLO_REPLICATOR") || fail "example.env"
}
