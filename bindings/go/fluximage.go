// Package fluximage is a client for the Fluximage image-compression API, a thin Go skin over
// the C library libfluximage: every request, retry, parse and check happens in the library;
// this package translates its C API into Go idioms (context.Context, functional options,
// errors for errors.Is/errors.As, io.Writer).
//
// It links with the library through pkg-config (`#cgo pkg-config: fluximage`): install it
// with `make install`, or point PKG_CONFIG_PATH at a build tree's build/pkgconfig.
//
// A Client is safe for use by many goroutines. Cancelling the context of a call stops it
// within about 100 ms, even while the server is still working.
//
//	client, err := fluximage.NewClient("") // the key from FLUXIMAGE_API_KEY
//	if err != nil { ... }
//	defer client.Close()
//	batch, err := client.Compress(ctx, []fluximage.Input{fluximage.File("cat.jpg")},
//		fluximage.WithFormat(fluximage.FormatWebP), fluximage.WithQuality(80))
//	...
//	err = batch.Results()[0].Save(ctx, "cat.webp")
package fluximage

/*
#cgo pkg-config: fluximage
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// bindingVersion is this package's version, sent in the user agent ("fluximage-go/0.2.0").
const bindingVersion = "0.2.0"

// HeaderVersion is the version of fluximage.h this package was compiled against; Version
// gives the version of the library it runs with.
const HeaderVersion = C.FLX_VERSION_STRING

// Limits of the API, checked by the library before anything is uploaded.
const (
	MaxFilesPerRequest = C.FLX_MAX_FILES_PER_REQUEST // files per request (larger batches are split)
	MaxFileBytes       = C.FLX_MAX_FILE_BYTES        // bytes per file (20 MB)
)

// Version returns the version of the libfluximage library in use, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.flx_version()) }

func statusString(s Status) string {
	if s < math.MinInt32 || s > math.MaxInt32 {
		return "unknown status"
	}
	return C.GoString(C.flx_status_str(C.int32_t(s)))
}

// Client talks to the Fluximage API: it holds the key, the settings and a pool of keep-alive
// connections. It is safe for concurrent use by many goroutines. Close it when done.
type Client struct {
	mu      sync.RWMutex // held for reading by every call, for writing by Close
	ptr     *C.flx_client
	cleanup runtime.Cleanup
}

// config collects the Options of NewClient.
type config struct {
	baseURL              *string
	connect, read, total time.Duration
	proxy                *string
	caFile               *string
	retries              *int
	retryAfterUpload     bool
	concurrency          int
	userAgent            string
	errs                 []error
}

// Option configures a Client in NewClient.
type Option func(*config)

// WithBaseURL sets the API's address, e.g. "https://fluximage.app" (the default, unless
// FLUXIMAGE_BASE_URL is set) or a local emulator's "http://127.0.0.1:8080". Plain http is
// refused except for loopback hosts, so the key never crosses a network unencrypted.
func WithBaseURL(url string) Option { return func(c *config) { c.baseURL = &url } }

// WithTimeout bounds each request, from the start of the upload to the last byte of the
// answer (default 10 minutes). A request that runs out fails with ErrTimeout. To bound a
// whole call, retries included, use a context deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.total = d; c.errs = append(c.errs, checkMillis("WithTimeout", d)) }
}

// WithTimeouts sets the connect limit (default 10 s), the read limit (waiting for the answer
// to start or for its next bytes; default 2 minutes) and the total limit per request (default
// 10 minutes). A zero duration keeps that limit's current value.
func WithTimeouts(connect, read, total time.Duration) Option {
	return func(c *config) {
		c.connect, c.read, c.total = connect, read, total
		for _, d := range []time.Duration{connect, read, total} {
			c.errs = append(c.errs, checkMillis("WithTimeouts", d))
		}
	}
}

// WithProxy sends requests through an HTTP CONNECT proxy ("http://host:3128"); loopback
// targets are always reached directly. SOCKS proxies are refused (ErrInvalidArgument). By
// default HTTPS_PROXY, ALL_PROXY and NO_PROXY apply; WithProxy("") keeps that behaviour.
func WithProxy(url string) Option { return func(c *config) { c.proxy = &url } }

// WithCAFile trusts the CA certificates of a PEM file in addition to the system's, for a
// corporate TLS proxy or a test server. A file that cannot be read is ErrIO; one without a
// certificate ErrInvalidArgument.
func WithCAFile(path string) Option { return func(c *config) { c.caFile = &path } }

// WithRetries sets how often a failed request is tried again (default 2; 0 disables). HTTP
// 429, 502, 503 and 504 are retried (honouring Retry-After up to 60 s), as are connections
// that failed before the request was sent, and downloads on any network failure.
func WithRetries(n int) Option {
	return func(c *config) {
		c.retries = &n
		if n < 0 {
			c.errs = append(c.errs, invalid("WithRetries", "the number of retries must not be negative"))
		}
	}
}

// WithRetryAfterUpload also retries a compress whose upload went out before the connection
// failed. Off by default: the server may have processed it, and credits would be charged twice.
func WithRetryAfterUpload() Option { return func(c *config) { c.retryAfterUpload = true } }

// WithConcurrency sets how many requests of one batch are in flight at once, 1..16 (default
// 4). A batch is sent as requests of at most 20 files each.
func WithConcurrency(n int) Option {
	return func(c *config) {
		c.concurrency = n
		if n < 1 {
			c.errs = append(c.errs, invalid("WithConcurrency", fmt.Sprintf("requests in flight must be 1..16 (got %d)", n)))
		}
	}
}

// WithUserAgent appends an application identifier ("my-app/1.2") to the user agent, after
// "libfluximage/<version> (<os>; <arch>) fluximage-go/<version>".
func WithUserAgent(app string) Option { return func(c *config) { c.userAgent = app } }

func invalid(setting, msg string) error {
	return &Error{Op: "NewClient", Setting: setting, Status: StatusInvalidArgument, Message: msg}
}

func checkMillis(setting string, d time.Duration) error {
	if d < 0 || d.Milliseconds() > math.MaxUint32 {
		return invalid(setting, fmt.Sprintf("a time limit must be between 0 and %d ms (got %v)", uint32(math.MaxUint32), d))
	}
	if d > 0 && d < time.Millisecond {
		return invalid(setting, fmt.Sprintf("a time limit must be at least 1 ms (got %v)", d))
	}
	return nil
}

// u32 converts a non-negative int, saturating (the library then reports the range).
func u32(n int) C.uint32_t {
	if n < 0 {
		return 0
	}
	if int64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return C.uint32_t(n)
}

// cstrings owns C copies of Go strings for the length of one call.
type cstrings []unsafe.Pointer

func (cs *cstrings) str(s string) *C.char {
	p := C.CString(s)
	*cs = append(*cs, unsafe.Pointer(p))
	return p
}

func (cs *cstrings) opt(s *string) *C.char {
	if s == nil {
		return nil
	}
	return cs.str(*s)
}

func (cs *cstrings) free() {
	for _, p := range *cs {
		C.free(p)
	}
	*cs = nil
}

// takeError turns a captured gofx_err into an *Error, freeing its message.
func takeError(op string, e *C.gofx_err, ctx context.Context) *Error {
	err := &Error{
		Op:         op,
		Status:     Status(e.status),
		HTTPStatus: int(e.http_status),
		Message:    C.GoString(e.message),
	}
	C.free(unsafe.Pointer(e.message))
	e.message = nil
	if e.step != nil {
		err.Setting = C.GoString(e.step)
	}
	if e.retry_after_ms > 0 {
		err.RetryAfter = time.Duration(e.retry_after_ms) * time.Millisecond
	}
	if err.Status == StatusCanceled && ctx != nil && ctx.Err() != nil {
		err.ctxErr = ctx.Err()
	}
	return err
}

// NewClient creates a client for apiKey ("flx_live_" followed by 40 hex characters), or for
// the key in the environment variable FLUXIMAGE_API_KEY when apiKey is "". The key's shape is
// checked here, without a request; a missing or malformed key is ErrInvalidArgument. The base
// URL is https://fluximage.app unless FLUXIMAGE_BASE_URL is set or WithBaseURL is given.
//
// The client must be closed with Close; a forgotten client is freed by the garbage collector.
func NewClient(apiKey string, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	for _, e := range cfg.errs {
		if e != nil {
			return nil, e
		}
	}
	var cs cstrings
	defer cs.free()
	var cc C.gofx_client_cfg
	if apiKey != "" {
		cc.api_key = cs.str(apiKey)
	}
	ua := "fluximage-go/" + bindingVersion
	if cfg.userAgent != "" {
		ua += " " + cfg.userAgent
	}
	cc.user_agent = cs.str(ua)
	cc.base_url = cs.opt(cfg.baseURL)
	cc.connect_ms = C.uint32_t(cfg.connect.Milliseconds())
	cc.read_ms = C.uint32_t(cfg.read.Milliseconds())
	cc.total_ms = C.uint32_t(cfg.total.Milliseconds())
	if cfg.proxy != nil {
		cc.set_proxy = 1
		if *cfg.proxy != "" {
			cc.proxy = cs.str(*cfg.proxy)
		}
	}
	cc.ca_file = cs.opt(cfg.caFile)
	if cfg.retries != nil {
		cc.set_retries = 1
		cc.retries = u32(*cfg.retries)
	}
	if cfg.retryAfterUpload {
		cc.retry_after_upload = 1
	}
	cc.concurrency = u32(cfg.concurrency)

	var ptr *C.flx_client
	var cerr C.gofx_err
	if C.gofx_client_new(&cc, &ptr, &cerr) != C.FLX_OK {
		return nil, takeError("NewClient", &cerr, nil)
	}
	c := &Client{ptr: ptr}
	c.cleanup = runtime.AddCleanup(c, func(p *C.flx_client) { C.flx_client_free(p) }, ptr)
	return c, nil
}

// Close frees the client and closes its connections. It waits for calls in progress on other
// goroutines to end. Calling it again does nothing; other methods then return ErrClosed.
// Batches made by the client stay readable, but their results can no longer be downloaded.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil
	}
	c.cleanup.Stop()
	C.flx_client_free(c.ptr)
	c.ptr = nil
	return nil
}

// acquire read-locks the client for one call; release with c.mu.RUnlock.
func (c *Client) acquire() (*C.flx_client, error) {
	c.mu.RLock()
	if c.ptr == nil {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	return c.ptr, nil
}
