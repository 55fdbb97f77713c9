package fluximage_test

// Compressing: formats, options, inputs, batches, files, downloads, usage.

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

func TestEachOutputFormat(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	src := pngBytes(t, 64, 48, 1)
	for _, f := range []fluximage.Format{fluximage.FormatWebP, fluximage.FormatAVIF, fluximage.FormatJPEG, fluximage.FormatPNG} {
		t.Run(f.String(), func(t *testing.T) {
			b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("photo.png", src)}, fluximage.WithFormat(f))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			r := b.Results()[0]
			if !r.OK() || r.Format != f.String() || r.Name != "photo."+f.String() {
				t.Fatalf("result %+v, want format %s named photo.%s", r, f, f)
			}
			if r.Width != 64 || r.Height != 48 || r.OriginalSize != int64(len(src)) || r.Size <= 0 {
				t.Errorf("dimensions/sizes: %dx%d, %d -> %d", r.Width, r.Height, r.OriginalSize, r.Size)
			}
			if r.URL == "" || time.Until(r.ExpiresAt) < time.Minute {
				t.Errorf("URL %q expires %v", r.URL, r.ExpiresAt)
			}
			data, err := r.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := sniff(data); got != f.String() {
				t.Fatalf("downloaded a %s file, want %s", got, f)
			}
			if int64(len(data)) != r.Size {
				t.Errorf("downloaded %d bytes, Size says %d", len(data), r.Size)
			}
		})
	}
	if got := fluximage.Format(42).String(); got != "Format(42)" {
		t.Errorf("unknown format prints %q", got)
	}
}

func TestEachInputFormat(t *testing.T) {
	c := newClient(t, agencyKey)
	dir := t.TempDir()
	inputs := []fluximage.Input{
		fluximage.File(writeFile(t, dir, "a.png", pngBytes(t, 40, 30, 1))),
		fluximage.File(writeFile(t, dir, "b.jpg", jpegBytes(t, 40, 30, 2))),
		fluximage.File(writeFile(t, dir, "c.gif", gifBytes(t, 40, 30, 3))),
	}
	b, err := c.Compress(testCtx(t), inputs, fluximage.WithFormat(fluximage.FormatPNG))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range b.Results() {
		if !r.OK() || r.Width != 40 || r.Height != 30 || r.Name != string(rune('a'+i))+".png" {
			t.Errorf("input %d: %+v", i, r)
		}
	}
}

func TestQualityChangesSize(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	src := pngBytes(t, 160, 120, 7)
	size := func(q int) int64 {
		b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("q.png", src)},
			fluximage.WithFormat(fluximage.FormatJPEG), fluximage.WithQuality(q))
		if err != nil {
			t.Fatalf("quality %d: %v", q, err)
		}
		return b.Results()[0].Size
	}
	low, high := size(40), size(100)
	if low >= high {
		t.Fatalf("quality 40 gave %d bytes, quality 100 %d: want smaller", low, high)
	}

	before := emu.stats(t).Requests.Compress
	for _, q := range []int{39, 101, -1} {
		_, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("q.png", src)}, fluximage.WithQuality(q))
		fe := wantErr(t, err, fluximage.ErrInvalidArgument, 0)
		if fe.Setting != "WithQuality" {
			t.Errorf("quality %d: Setting %q", q, fe.Setting)
		}
	}
	if after := emu.stats(t).Requests.Compress; after != before {
		t.Fatalf("an invalid quality reached the server (%d requests)", after-before)
	}
}

func TestMaxSize(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	src := pngBytes(t, 200, 100, 3)
	cases := []struct{ mw, mh, w, h int }{
		{50, 0, 50, 25},
		{0, 40, 80, 40},
		{60, 60, 60, 30},
		{1000, 1000, 200, 100}, // never enlarges
	}
	for _, tc := range cases {
		b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("wide.png", src)},
			fluximage.WithFormat(fluximage.FormatPNG), fluximage.WithMaxSize(tc.mw, tc.mh))
		if err != nil {
			t.Fatal(err)
		}
		r := b.Results()[0]
		data, err := r.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if r.Width != tc.w || r.Height != tc.h || cfg.Width != tc.w || cfg.Height != tc.h {
			t.Errorf("max %dx%d: result says %dx%d, file is %dx%d, want %dx%d",
				tc.mw, tc.mh, r.Width, r.Height, cfg.Width, cfg.Height, tc.w, tc.h)
		}
	}
	_, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("wide.png", src)}, fluximage.WithMaxSize(70000, 0))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}

