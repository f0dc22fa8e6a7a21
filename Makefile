# gmaildir: one non-recursive Makefile.
#
# Sources are found by wildcard so that adding a module never means editing
# this file: every util/, config/, net/, oauth/, imap/, smtp/, store/, sync/ and daemon/ .c goes into the internal
# library (which never prints); cli/*.c, the only code that talks to a
# person, makes the program on top of it; every tests/unit/test_*.c becomes a
# cmocka binary linked against that same library.
#
#   make              build/gmaildir
#   make fmt-check    every tracked C file laid out by .clang-format (make fmt)
#   make check        install what is missing, check the layout, build with -Werror (plain and
#                     ASan+UBSan), run every test, print "N passed, N failed"
#   make demo         throwaway Dovecot with sample mail, real sync to ./demo/Mail
#   make bench        benchmarks (never fail on a timing)
#   make soak         the daemon for SOAK_SECONDS (1800) under changes both ways
#                     and connection cuts; both sides equal, RSS and fds flat
#   make install      program, systemd user units, man pages, shell completions,
#                     example config, README
#                     under PREFIX (/usr/local; DESTDIR honoured); uninstall
#   make fuzz         libFuzzer harnesses of the pure cores (see below)
#   make deb          a Debian package in build/deb; make lintian checks it
#   BUILD=dir SAN=1   an out-of-tree sanitizer build

BUILD ?= build
SAN ?=
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
DOCDIR = $(PREFIX)/share/doc/gmaildir
# systemd --user looks in /usr{,/local}/lib/systemd/user, but in a home
# directory only in ~/.local/share/systemd/user (not ~/.local/lib/...).
USERUNITDIR = $(PREFIX)/$(if $(filter $(HOME)/.local,$(PREFIX:%/=%)),share,lib)/systemd/user
UNITS := packaging/systemd/gmaildir.service packaging/systemd/gmaildir@.service
MANDIR = $(PREFIX)/share/man
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/site-functions
# Each completion is installed only when its file is there.
BASHCOMP := $(wildcard packaging/completion/gmaildir.bash)
ZSHCOMP := $(wildcard packaging/completion/_gmaildir)
VERSION := 0.1.0

CC ?= cc
PKGS := yaml-0.1 sqlite3 openssl
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wno-unused-parameter -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -DGMAILDIR_VERSION='"$(VERSION)"' \
	-DGMAILDIR_DOCDIR='"$(DOCDIR)"' -I. $(WARN) $(CFLAGS) \
	$(shell pkg-config --cflags libetpan $(PKGS) 2>/dev/null)
# libetpan from its static archive when there is one (Debian's libetpan-dev
# ships it): the shared library loads GnuTLS, p11-kit, Berkeley DB and more
# that gmaildir never calls (its TLS is OpenSSL's), about 3 MB of RSS and
# 4 ms of start-up on every run. The IMAP objects it links need only SASL
# and liblockfile. LIBETPAN=shared links the shared library instead.
# --libs-only-l: Debian's libetpan.pc leaks a no-PIE link spec (LIBETPAN.md §1).
LIBETPAN ?= static
ETPAN_A := $(wildcard $(shell pkg-config --variable=libdir libetpan 2>/dev/null)/libetpan.a)
ifeq ($(LIBETPAN)$(if $(ETPAN_A),.a),static.a)
ETPAN_LIBS := $(ETPAN_A) -lsasl2 -llockfile
else
ETPAN_LIBS := $(shell pkg-config --libs-only-l libetpan 2>/dev/null)
endif
# libcurl's OpenSSL flavour (libcurl4), for the OAuth token endpoint: the
# same TLS library and CA handling as IMAP. Its -dev package conflicts with
# the GnuTLS one libetpan-dev depends on; the headers are identical, so
# they come from the latter and the library is linked by its soname.
CURL_LIBS := -l:libcurl.so.4
OAUTH_PKGS := jansson libsecret-1
ALL_CFLAGS += $(shell pkg-config --cflags jansson 2>/dev/null)
# GLib's include paths only where libsecret is called.
$(BUILD)/oauth/store.o: ALL_CFLAGS += $(shell pkg-config --cflags libsecret-1 2>/dev/null)
# zlib: COMPRESS=DEFLATE (net/deflate.c); Debian's libetpan has none.
LIBS := $(ETPAN_LIBS) $(shell pkg-config --libs $(PKGS) $(OAUTH_PKGS) zlib 2>/dev/null) \
	$(CURL_LIBS) -lpthread
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

