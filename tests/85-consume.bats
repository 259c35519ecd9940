#!/usr/bin/env bats
# pgflo-consume against a real nats-server (scripts/test-nats), the stream
# written by pgflo-publish; sink-pg and capture against a real PostgreSQL.

load test_helper

DUMP="$BATS_TEST_DIRNAME/nats-dump"

setup_file() {
	pg_start
	nats_start
}

teardown_file() {
	nats_stop
	pg_stop
}

# N synthetic transactions of 1, 1, 3 and 10 inserts on tables t0..t2.
gen() {
	awk -v n="$1" -v lsn0="${2:-16777216}" 'BEGIN {
		lsn = lsn0
		for (t = 1; t <= n; t++) {
			k = t % 4 == 0 ? 10 : (t % 4 == 3 ? 3 : 1)
			lsn += 4096
			l = sprintf("0/%X", lsn)
			printf "{\"op\":\"begin\",\"commit_lsn\":\"%s\",\"ordinal\":0,\"xid\":%d}\n", l, t
			for (i = 1; i <= k; i++)
				printf "{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"t%d\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d,\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"v\":\"text\"},\"new\":{\"id\":%d,\"v\":\"padding\"}}\n", i % 3, l, i, t, t * 100 + i
			printf "{\"op\":\"commit\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d}\n", l, k + 1, t
		}
	}'
}

# The records again without the field consume adds.
unseq() {
	sed 's/,"stream_seq":[0-9]*}$/}/' "$@"
}

# Publishes file $2 into stream $1 (created).
publish() {
	pgflo-publish --stream "$1" --create <"$2" >/dev/null 2>&1
}

endpos() {
	psql_src -c 'SELECT pg_current_wal_insert_lsn()'
}

# kill -9 of the test nats-server, gone for $1 s, then started again on
# the same port and store.
nats_crash() {
	local dir=$PGFLO_TEST_NATSDIR pid st
	pid=$(cat "$dir/nats.pid")
	kill -9 "$pid"
	while read -r st <"/proc/$pid/stat" 2>/dev/null; do
		st=${st##*) }
		[ "${st%% *}" = Z ] && break
		sleep 0.02
	done
	sleep "$1"
	"$TOP/scripts/test-nats" start "$dir" 3>&- || return 1
	. "$dir/nats.env"
}

# Copies stdin to file $1 slowly: a pipe's worth (64 KiB) at most each
# 20 ms, at most 3 MB/s (dd never reads past its block).
slow_cat() {
	local n
	while :; do
		n=$(dd bs=64k count=1 status=none | tee -a "$1" | wc -c)
		[ "$n" -gt 0 ] || break
		sleep 0.02
	done
}

# Waits (up to $2 s, default 60) until file $1 has $3 lines.
wait_lines() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		[ "$(wc -l <"$1")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "$1 has $(wc -l <"$1") lines, want $3" >&2
	return 1
}

@test "pgflo-consume: 200k records --no-wait: exactly those, in order, stream_seq 1..N, bytes equal but the field" {
	gen 35000 >"$BATS_TEST_TMPDIR/in"
	publish big "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr pgflo-consume --stream big --no-wait
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
	assert_equal "$stderr" ""
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/out")" "$(wc -l <"$BATS_TEST_TMPDIR/in")"
	run unseq "$BATS_TEST_TMPDIR/out"
	run cmp <(unseq "$BATS_TEST_TMPDIR/out") "$BATS_TEST_TMPDIR/in"
	assert_success
	# Every message once, in order: the inserts carry 1..N; begins none.
	run awk '/"op":"insert"/ { if (!match($0, /"stream_seq":[0-9]+}$/)) { print "no seq: " NR; exit 1 }
		s = substr($0, RSTART + 13, RLENGTH - 14) + 0
		if (s != ++n) { print "line " NR ": seq " s ", want " n; exit 1 } }
		/"op":"begin"/ && /stream_seq/ { print "begin with seq"; exit 1 }
		END { print n }' "$BATS_TEST_TMPDIR/out"
	assert_success
	assert_output "$("$DUMP" -r big | wc -l)"
}

