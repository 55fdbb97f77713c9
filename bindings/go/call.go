package fluximage

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// Format is an output format, for WithFormat.
type Format int

// The output formats.
const (
	FormatWebP Format = C.FLX_FORMAT_WEBP // WebP (the default)
	FormatAVIF Format = C.FLX_FORMAT_AVIF // AVIF
	FormatJPEG Format = C.FLX_FORMAT_JPG  // JPEG
	FormatPNG  Format = C.FLX_FORMAT_PNG  // PNG (lossless)
)

// String returns the format's name on the wire: "webp", "avif", "jpg" or "png".
func (f Format) String() string {
	switch f {
	case FormatWebP:
		return "webp"
	case FormatAVIF:
		return "avif"
	case FormatJPEG:
		return "jpg"
	case FormatPNG:
		return "png"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Position says where a watermark is drawn, for WithWatermark.
type Position int

// The watermark positions: top, middle or bottom; left, centre or right.
const (
	TopLeft      Position = C.FLX_POS_TL
	TopCenter    Position = C.FLX_POS_TC
	TopRight     Position = C.FLX_POS_TR
	MiddleLeft   Position = C.FLX_POS_ML
	Center       Position = C.FLX_POS_MC
	MiddleRight  Position = C.FLX_POS_MR
	BottomLeft   Position = C.FLX_POS_BL
	BottomCenter Position = C.FLX_POS_BC
	BottomRight  Position = C.FLX_POS_BR // the default
)

// callConfig collects the CompressOptions of one call.
type callConfig struct {
	format              *Format
	quality             *int
	maxSet              bool
	maxWidth, maxHeight int
	sessionID           *string
	wmPath              *string
	wmScale, wmOpacity  int
	wmPosition          Position
	altText, seoRename  bool
	progress            func(done, total uint64)
	exists              ExistsPolicy
	outputDir           *string
	outputPolicy        ExistsPolicy
	errs                []error
}

// CompressOption sets an option of Compress and CompressFile: WithFormat, WithQuality,
// WithMaxSize, WithSessionID, WithWatermark, WithAltText, WithSEORename and WithProgress.
type CompressOption interface {
	applyCompress(*callConfig)
	applySync(*syncConfig) // every CompressOption is also a SyncOption
}

// CallOption sets an option of Result.Save, Result.Fetch and Client.Usage: WithProgress, and
// WithExists for Save. Compress options are not CallOptions, so that
// Save(ctx, path, WithFormat(...)) does not compile instead of being silently ignored.
type CallOption interface{ applyCall(*callConfig) }

// ProgressOption is both a CompressOption and a CallOption: WithProgress applies to every call.
type ProgressOption interface {
	CompressOption
	CallOption
}

// compressOption is an option of compress calls only.
type compressOption func(*callConfig)

func (o compressOption) applyCompress(c *callConfig) { o(c) }

// callOption is an option of downloads and usage only.
type callOption func(*callConfig)

func (o callOption) applyCall(c *callConfig) { o(c) }

// anyOption applies to every call.
type anyOption func(*callConfig)

func (o anyOption) applyCompress(c *callConfig) { o(c) }
func (o anyOption) applyCall(c *callConfig)     { o(c) }

// buildConfig applies opts (nil ones skipped) to a fresh callConfig.
func buildConfig[O comparable](opts []O, apply func(O, *callConfig)) callConfig {
	var cfg callConfig
	var none O
	for _, o := range opts {
		if o != none {
			apply(o, &cfg)
		}
	}
	return cfg
}

func compressConfig(opts []CompressOption) callConfig {
	return buildConfig(opts, CompressOption.applyCompress)
}

func callConfigOf(opts []CallOption) callConfig { return buildConfig(opts, CallOption.applyCall) }

// ExistsPolicy says what Result.Save does when a file is already at the output path.
type ExistsPolicy int

// The policies of WithExists. Under every policy, results of one batch never replace each
// other and an input file is never replaced.
const (
	ExistsError     ExistsPolicy = C.FLX_EXISTS_ERROR     // fail with ErrExists, write nothing (the default)
	ExistsRename    ExistsPolicy = C.FLX_EXISTS_RENAME    // write "name-2.ext", "name-3.ext", ... instead
	ExistsOverwrite ExistsPolicy = C.FLX_EXISTS_OVERWRITE // replace the existing file
)

// outputOption is WithOutputDir: an option of Compress only (not of CompressFile or Sync,
// which name their outputs themselves).
type outputOption func(*callConfig)

func (o outputOption) applyCompress(c *callConfig) { o(c) }
func (o outputOption) applySync(c *syncConfig)     { c.compress = append(c.compress, o) }

// WithOutputDir makes Compress save each result into the folder dir as soon as its request
// answers, while the next requests upload: on a slow link the call then takes about the time
// of the upload alone, where saving each Result afterwards costs a round trip per image.
//
// Before anything is uploaded, dir is created when missing and proved writable (else the call
// fails and spends nothing), and each input's result name (its stem and the format's
// extension; not with WithSEORename, where the server picks names) is checked under p as
// Result.Save would: an input whose result could not be saved (a file already there under
// ExistsError, its own input file, or the same name as another input's result unless
// ExistsRename) fails on its own with ErrExists or ErrInvalidArgument and is not sent, so it
// costs no credit. Result.Path is the file written; a Result whose save failed has that
// failure as its Err and can still be saved elsewhere with Result.Save.
func WithOutputDir(dir string, p ExistsPolicy) CompressOption {
	return outputOption(func(c *callConfig) { c.outputDir, c.outputPolicy = &dir, p })
}

// WithExists sets what Result.Save does when a file is already at the output path (default
// ExistsError). Fetch and Usage ignore it.
func WithExists(p ExistsPolicy) CallOption { return callOption(func(c *callConfig) { c.exists = p }) }

func optionError(setting, msg string) error {
	return &Error{Setting: setting, Status: StatusInvalidArgument, Message: msg}
}

// WithFormat sets the output format (default FormatWebP).
func WithFormat(f Format) CompressOption {
	return compressOption(func(c *callConfig) { c.format = &f })
}

// WithQuality sets the lossy quality for WebP, AVIF and JPEG, 40..100 (default 82); PNG is
// always lossless. Out of range is ErrInvalidArgument, before anything is sent.
func WithQuality(q int) CompressOption {
	return compressOption(func(c *callConfig) {
		c.quality = &q
		if q < 0 {
			c.errs = append(c.errs, optionError("WithQuality", fmt.Sprintf("quality must be between 40 and 100 (got %d)", q)))
		}
	})
}

// WithMaxSize scales images down proportionally to fit maxWidth × maxHeight pixels (0: no
// limit on that side); images are never enlarged. At most 65535 each.
func WithMaxSize(maxWidth, maxHeight int) CompressOption {
	return compressOption(func(c *callConfig) {
		c.maxSet, c.maxWidth, c.maxHeight = true, maxWidth, maxHeight
		if maxWidth < 0 || maxHeight < 0 {
			c.errs = append(c.errs, optionError("WithMaxSize", "sizes must not be negative"))
		}
	})
}

// WithSessionID groups the results under a session id of the caller's choosing (default: the
// server picks one); see Batch.SessionID.
func WithSessionID(id string) CompressOption {
	return compressOption(func(c *callConfig) { c.sessionID = &id })
}

// WithWatermark draws the PNG file at pngPath on every image (paid plans: ErrForbidden on the
// free plan). scale is its width in percent of the image's, 5..50; opacity 0 (transparent) to
// 100 (opaque); pos where it goes.
func WithWatermark(pngPath string, scale, opacity int, pos Position) CompressOption {
	return compressOption(func(c *callConfig) {
		c.wmPath, c.wmScale, c.wmOpacity, c.wmPosition = &pngPath, scale, opacity, pos
		if scale < 0 || opacity < 0 {
			c.errs = append(c.errs, optionError("WithWatermark", "scale and opacity must not be negative"))
		}
	})
}

// WithAltText asks for AI-written alt text per image (paid plans; one AI credit per image,
// shared with WithSEORename). See Result.AltText.
func WithAltText() CompressOption { return compressOption(func(c *callConfig) { c.altText = true }) }

// WithSEORename asks for an AI-written SEO file name per image (paid plans; one AI credit per
// image, shared with WithAltText). See Result.SEOName.
func WithSEORename() CompressOption {
	return compressOption(func(c *callConfig) { c.seoRename = true })
}

// WithProgress calls fn with the bytes moved so far and the total (0 when unknown): uploaded
// for a compress, downloaded for Save and Fetch; once at the start, then whenever the figures
// change, at most every 50 ms. fn runs on the calling goroutine while the call is in
// progress; it must not call this package. A panic in fn stops the call and is re-raised when
// the call returns. To stop a call, cancel its context.
func WithProgress(fn func(done, total uint64)) ProgressOption {
	return anyOption(func(c *callConfig) { c.progress = fn })
}

// progressState is what a cgo.Handle gives the progress trampoline.
type progressState struct {
	ctx      context.Context
	fn       func(done, total uint64)
	panicked bool
	panicVal any
}

//export gofxProgress
func gofxProgress(h C.uintptr_t, done, total C.uint64_t) (stop C.int) {
	p, ok := cgo.Handle(h).Value().(*progressState)
	if !ok || p.panicked {
		return 1
	}
	defer func() {
		// A panic must not unwind through the library's frames: stop the call and re-raise
		// the panic in Go once the call has returned (see call.finish).
		if r := recover(); r != nil {
			p.panicked, p.panicVal = true, r
			stop = 1
		}
	}()
	if p.fn != nil {
		p.fn(uint64(done), uint64(total))
	}
	if p.ctx.Err() != nil {
		return 1
	}
	return 0
}

// call is the per-call state bridging a context to the library: a cancel flag triggered when
// the context is done, and an optional progress callback.
type call struct {
	ctx    context.Context
	op     string
	cs     cstrings
	opts   C.gofx_opts // only C pointers inside: it may be passed to C
	cancel *C.flx_cancel
	stop   chan struct{}
	exited chan struct{}
	handle cgo.Handle
	prog   *progressState
	exists ExistsPolicy
}

// startCall checks ctx and the options and prepares the C options of one call. The caller
// must call finish.
func startCall(ctx context.Context, op string, cfg callConfig) (*call, error) {
	if ctx == nil {
		return nil, &Error{Op: op, Status: StatusInvalidArgument, Message: "nil context"}
	}
	for _, e := range cfg.errs {
		e.(*Error).Op = op
		return nil, e
	}
	if ctx.Err() != nil {
		return nil, canceledError(op, ctx)
	}
	cl := &call{ctx: ctx, op: op, exists: cfg.exists}
	o := &cl.opts
	o.format = -1
	if cfg.format != nil {
		o.format = C.int(*cfg.format)
	}
	if cfg.quality != nil {
		o.set_quality = 1
		o.quality = u32(*cfg.quality)
	}
	if cfg.maxSet {
		o.set_max_size = 1
		o.max_width, o.max_height = u32(cfg.maxWidth), u32(cfg.maxHeight)
	}
	o.session_id = cl.cs.opt(cfg.sessionID)
	if cfg.wmPath != nil {
		if *cfg.wmPath == "" {
			cl.cs.free()
			return nil, &Error{Op: op, Setting: "WithWatermark", Status: StatusInvalidArgument, Message: "the watermark path is empty"}
		}
		o.wm_path = cl.cs.str(*cfg.wmPath)
		o.wm_scale, o.wm_opacity, o.wm_position = u32(cfg.wmScale), u32(cfg.wmOpacity), C.int(cfg.wmPosition)
	}
	if cfg.outputDir != nil {
		if *cfg.outputDir == "" {
			cl.cs.free()
			return nil, &Error{Op: op, Setting: "WithOutputDir", Status: StatusInvalidArgument, Message: "the output folder is empty (\".\" for the current one)"}
		}
		o.output_dir = cl.cs.str(*cfg.outputDir)
		o.output_policy = C.int(cfg.outputPolicy)
	}
	if cfg.altText {
		o.alt_text = 1
	}
	if cfg.seoRename {
		o.seo_rename = 1
	}
	if cfg.progress != nil {
		cl.prog = &progressState{ctx: ctx, fn: cfg.progress}
		cl.handle = cgo.NewHandle(cl.prog)
		o.progress = C.uintptr_t(cl.handle)
	}
	if done := ctx.Done(); done != nil {
		cl.cancel = C.flx_cancel_new()
		if cl.cancel == nil {
			cl.finish()
			return nil, &Error{Op: op, Status: StatusInternal, Message: "cannot create a cancel flag"}
		}
		o.cancel = cl.cancel
		cl.stop, cl.exited = make(chan struct{}), make(chan struct{})
		go func(flag *C.flx_cancel) {
			defer close(cl.exited)
			select {
			case <-done:
				C.flx_cancel_trigger(flag) // callable from any thread
			case <-cl.stop:
			}
		}(cl.cancel)
	}
	return cl, nil
}

// finish releases what startCall made, once the C call has returned; it re-raises a panic of
// the progress callback.
func (cl *call) finish() {
	if cl.stop != nil {
		close(cl.stop)
		<-cl.exited // the watcher no longer touches the flag
	}
	if cl.cancel != nil {
		C.flx_cancel_free(cl.cancel)
		cl.cancel = nil
	}
	if cl.handle != 0 {
		cl.handle.Delete()
		cl.handle = 0
	}
	cl.cs.free()
	if cl.prog != nil && cl.prog.panicked {
		panic(cl.prog.panicVal)
	}
}

// fail turns a captured error into an *Error for this call.
func (cl *call) fail(e *C.gofx_err) *Error { return takeError(cl.op, e, cl.ctx) }

// cmalloc copies b into C memory owned by the call (at least one byte is allocated, so that
// an empty buffer is still "data" and the library reports it as empty).
func (cl *call) cmalloc(b []byte) *C.uint8_t {
	p := C.malloc(C.size_t(max(len(b), 1)))
	if p == nil {
		panic("fluximage: out of memory")
	}
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	cl.cs = append(cl.cs, p)
	return (*C.uint8_t)(p)
}
