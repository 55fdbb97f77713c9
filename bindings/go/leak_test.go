package fluximage_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// TestManyCallsLeakNothing makes 20,000 calls in one process (compress, fetch, usage, a
// rejected key, cancels of a stalled call; half of the batches closed explicitly, half left to
// their finalizers) and checks that nothing stays behind. After a warm-up, the bounds are:
// RSS grows by at most 24 MiB (about 1 KiB a call: a leaked batch or buffer per call is
// several KiB and shows at once, including C memory that a missed finalizer would keep), the
// same number of goroutines, and the same open file descriptors (± the connection pool's few).
// FLX_LEAK_CALLS changes the count.
func TestManyCallsLeakNothing(t *testing.T) {
	calls := 20000
	if n, err := strconv.Atoi(os.Getenv("FLX_LEAK_CALLS")); err == nil && n > 0 {
		calls = n
	}
	warmup := calls / 10
	ctx := context.Background()
	client, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(emu.BaseURL), fluximage.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rejected, err := fluximage.NewClient(unknownKey, fluximage.WithBaseURL(emu.BaseURL), fluximage.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer rejected.Close()
	image := []fluximage.Input{fluximage.Bytes("leak.png", pngBytes(t, 16, 16, 7))}

	one := func(i int) {
		switch {
		case i%100 == 99:
			// A cancel while the server holds the answer: the context ends the call.
			emu.post(t, "/__control/fault", map[string]any{"mode": "stall", "count": 1, "delay_ms": 2000})
			cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			_, err := client.Compress(cctx, image)
			cancel()
			if !errors.Is(err, fluximage.ErrCanceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: want a cancel, got %v", i, err)
			}
		case i%4 == 0:
			batch, err := client.Compress(ctx, image)
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			data, err := batch.Results()[0].Fetch(ctx)
			if err != nil || len(data) == 0 {
				t.Fatalf("call %d: fetch: %v", i, err)
			}
			batch.Close()
		case i%4 == 1:
			if _, err := client.Usage(ctx); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		case i%4 == 2:
			if _, err := rejected.Usage(ctx); !errors.Is(err, fluximage.ErrUnauthorized) {
				t.Fatalf("call %d: want ErrUnauthorized, got %v", i, err)
			}
		default:
			// Not closed: the finalizer must release it.
			if _, err := client.Compress(ctx, image); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
	}

	for i := 0; i < warmup; i++ {
		one(i)
	}
	settle()
	rss0, fds0, routines0 := rssBytes(t), countDir(t, "/proc/self/fd"), runtime.NumGoroutine()
	for i := warmup; i < calls; i++ {
		one(i)
	}
	settle()
	// A cancelled call's worker closes its connection within moments; a leak never settles.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (countDir(t, "/proc/self/fd")-fds0 > 4 || runtime.NumGoroutine() > routines0) {
		time.Sleep(50 * time.Millisecond)
		settle()
	}
	rss, fds, routines := rssBytes(t)-rss0, countDir(t, "/proc/self/fd")-fds0, runtime.NumGoroutine()-routines0
	t.Logf("%d calls: RSS %+d bytes, fds %+d, goroutines %+d", calls-warmup, rss, fds, routines)
	if rss > 24<<20 {
		t.Errorf("RSS grew by %d bytes over %d calls", rss, calls-warmup)
	}
	if fds > 4 || fds < -4 {
		t.Errorf("open file descriptors changed by %d", fds)
	}
	if routines > 0 {
		t.Errorf("%d goroutines left behind", routines)
	}
}

// settle runs the finalizers of unreachable batches and returns freed memory to the OS.
func settle() {
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func rssBytes(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.Atoi(strings.Fields(string(b))[1])
	if err != nil {
		t.Fatal(err)
	}
	return pages * os.Getpagesize()
}

func countDir(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