@test "pgflo-consume: --from a sequence, a position record, X/Y:ORDINAL, file: and nats: stores, first, last, new" {
	gen 8 >"$BATS_TEST_TMPDIR/in"
	publish froms "$BATS_TEST_TMPDIR/in"
	pgflo-consume --stream froms --no-wait >"$BATS_TEST_TMPDIR/all"
	# Messages 1, 2: transactions 1, 2; 3-5: 3; 6-15: 4 (its begin on 6).
	run -0 pgflo-consume --stream froms --no-wait --from 5
	assert_output "$(sed -n '/"op":"begin".*"xid":4}/,$p' "$BATS_TEST_TMPDIR/all")"
	assert_equal "${lines[0]}" '{"op":"begin","commit_lsn":"0/1004000","ordinal":0,"xid":4}'
	assert_equal "${#lines[@]}" $(( $(wc -l <"$BATS_TEST_TMPDIR/all") - 11 ))
	run -0 pgflo-consume --stream froms --no-wait --from '{"op":"position","commit_lsn":"0/1003000","ordinal":4,"stream_seq":5,"group":"g"}'
	assert_equal "${lines[0]}" '{"op":"begin","commit_lsn":"0/1004000","ordinal":0,"xid":4}'
	# Only a commit_lsn and ordinal: mid-transaction 4, after its 3rd insert.
	run -0 pgflo-consume --stream froms --no-wait --from 0/1004000:3
	assert_equal "${lines[0]}" '{"op":"insert","schema":"public","table":"t1","commit_lsn":"0/1004000","ordinal":4,"xid":4,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":404,"v":"padding"},"stream_seq":9}'
	run -0 pgflo-consume --stream froms --no-wait --from 0/1004000:11
	assert_equal "${lines[0]}" '{"op":"begin","commit_lsn":"0/1005000","ordinal":0,"xid":5}'
	echo '{"op":"position","commit_lsn":"0/1007000","ordinal":4,"stream_seq":20}' >"$BATS_TEST_TMPDIR/ck"
	run -0 pgflo-consume --stream froms --no-wait --from "file:$BATS_TEST_TMPDIR/ck"
	assert_equal "${lines[0]}" '{"op":"begin","commit_lsn":"0/1008000","ordinal":0,"xid":8}'
	echo '{"op":"position","commit_lsn":"0/1007000","ordinal":4,"stream_seq":20}' |
		pgflo-checkpoint --save nats:pgflo/froms
	run -0 pgflo-consume --stream froms --no-wait --from nats:pgflo/froms
	assert_equal "${lines[0]}" '{"op":"begin","commit_lsn":"0/1008000","ordinal":0,"xid":8}'
	assert_equal "${#lines[@]}" 12
	# A store that holds nothing yet: from the start, with a notice.
	run -0 --separate-stderr pgflo-consume --stream froms --no-wait --from "file:$BATS_TEST_TMPDIR/none"
	assert_output "$(cat "$BATS_TEST_TMPDIR/all")"
	assert_equal "$stderr" "pgflo-consume: file:$BATS_TEST_TMPDIR/none holds no position: reading stream froms from its start"
	run -0 pgflo-consume --stream froms --no-wait --from first
	assert_output "$(cat "$BATS_TEST_TMPDIR/all")"
	run -0 pgflo-consume --stream froms --no-wait --from last
	assert_output "$(tail -n 2 "$BATS_TEST_TMPDIR/all")"
	run -0 pgflo-consume --stream froms --no-wait --from new
	assert_output ""
	# new while following: only what is published after the start.
	pgflo-consume --stream froms --from new >"$BATS_TEST_TMPDIR/new" 3>&- &
	pid=$!
	sleep 0.5
	gen 1 $((0x1100000)) | publish froms /dev/stdin
	wait_lines "$BATS_TEST_TMPDIR/new" 10 3
	kill -TERM "$pid"
	wait "$pid"
	run -0 unseq "$BATS_TEST_TMPDIR/new"
	assert_output "$(gen 1 $((0x1100000)))"
	run -2 pgflo-consume --stream froms --from nonsense
	assert_line --index 0 "pgflo-consume: invalid --from: nonsense (a stream sequence, a position record, X/Y:ORDINAL, a store, first, last or new)"
}

