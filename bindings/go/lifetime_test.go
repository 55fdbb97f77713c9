package fluximage_test

// Concurrency and lifetime: shared clients, Close.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

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
