#!/usr/bin/env bats
# A short run of scripts/fuzz-sink-pg: mutated change streams through
# pgflo-sink-pg, with the properties the script checks (its header).
# FUZZ_SECONDS sets the length (default 20 s here too).

load test_helper

@test "fuzz-sink-pg: mutated streams give documented exits, named lines, whole transactions, true positions" {
	run --separate-stderr env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" "$TOP/scripts/fuzz-sink-pg"
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "$stderr" "$output" >&2
	fi
	assert_success
	[[ $output =~ ^fuzz-sink-pg:\ [1-9][0-9]*\ streams,\ [0-9]+\ lines,\ 0\ failures ]]
}
