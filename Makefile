# gmaildir: one non-recursive Makefile.
#
# Sources are found by wildcard so that adding a module never means editing
# this file: every util/, config/, store/ and sync/ .c goes into the internal
# library (which never prints); cli/*.c, the only code that talks to a
# person, makes the program on top of it; every tests/unit/test_*.c becomes a
# cmocka binary linked against that same library.
#
#   make              build/gmaildir
#   make check        install what is missing, build with -Werror (plain and
#                     ASan+UBSan), run every test, print "N passed, N failed"
#   make demo         throwaway Dovecot with sample mail, real sync to ./demo/Mail
#   make bench        benchmarks (never fail on a timing)
#   BUILD=dir SAN=1   an out-of-tree sanitizer build

BUILD ?= build
SAN ?=
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

CC ?= cc
PKGS := yaml-0.1 sqlite3 openssl
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wno-unused-parameter -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -DGMAILDIR_VERSION='"$(VERSION)"' -I. $(WARN) $(CFLAGS) \
	$(shell pkg-config --cflags libetpan $(PKGS) 2>/dev/null)
# --libs-only-l: Debian's libetpan.pc leaks a no-PIE link spec (LIBETPAN.md §1).
LIBS := $(shell pkg-config --libs-only-l libetpan 2>/dev/null) \
	$(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

ifneq ($(SAN),)
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(wildcard util/*.c config/*.c store/*.c sync/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC := $(wildcard cli/*.c)
MAIN_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/tools/*.c)
HELPER_BIN := $(HELPER_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps check check-unit check-asan demo bench fmt lint clean install uninstall

all: $(BUILD)/gmaildir

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
check: deps
	@$(MAKE) --no-print-directory BUILD=build tests-bin
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 tests-bin
	@tests/run.sh build build-asan

check-unit:
	@$(MAKE) --no-print-directory tests-bin
	@GMAILDIR_TESTS=unit tests/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory BUILD=build all
	@tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory BUILD=build all $(HELPER_BIN)
	@tests/bench/run.sh

fmt:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(wildcard */*.h) $(UNIT_SRC)

lint:
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr \
		--suppress=missingIncludeSystem -I. $(LIB_SRC) $(CLI_SRC)

install: $(BUILD)/gmaildir
	install -D -m 0755 $(BUILD)/gmaildir $(DESTDIR)$(PREFIX)/bin/gmaildir

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/gmaildir

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:$(BUILD)/tests/%=$(BUILD)/tests/unit/%.d)
