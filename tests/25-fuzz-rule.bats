#!/usr/bin/env bats
# A short run of scripts/fuzz's rule target, so that `make check` (and
# CI's SANITIZE=1 run) fuzzes pgflo-rule: mutated seed records through
# several rule sets, checking the exit status, that every rejected line
# is named, that -k and --dead-letter account for every line, and that a
# masked value never shows.  `make fuzz` runs it longer.

load test_helper

@test "fuzz: pgflo-rule keeps its properties on mutated records" {
	run -0 --separate-stderr env FUZZ_SECONDS="${FUZZ_SECONDS:-15}" \
		"$TOP/scripts/fuzz" rule
	[[ "$output" == "fuzz: rule: "*" runs, "*": ok" ]] || { echo "$stderr"; false; }
}

@test "fuzz: the driver refuses an unknown target" {
	run -2 --separate-stderr "$TOP/scripts/fuzz" nosuchtool
	[ "$stderr" = "usage: scripts/fuzz [checkpoint | format | rule | sink-pg ...]" ]
}
