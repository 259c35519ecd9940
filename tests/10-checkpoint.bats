#!/usr/bin/env bats
# pgflo-checkpoint, and through it the record reader and writer of
# common/ (long lines, unterminated lines, EPIPE, write errors, signals).

load test_helper

pos() {	# pos LSN ORDINAL: one position record
	printf '{"op":"position","commit_lsn":"%s","ordinal":%s}\n' "$1" "$2"
}

setup() {
	S="$BATS_TEST_TMPDIR/cp"
}

# Asserts that the store $S holds FIELD with the value WANT.
stored() {	# stored FIELD WANT
	run -0 pgflo-checkpoint -g "$S" -f "$1"
	assert_output "$2"
}

# ended_with LSN: pgflo-checkpoint $pid exits 0, and the store $S holds
# commit_lsn LSN.
ended_with() {
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	stored commit_lsn "$1"
}

# quiet_stores SECONDS FIRST SECOND [ARG ...]: pgflo-checkpoint ARGs -s $S
# sent positions FIRST and SECOND, then nothing, has stored SECOND within
# SECONDS; then its input ends.
quiet_stores() {
	local secs=$1 first=$2 second=$3
	shift 3
	ckpt_on_fifo "$@" -s "$S"
	pos "$first" 1 >&4
	pos "$second" 1 >&4
	sleep "$secs"
	stored commit_lsn "$second"
	exec 4>&-
	wait "$pid"
}

@test "checkpoint: --save keeps the newest position, --get prints it" {
	run -0 bash -c "{ $(declare -f pos); pos 0/10 3; pos 0/20 1; } |
		pgflo-checkpoint --save file:$S && pgflo-checkpoint --get file:$S"
	assert_output '{"op":"position","commit_lsn":"0/20","ordinal":1}'
}

@test "checkpoint: positions are ordered by commit_lsn, then ordinal" {
	{ pos 0/20 5; pos 0/20 7; pos 0/1F 9; pos 0/20 6; } |
		pgflo-checkpoint -i 0 -s "$S"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/20","ordinal":7}'
}

@test "checkpoint: a replay of older positions never moves the store back" {
	pos 1/0 1 | pgflo-checkpoint -s "file:$S"
	pos 0/FFFFFFFF 99 | pgflo-checkpoint -s "file:$S"
	run -0 pgflo-checkpoint -g "file:$S" -f commit_lsn
	assert_output '1/0'
}

@test "checkpoint: lower-case LSNs are read, upper-case written" {
	printf '{"op":"position","commit_lsn":"ab/cdef0","ordinal":2}\n' |
		pgflo-checkpoint -s "$S"
	stored commit_lsn 'AB/CDEF0'
	stored ordinal '2'
}

@test "checkpoint: stream_seq positions are kept" {
	printf '{"op":"position","stream_seq":41}\n{"op":"position","stream_seq":42}\n' |
		pgflo-checkpoint -s "$S"
	stored stream_seq '42'
	run -1 pgflo-checkpoint -g "$S" -f commit_lsn
	assert_output --partial "has no commit_lsn"
}

@test "checkpoint: other records are ignored; --tee copies every line" {
	run -0 bash -c "printf '%s\n' '{\"op\":\"insert\",\"table\":\"t\"}' \
		'{\"op\":\"position\",\"commit_lsn\":\"0/30\",\"ordinal\":1}' \
		'{\"op\":\"commit\"}' | pgflo-checkpoint --tee -s $S"
	assert_line --index 0 '{"op":"insert","table":"t"}'
	assert_line --index 1 '{"op":"position","commit_lsn":"0/30","ordinal":1}'
	assert_line --index 2 '{"op":"commit"}'
	[ "${#lines[@]}" -eq 3 ]
	stored commit_lsn '0/30'
}

@test "checkpoint: --get with nothing stored exits 1, or prints --default" {
	run -1 --separate-stderr pgflo-checkpoint -g "file:$S"
	assert_equal "$stderr" "pgflo-checkpoint: no position stored in file:$S"
	run -0 pgflo-checkpoint -g "file:$S" --default 0/0
	assert_output '0/0'
}

