package fluximage

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Input is one image to compress: either a file (Path, streamed from disk) or bytes in memory
// (Data, uploaded under Name). Build it with File or Bytes.
type Input struct {
	// Path is the file to upload, or "" for an in-memory input.
	Path string
	// Name is the file name to upload Data under, e.g. "photo.jpg" (required with Data;
	// the result is named after it). Ignored for a Path.
	Name string
	// Data holds the image bytes, or nil for a file. It is copied during the call.
	Data []byte
}

// File is an input read from the file at path.
func File(path string) Input { return Input{Path: path} }

// Bytes is an input held in memory, uploaded under the file name name ("photo.jpg").
func Bytes(name string, data []byte) Input {
	if data == nil {
		data = []byte{}
	}
	return Input{Name: name, Data: data}
}

// Compress optimizes inputs and returns a Batch with one Result per input, in input order.
//
// Each input is checked first (readable, not empty, at most 20 MB): one that fails its check
// fails only its own Result, and nothing is spent on it. The others are uploaded in requests
// of at most 20 files, several at a time (WithConcurrency).
//
// When every image succeeded, err is nil. When some failed, Compress returns the batch AND an
// error matching ErrPartial: see each Result's Err. When every image failed, it returns the
// batch (each Result says why) AND the first failure (for example ErrUnauthorized,
// ErrRateLimited, or ErrIO when every input failed its checks). The batch is nil only when
// the call stopped before checking the inputs: invalid options or a cancelled context.
//
// Cancelling ctx, or its deadline passing, stops the call within about 100 ms with an error
// matching ErrCanceled and ctx.Err().
func (c *Client) Compress(ctx context.Context, inputs []Input, opts ...CompressOption) (*Batch, error) {
	ptr, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	cl, err := startCall(ctx, "compress", compressConfig(opts))
	if err != nil {
		return nil, err
	}
	defer cl.finish()

	// Only C pointers in this array: C copies of the paths, names and bytes.
	cin := make([]C.flx_input, len(inputs))
	for i, in := range inputs {
		if in.Path != "" {
			cin[i].path = cl.cs.str(in.Path)
		}
		if in.Data != nil {
			cin[i].data = cl.cmalloc(in.Data)
			cin[i].len = C.size_t(len(in.Data))
		}
		if in.Name != "" && in.Data != nil {
			cin[i].name = cl.cs.str(in.Name)
		}
	}
	var first *C.flx_input
	if len(cin) > 0 {
		first = &cin[0]
	}
	var out *C.flx_batch
	var cerr C.gofx_err
	st := C.gofx_compress(ptr, first, C.uintptr_t(len(cin)), &cl.opts, &out, &cerr)
	runtime.KeepAlive(c)
	var b *Batch
	if out != nil {
		b = newBatch(c, out)
	}
	if Status(st) == StatusOK {
		return b, nil
	}
	return b, cl.fail(&cerr)
}

// CompressFile compresses the file src and writes the result to dst, which is replaced when
// it exists (the caller named it). The folder of dst is created when missing and checked
// before anything is uploaded, and the result is written through a temporary file renamed
// into place, so dst is either the whole result or untouched. dst must not be src
// (ErrInvalidArgument): the original is never overwritten. The image's own failure is the
// error (for example ErrServer for an image the server cannot decode).
func (c *Client) CompressFile(ctx context.Context, src, dst string, opts ...CompressOption) error {
	ptr, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.mu.RUnlock()
	cfg := compressConfig(opts)
	if cfg.outputDir != nil {
		return &Error{Op: "compress file", Setting: "WithOutputDir", Status: StatusInvalidArgument,
			Message: "WithOutputDir is an option of Compress; CompressFile writes to dst"}
	}
	cl, err := startCall(ctx, "compress file", cfg)
	if err != nil {
		return err
	}
	defer cl.finish()
	var csrc, cdst *C.char
	if src != "" {
		csrc = cl.cs.str(src)
	}
	if dst != "" {
		cdst = cl.cs.str(dst)
	}
	var cerr C.gofx_err
	st := C.gofx_compress_file(ptr, csrc, cdst, &cl.opts, &cerr)
	runtime.KeepAlive(c)
	if st != C.FLX_OK {
		return cl.fail(&cerr)
	}
	return nil
}

// Batch is the outcome of Compress: one Result per input, in input order. Its results can be
// downloaded with Result.Save, Result.Fetch and Result.WriteTo while the Client is open and
// the server keeps them (about 15 minutes). A Batch is safe for concurrent use; Close frees
// it (a forgotten batch is freed by the garbage collector).
type Batch struct {
	mu        sync.RWMutex
	ptr       *C.flx_batch
	client    *Client
	results   []Result
	sessionID string
	json      string
	cleanup   runtime.Cleanup
}

