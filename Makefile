# netmoon build.  `make` builds ./netmoon; `make check` builds everything and
# runs every test (normal and ASan+UBSan builds); `make run` installs what is
# missing, builds, and monitors the default-route interface; `make fuzz`
# runs the libFuzzer targets of tests/fuzz/ (needs clang).
#
# Sources are found by wildcard so that adding a file under src/ or a test
# under tests/unit/ needs no Makefile change.

VERSION   := 0.1.0
CC        ?= cc
PKGS      := libpcap libcrypto ncursesw libndpi
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla -Wformat=2
BASEFLAGS := -std=c11 -D_GNU_SOURCE -DNETMOON_VERSION=\"$(VERSION)\" -Isrc -MMD -MP $(WARN) $(PKG_CFLAGS)
CFLAGS    ?= -O2 -g
LDLIBS    := $(PKG_LIBS) -lm -lpthread
SANFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

LIB_SRC   := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))

REL_LIB_OBJ := $(LIB_SRC:%.c=build/rel/%.o)
SAN_LIB_OBJ := $(LIB_SRC:%.c=build/san/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=build/rel/unit/%) $(UNIT_SRC:tests/unit/%.c=build/san/unit/%)

.PHONY: all san check run bench fuzz clean deps tests
all: netmoon

netmoon: build/rel/src/main.o build/rel/libnetmoon.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/san/netmoon: build/san/src/main.o build/san/libnetmoon.a
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

san: build/san/netmoon

build/rel/libnetmoon.a: $(REL_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
build/san/libnetmoon.a: $(SAN_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC      $<"
	@$(CC) $(BASEFLAGS) $(CFLAGS) -c -o $@ $<
build/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC san  $<"
	@$(CC) $(BASEFLAGS) $(SANFLAGS) -c -o $@ $<

build/rel/unit/%: build/rel/tests/unit/%.o build/rel/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/san/unit/%: build/san/tests/unit/%.o build/san/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# Test drivers (tests/tools/*.c), e.g. the live-capture probe.
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=build/rel/tools/%) $(TOOL_SRC:tests/tools/%.c=build/san/tools/%)

build/rel/tools/%: build/rel/tests/tools/%.o build/rel/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/san/tools/%: build/san/tests/tools/%.o build/san/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark's workload generator; also used by tests/bench/.
build/rel/bench/gen_workload: build/rel/bench/gen_workload.o
	$(CC) $(CFLAGS) -o $@ $^

# Fuzz targets (tests/fuzz/fuzz_<name>.c).  make check replays each one's
# tests/fuzz/regress/<name>/ through a plain main (tests/fuzz/replay.c)
# built like the unit tests, so it needs no clang; make fuzz builds them
# with clang's libFuzzer and runs them (tests/fuzz/run-fuzz.sh).
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN   := $(FUZZ_TARGETS:%=build/rel/fuzz/replay_%) $(FUZZ_TARGETS:%=build/san/fuzz/replay_%)

build/rel/fuzz/replay_%: build/rel/tests/fuzz/fuzz_%.o build/rel/tests/fuzz/replay.o build/rel/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/san/fuzz/replay_%: build/san/tests/fuzz/fuzz_%.o build/san/tests/fuzz/replay.o build/san/libnetmoon.a
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

tests: netmoon build/san/netmoon $(UNIT_BIN) $(TOOL_BIN) $(REPLAY_BIN) build/rel/bench/gen_workload

# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="decode_flow ..."]: each target
# runs that long on build/fuzz/corpus/<name> plus seeds made from
# ../shared/pcaps; a crash is copied to tests/fuzz/regress/<name>/ and the
# exit status is non-zero.  The library is compiled again with clang,
# since libFuzzer needs clang's coverage instrumentation in every object.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null) clang)
FUZZFLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/bin/fuzz_%)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC fuzz $<"
	@$(FUZZ_CC) $(BASEFLAGS) $(FUZZFLAGS) -c -o $@ $<
build/fuzz/libnetmoon.a: $(FUZZ_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
build/fuzz/bin/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/libnetmoon.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(subst fuzzer-no-link,fuzzer,$(FUZZFLAGS)) -o $@ $^ $(LDLIBS)

fuzz:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: '$(FUZZ_CC)' not found;" \
	    "libFuzzer needs clang (apt-get install clang-14, or set FUZZ_CC)" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

deps:
	@scripts/install-deps.sh

# The runner prints one PASS/FAIL/SKIP line per test and ends with
# "N passed, N failed, N skipped"; it exits non-zero when anything failed.
check: deps
	@$(MAKE) --no-print-directory tests
	@tests/run.sh

run: deps
	@$(MAKE) --no-print-directory netmoon
	./netmoon $(ARGS)

bench: deps
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory netmoon build/rel/bench/gen_workload
	@bench/run.sh
	@bench/live.sh

clean:
	rm -rf build netmoon

-include $(shell find build -name '*.d' 2>/dev/null)
