#!/usr/bin/env bats
# The command-line contract every tool keeps (STYLE.md 6.3): --help on
# stdout with nothing on stderr and lines of at most 80 columns,
# --version, and status 2 with "pgflo-xxx:" or "usage:" for a bad option.
# Every bin/pgflo-* is checked, so a new tool joins by being built; so is
# bin/pgflo, the front end that runs pg_flo's commands.

load test_helper

tools() {
	local t
	for t in "$TOP"/bin/pgflo "$TOP"/bin/pgflo-*; do
		[ -x "$t" ] && basename "$t"
	done
}

@test "cli: every tool in tools/ was built" {
	local src
	for src in "$TOP"/tools/pgflo-*.c; do
		[ -x "$TOP/bin/$(basename "$src" .c)" ] ||
			fail "$(basename "$src" .c) was not built"
	done
}

@test "cli: --help exits 0, writes stdout only, lines <= 80 columns" {
	local t
	for t in $(tools); do
		run --separate-stderr "$t" --help
		[ "$status" -eq 0 ] || fail "$t --help: status $status"
		[ -z "$stderr" ] || fail "$t --help wrote to stderr: $stderr"
		[ -n "$output" ] || fail "$t --help printed nothing"
		local long
		long=$(printf '%s\n' "$output" | awk 'length > 80')
		[ -z "$long" ] || fail "$t --help has lines over 80 columns: $long"
		[[ "$output" == *"$t"* ]] || fail "$t --help does not name the tool"
	done
}

@test "cli: -h is --help" {
	local t
	for t in $(tools); do
		run --separate-stderr "$t" -h
		[ "$status" -eq 0 ] || fail "$t -h: status $status"
		[ -z "$stderr" ] || fail "$t -h wrote to stderr"
	done
}

@test "cli: --version prints 'pgflo-xxx (pgflo) VERSION'" {
	local t v
	v=$(cat "$TOP/VERSION")
	for t in $(tools); do
		run --separate-stderr "$t" --version
		[ "$status" -eq 0 ] || fail "$t --version: status $status"
		[ "$output" = "$t (pgflo) $v" ] || fail "$t --version: $output"
		run --separate-stderr "$t" -V
		[ "$output" = "$t (pgflo) $v" ] || fail "$t -V: $output"
	done
}

@test "cli: an unknown option exits 2 with the tool's name and usage" {
	local t
	for t in $(tools); do
		run --separate-stderr "$t" --no-such-option
		[ "$status" -eq 2 ] || fail "$t: status $status"
		[[ "$stderr" == "$t: "* || "$stderr" == "usage: "* ]] ||
			fail "$t: stderr starts with: ${stderr:0:60}"
		[[ "$stderr" == *"usage: $t"* ]] || fail "$t: no usage line"
		[[ "$stderr" == *"Try '$t --help'"* ]] || fail "$t: no --help hint"
		[ -z "$output" ] || fail "$t wrote to stdout: $output"
	done
}

