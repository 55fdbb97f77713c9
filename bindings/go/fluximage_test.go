package fluximage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// newClient makes a client for the shared emulator, closed when the test ends.
func newClient(t testing.TB, key string, opts ...fluximage.Option) *fluximage.Client {
	t.Helper()
	c, err := fluximage.NewClient(key, append([]fluximage.Option{fluximage.WithBaseURL(emu.BaseURL)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx bounds a test's calls, so that a hang fails instead of blocking the run.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantErr checks that err matches sentinel and is an *Error with the given HTTP status
// (-1: any), and returns it.
func wantErr(t testing.TB, err, sentinel error, httpStatus int) *fluximage.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not match %v", err, sentinel)
	}
	var fe *fluximage.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *fluximage.Error", err, err)
	}
	if fe.Message == "" || !strings.HasPrefix(err.Error(), "fluximage: ") {
		t.Errorf("error text %q: want a message with the fluximage: prefix", err)
	}
	if httpStatus >= 0 && fe.HTTPStatus != httpStatus {
		t.Errorf("HTTPStatus = %d, want %d (%v)", fe.HTTPStatus, httpStatus, err)
	}
	// Exactly one sentinel matches, except for a context deadline (ErrCanceled and ErrTimeout).
	n := 0
	for _, s := range []error{fluximage.ErrInvalidArgument, fluximage.ErrUnauthorized, fluximage.ErrForbidden,
		fluximage.ErrQuotaExceeded, fluximage.ErrTooLarge, fluximage.ErrRateLimited, fluximage.ErrBadRequest,
		fluximage.ErrServer, fluximage.ErrNetwork, fluximage.ErrTimeout, fluximage.ErrTLS, fluximage.ErrProtocol,
		fluximage.ErrExpired, fluximage.ErrIO, fluximage.ErrCanceled, fluximage.ErrPartial, fluximage.ErrInternal,
		fluximage.ErrExists, fluximage.ErrClosed} {
		if errors.Is(err, s) {
			n++
		}
	}
	want := 1
	if errors.Is(err, context.DeadlineExceeded) {
		want = 2
	}
	if n != want {
		t.Errorf("error %q matches %d sentinels, want %d", err, n, want)
	}
	return fe
}

func TestVersion(t *testing.T) {
	v := fluximage.Version()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
	if v != fluximage.HeaderVersion {
		t.Fatalf("library %s, header %s: the package was built against another version", v, fluximage.HeaderVersion)
	}
	if fluximage.StatusRateLimited.String() != "rate limited" || fluximage.Status(999).String() != "unknown status" {
		t.Errorf("Status strings: %q, %q", fluximage.StatusRateLimited, fluximage.Status(999))
	}
}

func TestNewClientKeyFromEnvironment(t *testing.T) {
	t.Setenv("FLUXIMAGE_API_KEY", proKey)
	c := newClient(t, "")
	u, err := c.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if u.Plan != "pro" {
		t.Fatalf("plan %q, want pro (the key of FLUXIMAGE_API_KEY)", u.Plan)
	}

	// FLUXIMAGE_BASE_URL is the default address (TestMain sets it to the emulator).
	c2, err := fluximage.NewClient(starterKey)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if u, err := c2.Usage(testCtx(t)); err != nil || u.Plan != "starter" {
		t.Fatalf("with FLUXIMAGE_BASE_URL: %+v, %v", u, err)
	}

	os.Unsetenv("FLUXIMAGE_API_KEY") // restored by t.Setenv's cleanup
	_, err = fluximage.NewClient("", fluximage.WithBaseURL(emu.BaseURL))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}

func TestNewClientRejectsMalformedKeyWithoutShowingIt(t *testing.T) {
	secret := "flx_live_" + strings.Repeat("ab", 19) + "zz" // 40 characters, not all hex
	_, err := fluximage.NewClient(secret, fluximage.WithBaseURL(emu.BaseURL))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the key: %v", err)
	}
}

