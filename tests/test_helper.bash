# Shared by every tests/*.bats file: `load test_helper` at the top.
#
# Provides
#   TOP             the repository root (exported); $TOP/bin is first in PATH
#   pg_start        in setup_file: a throwaway PostgreSQL 15 cluster
#                   (scripts/test-pg) in $BATS_FILE_TMPDIR/pg; exports PGHOST
#                   PGPORT PGUSER PGDATABASE PGPASSFILE PGFLO_TEST_PGDIR
#                   PGFLO_TEST_SOCKDIR PGFLO_SRC PGFLO_DST PGFLO_ADMIN
#   pg_stop         in teardown_file
#   nats_start      in setup_file: nats-server with JetStream
#                   (scripts/test-nats) in $BATS_FILE_TMPDIR/nats; exports
#                   PGFLO_NATS_URL and PGFLO_TEST_NATSDIR
#   nats_stop       in teardown_file
#   DUMP            tests/nats-dump, which reads a stream back as records
#   gen N           N synthetic transactions (1, 1, 3, 10 inserts) as
#                   capture writes them, in commit order
#   ckpt_on_fifo ARG...  pgflo-checkpoint ARGs in the background as $pid,
#                   reading a fifo that fd 4 writes
#   psql_src, psql_dst, psql_admin  psql -X -q -At with ON_ERROR_STOP on the
#                   src, dst or postgres database; extra arguments are
#                   passed on (`psql_src -c 'select 1'`), or SQL on stdin
#
# Server binaries missing is an error, not a skip: scripts/install-deps
# installs them. Unix sockets never go into bats' tmpdirs (too long a path);
# test-pg keeps its socket in a short /tmp/pgfloXXXXXX.

bats_require_minimum_version 1.7.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
export TOP
PATH="$TOP/bin:$PATH"
DUMP=$TOP/tests/nats-dump
export PATH

# fd 3 is bats' TAP stream: the daemons must not inherit it, or bats waits
# for them. The scripts close it too; this is belt and braces.
pg_start() {
	"$TOP/scripts/test-pg" start "$BATS_FILE_TMPDIR/pg" 3>&- || return 1
	. "$BATS_FILE_TMPDIR/pg/env"
}

pg_stop() {
	"$TOP/scripts/test-pg" stop "$BATS_FILE_TMPDIR/pg" 3>&-
}

nats_start() {
	"$TOP/scripts/test-nats" start "$BATS_FILE_TMPDIR/nats" 3>&- || return 1
	. "$BATS_FILE_TMPDIR/nats/nats.env"
}

nats_stop() {
	"$TOP/scripts/test-nats" stop "$BATS_FILE_TMPDIR/nats" 3>&-
}

psql_src() {
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$PGFLO_SRC" "$@"
}

psql_dst() {
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$PGFLO_DST" "$@"
}

psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 -At -d "$PGFLO_ADMIN" "$@"
}

# Starts pgflo-checkpoint ARGS in the background as $pid, reading a fifo
# that fd 4 writes.
ckpt_on_fifo() {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	pgflo-checkpoint "$@" <"$BATS_TEST_TMPDIR/fifo" 3>&- &
	pid=$!
	exec 4>"$BATS_TEST_TMPDIR/fifo"
}

# N synthetic transactions of 1, 1, 3 and 10 inserts, in commit order.
gen() {
	awk -v n="$1" 'BEGIN {
		lsn = 16777216
		for (t = 1; t <= n; t++) {
			k = t % 4 == 0 ? 10 : (t % 4 == 3 ? 3 : 1)
			lsn += 4096
			l = sprintf("0/%X", lsn)
			printf "{\"op\":\"begin\",\"commit_lsn\":\"%s\",\"ordinal\":0,\"xid\":%d}\n", l, t
			for (i = 1; i <= k; i++)
				printf "{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"t%d\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d,\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"v\":\"text\"},\"new\":{\"id\":%d,\"v\":\"padding-padding-padding-padding\"}}\n", i % 3, l, i, t, t * 100 + i
			printf "{\"op\":\"commit\",\"commit_lsn\":\"%s\",\"ordinal\":%d,\"xid\":%d}\n", l, k + 1, t
		}
	}'
}
