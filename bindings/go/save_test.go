package fluximage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// Where results land: no file is replaced unless asked, siblings never replace each other,
// folders are made, and Save says which file it wrote (issue 12).

func TestSaveNeverReplacesAnExistingFile(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	in := writeFile(t, dir, "a.jpg", jpegBytes(t, 40, 30, 3))
	unrelated := writeFile(t, dir, "a.webp", []byte("an unrelated lossless original"))
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.File(in)})
	if err != nil {
		t.Fatal(err)
	}
	r := b.Results()[0]
	before := emu.stats(t).Requests.Download
	_, err = r.Save(ctx, dir)
	fe := wantErr(t, err, fluximage.ErrExists, 0)
	if !strings.Contains(fe.Message, "a.webp already exists") {
		t.Errorf("message %q does not name the file", fe.Message)
	}
	if emu.stats(t).Requests.Download != before {
		t.Error("the result was downloaded although it could not be saved")
	}
	if got, _ := os.ReadFile(unrelated); string(got) != "an unrelated lossless original" {
		t.Fatal("the existing file was replaced")
	}
	renamed, err := r.Save(ctx, dir, fluximage.WithExists(fluximage.ExistsRename))
	if err != nil || renamed != filepath.Join(dir, "a-2.webp") {
		t.Fatalf("rename: %q, %v", renamed, err)
	}
	replaced, err := r.Save(ctx, dir, fluximage.WithExists(fluximage.ExistsOverwrite))
	if err != nil || replaced != unrelated {
		t.Fatalf("overwrite: %q, %v", replaced, err)
	}
	if got, _ := os.ReadFile(unrelated); sniff(got) != "webp" {
		t.Error("overwrite did not write the result")
	}
}

func TestSaveSiblingsNeverReplaceEachOther(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	for _, sub := range []string{"x", "y"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	x := writeFile(t, filepath.Join(dir, "x"), "cover.png", pngBytes(t, 20, 20, 1))
	y := writeFile(t, filepath.Join(dir, "y"), "cover.png", pngBytes(t, 20, 20, 2))
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.File(x), fluximage.File(y)})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	first, err := b.Results()[0].Save(ctx, out+"/", fluximage.WithExists(fluximage.ExistsOverwrite))
	if err != nil {
		t.Fatal(err)
	}
	if first != filepath.Join(out, "cover.webp") {
		t.Fatalf("saved as %q", first)
	}
	kept, _ := os.ReadFile(first)
	_, err = b.Results()[1].Save(ctx, out+"/", fluximage.WithExists(fluximage.ExistsOverwrite))
	wantErr(t, err, fluximage.ErrExists, 0)
	if now, _ := os.ReadFile(first); !bytes.Equal(now, kept) {
		t.Fatal("a result of the same batch was replaced")
	}
	second, err := b.Results()[1].Save(ctx, out, fluximage.WithExists(fluximage.ExistsRename))
	if err != nil || filepath.Base(second) != "cover-2.webp" {
		t.Fatalf("%q, %v", second, err)
	}
}

func TestSaveCreatesFoldersAndReadsDimensions(t *testing.T) {
	passthrough, err := startEmulator("--encode", "none")
	if err != nil {
		t.Fatal(err)
	}
	defer passthrough.stop()
	c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(passthrough.BaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("p.png", pngBytes(t, 33, 21, 5))})
	if err != nil {
		t.Fatal(err)
	}
	r := b.Results()[0]
	if w, h := r.Dimensions(); w != 0 || h != 0 || r.Width != 0 {
		t.Fatalf("the pass-through answer states no size, got %dx%d", w, h)
	}
	written, err := r.Save(ctx, filepath.Join(t.TempDir(), "new", "deeper")+"/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(written); err != nil {
		t.Fatal(err)
	}
	if w, h := r.Dimensions(); w != 33 || h != 21 {
		t.Errorf("after the save: %dx%d, want 33x21 from the image header", w, h)
	}
	if r.Format != "webp" {
		t.Errorf("format %q, want the requested webp", r.Format)
	}
}

func TestCompressReturnsTheBatchWhenAllFail(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.File(filepath.Join(dir, "missing.png")), fluximage.Bytes("empty.png", nil)})
	if b == nil {
		t.Fatal("no batch")
	}
	defer b.Close()
	if err == nil || errors.Is(err, fluximage.ErrPartial) {
		t.Fatalf("error %v, want the first failure", err)
	}
	rs := b.Results()
	if rs[0].Status != fluximage.StatusIO || rs[1].Status != fluximage.StatusInvalidArgument {
		t.Errorf("statuses %v, %v", rs[0].Status, rs[1].Status)
	}
}

// WithOutputDir: Compress saves each result as its request answers, and an input whose result
// name is taken is refused before it is paid for.
func TestCompressWithOutputDirSavesAndRefusesTakenNames(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a.jpg", jpegBytes(t, 40, 30, 4))
	b := writeFile(t, dir, "b.jpg", jpegBytes(t, 40, 30, 5))
	out := filepath.Join(dir, "out", "deeper")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	taken := writeFile(t, out, "b.webp", []byte("mine"))
	before := emu.stats(t).Requests.Compress
	batch, err := c.Compress(ctx, []fluximage.Input{fluximage.File(a), fluximage.File(b)},
		fluximage.WithOutputDir(out, fluximage.ExistsError))
	wantErr(t, err, fluximage.ErrPartial, 0)
	rs := batch.Results()
	if rs[0].Err != nil || rs[0].Path != filepath.Join(out, "a.webp") {
		t.Fatalf("first result: path %q, err %v", rs[0].Path, rs[0].Err)
	}
	if got, _ := os.ReadFile(rs[0].Path); sniff(got) != "webp" {
		t.Error("the saved result is not a WebP image")
	}
	if !errors.Is(rs[1].Err, fluximage.ErrExists) || rs[1].Path != "" || !strings.Contains(rs[1].Err.Error(), "not sent") {
		t.Fatalf("second result: path %q, err %v", rs[1].Path, rs[1].Err)
	}
	if got, _ := os.ReadFile(taken); string(got) != "mine" {
		t.Fatal("the file that was there was replaced")
	}
	if n := emu.stats(t).Requests.Compress - before; n != 1 {
		t.Errorf("%d compress requests, want 1 (with the refused image left out)", n)
	}

	err = c.CompressFile(ctx, a, filepath.Join(dir, "x.webp"), fluximage.WithOutputDir(out, fluximage.ExistsError))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Sync(ctx, dir, filepath.Join(dir, "synced"), fluximage.WithOutputDir(out, fluximage.ExistsError))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}
