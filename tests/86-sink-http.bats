#!/usr/bin/env bats
# pgflo-sink-http against a real HTTP server: tests/fixtures/http/receiver.py
# on loopback, scripted per request (status, delay, Retry-After), logging
# every request it gets.  Input comes from files of records.

load test_helper

FIX="$BATS_TEST_DIRNAME/fixtures/http"

setup() {
	T=$BATS_TEST_TMPDIR
}

teardown() {
	recv_stop
	if [ -n "${pg_started:-}" ]; then
		pg_stop
	fi
}

# recv_start [ARG...]: the receiver in the background as $rpid, logging to
# $T/log (or --log), answering $T/script; sets $port and $url.
recv_start() {
	T=$BATS_TEST_TMPDIR
	rm -f "$T/port"
	python3 "$FIX/receiver.py" --log "$T/log" --portfile "$T/port" \
		--script "$T/script" "$@" 3>&- &
	rpid=$!
	for _ in $(seq 100); do
		[ -s "$T/port" ] && break
		sleep 0.05
	done
	port=$(cat "$T/port")
	url="http://127.0.0.1:$port/hook"
}

recv_stop() {
	if [ -n "${rpid:-}" ]; then
		kill "$rpid" 2>/dev/null || true
		wait "$rpid" 2>/dev/null || true
		rpid=
	fi
}

# field NAME [LOG]: that field of every logged request, one per line
# (headers by their lower-case name).
field() {
	python3 -c '
import json, sys
for l in open(sys.argv[2]):
    e = json.loads(l)
    v = e["headers"].get(sys.argv[1], "") if sys.argv[1] not in e else e[sys.argv[1]]
    print(v)' "$1" "${2:-$T/log}"
}

# gen NTXN ROWS [FIRST]: transactions of ROWS inserts each (begin, inserts,
# commit), LSNs 0/N0 for transaction N from FIRST (default 1).
gen() {
	python3 -c '
import sys
n, rows, first = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
w = sys.stdout.write
for t in range(first, first + n):
    lsn = "0/%X" % (t * 16)
    w("{\"op\":\"begin\",\"commit_lsn\":\"%s\",\"ordinal\":0,\"xid\":%d}\n" % (lsn, t))
    for o in range(1, rows + 1):
        w("{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"t\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"v\":\"text\"},\"new\":{\"id\":%d,\"v\":\"row %d of %d\"}}\n" % (lsn, o, t * 1000 + o, o, t))
    w("{\"op\":\"commit\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d}\n" % (lsn, rows + 1, t))
' "$1" "$2" "${3:-1}"
}

# pos LSN ORD: the position record sink-http prints.
pos() {
	printf '{"op":"position","commit_lsn":"%s","ordinal":%s}\n' "$1" "$2"
}

changes() {
	grep -v -e '"op":"begin"' -e '"op":"commit"' "$@"
}

# secret FILE: a fresh whsec_ secret in FILE (0600).
secret() {
	(umask 077; printf 'whsec_%s\n' "$(head -c 24 /dev/urandom | base64)" >"$1")
}

@test "pgflo-sink-http: --batch 1 posts each change as is, in order, and a position after each transaction" {
	recv_start
	gen 2 2 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_equal "$stderr" ""
	assert_output "$(pos 0/10 3; pos 0/20 3)"
	assert_equal "$(field body)" "$(changes "$T/in")"
	assert_equal "$(field path | sort -u)" "/hook"
	assert_equal "$(field content-type | sort -u)" "application/json"
	assert_equal "$(field user-agent | sort -u)" "pgflo-sink-http/$(cat "$TOP/VERSION")"
	assert_equal "$(field webhook-signature | sort -u)" ""
	# One connection, kept alive.
	assert_equal "$(field peer | sort -u | wc -l)" 1
	# webhook-id: the first record's position and a hash of the body.
	body=$(sed -n 2p "$T/in")
	assert_equal "$(field webhook-id | head -n1)" \
		"pgflo-0000000000000010-1-$(printf %s "$body" | sha256sum | cut -c1-32)"
	now=$(date +%s)
	ts=$(field webhook-timestamp | head -n1)
	((ts <= now && ts > now - 60))
}

