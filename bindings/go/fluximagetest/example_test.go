package fluximagetest_test

// A test of your own code against the emulator: copy this file beside your code and adapt it.

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
	"github.com/fluximage/libfluximage/bindings/go/fluximagetest"
)

// compressUploads is the code under test: it writes a WebP beside every PNG in dir.
func compressUploads(ctx context.Context, client *fluximage.Client, dir string) ([]string, error) {
	pngs, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(pngs) == 0 {
		return nil, err
	}
	inputs := make([]fluximage.Input, len(pngs))
	for i, p := range pngs {
		inputs[i] = fluximage.File(p)
	}
	batch, err := client.Compress(ctx, inputs, fluximage.WithFormat(fluximage.FormatWebP))
	if err != nil {
		return nil, err
	}
	defer batch.Close()
	var written []string
	for _, r := range batch.Results() {
		out := strings.TrimSuffix(r.Input, ".png") + ".webp"
		if err := r.Save(ctx, out); err != nil {
			return written, err
		}
		written = append(written, out)
	}
	return written, nil
}

func TestCompressUploads(t *testing.T) {
	emu := fluximagetest.Start(t) // a real local server, stopped when the test ends
	client := emu.Client(t)       // the Agency plan's key
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "cat.png"))
	writePNG(t, filepath.Join(dir, "dog.png"))

	written, err := compressUploads(context.Background(), client, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || filepath.Base(written[0]) != "cat.webp" {
		t.Errorf("written %v, want cat.webp and dog.webp", written)
	}
	if got := emu.Stats(t).Charged; got != 2 {
		t.Errorf("%d credits charged, want 2", got)
	}
}

func TestCompressUploadsReportsAnOutage(t *testing.T) {
	emu := fluximagetest.Start(t)
	client := emu.Client(t, fluximage.WithRetries(0))
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "cat.png"))
	emu.Fault(t, fluximagetest.Fault{Mode: fluximagetest.Fault503})

	_, err := compressUploads(context.Background(), client, dir)
	if !errors.Is(err, fluximage.ErrServer) {
		t.Errorf("got %v, want ErrServer", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cat.webp")); err == nil {
		t.Error("a result was written")
	}
	if got := emu.Stats(t).Charged; got != 0 {
		t.Errorf("%d credits charged for a failed request", got)
	}
}

// writePNG writes a small picture; the emulator really decodes and encodes it.
func writePNG(t *testing.T, path string) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for x := 0; x < 32; x++ {
		for y := 0; y < 24; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 10), 128, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