@test "checkpoint: a corrupt store is an error naming the file, never reset" {
	echo '{"op":"posit' > "$S"
	run -1 --separate-stderr pgflo-checkpoint -g "$S"
	assert_equal "${stderr%%:*}" "pgflo-checkpoint"
	[[ "$stderr" == *"corrupt checkpoint $S"* ]]
	run -1 bash -c "$(declare -f pos); pos 0/40 1 | pgflo-checkpoint -s $S"
	[ "$(cat "$S")" = '{"op":"posit' ]
}

@test "checkpoint: a malformed line exits 1 naming <stdin>:LINE" {
	run -1 --separate-stderr bash -c "{ $(declare -f pos); pos 0/10 1; echo; echo '{nope'; } |
		pgflo-checkpoint -s $S"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:3: invalid JSON: string or '}' expected near 'nope' (column 5)"
}

@test "checkpoint: a record that is not an object or has no op is an error" {
	run -1 --separate-stderr bash -c "echo '[1]' | pgflo-checkpoint -s $S"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:1: record is not a JSON object"
	run -1 --separate-stderr bash -c "echo '{\"a\":1}' | pgflo-checkpoint -s $S"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:1: record has no \"op\" string"
	run -1 --separate-stderr bash -c "echo '{\"op\":\"position\",\"commit_lsn\":\"zz\"}' | pgflo-checkpoint -s $S"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:1: malformed position record: \"commit_lsn\" is not an LSN"
}

@test "checkpoint: --dead-letter keeps bad lines verbatim and goes on" {
	run -0 --separate-stderr bash -c "{ echo 'bad one'; $(declare -f pos); pos 0/50 2; echo '{\"op\":\"position\",\"commit_lsn\":\"x\"}'; } |
		pgflo-checkpoint -s $S --dead-letter $BATS_TEST_TMPDIR/dl -v"
	[[ "$stderr" == *"<stdin>:1: invalid JSON"*"(written to $BATS_TEST_TMPDIR/dl)"* ]]
	[[ "$stderr" == *"2 bad lines written to"* ]]
	assert_equal "$(cat "$BATS_TEST_TMPDIR/dl")" 'bad one
{"op":"position","commit_lsn":"x"}'
	stored commit_lsn '0/50'
}

@test "checkpoint: a line over 1 MiB passes through --tee intact" {
	big=$(head -c 1500000 /dev/zero | tr '\0' 'x')
	printf '{"op":"insert","v":"%s"}\n' "$big" > "$BATS_TEST_TMPDIR/in"
	pos 0/60 1 >> "$BATS_TEST_TMPDIR/in"
	pgflo-checkpoint -t -s "$S" < "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	stored commit_lsn '0/60'
}

@test "checkpoint: PGFLO_MAX_RECORD caps a line, naming it" {
	printf '{"op":"insert","v":"%s"}\n' "$(head -c 3000 /dev/zero | tr '\0' y)" \
		> "$BATS_TEST_TMPDIR/in"
	PGFLO_MAX_RECORD=1k run -1 --separate-stderr pgflo-checkpoint -s "$S" \
		< "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:1: record exceeds the limit of 1024 bytes (PGFLO_MAX_RECORD)"
}

@test "checkpoint: an unterminated last line is accepted; empty lines skipped" {
	run -0 bash -c "printf '\n\n{\"op\":\"position\",\"commit_lsn\":\"0/70\",\"ordinal\":1}' |
		pgflo-checkpoint -s $S"
	stored commit_lsn '0/70'
}

@test "checkpoint: | head -n1 ends at once with empty stderr" {
	run -0 --separate-stderr bash -c "yes '{\"op\":\"insert\"}' | pgflo-checkpoint -t -s $S | head -n1"
	assert_output '{"op":"insert"}'
	assert_equal "$stderr" ""
}

@test "checkpoint: >/dev/full exits 1 with a write error" {
	run -1 --separate-stderr bash -c "$(declare -f pos); pos 0/80 1 | pgflo-checkpoint -t -s $S >/dev/full"
	assert_equal "$stderr" "pgflo-checkpoint: write error: No space left on device"
}

@test "checkpoint: SIGTERM stores the pending position and exits 0" {
	# Timer only, -i 1h: the first is stored at once, the second waits.
	PGFLO_GROUP_COMMIT=0 ckpt_on_fifo -i 1h -s "$S"
	pos 0/90 1 >&4
	pos 0/91 1 >&4
	for _ in $(seq 50); do
		[ "$(pgflo-checkpoint -g "$S" -f commit_lsn 2>/dev/null)" = 0/90 ] && break
		sleep 0.1
	done
	sleep 0.2
	kill -TERM "$pid"
	ended_with 0/91
	exec 4>&-
}