@test "pgflo-sink-http: a batch keeps transactions whole (JSON array); one larger than the batch goes in pieces of N" {
	# 2 + 2 + 5 rows, then 1, batches of 3: 2 | 2 | 3 | 2 (the rest of the
	# 5, which is over the batch) | 1.
	recv_start
	{ gen 2 2; gen 1 5 3; gen 1 1 4; } >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" -b 3 <"$T/in"
	assert_success
	assert_output "$(pos 0/10 3; pos 0/20 3; pos 0/30 6; pos 0/40 2)"
	row() { changes "$T/in" | sed -n "$1p"; }
	assert_equal "$(field body)" "[$(row 1),$(row 2)]
[$(row 3),$(row 4)]
[$(row 5),$(row 6),$(row 7)]
[$(row 8),$(row 9)]
[$(row 10)]"
}

@test "pgflo-sink-http: --format ndjson and --markers send begin and commit as NDJSON lines" {
	recv_start
	gen 2 1 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" -b 10 -f ndjson \
		--markers <"$T/in"
	assert_success
	assert_output "$(pos 0/20 2)"
	assert_equal "$(field content-type)" "application/x-ndjson"
	assert_equal "$(field body)" "$(cat "$T/in")"
	# Each line ends with '\n', the last too: field prints an empty line.
	assert_equal "$(field body | wc -l)" 7
}

@test "pgflo-sink-http: --linger sends a partial batch when the input is quiet" {
	recv_start
	gen 1 1 >"$T/a"
	gen 1 1 2 >"$T/b"
	run --separate-stderr bash -c '{ cat "$1"; sleep 1.5; cat "$2"; } |
		pgflo-sink-http -u "$3" -b 10 -m 200' _ "$T/a" "$T/b" "$url"
	assert_success
	assert_output "$(pos 0/10 2; pos 0/20 2)"
	assert_equal "$(python3 "$FIX/received.py" "$T/log")" "$({ gen 1 1; gen 1 1 2; } | changes)"
	python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
assert len(t) == 2 and t[1] - t[0] >= 1.0, t
' "$T/log"
}

@test "pgflo-sink-http: copy rows in batches; the copy's snapshot records come back after the request that covers them" {
	recv_start
	row() {
		printf '{"op":"insert","schema":"public","table":"t","snapshot":true,"key":["id"],"types":{"id":"integer"},"new":{"id":%s}}\n' "$1"
	}
	{
		echo '{"op":"snapshot","phase":"begin","schema":"public","table":"t","slot":"s","lsn":"0/100"}'
		row 1; row 2; row 3
		echo '{"op":"snapshot","phase":"end","schema":"public","table":"t","slot":"s","lsn":"0/100","rows":3}'
	} >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" -b 2 <"$T/in"
	assert_success
	assert_output "$(grep '"op":"snapshot"' "$T/in")"
	assert_equal "$(field body)" "[$(row 1),$(row 2)]
[$(row 3)]"
	# No position: the id is the hash alone.
	assert_equal "$(field webhook-id | head -n1)" \
		"pgflo-$(printf '[%s,%s]' "$(row 1)" "$(row 2)" | sha256sum | cut -c1-32)"
}

@test "pgflo-sink-http: a bad line stops it after what came before (exit 1), or goes to --dead-letter" {
	recv_start
	{ gen 1 1; echo '{"op":"insert",'; gen 1 1 2; } >"$T/in"
	run -1 --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_output "$(pos 0/10 2)"
	[[ "$stderr" == "pgflo-sink-http: <stdin>:4: invalid JSON: "* ]]
	assert_equal "$(python3 "$FIX/received.py" "$T/log")" "$(gen 1 1 | changes)"
	: >"$T/log"
	run --separate-stderr pgflo-sink-http -u "$url" --dead-letter "$T/dl" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 2; pos 0/20 2)"
	assert_equal "$(cat "$T/dl")" '{"op":"insert",'
	assert_equal "$(python3 "$FIX/received.py" "$T/log")" "$(changes "$T/in" | grep -v '^{"op":"insert",$')"
}

