# pgflo - PostgreSQL change data capture as a Unix toolset.
# GNU make, non-recursive.  `make check` and `make demo` install missing
# Debian packages first (scripts/install-deps).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
# The systemd template units and the example NAME.env (pgflo(7) RUNNING).
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLEDIR ?= $(PREFIX)/share/doc/pgflo
PKG_CONFIG ?= pkg-config
VERSION := $(shell cat VERSION)

PKGS = libpq libnats jansson libpcre2-8 libcurl libcrypto yaml-0.1
CFLAGS ?= -g -O2
override CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral $(CFLAGS)
override CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-DPCRE2_CODE_UNIT_WIDTH=8 -DPGFLO_VERSION='"$(VERSION)"' \
	-Icommon -MMD -MP
override CPPFLAGS += $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS = -Wl,--as-needed $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm

# make SANITIZE=1: AddressSanitizer and UBSan; make WERROR=1: as in CI.
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer
override CFLAGS += $(if $(SANITIZE),$(SAN)) $(if $(WERROR),-Werror)
override LDFLAGS += $(if $(SANITIZE),$(SAN))

# pgflo itself is the front end that runs pg_flo's commands (pgflo(1)).
TOOLS = $(patsubst tools/%.c,%,$(wildcard tools/pgflo-*.c)) pgflo
BINS = $(TOOLS:%=bin/%)
COMMON_OBJS = $(patsubst %.c,%.o,$(wildcard common/*.c))
# Helpers of the tests, built with the tools, never installed.
TESTBINS = tests/nats-dump
MAN1 = $(wildcard man/*.1)
MAN5 = $(wildcard man/*.5)
MAN7 = $(wildcard man/*.7)
UNITS = $(wildcard scripts/systemd/*.service)

all: $(BINS) $(TESTBINS)

common/libpgflo.a: $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

bin/%: tools/%.o common/libpgflo.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/nats-dump: tests/nats-dump.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps

check: deps
	$(MAKE) WERROR=1 all
	scripts/bats-summary tests/*.bats

# A sub-make builds after deps, so pkg-config answers for fresh installs.
bench: deps
	$(MAKE) all
	scripts/bench $(BENCH)

# make demo: the pipeline through NATS JetStream (scripts/demo-nats);
# make demo-local: the embedded one, without NATS (scripts/demo).
demo: deps
	$(MAKE) all
	scripts/demo-nats

demo-local: deps
	$(MAKE) all
	scripts/demo

# make chaos: the fault campaign (scripts/chaos), 100 faults over ~10
# minutes; `make chaos CHAOS_FAULTS=20 CHAOS_DURATION=60 CHAOS_SEED=42`.
chaos: deps
	$(MAKE) all
	scripts/chaos

# make fuzz: every target of scripts/fuzz (or those named: `make fuzz
# FUZZ=rule`) for FUZZ_SECONDS each; `make clean; make SANITIZE=1 fuzz`
# runs the tools under ASan and UBSan.
fuzz: deps
	$(MAKE) all
	scripts/fuzz $(FUZZ)

lint:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN7)

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)
	$(if $(MAN1),install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(MAN5),install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5)
	$(if $(MAN7),install -m 0644 $(MAN7) $(DESTDIR)$(MANDIR)/man7)
	mkdir -p $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(EXAMPLEDIR)
	install -m 0644 $(UNITS) $(DESTDIR)$(SYSTEMDDIR)
	install -m 0644 scripts/systemd/example.env $(DESTDIR)$(EXAMPLEDIR)

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(MAN1:man/%=$(DESTDIR)$(MANDIR)/man1/%) \
		$(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%) \
		$(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%)
	rm -f $(UNITS:scripts/systemd/%=$(DESTDIR)$(SYSTEMDDIR)/%) \
		$(DESTDIR)$(EXAMPLEDIR)/example.env

clean:
	rm -rf bin common/*.o common/*.d common/*.a tools/*.o tools/*.d \
		tests/*.o tests/*.d $(TESTBINS)

.PHONY: all deps check bench chaos demo demo-local fuzz lint install uninstall clean
.SECONDARY:
-include $(wildcard tools/*.d common/*.d tests/*.d)
