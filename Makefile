# kztoken - top-level build.  `make` leaves build/pam_kztoken.so,
# build/libkzauth.so.0 and build/kztoken, usable in place (the command
# finds the library by RUNPATH $ORIGIN; the module has the core built in).

CC        ?= cc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null | grep . || echo x86_64-linux-gnu)
PREFIX    ?= /usr
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib/$(MULTIARCH)
PKGLIBDIR ?= $(LIBDIR)/kztoken
PAMDIR    ?= /lib/$(MULTIARCH)/security
NSSDIR    ?= /lib/$(MULTIARCH)
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= /lib/systemd/system
SYSCONFDIR ?= /etc
B         ?= build

# SAN=1 builds everything with ASan+UBSan (used by `make check` into build-asan).
ifeq ($(SAN),1)
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT       := -O1 -g
else
SANFLAGS  :=
OPT       := -O2 -g -D_FORTIFY_SOURCE=2
endif

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security \
             -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
HARDEN    := -fstack-protector-strong -fstack-clash-protection -fPIC -fvisibility=hidden
CPPFLAGS  += -D_GNU_SOURCE -Ilibkzauth
CFLAGS    ?=
ALLCFLAGS := -std=c11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) $(CPPFLAGS) $(CFLAGS)
LDHARDEN  := $(LDFLAGS) -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed $(SANFLAGS)
ifneq ($(SAN),1)
LDHARDEN  += -Wl,-z,defs
endif
RUNPATH   ?= $$ORIGIN

