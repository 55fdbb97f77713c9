package fluximage

/*
#include "sync_shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// SyncOption configures Client.Sync. Every CompressOption (WithFormat, WithQuality,
// WithProgress, ...) is also a SyncOption, next to the sync-only ones below.
type SyncOption interface {
	applySync(*syncConfig)
}

type syncOptionFunc func(*syncConfig)

func (f syncOptionFunc) applySync(c *syncConfig) { f(c) }

// applySync makes every CompressOption usable with Client.Sync.
func (o compressOption) applySync(c *syncConfig) { c.compress = append(c.compress, o) }
func (o anyOption) applySync(c *syncConfig)      { c.compress = append(c.compress, o) }

// IfLarger says what Sync does when a result in its input's own format is not smaller.
type IfLarger int

// The IfLarger choices.
const (
	KeepOriginal IfLarger = C.FLX_IF_LARGER_ORIGINAL // write the input's bytes (the default)
	WriteLarger  IfLarger = C.FLX_IF_LARGER_WRITE    // write the result anyway
	SkipLarger   IfLarger = C.FLX_IF_LARGER_SKIP     // write nothing for that file
)

type syncConfig struct {
	compress  []CompressOption
	include   []string
	exclude   []string
	flags     uint32
	ifLarger  IfLarger
	backupDir *string
	onPlan    func(SyncPlan) bool
	onEvent   func(SyncEvent)
}

func flag(n C.int) syncOptionFunc {
	return func(c *syncConfig) { c.flags |= 1 << uint(n) }
}

// WithInclude syncs only files whose path relative to the source folder matches one of the
// globs ('/'-separated; `*` and `?` within a component, `**` across, `[a-z]`, `{jpg,png}`; a
// glob without '/' matches the file name at any depth). Repeatable.
func WithInclude(globs ...string) SyncOption {
	return syncOptionFunc(func(c *syncConfig) { c.include = append(c.include, globs...) })
}

// WithExclude leaves out files, and folders with all they hold, whose relative path matches
// one of the globs (syntax as for WithInclude). Repeatable.
func WithExclude(globs ...string) SyncOption {
	return syncOptionFunc(func(c *syncConfig) { c.exclude = append(c.exclude, globs...) })
}

// WithHiddenFiles also syncs files and folders whose name starts with ".".
func WithHiddenFiles() SyncOption { return flag(C.FLX_SYNC_INCLUDE_HIDDEN) }

// WithFollowSymlinks descends into symlinked folders (each real folder once).
func WithFollowSymlinks() SyncOption { return flag(C.FLX_SYNC_FOLLOW_SYMLINKS) }

// WithDryRun only plans: nothing is uploaded or written; the report holds the plan.
func WithDryRun() SyncOption { return flag(C.FLX_SYNC_DRY_RUN) }

// WithAllowPartial sends what the credits cover (in order of relative path) when they do not
// cover the plan, instead of failing with ErrQuotaExceeded before any upload.
func WithAllowPartial() SyncOption { return flag(C.FLX_SYNC_ALLOW_PARTIAL) }

// WithInPlace replaces the originals in the source folder, copying each one to backupDir (a
// mirrored tree, created when needed) before it is replaced. The output folder given to Sync
// must then be the source folder (a safeguard against a mistyped path); passing the source
// folder as the output folder also needs this option, for its backupDir.
func WithInPlace(backupDir string) SyncOption {
	return syncOptionFunc(func(c *syncConfig) {
		c.flags |= 1 << uint(C.FLX_SYNC_IN_PLACE)
		c.backupDir = &backupDir
	})
}

// WithPreserveMtime gives each output the modification time of its input.
func WithPreserveMtime() SyncOption { return flag(C.FLX_SYNC_PRESERVE_MTIME) }

// WithOverwrite replaces outputs that were changed by hand or not written by Sync, instead of
// reporting them as conflicts.
func WithOverwrite() SyncOption { return flag(C.FLX_SYNC_OVERWRITE) }

// WithIfLarger sets what happens when a result is not smaller than its input (default
// KeepOriginal).
func WithIfLarger(v IfLarger) SyncOption {
	return syncOptionFunc(func(c *syncConfig) { c.ifLarger = v })
}

// OnSyncPlan calls fn once with the plan, before anything is sent, on the calling goroutine;
// returning false stops the sync (Sync then returns an error matching ErrCanceled).
func OnSyncPlan(fn func(SyncPlan) bool) SyncOption {
	return syncOptionFunc(func(c *syncConfig) { c.onPlan = fn })
}

// OnSyncEvent calls fn with each file's outcome as it happens, on the calling goroutine. It
// must not call this package.
func OnSyncEvent(fn func(SyncEvent)) SyncOption {
	return syncOptionFunc(func(c *syncConfig) { c.onEvent = fn })
}

// SyncOutcome is what happened to one file.
type SyncOutcome int

// The outcomes.
const (
	UpToDate     SyncOutcome = C.FLX_SYNC_UP_TO_DATE    // the output matches: nothing sent
	Compressed   SyncOutcome = C.FLX_SYNC_COMPRESSED    // compressed and written
	KeptOriginal SyncOutcome = C.FLX_SYNC_KEPT_ORIGINAL // not smaller: the input's bytes written
	Skipped      SyncOutcome = C.FLX_SYNC_SKIPPED       // left out; Reason says why
	Conflict     SyncOutcome = C.FLX_SYNC_CONFLICT      // not sent; Reason says why
	Failed       SyncOutcome = C.FLX_SYNC_FAILED        // failed; Err says why
)

// String returns "up-to-date", "compressed", "kept-original", "skipped", "conflict" or "failed".
func (o SyncOutcome) String() string {
	switch o {
	case UpToDate:
		return "up-to-date"
	case Compressed:
		return "compressed"
	case KeptOriginal:
		return "kept-original"
	case Skipped:
		return "skipped"
	case Conflict:
		return "conflict"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("SyncOutcome(%d)", int(o))
}

// SyncPlan is what a sync will do, computed before anything is uploaded.
type SyncPlan struct {
	Files              int   // files considered (non-images counted as skipped)
	UpToDate           int   // outputs already up to date
	ToCompress         int   // files to compress (or whose paid result is still to fetch)
	Conflicts          int   // files in conflict
	Skipped            int   // files left out
	BytesToUpload      int64 // bytes to upload
	Requests           int   // compress requests (at most 20 files each)
	CompressionsNeeded int64 // compression credits needed
	AICreditsNeeded    int64 // AI credits needed
}

// SyncEvent is one file's outcome.
type SyncEvent struct {
	Outcome         SyncOutcome
	Input           string // relative to the source folder, '/'-separated
	Output          string // relative to the output folder; "" when there is none
	InputSize       int64
	OutputSize      int64 // -1 when there is no output
	LargerThanInput bool  // the output written is larger than the input
	Reason          string
	Err             error // for Failed: an *Error matching its status's sentinel
}

// SyncReport is the outcome of Client.Sync.
type SyncReport struct {
	Plan         SyncPlan
	UpToDate     int
	Compressed   int
	KeptOriginal int
	Skipped      int // includes files that are not images
	Conflicts    int
	Failed       int
	NotDone      int // not covered by the credits (WithAllowPartial), or left after a fatal error
	BytesIn      int64
	BytesOut     int64
	CreditsSpent int64
	Requests     int
	Elapsed      time.Duration
	// Events holds the event of every file that was not up to date.
	Events []SyncEvent
}

type syncState struct {
	ctx      context.Context
	cfg      *syncConfig
	panicked bool
	panicVal any
}

func readPlan(r *C.flx_sync_report) SyncPlan {
	n := func(f C.int) int64 { return int64(C.flx_sync_report_num(r, f)) }
	return SyncPlan{
		Files:              int(n(C.FLX_SYNC_PLAN_FILES)),
		UpToDate:           int(n(C.FLX_SYNC_PLAN_UP_TO_DATE)),
		ToCompress:         int(n(C.FLX_SYNC_PLAN_TO_COMPRESS)),
		Conflicts:          int(n(C.FLX_SYNC_PLAN_CONFLICTS)),
		Skipped:            int(n(C.FLX_SYNC_PLAN_SKIPPED)),
		BytesToUpload:      n(C.FLX_SYNC_PLAN_BYTES_TO_UPLOAD),
		Requests:           int(n(C.FLX_SYNC_PLAN_REQUESTS)),
		CompressionsNeeded: n(C.FLX_SYNC_PLAN_COMPRESSIONS_NEEDED),
		AICreditsNeeded:    n(C.FLX_SYNC_PLAN_AI_CREDITS_NEEDED),
	}
}

func readEvent(e *C.flx_sync_event) SyncEvent {
	ev := SyncEvent{
		Outcome:         SyncOutcome(e.kind),
		InputSize:       int64(e.input_size),
		OutputSize:      int64(e.output_size),
		LargerThanInput: bool(e.larger_than_input),
	}
	if e.input != nil {
		ev.Input = C.GoString(e.input)
	}
	if e.output != nil {
		ev.Output = C.GoString(e.output)
	}
	msg := ""
	if e.message != nil {
		msg = C.GoString(e.message)
	}
	if ev.Outcome == Failed {
		ev.Err = &Error{Op: "sync", Status: Status(e.status), Message: msg}
	} else {
		ev.Reason = msg
	}
	return ev
}

//export gofxSyncEvent
func gofxSyncEvent(h C.uintptr_t, e *C.flx_sync_event) (stop C.int) {
	s, ok := cgo.Handle(h).Value().(*syncState)
	if !ok || s.panicked {
		return 1
	}
	defer func() {
		// A panic must not unwind through the library's frames: stop, and re-raise it in Go
		// once the call has returned.
		if r := recover(); r != nil {
			s.panicked, s.panicVal = true, r
			stop = 1
		}
	}()
	if e.kind == C.FLX_SYNC_PLANNED {
		if s.cfg.onPlan != nil && !s.cfg.onPlan(readPlan(e.report)) {
			return 1
		}
	} else if s.cfg.onEvent != nil {
		s.cfg.onEvent(readEvent(e))
	}
	if s.ctx.Err() != nil {
		return 1
	}
	return 0
}

// Sync compresses every image under the folder src into the mirrored tree under out
// (src/a/b/cat.png becomes out/a/b/cat.<format>), sending only what the manifest in out
// (".fluximage-sync") does not already have: a rerun sends only new or changed files, and a
// rerun after a crash does not pay again for results already saved.
//
// It plans first and, for a real run, checks the key's credits: when they do not cover the
// plan it returns an error matching ErrQuotaExceeded (naming both numbers) before uploading
// anything, unless WithAllowPartial. Two inputs that map to one output are both reported as
// conflicts and neither is sent; an output changed by hand, or not written by Sync, is a
// conflict unless WithOverwrite. Nothing is ever deleted.
//
// opts mixes CompressOptions (WithFormat, WithQuality, WithProgress, ...) and the sync
// options above. When some files failed or were not done, Sync returns the report and an
// error matching ErrPartial. ctx cancels the call (results saved so far stay recorded).
func (c *Client) Sync(ctx context.Context, src, out string, opts ...SyncOption) (*SyncReport, error) {
	if src == "" || out == "" {
		return nil, &Error{Op: "sync", Status: StatusInvalidArgument, Message: "the source and output folders must not be empty"}
	}
	var cfg syncConfig
	for _, o := range opts {
		if o != nil {
			o.applySync(&cfg)
		}
	}
	ptr, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	cc := compressConfig(cfg.compress)
	if cc.outputDir != nil {
		return nil, &Error{Op: "sync", Setting: "WithOutputDir", Status: StatusInvalidArgument,
			Message: "WithOutputDir is an option of Compress; Sync takes its output folder as an argument"}
	}
	cl, err := startCall(ctx, "sync", cc)
	if err != nil {
		return nil, err
	}
	defer cl.finish()
	var sc C.gofx_sync_cfg
	cArray := func(list []string) (**C.char, C.uintptr_t) {
		if len(list) == 0 {
			return nil, 0
		}
		arr := (**C.char)(C.malloc(C.size_t(len(list)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		if arr == nil {
			panic("fluximage: out of memory")
		}
		cl.cs = append(cl.cs, unsafe.Pointer(arr))
		slots := unsafe.Slice(arr, len(list))
		for i, s := range list {
			slots[i] = cl.cs.str(s)
		}
		return arr, C.uintptr_t(len(list))
	}
	sc.include, sc.n_include = cArray(cfg.include)
	sc.exclude, sc.n_exclude = cArray(cfg.exclude)
	sc.flags = C.uint32_t(cfg.flags)
	sc.if_larger = C.int(cfg.ifLarger)
	sc.backup_dir = cl.cs.opt(cfg.backupDir)
	state := &syncState{ctx: ctx, cfg: &cfg}
	handle := cgo.NewHandle(state)
	defer handle.Delete()
	var report *C.flx_sync_report
	var cerr C.gofx_err
	csrc, cout := cl.cs.str(src), cl.cs.str(out)
	st := C.gofx_sync(ptr, csrc, cout, &cl.opts, &sc, C.uintptr_t(handle), &report, &cerr)
	runtime.KeepAlive(c)
	if state.panicked {
		if report != nil {
			C.flx_sync_report_free(report)
		}
		if cerr.message != nil {
			C.free(unsafe.Pointer(cerr.message))
		}
		panic(state.panicVal)
	}
	if st != C.FLX_OK && st != C.FLX_PARTIAL {
		return nil, cl.fail(&cerr)
	}
	defer C.flx_sync_report_free(report)
	n := func(f C.int) int64 { return int64(C.flx_sync_report_num(report, f)) }
	r := &SyncReport{
		Plan:         readPlan(report),
		UpToDate:     int(n(C.FLX_SYNC_UP_TO_DATE_FILES)),
		Compressed:   int(n(C.FLX_SYNC_COMPRESSED_FILES)),
		KeptOriginal: int(n(C.FLX_SYNC_KEPT_ORIGINAL_FILES)),
		Skipped:      int(n(C.FLX_SYNC_SKIPPED_FILES)),
		Conflicts:    int(n(C.FLX_SYNC_CONFLICT_FILES)),
		Failed:       int(n(C.FLX_SYNC_FAILED_FILES)),
		NotDone:      int(n(C.FLX_SYNC_NOT_DONE_FILES)),
		BytesIn:      n(C.FLX_SYNC_BYTES_IN),
		BytesOut:     n(C.FLX_SYNC_BYTES_OUT),
		CreditsSpent: n(C.FLX_SYNC_CREDITS_SPENT),
		Requests:     int(n(C.FLX_SYNC_REQUESTS)),
		Elapsed:      time.Duration(n(C.FLX_SYNC_ELAPSED_MS)) * time.Millisecond,
	}
	count := int(C.flx_sync_report_event_count(report))
	r.Events = make([]SyncEvent, 0, count)
	var ev C.flx_sync_event
	for i := 0; i < count; i++ {
		if C.flx_sync_report_event(report, C.uintptr_t(i), &ev) == C.FLX_OK {
			r.Events = append(r.Events, readEvent(&ev))
		}
	}
	if st == C.FLX_PARTIAL {
		return r, cl.fail(&cerr)
	}
	return r, nil
}
