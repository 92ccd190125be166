# Targets call the Go tool; settings live in the code and its flags.
GO ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run demo test test-cluster bench fuzz lint build up down

FUZZTIME ?= 2m
FUZZ_IDS ?= 20000

## run: the whole pipeline in one process (collector on 127.0.0.1:8080, profile-updater, trigger with the example campaigns and journeys, the example waterfall), embedded Kafka and Redis
run:
	$(GO) run ./services/segflow run --log-format console --campaigns deploy/campaigns.yaml --journeys deploy/journeys.yaml --waterfall deploy/waterfall.yaml

## demo: make run with the bundled CDNOW sample loaded in event time (18 months, 2,357 customers), the clock a week after it: open http://localhost:8080/dashboard/#token=dev once it logs "CDNOW sample loaded"
demo:
	$(GO) run ./services/segflow run --demo --log-format console --campaigns deploy/campaigns.yaml --journeys deploy/journeys.yaml

# CLUSTER_PKGS are the packages whose tests test-cluster runs on a Redis
# Cluster, but for CLUSTER_SKIP: tests that use no Redis (the reference
# computations and their loaders), the browser tests, and the Online Retail
# comparison, which takes the CDNOW comparison's path with more data, and the
# demo's load, which is the live path the end-to-end tests cover on the cluster, and
# the broadcast tests of a rate and of a campaign removed, which touch no
# shard the other broadcast tests do not.
CLUSTER_PKGS ?= ./test/e2e ./pkg/api ./pkg/broadcast ./pkg/replay ./pkg/coupon ./services/segflow
CLUSTER_SKIP ?= Reference|Loader|Calibration|Dashboard|OnlineRetail|Demo|RateLimitSpreadsABroadcast|BroadcastToACampaignRemoved

## test: every test, with the race detector, on one Redis server; then test-cluster
# The longest packages are named first, so that go test starts them first
# and the others run beside them. TEST_TIMEOUT bounds each package: the
# end-to-end package takes 5-9 minutes on 2 cores (529 s in a CI run), near
# go test's default of 10.
TEST_TIMEOUT ?= 30m
test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./test/e2e ./services/segflow ./...
	$(MAKE) test-cluster

## test-cluster: the end-to-end tests (ingest, updater, SIGKILL and redelivery, triggers, erasure, replay and switch, read API, the binary's commands) on a 3-master Redis Cluster
test-cluster:
	SEGFLOW_TEST_REDIS=cluster $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -skip '$(CLUSTER_SKIP)' $(CLUSTER_PKGS)

## bench: throughput and latency figures
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 3s ./...

## fuzz: longer runs of the fuzz targets (FUZZTIME each) and of the hostile-id pipeline test (FUZZ_IDS ids)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzTag$$' -fuzztime $(FUZZTIME) ./pkg/keys
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./pkg/segment
	$(GO) test -run '^$$' -fuzz '^FuzzToEvent$$' -fuzztime $(FUZZTIME) ./pkg/segment
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCloudEvents$$' -fuzztime $(FUZZTIME) ./pkg/collector
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/money
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/audience
	SEGFLOW_FUZZ_IDS=$(FUZZ_IDS) $(GO) test -race -count=1 -timeout 60m -run '^TestHostileIDs' ./test/e2e

## lint: gofmt, go vet, staticcheck
lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: the files above need formatting" && exit 1)
	$(GO) vet ./...
	$(STATICCHECK) ./...

## build: the segflow binary in bin/
build:
	$(GO) build -o bin/segflow ./services/segflow

## up: the pipeline on real Kafka (KRaft) and Redis with docker compose
up:
	docker compose up --build

## down: stop and remove what make up started (its volumes stay: docker compose down --volumes removes the data too)
down:
	docker compose down