func TestSessionID(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	in := []fluximage.Input{fluximage.Bytes("s.png", pngBytes(t, 16, 16, 1))}
	b, err := c.Compress(ctx, in, fluximage.WithSessionID("go-session-42"))
	if err != nil {
		t.Fatal(err)
	}
	if b.SessionID() != "go-session-42" || !strings.Contains(b.JSON(), "go-session-42") {
		t.Fatalf("session %q, JSON %s", b.SessionID(), b.JSON())
	}
	b, err = c.Compress(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if b.SessionID() == "" || b.SessionID() == "go-session-42" {
		t.Fatalf("without WithSessionID the server picks a new session, got %q", b.SessionID())
	}
}

// grayPNG is a uniform picture, so that a watermark's place is easy to see.
func grayPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{128, 128, 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func redPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWatermark(t *testing.T) {
	c := newClient(t, proKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	mark := writeFile(t, dir, "mark.png", redPNG(t))
	src := []fluximage.Input{fluximage.Bytes("gray.png", grayPNG(t, 100, 100))}
	render := func(opts ...fluximage.CompressOption) image.Image {
		t.Helper()
		b, err := c.Compress(ctx, src, append(opts, fluximage.WithFormat(fluximage.FormatPNG))...)
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.Results()[0].Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	red := func(img image.Image, x, y int) bool {
		r, g, _, _ := img.At(x, y).RGBA()
		return r > 0xC000 && g < 0x4000
	}
	plain := render()
	tl := render(fluximage.WithWatermark(mark, 20, 100, fluximage.TopLeft))
	br := render(fluximage.WithWatermark(mark, 20, 100, fluximage.BottomRight))
	for _, p := range [][2]int{{5, 5}, {94, 94}} {
		if red(plain, p[0], p[1]) {
			t.Fatalf("the plain image is red at %v", p)
		}
	}
	// The mark is 20% of the width (20 px) with some margin: look near each corner.
	hasRed := func(img image.Image, x0, y0 int) bool {
		for y := y0; y < y0+30; y++ {
			for x := x0; x < x0+30; x++ {
				if red(img, x, y) {
					return true
				}
			}
		}
		return false
	}
	if !hasRed(tl, 0, 0) || hasRed(tl, 70, 70) {
		t.Errorf("TopLeft: red near top-left %v, near bottom-right %v", hasRed(tl, 0, 0), hasRed(tl, 70, 70))
	}
	if hasRed(br, 0, 0) || !hasRed(br, 70, 70) {
		t.Errorf("BottomRight: red near top-left %v, near bottom-right %v", hasRed(br, 0, 0), hasRed(br, 70, 70))
	}

	// Opacity 0 draws nothing visible; a larger scale covers more of the image.
	if faint := render(fluximage.WithWatermark(mark, 20, 0, fluximage.TopLeft)); hasRed(faint, 0, 0) {
		t.Error("opacity 0: the watermark is visible")
	}
	countRed := func(img image.Image) int {
		n := 0
		for y := 0; y < 100; y++ {
			for x := 0; x < 100; x++ {
				if red(img, x, y) {
					n++
				}
			}
		}
		return n
	}
	small := countRed(render(fluximage.WithWatermark(mark, 10, 100, fluximage.Center)))
	large := countRed(render(fluximage.WithWatermark(mark, 40, 100, fluximage.Center)))
	if small == 0 || large < 4*small {
		t.Errorf("scale 10 covers %d red pixels, scale 40 %d: want about 16 times more", small, large)
	}

	_, err := c.Compress(ctx, src, fluximage.WithWatermark(mark, 60, 100, fluximage.TopLeft))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, src, fluximage.WithWatermark(mark, 20, 101, fluximage.TopLeft))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, src, fluximage.WithWatermark(mark, 20, 100, fluximage.Position(9)))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, src, fluximage.WithWatermark(filepath.Join(dir, "missing.png"), 20, 100, fluximage.TopLeft))
	wantErr(t, err, fluximage.ErrIO, 0)
}

func TestAltTextAndSEOName(t *testing.T) {
	c := newClient(t, proKey)
	ctx := testCtx(t)
	in := []fluximage.Input{fluximage.Bytes("beach.png", pngBytes(t, 32, 32, 1)), fluximage.Bytes("city.png", pngBytes(t, 32, 32, 2))}
	b, err := c.Compress(ctx, in, fluximage.WithAltText(), fluximage.WithSEORename())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Results() {
		if r.AltText == "" || r.SEOName == "" {
			t.Errorf("%s: alt %q, SEO name %q", r.Input, r.AltText, r.SEOName)
		}
	}
	b, err = c.Compress(ctx, in[:1], fluximage.WithAltText())
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Results()[0]; r.AltText == "" || r.SEOName != "" {
		t.Errorf("alt text only: alt %q, SEO name %q", r.AltText, r.SEOName)
	}
	b, err = c.Compress(ctx, in[:1])
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Results()[0]; r.AltText != "" || r.SEOName != "" {
		t.Errorf("no AI asked: alt %q, SEO name %q", r.AltText, r.SEOName)
	}
}

func TestPathAndBytesInputs(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	p := writeFile(t, dir, "from-disk.png", pngBytes(t, 30, 20, 1))
	mem := pngBytes(t, 20, 30, 2)
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.File(p), fluximage.Bytes("from-memory.png", mem)})
	if err != nil {
		t.Fatal(err)
	}
	rs := b.Results()
	if b.Len() != 2 || b.Failed() != 0 {
		t.Fatalf("Len %d Failed %d", b.Len(), b.Failed())
	}
	if rs[0].Input != p || rs[0].OriginalName != "from-disk.png" || rs[0].Name != "from-disk.webp" || rs[0].Width != 30 {
		t.Errorf("path input: %+v", rs[0])
	}
	if rs[1].Input != "from-memory.png" || rs[1].OriginalName != "from-memory.png" || rs[1].Width != 20 || rs[1].OriginalSize != int64(len(mem)) {
		t.Errorf("bytes input: %+v", rs[1])
	}
	// Changing the Results copy does not change the batch.
	rs[0].Name = "changed"
	if b.Results()[0].Name == "changed" {
		t.Error("Results() exposes the batch's own slice")
	}

	// Inputs the library cannot use are reported, not crashed on.
	_, err = c.Compress(ctx, nil)
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, []fluximage.Input{{}})
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, []fluximage.Input{{Data: mem}}) // no name
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, []fluximage.Input{{Path: p, Name: "x.png", Data: mem}}) // both
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	_, err = c.Compress(ctx, []fluximage.Input{fluximage.Bytes("empty.png", nil)})
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}

