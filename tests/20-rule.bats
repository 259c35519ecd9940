#!/usr/bin/env bats
# pgflo-rule: inline rules, pg_flo's rules and routing YAML files,
# type-directed comparisons, UTF-8 masks, errors, and the record I/O
# contract (bad lines, long lines, EPIPE, write errors).  No server.

load test_helper

FX="$BATS_TEST_DIRNAME/fixtures/rule"

# One insert into public.t with a single column c of type TYPE.
row() {	# row TYPE JSONVALUE
	printf '{"op":"insert","schema":"public","table":"t","key":["c"],"types":{"c":"%s"},"new":{"c":%s}}\n' "$1" "$2"
}

# pass or drop: does `--filter FILTER` keep the row?
verdict() {	# verdict TYPE JSONVALUE FILTER
	local out
	out=$(row "$1" "$2" | pgflo-rule -w "$3" 2>/dev/null) || return 1
	if [ -n "$out" ]; then echo pass; else echo drop; fi
}

# Reads TYPE|JSONVALUE|FILTER|pass-or-drop lines; fails listing the wrong.
verdicts() {
	local type value filter want got fails=
	while IFS='|' read -r type value filter want; do
		[ -n "$type" ] || continue
		got=$(verdict "$type" "$value" "$filter")
		[ "$got" = "$want" ] || fails="$fails
$type $value '$filter': want $want, got $got"
	done
	[ -z "$fails" ] || { echo "$fails"; false; }
}

@test "rule: records no rule touches pass byte for byte, big numbers included" {
	in='{"op":"insert","schema":"public","table":"other","types":{"j":"jsonb"},"new":{"j":{"big":123456789012345678901234567890,"f":1.10,"e":1E+2}}}'
	run -0 --separate-stderr bash -c "printf '%s\n' '$in' | pgflo-rule -t users -m email"
	assert_output "$in"
	[ -z "$stderr" ]
}

@test "rule: begin, commit, position, snapshot and message records pass untouched" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF'
{"op":"begin","commit_lsn":"0/10","xid":7,"commit_ts":"2026-11-23T18:00:00Z"}
{"op":"snapshot","phase":"begin","schema":"public","table":"users"}
{"op":"message","prefix":"p","content":"hi","transactional":false}
{"op":"commit","commit_lsn":"0/10","ordinal":1,"end_lsn":"0/20"}
{"op":"position","commit_lsn":"0/10","ordinal":1}
EOF
	run -0 --separate-stderr pgflo-rule -t users -w 'age > 1' --rename-table x \
		< "$BATS_TEST_TMPDIR/in"
	assert_output "$(cat "$BATS_TEST_TMPDIR/in")"
	[ -z "$stderr" ]
}

@test "rule: pg_flo's rules.yml masks, rewrites, filters and excludes inserts, updates, deletes" {
	run -0 --separate-stderr pgflo-rule -f "$FX/rules.yml" < "$FX/users.ndjson"
	assert_output "$(cat "$FX/users.out")"
	[ -z "$stderr" ]
}

@test "rule: inline rules equal to rules.yml give the same output" {
	run -0 pgflo-rule -t users --keep-deletes -m email \
		-e 'phone=/^(\d{3})(\d{3})(\d{4})$/($1) $2-$3/' \
		-w 'age >= 18' -m ssn:X -w 'balance gte 75.00' -x password_hash \
		< "$FX/users.ndjson"
	assert_output "$(cat "$FX/users.out")"
}

@test "rule: multi-tenant filter tenant_id eq 3 keeps 3 of 6" {
	for i in 1 2 3 4 5 6; do
		t=$(( i % 2 ? 3 : 4 ))
		printf '{"op":"insert","schema":"public","table":"events","types":{"id":"integer","tenant_id":"integer"},"new":{"id":%d,"tenant_id":%d}}\n' "$i" "$t"
	done > "$BATS_TEST_TMPDIR/in"
	run -0 pgflo-rule -f "$FX/multi_tenant_rules.yml" < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"public","table":"events","types":{"id":"integer","tenant_id":"integer"},"new":{"id":1,"tenant_id":3}}
{"op":"insert","schema":"public","table":"events","types":{"id":"integer","tenant_id":"integer"},"new":{"id":3,"tenant_id":3}}
{"op":"insert","schema":"public","table":"events","types":{"id":"integer","tenant_id":"integer"},"new":{"id":5,"tenant_id":3}}'
}

@test "rule: deletes are filtered on the old row" {
	run -0 bash -c "printf '%s\n' \
		'{\"op\":\"delete\",\"schema\":\"public\",\"table\":\"e\",\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"tenant_id\":\"integer\"},\"old\":{\"id\":1,\"tenant_id\":3}}' \
		'{\"op\":\"delete\",\"schema\":\"public\",\"table\":\"e\",\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"tenant_id\":\"integer\"},\"old\":{\"id\":2,\"tenant_id\":4}}' |
		pgflo-rule -t e -w 'tenant_id = 3'"
	assert_output '{"op":"delete","schema":"public","table":"e","key":["id"],"types":{"id":"integer","tenant_id":"integer"},"old":{"id":1,"tenant_id":3}}'
}

@test "rule: a key-only delete is dropped, or kept with --keep-deletes or allow_empty_deletes" {
	del='{"op":"delete","schema":"public","table":"events","key":["id"],"types":{"id":"integer"},"old":{"id":9}}'
	run -0 bash -c "echo '$del' | pgflo-rule -t events -w 'tenant_id = 3'"
	assert_output ''
	run -0 bash -c "echo '$del' | pgflo-rule -t events -w 'tenant_id = 3' --keep-deletes"
	assert_output "$del"
	cat > "$BATS_TEST_TMPDIR/r.yml" <<'EOF'
tables:
  events:
    - type: filter
      column: tenant_id
      allow_empty_deletes: true
      parameters: {operator: eq, value: 3}
EOF
	run -0 bash -c "echo '$del' | pgflo-rule -f $BATS_TEST_TMPDIR/r.yml"
	assert_output "$del"
}

@test "rule: masks count UTF-8 characters (emoji, CJK) and keep first and last" {
	run -0 bash -c "printf '%s\n' \
		'{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"n\":\"😀ab😀\",\"c\":\"東京都千代田区\",\"e\":\"Zoë\",\"s\":\"ab\",\"o\":\"é\"}}' |
		pgflo-rule -m n -m c:• -m e:# -m s -m o"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"n":"😀**😀","c":"東•••••区","e":"Z#ë","s":"ab","o":"é"}}'
}

