#!/usr/bin/env bats
# pgflo-publish against a real nats-server (scripts/test-nats) and, for
# the pipelines, a real PostgreSQL 15.  The stream is read back with
# tests/nats-dump (no nats CLI here), which puts the records together
# again: begin and commit from their headers, parts joined.

load test_helper

setup_file() {
	pg_start
	nats_start
}

teardown_file() {
	nats_stop
	pg_stop
}

endpos() {
	psql_src -c 'SELECT pg_current_wal_insert_lsn()'
}

# Creates slot $1 and its publication for tables $2, reading nothing.
mkslot() {
	pgflo-capture -d "$PGFLO_SRC" -S "$1" -t "$2" --create-slot -E 0/1
}

# "X/Y:ORDINAL" of the last record of file $1.
last_pos() {
	tail -n 1 "$1" | jq -r '"\(.commit_lsn):\(.ordinal)"'
}

# Waits (up to 60 s) until stream $1's last message is at position $2.
wait_stream() {
	local i
	for i in $(seq 1 600); do
		[ "$("$DUMP" -l "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "stream $1 at $("$DUMP" -l "$1"), want $2" >&2
	return 1
}

# kill -9 of the test nats-server, gone for $1 s, then started again on
# the same port and store (a start while the old one still dies fails).
# Waits up to 60 s for file $1 to exist.
wait_file() {
	local i
	for i in $(seq 1 600); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "no $1 after 60 s" >&2
	return 1
}

nats_crash() {
	local dir=$PGFLO_TEST_NATSDIR pid st url=$PGFLO_NATS_URL
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
	[ "$PGFLO_NATS_URL" = "$url" ] ||
		{ echo "nats-server came back on $PGFLO_NATS_URL, not $url" >&2; return 1; }
}

# A writer: $1 transactions of 1, 3 or 10 rows mixing inserts, updates
# and deletes on table $2, in one psql session.
writer_sql() {
	awk -v n="$1" -v t="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			k = i % 3 == 0 ? 10 : (i % 3 == 1 ? 1 : 3)
			print "BEGIN;"
			for (j = 1; j <= k; j++) {
				id = i * 100 + j
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

@test "pgflo-publish: a one-row transaction is one message; begin and commit ride on it" {
	cat >"$BATS_TEST_TMPDIR/in" <<'EOF'
{"op":"begin","commit_lsn":"0/1A2B3D00","ordinal":0,"xid":746}
{"op":"insert","schema":"public","table":"users","commit_lsn":"0/1A2B3D00","ordinal":1,"xid":746,"key":["id"],"types":{"id":"integer"},"new":{"id":1}}
{"op":"commit","commit_lsn":"0/1A2B3D00","ordinal":2,"xid":746,"end_lsn":"0/1A2B3D30"}
{"op":"begin","commit_lsn":"0/1A2B4D00","ordinal":0,"xid":747}
{"op":"insert","schema":"public","table":"users","commit_lsn":"0/1A2B4D00","ordinal":1,"xid":747,"key":["id"],"types":{"id":"integer"},"new":{"id":2}}
{"op":"message","commit_lsn":"0/1A2B4D00","ordinal":2,"xid":747,"prefix":"app","content":"x","transactional":true}
{"op":"delete","schema":"public","table":"users","commit_lsn":"0/1A2B4D00","ordinal":3,"xid":747,"key":["id"],"types":{"id":"integer"},"old":{"id":1}}
{"op":"commit","commit_lsn":"0/1A2B4D00","ordinal":4,"xid":747,"end_lsn":"0/1A2B4D30"}
{"op":"begin","commit_lsn":"0/1A2B5D00","ordinal":0,"xid":748}
{"op":"commit","commit_lsn":"0/1A2B5D00","ordinal":1,"xid":748,"end_lsn":"0/1A2B5D30"}
{"op":"message","commit_lsn":"0/1A2B6000","ordinal":1,"prefix":"app","content":"y","transactional":false}
EOF
	run --separate-stderr pgflo-publish --stream layout --create <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/1A2B6000","ordinal":1,"stream_seq":6}'
	assert_equal "$stderr" "pgflo-publish: created stream layout (subjects pgflo.layout.>)"
	run "$DUMP" -r layout
	assert_output '1 pgflo.layout.public.users 0/1A2B3D00:2 B C
2 pgflo.layout.public.users 0/1A2B4D00:1 B
3 pgflo.layout.$msg 0/1A2B4D00:2
4 pgflo.layout.public.users 0/1A2B4D00:4 C
5 pgflo.layout.$txn 0/1A2B5D00:1 B
6 pgflo.layout.$msg 0/1A2B6000:1'
	run "$DUMP" layout
	assert_output "$(cat "$BATS_TEST_TMPDIR/in")"
	# Again: everything is in the stream already, nothing is sent.
	run --separate-stderr pgflo-publish --stream layout <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/1A2B6000","ordinal":1,"stream_seq":6}'
	run "$DUMP" -r layout
	assert_equal "${#lines[@]}" 6
}

@test "pgflo-publish: input that ends inside a transaction: a rerun completes it, exactly once" {
	gen 3 >"$BATS_TEST_TMPDIR/in"
	# Transactions 1 and 2 whole; of 3 the begin and two inserts: the
	# first was sent (the second waits for a commit to ride on it).
	head -n 9 "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/part"
	run --separate-stderr pgflo-publish --stream cut --create <"$BATS_TEST_TMPDIR/part"
	assert_success
	# Transaction 3 was rolled back; 1 and 2 replayed, not sent again.
	assert_output '{"op":"position","commit_lsn":"0/1002000","ordinal":2}'
	assert_equal "$stderr" 'pgflo-publish: created stream cut (subjects pgflo.cut.>)'
	run "$DUMP" -l cut
	assert_output '0/1003000:1'
	run --separate-stderr pgflo-publish --stream cut <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/1003000","ordinal":1,"stream_seq":3}
{"op":"position","commit_lsn":"0/1003000","ordinal":4,"stream_seq":5}'
	run "$DUMP" -r cut
	assert_output '1 pgflo.cut.public.t1 0/1001000:2 B C
2 pgflo.cut.public.t1 0/1002000:2 B C
3 pgflo.cut.public.t1 0/1003000:1 B
4 pgflo.cut.public.t2 0/1003000:2
5 pgflo.cut.public.t0 0/1003000:4 C'
	"$DUMP" cut >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
}

@test "pgflo-publish: SIGTERM mid-stream drains, reports the last acknowledged position, exits 0" {
	gen 2000 >"$BATS_TEST_TMPDIR/in"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-publish --stream term --create <"$BATS_TEST_TMPDIR/fifo" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pub=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	# 1000 whole transactions and the begin of the next: it is left out.
	head -n 5751 "$BATS_TEST_TMPDIR/in" >&5
	sleep 1
	kill -TERM "$pub"
	st=0
	wait "$pub" || st=$?
	exec 5>&-
	assert_equal "$st" 0
	run tail -n 1 "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/13E8000","ordinal":11,"stream_seq":3750}'
	run "$DUMP" -l term
	assert_output '0/13E8000:11'
}

@test "pgflo-publish: a write error on stdout is exit 1; an unterminated last line is taken" {
	printf '%s\n%s\n%s' '{"op":"begin","commit_lsn":"0/1001000","ordinal":0,"xid":1}' \
		'{"op":"insert","schema":"public","table":"t","commit_lsn":"0/1001000","ordinal":1,"xid":1,"key":["id"],"types":{"id":"integer"},"new":{"id":1}}' \
		'{"op":"commit","commit_lsn":"0/1001000","ordinal":2,"xid":1}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-publish --stream wr --create <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/1001000","ordinal":2,"stream_seq":1}'
	run --separate-stderr bash -c 'pgflo-publish --stream wr2 --create <"$1" >/dev/full' _ "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_equal "${stderr_lines[-1]}" 'pgflo-publish: write error: No space left on device'
}

@test "pgflo-publish: a missing stream without --create is an error that says how" {
	run --separate-stderr pgflo-publish --stream nosuch </dev/null
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "pgflo-publish: could not connect: no stream nosuch on NATS server $PGFLO_NATS_URL (--create creates it: file storage, subjects pgflo.nosuch.>, no max age, discard new)"
}

@test "pgflo-publish: an existing stream's settings that lose data are warned about, by name" {
	"$DUMP" -a risky 'pgflo.risky.>'
	run --separate-stderr pgflo-publish --stream risky </dev/null
	assert_success
	assert_output ''
	assert_equal "$stderr" "pgflo-publish: warning: stream risky has max_age 86400 s: it deletes messages whether or not they were read
pgflo-publish: warning: stream risky has discard old with max_bytes: when full it deletes its oldest messages"
	# --create on a stream of ours: no warning.
	run --separate-stderr pgflo-publish --stream safe --create </dev/null
	run --separate-stderr pgflo-publish --stream safe </dev/null
	assert_success
	assert_equal "$stderr" ''
}

@test "pgflo-publish: a stream that does not take the subjects, or credentials on argv, exit 2" {
	"$DUMP" -a narrow 'pgflo.narrow.public.*'
	run --separate-stderr pgflo-publish --stream narrow </dev/null
	assert_failure 2
	assert_equal "$stderr" "pgflo-publish: could not connect: stream narrow does not take subjects pgflo.narrow.> (see --subject-prefix)"
	run --separate-stderr pgflo-publish -s nats://me:secret@127.0.0.1:1 --stream x </dev/null
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "pgflo-publish: invalid -s: credentials in the server URL would show in ps(1): use PGFLO_NATS_USER and PGFLO_NATS_PASSWORD, or PGFLO_NATS_URL"
	[[ $stderr != *secret* ]]
	# A list of servers: the first is down, the second answers.
	run --separate-stderr pgflo-publish -s "nats://127.0.0.1:1,$PGFLO_NATS_URL" --stream safe2 --create </dev/null
	assert_success
}

@test "pgflo-publish: user, password and TLS from the environment; refused without them, never printed" {
	dir=$BATS_TEST_TMPDIR/auth
	mkdir -p "$dir"
	# A CA, and a certificate of 127.0.0.1 signed by it.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
		-days 1 -subj /CN=pgflo-test-ca 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$dir/srv.key" -out "$dir/srv.csr" \
		-subj /CN=127.0.0.1 2>/dev/null
	echo 'subjectAltName=IP:127.0.0.1' >"$dir/ext"
	openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -out "$dir/srv.pem" -days 1 -extfile "$dir/ext" 2>/dev/null
	port=$((20000 + RANDOM % 12000))
	/usr/sbin/nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/js" \
		--user pub --pass 'pa55 w0rd' --tls --tlscert "$dir/srv.pem" --tlskey "$dir/srv.key" \
		</dev/null >"$dir/log" 2>&1 3>&- &
	srv=$!
	for i in $(seq 1 100); do
		grep -q 'Server is ready' "$dir/log" && break
		sleep 0.1
	done
	url=tls://127.0.0.1:$port
	gen 2 >"$BATS_TEST_TMPDIR/in"
	# TLS without the CA: the server's certificate is not trusted.
	run --separate-stderr env PGFLO_NATS_USER=pub PGFLO_NATS_PASSWORD='pa55 w0rd' \
		pgflo-publish -s "$url" --stream auth --create <"$BATS_TEST_TMPDIR/in"
	st1=$status err1=$stderr
	# The CA, no password.
	run --separate-stderr env PGFLO_NATS_CA="$dir/ca.pem" \
		pgflo-publish -s "$url" --stream auth --create <"$BATS_TEST_TMPDIR/in"
	st2=$status err2=$stderr
	# Both.
	run --separate-stderr env PGFLO_NATS_CA="$dir/ca.pem" PGFLO_NATS_USER=pub \
		PGFLO_NATS_PASSWORD='pa55 w0rd' \
		pgflo-publish -s "$url" --stream auth --create <"$BATS_TEST_TMPDIR/in"
	kill "$srv"
	wait "$srv" || true
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/1002000","ordinal":2,"stream_seq":2}'
	assert_equal "$st1" 2
	assert_equal "$st2" 2
	assert_equal "$err2" "pgflo-publish: could not connect: NATS server $url: Authorization Violation"
	[[ $err1 == "pgflo-publish: could not connect: NATS server $url: "* ]]
	[[ "$err1$err2$stderr" != *pa55* ]]
}

@test "pgflo-publish: an NKey from the environment for publish and the nats: store; a wrong or half one is refused" {
	dir=$BATS_TEST_TMPDIR/nk
	mkdir -p "$dir"
	pub=$("$BATS_TEST_DIRNAME/fixtures/nats/nkey-user" "$dir/seed")
	"$BATS_TEST_DIRNAME/fixtures/nats/nkey-user" "$dir/other" >/dev/null
	echo "authorization { users = [ { nkey: $pub } ] }" >"$dir/conf"
	port=$((20000 + RANDOM % 12000))
	/usr/sbin/nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/js" -c "$dir/conf" \
		</dev/null >"$dir/log" 2>&1 3>&- &
	srv=$!
	for i in $(seq 1 100); do
		grep -q 'Server is ready' "$dir/log" && break
		sleep 0.1
	done
	url=nats://127.0.0.1:$port
	gen 2 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr env PGFLO_NATS_URL="$url" PGFLO_NATS_NKEY="$dir/seed" \
		PGFLO_NATS_NKEY_PUB="$pub" bash -c 'pgflo-publish --stream nk --create |
		pgflo-checkpoint --save nats:nk/pos && pgflo-checkpoint -g nats:nk/pos' <"$BATS_TEST_TMPDIR/in"
	st0=$status out0=$output
	run --separate-stderr env PGFLO_NATS_NKEY="$dir/other" PGFLO_NATS_NKEY_PUB="$pub" \
		pgflo-publish -s "$url" --stream nk <"$BATS_TEST_TMPDIR/in"
	st1=$status err1=$stderr
	run --separate-stderr env PGFLO_NATS_URL="$url" PGFLO_NATS_NKEY="$dir/seed" \
		pgflo-checkpoint -g nats:nk/pos
	st2=$status err2=$stderr
	kill "$srv"
	wait "$srv" || true
	assert_equal "$st0" 0
	assert_equal "$out0" '{"op":"position","commit_lsn":"0/1002000","ordinal":2,"stream_seq":2}'
	assert_equal "$st1" 2
	assert_equal "$err1" "pgflo-publish: could not connect: NATS server $url: Authorization Violation"
	assert_equal "$st2" 2
	assert_equal "$err2" "pgflo-checkpoint: checkpoint nats:nk/pos: could not connect to NATS server $url: PGFLO_NATS_NKEY needs PGFLO_NATS_NKEY_PUB, the user's public key (U...)"
	[[ "$err1$err2" != *"$(cat "$dir/seed")"* ]]
}

@test "pgflo-publish: capture | publish | checkpoint under writes: the stream holds capture's records exactly" {
	psql_src -c 'CREATE TABLE cpw (id int PRIMARY KEY, v text)'
	mkslot p_run public.cpw
	mkslot p_ref public.cpw
	cp="$BATS_TEST_TMPDIR/cp"
	{ bash -c 'echo $$ >"$1"; exec pgflo-capture -d "$PGFLO_SRC" -S p_run -c "file:$2" -s 1' \
		_ "$BATS_TEST_TMPDIR/capture.pid" "$cp" |
		pgflo-publish --stream cpw --create |
		pgflo-checkpoint --save "file:$cp" -i 100ms; } \
		2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pipeline=$!
	writer_sql 600 cpw | psql_src >/dev/null
	pgflo-capture -d "$PGFLO_SRC" -S p_ref -E "$(endpos)" >"$BATS_TEST_TMPDIR/ref"
	wait_stream cpw "$(last_pos "$BATS_TEST_TMPDIR/ref")"
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/capture.pid")"
	wait "$pipeline"
	run jq -r .op "$BATS_TEST_TMPDIR/ref"
	assert_equal "$(grep -c '^begin$' <<<"$output")" 600
	"$DUMP" cpw >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/ref" "$BATS_TEST_TMPDIR/got"
	assert_success
	# One message per change: begin and commit ride on them.
	nchanges=$(grep -vc '"op":"\(begin\|commit\)"' "$BATS_TEST_TMPDIR/ref")
	run pgflo-checkpoint --get "file:$cp"
	assert_output "$(tail -n 1 "$BATS_TEST_TMPDIR/ref" |
		jq -c "{op: \"position\", commit_lsn, ordinal, stream_seq: $nchanges}")"
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output 'pgflo-publish: created stream cpw (subjects pgflo.cpw.>)'
}

@test "pgflo-publish: the issue's line with the nats: store, publish killed -9 mid-run, run again: the stream is exact" {
	psql_src -c 'CREATE TABLE nl (id int PRIMARY KEY, v text)'
	mkslot p_nl public.nl
	mkslot p_nlref public.nl
	writer_sql 6000 nl | psql_src >/dev/null
	pgflo-capture -d "$PGFLO_SRC" -S p_nlref -E "$(endpos)" >"$BATS_TEST_TMPDIR/ref"
	# No bucket yet: capture reads the store before the first save
	# creates it, which is no position.
	line() {
		pgflo-capture -d "$PGFLO_SRC" -S p_nl -c nats:pgflo/nl -s 1 |
			bash -c 'echo $$ >"$1"; exec pgflo-publish --stream nl --create' _ "$BATS_TEST_TMPDIR/pub.pid" |
			pgflo-checkpoint --save nats:pgflo/nl -i 100ms
	}
	line 2>"$BATS_TEST_TMPDIR/err1" 3>&- &
	first=$!
	# Killed while it publishes: part of the changes are in the stream.
	for i in $(seq 1 100); do
		[ -n "$("$DUMP" -l nl 2>/dev/null)" ] && break
		sleep 0.05
	done
	kill -9 "$(cat "$BATS_TEST_TMPDIR/pub.pid")" ||
		{ cat "$BATS_TEST_TMPDIR/err1"; false; }
	wait "$first" || true
	n1=$("$DUMP" -r nl | wc -l)
	line 2>"$BATS_TEST_TMPDIR/err2" 3>&- &
	second=$!
	wait_stream nl "$(last_pos "$BATS_TEST_TMPDIR/ref")"
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/pub.pid")"
	wait "$second" || true
	"$DUMP" nl >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/ref" "$BATS_TEST_TMPDIR/got"
	assert_success
	# The kill came before the end.
	nall=$("$DUMP" -r nl | wc -l)
	[ "$n1" -lt "$nall" ]
}

@test "pgflo-publish: the slot's confirmed_flush_lsn never passes what the stream holds" {
	psql_src -c 'CREATE TABLE slw (id int PRIMARY KEY, v text)'
	mkslot p_slot public.slw
	mkslot p_slotref public.slw
	cp="$BATS_TEST_TMPDIR/cp"
	{ bash -c 'echo $$ >"$1"; exec pgflo-capture -d "$PGFLO_SRC" -S p_slot -c "file:$2" -s 1' \
		_ "$BATS_TEST_TMPDIR/capture.pid" "$cp" |
		pgflo-publish --stream slw --create -m 300 |
		pgflo-checkpoint --save "file:$cp" -i 0; } \
		2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pipeline=$!
	# Samples: the slot first, then the stream (which only grows).
	( while :; do
		c=$(psql_src -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'p_slot'")
		s=$("$DUMP" -l slw)
		echo "$c ${s:-0/0:0}"
		sleep 0.05
	done >"$BATS_TEST_TMPDIR/samples" ) 3>&- &
	sampler=$!
	# Spread over ~6 s, so that the slot is confirmed many times meanwhile.
	writer_sql 600 slw | awk '{ print } /^COMMIT/ { print "SELECT pg_sleep(0.01);" }' |
		psql_src >/dev/null
	pgflo-capture -d "$PGFLO_SRC" -S p_slotref -E "$(endpos)" >"$BATS_TEST_TMPDIR/ref"
	wait_stream slw "$(last_pos "$BATS_TEST_TMPDIR/ref")"
	sleep 2	# a status update or two after the end
	kill "$sampler"
	wait "$sampler" || true
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/capture.pid")"
	wait "$pipeline"
	# The slot moved during the run.
	run awk '{ print $1 }' "$BATS_TEST_TMPDIR/samples"
	[ "$(sort -u <<<"$output" | wc -l)" -ge 3 ]
	# No sample saw the slot confirm a transaction the stream lacked:
	# no commit lies after the stream's position and before the slot's.
	jq -r 'select(.op == "commit") | .commit_lsn' "$BATS_TEST_TMPDIR/ref" \
		>"$BATS_TEST_TMPDIR/commits"
	sed 's/:[0-9]*$//' "$BATS_TEST_TMPDIR/samples" >"$BATS_TEST_TMPDIR/pairs"
	run psql_src <<EOF
CREATE TEMP TABLE commits (lsn pg_lsn);
CREATE TEMP TABLE samples (confirmed pg_lsn, stream pg_lsn);
\\copy commits FROM '$BATS_TEST_TMPDIR/commits'
\\copy samples FROM '$BATS_TEST_TMPDIR/pairs' WITH (DELIMITER ' ')
SELECT count(*) FROM samples;
SELECT count(*) FROM samples s JOIN commits c
    ON c.lsn > s.stream AND c.lsn < s.confirmed;
EOF
	assert_success
	[ "${lines[0]}" -ge 20 ]
	assert_equal "${lines[1]}" 0
}

@test "pgflo-publish: kill -9 of publish 10 times, 1 s duplicate window: the stream is exact" {
	gen 100000 >"$BATS_TEST_TMPDIR/in"
	kills=0
	for i in $(seq 1 10); do
		pgflo-publish --stream k9 --create --msg-id --duplicate-window 1s \
			<"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out.$i" \
			2>>"$BATS_TEST_TMPDIR/err" 3>&- &
		pid=$!
		sleep "0.$((RANDOM % 5 + 2))"
		kill -9 "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$st" -eq 137 ] && kills=$((kills + 1))
		# Past the duplicate window: message ids cannot save it.
		sleep 1.1
	done
	assert_equal "$kills" 10
	run --separate-stderr pgflo-publish --stream k9 --msg-id <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_line --index -1 '{"op":"position","commit_lsn":"0/196A0000","ordinal":11,"stream_seq":375000}'
	"$DUMP" k9 >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
	# Each position a killed run printed is in the stream as printed.
	cat "$BATS_TEST_TMPDIR"/out.* | sort -u >"$BATS_TEST_TMPDIR/printed"
	[ -s "$BATS_TEST_TMPDIR/printed" ]
	"$DUMP" -r k9 | awk '{ print $3, $1 }' >"$BATS_TEST_TMPDIR/seqs"
	while read -r line; do
		p=$(jq -r '"\(.commit_lsn):\(.ordinal) \(.stream_seq)"' <<<"$line")
		grep -qx "$p" "$BATS_TEST_TMPDIR/seqs" || fail "printed $line, stream lacks it"
	done <"$BATS_TEST_TMPDIR/printed"
}

@test "pgflo-publish: two publishers of the same input at once: each message expects its predecessor, the stream is exact" {
	gen 20000 >"$BATS_TEST_TMPDIR/in"
	pgflo-publish --stream two --create </dev/null 2>/dev/null
	pgflo-publish --stream two <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out1" \
		2>"$BATS_TEST_TMPDIR/err1" 3>&- &
	a=$!
	pgflo-publish --stream two <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out2" \
		2>"$BATS_TEST_TMPDIR/err2" 3>&- &
	b=$!
	# What a publisher said when it failed (a sanitizer's report too).
	wait "$a" || fail "first publisher: exit $?: $(cat "$BATS_TEST_TMPDIR/err1")"
	wait "$b" || fail "second publisher: exit $?: $(cat "$BATS_TEST_TMPDIR/err2")"
	"$DUMP" two >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
	# They did get in each other's way.
	run cat "$BATS_TEST_TMPDIR/err1" "$BATS_TEST_TMPDIR/err2"
	assert_output --partial 'wrong last sequence'
}

@test "pgflo-publish: kill -9 of nats-server 10 times while publishing: no exit, the stream is exact" {
	gen 40000 >"$BATS_TEST_TMPDIR/in"
	dir=$PGFLO_TEST_NATSDIR
	split -n l/80 --filter='cat; sleep 0.15' "$BATS_TEST_TMPDIR/in" |
		pgflo-publish --stream ks --create --max-outage 30 \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pub=$!
	for i in $(seq 1 10); do
		sleep "0.$((RANDOM % 4 + 2))"
		nats_crash "0.$((RANDOM % 3))"
		# The next kill once publish is back, so that each one counts.
		for j in $(seq 1 150); do
			[ "$(grep -c '^pgflo-publish: reconnected$' "$BATS_TEST_TMPDIR/err")" -ge "$i" ] && break
			kill -0 "$pub" 2>/dev/null || break
			sleep 0.1
		done
	done
	st=0
	wait "$pub" || st=$?
	assert_equal "$st" 0
	run tail -n 1 "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/AC40000","ordinal":11,"stream_seq":150000}'
	"$DUMP" ks >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
	run grep -c '^pgflo-publish: reconnected$' "$BATS_TEST_TMPDIR/err"
	[ "$output" -ge 8 ]
}

