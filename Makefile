# Murmur. `make run` starts a node; `make test` runs the tests. Nothing else
# needs installing beyond Go: the Makefile fetches the tools it uses.

GO          ?= go
BIN         := $(CURDIR)/bin
MURMUR      := $(BIN)/murmur
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
ORG         ?= $(shell hostname 2>/dev/null || echo "My organisation")
# make test's short fuzz runs, counted in inputs, not seconds: go1.26's
# fuzz coordinator can fail a run that ends on a wall-clock deadline while
# a worker is busy (golang/go#75804, "context deadline exceeded", no crash
# found), which a loaded machine makes likely. About 5 s each here.
SHORTFUZZ   ?= 30000x
SHORTFUZZ_SLOW ?= 500x
NODES       ?= 5
SEED        ?= 1
SCENARIO    ?=

.PHONY: all build run test stress fuzz bench bench-scale testnet netns-tools browser-tools browser-tools-chromium check fmt vet staticcheck clean release reproducible soak sim fuzz-coverage

all: build

# The commit `murmur version` names (Go stamps it too, unless -buildvcs=false).
COMMIT      := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +changes)

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(MURMUR) ./cmd/murmur

# Releases: static binaries for the platforms offices run (linux/arm is
# every Raspberry Pi, ARMv6 up), reproducible: no cgo, -trimpath, no build
# ID, the version and commit stamped by the Makefile and nothing else of the
# machine that built them; beside them, their SHA-256 sums. `make
# reproducible` builds them twice, the second time with an empty build
# cache in another directory, and compares the sums.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
PLATFORMS   ?= linux/amd64 linux/arm64 linux/arm windows/amd64 darwin/amd64 darwin/arm64
RELEASE     ?= $(CURDIR)/release

release:
	@rm -rf $(RELEASE) && mkdir -p $(RELEASE)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=murmur-$(VERSION)-$$os-$$arch$$ext; echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=6 $(GO) build -trimpath -buildvcs=false \
			-ldflags "-s -w -buildid= -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(RELEASE)/$$out ./cmd/murmur; \
	done
	@cd $(RELEASE) && sha256sum murmur-* > SHA256SUMS && cat SHA256SUMS

reproducible:
	@$(MAKE) --no-print-directory release RELEASE=$(CURDIR)/release
	@tmp=$$(mktemp -d) && trap 'chmod -R u+w $$tmp; rm -rf $$tmp' EXIT && \
		GOCACHE=$$tmp/cache $(MAKE) --no-print-directory release RELEASE=$$tmp/release >/dev/null && \
		if cmp -s $(CURDIR)/release/SHA256SUMS $$tmp/release/SHA256SUMS; then echo "Reproducible: both builds are bit-identical."; \
		else echo "NOT reproducible:"; diff $(CURDIR)/release/SHA256SUMS $$tmp/release/SHA256SUMS; exit 1; fi

# `make run` starts a node on the default data directory, founding a network
# there on first use (organisation name from ORG=, else the host name), and
# prints how another machine can connect to it. Ctrl-C stops it.
run: build
	@if $(MURMUR) status </dev/null 2>&1 >/dev/null | grep -q "no Murmur node in this data directory"; then \
		echo "First run: founding a network for \"$(ORG)\" in the default data directory."; \
		if [ -n "$$MURMUR_PASSPHRASE" ]; then $(MURMUR) init --org "$(ORG)" --json >/dev/null || exit 1; \
		else $(MURMUR) init --org "$(ORG)" --no-passphrase --json >/dev/null || exit 1; \
		echo "(The device key has no passphrase: fine for trying Murmur out; see README for real use.)"; fi; \
		echo; \
	fi
	@$(MURMUR) status
	@echo
	@echo "In another terminal, try:"
	@echo "  $(MURMUR) directory set --regions TZ,KE --offers legal-aid,emergency-grant --languages en,sw"
	@echo "  $(MURMUR) request new --kind verification --title \"Does anyone know this applicant?\" --respond-by 3d"
	@echo "  $(MURMUR) request list"
	@echo "  $(MURMUR) status"
	@echo
	@exec $(MURMUR) run

