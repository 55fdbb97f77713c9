package fluximage

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
)

// Usage is the key's plan and credits, as reported by the server. Numbers are -1 when the
// server did not say.
type Usage struct {
	// Plan is "free", "starter", "pro" or "agency" (or whatever the server says; "" if none).
	Plan string
	// CompressionsUsed is the number of compressions this billing period.
	CompressionsUsed int64
	// CompressionsLimit is the number allowed per period (99999 stands for "unlimited").
	CompressionsLimit int64
	// AICreditsUsed is the number of AI credits used this month.
	AICreditsUsed int64
	// AICreditsMonthly is the number of AI credits included per month.
	AICreditsMonthly int64
	// AITopUpCredits is the number of purchased AI credits (they never expire).
	AITopUpCredits int64
	// AICreditsRemaining is monthly - used + top-up.
	AICreditsRemaining int64
	// CanCompress reports whether a compression would be accepted now (the authoritative
	// check; false when the server did not say).
	CanCompress bool
	// CanUseAI reports whether AI features may be used now.
	CanUseAI bool
	// JSON is the server's answer as received, with its own field names.
	JSON string
}

// Usage asks the server for the key's plan and credits (GET /api/usage). Only WithProgress is
// used among opts.
func (c *Client) Usage(ctx context.Context, opts ...CallOption) (Usage, error) {
	ptr, err := c.acquire()
	if err != nil {
		return Usage{}, err
	}
	defer c.mu.RUnlock()
	cl, err := startCall(ctx, "usage", callConfigOf(opts))
	if err != nil {
		return Usage{}, err
	}
	defer cl.finish()
	var h *C.flx_usage
	var cerr C.gofx_err
	st := C.gofx_usage(ptr, &cl.opts, &h, &cerr)
	runtime.KeepAlive(c)
	if st != C.FLX_OK {
		return Usage{}, cl.fail(&cerr)
	}
	defer C.flx_usage_free(h)
	num := func(f C.int) int64 { return int64(C.flx_usage_num(h, f)) }
	u := Usage{
		CompressionsUsed:   num(C.FLX_USAGE_COMPRESSIONS_USED),
		CompressionsLimit:  num(C.FLX_USAGE_COMPRESSIONS_LIMIT),
		AICreditsUsed:      num(C.FLX_USAGE_AI_CREDITS_USED),
		AICreditsMonthly:   num(C.FLX_USAGE_AI_CREDITS_MONTHLY),
		AITopUpCredits:     num(C.FLX_USAGE_AI_TOPUP_CREDITS),
		AICreditsRemaining: num(C.FLX_USAGE_AI_CREDITS_REMAINING),
		CanCompress:        num(C.FLX_USAGE_CAN_COMPRESS) == 1,
		CanUseAI:           num(C.FLX_USAGE_CAN_USE_AI) == 1,
	}
	if p := C.flx_usage_plan(h); p != nil {
		u.Plan = C.GoString(p)
	}
	if j := C.flx_usage_json(h); j != nil {
		u.JSON = C.GoString(j)
	}
	return u, nil
}