func TestClientOptionsAreChecked(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "ca.pem", []byte("not a certificate\n"))
	cases := []struct {
		name     string
		opt      fluximage.Option
		sentinel error
	}{
		{"plain http to a remote host", fluximage.WithBaseURL("http://example.com"), fluximage.ErrInvalidArgument},
		{"not a URL", fluximage.WithBaseURL("::not a url::"), fluximage.ErrInvalidArgument},
		{"no concurrency", fluximage.WithConcurrency(0), fluximage.ErrInvalidArgument},
		{"too much concurrency", fluximage.WithConcurrency(17), fluximage.ErrInvalidArgument},
		{"negative retries", fluximage.WithRetries(-1), fluximage.ErrInvalidArgument},
		{"negative timeout", fluximage.WithTimeout(-time.Second), fluximage.ErrInvalidArgument},
		{"bad proxy", fluximage.WithProxy("::bad proxy::"), fluximage.ErrInvalidArgument},
		{"missing CA file", fluximage.WithCAFile(filepath.Join(dir, "missing.pem")), fluximage.ErrIO},
		{"CA file without a certificate", fluximage.WithCAFile(notPEM), fluximage.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fluximage.NewClient(agencyKey, tc.opt)
			if err == nil {
				c.Close()
			}
			fe := wantErr(t, err, tc.sentinel, 0)
			if fe.Setting == "" {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
	// Valid settings are accepted.
	c := newClient(t, agencyKey, fluximage.WithTimeouts(5*time.Second, 30*time.Second, time.Minute),
		fluximage.WithRetries(0), fluximage.WithRetryAfterUpload(), fluximage.WithConcurrency(16),
		fluximage.WithProxy(""), fluximage.WithUserAgent("go-test/1.0"))
	if _, err := c.Usage(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

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

// ----- every sentinel from a real server answer ---------------------------------------------

func TestErrorsFromServer(t *testing.T) {
	ctx := testCtx(t)
	img := []fluximage.Input{fluximage.Bytes("e.png", pngBytes(t, 16, 16, 1))}

	t.Run("unauthorized", func(t *testing.T) {
		c := newClient(t, unknownKey)
		_, err := c.Usage(ctx)
		wantErr(t, err, fluximage.ErrUnauthorized, 401)
		if strings.Contains(err.Error(), unknownKey) {
			t.Errorf("the error shows the key: %v", err)
		}
		_, err = newClient(t, rolledKey).Compress(ctx, img)
		wantErr(t, err, fluximage.ErrUnauthorized, 401)
	})
	t.Run("forbidden", func(t *testing.T) {
		c := newClient(t, freeKey)
		mark := writeFile(t, t.TempDir(), "mark.png", redPNG(t))
		_, err := c.Compress(ctx, img, fluximage.WithWatermark(mark, 20, 100, fluximage.BottomRight))
		wantErr(t, err, fluximage.ErrForbidden, 403)
		_, err = c.Compress(ctx, img, fluximage.WithAltText())
		wantErr(t, err, fluximage.ErrForbidden, 403)
	})
	t.Run("quota exceeded", func(t *testing.T) {
		c := newClient(t, exhaustedKey)
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrQuotaExceeded, 402)
		u, err := c.Usage(ctx)
		if err != nil || u.CanCompress {
			t.Errorf("usage of an exhausted key: %+v, %v", u, err)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "429", "count": 1, "path": "usage", "retry_after": 7})
		_, err := newClient(t, agencyKey, fluximage.WithRetries(0)).Usage(ctx)
		fe := wantErr(t, err, fluximage.ErrRateLimited, 429)
		if fe.RetryAfter != 7*time.Second {
			t.Errorf("RetryAfter = %v, want 7s", fe.RetryAfter)
		}
	})
	t.Run("bad request", func(t *testing.T) {
		notPNG := writeFile(t, t.TempDir(), "mark.png", jpegBytes(t, 8, 8, 1))
		_, err := newClient(t, proKey).Compress(ctx, img, fluximage.WithWatermark(notPNG, 20, 100, fluximage.Center))
		wantErr(t, err, fluximage.ErrBadRequest, 400)
	})
	t.Run("too large", func(t *testing.T) {
		// A sparse file one byte over the limit: refused before anything is uploaded.
		p := filepath.Join(t.TempDir(), "huge.png")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(fluximage.MaxFileBytes + 1)
		f.Close()
		before := emu.stats(t).Requests.Compress
		c := newClient(t, agencyKey)
		_, err = c.Compress(ctx, []fluximage.Input{fluximage.File(p)})
		wantErr(t, err, fluximage.ErrTooLarge, 0)
		// With a good image beside it, only its own result fails.
		b, err := c.Compress(ctx, append([]fluximage.Input{fluximage.File(p)}, img...))
		wantErr(t, err, fluximage.ErrPartial, -1)
		wantErr(t, b.Results()[0].Err, fluximage.ErrTooLarge, 0)
		if !b.Results()[1].OK() {
			t.Errorf("the good image failed: %v", b.Results()[1].Err)
		}
		if got := emu.stats(t).Requests.Compress - before; got != 1 {
			t.Errorf("%d compress requests, want 1 (the huge file is never sent)", got)
		}
	})
	t.Run("server", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "500-html", "count": 1, "path": "compress"})
		c := newClient(t, agencyKey, fluximage.WithRetries(0))
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrServer, 500)
		emu.fault(t, map[string]any{"mode": "502", "count": 1, "path": "usage"})
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrServer, 502)
	})
	t.Run("network", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "reset-early", "count": 1, "path": "usage"})
		_, err := newClient(t, agencyKey, fluximage.WithRetries(0)).Usage(ctx)
		wantErr(t, err, fluximage.ErrNetwork, 0)

		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String()
		l.Close()
		c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(closed), fluximage.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrNetwork, 0)
	})
	t.Run("timeout", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "stall", "count": 1, "path": "usage", "delay_ms": 5000})
		c := newClient(t, agencyKey, fluximage.WithRetries(0), fluximage.WithTimeout(500*time.Millisecond))
		start := time.Now()
		_, err := c.Usage(ctx)
		wantErr(t, err, fluximage.ErrTimeout, 0)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a 500 ms time limit took %v", d)
		}
	})
	t.Run("protocol", func(t *testing.T) {
		c := newClient(t, agencyKey, fluximage.WithRetries(0))
		emu.fault(t, map[string]any{"mode": "truncated-json", "count": 1, "path": "compress"})
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrProtocol, -1)
		emu.fault(t, map[string]any{"mode": "wrong-content-type", "count": 1, "path": "usage"})
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrProtocol, -1)
	})
	t.Run("expired", func(t *testing.T) {
		c := newClient(t, agencyKey)
		b, err := c.Compress(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		emu.post(t, "/__control/delete-results", nil)
		dst := filepath.Join(t.TempDir(), "gone.webp")
		wantErr(t, errOf(b.Results()[0].Save(ctx, dst)), fluximage.ErrExpired, -1)
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("an expired download left a file (%v)", err)
		}
	})
	t.Run("io", func(t *testing.T) {
		_, err := newClient(t, agencyKey).Compress(ctx, []fluximage.Input{fluximage.File(filepath.Join(t.TempDir(), "missing.png"))})
		wantErr(t, err, fluximage.ErrIO, 0)
	})
	t.Run("tls", func(t *testing.T) {
		tlsEmu, err := startEmulator("--tls", "--tls-dir", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer tlsEmu.stop()
		if !strings.HasPrefix(tlsEmu.BaseURL, "https://") || tlsEmu.CAFile == "" {
			t.Fatalf("TLS emulator: %+v", tlsEmu)
		}
		c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(tlsEmu.BaseURL), fluximage.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrTLS, 0)

		// Trusting the emulator's CA makes the same call work, downloads included.
		c2, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(tlsEmu.BaseURL), fluximage.WithCAFile(tlsEmu.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		b, err := c2.Compress(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.Results()[0].URL, "https://") {
			t.Errorf("download URL %q", b.Results()[0].URL)
		}
		if data, err := b.Results()[0].Fetch(ctx); err != nil || sniff(data) != "webp" {
			t.Fatalf("download over TLS: %v", err)
		}
	})
}

