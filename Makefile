# evcp: build, test, benchmark. Variables are overridable: make LUA=luajit ...
LUA          ?= lua5.4
LUAJIT       ?= luajit
LUA_INCDIR   ?= /usr/include/lua5.4
LUAJIT_INCDIR?= /usr/include/luajit-2.1
# libcurl, expat and zlib; luarocks passes these from its external_dependencies
EXT_CFLAGS   ?= $(shell pkg-config --cflags libcurl expat zlib libcrypto 2>/dev/null)
EXT_LIBS     ?= $(shell pkg-config --libs libcurl expat zlib libcrypto 2>/dev/null || echo -lcurl -lexpat -lz -lcrypto)
CC           ?= cc
OPT          ?= -O2 -g
WARN         ?= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS       ?= $(OPT)
ALL_CFLAGS    = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(filter-out -I/usr/include,$(EXT_CFLAGS))
LIBFLAG      ?= -shared
LDFLAGS      ?=
PREFIX       ?= /usr/local
BUSTED       ?= /usr/bin/busted
LUACHECK     ?= luacheck
# where `make rock-install` puts the modules (luarocks passes its tree's dirs)
INST_LIBDIR  ?= $(PREFIX)/lib/lua/5.4
INST_LUADIR  ?= $(PREFIX)/share/lua/5.4
# every library module under lua/evcp (the emulator is not the library's)
LUA_MODS     := $(shell cd lua && find evcp -name '*.lua' -not -path 'evcp/emulator/*' 2>/dev/null | LC_ALL=C sort)

SRCS    = csrc/core.c csrc/value.c csrc/object.c csrc/json.c csrc/xml.c csrc/transport.c csrc/text.c csrc/json_decode.c csrc/crypto.c csrc/stream.c
HDRS    = csrc/evcp.h csrc/compat.h csrc/schema.h
B54     = build/lua5.4
BJIT    = build/luajit

.PHONY: all deps-checked env deps test sanitize valgrind demo bench clean install \
	rock rock-install rock-check lint bare-check

# A core.so built against another Lua's headers builds and installs, then
# fails to load: refuse such headers before compiling ($(1): the include dir).
need_runtime = @test -f $(1)/luajit.h || grep -Eq 'define[[:space:]]+LUA_VERSION_NUM[[:space:]]+504' $(1)/lua.h 2>/dev/null \
	|| { echo "evcp: $(1)/lua.h is neither Lua 5.4's nor LuaJIT 2.1's; evcp runs on Lua 5.4 and LuaJIT 2.1 only" >&2; exit 1; }

all: deps-checked $(B54)/evcp/core.so $(BJIT)/evcp/core.so

$(B54)/evcp/core.so: $(SRCS) $(HDRS)
	$(call need_runtime,$(LUA_INCDIR))
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) $(SRCS) -o $@ $(LIBFLAG) $(LDFLAGS) $(EXT_LIBS)

$(BJIT)/evcp/core.so: $(SRCS) $(HDRS)
	$(call need_runtime,$(LUAJIT_INCDIR))
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(LUAJIT_INCDIR) $(SRCS) -o $@ $(LIBFLAG) $(LDFLAGS) $(EXT_LIBS)

# luarocks (build.type "make", see evcp-scm-1.rockspec): `rock` builds the core
# for the one runtime whose headers are in LUA_INCDIR, always afresh (the same
# checkout may be built for Lua 5.4 and then for LuaJIT); `rock-install` puts
# it and every module under lua/evcp (LUA_MODS) into INST_LIBDIR/INST_LUADIR.
rock:
	$(call need_runtime,$(LUA_INCDIR))
	@mkdir -p build/rock/evcp
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) $(SRCS) -o build/rock/evcp/core.so $(LIBFLAG) $(LDFLAGS) $(EXT_LIBS)

rock-install:
	@test -f build/rock/evcp/core.so || { echo "evcp: run make rock first" >&2; exit 1; }
	install -d $(INST_LIBDIR)/evcp
	install -m 755 build/rock/evcp/core.so $(INST_LIBDIR)/evcp/core.so
	@for f in $(LUA_MODS); do \
	  echo "install lua/$$f $(INST_LUADIR)/$$f"; \
	  install -d "$(INST_LUADIR)/$${f%/*}" && install -m 644 "lua/$$f" "$(INST_LUADIR)/$$f" || exit 1; \
	done

# eval "$(make -s env)": the repo's modules for both runtimes from any
# directory. LuaJIT (and any 5.1) reads LUA_PATH/LUA_CPATH; Lua 5.4 reads the
# _5_4 variables first, so each finds the core.so built for it.
env:
	@echo 'export LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH="$(CURDIR)/$(BJIT)/?.so;;"'
	@echo 'export LUA_PATH_5_4="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH_5_4="$(CURDIR)/$(B54)/?.so;;"'

deps:
	@sh .ci/deps.sh

# `make` alone must not need root: it only warns about missing headers.
deps-checked:
	@test -f $(LUA_INCDIR)/lua.h || echo "evcp: $(LUA_INCDIR)/lua.h missing; run make deps" >&2
	@test -f $(LUAJIT_INCDIR)/lua.h || echo "evcp: $(LUAJIT_INCDIR)/lua.h missing; run make deps" >&2

test: deps all
	sh spec/run.sh all

sanitize: deps
	sh spec/sanitize.sh

valgrind: deps all
	sh spec/valgrind.sh

demo: deps all
	LUA=$(LUA) sh examples/run-demo.sh

bench: deps all
	sh bench/run.sh

# the library for Lua 5.4 into ~/.luarocks (Debian's lua-cjson satisfies the dependency)
install: all
	luarocks --lua-version 5.4 make --local --deps-mode=none evcp-scm-1.rockspec

# both runtimes through luarocks into fresh trees, then `require "evcp"` from /tmp
rock-check: deps
	sh .ci/rock-check.sh

lint: deps
	$(LUACHECK) . .busted

# the README's commands in a debootstrap minbase chroot (root; slow)
bare-check:
	sh .ci/bare-check.sh

clean:
	rm -rf build core.so