func TestBatchOf30WithABrokenImage(t *testing.T) {
	c := newClient(t, agencyKey, fluximage.WithConcurrency(2))
	ctx := testCtx(t)
	dir := t.TempDir()
	const n, broken = 30, 17
	inputs := make([]fluximage.Input, n)
	for i := range inputs {
		name := fmt.Sprintf("img-%02d.png", i)
		switch {
		case i == broken:
			inputs[i] = fluximage.Bytes(name, []byte("this is not an image at all"))
		case i%2 == 0:
			inputs[i] = fluximage.File(writeFile(t, dir, name, pngBytes(t, 24+i, 16, uint32(i))))
		default:
			inputs[i] = fluximage.Bytes(name, pngBytes(t, 24+i, 16, uint32(i)))
		}
	}
	before := emu.stats(t).Requests.Compress
	b, err := c.Compress(ctx, inputs)
	wantErr(t, err, fluximage.ErrPartial, -1)
	if b == nil {
		t.Fatal("ErrPartial without the batch")
	}
	if got := emu.stats(t).Requests.Compress - before; got != 2 {
		t.Errorf("30 files went out in %d requests, want 2 (at most 20 files each)", got)
	}
	if b.Len() != n || b.Failed() != 1 || !strings.HasPrefix(b.JSON(), "[") {
		t.Fatalf("Len %d Failed %d JSON starts %.20q", b.Len(), b.Failed(), b.JSON())
	}
	urls := map[string]bool{}
	for i, r := range b.Results() {
		if r.Index != i {
			t.Errorf("result %d has Index %d", i, r.Index)
		}
		if i == broken {
			fe := wantErr(t, r.Err, fluximage.ErrServer, -1)
			if r.OK() || r.Status != fluximage.StatusServer || !strings.Contains(fe.Message, "decode") {
				t.Errorf("broken image: %+v", r)
			}
			continue
		}
		want := fmt.Sprintf("img-%02d.webp", i)
		if !r.OK() || r.Name != want || r.Width != 24+i || urls[r.URL] {
			t.Errorf("result %d: %+v", i, r)
		}
		urls[r.URL] = true
	}

	// Download every good result, eight at a time.
	out := t.TempDir()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for _, r := range b.Results() {
		if !r.OK() {
			continue
		}
		wg.Add(1)
		go func(r fluximage.Result) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- errOf(r.Save(ctx, out)) // a folder: named after the result
		}(r)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	files, _ := os.ReadDir(out)
	if len(files) != n-1 {
		t.Errorf("%d files saved, want %d", len(files), n-1)
	}
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(out, f.Name()))
		if sniff(data) != "webp" {
			t.Errorf("%s is not WebP", f.Name())
		}
	}
	_, err = b.Results()[broken].Save(ctx, filepath.Join(out, "broken.webp"))
	wantErr(t, err, fluximage.ErrServer, -1)
}