@test "pgflo-sink-http: signed with every secret of the file (rotation), the receiver verifies with the new one; openssl dgst agrees" {
	T=$BATS_TEST_TMPDIR
	secret "$T/old"
	secret "$T/new"
	cat "$T/old" "$T/new" >"$T/both"
	chmod 600 "$T/both"
	recv_start --secret-file "$T/new"
	gen 3 1 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" --secret-file "$T/both" <"$T/in"
	assert_success
	assert_equal "$(field sig)" "ok
ok
ok"
	# Two signatures, the second the new key's: the man page's check.
	python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); open(sys.argv[2],"w").write(e["body"])' "$T/log" "$T/body"
	id=$(field webhook-id | head -n1)
	ts=$(field webhook-timestamp | head -n1)
	sig=$(field webhook-signature | head -n1)
	secret=$(cat "$T/new")
	# The man page's check, as it is written there.
	sed -n '/^The signature check in the shell/,/^\.Ed/p' "$TOP/man/pgflo-sink-http.1" |
		sed -e '1,/^\.Bd/d' -e '/^\.Ed/d' -e 's/\\e/\\/g' >"$T/check.sh"
	export id ts sig secret
	assert_equal "$(cd "$T" && bash check.sh)" ok
	printf ' ' >>"$T/body"
	assert_equal "$(cd "$T" && bash check.sh)" forged
	key=$(printf %s "${secret#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
	want=$({ printf '%s.%s.' "$id" "$ts"; head -c -1 "$T/body"; } |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
	assert_equal "${sig#* }" "v1,$want"
	[[ "$sig" == v1,*" v1,"* ]]
	# The environment instead of a file.
	PGFLO_WEBHOOK_SECRET=$(cat "$T/new") run --separate-stderr \
		pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_equal "$(field sig | sort | uniq -c | awk '{print $1, $2}')" "6 ok"
}

@test "pgflo-sink-http: secrets stay out of messages; a secret file others may read is refused" {
	T=$BATS_TEST_TMPDIR
	printf 'whsec_not!base64topsecret\n' >"$T/bad"
	chmod 600 "$T/bad"
	run -2 --separate-stderr pgflo-sink-http -u http://127.0.0.1:9/ --secret-file "$T/bad" </dev/null
	[[ "${stderr%%$'\n'*}" == "pgflo-sink-http: secret 1 of $T/bad is not \"whsec_\" and base64" ]]
	[[ "$stderr" != *topsecret* ]]
	secret "$T/s"
	chmod 644 "$T/s"
	run -2 --separate-stderr pgflo-sink-http -u http://127.0.0.1:9/ --secret-file "$T/s" </dev/null
	[[ "${stderr%%$'\n'*}" == "pgflo-sink-http: $T/s may be read by others (mode 0644): chmod 600 it" ]]
	run -2 --separate-stderr pgflo-sink-http -u http://user:pw@127.0.0.1:9/ </dev/null
	[[ "${stderr%%$'\n'*}" == "pgflo-sink-http: invalid --url: a user or password in the URL (on the command line): use --bearer-file" ]]
}

@test "pgflo-sink-http: the bearer token from a file or the environment" {
	recv_start
	(umask 077; echo 's3cr3t-token' >"$T/tok")
	gen 1 1 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" --bearer-file "$T/tok" -H 'X-Tenant: a' \
		-H 'content-type: application/vnd.pgflo+json' <"$T/in"
	assert_success
	PGFLO_BEARER_TOKEN=other run --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_equal "$(field authorization)" "Bearer s3cr3t-token
Bearer other"
	assert_equal "$(field x-tenant | tr '\n' ' ')" "a  "
	assert_equal "$(field content-type | tr '\n' ' ')" "application/vnd.pgflo+json application/json "
}

@test "pgflo-sink-http: 500 three times then 200: the same body and webhook-id four times, one position" {
	recv_start
	# Through the receiver's control endpoint this time.
	curl -sf --data-binary $'500\n500\n500\n200\n' "http://127.0.0.1:$port/_script" >/dev/null
	gen 1 1 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 2)"
	assert_equal "$(field status | tr '\n' ' ')" "500 500 500 200 "
	assert_equal "$(field body | uniq -c | awk '{print $1}')" 4
	assert_equal "$(field webhook-id | uniq | wc -l)" 1
	assert_equal "$(grep -c 'HTTP 500 Internal Server Error from http://127.0.0.1:'"$port"'/hook: refused by the script; again in' <<<"$stderr")" 3
}

