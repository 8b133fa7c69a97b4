# gpyxis: build, test and install. `make help` lists the targets.
# Root on Debian 12: `make test` installs and starts what the tests need
# (integration/infra: registries on loopback, test images built from Debian packages).

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=
export PATH := $(PATH):/usr/local/go/bin
SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
TEST_USER ?= tester
ROOT    := $(shell id -u)

BIN := bin/gpyxis-runtime
PLUGIN := bin/spank_gpyxis.so
LIBDIR ?= $(PREFIX)/lib
SPANK_H ?= /usr/include/slurm/spank.h
CC ?= cc
# The plugin is built where Slurm's headers are (Debian: libslurm-dev), as Slurm >= 21.08
# refuses plugins built against another spank.h.
PLUGIN_TARGET := $(if $(wildcard $(SPANK_H)),$(PLUGIN))
SCRIPTS := $(wildcard integration/infra/*.sh .ci/run)

.PHONY: all build plugin test test-unit test-integration test-rootless test-hostile infra bench up install uninstall lint clean help

all: build

build: $(BIN) $(PLUGIN_TARGET) ## build bin/gpyxis-runtime (and bin/spank_gpyxis.so where spank.h is installed)
ifeq ($(PLUGIN_TARGET),)
	@echo "note: $(SPANK_H) not found (Debian: apt-get install libslurm-dev): the Slurm plugin was not built"
endif

plugin: $(PLUGIN) ## build the Slurm SPANK plugin bin/spank_gpyxis.so

# Hardened as pyxis is: stack canaries, checked libc calls (FORTIFY needs -O),
# and the GOT resolved at load then made read-only (relro, now). The checks
# after the link fail the build if a flag did not take.
$(PLUGIN): shim/spank.c shim/nsjoin.c shim/nsjoin.h shim/reply.c shim/reply.h shim/spawn.c shim/spawn.h shim/spank.lds
	@mkdir -p bin
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Wformat -Wformat-security -fPIC -shared \
		-fstack-protector-strong -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -Wl,-z,relro,-z,now \
		-DGPYXIS_RUNTIME='"$(BINDIR)/gpyxis-runtime"' -Wl,--version-script=shim/spank.lds \
		-o $@ shim/spank.c shim/nsjoin.c shim/reply.c shim/spawn.c
	@readelf -d $@ | grep -q 'FLAGS.*BIND_NOW' || { echo "$@: not linked with -z now"; rm -f $@; exit 1; }
	@readelf -lW $@ | grep -q GNU_RELRO || { echo "$@: no RELRO segment"; rm -f $@; exit 1; }
	@readelf --dyn-syms -W $@ | grep -q __stack_chk_fail || { echo "$@: no stack protector"; rm -f $@; exit 1; }
	@readelf --dyn-syms -W $@ | grep -v __stack_chk | grep -q '__[a-z]*_chk' || { echo "$@: not fortified"; rm -f $@; exit 1; }

$(BIN): FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/gpyxis-runtime

FORCE:

test: infra lint test-unit test-integration test-rootless ## lint, unit and integration tests (as root: sets up the harness)

test-unit: ## unit tests only (no harness needed)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -E '/integration(/hostile)?$$')

infra: ## bring up the registries and test images (root)
ifeq ($(ROOT),0)
	integration/infra/infra-up.sh
else
	@test -s $${GPYXIS_INFRA_STATE:-/var/lib/gpyxis-infra}/registries.json || \
		{ echo "the integration harness is not up: run 'sudo make infra' or 'sudo make test'" >&2; exit 1; }
endif

# Integration tests fail, never skip, when a piece of the harness is missing.
test-integration: infra build ## integration tests against the real registries and Slurm
ifeq ($(ROOT),0)
	@# The harness installed libslurm-dev just now on a fresh machine: build the plugin
	@# (a fresh make sees spank.h) and enable it in the harness Slurm.
	if [ -z "$${SKIP_SLURM:-}" ]; then $(MAKE) --no-print-directory plugin && integration/infra/plugin-up.sh; fi
endif
	GPYXIS_INFRA_REQUIRED=1 GPYXIS_RUNTIME=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./integration/ ./integration/hostile/

# As root, the integration tests run a second time as an unprivileged user: the harness
# must be usable rootless. The test binary is built by root and run as $(TEST_USER).
test-rootless: infra build ## integration tests as the unprivileged $(TEST_USER) (root only)
ifeq ($(ROOT),0)
	integration/infra/user-up.sh $(TEST_USER)
	$(GO) test -c -o bin/integration.test ./integration/
	$(GO) test -c -o bin/hostile.test ./integration/hostile/
	@# The checkout may not be readable by $(TEST_USER) (a clone under /root): run from a copy.
	d=$$(mktemp -d /tmp/gpyxis-rootless.XXXXXX) && trap 'rm -rf "$$d"' EXIT && \
	install -D -m 0644 integration/infra/images/multilayer.expected $$d/integration/infra/images/multilayer.expected && \
	install -m 0755 bin/integration.test bin/hostile.test $(BIN) $$d/ && chmod 0755 $$d && \
	install -d -o $(TEST_USER) -m 0700 $$d/home && cd $$d && \
	setpriv --reuid=$(TEST_USER) --regid=$(TEST_USER) --init-groups \
		env HOME=$$d/home GPYXIS_INFRA_REQUIRED=1 GPYXIS_RUNTIME=$$d/gpyxis-runtime GPYXIS_REPO_ROOT=$$d \
		sh -c './integration.test -test.count=1 -test.v && ./hostile.test -test.count=1 -test.v' 2>&1 | \
		grep -E '^(--- |ok|FAIL|PASS)|SKIP|harness:' ; \
	test $${PIPESTATUS[0]} -eq 0
else
	@echo "test-rootless: skipped, needs root to switch to $(TEST_USER) (you are not root: the integration tests above already ran unprivileged)"
endif

# The kill -9 loop at full length (make test runs 12 trials of it); CI runs this too.
test-hostile: infra build ## 100 kill -9 trials of import, create and run, each rerun clean (as root: also as tester)
	GPYXIS_INFRA_REQUIRED=1 GPYXIS_RUNTIME=$(CURDIR)/$(BIN) GPYXIS_HOSTILE_TRIALS=$${GPYXIS_HOSTILE_TRIALS:-100} \
		$(GO) test -count=1 -timeout 30m -run TestHostileKill -v ./integration/hostile/

bench: build ## benchmarks (as root: builds big:latest first); never part of `make test`
ifeq ($(ROOT),0)
	BIG=1 integration/infra/infra-up.sh
endif
	GPYXIS_INFRA_REQUIRED=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...
ifeq ($(ROOT),0)
	integration/bench/import.sh
endif
	integration/bench/start.sh
ifeq ($(ROOT),0)
	$(MAKE) --no-print-directory plugin && integration/infra/plugin-up.sh && integration/bench/slurm.sh
endif

# The harness installs what the build needs (libseccomp-dev, libslurm-dev) on a fresh
# machine: it runs first, then the build.
up: ## the main job from scratch: registries, test images, Slurm; import an image, run it with srun (root)
	integration/infra/infra-up.sh
	$(MAKE) --no-print-directory build
	@echo "registries: http://127.0.0.1:5000 (anonymous) :5001 (basic) :5002 (bearer) https://127.0.0.1:5443 (TLS)"
	$(BIN) import --force --insecure -o bin/debian+bookworm.sqsh docker://127.0.0.1:5000#debian:bookworm
	unsquashfs -s bin/debian+bookworm.sqsh | head -n 3
	@# The Slurm door: the plugin enabled, then an unprivileged user's srun --container-image.
	$(MAKE) --no-print-directory plugin && integration/infra/plugin-up.sh && integration/infra/demo.sh

install: build ## install into $(DESTDIR)$(PREFIX), with the plugin and its plugstack line
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/gpyxis-runtime
ifneq ($(PLUGIN_TARGET),)
	install -D -m 0755 $(PLUGIN) $(DESTDIR)$(LIBDIR)/slurm/spank_gpyxis.so
	install -d $(DESTDIR)$(PREFIX)/share/gpyxis
	echo 'required $(LIBDIR)/slurm/spank_gpyxis.so' > $(DESTDIR)$(PREFIX)/share/gpyxis/gpyxis.conf
	@echo "enable the plugin: ln -s $(PREFIX)/share/gpyxis/gpyxis.conf /etc/slurm/plugstack.conf.d/gpyxis.conf"
endif

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gpyxis-runtime $(DESTDIR)$(LIBDIR)/slurm/spank_gpyxis.so $(DESTDIR)$(PREFIX)/share/gpyxis/gpyxis.conf

lint: ## gofmt, go vet, bash -n (and shellcheck when installed)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for f in $(SCRIPTS); do bash -n $$f || exit 1; done
	@if command -v shellcheck >/dev/null; then shellcheck -x -S warning $(SCRIPTS); fi

clean:
	rm -rf bin

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-17s %s\n", $$1, $$2 }'
