package fluximage_test

// Contexts: cancel, deadlines, progress.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

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
	//lint:ignore SA1012 the point of this call is a nil context
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

// Issue 12.8: while the server works, the same figures are not reported again and again.
func TestProgressReportsChangesOnly(t *testing.T) {
	c := newClient(t, agencyKey)
	emu.fault(t, map[string]any{"mode": "stall", "count": 1, "path": "compress", "delay_ms": 600})
	type report struct{ done, total uint64 }
	var reports []report
	_, err := c.Compress(testCtx(t), []fluximage.Input{fluximage.Bytes("s.png", pngBytes(t, 32, 32, 3))},
		fluximage.WithProgress(func(done, total uint64) { reports = append(reports, report{done, total}) }))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i] == reports[i-1] {
			t.Fatalf("the same figures twice in a row during a 600 ms stall: %v", reports)
		}
	}
	if len(reports) > 4 {
		t.Errorf("%d reports for one small upload: %v", len(reports), reports)
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