@test "cli: every tool has a lint-clean man page" {
	local t
	for t in $(tools); do
		[ -f "$TOP/man/$t.1" ] || fail "no man page man/$t.1"
	done
	run mandoc -Tlint -Wwarning "$TOP"/man/*.[157]
	[ "$status" -eq 0 ] || fail "mandoc -Tlint: $output"
}

@test "cli: help and man page mention the same long options" {
	local t opt
	for t in $(tools); do
		for opt in $("$t" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			grep -q -- "${opt#--}" "$TOP/man/$t.1" ||
				fail "$t: $opt is in --help but not in man/$t.1"
		done
	done
}

@test "cli: make install puts every tool and page under DESTDIR/PREFIX" {
	local d="$BATS_TEST_TMPDIR/root" t
	run -0 make -s -C "$TOP" install DESTDIR="$d" PREFIX=/opt/pgflo
	for t in $(tools); do
		[ -x "$d/opt/pgflo/bin/$t" ] || fail "$t not installed"
		[ -f "$d/opt/pgflo/share/man/man1/$t.1" ] || fail "$t.1 not installed"
	done
	[ -f "$d/opt/pgflo/share/man/man5/pgflo-record.5" ]
	[ -f "$d/opt/pgflo/share/man/man7/pgflo.7" ]
	# The runner, the units and their example, where pgflo(7) says.
	[ -x "$d/opt/pgflo/bin/pgflo-run" ]
	for t in replicator worker; do
		[ -f "$d/opt/pgflo/lib/systemd/system/pgflo-$t@.service" ] ||
			fail "pgflo-$t@.service not installed"
	done
	[ -f "$d/opt/pgflo/share/doc/pgflo/example.env" ]
	grep -q 'Pa $PREFIX/lib/systemd/system' "$TOP/man/pgflo.7"
	grep -q 'Pa $PREFIX/share/doc/pgflo/example.env' "$TOP/man/pgflo.7"
	run -0 make -s -C "$TOP" install DESTDIR="$d/s" PREFIX=/usr \
		SYSTEMDDIR=/etc/systemd/system
	[ -f "$d/s/etc/systemd/system/pgflo-worker@.service" ]
	rm -rf "$d/s"
	run -0 make -s -C "$TOP" uninstall DESTDIR="$d" PREFIX=/opt/pgflo
	[ -z "$(find "$d" -type f)" ]
}

@test "cli: a malformed connection string is a usage error, not a lost server" {
	local t
	for t in "pgflo-capture -S s" "pgflo-copy -S s -t public.t" pgflo-sink-pg; do
		run -2 --separate-stderr $t -d "bogus=1"
		t=${t%% *}
		[[ "$stderr" == "$t: bad connection string: invalid connection option \"bogus\""* ]] ||
			fail "$t: $stderr"
	done
}

# The exit statuses a tool's --help lists, one a line, sorted: every number
# from its "Exit status:" line to the end of the help.
help_codes() {
	"$1" --help | sed -n '/^Exit status:/,$p' | grep -o '[0-9][0-9]*' | sort -un
}

# The same from the .It lines of the EXIT STATUS section of its man page.
man_codes() {
	sed -n '/^\.Sh EXIT STATUS/,/^\.Sh /p' "$TOP/man/$1.1" |
		grep '^\.It ' | grep -o '[0-9][0-9]*' | sort -un
}

@test "cli: --help and the man page list the same exit statuses" {
	local t h m
	for t in $(tools); do
		"$t" --help | grep -q '^Exit status: 0 ' ||
			fail "$t --help has no 'Exit status: 0 ...' line"
		h=$(help_codes "$t" | tr '\n' ' ')
		m=$(man_codes "$t" | tr '\n' ' ')
		[ -n "$m" ] || fail "man/$t.1 lists no exit status"
		[ "$h" = "$m" ] || fail "$t: --help lists '$h', man/$t.1 '$m'"
		# The statuses of STYLE.md 6.1, and the reader's death, everywhere.
		[[ " $m" == " 0 1 2 "* && " $m" == *" 141 "* ]] ||
			fail "$t: '$m' lacks 0, 1, 2 or 141"
	done
}

@test "cli: every man page says the same about 141 and about SIGINT/SIGTERM" {
	local t item
	for t in $(tools); do
		item=$(sed -n '/^\.Sh EXIT STATUS/,/^\.Sh /p' "$TOP/man/$t.1" |
			sed -n '/^\.It 141$/,/^\.\(It\|El\)/p' | sed -n 2,3p)
		[ "$item" = "The reader of standard output went away
.Pq Dv SIGPIPE ." ] || fail "man/$t.1: 141 says: $item"
		case $t in
		pgflo-copy | pgflo-rule | pgflo-schema | pgflo-status)
			# Death by the signal, deliberately: 130, 143.
			man_codes "$t" | grep -qx 130 || fail "$t: no 130"
			man_codes "$t" | grep -qx 143 || fail "$t: no 143" ;;
		*)
			# A clean stop is 0, also when the next stage went first.
			sed -n '/^\.Sh EXIT STATUS/,/^\.It 1$/p' "$TOP/man/$t.1" |
				grep -q SIGTERM || fail "$t: 0 does not name SIGTERM"
			sed -n '/^\.It 141$/,/^\.El/p' "$TOP/man/$t.1" |
				tr '\n' ' ' | grep -q 'SIGTERM it is a clean stop instead: status 0' ||
				fail "$t: 141 does not say a stop is 0" ;;
		esac
	done
}

@test "cli: a password in -d is warned about, never echoed" {
	local cmd t d pw=Sekr1tPw
	for cmd in "pgflo-capture -S s" "pgflo-copy -S s -t public.t" pgflo-sink-pg; do
		t=${cmd%% *}
		for d in "host=127.0.0.1 port=1 user=u password=$pw connect_timeout=2" \
			"postgresql://u:$pw@127.0.0.1:1/db?connect_timeout=2"; do
			run -3 --separate-stderr $cmd -d "$d"
			[ "${stderr_lines[0]}" = "$t: warning: the connection string given with -d holds a password, visible to other users in ps; use PGPASSWORD, ~/.pgpass or a service file" ] ||
				fail "$t: $stderr"
			[[ ${stderr_lines[1]} == "$t: could not connect: "* ]] ||
				fail "$t: $stderr"
			[[ $stderr != *"$pw"* ]] || fail "$t echoed the password: $stderr"
		done
	done
	# No password, no warning.
	run -3 --separate-stderr pgflo-sink-pg -d "host=127.0.0.1 port=1 password='' connect_timeout=2"
	[[ $stderr != *warning* ]] || fail "$stderr"
}