@test "pgflo-consume: --from sink-pg's --position: a rerun applies nothing twice, the rest once" {
	psql_dst -c 'CREATE TABLE t0 (id int PRIMARY KEY, v text); CREATE TABLE t1 (LIKE t0 INCLUDING ALL); CREATE TABLE t2 (LIKE t0 INCLUDING ALL)'
	gen 400 >"$BATS_TEST_TMPDIR/in"
	head -n 1000 "$BATS_TEST_TMPDIR/in" | awk '{ print } /"op":"commit"/ { last = NR } END { }' >/dev/null
	publish sinkpos "$BATS_TEST_TMPDIR/in"
	# The first 100 transactions, through sink-pg.
	pgflo-consume --stream sinkpos --no-wait | awk '/"op":"commit"/ && ++n == 100 { print; exit } { print }' |
		pgflo-sink-pg -d "$PGFLO_DST" -g sp >/dev/null
	run -0 psql_dst -c 'SELECT count(*) FROM t0'
	first=$output
	run -0 pgflo-sink-pg -d "$PGFLO_DST" -g sp --position
	assert_output --regexp '"stream_seq":[0-9]+'
	pos=$output
	run -0 bash -c 'pgflo-consume --stream sinkpos --no-wait --from "$1" | head -n 1' _ "$pos"
	assert_output --partial '"op":"begin"'
	pgflo-consume --stream sinkpos --no-wait --from "$(pgflo-sink-pg -d "$PGFLO_DST" -g sp --position)" |
		pgflo-sink-pg -d "$PGFLO_DST" -g sp >/dev/null
	for t in t0 t1 t2; do
		run -0 psql_dst -c "SELECT count(*), sum(id) FROM $t"
		assert_output "$(grep "\"table\":\"$t\"" "$BATS_TEST_TMPDIR/in" | jq -s -r '"\(length)|\(map(.new.id) | add)"')"
	done
	[ "$first" -lt "$(psql_dst -c 'SELECT count(*) FROM t0')" ]
}

@test "pgflo-consume: a reader stalled 5 s on 500k small records: nothing missing" {
	awk 'BEGIN { for (t = 1; t <= 50000; t++) {
		l = sprintf("0/%X", 16777216 + t * 4096)
		printf "{\"op\":\"begin\",\"commit_lsn\":\"%s\",\"ordinal\":0,\"xid\":%d}\n", l, t
		for (i = 1; i <= 10; i++)
			printf "{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"x\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"key\":[\"id\"],\"types\":{\"id\":\"integer\"},\"new\":{\"id\":%d}}\n", l, i, t * 10 + i
		printf "{\"op\":\"commit\",\"commit_lsn\":\"%s\",\"ordinal\":11,\"xid\":%d}\n", l, t
	} }' >"$BATS_TEST_TMPDIR/in"
	publish stall "$BATS_TEST_TMPDIR/in"
	run -0 bash -c 'pgflo-consume --stream stall --no-wait | (sleep 5; cat) | sed "s/,\"stream_seq\":[0-9]*}$/}/" | cmp - "$1"' _ "$BATS_TEST_TMPDIR/in"
}

@test "pgflo-consume: nats-server killed -9 and restarted 5 times while consuming: no gap, no duplicate" {
	# A server of its own: a restart recovers only this stream.
	"$TOP/scripts/test-nats" start "$BATS_TEST_TMPDIR/nats" 3>&-
	. "$BATS_TEST_TMPDIR/nats/nats.env"
	gen 10000 >"$BATS_TEST_TMPDIR/in"
	publish kills "$BATS_TEST_TMPDIR/in"
	n=$(wc -l <"$BATS_TEST_TMPDIR/in")
	# A slow reader, so that the kills fall in the middle.
	bash -c 'echo $$ >"$1"; exec pgflo-consume -v --stream kills' _ "$BATS_TEST_TMPDIR/pid" \
		2>"$BATS_TEST_TMPDIR/err" 3>&- | slow_cat "$BATS_TEST_TMPDIR/out" &
	pid=$!
	for i in 1 2 3 4 5; do
		sleep 0.3
		nats_crash 0.2
	done
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -lt "$n" ]
	wait_lines "$BATS_TEST_TMPDIR/out" 60 "$n"
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/pid")"
	wait "$pid" || true
	run cmp <(unseq "$BATS_TEST_TMPDIR/out") "$BATS_TEST_TMPDIR/in"
	assert_success
	run -0 cat "$BATS_TEST_TMPDIR/err"
	assert_output --regexp "^pgflo-consume: $(wc -l <"$BATS_TEST_TMPDIR/in") records written, up to stream sequence 37500, [0-9]+ resubscriptions$"
	"$TOP/scripts/test-nats" stop "$BATS_TEST_TMPDIR/nats" 3>&-
}

