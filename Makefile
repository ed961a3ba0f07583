# escort — GNU Makefile. `make demo` and `make check` work on a fresh Debian machine:
# both first run scripts/deps, which installs missing packages (idempotent).

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DATADIR  = $(PREFIX)/share/escort

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC      ?= cc
CLANG   ?= clang
PKGS     = libcrypto libsodium sqlite3 yaml-0.1 jansson libssh libmicrohttpd libcurl libpq libseccomp zlib libedit
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN    = -Wall -Wextra -Werror -Wimplicit-fallthrough -Wshadow -Wformat=2 \
          -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -DESCORT_HAVE_ZLIB $(WARN) $(CFLAGS) -Isrc $(PKG_CFLAGS) \
             -DESCORT_VERSION='"$(VERSION)"' -DESCORT_DATADIR='"$(DATADIR)"'
SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC  = $(sort $(wildcard src/util/*.c src/lockbox/*.c src/audit/*.c src/policy/*.c src/store/*.c src/workflow/*.c src/broker/*.c \
                    src/session/*.c src/server/*.c))
CLI_SRC  = $(sort $(wildcard src/cli/*.c))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
TOOL_SRC = $(sort $(wildcard tests/tools/*.c))
# the sudo approval plugin: a shared object sudo loads, so position-independent and
# self-contained (util only, never the rest of the library)
SUDO_SRC = $(sort $(wildcard src/sudo/*.c))

B  = build
BA = build/asan
BF = build/fuzz

LIB_OBJ    = $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ    = $(CLI_SRC:%.c=$(B)/%.o)
LIB_OBJ_A  = $(LIB_SRC:%.c=$(BA)/%.o)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_BIN_A = $(UNIT_SRC:tests/unit/%.c=$(BA)/tests/%)
FUZZ_BIN   = $(FUZZ_SRC:tests/fuzz/%.c=$(BF)/%)
TOOL_BIN   = $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
SUDO_SO    = $(if $(SUDO_SRC),$(B)/escort_sudo.so)
SUDO_OBJ   = $(SUDO_SRC:%.c=$(B)/pic/%.o) $(B)/pic/src/util/buf.o $(B)/pic/src/util/err.o $(B)/pic/src/util/shquote.o

.PHONY: all build-all deps check check-build check-run unit demo bench bench-run fuzz fuzz-run \
        quality quality-run install clean format
.DEFAULT_GOAL := all

# Public targets first install what is missing, then re-run make: pkg-config must be
# asked only after the -dev packages exist, which a single make run cannot guarantee.
NPROC := $(shell nproc 2>/dev/null || echo 2)
SUBMAKE = $(MAKE) --no-print-directory

all:
	@scripts/deps build
	@$(SUBMAKE) build-all

build-all: $(B)/escort $(SUDO_SO)

deps:
	@scripts/deps all

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BA)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(ALL_CFLAGS) -O1 $(SAN) -MMD -MP -c $< -o $@

$(B)/libescort.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@

# only the plugin symbol is exported (sudo loads it next to its own libraries)
$(B)/escort_sudo.so: ALL_CFLAGS += -fvisibility=hidden
$(B)/escort_sudo.so: $(SUDO_OBJ) src/sudo/escort_sudo.map
	$(CC) $(CFLAGS) -shared -fPIC -Wl,-z,defs -Wl,--version-script=src/sudo/escort_sudo.map -o $@ $(SUDO_OBJ) $(PKG_LIBS)

$(BA)/libescort.a: $(LIB_OBJ_A)
	@rm -f $@
	ar rcs $@ $^

$(B)/escort: $(CLI_OBJ) $(B)/libescort.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libescort.a $(PKG_LIBS) -lm

$(B)/tests/%: tests/unit/%.c $(B)/libescort.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(B)/libescort.a $(PKG_LIBS) $(CMOCKA_LIBS) -lm

$(BA)/tests/%: tests/unit/%.c $(BA)/libescort.a
	@mkdir -p $(dir $@)
	$(CLANG) $(ALL_CFLAGS) -O1 $(SAN) -Wno-missing-prototypes -o $@ $< $(BA)/libescort.a $(PKG_LIBS) $(CMOCKA_LIBS) -lm

$(B)/tools/%: tests/tools/%.c $(B)/libescort.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(B)/libescort.a $(PKG_LIBS) -lm

# Fuzz targets link one coverage-instrumented copy of the library, built once.
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -DESCORT_HAVE_ZLIB $(WARN) -g -O1 -Isrc $(PKG_CFLAGS) \
	  -DESCORT_VERSION='"$(VERSION)"' -DESCORT_DATADIR='"$(DATADIR)"' -fno-sanitize-recover=all
LIB_OBJ_F  = $(LIB_SRC:%.c=$(BF)/obj/%.o)

$(BF)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

$(BF)/libescort.a: $(LIB_OBJ_F)
	@rm -f $@
	ar rcs $@ $^

$(BF)/%: tests/fuzz/%.c $(BF)/libescort.a
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(BF)/libescort.a $(PKG_LIBS) -lm

# The test suite: unit tests, integration tests, unit tests under ASan+UBSan, a short
# libFuzzer run of every target. tests/harness ends with "N passed, N failed".
check:
	@scripts/deps test
	@$(SUBMAKE) -j$(NPROC) check-build
	@$(SUBMAKE) check-run

check-build: $(B)/escort $(SUDO_SO) $(UNIT_BIN) $(UNIT_BIN_A) $(FUZZ_BIN) $(TOOL_BIN)

check-run: check-build
	@ESCORT=$(CURDIR)/$(B)/escort ESCORT_RULES=$(CURDIR)/rules BUILD=$(CURDIR)/$(B) \
	  FUZZ_SECONDS=$${FUZZ_SECONDS:-15} perl tests/harness \
	  $(UNIT_BIN) $(UNIT_BIN_A) $(FUZZ_BIN) $(sort $(wildcard tests/integration/*.t))

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

demo:
	@scripts/deps demo
	@$(SUBMAKE) build-all
	@ESCORT=$(CURDIR)/$(B)/escort ESCORT_RULES=$(CURDIR)/rules sh scripts/demo

quality: all
	@$(SUBMAKE) quality-run

quality-run: $(B)/escort $(TOOL_BIN)
	@ESCORT=$(CURDIR)/$(B)/escort ESCORT_RULES=$(CURDIR)/rules BUILD=$(CURDIR)/$(B) sh bench/quality

bench:
	@scripts/deps all
	@$(SUBMAKE) -j$(NPROC) build-all $(TOOL_BIN)
	@$(SUBMAKE) bench-run

bench-run:
	@ESCORT=$(CURDIR)/$(B)/escort ESCORT_RULES=$(CURDIR)/rules BUILD=$(CURDIR)/$(B) sh bench/run

fuzz:
	@scripts/deps test
	@$(SUBMAKE) -j$(NPROC) $(FUZZ_BIN)
	@$(SUBMAKE) fuzz-run

fuzz-run:
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p $(BF)/corpus/$$n; \
	  echo "== $$n (600 s)"; \
	  $$f -max_total_time=$${FUZZ_SECONDS:-600} -timeout=10 -rss_limit_mb=2048 \
	    $$( [ -f tests/fuzz/$$n.dict ] && echo -dict=tests/fuzz/$$n.dict ) \
	    $(BF)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(DATADIR)/rules/commands
	install -m 0755 $(B)/escort $(DESTDIR)$(BINDIR)/escort
	install -m 0644 docs/*.1 $(DESTDIR)$(MANDIR)/man1/
	for f in docs/*.5; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(MANDIR)/man5/; done; true
	install -m 0644 rules/paths.yaml $(DESTDIR)$(DATADIR)/rules/
	install -m 0644 rules/commands/*.yaml $(DESTDIR)$(DATADIR)/rules/commands/
	if [ -d rules/windows ]; then install -d $(DESTDIR)$(DATADIR)/rules/windows && \
	  install -m 0644 rules/windows/*.yaml $(DESTDIR)$(DATADIR)/rules/windows/; fi
	if [ -d web ]; then cp -R web $(DESTDIR)$(DATADIR)/ && chmod -R a+rX $(DESTDIR)$(DATADIR)/web; fi

clean:
	rm -rf $(B)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(wildcard src/*/*.h)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
