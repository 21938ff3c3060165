# anxin - build, test, demo and install.
#
#   make            build anxind, anxinctl and libanxin.a under build/
#   make asan       the same with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   make test       install missing packages, start throwaway services, run every test
#   make test-asan  the same suite against the sanitizer build
#   make demo       install missing packages and run the demo (an SOS end to end)
#   make install    PREFIX=/usr DESTDIR=... (FHS: /usr/sbin/anxind, /etc/anxin, /usr/share/anxin/sql,
#                   the web console in /usr/share/anxin/console)
#   make fuzz       the rule-language fuzz target, build-fuzz/rule_parse_fuzz (clang, libFuzzer)

CC      ?= cc
PKGS    := libpq libuv libcjson libcurl libmicrohttpd
O       ?= build
SAN     ?=
PREFIX  ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
LOCALSTATEDIR ?= $(if $(filter /usr,$(PREFIX)),/var,$(PREFIX)/var)
DESTDIR ?=

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -Idaemon $(PKG_CFLAGS) \
	-DANXIN_SYSCONFDIR='"$(SYSCONFDIR)/anxin"' -DANXIN_DATADIR='"$(DATADIR)/anxin"' \
	-DANXIN_STATEDIR='"$(LOCALSTATEDIR)/lib/anxin"' -MMD -MP
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
endif
LDLIBS  := -lpaho-mqtt3as $(PKG_LIBS) -lm

# Objects depend on the flags they were built with, so that, say,
# `make install PREFIX=/usr` after `make` rebuilds with the right paths.
FLAGS_FILE := $(O)/.cflags
ifneq ($(file <$(FLAGS_FILE)),$(ALL_CFLAGS) $(LDSAN))
$(shell mkdir -p $(O))
$(file >$(FLAGS_FILE),$(ALL_CFLAGS) $(LDSAN))
endif