func TestRetriesRecoverFromTransientFailures(t *testing.T) {
	ctx := testCtx(t)
	emu.fault(t, map[string]any{"mode": "503", "count": 2, "path": "usage"})
	if _, err := newClient(t, agencyKey, fluximage.WithRetries(2)).Usage(ctx); err != nil {
		t.Fatalf("two 503s with 2 retries: %v", err)
	}
	emu.fault(t, map[string]any{"mode": "429", "count": 1, "path": "compress", "retry_after": 1})
	start := time.Now()
	b, err := newClient(t, agencyKey, fluximage.WithRetries(1)).Compress(ctx, []fluximage.Input{fluximage.Bytes("r.png", pngBytes(t, 8, 8, 1))})
	if err != nil || !b.Results()[0].OK() {
		t.Fatalf("a 429 with 1 retry: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 was not honoured (retried after %v)", d)
	}
}

func TestConcurrencySendsRequestsInParallel(t *testing.T) {
	ctx := testCtx(t)
	inputs := make([]fluximage.Input, 40) // two requests of 20
	for i := range inputs {
		inputs[i] = fluximage.Bytes(fmt.Sprintf("c%02d.png", i), pngBytes(t, 8, 8, uint32(i)))
	}
	run := func(n int) time.Duration {
		emu.fault(t, map[string]any{"mode": "stall", "count": 2, "path": "compress", "delay_ms": 1500})
		start := time.Now()
		if _, err := newClient(t, agencyKey, fluximage.WithConcurrency(n)).Compress(ctx, inputs); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	if d := run(1); d < 3*time.Second {
		t.Errorf("one request at a time: two 1.5 s requests took %v", d)
	}
	if d := run(2); d >= 2800*time.Millisecond {
		t.Errorf("two requests at a time: two 1.5 s requests took %v", d)
	}
}

func TestRetryAfterUpload(t *testing.T) {
	ctx := testCtx(t)
	img := []fluximage.Input{fluximage.Bytes("u.png", pngBytes(t, 8, 8, 1))}
	// "reset": the server reads and processes the upload, then drops the connection.
	emu.fault(t, map[string]any{"mode": "reset", "count": 1, "path": "compress"})
	before := emu.stats(t).Requests.Compress
	_, err := newClient(t, agencyKey, fluximage.WithRetries(2)).Compress(ctx, img)
	wantErr(t, err, fluximage.ErrNetwork, 0)
	if n := emu.stats(t).Requests.Compress - before; n != 1 {
		t.Errorf("a compress that may have been processed was sent %d times, want 1", n)
	}
	emu.fault(t, map[string]any{"mode": "reset", "count": 1, "path": "compress"})
	before = emu.stats(t).Requests.Compress
	b, err := newClient(t, agencyKey, fluximage.WithRetries(2), fluximage.WithRetryAfterUpload()).Compress(ctx, img)
	if err != nil || !b.Results()[0].OK() {
		t.Fatalf("with WithRetryAfterUpload: %v", err)
	}
	if n := emu.stats(t).Requests.Compress - before; n != 2 {
		t.Errorf("sent %d times, want 2", n)
	}
}

func TestProxy(t *testing.T) {
	var seen atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.Method == http.MethodConnect {
			up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
			rw.Flush()
			go func() { io.Copy(up, rw); up.Close() }()
			io.Copy(conn, up)
			conn.Close()
			return
		}
		// A plain forward proxy: the request line holds the absolute URL.
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	c := newClient(t, agencyKey, fluximage.WithProxy(proxy.URL))
	u, err := c.Usage(testCtx(t))
	if err != nil || u.Plan != "agency" {
		t.Fatalf("through the proxy: %+v, %v", u, err)
	}
	if seen.Load() == 0 {
		t.Fatal("the request did not go through the proxy")
	}
}

// ----- context --------------------------------------------------------------------------------

// stalled queues a fault that holds the next request on path for 10 s.
func stalled(t *testing.T, mode, path string) {
	emu.fault(t, map[string]any{"mode": mode, "count": 1, "path": path, "delay_ms": 10000})
}

// cancelAfter cancels ctx after d and reports when it did.
func cancelAfter(d time.Duration) (context.Context, func() time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	at := make(chan time.Time, 1)
	time.AfterFunc(d, func() { at <- time.Now(); cancel() })
	return ctx, func() time.Time { cancel(); return <-at }
}

// promptly checks that a call ended soon after its context was cancelled. The library
// promises about 100 ms; the bound leaves room for a busy machine and the race detector.
func promptly(t *testing.T, cancelledAt, returnedAt time.Time) {
	t.Helper()
	d := returnedAt.Sub(cancelledAt)
	t.Logf("returned %v after the cancel", d)
	if d > 750*time.Millisecond {
		t.Errorf("the call ended %v after its context was cancelled, want about 100 ms", d)
	}
}

func TestCancelStopsCompress(t *testing.T) {
	c := newClient(t, agencyKey)
	stalled(t, "stall", "compress")
	ctx, cancelledAt := cancelAfter(300 * time.Millisecond)
	_, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("c.png", pngBytes(t, 16, 16, 1))})
	end := time.Now()
	wantErr(t, err, fluximage.ErrCanceled, 0)
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fluximage.ErrTimeout) {
		t.Errorf("error %q: want context.Canceled only", err)
	}
	promptly(t, cancelledAt(), end)
}

