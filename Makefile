# lsm_fdw: PGXS build.  The engine (src/engine) and the host runtime pieces
# are plain C and are also built standalone by test/engine/Makefile for their
# unit tests.
MODULE_big = lsm_fdw
EXTENSION  = lsm_fdw
# CREATE EXTENSION of 0.3 runs the 0.2 script, then the 0.2--0.3 update:
# one copy of each object's definition.
DATA       = sql/lsm_fdw--0.1.sql sql/lsm_fdw--0.2.sql \
             sql/lsm_fdw--0.1--0.2.sql sql/lsm_fdw--0.2--0.3.sql
PGFILEDESC = "lsm_fdw - LSM-tree foreign data wrapper"

# Three layers (see the README.md in each folder):
#   src/engine  the portable LSM library, plain C, no Postgres headers
#   src/host    the engine hosted in Postgres: shared memory, table registry,
#               server log, commit protocol, transactions, key locks, workers;
#               its runtime pieces (xlog, shm_heap, env_shared) are plain C too
#   src/fdw     the SQL surface: options, planning, scans, modifications
FDW_SRCS    := $(sort $(wildcard src/fdw/*.c))
HOST_RT     := src/host/xlog.c src/host/env_shared.c src/host/shm_heap.c
HOST_SRCS   := $(filter-out $(HOST_RT),$(sort $(wildcard src/host/*.c)))
ENGINE_SRCS := $(sort $(wildcard src/engine/*.c)) $(HOST_RT)

FDW_OBJS    := $(FDW_SRCS:.c=.o) $(HOST_SRCS:.c=.o)
ENGINE_OBJS := $(ENGINE_SRCS:.c=.o)

OBJS = $(FDW_OBJS) $(ENGINE_OBJS)

PG_CONFIG ?= pg_config
# -isystem keeps warnings from Postgres's own headers out of -Werror.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server) -Isrc/engine -Isrc/host -Isrc/fdw
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK  = -lzstd -llz4 $(ICU_LIBS)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The engine is written in C11 (declarations where they are first needed).
$(ENGINE_OBJS): CFLAGS += -std=gnu11 -Wno-declaration-after-statement -Wno-missing-format-attribute

$(OBJS): $(wildcard src/engine/*.h src/host/*.h src/fdw/*.h)

.PHONY: test demo engine-test
test:
	bash test/run_all.sh
demo:
	bash demo.sh
engine-test:
	$(MAKE) -C test/engine check