@test "checkpoint: --interval stores while upstream is quiet" {
	quiet_stores 1 0/A0 0/A1 -i 300ms
}

@test "checkpoint: a position is stored once input is quiet, not on -i's timer" {
	# Group save: -i 1h bounds a busy input only; 0/A3 is stored at once.
	quiet_stores 1 0/A2 0/A3 -i 1h
}

@test "checkpoint: PGFLO_GROUP_COMMIT=0 stores on -i's timer alone" {
	PGFLO_GROUP_COMMIT=0 ckpt_on_fifo -i 1h -s "$S"
	pos 0/A4 1 >&4
	pos 0/A5 1 >&4
	sleep 1
	stored commit_lsn 0/A4
	exec 4>&-
	wait "$pid"
	stored commit_lsn 0/A5
}

@test "checkpoint: kill -9 while saving leaves the old or the new position" {
	gen() { local i; for i in $(seq 1 20000); do
		printf '{"op":"position","commit_lsn":"0/%X","ordinal":1}\n' "$i"; done; }
	gen > "$BATS_TEST_TMPDIR/in"
	for round in 1 2 3 4 5; do
		pgflo-checkpoint -i 0 -s "$S" < "$BATS_TEST_TMPDIR/in" 3>&- &
		pid=$!
		sleep "0.0$((round * 3))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
		if [ -e "$S" ]; then
			run -0 pgflo-checkpoint -g "$S"
			assert_output --regexp '^\{"op":"position","commit_lsn":"0/[0-9A-F]+","ordinal":1\}$'
		fi
	done
}

@test "checkpoint: usage errors exit 2" {
	run -2 --separate-stderr pgflo-checkpoint
	[[ "$stderr" == "pgflo-checkpoint: give exactly one of --save or --get"* ]]
	run -2 --separate-stderr pgflo-checkpoint -s a -g b
	run -2 --separate-stderr pgflo-checkpoint -g a -f nope
	[[ "$stderr" == "pgflo-checkpoint: invalid field: nope"* ]]
	[[ "$stderr" == *"
usage: pgflo-checkpoint "*"
Try 'pgflo-checkpoint --help' for more information." ]]
	run -2 --separate-stderr pgflo-checkpoint -s a -i soon
	[ "${stderr_lines[0]}" = "pgflo-checkpoint: invalid interval: soon" ]
	[ "${stderr_lines[-1]}" = "Try 'pgflo-checkpoint --help' for more information." ]
	run -2 --separate-stderr pgflo-checkpoint -g redis:x
	[[ "$stderr" == *"unknown checkpoint store kind in redis:x"* ]]
	PGFLO_CHECKPOINT_INTERVAL=zz run -2 --separate-stderr pgflo-checkpoint -s a
}

@test "checkpoint: PGFLO_CHECKPOINT_INTERVAL is the default --interval" {
	PGFLO_CHECKPOINT_INTERVAL=0 quiet_stores 0.5 0/B0 0/B1
}

@test "checkpoint: the man page examples that need no server work" {
	cd "$BATS_TEST_TMPDIR"
	run -0 bash -c "echo '{\"op\":\"position\",\"commit_lsn\":\"0/1A2B3D00\",\"ordinal\":4}' |
		pgflo-checkpoint -s file:p.pos && pgflo-checkpoint -g file:p.pos -f commit_lsn"
	assert_output '0/1A2B3D00'
	run -0 pgflo-checkpoint -g file:orders.pos -f commit_lsn --default 0/0
	assert_output '0/0'
}

@test "checkpoint: after SIGINT it reads on to EOF and stores the last position" {
	ckpt_on_fifo -s "$S"
	pos 0/B0 1 >&4
	sleep 0.3
	# Ctrl-C reaches every stage; the sink's last position comes after it.
	kill -INT "$pid"
	sleep 0.3
	(pos 0/B1 1 >&4) 2>/dev/null || true
	exec 4>&-
	ended_with 0/B1
}

@test "checkpoint: after SIGTERM an upstream that never ends gets 2 s" {
	PGFLO_GROUP_COMMIT=0 ckpt_on_fifo -i 1h -s "$S"
	pos 0/C0 1 >&4
	pos 0/C1 1 >&4
	sleep 0.3
	kill -TERM "$pid"
	t0=$EPOCHREALTIME
	st=0
	wait "$pid" || st=$?
	t1=$EPOCHREALTIME
	exec 4>&-
	assert_equal "$st" 0
	stored commit_lsn '0/C1'
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	echo "exited ${ms} ms after SIGTERM"
	[ "$ms" -ge 1500 ] && [ "$ms" -le 6000 ]
}

@test "checkpoint --tee: a reader gone with no input flowing ends it with 141" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	exec 4<>"$BATS_TEST_TMPDIR/fifo"	# a writer that stays, and sends nothing
	t0=$EPOCHREALTIME
	run bash -c 'timeout 10 pgflo-checkpoint -t -s "$1" <"$2" | sleep 0.5
		echo "${PIPESTATUS[0]}"' _ "$S" "$BATS_TEST_TMPDIR/fifo"
	t1=$EPOCHREALTIME
	exec 4>&-
	assert_output 141
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	echo "took ${ms} ms"
	[ "$ms" -le 4000 ]
}

@test "checkpoint: without --tee a closed stdout is no reason to stop" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run -0 bash -c '{ sleep 1.5; echo "{\"op\":\"position\",\"commit_lsn\":\"0/D0\",\"ordinal\":1}"; } |
		pgflo-checkpoint -s "$1" | true; echo "${PIPESTATUS[1]}"' _ "$S"
	assert_output 0
	stored commit_lsn '0/D0'
}

