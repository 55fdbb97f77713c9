package fluximage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is the library's status code (flx_status in fluximage.h). The numbers are stable.
type Status int

// The statuses of the C library, in the order and with the numbers of fluximage.h.
const (
	StatusOK              Status = 0  // success
	StatusInvalidArgument Status = 1  // an argument or option was invalid; nothing was sent
	StatusUnauthorized    Status = 2  // HTTP 401: key missing, malformed, unknown or rolled
	StatusForbidden       Status = 3  // HTTP 403: the plan does not include the feature
	StatusQuotaExceeded   Status = 4  // HTTP 402: credits used up for this billing period
	StatusTooLarge        Status = 5  // a file over 20 MB (local check) or HTTP 413
	StatusRateLimited     Status = 6  // HTTP 429; see Error.RetryAfter
	StatusBadRequest      Status = 7  // HTTP 400: the server rejected a field
	StatusServer          Status = 8  // HTTP 5xx, or the server could not process one image
	StatusNetwork         Status = 9  // the connection could not be made or broke
	StatusTimeout         Status = 10 // a connect, read or total time limit was reached
	StatusTLS             Status = 11 // TLS handshake or certificate verification failed
	StatusProtocol        Status = 12 // the server's answer did not follow the protocol
	StatusExpired         Status = 13 // a result's download URL expired: compress again
	StatusIO              Status = 14 // a local file could not be read or written
	StatusCanceled        Status = 15 // the context was cancelled or its deadline passed
	StatusPartial         Status = 16 // a batch finished but some of its images failed
	StatusInternal        Status = 17 // a bug in the library; please report it
	StatusExists          Status = 18 // a file is at the output path and the policy forbids replacing it
)

// String returns the library's English description of s ("rate limited", ...).
func (s Status) String() string { return statusString(s) }

// Sentinel errors, one per failure status. Every error of this package that comes from the
// library is an *Error and matches the sentinel of its Status with errors.Is; a call stopped
// by its context also matches the context's error (and ErrTimeout for a deadline).
var (
	// ErrInvalidArgument: an argument or option was invalid; nothing was sent.
	ErrInvalidArgument = errors.New("fluximage: invalid argument")
	// ErrUnauthorized: the key was missing, malformed, unknown or rolled (HTTP 401).
	ErrUnauthorized = errors.New("fluximage: unauthorized")
	// ErrForbidden: the plan does not include the feature (HTTP 403): watermark, AI, API access.
	ErrForbidden = errors.New("fluximage: forbidden by plan")
	// ErrQuotaExceeded: compression or AI credits are used up for this period (HTTP 402).
	ErrQuotaExceeded = errors.New("fluximage: quota exceeded")
	// ErrTooLarge: a file is over 20 MB, or the request too large (HTTP 413).
	ErrTooLarge = errors.New("fluximage: too large")
	// ErrRateLimited: the server asked to slow down (HTTP 429); see Error.RetryAfter.
	ErrRateLimited = errors.New("fluximage: rate limited")
	// ErrBadRequest: the server rejected a field (HTTP 400).
	ErrBadRequest = errors.New("fluximage: bad request")
	// ErrServer: the server failed (HTTP 5xx), or could not process one image of a batch.
	ErrServer = errors.New("fluximage: server error")
	// ErrNetwork: the connection could not be made or broke.
	ErrNetwork = errors.New("fluximage: network error")
	// ErrTimeout: a connect, read or total time limit of the client was reached, or the
	// context's deadline passed (that error also matches context.DeadlineExceeded).
	ErrTimeout = errors.New("fluximage: timed out")
	// ErrTLS: the TLS handshake or certificate verification failed.
	ErrTLS = errors.New("fluximage: TLS error")
	// ErrProtocol: the server's answer did not follow the protocol (not JSON, no URL, ...).
	ErrProtocol = errors.New("fluximage: protocol error")
	// ErrExpired: a result's download URL expired or its file was deleted: compress again.
	ErrExpired = errors.New("fluximage: result expired")
	// ErrIO: a local file could not be read or written.
	ErrIO = errors.New("fluximage: I/O error")
	// ErrCanceled: the call was stopped because its context was cancelled or its deadline
	// passed. Such an error also matches ctx.Err() (context.Canceled or
	// context.DeadlineExceeded).
	ErrCanceled = errors.New("fluximage: canceled")
	// ErrPartial: a batch finished but some images failed; Compress returns the batch too.
	ErrPartial = errors.New("fluximage: some images failed")
	// ErrInternal: a bug in the library (a caught panic); please report it.
	ErrInternal = errors.New("fluximage: internal error")
	// ErrExists: a file is already at the output path and the WithExists policy (ExistsError
	// by default) forbids replacing it, or another result of the same batch wrote it.
	ErrExists = errors.New("fluximage: file exists")
	// ErrClosed: the Client or Batch was used after Close. It is returned as is, not as an
	// *Error, since no library call was made.
	ErrClosed = errors.New("fluximage: use of closed client or batch")
)

