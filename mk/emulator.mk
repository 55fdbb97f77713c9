# The emulator as a tool for users testing their own applications:
#   make install      also installs fluximage-emulator into $(BINDIR) (default $(PREFIX)/bin)
# (`cargo install --path emulator` installs it without make.)

BINDIR ?= $(PREFIX)/bin

.PHONY: install-emulator uninstall-emulator
install: install-emulator
uninstall: uninstall-emulator

install-emulator: emulator
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(EMULATOR) $(DESTDIR)$(BINDIR)/fluximage-emulator

uninstall-emulator:
	rm -f $(DESTDIR)$(BINDIR)/fluximage-emulator
