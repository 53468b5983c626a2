# evcp: build, test, benchmark. Variables are overridable: make LUA=luajit ...
LUA          ?= lua5.4
LUAJIT       ?= luajit
LUA_INCDIR   ?= /usr/include/lua5.4
LUAJIT_INCDIR?= /usr/include/luajit-2.1
CURL_CFLAGS  ?= $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS    ?= $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lexpat -lz
CC           ?= cc
OPT          ?= -O2 -g
WARN         ?= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS       ?= $(OPT)
ALL_CFLAGS    = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(CURL_CFLAGS)
LIBFLAG      ?= -shared
LDFLAGS      ?=
PREFIX       ?= /usr/local
BUSTED       ?= /usr/bin/busted

SRCS    = csrc/core.c csrc/value.c csrc/object.c csrc/json.c csrc/xml.c csrc/transport.c
HDRS    = csrc/evcp.h csrc/compat.h
B54     = build/lua5.4
BJIT    = build/luajit

.PHONY: all deps-checked env deps test test54 testjit sanitize valgrind demo bench clean install

all: deps-checked $(B54)/evcp/core.so $(BJIT)/evcp/core.so

$(B54)/evcp/core.so: $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) $(SRCS) -o $@ $(LIBFLAG) $(LDFLAGS) $(CURL_LIBS)

$(BJIT)/evcp/core.so: $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -I$(LUAJIT_INCDIR) $(SRCS) -o $@ $(LIBFLAG) $(LDFLAGS) $(CURL_LIBS)

# The module built for one runtime, for luarocks (`make core.so LUA_INCDIR=...`).
core.so: $(SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) $(SRCS) -o $@ $(LIBFLAG) $(LDFLAGS) $(CURL_LIBS)

# eval "$(make -s env)" sets LUA_PATH/LUA_CPATH for Lua 5.4 from the repo root.
env:
	@echo 'export LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH="$(CURDIR)/$(B54)/?.so;;"'
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
	sh examples/run-demo.sh

bench: deps all
	sh bench/run.sh

install: all
	luarocks make --local

clean:
	rm -rf build core.so