@test "rule: masks apply to the old row too, so no unmasked value leaks" {
	run -0 bash -c "printf '%s\n' \
		'{\"op\":\"update\",\"schema\":\"s\",\"table\":\"t\",\"key\":[\"id\"],\"old\":{\"id\":1,\"email\":\"old@x.io\"},\"new\":{\"id\":1,\"email\":\"new@x.io\"}}' \
		'{\"op\":\"delete\",\"schema\":\"s\",\"table\":\"t\",\"key\":[\"id\"],\"old\":{\"id\":1,\"email\":\"old@x.io\"}}' |
		pgflo-rule -m email"
	assert_output '{"op":"update","schema":"s","table":"t","key":["id"],"old":{"id":1,"email":"o******o"},"new":{"id":1,"email":"n******o"}}
{"op":"delete","schema":"s","table":"t","key":["id"],"old":{"id":1,"email":"o******o"}}'
}

@test "rule: a mask on a number column makes it text and says so in types" {
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"types\":{\"card\":\"bigint\"},\"new\":{\"card\":4111111111111111,\"x\":null}}' |
		pgflo-rule -m card -m x"
	assert_output '{"op":"insert","schema":"s","table":"t","types":{"card":"text"},"new":{"card":"4**************1","x":null}}'
}

@test "rule: regex replaces every match with \$1 groups; no match leaves the record as it was" {
	run -0 bash -c "printf '%s\n' \
		'{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"p\":\"a1b22c333\"}}' \
		'{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\", \"new\":{\"p\":\"none\"}}' |
		pgflo-rule -e 'p=/([a-z])(\d+)/<\$2\$1>/' -e 'p=|<|[|'"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"p":"[1a>[22b>[333c>"}}
{"op":"insert","schema":"s","table":"t", "new":{"p":"none"}}'
}

@test "rule: regex flags i and an escaped delimiter" {
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"u\":\"HTTP://A/B\"}}' |
		pgflo-rule -e 'u=/^http:\/\//https:\/\//i'"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"u":"https://A/B"}}'
}

@test "rule: exclude removes a column from new, old, types, key and unchanged" {
	run -0 bash -c "echo '{\"op\":\"update\",\"schema\":\"s\",\"table\":\"t\",\"key\":[\"id\",\"pw\"],\"types\":{\"id\":\"integer\",\"pw\":\"text\",\"b\":\"text\"},\"old\":{\"id\":1,\"pw\":\"a\"},\"new\":{\"id\":1,\"b\":\"x\"},\"unchanged\":[\"pw\"]}' |
		pgflo-rule -x pw"
	assert_output '{"op":"update","schema":"s","table":"t","key":["id"],"types":{"id":"integer","b":"text"},"old":{"id":1},"new":{"id":1,"b":"x"},"unchanged":[]}'
}

# abc SCHEMA TABLE [A B C]: an insert into SCHEMA.TABLE with columns a, b
# and c, each "xxxx" unless given.
abc() {
	printf '{"op":"insert","schema":"%s","table":"%s","new":{"a":"%s","b":"%s","c":"%s"}}\n' \
		"$1" "$2" "${3:-xxxx}" "${4:-xxxx}" "${5:-xxxx}"
}

@test "rule: --table scopes rules: bare name, schema.table and globs" {
	{ abc public users; abc crm users; abc public orders; } > "$BATS_TEST_TMPDIR/in"
	run -0 pgflo-rule -t users -m a -t 'public.*' -m b -t crm.users -m c \
		< "$BATS_TEST_TMPDIR/in"
	assert_output "$(abc public users 'x**x' 'x**x'; abc crm users 'x**x' xxxx 'x**x'; abc public orders xxxx 'x**x')"
}

@test "rule: a table pattern means what it means in capture and copy: bare names in every schema, only * and ? wild" {
	{ abc public users; abc crm eu.users; abc crm 'user[s]'; } > "$BATS_TEST_TMPDIR/in"
	# [s] is no character class; the first dot ends the schema.
	run -0 pgflo-rule -t 'user[s]' -m a -t 'user?' -m b -t 'crm.eu.users' -m c \
		< "$BATS_TEST_TMPDIR/in"
	assert_output "$(abc public users xxxx 'x**x'; abc crm eu.users xxxx xxxx 'x**x'; abc crm 'user[s]' 'x**x')"
}

@test "rule: --ops limits the rules after it; rule-level operations in YAML are honoured" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF'
{"op":"insert","schema":"s","table":"t","new":{"a":"abc"}}
{"op":"update","schema":"s","table":"t","new":{"a":"abc"}}
EOF
	run -0 pgflo-rule -t t -o update -m a < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"abc"}}
{"op":"update","schema":"s","table":"t","new":{"a":"a*c"}}'
	cat > "$BATS_TEST_TMPDIR/r.yml" <<'EOF'
tables:
  t:
    - type: transform
      column: a
      operations: [INSERT]
      parameters: {type: mask, mask_char: "#"}
EOF
	run -0 pgflo-rule -f "$BATS_TEST_TMPDIR/r.yml" < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a#c"}}
{"op":"update","schema":"s","table":"t","new":{"a":"abc"}}'
}

@test "rule: --rename-table and --rename-column rename schema, table, and columns everywhere" {
	run -0 bash -c "echo '{\"op\":\"update\",\"schema\":\"public\",\"table\":\"users\",\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"n\":\"text\"},\"old\":{\"id\":1},\"new\":{\"id\":1,\"n\":\"a\"},\"unchanged\":[\"id\"]}' |
		pgflo-rule -t public.users --rename-table crm.members --rename-column id=member_id"
	assert_output '{"op":"update","schema":"crm","table":"members","key":["member_id"],"types":{"member_id":"integer","n":"text"},"old":{"member_id":1},"new":{"member_id":1,"n":"a"},"unchanged":["member_id"]}'
}

@test "rule: routing renames tables and columns and filters operations" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF'
{"op":"insert","schema":"public","table":"users","key":["id"],"types":{"id":"bigint","username":"text"},"new":{"id":1,"username":"jo"}}
{"op":"delete","schema":"public","table":"users","key":["id"],"types":{"id":"bigint"},"old":{"id":1}}
{"op":"delete","schema":"public","table":"orders","key":["id"],"types":{"id":"bigint"},"old":{"id":5}}
{"op":"update","schema":"public","table":"orders","key":["id"],"types":{"id":"bigint","total_amount":"numeric(15,2)"},"new":{"id":5,"total_amount":"150.00"}}
{"op":"truncate","schema":"public","table":"orders","cascade":false,"restart_identity":false}
{"op":"insert","schema":"public","table":"products","new":{"id":1}}
EOF
	run -0 pgflo-rule -r "$FX/routing.yml" < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"public","table":"customers","key":["customer_id"],"types":{"customer_id":"bigint","customer_name":"text"},"new":{"customer_id":1,"customer_name":"jo"}}
{"op":"delete","schema":"sales","table":"transactions","key":["id"],"types":{"id":"bigint"},"old":{"id":5}}
{"op":"update","schema":"sales","table":"transactions","key":["id"],"types":{"id":"bigint","amount":"numeric(15,2)"},"new":{"id":5,"amount":"150.00"}}
{"op":"truncate","schema":"sales","table":"transactions","cascade":false,"restart_identity":false}
{"op":"insert","schema":"public","table":"products","new":{"id":1}}'
}