LIB_SRC    := $(wildcard lib/*.c)
DAEMON_SRC := $(filter-out daemon/anxind.c daemon/anxinctl.c,$(wildcard daemon/*.c))
# anxinctl is blocking and small: its commands plus the few modules it shares.
CTL_SRC    := $(wildcard daemon/ctl_*.c) $(filter $(DAEMON_SRC),daemon/schema.c daemon/secret.c daemon/fileio.c daemon/log.c \
              daemon/rules_load.c daemon/templates_load.c daemon/journal.c daemon/regdb.c)
ANXIND_SRC := $(filter-out $(wildcard daemon/ctl_*.c),$(DAEMON_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(O)/%.o)
ANXIND_OBJ := $(ANXIND_SRC:%.c=$(O)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
TOOLS      := $(O)/anxin-load $(O)/notify-bench $(O)/paho-count $(O)/tests/regdb-compare

.PHONY: all asan test test-asan demo install clean unit deps fuzz browser-deps
all: $(O)/libanxin.a $(O)/anxind $(O)/anxinctl $(UNIT_BIN) $(TOOLS)

$(O)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libanxin.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/anxind: $(O)/daemon/anxind.o $(ANXIND_OBJ) $(O)/libanxin.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) -pthread

$(O)/anxinctl: $(O)/daemon/anxinctl.o $(CTL_OBJ) $(O)/libanxin.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) -pthread

# A unit test links libanxin.a plus the daemon modules it names here.
UNIT_EXTRA_test_journal := daemon/journal
UNIT_EXTRA_test_snapshot := daemon/snapshot daemon/fileio

.SECONDARY:
.SECONDEXPANSION:
$(O)/tests/%: $(O)/tests/unit/%.o $$(addprefix $(O)/,$$(addsuffix .o,$$(UNIT_EXTRA_$$*))) $(O)/libanxin.a
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) -lcmocka -pthread

# Test-only: the registry loaded both ways and compared (test_registry_load).
$(O)/tests/regdb-compare: $(O)/tests/regdb_compare.o $(O)/daemon/regdb.o $(O)/libanxin.a
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(O)/anxin-load: bench/anxin-load.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ bench/anxin-load.c -lmosquitto

# The bare Paho subscriber bench/run ingest compares anxind with.
$(O)/paho-count: bench/paho-count.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDSAN) -o $@ bench/paho-count.c -lpaho-mqtt3as -pthread

$(O)/notify-bench: $(O)/bench/notify-bench.o $(O)/daemon/httpc.o $(O)/daemon/notifier.o $(O)/daemon/log.o $(O)/libanxin.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) -pthread

asan:
	@$(MAKE) --no-print-directory O=build-asan SAN=1 CFLAGS="-O1 -g"

unit: all
	@scripts/run-unit.sh $(O)

deps:
	@scripts/deps.sh

# The console's browser test drives Chromium with playwright-core, pinned in
# tests/browser/package-lock.json; npm ci again whenever the lock changes.
BROWSER_MODULES := tests/browser/node_modules/.package-lock.json
browser-deps: $(BROWSER_MODULES)
$(BROWSER_MODULES): tests/browser/package-lock.json tests/browser/package.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error </dev/null
	@touch $@

test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all asan fuzz browser-deps >/dev/null
	@scripts/test.sh

test-asan:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory asan browser-deps >/dev/null
	@ANXIN_BUILD=build-asan scripts/test.sh

demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all >/dev/null
	@scripts/demo.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/anxin \
		$(DESTDIR)$(DATADIR)/anxin/sql $(DESTDIR)$(DATADIR)/doc/anxin
	install -m 755 $(O)/anxind $(DESTDIR)$(SBINDIR)/anxind
	install -m 755 $(O)/anxinctl $(DESTDIR)$(BINDIR)/anxinctl
	install -m 644 sql/*.sql $(DESTDIR)$(DATADIR)/anxin/sql/
	@[ -e $(DESTDIR)$(SYSCONFDIR)/anxin/anxind.conf ] || \
		install -m 640 conf/anxind.conf $(DESTDIR)$(SYSCONFDIR)/anxin/anxind.conf
	install -d $(DESTDIR)$(SYSCONFDIR)/anxin/rules.d $(DESTDIR)$(DATADIR)/anxin/rules-tests
	@[ -e $(DESTDIR)$(SYSCONFDIR)/anxin/rules.d/default.rules ] || \
		install -m 644 conf/rules.d/default.rules $(DESTDIR)$(SYSCONFDIR)/anxin/rules.d/
	install -m 644 conf/rules.d/tests/*.test $(DESTDIR)$(DATADIR)/anxin/rules-tests/
	@[ -e $(DESTDIR)$(SYSCONFDIR)/anxin/templates ] || { \
		install -d $(DESTDIR)$(SYSCONFDIR)/anxin/templates && \
		install -m 644 conf/templates/*.txt $(DESTDIR)$(SYSCONFDIR)/anxin/templates/; }
	install -m 644 docs/*.md $(DESTDIR)$(DATADIR)/doc/anxin/
	install -d $(DESTDIR)$(DATADIR)/anxin/console
	install -m 644 console/* $(DESTDIR)$(DATADIR)/anxin/console/
	@if [ -d $(DESTDIR)/lib/systemd/system ] || [ -n "$(DESTDIR)" ]; then \
		install -d $(DESTDIR)/lib/systemd/system && \
		install -m 644 systemd/anxind.service $(DESTDIR)/lib/systemd/system/; fi

# libFuzzer with ASan+UBSan; the runtime is Debian's libclang-rt-14-dev (scripts/deps.sh).
# The library is instrumented for coverage (fuzzer-no-link); only the target gets
# libFuzzer's main. Run it with:
#   build-fuzz/rule_parse_fuzz -dict=fuzz/rule_parse.dict fuzz/corpus/rule_parse
FUZZ_O      := build-fuzz
FUZZ_CC     ?= clang
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(filter-out -Werror,$(WARN)) -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -Ilib $(PKG_CFLAGS)
FUZZ_OBJ    := $(LIB_SRC:%.c=$(FUZZ_O)/%.o)

fuzz: $(FUZZ_O)/rule_parse_fuzz

$(FUZZ_O)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_O)/libanxin.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_O)/rule_parse_fuzz: fuzz/rule_parse_fuzz.c $(FUZZ_O)/libanxin.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(O) -name '*.d' 2>/dev/null)
-include $(wildcard $(FUZZ_O)/lib/*.d)
