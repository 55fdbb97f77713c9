package fluximage_test

// Shared helpers of the tests: clients for the shared emulator, bounded contexts, error checks.

import (
	"context"
	"errors"
	"strings"
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