@test "rule: rules use source names and run before routing" {
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"public\",\"table\":\"users\",\"new\":{\"id\":1,\"username\":\"jojo\"}}' |
		pgflo-rule -r $FX/routing.yml -t users -m username"
	assert_output '{"op":"insert","schema":"public","table":"customers","new":{"customer_id":1,"customer_name":"j**o"}}'
}

@test "rule: ddl for a renamed table passes unchanged with a warning" {
	ddl='{"op":"ddl","schema":"public","table":"users","tag":"ALTER TABLE","statement":"alter table users add c int"}'
	run -0 --separate-stderr bash -c "echo '$ddl' | pgflo-rule -r $FX/routing.yml"
	assert_output "$ddl"
	[ "$stderr" = "pgflo-rule: warning: <stdin>:1: ddl for renamed table public.users passed unchanged; its statement is not rewritten" ]
}

@test "rule: comparisons follow the column type (every operator, every type family)" {
	verdicts <<'EOF'
numeric(38,10)|"12345678901234567890.1234567890"|c = 12345678901234567890.123456789|pass
numeric(38,10)|"12345678901234567890.1234567890"|c = 12345678901234567890.1234567891|drop
numeric(38,10)|"12345678901234567890.1234567890"|c != 12345678901234567890.1234567891|pass
numeric(38,10)|"12345678901234567890.1234567890"|c > 12345678901234567890.1234567889|pass
numeric(38,10)|"12345678901234567890.1234567890"|c < 12345678901234567890.12345678901|pass
numeric(38,10)|"12345678901234567890.1234567890"|c >= 12345678901234567890.12345678901|drop
numeric(38,10)|"12345678901234567890.1234567890"|c <= 12345678901234567890.123456789|pass
numeric(38,10)|"-0.5000000000"|c < 0|pass
numeric(38,10)|"-1.5000000000"|c lt -1.25|pass
numeric(38,10)|"-1.5000000000"|c gt -1.25|drop
numeric(38,10)|"0.0000000000"|c eq -0|pass
numeric|"NaN"|c > 1e308|pass
numeric|"Infinity"|c gte 99999999999999999999|pass
numeric|"-Infinity"|c lte -99999999999999999999|pass
numeric(10,2)|"75.00"|c gte 75|pass
numeric(10,2)|"74.99"|c gte 75.00|drop
integer|17|c >= 18|drop
integer|18|c >= 18|pass
integer|18|c = 18.0|pass
integer|18|c ne 18|drop
integer|-3|c < -2|pass
smallint|5|c <= 5|pass
bigint|9223372036854775807|c > 9223372036854775806|pass
bigint|9223372036854775807|c = 9223372036854775806|drop
double precision|0.1|c = 0.1|pass
double precision|1.5|c > 1.25|pass
double precision|1.5|c < 1.25|drop
double precision|"NaN"|c > 1e308|pass
double precision|"-Infinity"|c < -1e308|pass
real|2.5|c <= 2.5|pass
real|2.5|c != 2.5|drop
timestamp with time zone|"2026-11-23 18:00:00+00"|c = 2026-11-23 19:00:00+01|pass
timestamp with time zone|"2026-11-23 18:00:00.5+00"|c > 2026-11-23T18:00:00Z|pass
timestamp with time zone|"2026-11-23 18:00:00+05:30"|c < 2026-11-23 13:00:00+00|pass
timestamp with time zone|"2026-11-23 18:00:00+05:30"|c >= 2026-11-23 13:00:00+00|drop
timestamp(3) with time zone|"2026-11-23 18:00:00.123+00"|c lte 2026-11-23 18:00:00.123Z|pass
timestamp with time zone|"infinity"|c > 9999-01-01 00:00:00+00|pass
timestamp with time zone|"0044-03-15 12:00:00+00 BC"|c < 0001-01-01 00:00:00+00|pass
timestamp without time zone|"2026-11-23 18:00:00"|c >= 2026-11-23|pass
timestamp without time zone|"2026-11-23 18:00:00"|c < 2026-11-23 17:59:59.999999|drop
date|"2026-11-23"|c > 2026-11-22|pass
date|"2026-11-23"|c = 2026-11-23|pass
boolean|true|c = true|pass
boolean|false|c = t|drop
boolean|false|c != true|pass
boolean|true|c > false|pass
text|"abc"|c = abc|pass
text|"abc"|c < abd|pass
text|"Zoë"|c > Zoe|pass
text|"10"|c < 9|pass
text|"x y"|c = 'x y'|pass
text|"hello world"|c contains lo wo|pass
text|"hello world"|c contains xyz|drop
character varying(50)|"a@corp.com"|c ~ @corp\.com$|pass
text|"a@corp.com"|c ~ ^b|drop
text|"a@corp.com"|c !~ ^b|pass
text|"日本語"|c ~ ^\p{Han}{3}$|pass
uuid|"0b1c2d3e-0000-4000-8000-000000000000"|c = 0b1c2d3e-0000-4000-8000-000000000000|pass
integer|123|c contains 2|drop
integer|null|c = 1|drop
integer|null|c != 1|drop
text|null|c != x|drop
boolean|null|c = false|drop
EOF
}

@test "rule: a missing or unchanged (TOAST) column makes a comparison false" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF'
{"op":"update","schema":"s","table":"t","types":{"id":"integer","doc":"text"},"new":{"id":1},"unchanged":["doc"]}
{"op":"insert","schema":"s","table":"t","types":{"id":"integer"},"new":{"id":2}}
EOF
	run -0 pgflo-rule -w 'doc != x' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	run -0 pgflo-rule -w 'doc = x' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
}

@test "rule: an operand that does not fit the column type drops and warns once" {
	row integer 5 > "$BATS_TEST_TMPDIR/in"
	row integer 6 >> "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr pgflo-rule -w 'c > abc' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 'c > abc': \"abc\" is not a number to compare with (warned once per rule)" ]
}

