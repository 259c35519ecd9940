#!/usr/bin/env bats
# pgflo-publish, pgflo-consume and the nats: store on a real three-node
# JetStream cluster (scripts/test-nats-cluster), streams and buckets of
# three replicas, with the leader of the stream killed -9 while publishing
# and while consuming.

load test_helper

setup_file() {
	"$TOP/scripts/test-nats-cluster" start "$BATS_FILE_TMPDIR/cl" 3>&-
}

teardown_file() {
	"$TOP/scripts/test-nats-cluster" stop "$BATS_FILE_TMPDIR/cl" 3>&-
}

setup() {
	. "$BATS_FILE_TMPDIR/cl/cluster.env"
}

# kill -9 of the node leading stream $1; it comes back after $2 s on its
# own store, and the cluster is whole again.
kill_leader() {
	local dir=$PGFLO_TEST_NATSDIR node pid
	node=$("$TOP/scripts/test-nats-cluster" leader "$dir" "$1") || return 1
	pid=$(cat "$dir/$node.pid")
	kill -9 "$pid"
	while [ -e "/proc/$pid" ]; do
		sleep 0.02
	done
	echo "$node" >>"$BATS_TEST_TMPDIR/killed"
	sleep "$2"
	# Not holding the test's fifo (fd 5) open: publish would wait for ever.
	"$TOP/scripts/test-nats-cluster" start "$dir" 3>&- 5>&-
}

@test "cluster: publish --replicas 3 | checkpoint --replicas 3, the stream's leader killed -9 twice: no exit, stream and checkpoint exact" {
	gen 20000 >"$BATS_TEST_TMPDIR/in"
	last=$(tail -n 1 "$BATS_TEST_TMPDIR/in" | jq -c '{op: "position", commit_lsn, ordinal}')
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-publish --stream r3 --create --replicas 3 <"$BATS_TEST_TMPDIR/fifo" 2>"$BATS_TEST_TMPDIR/perr" 3>&- |
		pgflo-checkpoint --save nats:cl/r3 --replicas 3 -i 100ms \
		2>"$BATS_TEST_TMPDIR/err" 3>&- &
	line=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	# The input in three thirds, a leader killed after each of the first two.
	split -n l/3 -d "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/part."
	cat "$BATS_TEST_TMPDIR/part.00" >&5
	kill_leader r3 1
	cat "$BATS_TEST_TMPDIR/part.01" >&5
	kill_leader r3 1
	cat "$BATS_TEST_TMPDIR/part.02" >&5
	exec 5>&-
	wait "$line"
	run cat "$BATS_TEST_TMPDIR/killed"
	assert_equal "${#lines[@]}" 2
	"$DUMP" r3 >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
	run pgflo-checkpoint -g nats:cl/r3
	assert_output "${last%\}},\"stream_seq\":$(grep -cv '"op":"\(begin\|commit\)"' "$BATS_TEST_TMPDIR/in")}"
	# Three replicas of both, on the cluster.
	run bash -c "PGFLO_NATS_URL=\${PGFLO_NATS_URL%%,*} '$TOP/tests/fixtures/checkpoint/nats-raw' '\$JS.API.STREAM.INFO.KV_cl' </dev/null |
		jq -r '.config.num_replicas'"
	assert_output 3
	run bash -c "PGFLO_NATS_URL=\${PGFLO_NATS_URL%%,*} '$TOP/tests/fixtures/checkpoint/nats-raw' '\$JS.API.STREAM.INFO.r3' </dev/null |
		jq -r '.config.num_replicas'"
	assert_output 3
}

@test "cluster: pgflo-consume of an R3 stream, its leader killed -9 twice while it reads: every record once, in order" {
	gen 20000 >"$BATS_TEST_TMPDIR/in"
	pgflo-publish --stream c3 --create --replicas 3 <"$BATS_TEST_TMPDIR/in" >/dev/null
	want=$(wc -l <"$BATS_TEST_TMPDIR/in")
	# A slow reader, so that the kills come while it reads.
	pgflo-consume --stream c3 2>"$BATS_TEST_TMPDIR/err" 3>&- |
		awk '{ print; fflush() } NR % 5000 == 0 { system("sleep 0.5") }' \
		>"$BATS_TEST_TMPDIR/out" 3>&- &
	reader=$!
	kill_leader c3 1
	kill_leader c3 1
	for _ in $(seq 1 600); do
		[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge "$want" ] && break
		sleep 0.1
	done
	pkill -TERM -f '^pgflo-consume --stream c3$' || true
	wait "$reader" || true
	run cat "$BATS_TEST_TMPDIR/killed"
	assert_equal "${#lines[@]}" 2
	run cmp <(sed 's/,"stream_seq":[0-9]*}$/}/' "$BATS_TEST_TMPDIR/out") "$BATS_TEST_TMPDIR/in"
	assert_success
}
