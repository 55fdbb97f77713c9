# The Go module in bindings/go (owned by the Go area): gofmt and go vet, the tests under the
# race detector against the emulator, and an example program built outside the tree that
# imports the module with only pkg-config pointing at the library.
#
#   make go-test          everything above (part of `make test`)
#   make go-vet           gofmt + go vet only
#
# The Go tool: $(GO) if given, else `go` on PATH, else /usr/local/go/bin/go.

ifeq ($(origin GO),undefined)
GO := $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
endif
GO_DIR := bindings/go

.PHONY: go-test go-vet

go-vet: lib $(PC)
	@unformatted=$$(cd $(GO_DIR) && $(dir $(GO))gofmt -l .); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed in $(GO_DIR): $$unformatted"; exit 1; fi
	cd $(GO_DIR) && $(GO) vet ./...

go-test: lib emulator $(PC) go-vet
	cd $(GO_DIR) && FLUXIMAGE_EMULATOR=$(CURDIR)/$(EMULATOR) timeout 900 $(GO) test -race -count=1 -timeout 600s ./...
	GO=$(GO) EMULATOR=$(CURDIR)/$(EMULATOR) sh $(GO_DIR)/scripts/external-example.sh

TEST_TARGETS += go-test