@test "pgflo-sink-http: 429 with Retry-After: 2 (seconds, then an HTTP date) is waited for" {
	recv_start
	printf '429 retry-after=2\n429 retry-after=date+2\n200\n' >"$T/script"
	gen 1 1 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 2)"
	assert_equal "$(field status | tr '\n' ' ')" "429 429 200 "
	python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
assert t[1] - t[0] >= 1.95, t
assert t[2] - t[1] >= 0.95, t   # an HTTP date has whole seconds
' "$T/log"
}

@test "pgflo-sink-http: a request that hangs hits --timeout and is sent again" {
	recv_start
	printf '200 delay=30\n' >"$T/script"
	gen 1 1 >"$T/in"
	SECONDS=0
	run --separate-stderr pgflo-sink-http -u "$url" -t 1 <"$T/in"
	assert_success
	((SECONDS < 10))
	assert_output "$(pos 0/10 2)"
	assert_equal "$(field n | wc -l)" 2
	assert_equal "$(field body | uniq | wc -l)" 1
	[[ "$stderr" == "pgflo-sink-http: could not POST to http://127.0.0.1:$port/hook: Operation timed out after "*" milliseconds with 0 bytes received; again in "* ]]
}

@test "pgflo-sink-http: a 400 puts the batch in the dead-letter file (fsynced) and delivery goes on" {
	recv_start
	printf '200\n400\n200\n' >"$T/script"
	gen 3 2 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" -b 2 --dead-letter "$T/dl" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 3; pos 0/20 3; pos 0/30 3)"
	assert_equal "$(cat "$T/dl")" "$(changes "$T/in" | sed -n 3,4p)"
	assert_equal "$(stat -c %a "$T/dl")" 600
	assert_equal "$stderr" "pgflo-sink-http: HTTP 400 Bad Request from http://127.0.0.1:$port/hook: refused by the script (2 records written to $T/dl)"
	assert_equal "$(field status | tr '\n' ' ')" "200 400 200 "
}

@test "pgflo-sink-http: a 410 without --dead-letter: exit 1, the position not advanced past it" {
	recv_start
	printf '200\n410\n' >"$T/script"
	gen 3 1 >"$T/in"
	run -1 --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_output "$(pos 0/10 2)"
	assert_equal "$stderr" "pgflo-sink-http: HTTP 410 Gone from http://127.0.0.1:$port/hook: refused by the script (position not advanced past it)"
	assert_equal "$(field n | wc -l)" 2
}

@test "pgflo-sink-http: a 413 halves the batch; a redirect is not followed" {
	recv_start
	printf '413\n413\n' >"$T/script"
	gen 1 4 >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" -b 4 -f ndjson <"$T/in"
	assert_success
	assert_output "$(pos 0/10 5)"
	assert_equal "$(field body | grep -c .)" $((4 + 2 + 1 + 1 + 2))
	assert_equal "$(python3 "$FIX/received.py" "$T/log")" "$(changes "$T/in")"
	assert_equal "$(field status | tr '\n' ' ')" "413 413 200 200 200 "
	printf '200\n200\n200\n302\n' >>"$T/script"
	run -1 --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_output ""
	[[ "$stderr" == "pgflo-sink-http: HTTP 302 Found from "* ]]
}

@test "pgflo-sink-http: --max-attempts 2 gives up on a 503: exit 3, no position" {
	recv_start
	printf '503\n503\n503\n' >"$T/script"
	gen 1 1 >"$T/in"
	run -3 --separate-stderr pgflo-sink-http -u "$url" --max-attempts 2 <"$T/in"
	assert_output ""
	assert_equal "${stderr#*$'\n'}" "pgflo-sink-http: HTTP 503 Service Unavailable from http://127.0.0.1:$port/hook: refused by the script (2 attempts) (position not advanced past it)"
}

@test "pgflo-sink-http: TLS with a self-signed certificate: refused unless --cacert names it" {
	T=$BATS_TEST_TMPDIR
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
		-out "$T/cert.pem" 2>/dev/null
	recv_start --cert "$T/cert.pem" --key "$T/key.pem"
	gen 1 1 >"$T/in"
	run -3 --separate-stderr pgflo-sink-http -u "https://127.0.0.1:$port/hook" --max-attempts 1 <"$T/in"
	assert_output ""
	[[ "$stderr" == *"could not POST to https://127.0.0.1:$port/hook: SSL certificate problem: self-signed certificate"* ]]
	run --separate-stderr pgflo-sink-http -u "https://127.0.0.1:$port/hook" --cacert "$T/cert.pem" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 2)"
	assert_equal "$(python3 "$FIX/received.py" "$T/log")" "$(changes "$T/in")"
}