@test "pgflo-consume: -t gets only its table's changes and their transactions' markers" {
	gen 40 >"$BATS_TEST_TMPDIR/in"
	publish tfilt "$BATS_TEST_TMPDIR/in"
	run -0 pgflo-consume --stream tfilt --no-wait -t public.t2
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out"
	# Transactions 3, 4, 7, 8, ... have t2 rows; the others none.
	run -0 jq -r 'select(.op == "insert") | .table' "$BATS_TEST_TMPDIR/out"
	assert_equal "$(sort -u <<<"$output")" t2
	assert_equal "${#lines[@]}" "$(grep -c '"table":"t2"' "$BATS_TEST_TMPDIR/in")"
	run -0 jq -r '.op' "$BATS_TEST_TMPDIR/out"
	assert_equal "$(grep -c begin <<<"$output")" 20
	assert_equal "$(grep -c commit <<<"$output")" 20
	# Each transaction: its begin as published, changes, a commit.
	run -0 jq -s -r 'map(select(.op != "insert")) | .[0:2] | map(tojson) | .[]' "$BATS_TEST_TMPDIR/out"
	assert_line --index 0 '{"op":"begin","commit_lsn":"0/1003000","ordinal":0,"xid":3}'
	# Its commit rode on a t0 row: one is made, after the last t2 row,
	# at the sequence before the next transaction.
	assert_line --index 1 '{"op":"commit","commit_lsn":"0/1003000","ordinal":3,"xid":3,"stream_seq":6}'
	# A glob inside a name, and a bare name: filtered here.
	run -0 pgflo-consume --stream tfilt --no-wait -t 't[12]*,t0'
	run -0 pgflo-consume --stream tfilt --no-wait -t 'public.t?,nosuch'
	assert_equal "$(grep -c '"op":"insert"' <<<"$output")" "$(grep -c '"op":"insert"' "$BATS_TEST_TMPDIR/in")"
	run -0 pgflo-consume --stream tfilt --no-wait -t nosuch
	assert_output ""
}

@test "pgflo-consume: a 16 MB row comes back whole" {
	head -c 12000000 /dev/urandom | base64 -w0 >"$BATS_TEST_TMPDIR/blob"
	{
		echo '{"op":"begin","commit_lsn":"0/2000000","ordinal":0,"xid":9}'
		printf '{"op":"insert","schema":"public","table":"big","commit_lsn":"0/2000000","ordinal":1,"xid":9,"key":["id"],"types":{"id":"integer","b":"text"},"new":{"id":1,"b":"%s"}}\n' "$(cat "$BATS_TEST_TMPDIR/blob")"
		echo '{"op":"commit","commit_lsn":"0/2000000","ordinal":2,"xid":9}'
	} >"$BATS_TEST_TMPDIR/in"
	publish huge "$BATS_TEST_TMPDIR/in"
	[ "$("$DUMP" -r huge | wc -l)" -gt 10 ]
	pgflo-consume --stream huge --no-wait >"$BATS_TEST_TMPDIR/out"
	run cmp <(unseq "$BATS_TEST_TMPDIR/out") "$BATS_TEST_TMPDIR/in"
	assert_success
	last=$("$DUMP" -r huge | tail -n 1 | cut -d' ' -f1)
	run -0 tail -c 30 "$BATS_TEST_TMPDIR/out"
	assert_output --partial "\"stream_seq\":$last}"
	# Under a smaller PGFLO_MAX_RECORD it is an error, not a cut record.
	PGFLO_MAX_RECORD=1M run -1 --separate-stderr pgflo-consume --stream huge --no-wait -t big
	assert_equal "$stderr" "pgflo-consume: stream huge: the record ending at message 2 is over PGFLO_MAX_RECORD (1048576 bytes)"
}

