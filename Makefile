# mlops - one Makefile: build, test, sanitize, bench, install.
#
#   make                 build ./mlops
#   make test            unit tests (cmocka) and command-line tests (prove)
#   make sanitize        the same tests under ASan+UBSan (build in build-san/)
#   make valgrind        the command-line tests with every mlops under valgrind
#   make stress          the crash and concurrency tests, ten times longer
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (clang)
#   make soak            the REST server under load (tests/soak-serve.sh)
#   make bench           benchmarks against peers (bench/README.md)
#   make install         PREFIX=/usr/local DESTDIR= ; make uninstall
#
# Quiet unless V=1.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
DATAROOT ?= $(PREFIX)/share
# zsh reads site-functions below /usr/local, and Debian's zsh reads
# vendor-completions below /usr; packagers may set either.
ifeq ($(PREFIX),/usr)
ZSHCOMPDIR ?= $(DATAROOT)/zsh/vendor-completions
else
ZSHCOMPDIR ?= $(DATAROOT)/zsh/site-functions
endif
PKG_CONFIG ?= pkg-config
CC ?= cc

# Linked libraries, and libraries whose headers are used but which are
# loaded on first use (store/dynlib.h: they would add some 30 shared
# objects, about 3.5 ms, to every command's start).
LIBS_PC_LINKED = libcjson zlib libzstd libcrypto
LIBS_PC_LOADED = libarchive libcurl libmicrohttpd libgit2
# libgit2's soname and Debian package carry its minor version (libgit2.so.1.5).
GIT2_SOVERSION := $(shell $(PKG_CONFIG) --modversion libgit2 | cut -d. -f1-2)
LIBS_PC = $(LIBS_PC_LINKED) $(LIBS_PC_LOADED)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

BUILD ?= build
OPT ?= -O2
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g \
	-I. -DMLOPS_VERSION='"$(VERSION)"' $(shell $(PKG_CONFIG) --cflags $(LIBS_PC)) \
	-DMLOPS_GIT2_SONAME='"libgit2.so.$(GIT2_SOVERSION)"' \
	-DMLOPS_GIT2_PACKAGE='"libgit2-$(GIT2_SOVERSION)"'
ALL_CFLAGS = $(CFLAGS_BASE) $(SAN) $(CFLAGS)
ALL_LDLIBS = $(shell $(PKG_CONFIG) --libs $(LIBS_PC_LINKED)) -ldl -lpthread -lm $(LDLIBS)
# Tests and fuzz targets may call the loaded libraries themselves
# (test_serve is an HTTP client; fuzz_archive reads what it imports).
LOADED_LDLIBS = $(shell $(PKG_CONFIG) --libs $(LIBS_PC_LOADED))
TEST_LDLIBS = $(shell $(PKG_CONFIG) --libs cmocka) $(LOADED_LDLIBS)

ifeq ($(V),1)
Q =
E = @true
else
Q = @
E = @echo
endif