// Result is the outcome for one input of a Batch. Numbers are 0 and strings "" when the
// server did not say (or the image failed).
type Result struct {
	// Index is the position of the input in the Compress call.
	Index int
	// Input is the input as given: its path, or the name of in-memory bytes.
	Input string
	// Status is StatusOK, or why this image failed.
	Status Status
	// Err is nil when the image was optimized, otherwise an *Error saying why it failed
	// (for example ErrServer "cannot decode image", ErrTooLarge, ErrIO).
	Err error
	// OriginalName is the file name the image was uploaded under.
	OriginalName string
	// Name is the output file name, e.g. "cat.webp".
	Name string
	// Format is the output format: "webp", "avif", "jpg" or "png".
	Format string
	// OriginalSize and Size are the sizes in bytes of the upload and of the result.
	OriginalSize, Size int64
	// Width and Height are the result's dimensions in pixels, as the server said (0 when it
	// did not; Dimensions then reads them from the image once it was saved or fetched).
	Width, Height int
	// URL is the signed download URL. Anyone holding it can download the result until it
	// expires: log it no more than a password.
	URL string
	// ExpiresAt is when URL expires (the zero time when unknown).
	ExpiresAt time.Time
	// AltText is the AI-written alt text (with WithAltText).
	AltText string
	// SEOName is the AI-written SEO file name (with WithSEORename).
	SEOName string
	// Path is the file Compress saved the result to (with WithOutputDir), "" when it did not.
	Path string

	batch *Batch
}

func newBatch(c *Client, ptr *C.flx_batch) *Batch {
	b := &Batch{ptr: ptr, client: c}
	n := int(C.flx_batch_len(ptr))
	b.results = make([]Result, n)
	for i := range n {
		var it C.gofx_item
		C.gofx_batch_item(ptr, C.uintptr_t(i), &it)
		r := Result{Index: i, Status: Status(it.status), batch: b}
		str := func(f int) string {
			if it.str[f] == nil {
				return ""
			}
			return C.GoString(it.str[f])
		}
		num := func(f int) int64 { return max(int64(it.num[f-C.FLX_FIELD_ORIGINAL_SIZE]), 0) }
		r.Input = str(C.FLX_FIELD_INPUT)
		r.OriginalName = str(C.FLX_FIELD_ORIGINAL_NAME)
		r.Name = str(C.FLX_FIELD_NAME)
		r.Format = str(C.FLX_FIELD_FORMAT)
		r.URL = str(C.FLX_FIELD_URL)
		r.AltText = str(C.FLX_FIELD_ALT_TEXT)
		r.SEOName = str(C.FLX_FIELD_SEO_NAME)
		r.Path = str(C.FLX_FIELD_PATH)
		r.OriginalSize = num(C.FLX_FIELD_ORIGINAL_SIZE)
		r.Size = num(C.FLX_FIELD_SIZE)
		r.Width = int(num(C.FLX_FIELD_WIDTH))
		r.Height = int(num(C.FLX_FIELD_HEIGHT))
		if exp := num(C.FLX_FIELD_EXPIRES_UNIX); exp > 0 {
			r.ExpiresAt = time.Unix(exp, 0)
		}
		if r.Status != StatusOK {
			msg := ""
			if it.error != nil {
				msg = C.GoString(it.error)
			}
			r.Err = &Error{Op: "compress " + r.Input, Status: r.Status, HTTPStatus: int(num(C.FLX_FIELD_HTTP_STATUS)), Message: msg}
		}
		b.results[i] = r
	}
	if s := C.flx_batch_session_id(ptr); s != nil {
		b.sessionID = C.GoString(s)
	}
	if j := C.flx_batch_json(ptr); j != nil {
		b.json = C.GoString(j)
	}
	b.cleanup = runtime.AddCleanup(b, func(p *C.flx_batch) { C.flx_batch_free(p) }, ptr)
	return b
}

// Results returns one Result per input, in input order (a copy: changing it changes nothing).
func (b *Batch) Results() []Result { return append([]Result(nil), b.results...) }

// Len returns the number of results (the number of inputs).
func (b *Batch) Len() int { return len(b.results) }

// Failed returns how many images of the batch failed.
func (b *Batch) Failed() int {
	n := 0
	for _, r := range b.results {
		if r.Err != nil {
			n++
		}
	}
	return n
}

// SessionID returns the session the server grouped the results under ("" when it gave none).
func (b *Batch) SessionID() string { return b.sessionID }

// JSON returns the server's answer as received; with several requests, a JSON array of their
// answers. Nothing the server sent is lost.
func (b *Batch) JSON() string { return b.json }

// Close frees the batch. Its Results stay readable, but can no longer be downloaded
// (ErrClosed). Calling Close again does nothing.
func (b *Batch) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr == nil {
		return nil
	}
	b.cleanup.Stop()
	C.flx_batch_free(b.ptr)
	b.ptr = nil
	return nil
}