func TestCompressFile(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "in.png", pngBytes(t, 40, 40, 5))
	orig, _ := os.ReadFile(src)

	dst := filepath.Join(dir, "out.avif")
	if err := c.CompressFile(ctx, src, dst, fluximage.WithFormat(fluximage.FormatAVIF), fluximage.WithQuality(60)); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(dst); err != nil || sniff(data) != "avif" {
		t.Fatalf("dst: %v, %s", err, sniff(data))
	}

	err := c.CompressFile(ctx, src, src)
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	if now, _ := os.ReadFile(src); !bytes.Equal(now, orig) {
		t.Fatal("the input file was changed")
	}

	broken := writeFile(t, dir, "broken.png", []byte("garbage"))
	err = c.CompressFile(ctx, broken, filepath.Join(dir, "broken.webp"))
	wantErr(t, err, fluximage.ErrServer, -1)
	if _, err := os.Stat(filepath.Join(dir, "broken.webp")); !os.IsNotExist(err) {
		t.Errorf("a failed compress left an output file (%v)", err)
	}

	err = c.CompressFile(ctx, filepath.Join(dir, "missing.png"), filepath.Join(dir, "m.webp"))
	wantErr(t, err, fluximage.ErrIO, 0)

	before := emu.stats(t).Requests.Compress
	plain := writeFile(t, dir, "plain", []byte("a file, not a folder"))
	err = c.CompressFile(ctx, src, filepath.Join(plain, "out.webp"))
	wantErr(t, err, fluximage.ErrIO, 0)
	if emu.stats(t).Requests.Compress != before {
		t.Error("the output folder was not checked before the upload")
	}
	// A missing folder is created, as for every save (issue 12.2).
	if err := c.CompressFile(ctx, src, filepath.Join(dir, "no-such-folder", "out.webp")); err != nil {
		t.Fatal(err)
	}
}

func TestSaveFetchWriteTo(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	dir := t.TempDir()
	in := writeFile(t, dir, "pic.png", pngBytes(t, 48, 32, 9))
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.File(in)}, fluximage.WithFormat(fluximage.FormatPNG))
	if err != nil {
		t.Fatal(err)
	}
	r := b.Results()[0]
	data, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var w io.WriterTo = r
	n, err := w.WriteTo(&buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) || n != r.Size {
		t.Fatalf("WriteTo: %d bytes, %v; Fetch %d bytes; Size %d", n, err, len(data), r.Size)
	}
	file := filepath.Join(dir, "saved.png")
	if got, err := r.Save(ctx, file); err != nil || got != file {
		t.Fatal(got, err)
	}
	sub := filepath.Join(dir, "out")
	os.Mkdir(sub, 0o755)
	if got, err := r.Save(ctx, sub); err != nil || got != filepath.Join(sub, r.Name) {
		t.Fatal(got, err)
	}
	for _, p := range []string{file, filepath.Join(sub, r.Name)} {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %v, equal %v", p, err, bytes.Equal(got, data))
		}
	}
	// The input file is never overwritten, even when asked to.
	orig, _ := os.ReadFile(in)
	wantErr(t, errOf(r.Save(ctx, in, fluximage.WithExists(fluximage.ExistsOverwrite))), fluximage.ErrInvalidArgument, 0)
	if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
		t.Fatal("Save overwrote the input file")
	}
	// A writer's error is returned.
	if _, err := r.WriteTo(failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteTo into a failing writer: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestUsage(t *testing.T) {
	c := newClient(t, usageKey)
	ctx := testCtx(t)
	u0, err := c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u0.Plan != "pro" || u0.CompressionsLimit != 99999 || u0.AICreditsMonthly != 1000 || !u0.CanCompress || !u0.CanUseAI {
		t.Fatalf("usage %+v", u0)
	}
	if !strings.Contains(u0.JSON, `"compressor_used"`) {
		t.Errorf("JSON %s lacks the wire names", u0.JSON)
	}
	in := []fluximage.Input{fluximage.Bytes("a.png", pngBytes(t, 16, 16, 1)), fluximage.Bytes("b.png", pngBytes(t, 16, 16, 2)), fluximage.Bytes("c.png", pngBytes(t, 16, 16, 3))}
	if _, err := c.Compress(ctx, in, fluximage.WithAltText()); err != nil {
		t.Fatal(err)
	}
	u1, err := c.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u1.CompressionsUsed-u0.CompressionsUsed != 3 || u1.AICreditsUsed-u0.AICreditsUsed != 3 {
		t.Fatalf("after 3 images with alt text: %+v -> %+v", u0, u1)
	}
	if u1.AICreditsRemaining != u1.AICreditsMonthly-u1.AICreditsUsed+u1.AITopUpCredits {
		t.Errorf("remaining credits %+v", u1)
	}
}