@test "rule: broken rule files name the file and line and exit 2" {
	d=$BATS_TEST_TMPDIR
	check() {	# check CONTENT EXPECTED-STDERR
		printf '%s\n' "$1" > "$d/bad.yml"
		run -2 --separate-stderr pgflo-rule -f "$d/bad.yml" < /dev/null
		[ "$stderr" = "$2" ] || { echo "got: $stderr"; echo "want: $2"; return 1; }
	}
	check 'tables:
  users:
    - type: filter
      column: age
      parameters: {operator: gte, valeu: 18}' \
		"pgflo-rule: $d/bad.yml:5: unknown parameter \"valeu\" for a filter rule"
	check 'tables:
  users:
    - type: filter
      colum: age' \
		"pgflo-rule: $d/bad.yml:4: unknown key \"colum\" in rule (type, column, parameters, operations, allow_empty_deletes)"
	check 'users:
  - type: filter' \
		"pgflo-rule: $d/bad.yml:1: unknown key \"users\" (a rules file has one key, \"tables:\")"
	check 'tables:
  users:
    - type: transform
      column: phone
      parameters:
        type: regex
        pattern: "(\\d"
        replace: x' \
		"pgflo-rule: $d/bad.yml:3: bad regex /(\\d/: missing closing parenthesis at offset 3"
	check 'tables:
  users:
    - type: filter
      column: age
      parameters:
        operator: between
        value: 1' \
		"pgflo-rule: $d/bad.yml:6: unknown operator \"between\" (eq, ne, gt, lt, gte, lte, contains, ~)"
	check 'tables:
  users:
    - type: filter
      column: [a, b]' \
		"pgflo-rule: $d/bad.yml:4: column: expected a string"
	check 'tables:
  users:
    - type: filter
      column: age
      operations: [INSERT, UPSERT]
      parameters: {operator: eq, value: 1}' \
		"pgflo-rule: $d/bad.yml:5: operations: unknown operation \"UPSERT\" (insert, update, delete, truncate)"
	check 'tables:
  users: {type: filter}' \
		"pgflo-rule: $d/bad.yml:2: users: expected a list of rules"
	check 'tables:
  users:
    - type: filter
     column: x' \
		"pgflo-rule: $d/bad.yml:4: invalid YAML: did not find expected '-' indicator while parsing a block collection"
	check '' "pgflo-rule: $d/bad.yml: empty file, no rules"
	check 'tables: {}' "pgflo-rule: $d/bad.yml:1: no rules"
	run -2 --separate-stderr pgflo-rule -f "$d/missing.yml"
	[ "$stderr" = "pgflo-rule: $d/missing.yml: No such file or directory" ]
}

@test "rule: broken routing files name the file and line and exit 2" {
	d=$BATS_TEST_TMPDIR
	printf 'users:\n  destination_table: c\n  operation: [INSERT]\n' > "$d/r.yml"
	run -2 --separate-stderr pgflo-rule -r "$d/r.yml"
	[ "$stderr" = "pgflo-rule: $d/r.yml:3: unknown key \"operation\" in route (source_table, destination_table, column_mappings, operations)" ]
	printf 'users:\n  column_mappings:\n    - source: id\n' > "$d/r.yml"
	run -2 --separate-stderr pgflo-rule -r "$d/r.yml"
	[ "$stderr" = "pgflo-rule: $d/r.yml:3: a column mapping needs source and destination" ]
}

# A usage error: the message, then the synopsis and the --help hint.
usage_error() {	# usage_error MESSAGE  (after run --separate-stderr)
	[ "${stderr_lines[0]}" = "$1" ] || fail "stderr: $stderr"
	[ "${stderr_lines[1]}" = "usage: pgflo-rule [-kv] [-f rulefile] [-r routefile] [--dead-letter file] [rule ...]" ] ||
		fail "no usage line: $stderr"
	[ "${stderr_lines[-1]}" = "Try 'pgflo-rule --help' for more information." ] ||
		fail "no --help hint: $stderr"
}

@test "rule: bad inline rules are usage errors" {
	run -2 --separate-stderr pgflo-rule -w 'age between 1'
	usage_error "pgflo-rule: --filter 'age between 1': unknown operator (= != < <= > >= ~ !~ contains eq ne lt lte gt gte)"
	run -2 --separate-stderr pgflo-rule -e 'p=/(/x/'
	usage_error "pgflo-rule: --regex 'p=/(/x/': bad regex /(/: missing closing parenthesis at offset 1"
	run -2 --separate-stderr pgflo-rule -e 'p=/a/b'
	usage_error "pgflo-rule: --regex 'p=/a/b': unterminated; expected COL=/pattern/replacement/"
	run -2 --separate-stderr pgflo-rule -o upsert
	usage_error "pgflo-rule: --ops 'upsert': expected a list of insert, update, delete, truncate"
	run -2 --separate-stderr pgflo-rule --rename-column id
	usage_error "pgflo-rule: --rename-column 'id': expected OLD=NEW"
	run -2 --separate-stderr pgflo-rule stray
	[[ "$stderr" == "pgflo-rule: unexpected argument: stray
usage: pgflo-rule "* ]]
}

@test "rule: a bad record exits 1 naming <stdin>:LINE" {
	run -1 --separate-stderr bash -c "printf '%s\n' '{\"op\":\"begin\"}' '{\"op\":' | pgflo-rule -m a"
	assert_output '{"op":"begin"}'
	[ "$stderr" = "pgflo-rule: <stdin>:2: invalid JSON: unexpected newline near end of file (column 6)" ] ||
		[[ "$stderr" == "pgflo-rule: <stdin>:2: invalid JSON: "* ]]
	run -1 --separate-stderr bash -c "echo '[1]' | pgflo-rule"
	[ "$stderr" = "pgflo-rule: <stdin>:1: record is not a JSON object" ]
	run -1 --separate-stderr bash -c "echo '{\"op\":\"insert\",\"new\":{}}' | pgflo-rule"
	[ "$stderr" = "pgflo-rule: <stdin>:1: insert record without \"schema\" and \"table\" strings" ]
}

@test "rule: -k skips bad lines with a warning and a count" {
	run -0 --separate-stderr bash -c "printf '%s\n' 'nope' '{\"op\":\"commit\"}' '{\"x\":1}' | pgflo-rule -kv"
	assert_output '{"op":"commit"}'
	assert_equal "$stderr" "pgflo-rule: <stdin>:1: invalid JSON: '[' or '{' expected near 'nope' (column 4) (skipped)
pgflo-rule: <stdin>:3: record has no \"op\" string (skipped)
pgflo-rule: 3 records read, 1 written (0 changed), 0 dropped, 2 bad; 0 rules"
}

@test "rule: --dead-letter keeps bad lines verbatim and goes on" {
	run -0 --separate-stderr bash -c "printf '%s\n' 'nope' '{\"op\":\"commit\"}' | pgflo-rule --dead-letter $BATS_TEST_TMPDIR/dl"
	assert_output '{"op":"commit"}'
	[ "$(cat "$BATS_TEST_TMPDIR/dl")" = "nope" ]
	[[ "$stderr" == *"(written to $BATS_TEST_TMPDIR/dl)" ]]
}

@test "rule: a changed record keeps untouched values byte for byte (big numbers, 1.10, escapes, spacing)" {
	in='{"op":"insert","schema":"s","table":"t","new":{"a":"abc","j":{"n":123456789012345678901234567890,"f":1.10,"e":1E+2,"s":"\u00e9\/"}}}'
	run -0 bash -c "echo '$in' | pgflo-rule -w 'a = abc'"
	assert_output "$in"
	run -0 --separate-stderr bash -c "echo '$in' | pgflo-rule -m a"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a*c","j":{"n":123456789012345678901234567890,"f":1.10,"e":1E+2,"s":"\u00e9\/"}}}'
	[ -z "$stderr" ]
	run -0 bash -c "echo '{ \"op\" : \"insert\", \"schema\":\"s\",\"table\":\"t\",\"new\":{ \"a\" : \"abc\" , \"b\" : [1, 2] }}' | pgflo-rule -m a"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a*c","b":[1, 2]}}'
}

@test "rule: a rename onto an existing column is written once, at the first place with the last value" {
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"a\":1,\"b\":2,\"c\":3}}' | pgflo-rule --rename-column a=c"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"c":3,"b":2}}'
}