# All tests, then a short run of each fuzz target. As root, the tests of
# testnet/netns play the network scenarios in Linux network namespaces (a
# few minutes; the satellite link alone takes over a minute), hence the
# longer timeout; elsewhere they skip and say why. They run after the
# others, not beside them: a dozen murmur processes at once would starve
# the timing-sensitive tests of the other packages on a 2-core machine.
test: netns-tools browser-tools
	$(GO) test -timeout 30m $$($(GO) list ./... | grep -v /testnet/netns)
	$(GO) test -timeout 30m ./testnet/netns
	$(GO) test ./crdt -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(SHORTFUZZ)
	$(GO) test ./crdt -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(SHORTFUZZ)
	$(GO) test ./crdt -run '^$$' -fuzz '^FuzzDeliveryOrder$$' -fuzztime $(SHORTFUZZ_SLOW)
	$(GO) test ./sync -run '^$$' -fuzz '^FuzzReceive$$' -fuzztime $(SHORTFUZZ)
	$(GO) test ./sync -run '^$$' -fuzz '^FuzzDecodeEntries$$' -fuzztime $(SHORTFUZZ)

# make test's packages, uncached, while STRESS_BURNERS CPU-bound processes
# compete for the cores, STRESS_RUNS times in a row (default 3 and 4): the
# tests must wait on conditions, never on the clock. The burners stop with
# the run, whatever its end.
STRESS_RUNS    ?= 3
STRESS_BURNERS ?= 4
stress: netns-tools browser-tools
	@pids=""; trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq $(STRESS_BURNERS)); do sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	for run in $$(seq $(STRESS_RUNS)); do \
		echo "stress run $$run of $(STRESS_RUNS), beside $(STRESS_BURNERS) CPU-bound processes"; \
		$(GO) test -count=1 -timeout 45m $$($(GO) list ./... | grep -v /testnet/netns) || exit 1; \
		$(GO) test -count=1 -timeout 45m ./testnet/netns || exit 1; \
	done; \
	echo "stress: $(STRESS_RUNS) runs in a row passed"

# Power cuts (cmd/murmur/soak_e2e_test.go): SOAK_CYCLES times, a running
# node is killed with SIGKILL while commands write beside it (and, in half
# the cycles, the commands too); after each, the data directory must pass
# murmur doctor's whole check and hold every entry a command acknowledged.
# make test runs 3 cycles; SOAK_SEED replays a schedule. About 3 s a cycle.
SOAK_CYCLES ?= 1000
SOAK_SEED   ?= 1
soak:
	MURMUR_SOAK_CYCLES=$(SOAK_CYCLES) MURMUR_SOAK_SEED=$(SOAK_SEED) $(GO) test ./cmd/murmur -run '^TestSoak$$' -count=1 -timeout 12h -v

# The simulation (testnet/sim.go): RUNS seeded runs of an in-process
# network with partitions, lost, duplicated and reordered messages, clocks
# up to a day apart, nodes stopped and started, a device revoked; every run
# must end with identical digests. A failing run prints its seed: make sim
# SEED=that RUNS=1 plays it again. make test runs 3. About 4 runs a second.
RUNS        ?= 10000
sim:
	$(GO) test ./testnet -run '^TestSim$$' -count=1 -timeout 24h -v -sim.runs $(RUNS) -sim.seed $(SEED)

# The long fuzzing campaign (cmd/murmur-fuzz): every fuzz target for
# FUZZCPU of CPU time at least (default an hour each: six hours of CPU, three
# on two cores), then the inputs that found new coverage are kept in each
# package's testdata/fuzz (commit them: every go test replays them), and the
# coverage they reach in the decoders and the state rules is reported.
# FUZZ=FuzzApply runs one target; make fuzz-coverage only reports.
FUZZCPU     ?= 1h
FUZZ        ?=
fuzz:
	$(GO) run ./cmd/murmur-fuzz -cpu $(FUZZCPU) -only "$(FUZZ)"

fuzz-coverage:
	$(GO) run ./cmd/murmur-fuzz -cover