@test "checkpoint: a symlink at PATH.tmp is never written through" {
	echo 'precious' > "$BATS_TEST_TMPDIR/victim"
	ln -s "$BATS_TEST_TMPDIR/victim" "$S.tmp"
	run -0 bash -c "$(declare -f pos); pos 0/C0 1 | pgflo-checkpoint -s file:$S"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/victim")" 'precious'
	run -0 pgflo-checkpoint -g "file:$S"
	assert_output '{"op":"position","commit_lsn":"0/C0","ordinal":1}'
	# Only the store and the planted symlink are there: no temporary left.
	run -0 bash -c "cd $BATS_TEST_TMPDIR && ls -A | grep -v victim"
	assert_output "cp
cp.tmp"
}

@test "checkpoint: a failed store leaves no temporary file behind" {
	# A file size limit of 0 fails the write into the temporary file;
	# stderr goes through a pipe, which the limit does not cover.
	run -1 bash -c "set -o pipefail; $(declare -f pos); pos 0/C1 1 |
		(trap '' XFSZ; ulimit -f 0; exec pgflo-checkpoint -s file:$S) 2>&1 | cat"
	assert_output --regexp "^pgflo-checkpoint: could not write checkpoint $S\.tmp[.0-9]*: File too large\$"
	run -0 ls -A "$BATS_TEST_TMPDIR"
	assert_output ''
}

@test "checkpoint: commit_lsn and stream_seq are kept side by side, neither moving back" {
	printf '%s\n' '{"op":"position","commit_lsn":"0/20","ordinal":3}' \
		'{"op":"position","stream_seq":42}' \
		'{"op":"position","commit_lsn":"0/30","ordinal":1}' \
		'{"op":"position","stream_seq":41}' \
		'{"op":"position","commit_lsn":"0/25","ordinal":9,"stream_seq":43}' |
		pgflo-checkpoint -i 0 -s "$S"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/30","ordinal":1,"stream_seq":43}'
	stored commit_lsn '0/30'
	stored stream_seq '43'
	# A later run starts from both, each kind on its own.
	printf '%s\n' '{"op":"position","stream_seq":40}' \
		'{"op":"position","commit_lsn":"0/31","ordinal":1,"stream_seq":7}' |
		pgflo-checkpoint -s "$S"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/31","ordinal":1,"stream_seq":43}'
}

@test "checkpoint: the stored document holds each kind, the group and the copy progress" {
	printf '%s\n' \
		'{"op":"snapshot","phase":"end","schema":"public","table":"t","slot":"s","lsn":"0/10","rows":2}' \
		'{"op":"position","commit_lsn":"0/2a","ordinal":2,"group":"g1","extra":1}' \
		'{"op":"position","stream_seq":5}' \
		'{"op":"snapshot","phase":"done","slot":"s","lsn":"0/10"}' |
		pgflo-checkpoint -s "$S"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/2A","ordinal":2,"stream_seq":5,"group":"g1","copy":{"slot":"s","done":true,"tables":[{"schema":"public","table":"t","lsn":"0/10","rows":2}],"lsn":"0/10"}}'
}