@test "pgflo-consume: --partition over 3 workers covers every row of a table once" {
	gen 300 >"$BATS_TEST_TMPDIR/in"
	publish parts "$BATS_TEST_TMPDIR/in"
	for i in 1 2 3; do
		pgflo-consume --stream parts --no-wait -t t1 --partition "$i/3" >"$BATS_TEST_TMPDIR/p$i"
		n=$(grep -c '"op":"insert"' "$BATS_TEST_TMPDIR/p$i")
		[ "$n" -gt 50 ]
		# Begin and commit around each worker's share of a transaction.
		run -0 jq -r .op "$BATS_TEST_TMPDIR/p$i"
		assert_equal "$(grep -c begin <<<"$output")" "$(grep -c commit <<<"$output")"
	done
	run -0 bash -c 'cat "$@" | jq -r "select(.op == \"insert\") | .new.id" | sort -n' _ "$BATS_TEST_TMPDIR"/p[123]
	assert_output "$(jq -r 'select(.table == "t1") | .new.id' "$BATS_TEST_TMPDIR/in" | sort -n)"
	run -2 pgflo-consume --stream parts --partition 4/3
	assert_line --index 0 'pgflo-consume: invalid --partition: 4/3 (I/N, 1 <= I <= N <= 1024)'
}

@test "pgflo-consume: a follower started before its stream waits for it, warned once; SIGTERM while it waits is 0" {
	gen 300 >"$BATS_TEST_TMPDIR/in"
	pgflo-consume --stream late >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	sleep 2.5
	kill -0 "$pid"
	publish late "$BATS_TEST_TMPDIR/in"
	wait_lines "$BATS_TEST_TMPDIR/out" 10 "$(wc -l <"$BATS_TEST_TMPDIR/in")"
	kill -TERM "$pid"
	wait "$pid"
	run unseq "$BATS_TEST_TMPDIR/out"
	assert_output "$(cat "$BATS_TEST_TMPDIR/in")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" "pgflo-consume: no stream late on NATS server $PGFLO_NATS_URL yet: waiting for it (pgflo-publish --create makes it)"
	pgflo-consume --stream never 2>/dev/null 3>&- &
	pid=$!
	sleep 0.5
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	# Its reader gone while it waits: 141 within a second or so.
	run -0 timeout 10 bash -c 'pgflo-consume --stream never 2>/dev/null | (sleep 0.3; exit 0); echo "${PIPESTATUS[0]}"'
	assert_output 141
}

@test "pgflo-consume: SIGTERM exits 0; head -n1 ends at once; /dev/full is exit 1; no stream is 2; no server is 3" {
	gen 2000 >"$BATS_TEST_TMPDIR/in"
	publish misc "$BATS_TEST_TMPDIR/in"
	pgflo-consume --stream misc >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	wait_lines "$BATS_TEST_TMPDIR/out" 10 "$(wc -l <"$BATS_TEST_TMPDIR/in")"
	kill -TERM "$pid"
	wait "$pid"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
	run -0 --separate-stderr bash -c 'pgflo-consume --stream misc | head -n 1'
	assert_output '{"op":"begin","commit_lsn":"0/1001000","ordinal":0,"xid":1}'
	assert_equal "$stderr" ""
	# An idle follower notices its reader is gone.
	run -0 timeout 10 bash -c 'pgflo-consume --stream misc --from new | (sleep 0.3; exit 0); echo "${PIPESTATUS[0]}"'
	assert_output 141
	run -1 --separate-stderr bash -c 'pgflo-consume --stream misc --no-wait >/dev/full'
	assert_equal "$stderr" "pgflo-consume: write error: No space left on device"
	run -2 --separate-stderr pgflo-consume --stream nosuch --no-wait
	assert_equal "$stderr" "pgflo-consume: no stream nosuch on NATS server $PGFLO_NATS_URL"
	run -3 --separate-stderr pgflo-consume --stream misc --no-wait -s nats://127.0.0.1:1
	assert_output ""
	run -2 pgflo-consume --no-wait
	assert_line --index 0 "pgflo-consume: --stream is required"
}
