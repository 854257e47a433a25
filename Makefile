# lsm_fdw: PGXS build.  The engine (src/engine) is plain C and is also built
# standalone by test/engine/Makefile for its unit tests.
MODULE_big = lsm_fdw
EXTENSION  = lsm_fdw
DATA       = sql/lsm_fdw--0.1.sql
PGFILEDESC = "lsm_fdw - LSM-tree foreign data wrapper"

FDW_OBJS = \
	src/fdw/analyze.o \
	src/fdw/commit.o \
	src/fdw/keylock.o \
	src/fdw/shmem.o \
	src/fdw/snapshot.o \
	src/fdw/worker.o \
	src/fdw/ddl.o \
	src/fdw/direct.o \
	src/fdw/functions.o \
	src/fdw/lsm_fdw.o \
	src/fdw/modify.o \
	src/fdw/options.o \
	src/fdw/plan.o \
	src/fdw/rows.o \
	src/fdw/scan.o \
	src/fdw/scan_access.o \
	src/fdw/table.o \
	src/fdw/xact.o \
	src/fdw/keycodec.o \
	src/fdw/rowcodec.o \
	src/fdw/codec_test.o

ENGINE_SRCS := $(sort $(wildcard src/engine/*.c))
ENGINE_OBJS := $(ENGINE_SRCS:.c=.o)

OBJS = $(FDW_OBJS) $(ENGINE_OBJS)

PG_CONFIG ?= pg_config
# -isystem keeps warnings from Postgres's own headers out of -Werror.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server) -Isrc/engine -Isrc/fdw
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK  = -lzstd

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The engine is written in C11 (declarations where they are first needed).
$(ENGINE_OBJS): CFLAGS += -std=gnu11 -Wno-declaration-after-statement -Wno-missing-format-attribute

$(OBJS): $(wildcard src/engine/*.h src/fdw/*.h)

.PHONY: test demo engine-test
test:
	bash test/run_all.sh
demo:
	bash demo.sh
engine-test:
	$(MAKE) -C test/engine check