@test "pgflo-publish: rows of a copy (no position) through 6 kills of nats-server: each once, duplicates and all" {
	# A keyless table's rows, most of them alike, then the stream.
	awk 'BEGIN {
		print "{\"op\":\"snapshot\",\"phase\":\"begin\",\"schema\":\"public\",\"table\":\"nk\"}"
		for (i = 1; i <= 60000; i++)
			printf "{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"nk\",\"snapshot\":true,\"key\":[],\"types\":{\"v\":\"text\"},\"new\":{\"v\":\"%s\"}}\n", i % 7 == 0 ? "other-" i : "same"
		print "{\"op\":\"snapshot\",\"phase\":\"end\",\"schema\":\"public\",\"table\":\"nk\",\"rows\":60000}"
	}' >"$BATS_TEST_TMPDIR/in"
	gen 2000 >>"$BATS_TEST_TMPDIR/in"
	# Fed in 42 parts; each kill comes while the parts after a gate
	# are on their way, and the next gate waits for that kill, so all
	# six land mid-input however slow the machine is.
	t=$BATS_TEST_TMPDIR
	split -n l/42 -d -a 2 "$t/in" "$t/part."
	for n in $(seq 0 41); do
		if [ $((n % 7)) -eq 3 ]; then
			g=$((n / 7 + 1))
			[ "$g" -eq 1 ] || wait_file "$t/killed.$((g - 1))"
			: >"$t/gate.$g"
		fi
		cat "$t/part.$(printf %02d "$n")"
		sleep 0.1
	done |
		timeout 120 pgflo-publish --stream snaps --create \
		>"$t/out" 2>"$t/err" 3>&- &
	pub=$!
	for i in $(seq 1 6); do
		wait_file "$t/gate.$i"
		sleep "0.$((RANDOM % 2 + 1))"
		nats_crash 0.3
		: >"$t/killed.$i"
		for j in $(seq 1 150); do
			[ "$(grep -c '^pgflo-publish: reconnected$' "$t/err")" -ge "$i" ] && break
			sleep 0.1
		done
	done
	st=0
	wait "$pub" || st=$?
	assert_equal "$st" 0
	run grep -c '^pgflo-publish: reconnected$' "$BATS_TEST_TMPDIR/err"
	[ "$output" -ge 5 ]
	# The copy's progress is reported, not published.
	run grep -c '"op":"snapshot"' "$BATS_TEST_TMPDIR/out"
	assert_output 2
	grep -v '"op":"snapshot"' "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/want"
	"$DUMP" snaps >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_success
}