@test "rule: invalid UTF-8, \\u0000 and lone surrogates are invalid JSON, as jansson says" {
	run -1 --separate-stderr bash -c "printf '{\"op\":\"commit\",\"x\":\"\\377\"}\n' | pgflo-rule"
	[[ "$stderr" == "pgflo-rule: <stdin>:1: invalid JSON: "* ]]
	run -1 --separate-stderr bash -c "printf '%s\n' '{\"op\":\"commit\",\"x\":\"a\\u0000\"}' | pgflo-rule"
	[[ "$stderr" == "pgflo-rule: <stdin>:1: invalid JSON: "* ]]
	run -1 --separate-stderr bash -c "printf '%s\n' '{\"op\":\"commit\",\"x\":\"\\udc00\"}' | pgflo-rule"
	[[ "$stderr" == "pgflo-rule: <stdin>:1: invalid JSON: "* ]]
	run -1 --separate-stderr bash -c "printf '%s\n' '{\"op\":\"commit\"} x' | pgflo-rule"
	[[ "$stderr" == "pgflo-rule: <stdin>:1: invalid JSON: "* ]]
	run -0 bash -c "printf '%s\n' '{\"op\":\"commit\",\"x\":\"\\ud83d\\ude00 \\u00e9\"}' | pgflo-rule"
	assert_output '{"op":"commit","x":"\ud83d\ude00 \u00e9"}'
}

@test "rule: a 2 MiB line and an unterminated last line" {
	big=$(head -c 2097152 /dev/zero | tr '\0' 'a')
	printf '{"op":"insert","schema":"s","table":"t","new":{"a":"%s"}}\n{"op":"commit"}' "$big" \
		> "$BATS_TEST_TMPDIR/in"
	pgflo-rule -m a < "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out"
	[ "$(wc -c < "$BATS_TEST_TMPDIR/out")" -eq $((56 + 2097152 + 16)) ]
	run -0 tail -n 1 "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"commit"}'
	run -0 bash -c "head -n 1 '$BATS_TEST_TMPDIR/out' | cut -c 47-55"
	assert_output '{"a":"a**'
}

@test "rule: | head -n 1 ends at once with empty stderr" {
	run -0 --separate-stderr bash -c "yes '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"a\":\"abc\"}}' |
		timeout 10 pgflo-rule -m a | head -n 1"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a*c"}}'
	[ -z "$stderr" ]
}

@test "rule: a write error exits 1" {
	run -1 --separate-stderr bash -c "echo '{\"op\":\"commit\"}' | pgflo-rule > /dev/full"
	[[ "$stderr" == "pgflo-rule: write error"* ]]
}

@test "rule: -v prints a summary at exit" {
	run -0 --separate-stderr pgflo-rule -v -f "$FX/rules.yml" < "$FX/users.ndjson"
	[ "$stderr" = "pgflo-rule: 7 records read, 5 written (2 changed), 2 dropped, 0 bad; 6 rules" ]
}

@test "rule: the EXAMPLES of pgflo-rule(1) run" {
	cd "$BATS_TEST_TMPDIR"
	cp "$FX/rules.yml" rules.yml
	cp "$FX/routing.yml" routing.yml
	cat > in.ndjson <<'EOF'
{"op":"insert","schema":"public","table":"users","types":{"id":"integer","email":"text","age":"integer","phone":"text"},"new":{"id":1,"email":"ann@x.io","age":40,"phone":"5551234567"}}
{"op":"delete","schema":"public","table":"events","key":["id"],"types":{"id":"integer"},"old":{"id":7}}
EOF
	run -0 bash -c "pgflo-rule -t public.users -m email -w 'age >= 18' < in.ndjson"
	assert_output '{"op":"insert","schema":"public","table":"users","types":{"id":"integer","email":"text","age":"integer","phone":"text"},"new":{"id":1,"email":"a******o","age":40,"phone":"5551234567"}}
{"op":"delete","schema":"public","table":"events","key":["id"],"types":{"id":"integer"},"old":{"id":7}}'
	run -0 bash -c "pgflo-rule -f rules.yml -r routing.yml < in.ndjson"
	# rules.yml filters on balance, which this row lacks: dropped.
	assert_output '{"op":"delete","schema":"public","table":"events","key":["id"],"types":{"id":"integer"},"old":{"id":7}}'
	run -0 bash -c "pgflo-rule -t events -w 'tenant_id = 3' --keep-deletes < in.ndjson"
	assert_line --index 1 '{"op":"delete","schema":"public","table":"events","key":["id"],"types":{"id":"integer"},"old":{"id":7}}'
	run -0 bash -c "pgflo-rule -t users -e 'phone=/^(\d{3})(\d{3})(\d{4})\$/(\$1) \$2-\$3/' --rename-table crm.members < in.ndjson"
	assert_line --index 0 '{"op":"insert","schema":"crm","table":"members","types":{"id":"integer","email":"text","age":"integer","phone":"text"},"new":{"id":1,"email":"ann@x.io","age":40,"phone":"(555) 123-4567"}}'
}