var sentinels = map[Status]error{
	StatusInvalidArgument: ErrInvalidArgument,
	StatusUnauthorized:    ErrUnauthorized,
	StatusForbidden:       ErrForbidden,
	StatusQuotaExceeded:   ErrQuotaExceeded,
	StatusTooLarge:        ErrTooLarge,
	StatusRateLimited:     ErrRateLimited,
	StatusBadRequest:      ErrBadRequest,
	StatusServer:          ErrServer,
	StatusNetwork:         ErrNetwork,
	StatusTimeout:         ErrTimeout,
	StatusTLS:             ErrTLS,
	StatusProtocol:        ErrProtocol,
	StatusExpired:         ErrExpired,
	StatusIO:              ErrIO,
	StatusCanceled:        ErrCanceled,
	StatusPartial:         ErrPartial,
	StatusInternal:        ErrInternal,
	StatusExists:          ErrExists,
}

// Error is a failure reported by the library. Use errors.Is with the Err* sentinels to test
// its kind, and errors.As to read its details:
//
//	var fe *fluximage.Error
//	if errors.As(err, &fe) && fe.RetryAfter > 0 { time.Sleep(fe.RetryAfter) }
//
// The message never contains the API key.
type Error struct {
	// Op is the operation that failed: "compress", "save", "usage", ...
	Op string
	// Setting names the option that was refused ("WithBaseURL", "WithQuality", ...), or "".
	Setting string
	// Status is the library's status code.
	Status Status
	// HTTPStatus is the server's HTTP status, or 0 when no server answered.
	HTTPStatus int
	// RetryAfter is how long the server asked to wait (Retry-After), or 0 when it did not say.
	RetryAfter time.Duration
	// Message is the library's English explanation.
	Message string

	ctxErr error // the context's error, for a cancelled call
}

// Error returns "fluximage: <op>: <message>".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Status.String()
	}
	where := e.Op
	if e.Setting != "" {
		where += ": " + e.Setting
	}
	if where == "" {
		return "fluximage: " + msg
	}
	return fmt.Sprintf("fluximage: %s: %s", where, msg)
}

// Unwrap gives the sentinel matching e.Status and, for a call stopped by its context, the
// context's error (and ErrTimeout when that was a deadline), so that errors.Is works with all
// of them.
func (e *Error) Unwrap() []error {
	var errs []error
	if s, ok := sentinels[e.Status]; ok {
		errs = append(errs, s)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
		if errors.Is(e.ctxErr, context.DeadlineExceeded) {
			errs = append(errs, ErrTimeout)
		}
	}
	return errs
}

// canceledError is the error of a call whose context was done before it started.
func canceledError(op string, ctx context.Context) error {
	return &Error{Op: op, Status: StatusCanceled, Message: "the context was done before the call: " + ctx.Err().Error(), ctxErr: ctx.Err()}
}