@test "checkpoint: a 2 MiB group is refused naming its line; the store stays readable" {
	{ pos 0/D0 1
	  printf '{"op":"position","commit_lsn":"0/D1","ordinal":1,"group":"%s"}\n' \
		"$(head -c 2097152 /dev/zero | tr '\0' g)"
	  pos 0/D2 1; } > "$BATS_TEST_TMPDIR/in"
	run -1 --separate-stderr pgflo-checkpoint -i 0 -s "$S" < "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:2: malformed position record: "group" is longer than 1024 bytes'
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/D0","ordinal":1}'
	run -0 --separate-stderr pgflo-checkpoint -s "$S" \
		--dead-letter "$BATS_TEST_TMPDIR/dl" < "$BATS_TEST_TMPDIR/in"
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","commit_lsn":"0/D2","ordinal":1}'
	sed -n 2p "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/dl"
	run -1 --separate-stderr bash -c "echo '{\"op\":\"position\",\"stream_seq\":3,\"group\":7}' |
		pgflo-checkpoint -s $S"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:1: malformed position record: "group" is not a string'
}

@test "checkpoint: copy progress that would outgrow the store is refused; the store stays readable" {
	n63=$(printf 'n%.0s' $(seq 63))
	awk -v n="$n63" 'BEGIN { print "{\"op\":\"position\",\"stream_seq\":1}"
		for (i = 1; i <= 7000; i++)
		printf "{\"op\":\"snapshot\",\"phase\":\"end\",\"schema\":\"%s\",\"table\":\"%s%05d\",\"slot\":\"s\",\"lsn\":\"0/10\",\"rows\":1}\n",
		    n, substr(n, 1, 58), i }' > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr pgflo-checkpoint -s "$S" --dead-letter "$BATS_TEST_TMPDIR/dl" \
		< "$BATS_TEST_TMPDIR/in"
	first=$(grep -c . "$BATS_TEST_TMPDIR/dl")
	[ "$first" -gt 0 ]
	[[ "${stderr%%$'\n'*}" == "pgflo-checkpoint: <stdin>:"*": snapshot record not kept: copy progress would outgrow the 1048576 bytes a store holds (written to $BATS_TEST_TMPDIR/dl)" ]]
	[ "$(stat -c %s "$S")" -le 1048576 ]
	run -0 bash -c "pgflo-checkpoint -g $S | jq '.copy.tables | length'"
	assert_equal "$((output + first))" 7000
	# A snapshot record naming more than PostgreSQL can is refused.
	run -1 --separate-stderr bash -c "echo '{\"op\":\"snapshot\",\"phase\":\"end\",\"schema\":\"public\",\"table\":\"${n63}x\",\"slot\":\"s\",\"lsn\":\"0/10\"}' |
		pgflo-checkpoint -s $S.2"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:1: snapshot record whose "table" is longer than 63 bytes'
}

@test "checkpoint: --tee passes numbers beyond int64 and double through untouched" {
	printf '%s\n' \
		'{"op":"insert","schema":"public","table":"t","commit_lsn":"0/E0","ordinal":1,"types":{"j":"jsonb"},"new":{"j":{"n":123456789012345678901234567890}}}' \
		'{"op":"insert","schema":"public","table":"t","commit_lsn":"0/E0","ordinal":2,"types":{"j":"json"},"new":{"j":[1e400,-1E-400,0.1000000000000000000001]}}' \
		'{"op":"message","content":"caf\u00e9 \ud83d\ude00 日本"}' \
		'{"op":"position","commit_lsn":"0/E0","ordinal":2}' > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr bash -c "pgflo-checkpoint -t -s $S < $BATS_TEST_TMPDIR/in > $BATS_TEST_TMPDIR/out"
	assert_equal "$stderr" ''
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	stored commit_lsn '0/E0'
}