LIB_LIBS  := -lcrypto -ljansson -linih
LIB_SRC   := $(sort $(wildcard libkzauth/*/*.c))
LIB_OBJ   := $(LIB_SRC:libkzauth/%.c=$(B)/obj/lib/%.o)
PAM_SRC   := $(sort $(wildcard pam_kztoken/*.c))
PAM_OBJ   := $(PAM_SRC:pam_kztoken/%.c=$(B)/obj/pam/%.o)
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TOOL_OBJ  := $(TOOL_SRC:tools/%.c=$(B)/obj/tools/%.o)
HDRS      := $(wildcard libkzauth/*.h pam_kztoken/*.h tools/*.h tests/support/*.h)

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))

.PHONY: all check check-unit check-asan install clean demo bench fuzz deb interop deps deps-test
all: $(B)/libkzauth.so.0 $(B)/pam_kztoken.so $(B)/kztoken $(B)/libnss_kztoken.so.2

$(B)/obj/lib/%.o: libkzauth/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<
$(B)/obj/pam/%.o: pam_kztoken/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<
$(B)/obj/tools/%.o: tools/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

# The shared library exports only kz_* (version script).
$(B)/libkzauth.so.0: $(LIB_OBJ) libkzauth/libkzauth.map
	$(CC) -shared -Wl,-soname,libkzauth.so.0 -Wl,--version-script=libkzauth/libkzauth.map \
	  $(LDHARDEN) -o $@ $(LIB_OBJ) $(LIB_LIBS)
	ln -sf libkzauth.so.0 $(B)/libkzauth.so

# Same objects as an archive, so unit tests can reach internal functions.
$(B)/libkzauth_internal.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $(LIB_OBJ)

# The PAM module exports only the six pam_sm_* entry points.  It carries
# its own copy of the core (the archive; only the objects a module needs)
# instead of loading libkzauth.so.0: one object less for the dynamic linker
# in every fresh sudo or login (docs/performance.md), and no RUNPATH in a
# module that setuid programs load, so no library search path to trust.
# libcrypto is named first although the module calls it only through the
# core: the dynamic linker looks up each of libcrypto's ~4,200 symbols in
# every object that precedes it in the module's scope.
PAM_FIRST := -Wl,--no-as-needed -lcrypto -Wl,--as-needed
$(B)/pam_kztoken.so: $(PAM_OBJ) $(B)/libkzauth_internal.a pam_kztoken/pam_kztoken.map
	$(CC) -shared -Wl,--version-script=pam_kztoken/pam_kztoken.map $(LDHARDEN) \
	  -o $@ $(PAM_OBJ) $(PAM_FIRST) $(B)/libkzauth_internal.a $(LIB_LIBS) -lpam

# The NSS module reads only its database: no libkzauth, curl or jansson.
NSS_SRC   := $(sort $(wildcard nss_kztoken/*.c))
NSS_OBJ   := $(NSS_SRC:nss_kztoken/%.c=$(B)/obj/nss/%.o)
$(B)/obj/nss/%.o: nss_kztoken/%.c nss_kztoken/kzdb.h nss_kztoken/nss_kztoken.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<
$(B)/obj/lib/directory/nssread.o: nss_kztoken/kzdb.c nss_kztoken/kzdb.h
$(B)/libnss_kztoken.so.2: $(NSS_OBJ) nss_kztoken/nss_kztoken.map
	$(CC) -shared -Wl,-soname,libnss_kztoken.so.2 \
	  -Wl,--version-script=nss_kztoken/nss_kztoken.map $(LDHARDEN) -o $@ $(NSS_OBJ)

$(B)/kztoken: $(TOOL_OBJ) $(B)/libkzauth.so.0
	$(CC) -pie $(LDHARDEN) -Wl,-rpath,'$(RUNPATH)' -o $@ $(TOOL_OBJ) -L$(B) -lkzauth -ljansson -lcrypto

$(B)/tests/%: tests/unit/%.c $(SUPPORT_SRC) $(B)/libkzauth_internal.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-missing-prototypes -Itests/support -o $@ $< $(SUPPORT_SRC) \
	  $(B)/libkzauth_internal.a $(LIB_LIBS) -lcmocka -lcurl $(SANFLAGS)

deps:
	@bash tests/deps.sh build
deps-test:
	@bash tests/deps.sh test

# Every test: unit + integration (cmocka), PAM, shell, end-to-end; then the
# cmocka suite again under ASan+UBSan.  Ends with "N passed, N failed".
check: deps-test
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@bash tests/run.sh

check-unit: all $(UNIT_BIN)
	@bash tests/run.sh --only unit

check-asan:
	@$(MAKE) --no-print-directory SAN=1 B=build-asan all build-asan/libkzauth_internal.a \
	  $(UNIT_BIN:$(B)/%=build-asan/%)

demo: deps-test
	@$(MAKE) --no-print-directory all
	@bash tests/demo.sh

bench: deps-test
	@$(MAKE) --no-print-directory all $(B)/libkzauth_internal.a
	@bash tests/bench/run.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

interop: deps-test
	@$(MAKE) --no-print-directory all
	@bash tests/interop/run.sh

deb:
	@bash packaging/deb/build.sh

# The installed command gets an absolute RUNPATH for its private library
# (the module needs none: it carries the core).
install: all
	@mkdir -p $(B)/inst
	$(CC) -pie $(LDHARDEN) -Wl,-rpath,'$(PKGLIBDIR)' -o $(B)/inst/kztoken $(TOOL_OBJ) \
	  -L$(B) -lkzauth -ljansson -lcrypto
	install -d -m 0755 $(DESTDIR)$(PAMDIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(SBINDIR)
	install -m 0644 $(B)/pam_kztoken.so $(DESTDIR)$(PAMDIR)/pam_kztoken.so
	install -m 0644 $(B)/libkzauth.so.0 $(DESTDIR)$(PKGLIBDIR)/libkzauth.so.0
	install -m 0755 $(B)/inst/kztoken $(DESTDIR)$(SBINDIR)/kztoken
	install -d -m 0755 $(DESTDIR)$(NSSDIR)
	install -m 0644 $(B)/libnss_kztoken.so.2 $(DESTDIR)$(NSSDIR)/libnss_kztoken.so.2
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for m in man/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man5/; done; true
	for m in man/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man8/; done; true
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	for u in systemd/*.service systemd/*.timer; do [ -f "$$u" ] && install -m 0644 "$$u" $(DESTDIR)$(UNITDIR)/; done; true

clean:
	rm -rf build build-asan