@test "pgflo-rule: renames and excludes reach json_null and old_json_null" {
	run -0 bash -c "echo '{\"op\":\"update\",\"schema\":\"public\",\"table\":\"t\",\"key\":[\"id\"],\"types\":{\"id\":\"integer\",\"j\":\"jsonb\",\"k\":\"jsonb\"},\"old\":{\"id\":1,\"j\":null},\"new\":{\"id\":1,\"j\":null,\"k\":null},\"json_null\":[\"j\",\"k\"],\"old_json_null\":[\"j\"]}' |
		pgflo-rule --table t --rename-column j=jj --exclude k"
	assert_output '{"op":"update","schema":"public","table":"t","key":["id"],"types":{"id":"integer","jj":"jsonb"},"old":{"id":1,"jj":null},"new":{"id":1,"jj":null},"json_null":["jj"],"old_json_null":["jj"]}'
}

@test "rule: a reader gone with no input flowing ends it with 141 at once" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	exec 4<>"$BATS_TEST_TMPDIR/fifo"	# a quiet upstream that stays
	printf '{"op":"insert","schema":"s","table":"t","new":{"a":"abc"}}\n' >&4
	t0=$EPOCHREALTIME
	run bash -c 'timeout 10 pgflo-rule -m a <"$1" | head -n 1 >"$2"
		echo "${PIPESTATUS[0]}"' _ "$BATS_TEST_TMPDIR/fifo" "$BATS_TEST_TMPDIR/out"
	t1=$EPOCHREALTIME
	exec 4>&-
	assert_output 141
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a*c"}}'
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	echo "took ${ms} ms"
	[ "$ms" -le 4000 ]
}

@test "rule: SIGINT and SIGTERM kill it (default dispositions): 130, 143" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	exec 4<>"$BATS_TEST_TMPDIR/fifo"
	for sig in INT TERM; do
		# A background job starts with SIGINT ignored, which the shell
		# cannot undo: python3 restores the default before the exec.
		python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("pgflo-rule", ["pgflo-rule"])' <"$BATS_TEST_TMPDIR/fifo" >/dev/null 3>&- &
		pid=$!
		# Not before the exec: python3 still ignores SIGINT until then.
		for _ in $(seq 100); do
			[ "$(cat /proc/$pid/comm 2>/dev/null)" = pgflo-rule ] && break
			sleep 0.1
		done
		sleep 0.2
		kill -"$sig" "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$sig" = INT ] && assert_equal "$st" 130
		[ "$sig" = TERM ] && assert_equal "$st" 143
	done
	exec 4>&-
}

@test "rule: a socket on stdout whose peer closes ends it with 141 as well" {
	run -0 python3 -c '
import os, socket, subprocess, time
ours, peer = socket.socketpair()
r, w = os.pipe()	# an upstream that stays and sends nothing
p = subprocess.Popen(["pgflo-rule"], stdin=r, stdout=ours.fileno())
ours.close()
time.sleep(0.3)
t = time.time()
peer.close()
try:
    rc = p.wait(timeout=8)
except subprocess.TimeoutExpired:
    p.kill()
    rc = "running"
print(rc, time.time() - t < 4)'
	assert_output '-13 True'	# killed by SIGPIPE, within seconds
}

# ---- hostile input (issue 10): a rule never lets a record through
# unredacted, never drops it silently, and a bad line never leaks.

@test "rule: a regex that reaches its match limit fails the record, never passes it unredacted" {
	a=$(printf 'a%.0s' $(seq 40))
	printf '{"op":"insert","schema":"s","table":"t","new":{"id":1,"note":"%s! contact bob@corp.com"}}\n{"op":"commit"}\n' "$a" \
		> "$BATS_TEST_TMPDIR/in"
	run -1 --separate-stderr pgflo-rule -e 'note=/([a-z]+)+@corp\.com/<email>/' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --regex 'note=/([a-z]+)+@corp\\.com/<email>/': column note: the regex could not be applied: match limit exceeded" ]
	run -0 --separate-stderr pgflo-rule -e 'note=/([a-z]+)+@corp\.com/<email>/' \
		--dead-letter "$BATS_TEST_TMPDIR/dl" < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"commit"}'
	run -0 cat "$BATS_TEST_TMPDIR/dl"
	assert_output '{"line":1,"error":"<stdin>:1: --regex '"'"'note=/([a-z]+)+@corp\\.com/<email>/'"'"': column note: the regex could not be applied: match limit exceeded"}'
	refute_output --partial 'bob@corp.com'
	# A regex that fits the limits still rewrites.
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"note\":\"mail bob@corp.com\"}}' |
		pgflo-rule -e 'note=/[a-z]+@corp\.com/<email>/'"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"note":"mail <email>"}}'
}

@test "rule: a filter regex that reaches its limit fails the record instead of dropping it" {
	a=$(printf 'a%.0s' $(seq 40))
	printf '{"op":"insert","schema":"s","table":"t","new":{"s":"%s!"}}\n' "$a" > "$BATS_TEST_TMPDIR/in"
	run -1 --separate-stderr pgflo-rule -w 's !~ (a+)+$' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 's !~ (a+)+\$': column s: the regex could not be applied: match limit exceeded" ]
	run -0 --separate-stderr pgflo-rule -kv -w 's !~ (a+)+$' < "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "pgflo-rule: <stdin>:1: --filter 's !~ (a+)+\$': column s: the regex could not be applied: match limit exceeded (skipped)
pgflo-rule: 1 records read, 0 written (0 changed), 0 dropped, 1 bad; 1 rules"
	# A pattern may lower the limit for itself.
	run -1 --separate-stderr bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"s\":\"aaaaaaaaaaaaaaaa!\"}}' |
		pgflo-rule -w 's ~ (*LIMIT_MATCH=100)(a+)+\$'"
	[[ "$stderr" == *": match limit exceeded" ]]
}

@test "rule: a mask or regex on a boolean, object or array fails the record" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF2'
{"op":"insert","schema":"s","table":"t","types":{"doc":"jsonb"},"new":{"doc":{"ssn":"123-45-6789"}}}
{"op":"insert","schema":"s","table":"t","types":{"doc":"text[]"},"new":{"doc":["123-45-6789"]}}
{"op":"update","schema":"s","table":"t","old":{"doc":true},"new":{"doc":null}}
EOF2
	run -0 --separate-stderr pgflo-rule -k -m doc < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	assert_equal "$stderr" "pgflo-rule: <stdin>:1: --mask 'doc': column doc in \"new\" is an object, not a string or a number (skipped)