@test "checkpoint: a NUL byte after a number and 513 nesting levels are invalid JSON" {
	run -1 --separate-stderr bash -c "printf '{\"op\":\"position\",\"commit_lsn\":\"0/F0\",\"ordinal\":5\\0}\\n' |
		pgflo-checkpoint -s $S"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:1: invalid JSON: a NUL byte (column 49)'
	[ ! -e "$S" ]
	deep() { printf '{"op":"insert","v":'; printf '[%.0s' $(seq "$1"); printf ']%.0s' $(seq "$1"); printf '}\n'; }
	# The object and 511 arrays: 512 levels, accepted.
	run -0 bash -c "$(declare -f deep); deep 511 | pgflo-checkpoint -s $S"
	run -1 --separate-stderr bash -c "$(declare -f deep); deep 512 | pgflo-checkpoint -s $S"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:1: invalid JSON: nested more than 512 levels deep'
	run -1 --separate-stderr bash -c "echo '{\"op\":\"insert\",\"op\":\"position\",\"stream_seq\":1}' |
		pgflo-checkpoint -s $S"
	assert_equal "$stderr" 'pgflo-checkpoint: <stdin>:1: record has more than one "op"'
}

@test "checkpoint: PGFLO_MAX_RECORD with --dead-letter sets an over-long line aside whole and goes on" {
	y=$(head -c 3000 /dev/zero | tr '\0' y)
	{ pos 0/60 1; printf '{"op":"insert","v":"%s"}\n' "$y"; pos 0/61 1
	  printf '{"op":"position","commit_lsn":"0/62","ordinal":1,"v":"%s"}' "$y"; } \
		> "$BATS_TEST_TMPDIR/in"
	PGFLO_MAX_RECORD=1k run -0 --separate-stderr pgflo-checkpoint -t -v -s "$S" \
		--dead-letter "$BATS_TEST_TMPDIR/dl" < "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "pgflo-checkpoint: <stdin>:2: record exceeds the limit of 1024 bytes (PGFLO_MAX_RECORD) (written to $BATS_TEST_TMPDIR/dl)
pgflo-checkpoint: <stdin>:4: record exceeds the limit of 1024 bytes (PGFLO_MAX_RECORD) (written to $BATS_TEST_TMPDIR/dl)
pgflo-checkpoint: stored position 0/61:1 in $BATS_TEST_TMPDIR/cp
pgflo-checkpoint: 2 bad lines written to $BATS_TEST_TMPDIR/dl"
	assert_equal "$output" '{"op":"position","commit_lsn":"0/60","ordinal":1}
{"op":"position","commit_lsn":"0/61","ordinal":1}'
	run -0 bash -c "{ sed -n 2p $BATS_TEST_TMPDIR/in; sed -n 4p $BATS_TEST_TMPDIR/in; echo; } |
		cmp - $BATS_TEST_TMPDIR/dl"
	stored commit_lsn '0/61'
}

@test "checkpoint: an over-long line is streamed to the dead-letter file, not held in memory" {
	{ printf '{"op":"insert","v":"'; head -c 64000000 /dev/zero | tr '\0' w; printf '"}\n'
	  pos 0/63 1; } > "$BATS_TEST_TMPDIR/in"
	PGFLO_MAX_RECORD=1M run -0 --separate-stderr /usr/bin/time -f 'rss %M' \
		pgflo-checkpoint -s "$S" --dead-letter "$BATS_TEST_TMPDIR/dl" < "$BATS_TEST_TMPDIR/in"
	echo "$stderr"
	rss=${stderr##*rss }
	[ "$rss" -lt 48000 ]
	head -n 1 "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/dl"
	stored commit_lsn '0/63'
}

@test "checkpoint: a bad snapshot record leaves the copy progress as it was" {
	printf '%s\n' \
		'{"op":"snapshot","phase":"end","schema":"public","table":"t","slot":"s","lsn":"0/10","rows":2}' \
		'{"op":"snapshot","phase":"end","slot":"other","lsn":"0/20"}' \
		'{"op":"position","stream_seq":2}' |
		pgflo-checkpoint -s "$S" --dead-letter "$BATS_TEST_TMPDIR/dl" 2>/dev/null
	run -0 pgflo-checkpoint -g "$S"
	assert_output '{"op":"position","stream_seq":2,"copy":{"slot":"s","done":false,"tables":[{"schema":"public","table":"t","lsn":"0/10","rows":2}]}}'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/dl")" '{"op":"snapshot","phase":"end","slot":"other","lsn":"0/20"}'
}
