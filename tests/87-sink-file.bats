#!/usr/bin/env bats
# pgflo-sink-file: records generated here (the format of pgflo-record(5)),
# files in $BATS_TEST_TMPDIR, no server.

load test_helper

setup() {
	export PGFLO_GROUP=g
	D=$BATS_TEST_TMPDIR/d
	mkdir "$D"
}

# gen N [FIRST]: transactions FIRST..FIRST+N-1 (commit_lsn 0/(16 t)):
# begin, t % 4 + 1 inserts (40 for every 25th), commit.  With IDX set,
# "t line" of each begin goes there.
gen() {
	awk -v n="$1" -v first="${2:-1}" -v idx="${IDX:-/dev/null}" 'BEGIN {
	  for (t = first; t < first + n; t++) {
	    l = sprintf("0/%X", t * 16); k = t % 25 == 0 ? 40 : t % 4 + 1
	    print t, ++line > idx
	    printf "{\"op\":\"begin\",\"commit_lsn\":\"%s\",\"ordinal\":0,\"xid\":%d}\n", l, t
	    for (o = 1; o <= k; o++) {
	      printf "{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"t\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"v\":\"text\"},\"new\":{\"id\":%d,\"v\":\"%s\"}}\n", l, o, t * 100 + o, substr("abcdefghijklmnopqrstuvwxyz", 1, (t + o) % 26)
	      line++
	    }
	    printf "{\"op\":\"commit\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d}\n", l, k + 1, t
	    line++
	  } }'
}

# The finished files, oldest first, and the open ones.
finished() { ls "$D" | grep -E '^[a-z]*[0-9]{8}T[0-9]{6}Z-[0-9]{6}\.ndjson$' || true; }
parts() { ls "$D" | grep '\.part$' || true; }

# Every finished file ends with a newline and holds only JSON objects.
no_torn_line() {
	local f
	for f in $(finished); do
		[ -z "$(tail -c1 "$D/$f")" ] || { echo "$f: torn last line"; return 1; }
		jq -e -c 'type == "object"' "$D/$f" >/dev/null ||
			{ echo "$f: not NDJSON"; return 1; }
	done
}