LIB_SRCS := $(sort $(wildcard store/*.c core/*.c))
CMD_SRCS := $(sort $(wildcard cmd/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CMD_OBJS := $(CMD_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
MAN_SRCS := $(sort $(wildcard man/*.scd))
MAN_PAGES := $(MAN_SRCS:man/%.scd=$(BUILD)/man/%)
DEPS := $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d) $(UNIT_BINS:=.d)

BIN ?= mlops

.DELETE_ON_ERROR:
.PHONY: all test unit cli sanitize valgrind bench bench-quick install uninstall clean man demo stress fuzz \
	fuzz-build fuzz-bins soak cli-san
all: $(BIN) man

$(BIN): $(CMD_OBJS) $(BUILD)/libmlops.a
	$(E) "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(CMD_OBJS) $(BUILD)/libmlops.a $(ALL_LDLIBS)

$(BUILD)/libmlops.a: $(LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmlops.a
	@mkdir -p $(dir $@)
	$(E) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libmlops.a $(ALL_LDLIBS) $(TEST_LDLIBS)

man: $(MAN_PAGES)
$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	$(E) "  SCDOC   $<"
	$(Q)scdoc < $< > $@

unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "# $$t"; $$t; done

# Two at a time, the largest scripts (which run longest) first, so that no
# long one is left running alone at the end.
CLI_TESTS = $(shell ls -S tests/cli/t*.sh)

cli: $(BIN) man
	$(Q)MLOPS_BIN=$(abspath $(BIN)) MLOPS_MANDIR=$(abspath $(BUILD)/man) \
		prove -j2 --timer $(CLI_TESTS)

test: unit cli

sanitize:
	$(Q)$(MAKE) BUILD=build-san BIN=build-san/mlops OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		unit cli-san

cli-san: $(BIN) man
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		MLOPS_SANITIZE=1 MLOPS_BIN=$(abspath $(BIN)) MLOPS_MANDIR=$(abspath $(BUILD)/man) \
		prove -j2 --timer $(CLI_TESTS)

VALGRIND = valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=126

valgrind: $(BIN) man $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "# valgrind $$t"; $(VALGRIND) $$t; done
	$(Q)MLOPS_VALGRIND=1 MLOPS_BIN=$(abspath $(BIN)) MLOPS_MANDIR=$(abspath $(BUILD)/man) \
		prove -j2 --timer $(CLI_TESTS)

stress: $(BIN)
	$(Q)MLOPS_STRESS=10 MLOPS_BIN=$(abspath $(BIN)) prove -v tests/cli/t8000-crash.sh

# Fuzzing (tests/fuzz/, SECURITY.md): clang's libFuzzer with ASan+UBSan,
# the library built again in build-fuzz/.  New inputs that widen coverage
# go to build-fuzz/corpus/<target>; tests/corpus/<target> holds the seeds
# and every crash found, replayed by tests/unit/test_corpus.c.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -max_len=16384
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRCS:tests/fuzz/%.c=%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

fuzz-build:
	$(Q)$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPT=-O1 \
		SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-bins

fuzz-bins: $(FUZZ_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(BUILD)/libmlops.a
	@mkdir -p $(dir $@)
	$(E) "  FUZZ    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libmlops.a $(ALL_LDLIBS) $(LOADED_LDLIBS)

fuzz: fuzz-build
	$(Q)failed=; for t in $(FUZZ_TARGETS); do \
		c=$${t#fuzz_}; mkdir -p build-fuzz/corpus/$$c build-fuzz/crashes; \
		echo "# $$t: $(FUZZ_SECONDS) s"; \
		build-fuzz/fuzz/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build-fuzz/crashes/$$c- build-fuzz/corpus/$$c tests/corpus/$$c \
			2>build-fuzz/$$t.log || { failed="$$failed $$t"; tail -n 60 build-fuzz/$$t.log; }; \
		grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)" build-fuzz/$$t.log; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in$$failed (inputs in build-fuzz/crashes/)"; exit 1; fi

soak: $(BIN)
	$(Q)MLOPS_BIN=$(abspath $(BIN)) tests/soak-serve.sh

bench: $(BIN)
	$(Q)bench/run.sh

bench-quick: $(BIN)
	$(Q)bench/run.sh --quick

demo: $(BIN)
	$(Q)MLOPS_BIN=$(abspath $(BIN)) examples/tour.sh

install: $(BIN) man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 \
		$(DESTDIR)$(DATAROOT)/bash-completion/completions \
		$(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(DATAROOT)/fish/vendor_completions.d
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/mlops
	for p in $(MAN_PAGES); do install -m 644 $$p $(DESTDIR)$(MANPREFIX)/man1/; done
	install -m 644 completions/mlops.bash $(DESTDIR)$(DATAROOT)/bash-completion/completions/mlops
	install -m 644 completions/_mlops $(DESTDIR)$(ZSHCOMPDIR)/_mlops
	install -m 644 completions/mlops.fish $(DESTDIR)$(DATAROOT)/fish/vendor_completions.d/mlops.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mlops
	for p in $(MAN_SRCS:man/%.scd=%); do rm -f $(DESTDIR)$(MANPREFIX)/man1/$$p; done
	rm -f $(DESTDIR)$(DATAROOT)/bash-completion/completions/mlops
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_mlops
	rm -f $(DESTDIR)$(DATAROOT)/fish/vendor_completions.d/mlops.fish

clean:
	rm -rf build build-san build-fuzz mlops

-include $(DEPS)