@test "pgflo-publish: a 16 MB row goes through a server with the default max_payload, in parts" {
	psql_src -c 'CREATE TABLE big (id int PRIMARY KEY, v text)'
	mkslot p_big public.big
	psql_src -c "INSERT INTO big SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 524288) g"
	pgflo-capture -d "$PGFLO_SRC" -S p_big -E "$(endpos)" >"$BATS_TEST_TMPDIR/ref"
	run --separate-stderr pgflo-publish --stream big --create <"$BATS_TEST_TMPDIR/ref"
	assert_success
	assert_output "$(last_pos "$BATS_TEST_TMPDIR/ref" |
		awk -F: '{ printf "{\"op\":\"position\",\"commit_lsn\":\"%s\",\"ordinal\":%s,\"stream_seq\":17}", $1, $2 }')"
	"$DUMP" big >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/ref" "$BATS_TEST_TMPDIR/got"
	assert_success
	run "$DUMP" -r big
	assert_equal "${#lines[@]}" 17
	[[ ${lines[0]} == *" 1/17 B" ]]
	[[ ${lines[16]} == *" 17/17 C" ]]
	run jq -r '.new.v | length' <(grep '"op":"insert"' "$BATS_TEST_TMPDIR/got")
	assert_output 16777216
}

@test "pgflo-publish: killed in the middle of a record's parts, a rerun sends it again from part 1" {
	head -c 16777216 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/v"
	{
		echo '{"op":"begin","commit_lsn":"0/1001000","ordinal":0,"xid":1}'
		printf '{"op":"insert","schema":"public","table":"big","commit_lsn":"0/1001000","ordinal":1,"xid":1,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":1,"v":"%s"}}\n' "$(cat "$BATS_TEST_TMPDIR/v")"
		echo '{"op":"commit","commit_lsn":"0/1001000","ordinal":2,"xid":1}'
	} >"$BATS_TEST_TMPDIR/in"
	# Kill as soon as some parts are in: a stream of its own per try.
	for try in $(seq 1 20); do
		st=parts$try
		pgflo-publish --stream "$st" --create </dev/null 2>/dev/null
		pgflo-publish --stream "$st" <"$BATS_TEST_TMPDIR/in" >/dev/null 2>&1 3>&- &
		pid=$!
		for j in $(seq 1 400); do
			[ -n "$("$DUMP" -l "$st")" ] && break
			sleep 0.01
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
		last=$("$DUMP" -r "$st" | tail -n 1)
		[[ $last == *"/17"* && $last != *" 17/17"* ]] && break
	done
	[[ $last == *"/17"* && $last != *" 17/17"* ]] ||
		skip "publish was faster than the kill 20 times"
	# The parts left behind carry the position before the record.
	[[ $last == *" 0/0:0 "* ]]
	run --separate-stderr pgflo-publish --stream "$st" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output --regexp '"commit_lsn":"0/1001000","ordinal":2,"stream_seq":[0-9]+}$'
	run "$DUMP" -r "$st"
	n=${#lines[@]}
	[ "$n" -gt 17 ]
	[[ ${lines[n - 17]} == *" 1/17 B" ]]
	[[ ${lines[n - 1]} == *" 17/17 C" ]]
	"$DUMP" "$st" >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	assert_success
}

@test "pgflo-publish: a hostile table name becomes one subject token, reversibly" {
	psql_src -c 'CREATE SCHEMA "sché ma"' \
		-c 'CREATE TABLE "sché ma"."we.ird *>name" (id int PRIMARY KEY)'
	mkslot p_weird 'sché ma.we?ird*'
	psql_src -c 'INSERT INTO "sché ma"."we.ird *>name" VALUES (1), (2)'
	pgflo-capture -d "$PGFLO_SRC" -S p_weird -E "$(endpos)" >"$BATS_TEST_TMPDIR/ref"
	run --separate-stderr pgflo-publish --stream weird --create <"$BATS_TEST_TMPDIR/ref"
	assert_success
	run "$DUMP" -r weird
	assert_equal "${#lines[@]}" 2
	[[ ${lines[0]} == "1 pgflo.weird.sch%C3%A9%20ma.we%2Eird%20%2A%3Ename "* ]]
	[[ ${lines[1]} == "2 pgflo.weird.sch%C3%A9%20ma.we%2Eird%20%2A%3Ename "* ]]
	"$DUMP" weird >"$BATS_TEST_TMPDIR/got"
	run cmp "$BATS_TEST_TMPDIR/ref" "$BATS_TEST_TMPDIR/got"
	assert_success
	# A consumer of the one table's subject gets its records.
	run "$DUMP" -r weird 'pgflo.weird.sch%C3%A9%20ma.we%2Eird%20%2A%3Ename'
	assert_equal "${#lines[@]}" 2
}

@test "pgflo-publish: a full stream (discard new) is exit 3; no position past what it holds is ever printed" {
	gen 1000 >"$BATS_TEST_TMPDIR/in"
	# Small chunks and batches: many positions before it is full, each
	# reported right after its messages were sent.
	split -n l/200 --filter='cat; sleep 0.1' "$BATS_TEST_TMPDIR/in" |
		pgflo-publish --stream full --create --max-bytes 64K -b 1 \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- || st=$?
	assert_equal "${st:-0}" 3
	run tail -n 1 "$BATS_TEST_TMPDIR/err"
	assert_output 'pgflo-publish: stream full: maximum bytes exceeded (stream full: nothing was lost; raise its limits or make room, then run again)'
	end=$("$DUMP" -l full)
	n=$("$DUMP" -r full | wc -l)
	run tail -n 1 "$BATS_TEST_TMPDIR/out"
	assert_output "$(awk -F: -v n="$n" '{ printf "{\"op\":\"position\",\"commit_lsn\":\"%s\",\"ordinal\":%s,\"stream_seq\":%d}", $1, $2, n }' <<<"$end")"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -ge 3 ]
	# Each position printed is one the stream reached, at its sequence.
	"$DUMP" -r full | awk '{ print $3, $1 }' >"$BATS_TEST_TMPDIR/seqs"
	while read -r line; do
		p=$(jq -r '"\(.commit_lsn):\(.ordinal) \(.stream_seq)"' <<<"$line")
		grep -qx "$p" "$BATS_TEST_TMPDIR/seqs" || fail "printed $line, stream lacks it"
	done <"$BATS_TEST_TMPDIR/out"
}

@test "pgflo-publish: --max-outage: the server gone that long is exit 3, what was acknowledged is reported" {
	gen 10 >"$BATS_TEST_TMPDIR/in"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-publish --stream mo --create --max-outage 2 <"$BATS_TEST_TMPDIR/fifo" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pub=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	# Two transactions, acknowledged and reported; then the server goes.
	head -n 6 "$BATS_TEST_TMPDIR/in" >&5
	sleep 1
	"$TOP/scripts/test-nats" stop "$PGFLO_TEST_NATSDIR" 3>&-
	tail -n +7 "$BATS_TEST_TMPDIR/in" >&5
	st=0
	wait "$pub" || st=$?
	exec 5>&-
	"$TOP/scripts/test-nats" start "$PGFLO_TEST_NATSDIR" 3>&-
	assert_equal "$st" 3
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/1002000","ordinal":2,"stream_seq":2}'
	run tail -n 1 "$BATS_TEST_TMPDIR/err"
	assert_output --regexp '^pgflo-publish: connection lost: NATS server nats://127\.0\.0\.1:[0-9]+: No server available for connection \(not back within 2 s\)$'
}