pgflo-rule: <stdin>:2: --mask 'doc': column doc in \"new\" is an array, not a string or a number (skipped)
pgflo-rule: <stdin>:3: --mask 'doc': column doc in \"old\" is a boolean, not a string or a number (skipped)"
	run -1 --separate-stderr pgflo-rule -e 'doc=/\d/#/' < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --regex 'doc=/\\d/#/': column doc in \"new\" is an object, not a string or a number" ]
}

@test "rule: timestamps and dates compare correctly at PostgreSQL's extremes" {
	verdicts <<'EOF2'
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c > 2000-01-01|pass
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c = 294276-12-31 23:59:59.999999+00|pass
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c > 294276-12-31 23:59:59.999998+00|pass
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c < infinity|pass
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c >= infinity|drop
timestamp with time zone|"294276-12-31 23:59:59.999999+00"|c < 2000-01-01|drop
timestamp with time zone|"4714-11-24 00:00:00+00 BC"|c < 4714-11-24 00:00:00.000001+00 BC|pass
timestamp with time zone|"4714-11-24 00:00:00+00 BC"|c = 4714-11-24 00:00:00+00 BC|pass
timestamp with time zone|"4714-11-24 00:00:00+00 BC"|c > -infinity|pass
timestamp with time zone|"4714-11-24 00:00:00+00 BC"|c < 294276-12-31 23:59:59.999999+00|pass
timestamp with time zone|"4714-11-24 00:00:00+00 BC"|c > 2000-01-01|drop
timestamp with time zone|"-infinity"|c < 4714-11-24 00:00:00+00 BC|pass
timestamp with time zone|"infinity"|c > 294276-12-31 23:59:59.999999+00|pass
timestamp with time zone|"infinity"|c = infinity|pass
timestamp with time zone|"-infinity"|c = -infinity|pass
timestamp with time zone|"2026-11-23 00:00:00+14"|c = 2026-11-22 10:00:00+00|pass
timestamp with time zone|"2026-11-23 00:00:00-12"|c = 2026-11-23 12:00:00Z|pass
timestamp with time zone|"2026-11-23 00:00:00+14"|c < 2026-11-22 23:00:00-12|pass
timestamp with time zone|"2026-11-23 12:29:45+00"|c = 2026-11-23 18:00:00+05:30:15|pass
timestamp with time zone|"2026-11-23 18:00:00.000001+00"|c > 2026-11-23 18:00:00+00|pass
timestamp with time zone|"2026-11-23 18:00:00.1+00"|c = 2026-11-23 18:00:00.100000Z|pass
timestamp with time zone|"2026-11-23 18:00:01+00"|c = 2026-11-23 18:00:00.9999995+00|pass
timestamp with time zone|"2026-11-23 18:00:00.000002+00"|c = 2026-11-23 18:00:00.0000015+00|pass
timestamp without time zone|"294276-12-31 23:59:59.999999"|c > 294276-12-31 23:59:59.999998|pass
timestamp without time zone|"4714-11-24 00:00:00 BC"|c < 4714-11-24 00:00:01 BC|pass
timestamp without time zone|"2026-11-24 00:00:00"|c = 2026-11-23 24:00:00|pass
date|"5874897-12-31"|c > 294276-12-31|pass
date|"5874897-12-31"|c = 5874897-12-31|pass
date|"5874897-12-31"|c < infinity|pass
date|"4714-11-24 BC"|c < 0001-01-01|pass
date|"4714-11-24 BC"|c > -infinity|pass
date|"-infinity"|c < 4714-11-24 BC|pass
date|"infinity"|c > 5874897-12-31|pass
date|"0001-01-01"|c > 0001-12-31 BC|pass
date|"2024-02-29"|c = 2024-02-29|pass
EOF2
}

@test "rule: a value not of its column's type fails the record and the message blames the value" {
	cd "$BATS_TEST_TMPDIR"
	row integer '"."' > dot
	run -1 --separate-stderr pgflo-rule -w 'c > 1' < dot
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 'c > 1': column c: the value is not a valid number" ]
	row date '"2026-02-30"' > feb30
	run -1 --separate-stderr pgflo-rule -w 'c > 2000-01-01' < feb30
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 'c > 2000-01-01': column c: the value is not a valid timestamp or date" ]
	row boolean '"secret"' > bool
	run -1 --separate-stderr pgflo-rule -w 'c = true' < bool
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 'c = true': column c: the value is not a valid boolean" ]
	# The operand is blamed only when it is the operand.
	row integer 5 > five
	run -0 --separate-stderr pgflo-rule -w 'c > .' < five
	assert_output ''
	[ "$stderr" = "pgflo-rule: <stdin>:1: --filter 'c > .': \".\" is not a number to compare with (warned once per rule)" ]
}

@test "rule: <> and == are documented synonyms of != and =" {
	row integer 5 > "$BATS_TEST_TMPDIR/five"
	run -0 pgflo-rule -w 'c <> 4' -w 'c == 5' < "$BATS_TEST_TMPDIR/five"
	assert_output "$(row integer 5)"
	run -0 pgflo-rule -w 'c <> 5' < "$BATS_TEST_TMPDIR/five"
	assert_output ''
	run -0 bash -c "pgflo-rule --help | grep -c -F '(or == <> eq ne'"
	run -0 bash -c "mandoc -Tutf8 '$TOP/man/pgflo-rule.1' | col -b | grep -o -e \"‘!=’ (or ‘<>’)\" -e \"‘=’ (or ‘==’)\""
	assert_output "‘=’ (or ‘==’)
‘!=’ (or ‘<>’)"
}

@test "rule: a NUL byte after a number is invalid JSON, said so" {
	run -1 --separate-stderr bash -c "printf '{\"op\":\"commit\",\"x\":1\\0}\\n' | pgflo-rule"
	[ "$stderr" = "pgflo-rule: <stdin>:1: invalid JSON: NUL byte (column 21)" ]
}

