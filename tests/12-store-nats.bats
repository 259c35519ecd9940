#!/usr/bin/env bats
# The nats:BUCKET/KEY checkpoint store (common/store_nats.c), through
# pgflo-checkpoint, against a real nats-server with JetStream.

load test_helper

RAW="$BATS_TEST_DIRNAME/fixtures/checkpoint/nats-raw"

pos() {	# pos LSN ORDINAL: one position record
	printf '{"op":"position","commit_lsn":"%s","ordinal":%s}\n' "$1" "$2"
}

# The stored value of $1 (BUCKET/KEY), byte for byte, through the plain
# protocol (the stream message API answers with it in base64).
raw_value() {
	printf '{"last_by_subj":"$KV.%s.%s"}' "${1%%/*}" "${1#*/}" |
		"$RAW" "\$JS.API.STREAM.MSG.GET.KV_${1%%/*}" |
		python3 -c 'import base64, json, sys
sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["message"]["data"]))'
}

# Polls until --get of $1 prints $2 (5 s at most).
wait_lsn() {
	local _
	for _ in $(seq 100); do
		[ "$(pgflo-checkpoint -g "$1" -f commit_lsn 2>/dev/null)" = "$2" ] &&
			return 0
		sleep 0.05
	done
	echo "store $1 never showed $2" >&2
	return 1
}

# auth_server ARG...: a second nats-server, with the authentication
# options ARG..., on a free port; sets AUTH_URL and AUTH_PID.
auth_server() {
	local port _
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	/usr/sbin/nats-server -js -a 127.0.0.1 -p "$port" \
		-sd "$BATS_TEST_TMPDIR/authjs" "$@" \
		</dev/null >"$BATS_TEST_TMPDIR/auth.log" 2>&1 3>&- &
	AUTH_PID=$!
	AUTH_URL=nats://127.0.0.1:$port
	for _ in $(seq 200); do
		grep -qF "Server is ready" "$BATS_TEST_TMPDIR/auth.log" && return 0
		sleep 0.05
	done
	return 1
}

setup_file() {
	nats_start
}

teardown_file() {
	nats_stop
}

teardown() {
	if [ -n "${AUTH_PID:-}" ]; then
		kill "$AUTH_PID" 2>/dev/null || true
		wait "$AUTH_PID" 2>/dev/null || true
	fi
}

setup() {
	# A test may restart the server: take its address anew.
	. "$BATS_FILE_TMPDIR/nats/nats.env"
	B="b$BATS_TEST_NUMBER"
	S="nats:$B/pos"
}

@test "nats store: --save then --get round-trips the document exactly as file: does" {
	in='{"op":"snapshot","phase":"end","schema":"public","table":"t","slot":"s","lsn":"0/10","rows":2}
{"op":"position","commit_lsn":"0/2a","ordinal":2,"group":"g1","extra":1}
{"op":"position","stream_seq":5}
{"op":"snapshot","phase":"done","slot":"s","lsn":"0/10"}'
	printf '%s\n' "$in" | pgflo-checkpoint -s "$S"
	printf '%s\n' "$in" | pgflo-checkpoint -s "file:$BATS_TEST_TMPDIR/f"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/2A","ordinal":2,"stream_seq":5,"group":"g1","copy":{"slot":"s","done":true,"tables":[{"schema":"public","table":"t","lsn":"0/10","rows":2}],"lsn":"0/10"}}'
	assert_equal "$output" "$(pgflo-checkpoint -g "file:$BATS_TEST_TMPDIR/f")"
	# The stored bytes are the file's, copy progress included.
	raw_value "$B/pos" > "$BATS_TEST_TMPDIR/v"
	cmp "$BATS_TEST_TMPDIR/v" "$BATS_TEST_TMPDIR/f"
	# A later save keeps the copy progress as it was.
	pos 0/30 1 | pgflo-checkpoint -s "$S"
	pos 0/30 1 | pgflo-checkpoint -s "file:$BATS_TEST_TMPDIR/f"
	raw_value "$B/pos" > "$BATS_TEST_TMPDIR/v"
	cmp "$BATS_TEST_TMPDIR/v" "$BATS_TEST_TMPDIR/f"
	run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/30'
}

@test "nats store: a replay of older positions never moves it back" {
	pos 1/0 1 | pgflo-checkpoint -s "$S"
	pos 0/FFFFFFFF 99 | pgflo-checkpoint -s "$S"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"1/0","ordinal":1}'
}