ifneq ($(SAN),)
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(wildcard util/*.c config/*.c net/*.c oauth/*.c imap/*.c smtp/*.c store/*.c sync/*.c daemon/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC := $(wildcard cli/*.c)
MAIN_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/tools/*.c)
HELPER_BIN := $(HELPER_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps check check-unit check-asan demo interop bench soak fmt fmt-check lint clean install uninstall

# Before compiling: the build packages, named with the apt line when one is
# missing (rather than a compiler error about a header).
all: build-deps $(BUILD)/gmaildir

build-deps:
	@tests/deps.sh --check build
.PHONY: build-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libgmaildir.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gmaildir: $(MAIN_OBJ) $(BUILD)/libgmaildir.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libgmaildir.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(BUILD)/libgmaildir.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

tests-bin: $(BUILD)/gmaildir $(UNIT_BIN) $(HELPER_BIN)
.PHONY: tests-bin

deps:
	@tests/deps.sh

# The plain build and the sanitizer build are separate trees so that neither
# ever links objects of the other.
# Both trees are built with a job per core.
NPROC := $(shell nproc 2>/dev/null || echo 1)
check: deps
	@$(MAKE) --no-print-directory fmt-check
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build tests-bin
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build-asan SAN=1 tests-bin
	@tests/run.sh build build-asan

check-unit:
	@$(MAKE) --no-print-directory tests-bin
	@GMAILDIR_TESTS=unit tests/run.sh $(BUILD)

# The battery on Cyrus and Courier, run from their unpacked packages
# (tests/interop/). CI runs it after `make check`.
interop: deps
	@tests/interop/deps.sh
	@$(MAKE) --no-print-directory BUILD=build all $(HELPER_BIN)
	@tests/interop/run.sh build

demo:
	@tests/deps.sh demo
	@$(MAKE) --no-print-directory BUILD=build all
	@tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory BUILD=build all $(HELPER_BIN)
	@tests/bench/run.sh
	@GMAILDIR_BIN=$(CURDIR)/build/gmaildir GMAILDIR_TOOLS=$(CURDIR)/build/tools tests/bench/latency.sh
	@GMAILDIR_BIN=$(CURDIR)/build/gmaildir tests/bench/netlatency.sh
	@BENCH_OUT=$(CURDIR)/build/bench-results.txt GMAILDIR_BIN=$(CURDIR)/build/gmaildir tests/bench/link.sh
	@BENCH_OUT=$(CURDIR)/build/bench-results.txt GMAILDIR_BIN=$(CURDIR)/build/gmaildir GMAILDIR_TOOLS=$(CURDIR)/build/tools tests/bench/scale.sh

# The long soak (tests/soak/soak.sh; `make check` runs it for 90 s as
# t_soak). SOAK_SEED, SOAK_REPORT=FILE and SOAK_KEEP=DIR are passed on.
SOAK_SECONDS ?= 1800
soak: deps
	@$(MAKE) --no-print-directory BUILD=build all $(HELPER_BIN)
	@GMAILDIR_BIN=$(CURDIR)/build/gmaildir GMAILDIR_TOOLS=$(CURDIR)/build/tools \
		SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/soak.sh

# Fuzzing (STYLE.md rules 13, 19): a libFuzzer harness per pure core,
# tests/fuzz/fuzz_NAME.c, with seeds in tests/fuzz/corpus/NAME/. The tree
# build-fuzz/ is clang's alone (ASan+UBSan+libFuzzer coverage) and never
# shares an object with build/ or build-asan/. A harness links only the
# library sources it lists in FUZZ_SRC_NAME below (plus FUZZ_COMMON), so no
# libetpan, SQLite or OpenSSL: a new harness needs its line there.
#   make fuzz          build, then run each harness FUZZ_SECONDS (60) on its
#                      corpus (new inputs go to build-fuzz/corpus/NAME);
#                      a crash, leak, UB or broken property fails
#   make fuzz-long     the same, 600 s each
#   make fuzz-build    build only (the smoke run of make check uses it)
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN := address,undefined
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -I. $(WARN) -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,$(FUZZ_SAN) -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags yaml-0.1 2>/dev/null)
FUZZ_LDFLAGS := -fsanitize=fuzzer,$(FUZZ_SAN)
FUZZ_COMMON := util/xalloc.c
FUZZ_SRC_maildir_name := store/maildir_name.c
FUZZ_SRC_mutf7 := imap/mutf7.c
FUZZ_SRC_folders := imap/folders.c imap/mutf7.c
FUZZ_SRC_config := config/config.c config/ytree.c config/schema.c config/account_conf.c \
	config/smtp_conf.c config/oauth2_conf.c \
	util/fs.c util/error.c util/suggest.c
FUZZ_LIBS_config := $(shell pkg-config --libs yaml-0.1 2>/dev/null)
FUZZ_SRC_plan := sync/plan.c
FUZZ_SRC_message_id := imap/message.c
FUZZ_SRC_uidset := util/uidset.c
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJ := $(sort $(foreach n,$(FUZZ_NAMES),$(FUZZ_BUILD)/tests/fuzz/fuzz_$(n).o \
	$(patsubst %.c,$(FUZZ_BUILD)/%.o,$(FUZZ_SRC_$(n)) $(FUZZ_COMMON))))

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

define FUZZ_LINK
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/tests/fuzz/fuzz_$(1).o \
		$(patsubst %.c,$(FUZZ_BUILD)/%.o,$(FUZZ_SRC_$(1)) $(FUZZ_COMMON))
	$$(FUZZ_CC) $$(FUZZ_LDFLAGS) -o $$@ $$^ $$(FUZZ_LIBS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_LINK,$(n))))

.PHONY: fuzz fuzz-build fuzz-long
fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=600

-include $(FUZZ_OBJ:.o=.d)

# Every C file and header git tracks is laid out by .clang-format; make
# check runs fmt-check first, so that drift cannot come back.
FMT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	@bad=$$(for f in $(FMT_FILES); do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "not formatted (run make fmt):" $$bad >&2; exit 1; fi

lint:
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr \
		--suppress=missingIncludeSystem -I. $(LIB_SRC) $(CLI_SRC)

# The program, the systemd user units (@BINDIR@ and @DOCDIR@ filled in), the
# man pages, the bash and zsh completions, an example config and the README.
# DESTDIR stages a package.
install: $(BUILD)/gmaildir
	install -D -m 0755 $(BUILD)/gmaildir $(DESTDIR)$(BINDIR)/gmaildir
	install -d $(DESTDIR)$(USERUNITDIR) $(DESTDIR)$(DOCDIR)
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' $$u \
			>$(DESTDIR)$(USERUNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(USERUNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 0644 packaging/config.yaml.example README.md $(DESTDIR)$(DOCDIR)/
	install -D -m 0644 packaging/man/gmaildir.1 $(DESTDIR)$(MANDIR)/man1/gmaildir.1
	install -D -m 0644 packaging/man/gmaildir.yaml.5 $(DESTDIR)$(MANDIR)/man5/gmaildir.yaml.5
	$(if $(BASHCOMP),install -D -m 0644 $(BASHCOMP) $(DESTDIR)$(BASHCOMPDIR)/gmaildir)
	$(if $(ZSHCOMP),install -D -m 0644 $(ZSHCOMP) $(DESTDIR)$(ZSHCOMPDIR)/_gmaildir)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gmaildir $(UNITS:packaging/systemd/%=$(DESTDIR)$(USERUNITDIR)/%) \
		$(DESTDIR)$(DOCDIR)/config.yaml.example $(DESTDIR)$(DOCDIR)/README.md \
		$(DESTDIR)$(MANDIR)/man1/gmaildir.1 $(DESTDIR)$(MANDIR)/man5/gmaildir.yaml.5 \
		$(DESTDIR)$(BASHCOMPDIR)/gmaildir $(DESTDIR)$(ZSHCOMPDIR)/_gmaildir
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# A Debian package (debian/) of the tree as it is, committed or not, less
# what .gitignore ignores: dpkg-buildpackage -b runs in a throwaway copy and
# the .deb lands in build/deb/. As root, packaging/deb.sh first installs
# dpkg-dev, debhelper and the build dependencies if they are missing.
deb:
	@packaging/deb.sh build/deb
.PHONY: deb

# The package as Debian would check it: the .deb and the source package
# built, lintian on both; errors and warnings fail (packaging/lintian.sh
# says which one warning of Debian 12's lintian is allowed, and why). As
# root, installs lintian first (tests/deps.sh lintian).
lintian:
	@VERSION=$(VERSION) packaging/lintian.sh build/deb
.PHONY: lintian

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:$(BUILD)/tests/%=$(BUILD)/tests/unit/%.d)
