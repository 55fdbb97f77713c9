# flx, the command-line tool (cli/, a workspace member on the safe Rust API).
#
#   make cli            build/flx, its man page build/man/flx.1 and build/completions/*
#   make install        also installs flx, the man page and bash/zsh/fish completions
#
# Its tests (cli/tests/, against the emulator) run with the workspace in `make rust-test`.

BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
FLX     := $(BUILD)/flx

.PHONY: cli cli-install cli-uninstall

cli:
	$(CARGO) build --release --locked -p fluximage-cli
	@mkdir -p $(BUILD)/man $(BUILD)/completions
	cp $(TARGET)/flx $(FLX)
	$(FLX) man > $(BUILD)/man/flx.1
	$(FLX) completions bash > $(BUILD)/completions/flx.bash
	$(FLX) completions zsh > $(BUILD)/completions/_flx
	$(FLX) completions fish > $(BUILD)/completions/flx.fish

all: cli

cli-install: cli
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(FLX) $(DESTDIR)$(BINDIR)/flx
	install -m 0644 $(BUILD)/man/flx.1 $(DESTDIR)$(MANDIR)/man1/flx.1
	install -m 0644 $(BUILD)/completions/flx.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/flx
	install -m 0644 $(BUILD)/completions/_flx $(DESTDIR)$(DATADIR)/zsh/site-functions/_flx
	install -m 0644 $(BUILD)/completions/flx.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/flx.fish

install: cli-install

cli-uninstall:
	rm -f $(DESTDIR)$(BINDIR)/flx $(DESTDIR)$(MANDIR)/man1/flx.1 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions/flx $(DESTDIR)$(DATADIR)/zsh/site-functions/_flx \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/flx.fish

uninstall: cli-uninstall
