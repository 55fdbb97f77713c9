package fluximage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// syncTree writes small PNGs at the given relative paths under dir.
func syncTree(t *testing.T, dir string, names ...string) {
	t.Helper()
	for i, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, pngBytes(t, 40, 30, uint32(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyncMirrorsATreeAndRerunsSendNothing(t *testing.T) {
	c := newClient(t, agencyKey)
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	syncTree(t, src, "a.png", "x/a.png", "x/y/a.png")
	before := emu.stats(t).Requests.Compress
	var plan fluximage.SyncPlan
	var events []fluximage.SyncEvent
	r, err := c.Sync(testCtx(t), src, out,
		fluximage.WithFormat(fluximage.FormatAVIF), fluximage.WithQuality(60),
		fluximage.OnSyncPlan(func(p fluximage.SyncPlan) bool { plan = p; return true }),
		fluximage.OnSyncEvent(func(e fluximage.SyncEvent) { events = append(events, e) }))
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if r.Compressed != 3 || r.Requests != 1 || r.CreditsSpent != 3 || plan.ToCompress != 3 || len(events) != 3 {
		t.Fatalf("report %+v, plan %+v, %d events", r, plan, len(events))
	}
	for _, e := range events {
		if e.Outcome != fluximage.Compressed || !strings.HasSuffix(e.Output, ".avif") || e.OutputSize <= 0 {
			t.Errorf("event %+v", e)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "x", "y", "a.avif"))
	if err != nil || sniff(b) != "avif" {
		t.Fatalf("the deepest output: %v %q", err, sniff(b))
	}
	again, err := c.Sync(testCtx(t), src, out, fluximage.WithFormat(fluximage.FormatAVIF), fluximage.WithQuality(60))
	if err != nil || again.UpToDate != 3 || again.Requests != 0 || len(again.Events) != 0 {
		t.Fatalf("rerun: %v %+v", err, again)
	}
	if sent := emu.stats(t).Requests.Compress - before; sent != 1 {
		t.Fatalf("%d compress requests, want 1", sent)
	}
}

func TestSyncConflictsDryRunAndPlanStop(t *testing.T) {
	c := newClient(t, agencyKey)
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	syncTree(t, src, "a.png", "a.jpg", "b.png", "skip/c.png")
	before := emu.stats(t).Requests.Compress
	r, err := c.Sync(testCtx(t), src, out, fluximage.WithDryRun(), fluximage.WithExclude("skip"))
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if r.Plan.ToCompress != 1 || r.Conflicts != 2 {
		t.Fatalf("dry run report %+v", r)
	}
	if e := r.Events[0]; e.Outcome != fluximage.Conflict || !strings.Contains(e.Reason, "map to the same output a.webp") {
		t.Fatalf("conflict event %+v", e)
	}
	_, err = c.Sync(testCtx(t), src, out, fluximage.OnSyncPlan(func(fluximage.SyncPlan) bool { return false }))
	if !errors.Is(err, fluximage.ErrCanceled) {
		t.Fatalf("stopping at the plan: %v", err)
	}
	if sent := emu.stats(t).Requests.Compress - before; sent != 0 {
		t.Fatalf("%d compress requests, want 0", sent)
	}
	if _, err := os.Stat(filepath.Join(out, "b.webp")); !os.IsNotExist(err) {
		t.Fatalf("nothing may be written: %v", err)
	}
	_, err = c.Sync(testCtx(t), src, src)
	var fe *fluximage.Error
	if !errors.As(err, &fe) || !errors.Is(err, fluximage.ErrInvalidArgument) || !strings.Contains(fe.Message, "backup") {
		t.Fatalf("in place without a backup folder: %v", err)
	}
	_, err = c.Sync(testCtx(t), src, out, fluximage.WithInclude("{a,b"))
	if !errors.Is(err, fluximage.ErrInvalidArgument) {
		t.Fatalf("bad glob: %v", err)
	}
}

func TestSyncChecksCreditsFirstAndInPlaceKeepsBackups(t *testing.T) {
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	syncTree(t, src, "a.png", "b.png")
	_, err := newClient(t, exhaustedKey).Sync(testCtx(t), src, out)
	if !errors.Is(err, fluximage.ErrQuotaExceeded) || !strings.Contains(err.Error(), "needs 2 compressions but the key has 0 left") {
		t.Fatalf("quota: %v", err)
	}
	backup := t.TempDir()
	c := newClient(t, agencyKey)
	r, err := c.Sync(testCtx(t), src, src, fluximage.WithFormat(fluximage.FormatPNG), fluximage.WithInPlace(backup))
	if err != nil || r.Compressed+r.KeptOriginal != 2 {
		t.Fatalf("in place: %v %+v", err, r)
	}
	r, err = c.Sync(testCtx(t), src, src, fluximage.WithFormat(fluximage.FormatPNG), fluximage.WithInPlace(backup))
	if err != nil || r.UpToDate != 2 || r.Requests != 0 {
		t.Fatalf("second in-place run: %v %+v", err, r)
	}
}

func TestSyncReportsABrokenFileAndErrPartial(t *testing.T) {
	c := newClient(t, agencyKey)
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	syncTree(t, src, "good.png")
	if err := os.WriteFile(filepath.Join(src, "broken.png"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := c.Sync(testCtx(t), src, out)
	if !errors.Is(err, fluximage.ErrPartial) || r == nil {
		t.Fatalf("want the report and ErrPartial, got %v, %v", r, err)
	}
	if r.Compressed != 1 || r.Failed != 1 || len(r.Events) != 2 {
		t.Fatalf("report %+v", r)
	}
	for _, e := range r.Events {
		if e.Input == "broken.png" && (e.Outcome != fluximage.Failed || !errors.Is(e.Err, fluximage.ErrServer) || e.OutputSize != -1) {
			t.Errorf("broken.png: %+v", e)
		}
	}
}