func TestCancelStopsCompressWithProgress(t *testing.T) {
	c := newClient(t, agencyKey)
	stalled(t, "stall", "compress")
	ctx, cancelledAt := cancelAfter(300 * time.Millisecond)
	calls := 0
	_, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("c.png", pngBytes(t, 16, 16, 1))},
		fluximage.WithProgress(func(done, total uint64) { calls++ }))
	end := time.Now()
	wantErr(t, err, fluximage.ErrCanceled, 0)
	promptly(t, cancelledAt(), end)
	if calls == 0 {
		t.Error("the progress callback was never called")
	}
}

func TestDeadlineBoundsCall(t *testing.T) {
	c := newClient(t, agencyKey)
	stalled(t, "stall", "usage")
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := c.Usage(ctx)
	end := time.Now()
	wantErr(t, err, fluximage.ErrCanceled, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, fluximage.ErrTimeout) {
		t.Errorf("error %q: want context.DeadlineExceeded and ErrTimeout", err)
	}
	dl, _ := ctx.Deadline()
	promptly(t, dl, end)
}

func TestCancelStopsDownload(t *testing.T) {
	c := newClient(t, agencyKey)
	b, err := c.Compress(testCtx(t), []fluximage.Input{fluximage.Bytes("big.png", pngBytes(t, 256, 256, 4))}, fluximage.WithFormat(fluximage.FormatPNG))
	if err != nil {
		t.Fatal(err)
	}
	stalled(t, "trickle", "download")
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.png")
	ctx, cancelledAt := cancelAfter(400 * time.Millisecond)
	var last uint64
	_, err = b.Results()[0].Save(ctx, dst, fluximage.WithProgress(func(done, total uint64) { last = done }))
	end := time.Now()
	wantErr(t, err, fluximage.ErrCanceled, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not match context.Canceled", err)
	}
	promptly(t, cancelledAt(), end)
	if last == 0 {
		t.Error("no download progress was reported before the cancel")
	}
	// Nothing may be left behind. (The library removes its temporary file from a worker
	// thread, shortly after the call has returned: allow it 2 s.)
	var files []os.DirEntry
	for i := 0; i < 40; i++ {
		if files, _ = os.ReadDir(dir); len(files) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(files) != 0 {
		t.Errorf("a cancelled download left files: %v", files)
	}
}

func TestDoneContextSendsNothing(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := emu.stats(t).Requests
	_, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("x.png", pngBytes(t, 8, 8, 1))})
	wantErr(t, err, fluximage.ErrCanceled, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not match context.Canceled", err)
	}
	_, err = c.Usage(ctx)
	wantErr(t, err, fluximage.ErrCanceled, 0)
	if after := emu.stats(t).Requests; after != before {
		t.Errorf("requests were sent with a done context: %+v -> %+v", before, after)
	}
	// A nil context is refused, not a crash.
	_, err = c.Usage(nil)
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}

