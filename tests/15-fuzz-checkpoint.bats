#!/usr/bin/env bats
# A short run of scripts/fuzz-checkpoint: mutated position, snapshot and
# change records through pgflo-checkpoint --save, checked against the
# properties its page promises (see the script).  FUZZ_SECONDS and
# FUZZ_SEED pass through; a failure prints the seed to run it again with.

load test_helper

@test "fuzz: pgflo-checkpoint --save keeps its promises on mutated input" {
	command -v python3 >/dev/null || skip "python3 is not installed"
	run --separate-stderr "$TOP/scripts/fuzz-checkpoint" \
		-s "${FUZZ_SECONDS:-15}" --bin "$TOP/bin/pgflo-checkpoint" \
		--keep "$BATS_TEST_TMPDIR/case"
	# The seed and the case to replay it with, when it fails.
	[ "$status" -eq 0 ] || fail "$stderr"
	[[ "$output" == "fuzz-checkpoint: seed "*"every property held" ]]
}

@test "fuzz: the checkpoint fuzzer finds a planted fault" {
	# A pgflo-checkpoint that loses the first bad line's number.
	cat > "$BATS_TEST_TMPDIR/fake" <<-'EOS'
	#!/bin/sh
	"$TOP/bin/pgflo-checkpoint" "$@" 2>"$0.err"; st=$?
	sed 's/<stdin>:[0-9]*:/<stdin>:0:/' "$0.err" >&2
	exit $st
	EOS
	chmod +x "$BATS_TEST_TMPDIR/fake"
	FUZZ_SEED=1 run -1 --separate-stderr "$TOP/scripts/fuzz-checkpoint" -s 5 \
		--bin "$BATS_TEST_TMPDIR/fake" --keep "$BATS_TEST_TMPDIR/case"
	[[ "$stderr" == "fuzz-checkpoint: seed 1, run "*": "*"
fuzz-checkpoint: the case is in $BATS_TEST_TMPDIR/case (replay.sh)" ]]
	[ -x "$BATS_TEST_TMPDIR/case/replay.sh" ]
	[ -s "$BATS_TEST_TMPDIR/case/input.ndjson" ]
}