@test "pgflo-sink-file: the files hold the records byte for byte; positions and copy markers come out" {
	{
		echo '{"op":"snapshot","phase":"begin","slot":"s","schema":"public","table":"t","lsn":"0/5"}'
		echo '{"op":"insert","schema":"public","table":"t","snapshot":true,"key":["id"],"types":{"id":"integer","v":"numeric"},"new":{"id":1,"v":1.10}}'
		echo '{"op":"snapshot","phase":"end","slot":"s","schema":"public","table":"t","lsn":"0/5","rows":1}'
		echo '{"op":"begin","commit_lsn":"0/10","ordinal":0,"xid":7}'
		echo '{"op":"update","schema":"public","table":"t","commit_lsn":"0/10","ordinal":1,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":1,"v":"x  y\u00e9"},"old":{"id":1}}'
		echo '{"op":"message","commit_lsn":"0/10","ordinal":2,"prefix":"app","content":"hi","transactional":true}'
		echo '{"op":"ddl","commit_lsn":"0/10","ordinal":3,"tag":"ALTER TABLE","statement":"ALTER TABLE t ADD c int"}'
		echo '{"op":"commit","commit_lsn":"0/10","ordinal":4,"xid":7}'
		echo '{"op":"position","commit_lsn":"0/8","ordinal":1}'
		echo '{"op":"message","commit_lsn":"0/20","ordinal":1,"prefix":"app","content":"no txn","transactional":false}'
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$stderr" ""
	# One commit at the end of the input: the markers it covers, then its
	# position.
	assert_output "$(printf '%s\n' \
		'{"op":"snapshot","phase":"begin","slot":"s","schema":"public","table":"t","lsn":"0/5"}' \
		'{"op":"snapshot","phase":"end","slot":"s","schema":"public","table":"t","lsn":"0/5","rows":1}' \
		'{"op":"position","commit_lsn":"0/20","ordinal":1,"group":"g"}')"
	run finished
	assert_output --regexp '^[0-9]{8}T[0-9]{6}Z-000001\.ndjson$'
	assert_equal "$(parts)" ""
	assert_equal "$(stat -c %a "$D/$output")" 600
	grep -v '"op":"snapshot"\|"op":"position"' "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/want" "$D/$output"
}

@test "pgflo-sink-file: --max-bytes finishes a file at the end of the transaction reaching it; names keep their order" {
	gen 300 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-file -d "$D" -P ord- -s 4k <"$BATS_TEST_TMPDIR/in"
	assert_success
	# Where each file must end: the commit at or after 4096 bytes.
	awk -v d="$BATS_TEST_TMPDIR/want" '{ n += length($0) + 1; f = sprintf("%s.%03d", d, i + 1)
	  print > f; if (n >= 4096 && $0 ~ /"op":"commit"/) { close(f); i++; n = 0 } }' "$BATS_TEST_TMPDIR/in"
	want=$(ls "$BATS_TEST_TMPDIR" | grep -c '^want\.')
	mapfile -t files < <(ls "$D")
	assert_equal "${#files[@]}" "$want"
	for i in "${!files[@]}"; do
		[[ ${files[i]} =~ ^ord-[0-9]{8}T[0-9]{6}Z-([0-9]{6})\.ndjson$ ]]
		assert_equal "$((10#${BASH_REMATCH[1]}))" $((i + 1))
		cmp "$BATS_TEST_TMPDIR/want.$(printf %03d $((i + 1)))" "$D/${files[i]}"
	done
	(( want > 20 ))
	cat "$D"/* | cmp - "$BATS_TEST_TMPDIR/in"
}

@test "pgflo-sink-file: --max-age finishes the file while input is quiet; the next record opens another" {
	gen 2 >"$BATS_TEST_TMPDIR/a"
	gen 1 3 >"$BATS_TEST_TMPDIR/b"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-file -d "$D" -a 1 <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/a" >&5
	sleep 0.5
	# Written and committed, not finished yet.
	assert_equal "$(finished)" ""
	run parts
	assert_output --regexp '^[0-9]{8}T[0-9]{6}Z-000001\.ndjson\.part$'
	cmp "$BATS_TEST_TMPDIR/a" "$D/$output"
	sleep 1
	# Finished by the timer, nothing new open.
	assert_equal "$(parts)" ""
	run finished
	assert_output --regexp '^[0-9]{8}T[0-9]{6}Z-000001\.ndjson$'
	cmp "$BATS_TEST_TMPDIR/a" "$D/$output"
	cat "$BATS_TEST_TMPDIR/b" >&5
	exec 5>&-
	wait "$pid"
	mapfile -t files < <(finished)
	assert_equal "${#files[@]}" 2
	[[ ${files[1]} == *-000002.ndjson ]]
	cmp "$BATS_TEST_TMPDIR/b" "$D/${files[1]}"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output "$(printf '%s\n' \
		'{"op":"position","commit_lsn":"0/20","ordinal":4,"group":"g"}' \
		'{"op":"position","commit_lsn":"0/30","ordinal":5,"group":"g"}')"
}

@test "pgflo-sink-file: --keep 3 keeps the newest three finished files, across runs" {
	gen 200 >"$BATS_TEST_TMPDIR/in"
	gen 100 201 >"$BATS_TEST_TMPDIR/in2"
	pgflo-sink-file -d "$D" -s 2k -k 3 <"$BATS_TEST_TMPDIR/in" >/dev/null
	mapfile -t files < <(finished)
	assert_equal "${#files[@]}" 3
	# What they hold is the end of the input, whole.
	cat "${files[@]/#/$D/}" >"$BATS_TEST_TMPDIR/kept"
	tail -c "$(stat -c %s "$BATS_TEST_TMPDIR/kept")" "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/kept"
	head -n1 "$BATS_TEST_TMPDIR/kept" | grep -q '"op":"begin"'
	last=${files[2]}
	pgflo-sink-file -d "$D" -s 2k -k 3 <"$BATS_TEST_TMPDIR/in2" >/dev/null
	mapfile -t files2 < <(finished)
	assert_equal "${#files2[@]}" 3
	[[ ${files2[0]} > $last ]]
	cat "${files2[@]/#/$D/}" >"$BATS_TEST_TMPDIR/kept"
	tail -c "$(stat -c %s "$BATS_TEST_TMPDIR/kept")" "$BATS_TEST_TMPDIR/in2" | cmp - "$BATS_TEST_TMPDIR/kept"
}

@test "pgflo-sink-file: a crash's torn line is cut, the open file written on, and a rerun appends no duplicate" {
	gen 40 >"$BATS_TEST_TMPDIR/in"
	# As a crash leaves it: 50 complete lines (mid-transaction), then a torn one.
	mkdir -p "$D"
	f=20261201T120000Z-000007.ndjson
	head -n 50 "$BATS_TEST_TMPDIR/in" >"$D/$f.part"
	sed -n 51p "$BATS_TEST_TMPDIR/in" | head -c 30 >>"$D/$f.part"
	# (-a 0: the name's time is hours ago.)
	run --separate-stderr pgflo-sink-file -v -a 0 -d "$D" <"$BATS_TEST_TMPDIR/in"
	assert_success
	[[ $stderr == *"$((
	  $(wc -l <"$BATS_TEST_TMPDIR/in") - 50)) records written, 50 records skipped"* ]]
	# The same file, finished, holds the input once; the seq goes on.
	assert_equal "$(ls "$D")" "$f"
	cmp "$BATS_TEST_TMPDIR/in" "$D/$f"
	gen 1 41 | pgflo-sink-file -d "$D" >/dev/null
	run finished
	assert_line -n 1 --regexp '^[0-9]{8}T[0-9]{6}Z-000008\.ndjson$'
	# Only a torn line: the file is removed.
	printf '{"op":"beg' >"$D/20261201T120000Z-000009.ndjson.part"
	gen 41 | pgflo-sink-file -d "$D" >/dev/null
	assert_equal "$(parts)" ""
	assert_equal "$(finished | wc -l)" 2
	cat "$D"/* | cmp - <(gen 41)
}

@test "pgflo-sink-file: an old .part file (a crash during a rename) is finished on start" {
	gen 10 >"$BATS_TEST_TMPDIR/in"
	head -n 20 "$BATS_TEST_TMPDIR/in" >"$D/20261201T120000Z-000001.ndjson.part"
	sed -n '21,30p' "$BATS_TEST_TMPDIR/in" >"$D/20261201T120001Z-000002.ndjson"
	printf '{"op":"x' >>"$D/20261201T120000Z-000001.ndjson.part"
	run -0 pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/in"
	run ls "$D"
	assert_output "$(printf '%s\n' 20261201T120000Z-000001.ndjson 20261201T120001Z-000002.ndjson)"$'\n'"$(finished | tail -n1)"
	finished | tail -n1 | grep -q -- '-000003\.ndjson$'
	cat "$D"/* | cmp - "$BATS_TEST_TMPDIR/in"
}

# sinkrun NAME: one run from the stored checkpoint, throttled, in the
# background: $spid is the sink, $cpid the checkpoint reading its output.
sinkrun() {
	local T=$BATS_TEST_TMPDIR ck t line=1
	if ck=$(pgflo-checkpoint -g "file:$T/ck" -f commit_lsn 2>/dev/null); then
		t=$((16#${ck#0/} / 16))
		line=$(awk -v t="$t" '$1 == t { print $2 }' "$T/idx")
	fi
	rm -f "$T/f1" "$T/f2"
	mkfifo "$T/f1" "$T/f2"
	# About 7000 lines a second, each restart from the checkpoint's transaction.
	tail -n +"$line" "$T/in" | awk '{ print; if (NR % 100 == 0) { fflush(); system("sleep 0.015") } }' >"$T/f1" 2>/dev/null 3>&- &
	pgflo-sink-file -d "$D" -s 16k -b 200 -m 20 <"$T/f1" >"$T/f2" 2>>"$T/err" 3>&- &
	spid=$!
	pgflo-checkpoint -s "file:$T/ck" <"$T/f2" 2>>"$T/err" 3>&- &
	cpid=$!
}

@test "pgflo-sink-file: kill -9 at random 10 times, restarted from its checkpoint: every record once, no torn line" {
	T=$BATS_TEST_TMPDIR
	IDX=$T/idx gen 8000 >"$T/in"
	for i in $(seq 10); do
		sinkrun
		sleep "0.$((RANDOM % 6 + 2))$((RANDOM % 10))"
		kill -KILL "$spid"
		wait "$spid" || true
		wait "$cpid"
		wait
		run no_torn_line
		assert_success
		# The stored position is on disk: its commit record is in the files.
		ck=$(pgflo-checkpoint -g "file:$T/ck" | jq -r '"\"commit_lsn\":\"\(.commit_lsn)\",\"ordinal\":\(.ordinal),"')
		assert_equal "$(cat "$D"/* | grep -F '"op":"commit"' | grep -cF "$ck")" 1
	done
	# The last run to the end.
	sinkrun
	wait "$spid"
	wait "$cpid"
	assert_equal "$(cat "$T/err")" ""
	assert_equal "$(parts)" ""
	run no_torn_line
	assert_success
	(( $(finished | wc -l) > 10 ))
	cat "$D"/* | cmp - "$T/in"
	run pgflo-checkpoint -g "file:$T/ck" -f commit_lsn
	assert_output "0/$(printf %X $((8000 * 16)))"
}

@test "pgflo-sink-file: SIGTERM keeps the complete transactions, drops the open one, finishes the file, exits 0" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	gen 2 >&5
	gen 1 3 | head -n 2 >&5
	sleep 0.5
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec 5>&-
	assert_equal "$rc" 0
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"position","commit_lsn":"0/20","ordinal":4,"group":"g"}'
	assert_equal "$(parts)" ""
	cmp <(gen 2) "$D/$(finished)"
}

@test "pgflo-sink-file: | head -n1 ends it at once with 141, the files hold whole lines, a rerun completes them" {
	gen 3000 >"$BATS_TEST_TMPDIR/in"
	run bash -c 'pgflo-sink-file -d "$1" -s 64k -b 10 <"$2" | head -n1; echo "${PIPESTATUS[0]}"' _ "$D" "$BATS_TEST_TMPDIR/in"
	assert_output "$(printf '%s\n' '{"op":"position","commit_lsn":"0/40","ordinal":2,"group":"g"}' 141)"
	run no_torn_line
	assert_success
	pgflo-sink-file -d "$D" -s 64k <"$BATS_TEST_TMPDIR/in" >/dev/null
	cat "$D"/* | cmp - "$BATS_TEST_TMPDIR/in"
}

@test "pgflo-sink-file: stdout on /dev/full exits 1 with write error" {
	gen 3 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr bash -c 'pgflo-sink-file -d "$1" <"$2" >/dev/full' _ "$D" "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_equal "$stderr" "pgflo-sink-file: write error: No space left on device"
}

@test "pgflo-sink-file: a bad --dir, --fsync, --prefix or no -d is exit 2" {
	run --separate-stderr pgflo-sink-file -d "$D/none" </dev/null
	assert_failure 2
	assert_equal "$stderr" "pgflo-sink-file: $D/none: No such file or directory"
	touch "$BATS_TEST_TMPDIR/file"
	run --separate-stderr pgflo-sink-file -d "$BATS_TEST_TMPDIR/file" </dev/null
	assert_failure 2
	assert_equal "$stderr" "pgflo-sink-file: $BATS_TEST_TMPDIR/file: Not a directory"
	run --separate-stderr pgflo-sink-file -d "$D" -f sometimes </dev/null
	assert_failure 2
	[[ ${lines[0]} == "" ]]
	[[ $stderr == "pgflo-sink-file: invalid --fsync: sometimes (want always, batch or never)"* ]]
	run --separate-stderr pgflo-sink-file -d "$D" -P a/b </dev/null
	assert_failure 2
	[[ $stderr == "pgflo-sink-file: invalid --prefix: a/b (no '/')"* ]]
	run --separate-stderr pgflo-sink-file </dev/null
	assert_failure 2
	[[ $stderr == "pgflo-sink-file: -d is required"$'\n'"usage: pgflo-sink-file "* ]]
	assert_equal "$(ls "$D")" ""
}

@test "pgflo-sink-file: a second sink on the same directory is refused" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/fifo" >/dev/null 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	sleep 0.3
	run --separate-stderr pgflo-sink-file -d "$D" </dev/null
	assert_failure 1
	assert_equal "$stderr" "pgflo-sink-file: could not lock directory $D (another pgflo-sink-file?): Resource temporarily unavailable"
	exec 5>&-
	wait "$pid"
}

@test "pgflo-sink-file: a full disk is exit 1, and no position is printed past what is on disk" {
	mnt=$BATS_TEST_TMPDIR/mnt
	mkdir "$mnt"
	mount -t tmpfs -o size=256k tmpfs "$mnt" 2>/dev/null ||
		skip "cannot mount a tmpfs here (not root?)"
	gen 3000 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-file -d "$mnt" -s 1M -b 20 <"$BATS_TEST_TMPDIR/in"
	cp -r "$mnt" "$BATS_TEST_TMPDIR/kept"
	umount "$mnt"
	assert_failure 1
	[[ $stderr == "pgflo-sink-file: $mnt/"*".ndjson.part: write error: No space left on device" ]]
	# The last position printed is the last record on disk, the file a
	# prefix of the input cut at that commit.
	[ "${#lines[@]}" -gt 5 ]
	last=$(echo "${lines[-1]}" | jq -r '"\"commit_lsn\":\"\(.commit_lsn)\",\"ordinal\":\(.ordinal),"')
	f=$(ls "$BATS_TEST_TMPDIR/kept")
	tail -n1 "$BATS_TEST_TMPDIR/kept/$f" | grep -qF "$last"
	head -c "$(stat -c %s "$BATS_TEST_TMPDIR/kept/$f")" "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/kept/$f"
}

@test "pgflo-sink-file: --fsync always prints a position per transaction; never still prints them" {
	gen 3 >"$BATS_TEST_TMPDIR/in"
	want=$(printf '%s\n' '{"op":"position","commit_lsn":"0/10","ordinal":3,"group":"g"}' \
		'{"op":"position","commit_lsn":"0/20","ordinal":4,"group":"g"}' \
		'{"op":"position","commit_lsn":"0/30","ordinal":5,"group":"g"}')
	run -0 pgflo-sink-file -d "$D" -f always <"$BATS_TEST_TMPDIR/in"
	assert_output "$want"
	rm "$D"/*
	run -0 pgflo-sink-file -d "$D" -f never -b 1 <"$BATS_TEST_TMPDIR/in"
	assert_output "$want"
	cmp "$BATS_TEST_TMPDIR/in" "$D"/*
}

@test "pgflo-sink-file: a line over 1 MiB and an unterminated last line" {
	big=$(head -c 1200000 /dev/zero | tr '\0' x)
	{
		echo '{"op":"begin","commit_lsn":"0/10","ordinal":0}'
		echo '{"op":"insert","schema":"public","table":"t","commit_lsn":"0/10","ordinal":1,"key":["id"],"types":{"id":"integer","v":"text"},"new":{"id":1,"v":"'"$big"'"}}'
		printf '%s' '{"op":"commit","commit_lsn":"0/10","ordinal":2}'
	} >"$BATS_TEST_TMPDIR/in"
	run -0 pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":2,"group":"g"}'
	# The last line gets its newline.
	cmp <(cat "$BATS_TEST_TMPDIR/in"; echo) "$D"/*
}

@test "pgflo-sink-file: pgflo(7) files pipeline: sink-file | checkpoint --save, then a rerun from the store appends nothing" {
	gen 50 >"$BATS_TEST_TMPDIR/in"
	pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/in" | pgflo-checkpoint --save "file:$BATS_TEST_TMPDIR/ck"
	run -0 pgflo-checkpoint --get "file:$BATS_TEST_TMPDIR/ck" -f commit_lsn
	assert_output "0/$(printf %X $((50 * 16)))"
	run --separate-stderr pgflo-sink-file -v -d "$D" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output ""
	[[ $stderr == *"0 records written, $(wc -l <"$BATS_TEST_TMPDIR/in") records skipped"* ]]
	cat "$D"/* | cmp - "$BATS_TEST_TMPDIR/in"
}

# The input of the bad-record tests: line 4 is not JSON, line 6 has no
# commit_lsn.
bad_input() {
	printf '%s\n' '{"op":"begin","commit_lsn":"0/10","ordinal":0}' \
		'{"op":"commit","commit_lsn":"0/10","ordinal":1}' \
		'{"op":"begin","commit_lsn":"0/20","ordinal":0}' \
		'{"op":"insert","commit_lsn":"0/20","ordinal":1,"schema":"s","table":"t","new":{"id":1}' \
		'{"op":"commit","commit_lsn":"0/20","ordinal":2}' \
		'{"op":"insert","schema":"s","table":"t","new":{}}'
}

@test "pgflo-sink-file: a bad line is exit 1 with its line; the transactions before it are kept, the open file stays .part" {
	bad_input >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":1,"group":"g"}'
	assert_equal "$stderr" "pgflo-sink-file: <stdin>:4: invalid JSON: '}' expected near end of file (column 86)"
	assert_equal "$(finished)" ""
	cmp <(head -n 2 "$BATS_TEST_TMPDIR/in") "$D/$(parts)"
}

@test "pgflo-sink-file: --dead-letter takes the bad line's transaction and the bad line, the rest is written" {
	bad_input >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr pgflo-sink-file -d "$D" --dead-letter "$BATS_TEST_TMPDIR/dl" <"$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/20","ordinal":2,"group":"g"}'
	assert_equal "$stderr" "pgflo-sink-file: <stdin>:4: invalid JSON: '}' expected near end of file (column 86) (transaction written to $BATS_TEST_TMPDIR/dl)
pgflo-sink-file: <stdin>:6: insert record without commit_lsn (written to $BATS_TEST_TMPDIR/dl)"
	cmp <(head -n 2 "$BATS_TEST_TMPDIR/in") "$D/$(finished)"
	cmp <(tail -n 4 "$BATS_TEST_TMPDIR/in") "$BATS_TEST_TMPDIR/dl"
}

@test "pgflo-sink-file: --position prints what the files hold, leaves a torn line and the lock alone; none is exit 1" {
	run --separate-stderr pgflo-sink-file -d "$D" -p
	assert_failure 1
	assert_equal "$stderr" "pgflo-sink-file: no position in $D"
	gen 3 | pgflo-sink-file -d "$D" >/dev/null
	# Another sink holds the directory...
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-file -d "$D" <"$BATS_TEST_TMPDIR/fifo" >/dev/null 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	# Watched in /proc/locks: a probe with flock -n would take the lock
	# for a moment, and a sink starting then is refused.
	ino=$(stat -c %i "$D")
	for i in $(seq 50); do grep -q "FLOCK .*:$ino " /proc/locks && break; sleep 0.1; done
	run ! flock -n "$D" true
	# ... and its .part file has a torn line.
	gen 1 4 | head -n 2 >"$D/20991231T000000Z-000002.ndjson.part"
	printf '{"op":"insert","commit_lsn":"0/40",' >>"$D/20991231T000000Z-000002.ndjson.part"
	cp "$D/20991231T000000Z-000002.ndjson.part" "$BATS_TEST_TMPDIR/part"
	run --separate-stderr pgflo-sink-file -d "$D" -p -g other
	assert_success
	assert_output '{"op":"position","commit_lsn":"0/40","ordinal":1,"group":"other"}'
	cmp "$BATS_TEST_TMPDIR/part" "$D/20991231T000000Z-000002.ndjson.part"
	exec 5>&-
	wait "$pid"
}

@test "pgflo-sink-file: group commit: a transaction is written and its position printed once input is quiet, not on -m's timer" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-sink-file -m 10s -d "$D" <"$BATS_TEST_TMPDIR/fifo" \
		>"$BATS_TEST_TMPDIR/out" 3>&- &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	gen 1 >&5
	for _ in $(seq 10); do
		[ -s "$BATS_TEST_TMPDIR/out" ] && break
		sleep 0.1
	done
	run cat "$BATS_TEST_TMPDIR/out"
	exec 5>&-
	wait "$pid"
	assert_output '{"op":"position","commit_lsn":"0/10","ordinal":3,"group":"g"}'
	cmp <(gen 1) "$D/$(finished)"
}