@test "pgflo-sink-http: 100k records with --batch 500, signed: each received once, in order, signature verified" {
	secret "$BATS_TEST_TMPDIR/s"
	recv_start --secret-file "$BATS_TEST_TMPDIR/s"
	gen 20000 5 >"$T/in"
	run --separate-stderr pgflo-sink-http -v -u "$url" -b 500 --secret-file "$T/s" <"$T/in"
	assert_success
	assert_equal "$(tail -n1 <<<"$output")" "$(pos 0/4E200 6)"
	# A request is sent again only after a failure it reports (a
	# connection the receiver dropped under load, say): none here, but
	# each one it does count is a batch of 500 received twice.
	retries=$(sed -n 's/.* requests (\([0-9]*\) retries).*/\1/p' <<<"$stderr")
	[ -n "$retries" ]
	assert_equal "$(field sig | sort | uniq -c | awk '{print $1, $2}')" "$((200 + retries)) ok"
	run python3 "$FIX/received.py" --check "$T/in" "$T/log"
	assert_success
	assert_output "100000 records, $((retries * 500)) again"
}

@test "pgflo-sink-http: the receiver killed and restarted mid-run: nothing lost" {
	recv_start --log "$BATS_TEST_TMPDIR/log1"
	yes '200 delay=0.005' | head -n 400 >"$T/script"
	gen 2000 1 >"$T/in"
	pgflo-sink-http -u "$url" -b 10 <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	spid=$!
	until [ "$(wc -l <"$T/log1")" -ge 50 ]; do sleep 0.05; done
	kill -9 "$rpid"
	wait "$rpid" || true
	sleep 1
	recv_start --log "$T/log2" --port "$port"
	wait "$spid"
	assert_equal "$(tail -n1 "$T/out")" "$(pos 0/7D00 2)"
	grep -q 'could not POST to .*; again in' "$T/err"
	run python3 "$FIX/received.py" --check "$T/in" "$T/log1" "$T/log2"
	assert_success
	[[ "$output" == "2000 records, "[01]?" again" || "$output" == "2000 records, "?" again" ]]
}