@test "nats store: --save creates a missing bucket: history 5, file storage, one replica" {
	pos 0/10 1 | pgflo-checkpoint -s "$S"
	run -0 bash -c "'$RAW' '\$JS.API.STREAM.INFO.KV_$B' </dev/null |
		python3 -c 'import json, sys
c = json.load(sys.stdin)[\"config\"]
print(c[\"max_msgs_per_subject\"], c[\"storage\"], c[\"num_replicas\"], c[\"discard\"], c[\"max_age\"])'"
	assert_output '5 file 1 new 0'
}

@test "nats store: --replicas beyond what the server has fails naming the bucket; bad values are usage errors" {
	run -2 --separate-stderr bash -c "$(declare -f pos); pos 0/10 1 |
		pgflo-checkpoint -s '$S' --replicas 3"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not create its bucket on NATS server $PGFLO_NATS_URL: replicas > 1 not supported in non-clustered mode"
	run -2 --separate-stderr pgflo-checkpoint -s "$S" --replicas 0 </dev/null
	assert_equal "${stderr_lines[0]}" "pgflo-checkpoint: invalid replicas: 0 (1 to 5)"
	assert_equal "${stderr_lines[-1]}" "Try 'pgflo-checkpoint --help' for more information."
	run -2 --separate-stderr pgflo-checkpoint -g "$S" --replicas 1
	[[ "$stderr" == "pgflo-checkpoint: --replicas is for --save"* ]]
}

@test "nats store: a missing bucket holds no position (exit 1, naming it and how to create it); --default still works" {
	run -1 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: no position stored in $S (no bucket $B on NATS server $PGFLO_NATS_URL yet: pgflo-checkpoint --save $S creates it)"
	run -0 pgflo-checkpoint -g "$S" --default 0/0
	assert_output '0/0'
}

@test "nats store: --get of a missing key exits 1, or prints --default, as for a missing file" {
	pos 0/10 1 | pgflo-checkpoint -s "$S"
	run -1 --separate-stderr pgflo-checkpoint -g "nats:$B/other"
	assert_equal "$stderr" "pgflo-checkpoint: no position stored in nats:$B/other"
	run -0 pgflo-checkpoint -g "nats:$B/other" --default 0/0
	assert_output '0/0'
	# --save of nothing creates the bucket and stores nothing.
	pgflo-checkpoint -s "nats:n$B/k" </dev/null
	run -1 --separate-stderr pgflo-checkpoint -g "nats:n$B/k"
	assert_equal "$stderr" "pgflo-checkpoint: no position stored in nats:n$B/k"
}

@test "nats store: a malformed URL is a usage error" {
	for u in nats: nats:b nats:b/ nats:/k 'nats:b.c/k' 'nats:b/k..x' 'nats:b/.k' 'nats:b/k*'; do
		run -2 --separate-stderr pgflo-checkpoint -g "$u"
		assert_equal "$stderr" "pgflo-checkpoint: invalid checkpoint store $u (nats:BUCKET/KEY: a bucket of A-Z a-z 0-9 _ -, a key of those and . / \\ =)"
	done
}

@test "nats store: a corrupt value is an error naming bucket and key, never overwritten" {
	pos 0/10 1 | pgflo-checkpoint -s "$S"
	printf '{"op":"posit' | "$RAW" "\$KV.$B.pos"
	run -1 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: corrupt checkpoint $S: premature end of input near '\"posit'"
	run -1 --separate-stderr bash -c "$(declare -f pos); pos 0/40 1 | pgflo-checkpoint -s '$S'"
	assert_equal "$stderr" "pgflo-checkpoint: corrupt checkpoint $S: premature end of input near '\"posit'"
	run -0 raw_value "$B/pos"
	assert_output '{"op":"posit'
	# A record that is not a position is corrupt too.
	printf '{"op":"insert"}\n' | "$RAW" "\$KV.$B.pos"
	run -1 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: corrupt checkpoint $S: not a position record"
}

@test "nats store: a writer keeps the later position and the copy progress another writer stored meanwhile" {
	ckpt_on_fifo -i 0 -s "$S"
	pos 0/100 1 >&4
	wait_lsn "$S" 0/100
	# A second writer moves it on and adds copy progress ...
	printf '%s\n' \
		'{"op":"snapshot","phase":"end","schema":"public","table":"t","slot":"s","lsn":"0/10","rows":2}' \
		'{"op":"position","commit_lsn":"0/200","ordinal":1}' |
		pgflo-checkpoint -s "$S"
	# ... and the first, behind it, neither moves it back nor drops that.
	pos 0/150 1 >&4
	exec 4>&-
	wait "$pid"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/200","ordinal":1,"copy":{"slot":"s","done":false,"tables":[{"schema":"public","table":"t","lsn":"0/10","rows":2}]}}'
}

@test "nats store: two concurrent writers of interleaved positions never move it backwards" {
	for i in $(seq 2 2 3000); do pos "0/$(printf %X "$i")" 1; done > "$BATS_TEST_TMPDIR/even"
	for i in $(seq 1 2 2999); do pos "0/$(printf %X "$i")" 1; done > "$BATS_TEST_TMPDIR/odd"
	pos 0/1 0 | pgflo-checkpoint -s "$S"
	# A reader polls the store all along and notes every LSN it saw.
	(
		while [ ! -e "$BATS_TEST_TMPDIR/done" ]; do
			pgflo-checkpoint -g "$S" -f commit_lsn
		done
		pgflo-checkpoint -g "$S" -f commit_lsn
	) > "$BATS_TEST_TMPDIR/seen" 3>&- &
	reader=$!
	pgflo-checkpoint -i 0 -s "$S" < "$BATS_TEST_TMPDIR/even" 3>&- &
	a=$!
	pgflo-checkpoint -i 0 -s "$S" < "$BATS_TEST_TMPDIR/odd" 3>&- &
	b=$!
	wait "$a"
	wait "$b"
	touch "$BATS_TEST_TMPDIR/done"
	wait "$reader"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/BB8","ordinal":1}'
	# Every value the reader saw is at or after the one before it.
	last=0
	while read -r lsn; do
		v=$((16#${lsn#*/}))
		[ "$v" -ge "$last" ] || fail "a reader saw $lsn after 0/$(printf %X "$last")"
		last=$v
	done < "$BATS_TEST_TMPDIR/seen"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/seen")" -gt 2 ]
}

@test "nats store: an unreachable server is exit 3 with a clear message, no password shown" {
	PGFLO_NATS_URL=nats://someone:s3cret@127.0.0.1:1 \
		run -3 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server nats://127.0.0.1:1: No server available for connection"
	PGFLO_NATS_URL=nats://127.0.0.1:1 \
		run -3 --separate-stderr pgflo-checkpoint -s "$S" </dev/null
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server nats://127.0.0.1:1: No server available for connection"
}

@test "nats store: a user and password, or a token, from the environment; a refused login is exit 2" {
	auth_server --user pgflo --pass 'pw s3cret'
	PGFLO_NATS_URL=$AUTH_URL run -2 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server $AUTH_URL: Authorization Violation"
	export PGFLO_NATS_URL=$AUTH_URL PGFLO_NATS_USER=pgflo
	PGFLO_NATS_PASSWORD=wrong run -2 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server $AUTH_URL: Authorization Violation"
	export PGFLO_NATS_PASSWORD='pw s3cret'
	pos 0/10 1 | pgflo-checkpoint -s "$S"
	run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/10'
	# In the URL it works too, and is never printed.
	unset PGFLO_NATS_USER PGFLO_NATS_PASSWORD
	PGFLO_NATS_URL=nats://pgflo:wrong@${AUTH_URL#nats://} \
		run -2 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server $AUTH_URL: Authorization Violation"
	kill "$AUTH_PID"
	wait "$AUTH_PID" || true
	auth_server --auth tok3n
	export PGFLO_NATS_URL=$AUTH_URL
	PGFLO_NATS_TOKEN=bad run -2 pgflo-checkpoint -g "$S"
	PGFLO_NATS_TOKEN=tok3n run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/10'
}

@test "nats store: a credentials file that cannot be read is exit 2 naming it" {
	PGFLO_NATS_CREDS=$BATS_TEST_TMPDIR/none.creds \
		run -2 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "$stderr" "pgflo-checkpoint: checkpoint $S: could not connect to NATS server $PGFLO_NATS_URL: error opening file '$BATS_TEST_TMPDIR/none.creds': No such file or directory"
}

@test "nats store: a server gone longer than --max-outage under --save is exit 3 within seconds" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-checkpoint -i 0 --max-outage 2 -s "$S" < "$BATS_TEST_TMPDIR/fifo" \
		2> "$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	exec 4>"$BATS_TEST_TMPDIR/fifo"
	pos 0/10 1 >&4
	wait_lsn "$S" 0/10 || { cat "$BATS_TEST_TMPDIR/err"; false; }
	nats_stop
	t0=$(date +%s)
	pos 0/20 1 >&4
	st=0
	wait "$pid" || st=$?
	t1=$(date +%s)
	exec 4>&-
	nats_start
	assert_equal "$st" 3
	[ $((t1 - t0)) -le 8 ]
	run cat "$BATS_TEST_TMPDIR/err"
	assert_line --index 0 --regexp "^pgflo-checkpoint: checkpoint $S: could not (reach|write it to) NATS server $PGFLO_NATS_URL: .*; keeping the position, trying again\$"
	assert_line --index -1 --regexp "^pgflo-checkpoint: checkpoint $S: could not (reach|write it to) NATS server $PGFLO_NATS_URL: .* \(for longer than --max-outage\)\$"
	# Nothing was lost on the server: the position before the outage.
	. "$BATS_FILE_TMPDIR/nats/nats.env"
	run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/10'
}

@test "nats store: --save rides out a server gone for 4 s: the newest position is stored once it is back" {
	ckpt_on_fifo -i 0 -s "$S"
	pos 0/10 1 >&4
	wait_lsn "$S" 0/10
	nats_stop
	pos 0/20 1 >&4
	sleep 4
	pos 0/30 1 >&4
	nats_start 4>&-		# the server must not hold the fifo open
	wait_lsn "$S" 0/30
	pos 0/40 1 >&4
	exec 4>&-
	wait "$pid"
	run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/40'
}

@test "nats store: --save rides out an outage shorter than 2 s" {
	ckpt_on_fifo -i 0 -s "$S"
	pos 0/10 1 >&4
	wait_lsn "$S" 0/10
	nats_stop
	# Back on the same port while the next write waits for it.
	pos 0/20 1 >&4
	sleep 0.2
	nats_start 4>&-		# the server must not hold the fifo open
	pos 0/30 1 >&4
	exec 4>&-
	wait "$pid"
	run -0 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output '0/30'
}
