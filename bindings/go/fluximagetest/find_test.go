package fluximagetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeBinary(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, binaryName)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindLooksInTheDocumentedOrder(t *testing.T) {
	tmp := t.TempDir()
	lib := filepath.Join(tmp, "prefix", "lib", "libfluximage.so.0")
	saved := loadedLibrary
	t.Cleanup(func() { loadedLibrary = saved })
	loadedLibrary = func() string { return lib }
	installed := fakeBinary(t, filepath.Join(tmp, "prefix", "bin"))
	onPath := fakeBinary(t, filepath.Join(tmp, "path"))
	named := fakeBinary(t, filepath.Join(tmp, "named"))
	t.Setenv("PATH", filepath.Dir(onPath))

	find := func() string {
		t.Helper()
		p, err := Find()
		if err != nil {
			return err.Error()
		}
		return p
	}
	t.Setenv(EnvVar, named)
	if got := find(); got != named {
		t.Errorf("with %s set: %s", EnvVar, got)
	}
	t.Setenv(EnvVar, "")
	if got := find(); got != installed {
		t.Errorf("../bin beside the library: %s", got)
	}
	beside := fakeBinary(t, filepath.Dir(lib))
	if got := find(); got != beside {
		t.Errorf("beside the library: %s", got)
	}
	os.Remove(beside)
	os.Remove(installed)
	if got := find(); got != onPath {
		t.Errorf("on PATH: %s", got)
	}
	t.Setenv("PATH", "")
	got := find()
	for _, want := range []string{"cannot find the fluximage-emulator binary", filepath.Join(filepath.Dir(lib), binaryName), "cargo install --path emulator", EnvVar + "=skip"} {
		if !strings.Contains(got, want) {
			t.Errorf("message %q lacks %q", got, want)
		}
	}
	t.Setenv(EnvVar, filepath.Join(tmp, "missing"))
	if got := find(); !strings.Contains(got, "no executable file there") {
		t.Errorf("a wrong %s: %s", EnvVar, got)
	}
}

func TestTheLoadedLibraryIsFound(t *testing.T) {
	lib := loadedLibrary()
	if lib == "" {
		t.Skip("libfluximage is linked statically")
	}
	if !strings.HasPrefix(filepath.Base(lib), "libfluximage.so") {
		t.Errorf("loaded library %q", lib)
	}
}
