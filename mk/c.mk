# The C example CLI and the C tests (owned by the C area).
.PHONY: examples
examples: lib
