#!/usr/bin/env bats
# The fault campaign (scripts/chaos) in short: 20 faults, every kind at
# least once, under pgbench and mixed-type writes; then nothing lost,
# nothing duplicated, every table md5-equal.  And the campaign's own
# checks: a change taken away after the run is counted as lost.
# The script starts its own servers.  CHAOS_SEED picks another schedule.

load test_helper

# The campaign's summary, from "== chaos summary" on.
summary() {
	sed -n '/^== chaos summary/,$p' <<<"$output"
}

@test "chaos: 20 faults of every kind under writes: lost 0, duplicated 0, every table md5-equal" {
	run -0 "$TOP/scripts/chaos" --faults 20 --duration 55 --seed "${CHAOS_SEED:-2026}" --rate 15
	summary >&3
	run -0 summary
	assert_line "lost 0, duplicated 0"
	assert_line "chaos: ok"
	assert_line --regexp '^  total +20$'
	for k in kill-capture kill-publish kill-checkpoint kill-consume kill-rule \
		kill-sink-pg kill-sink-http kill-nats term-walsender \
		term-sink-backend restart-src restart-dst; do
		assert_line --regexp "^  $k +[1-9]$"
	done
	for t in pgbench_accounts pgbench_branches pgbench_tellers \
		pgbench_history mixed keyless; do
		assert_line --regexp "^  $t +[0-9]+ [0-9a-f]{32} +same$"
	done
	assert_line --regexp '^  stream +[1-9][0-9]* changes, lost 0, duplicated 0$'
	assert_line --regexp '^  webhook +[1-9][0-9]* changes \([0-9]+ redelivered\), lost 0, duplicated 0 after dedup$'
	assert_line '  target                 0 rows missing, 0 extra'
	assert_line --regexp '^  converged +[0-9.]+s after the last fault$'
	# The writer wrote, and the stream holds exactly what the source made.
	changes=$(sed -n 's/^  rows written *\([0-9]*\) changes.*/\1/p' <<<"$output")
	[ "$changes" -gt 500 ]
	assert_line --regexp "^  stream +$changes changes, "
}

@test "chaos: a row taken from the target and a change from the webhook after the run are counted and shown" {
	run -1 env CHAOS_SABOTAGE=1 "$TOP/scripts/chaos" --faults 1 --duration 3 --seed 7 --rate 15
	# A failed campaign keeps its logs: not this one's.
	kept=$(sed -n 's|^chaos: logs kept in \(/tmp/pgflo-chaos\.[A-Za-z0-9]*\)$|\1|p' <<<"$output")
	[ -n "$kept" ] && rm -rf -- "$kept"
	run -0 summary
	assert_line "lost 2, duplicated 0"
	assert_line '  target                 1 rows missing, 0 extra'
	assert_line --regexp '^  keyless +[0-9]+ [0-9a-f]{32} +DIFFERENT: target [0-9]+ [0-9a-f]{32}, 1 rows missing, 0 extra$'
	assert_line --regexp '^  webhook +[0-9]+ changes \([0-9]+ redelivered\), lost 1, duplicated 0 after dedup$'
	assert_line --regexp '^  stream +[0-9]+ changes, lost 0, duplicated 0$'
	assert_line "chaos: FAILED; the differences:"
	assert_line --partial "keyless: rows of the source the target lacks (first 5):"
	assert_line --regexp '^webhook: missing \('
}