func TestProgress(t *testing.T) {
	c := newClient(t, agencyKey)
	var dones []uint64
	var total uint64
	in := []fluximage.Input{fluximage.Bytes("p1.png", pngBytes(t, 64, 64, 1)), fluximage.Bytes("p2.png", pngBytes(t, 64, 64, 2))}
	_, err := c.Compress(testCtx(t), in, fluximage.WithProgress(func(done, tot uint64) {
		dones = append(dones, done)
		total = tot
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(dones) == 0 || total == 0 || dones[len(dones)-1] != total {
		t.Fatalf("progress %v of %d: want it to end at the total", dones, total)
	}
	for i := 1; i < len(dones); i++ {
		if dones[i] < dones[i-1] {
			t.Fatalf("progress went backwards: %v", dones)
		}
	}
}

func TestPanicInProgressCallbackReachesCaller(t *testing.T) {
	c := newClient(t, agencyKey)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the callback's panic", r)
			}
		}()
		c.Usage(testCtx(t), fluximage.WithProgress(func(done, total uint64) { panic("boom") }))
		t.Fatal("no panic")
	}()
	// The client still works.
	if _, err := c.Usage(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// ----- concurrency and lifetime -----------------------------------------------------------

func TestGoroutinesShareAClient(t *testing.T) {
	c := newClient(t, agencyKey, fluximage.WithConcurrency(4))
	ctx := testCtx(t)
	dir := t.TempDir()
	formats := []fluximage.Format{fluximage.FormatWebP, fluximage.FormatJPEG, fluximage.FormatPNG, fluximage.FormatWebP}
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			f := formats[g%len(formats)]
			p := writeFile(t, dir, fmt.Sprintf("g%02d.png", g), pngBytes(t, 20+g, 20, uint32(g)))
			opts := []fluximage.CompressOption{fluximage.WithFormat(f)}
			if g%3 == 0 {
				opts = append(opts, fluximage.WithProgress(func(done, total uint64) {}))
			}
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			b, err := c.Compress(cctx, []fluximage.Input{fluximage.File(p), fluximage.Bytes(fmt.Sprintf("m%02d.png", g), pngBytes(t, 10, 10+g, uint32(g)))}, opts...)
			if err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", g, err)
				return
			}
			rs := b.Results()
			if rs[0].Width != 20+g || rs[1].Height != 10+g {
				errs <- fmt.Errorf("goroutine %d got another's results: %+v", g, rs)
				return
			}
			var buf bytes.Buffer
			if _, err := rs[1].WriteTo(&buf); err != nil || sniff(buf.Bytes()) != f.String() {
				errs <- fmt.Errorf("goroutine %d: download %v, %s", g, err, sniff(buf.Bytes()))
				return
			}
			if u, err := c.Usage(cctx); err != nil || u.Plan != "agency" {
				errs <- fmt.Errorf("goroutine %d: usage %v", g, err)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseIsIdempotentAndWaitsForCalls(t *testing.T) {
	c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(emu.BaseURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("k.png", pngBytes(t, 8, 8, 1))})
	if err != nil {
		t.Fatal(err)
	}
	emu.fault(t, map[string]any{"mode": "stall", "count": 1, "path": "usage", "delay_ms": 600})
	usageErr := make(chan error, 1)
	go func() { _, err := c.Usage(ctx); usageErr <- err }()
	time.Sleep(200 * time.Millisecond) // let the call start
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-usageErr:
		if err != nil {
			t.Fatalf("the call in progress failed: %v", err)
		}
	default:
		t.Fatal("Close returned while a call was still in progress")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Usage(ctx); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("Usage after Close: %v", err)
	}
	if _, err := c.Compress(ctx, nil); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("Compress after Close: %v", err)
	}
	if err := c.CompressFile(ctx, "a", "b"); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("CompressFile after Close: %v", err)
	}
	// The batch stays readable; downloading needs the client.
	r := b.Results()[0]
	if r.Name != "k.webp" {
		t.Errorf("result after Close: %+v", r)
	}
	if _, err := r.Fetch(ctx); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("Fetch after the client's Close: %v", err)
	}
}

func TestBatchClose(t *testing.T) {
	c := newClient(t, agencyKey)
	ctx := testCtx(t)
	b, err := c.Compress(ctx, []fluximage.Input{fluximage.Bytes("k.png", pngBytes(t, 8, 8, 1))})
	if err != nil {
		t.Fatal(err)
	}
	r := b.Results()[0]
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Name != "k.webp" || b.Len() != 1 || b.SessionID() == "" {
		t.Errorf("batch after Close: %+v", r)
	}
	if _, err := r.Save(ctx, filepath.Join(t.TempDir(), "x.webp")); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("Save after the batch's Close: %v", err)
	}
	var zero fluximage.Result
	if _, err := zero.Fetch(ctx); !errors.Is(err, fluximage.ErrClosed) {
		t.Errorf("Fetch of a zero Result: %v", err)
	}
}

// errOf keeps the error of a call that also returns a value.
func errOf[T any](_ T, err error) error { return err }