// acquire read-locks the batch and its client for one download; release with the returned
// function.
func (b *Batch) acquire() (*C.flx_client, *C.flx_batch, func(), error) {
	b.mu.RLock()
	if b.ptr == nil {
		b.mu.RUnlock()
		return nil, nil, nil, ErrClosed
	}
	cp, err := b.client.acquire()
	if err != nil {
		b.mu.RUnlock()
		return nil, nil, nil, err
	}
	return cp, b.ptr, func() { b.client.mu.RUnlock(); b.mu.RUnlock() }, nil
}

// OK reports whether this image was optimized (Err is nil).
func (r Result) OK() bool { return r.Err == nil }

// Save downloads the result to path and returns the path written. path is a file, or a
// folder (an existing directory, or a path ending in "/") in which the file is named after
// the result (Name); missing folders are created.
//
// A file already at the output path is never replaced unless asked: by default Save fails
// with ErrExists before downloading; WithExists(ExistsRename) writes "name-2.ext" (or the next
// free number) instead and WithExists(ExistsOverwrite) replaces it. Under every policy the
// results of one batch never replace each other, and the input file is never replaced
// (ErrInvalidArgument).
//
// The download URL is fetched without the API key, and the file is written through a
// temporary file renamed into place, so an interrupted download leaves nothing behind.
// ErrExpired means the server no longer has the result: compress again. For a failed image,
// Save returns its error.
func (r Result) Save(ctx context.Context, path string, opts ...CallOption) (string, error) {
	var written string
	err := r.onItem(ctx, "save", opts, func(cp *C.flx_client, bp *C.flx_batch, cl *call) error {
		var cpath *C.char
		if path != "" {
			cpath = cl.cs.str(path)
		}
		var out *C.char
		var cerr C.gofx_err
		if C.gofx_batch_save(cp, bp, C.uintptr_t(r.Index), cpath, C.int(cl.exists), &cl.opts, &out, &cerr) != C.FLX_OK {
			return cl.fail(&cerr)
		}
		written = C.GoString(out)
		C.flx_string_free(out)
		return nil
	})
	return written, err
}

// Dimensions returns the result's width and height in pixels: as the server said, or, when it
// did not, as read from the image's header once the result was saved or fetched. 0, 0 when
// neither is known.
func (r Result) Dimensions() (width, height int) {
	if r.Width > 0 && r.Height > 0 || r.batch == nil {
		return r.Width, r.Height
	}
	r.batch.mu.RLock()
	defer r.batch.mu.RUnlock()
	if r.batch.ptr == nil {
		return r.Width, r.Height
	}
	w := C.flx_batch_num(r.batch.ptr, C.size_t(r.Index), C.FLX_FIELD_WIDTH)
	h := C.flx_batch_num(r.batch.ptr, C.size_t(r.Index), C.FLX_FIELD_HEIGHT)
	return int(max(w, 0)), int(max(h, 0))
}

// Fetch downloads the result into memory. See Save for the errors; WithExists does not apply.
func (r Result) Fetch(ctx context.Context, opts ...CallOption) ([]byte, error) {
	var out []byte
	err := r.withDownload(ctx, opts, func(data []byte) error {
		out = append([]byte(nil), data...)
		return nil
	})
	return out, err
}

// WriteTo downloads the result and writes it to w, returning the number of bytes written. It
// implements io.WriterTo; use Fetch or Save to pass a context.
func (r Result) WriteTo(w io.Writer) (int64, error) {
	var written int
	err := r.withDownload(context.Background(), nil, func(data []byte) error {
		// Straight from the library's buffer: an io.Writer must not keep p, so no Go copy.
		var werr error
		written, werr = w.Write(data)
		return werr
	})
	return int64(written), err
}

// withDownload downloads the result into a library buffer and lends it to use, which must not
// keep it: the buffer is freed when use returns.
func (r Result) withDownload(ctx context.Context, opts []CallOption, use func([]byte) error) error {
	return r.onItem(ctx, "fetch", opts, func(cp *C.flx_client, bp *C.flx_batch, cl *call) error {
		var data *C.uint8_t
		var n C.size_t
		var cerr C.gofx_err
		if C.gofx_batch_fetch(cp, bp, C.uintptr_t(r.Index), &cl.opts, &data, &n, &cerr) != C.FLX_OK {
			return cl.fail(&cerr)
		}
		defer C.flx_bytes_free(data, n)
		if n == 0 {
			return use(nil)
		}
		return use(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
	})
}

// onItem runs do with the client and batch held (so neither is closed meanwhile) and a call
// prepared for ctx and opts; op names the operation in errors.
func (r Result) onItem(ctx context.Context, op string, opts []CallOption, do func(*C.flx_client, *C.flx_batch, *call) error) error {
	if r.batch == nil {
		return ErrClosed
	}
	cp, bp, release, err := r.batch.acquire()
	if err != nil {
		return err
	}
	defer release()
	cl, err := startCall(ctx, op+" "+r.Input, callConfigOf(opts))
	if err != nil {
		return err
	}
	defer cl.finish()
	err = do(cp, bp, cl)
	runtime.KeepAlive(r.batch)
	return err
}