# Throughput beside this machine's floor (ingest, append, reconciliation,
# catch-up, the satellite profile in real time, a 20-node testnet), then the
# micro-benchmarks, and the scale table at 100,000 entries (CLI commands
# and murmur run on a data directory that large; issue 14). About 6 minutes.
bench:
	$(GO) run ./cmd/murmur-bench
	$(GO) test ./crdt ./store ./sync -run '^$$' -bench . -benchmem
	$(GO) test ./node -run '^$$' -bench ImportBundle -benchtime 3x -benchmem

# The scale table at 100,000 and 1,000,000 entries, where issue 14's
# targets are judged (median of each command, murmur run's RSS, and RSS
# growth from 100k to 1M). Building the 1M directory alone takes minutes;
# on today's state-in-RAM node each command takes seconds there.
bench-scale:
	$(GO) run ./cmd/murmur-bench -only scale -scale 100000,1000000

# A local network of NODES real murmur processes on loopback through the
# default scenario (partition with writes on both sides, a node killed and
# restarted, a heal); exits 0 only if every node ends with the same entries.
# With SCENARIO=sneakernet (no root needed), the same processes in two
# regions with no link between them at all, synced only by couriers carrying
# `murmur bundle` files on a schedule seeded by SEED (summary out, answer
# back, reply out; split parts, lost couriers, replayed bundles); exits 0
# only if both regions end with the same entries and never connected.
# With SCENARIO=lan|exile|satellite|restart|satellite-tcp (as root), that scenario in
# Linux network namespaces instead: each node in a namespace of its own,
# behind the routers, NATs and links the scenario makes and removes.
testnet:
ifeq ($(filter-out default,$(SCENARIO)),)
	$(GO) run ./cmd/murmur-testnet -nodes $(NODES) -seed $(SEED)
else ifeq ($(SCENARIO),sneakernet)
	$(GO) run ./cmd/murmur-testnet -scenario sneakernet -nodes $(NODES) -seed $(SEED)
else
	@$(MAKE) --no-print-directory netns-tools
	$(GO) run ./cmd/murmur-testnet -scenario $(SCENARIO) -seed $(SEED)
endif

# What the namespace scenarios use besides iproute2 (ip, tc): nft and
# iptables, installed when missing, as root, where apt-get exists.
netns-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		missing=""; \
		command -v nft >/dev/null 2>&1 || missing="$$missing nftables"; \
		command -v iptables >/dev/null 2>&1 || missing="$$missing iptables"; \
		command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing="$$missing iproute2"; \
		if [ -n "$$missing" ]; then \
			echo "Installing for the network-namespace tests:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	fi

# The web interface's browser tests drive Debian's Chromium, headless:
# installed when missing, as root, where apt-get exists; otherwise the
# tests fail saying how to get it (they are never skipped). They check
# every page with axe-core, from npm at a pinned version, into bin/axe.
AXE_VERSION := 4.14.1
browser-tools: browser-tools-chromium $(BIN)/axe/node_modules/axe-core/axe.min.js

$(BIN)/axe/node_modules/axe-core/axe.min.js:
	@command -v npm >/dev/null 2>&1 || { echo "The accessibility check needs npm to install axe-core $(AXE_VERSION) (Debian: apt-get install -y npm), or name axe.min.js with MURMUR_AXE"; exit 1; }
	npm install --no-audit --no-fund --silent --prefix $(BIN)/axe axe-core@$(AXE_VERSION)
	@touch $@

browser-tools-chromium:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && [ -z "$$MURMUR_CHROMIUM" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Chromium for the web interface's browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The web interface's browser tests need Chromium: install it (as root: apt-get install -y chromium), or name it with MURMUR_CHROMIUM=/path/to/chrome"; exit 1; \
		fi; \
	fi

check: fmt vet staticcheck browser-tools
	$(GO) test -race -timeout 30m $$($(GO) list ./... | grep -v /testnet/netns)
	$(GO) test -race -timeout 30m ./testnet/netns

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# vet also on a 32-bit platform (a Raspberry Pi's linux/arm: an int has 32
# bits there), and on every platform a release has (the program and its
# tools build there, and their tests compile).
vet:
	@set -e; for p in $(PLATFORMS); do echo "go vet ($$p)"; GOOS=$${p%/*} GOARCH=$${p#*/} GOARM=6 $(GO) vet ./...; done

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

clean:
	rm -rf $(BIN)