@test "rule: duplicate keys at the top level or in new, old or types are a bad record" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF2'
{"op":"insert","schema":"s","table":"t","new":{"a":"secret-one"},"new":{"a":"abcd"}}
{"op":"insert","schema":"s","table":"t","new":{"a":"secret-two","a":"wxyz"}}
{"op":"update","schema":"s","table":"t","old":{"a":"secret-3","\u0061":"x"},"new":{"a":"wxyz"}}
{"op":"insert","schema":"s","table":"t","types":{"a":"text","a":"integer"},"new":{"a":"abcd"}}
{"op":"commit","op":"commit"}
{"op":"insert","schema":"s","table":"t","new":{"a":"abcd","j":{"k":1,"k":2}}}
EOF2
	run -0 --separate-stderr pgflo-rule -k -m a -w 'a != x' < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"a**d","j":{"k":1,"k":2}}}'
	assert_equal "$stderr" 'pgflo-rule: <stdin>:1: duplicate key "new" (skipped)
pgflo-rule: <stdin>:2: duplicate key "a" in "new" (skipped)
pgflo-rule: <stdin>:3: duplicate key "\u0061" in "old" (skipped)
pgflo-rule: <stdin>:4: duplicate key "a" in "types" (skipped)
pgflo-rule: <stdin>:5: duplicate key "op" (skipped)'
	run -1 --separate-stderr pgflo-rule -m a < "$BATS_TEST_TMPDIR/in"
	assert_output ''
	[ "$stderr" = 'pgflo-rule: <stdin>:1: duplicate key "new"' ]
}

@test "rule: a record other than insert, update, delete carrying a row is bad; an insert's old row is masked too" {
	cat > "$BATS_TEST_TMPDIR/in" <<'EOF2'
{"op":"commit","new":{"a":"secret"}}
{"op":"insurt","schema":"s","table":"t","new":{"a":"secret"}}
{"op":"truncate","schema":"s","table":"t","old":{"a":"secret"}}
{"op":"insert","schema":"s","table":"t","new":{"a":"xyz"},"old":{"a":"secret"}}
{"op":"delete","schema":"s","table":"t","new":{"a":"secret"}}
{"op":"commit","new":null}
EOF2
	run -0 --separate-stderr pgflo-rule -k -m a < "$BATS_TEST_TMPDIR/in"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"a":"x*z"},"old":{"a":"s****t"}}
{"op":"delete","schema":"s","table":"t","new":{"a":"s****t"}}
{"op":"commit","new":null}'
	assert_equal "$stderr" 'pgflo-rule: <stdin>:1: a commit record may not carry "new" or "old" (skipped)
pgflo-rule: <stdin>:2: a record of an unknown "op" may not carry "new" or "old" (skipped)
pgflo-rule: <stdin>:3: a truncate record may not carry "new" or "old" (skipped)'
}

@test "rule: a dead-letter file is 0600 and, under a mask, never holds a masked value" {
	cd "$BATS_TEST_TMPDIR"
	cat > in <<'EOF2'
{"op":"insert","schema":"s","table":"t","new":{"email":"hunter2@corp.example"},"new":{"email":"x"}}
{"op":"insert","schema":"s","table":"t","new":{"email":"hunter2@corp.example"}}
{"op":"insert","schema":"s","table":"t","new":{"email":"hunter2@corp.example","pw":"hunter2
{"op":"update","schema":"s","table":"t","old":{"email":"hunter2@corp.example","email":"y"},"new":{"email":"z"}}
not json hunter2@corp.example
EOF2
	run -0 --separate-stderr bash -c "umask 022; pgflo-rule -m email --dead-letter dl < in"
	assert_output '{"op":"insert","schema":"s","table":"t","new":{"email":"h******************e"}}'
	[ "$(stat -c %a dl)" = 600 ]
	run -0 cat dl
	assert_output '{"line":1,"error":"<stdin>:1: duplicate key \"new\""}
{"line":3,"error":"<stdin>:3: invalid JSON: premature end of input (column 91)"}
{"line":4,"error":"<stdin>:4: duplicate key \"email\" in \"old\""}
{"line":5,"error":"<stdin>:5: invalid JSON: '"'"'['"'"' or '"'"'{'"'"' expected (column 3)"}'
	[[ "$stderr" != *hunter2* ]]
	# -x and -e hide values too; a pure filter keeps the line verbatim.
	run -0 bash -c "pgflo-rule -x pw --dead-letter dl2 < in"
	[ "$(wc -l < dl2)" -eq 4 ]
	run -1 grep -c hunter2 dl2
	assert_output 0
	run -0 bash -c "umask 022; pgflo-rule -w 'email != x' --dead-letter dl3 < in"
	[ "$(stat -c %a dl3)" = 600 ]
	# (line 4 passes: a filter on an update reads "new" only.)
	run -0 grep -c hunter2 dl3
	assert_output 3
}

@test "rule: a rules file whose aliases expand past the limit is refused at once, in bounded memory" {
	cd "$BATS_TEST_TMPDIR"
	{
		echo 'tables:'
		printf '  t0: &l ['
		for i in $(seq 999); do printf '{type: exclude_column, column: c%d}, ' "$i"; done
		echo '{type: exclude_column, column: c0}]'
		for i in $(seq 8999); do echo "  t$i: *l"; done
	} > laughs.yml
	[ "$(wc -c < laughs.yml)" -lt 200000 ]
	ASAN=$(ldd "$TOP/bin/pgflo-rule" | grep -c libasan || true)
	run -2 --separate-stderr bash -c "[ $ASAN -gt 0 ] || ulimit -v 500000; exec timeout 10 /usr/bin/time -f %M -o rss pgflo-rule -f laughs.yml < /dev/null"
	[ "$stderr" = "pgflo-rule: laughs.yml:2: more than 10000 rules once aliases are expanded; refusing the file" ]
	[ "$(tail -n 1 rss)" -lt 100000 ]
	# Aliases in operations lists: the node budget.
	{
		echo 'tables:'
		echo '  t0:'
		printf '    - &r {type: filter, column: c, operations: ['
		for i in $(seq 19999); do printf 'INSERT, '; done
		echo 'INSERT], parameters: {operator: eq, value: 1}}'
		for i in $(seq 199); do echo '    - *r'; done
	} > ops.yml
	run -2 --separate-stderr bash -c "[ $ASAN -gt 0 ] || ulimit -v 500000; exec timeout 10 pgflo-rule -f ops.yml < /dev/null"
	[ "$stderr" = "pgflo-rule: ops.yml:3: more than 1000000 nodes once aliases are expanded; refusing the file" ]
	# Anchors and aliases within the limits still work.
	printf 'tables:\n  a: &l\n    - {type: transform, column: e, parameters: {type: mask}}\n  b: *l\n' > ok.yml
	run -0 bash -c "echo '{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"b\",\"new\":{\"e\":\"abc\"}}' | pgflo-rule -f ok.yml"
	assert_output '{"op":"insert","schema":"s","table":"b","new":{"e":"a*c"}}'
}