@test "pgflo-sink-http: killed -9 mid-run and restarted from its checkpoint: nothing lost" {
	recv_start
	yes '200 delay=0.01' | head -n 300 >"$T/script"
	gen 20000 5 >"$T/in"
	mkfifo "$T/fifo"
	pgflo-checkpoint --save "file:$T/ck" -i 0 <"$T/fifo" 3>&- &
	cpid=$!
	pgflo-sink-http -u "$url" -b 500 <"$T/in" >"$T/fifo" 3>&- &
	spid=$!
	until [ "$(wc -l <"$T/log")" -ge 60 ]; do sleep 0.05; done
	kill -9 "$spid"
	wait "$cpid"
	ck=$(pgflo-checkpoint --get "file:$T/ck")
	run --separate-stderr pgflo-sink-http -u "$url" -b 500 --after "$ck" <"$T/in"
	assert_success
	assert_equal "$(tail -n1 <<<"$output")" "$(pos 0/4E200 6)"
	run python3 "$FIX/received.py" --check "$T/in" --after "$ck" "$T/log"
	assert_success
	[[ "$output" =~ ^"100000 records, "[0-9]+" again"$ ]]
	again=${output#*, }
	((${again% again} <= 1000))
}

@test "pgflo-sink-http: SIGTERM while waiting to retry: exit 0, no position" {
	recv_start
	printf '503 retry-after=30\n' >"$T/script"
	gen 1 1 >"$T/in"
	pgflo-sink-http -u "$url" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	spid=$!
	until [ -s "$T/err" ]; do sleep 0.05; done
	kill -TERM "$spid"
	st=0
	wait "$spid" || st=$?
	assert_equal "$st" 0
	assert_equal "$(cat "$T/out")" ""
	assert_equal "$(cat "$T/err")" "pgflo-sink-http: HTTP 503 Service Unavailable from $url: refused by the script; again in 30.0 s"
}

@test "pgflo-sink-http: the reader of its output gone while it waits to retry: 141 within a second or so" {
	recv_start
	yes 503 | head -n 50 >"$T/script"
	gen 1 1 >"$T/in"
	SECONDS=0
	run --separate-stderr bash -c '{ pgflo-sink-http -u "$1" <"$2" 2>/dev/null; echo "status $?" >&2; } | sleep 1' _ "$url" "$T/in"
	assert_equal "$stderr" "status 141"
	((SECONDS < 5))
}

@test "pgflo-sink-http: | head -n1 ends it at once, quietly" {
	recv_start
	gen 3 1 >"$T/in"
	run --separate-stderr bash -c 'pgflo-sink-http -u "$1" <"$2" | head -n1' _ "$url" "$T/in"
	assert_success
	assert_output "$(pos 0/10 2)"
	assert_equal "$stderr" ""
}

@test "pgflo-sink-http: a line over 1 MiB and an unterminated last line are delivered; >/dev/full is a write error" {
	recv_start
	big=$(head -c 1100000 /dev/zero | tr '\0' x)
	{
		gen 1 1
		printf '{"op":"insert","schema":"public","table":"t","commit_lsn":"0/20","ordinal":1,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":2,"v":"%s"}}' "$big"
	} >"$T/in"
	run --separate-stderr pgflo-sink-http -u "$url" <"$T/in"
	assert_success
	assert_output "$(pos 0/10 2; pos 0/20 1)"
	assert_equal "$(python3 "$FIX/received.py" "$T/log" | md5sum)" "$(changes "$T/in" | md5sum)"
	run -1 --separate-stderr bash -c 'pgflo-sink-http -u "$1" <"$2" >/dev/full' _ "$url" "$T/in"
	[[ "$stderr" == "pgflo-sink-http: write error"* ]]
}

@test "pgflo-sink-http: pgflo(7)'s webhook pipeline: capture | rule --mask | sink-http | checkpoint, run twice" {
	pg_started=1	# teardown stops it, whatever fails
	pg_start
	psql_src -c "CREATE TABLE users (id int PRIMARY KEY, email text)"
	pgflo-capture -d "$PGFLO_SRC" -S hook -t public.users --create-slot --endpos 0/1 >/dev/null
	psql_src -c "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com')"
	psql_src -c "INSERT INTO users VALUES (3, 'c@example.com')"
	secret "$BATS_TEST_TMPDIR/hook.secret"
	recv_start --secret-file "$T/hook.secret"
	pipeline() {
		pgflo-capture -d "$PGFLO_SRC" -S hook --checkpoint "file:$T/hook.pos" \
			--endpos "$(psql_src -c 'select pg_current_wal_insert_lsn()')" |
		pgflo-rule --table public.users --mask email |
		pgflo-sink-http -u "$url" -b 500 --secret-file "$T/hook.secret" |
		pgflo-checkpoint --save "file:$T/hook.pos"
	}
	pipeline
	pipeline
	run python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    print(e["status"], e["sig"], [(r["op"], r["new"]["id"], "@example.com" in r["new"]["email"]) for r in json.loads(e["body"])])
' "$T/log"
	# Both transactions in one request; the second run sends nothing.
	assert_output "200 ok [('insert', 1, False), ('insert', 2, False), ('insert', 3, False)]"
	last=$(python3 "$FIX/received.py" "$T/log" | tail -n1)
	run pgflo-checkpoint --get "file:$T/hook.pos" -f commit_lsn
	assert_output "$(jq -r .commit_lsn <<<"$last")"
}

@test "pgflo-sink-http: group commit: a transaction is posted once input is quiet, not on -m's timer" {
	recv_start
	mkfifo "$T/fifo"
	pgflo-sink-http -u "$url" -b 100 -m 10s <"$T/fifo" >"$T/out" 3>&- &
	pid=$!
	exec 5>"$T/fifo"
	gen 1 2 >&5
	for _ in $(seq 10); do
		[ -s "$T/out" ] && break
		sleep 0.1
	done
	run cat "$T/out"
	exec 5>&-
	wait "$pid"
	assert_output "$(pos 0/10 3)"
	gen 1 2 >"$T/in"
	assert_equal "$(field body)" "[$(changes "$T/in" | paste -sd,)]"
}
