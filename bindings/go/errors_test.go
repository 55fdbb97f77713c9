package fluximage_test

// Errors from real server answers, retries, concurrency, proxies.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// ----- every sentinel from a real server answer ---------------------------------------------

func TestErrorsFromServer(t *testing.T) {
	ctx := testCtx(t)
	img := []fluximage.Input{fluximage.Bytes("e.png", pngBytes(t, 16, 16, 1))}

	t.Run("unauthorized", func(t *testing.T) {
		c := newClient(t, unknownKey)
		_, err := c.Usage(ctx)
		wantErr(t, err, fluximage.ErrUnauthorized, 401)
		if strings.Contains(err.Error(), unknownKey) {
			t.Errorf("the error shows the key: %v", err)
		}
		_, err = newClient(t, rolledKey).Compress(ctx, img)
		wantErr(t, err, fluximage.ErrUnauthorized, 401)
	})
	t.Run("forbidden", func(t *testing.T) {
		c := newClient(t, freeKey)
		mark := writeFile(t, t.TempDir(), "mark.png", redPNG(t))
		_, err := c.Compress(ctx, img, fluximage.WithWatermark(mark, 20, 100, fluximage.BottomRight))
		wantErr(t, err, fluximage.ErrForbidden, 403)
		_, err = c.Compress(ctx, img, fluximage.WithAltText())
		wantErr(t, err, fluximage.ErrForbidden, 403)
	})
	t.Run("quota exceeded", func(t *testing.T) {
		c := newClient(t, exhaustedKey)
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrQuotaExceeded, 402)
		u, err := c.Usage(ctx)
		if err != nil || u.CanCompress {
			t.Errorf("usage of an exhausted key: %+v, %v", u, err)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "429", "count": 1, "path": "usage", "retry_after": 7})
		_, err := newClient(t, agencyKey, fluximage.WithRetries(0)).Usage(ctx)
		fe := wantErr(t, err, fluximage.ErrRateLimited, 429)
		if fe.RetryAfter != 7*time.Second {
			t.Errorf("RetryAfter = %v, want 7s", fe.RetryAfter)
		}
	})
	t.Run("bad request", func(t *testing.T) {
		notPNG := writeFile(t, t.TempDir(), "mark.png", jpegBytes(t, 8, 8, 1))
		_, err := newClient(t, proKey).Compress(ctx, img, fluximage.WithWatermark(notPNG, 20, 100, fluximage.Center))
		wantErr(t, err, fluximage.ErrBadRequest, 400)
	})
	t.Run("too large", func(t *testing.T) {
		// A sparse file one byte over the limit: refused before anything is uploaded.
		p := filepath.Join(t.TempDir(), "huge.png")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(fluximage.MaxFileBytes + 1)
		f.Close()
		before := emu.stats(t).Requests.Compress
		c := newClient(t, agencyKey)
		_, err = c.Compress(ctx, []fluximage.Input{fluximage.File(p)})
		wantErr(t, err, fluximage.ErrTooLarge, 0)
		// With a good image beside it, only its own result fails.
		b, err := c.Compress(ctx, append([]fluximage.Input{fluximage.File(p)}, img...))
		wantErr(t, err, fluximage.ErrPartial, -1)
		wantErr(t, b.Results()[0].Err, fluximage.ErrTooLarge, 0)
		if !b.Results()[1].OK() {
			t.Errorf("the good image failed: %v", b.Results()[1].Err)
		}
		if got := emu.stats(t).Requests.Compress - before; got != 1 {
			t.Errorf("%d compress requests, want 1 (the huge file is never sent)", got)
		}
	})
	t.Run("server", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "500-html", "count": 1, "path": "compress"})
		c := newClient(t, agencyKey, fluximage.WithRetries(0))
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrServer, 500)
		emu.fault(t, map[string]any{"mode": "502", "count": 1, "path": "usage"})
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrServer, 502)
	})
	t.Run("network", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "reset-early", "count": 1, "path": "usage"})
		_, err := newClient(t, agencyKey, fluximage.WithRetries(0)).Usage(ctx)
		wantErr(t, err, fluximage.ErrNetwork, 0)

		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String()
		l.Close()
		c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(closed), fluximage.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrNetwork, 0)
	})
	t.Run("timeout", func(t *testing.T) {
		emu.fault(t, map[string]any{"mode": "stall", "count": 1, "path": "usage", "delay_ms": 5000})
		c := newClient(t, agencyKey, fluximage.WithRetries(0), fluximage.WithTimeout(500*time.Millisecond))
		start := time.Now()
		_, err := c.Usage(ctx)
		wantErr(t, err, fluximage.ErrTimeout, 0)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a 500 ms time limit took %v", d)
		}
	})
	t.Run("protocol", func(t *testing.T) {
		c := newClient(t, agencyKey, fluximage.WithRetries(0))
		emu.fault(t, map[string]any{"mode": "truncated-json", "count": 1, "path": "compress"})
		_, err := c.Compress(ctx, img)
		wantErr(t, err, fluximage.ErrProtocol, -1)
		emu.fault(t, map[string]any{"mode": "wrong-content-type", "count": 1, "path": "usage"})
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrProtocol, -1)
	})
	t.Run("expired", func(t *testing.T) {
		c := newClient(t, agencyKey)
		b, err := c.Compress(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		emu.post(t, "/__control/delete-results", nil)
		dst := filepath.Join(t.TempDir(), "gone.webp")
		wantErr(t, errOf(b.Results()[0].Save(ctx, dst)), fluximage.ErrExpired, -1)
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("an expired download left a file (%v)", err)
		}
	})
	t.Run("io", func(t *testing.T) {
		_, err := newClient(t, agencyKey).Compress(ctx, []fluximage.Input{fluximage.File(filepath.Join(t.TempDir(), "missing.png"))})
		wantErr(t, err, fluximage.ErrIO, 0)
	})
	t.Run("tls", func(t *testing.T) {
		tlsEmu, err := startEmulator("--tls", "--tls-dir", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer tlsEmu.stop()
		if !strings.HasPrefix(tlsEmu.BaseURL, "https://") || tlsEmu.CAFile == "" {
			t.Fatalf("TLS emulator: %+v", tlsEmu)
		}
		c, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(tlsEmu.BaseURL), fluximage.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Usage(ctx)
		wantErr(t, err, fluximage.ErrTLS, 0)

		// Trusting the emulator's CA makes the same call work, downloads included.
		c2, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL(tlsEmu.BaseURL), fluximage.WithCAFile(tlsEmu.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		b, err := c2.Compress(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.Results()[0].URL, "https://") {
			t.Errorf("download URL %q", b.Results()[0].URL)
		}
		if data, err := b.Results()[0].Fetch(ctx); err != nil || sniff(data) != "webp" {
			t.Fatalf("download over TLS: %v", err)
		}
	})
}

func TestRetriesRecoverFromTransientFailures(t *testing.T) {
	ctx := testCtx(t)
	emu.fault(t, map[string]any{"mode": "503", "count": 2, "path": "usage"})
	if _, err := newClient(t, agencyKey, fluximage.WithRetries(2)).Usage(ctx); err != nil {
		t.Fatalf("two 503s with 2 retries: %v", err)
	}
	emu.fault(t, map[string]any{"mode": "429", "count": 1, "path": "compress", "retry_after": 1})
	start := time.Now()
	b, err := newClient(t, agencyKey, fluximage.WithRetries(1)).Compress(ctx, []fluximage.Input{fluximage.Bytes("r.png", pngBytes(t, 8, 8, 1))})
	if err != nil || !b.Results()[0].OK() {
		t.Fatalf("a 429 with 1 retry: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 was not honoured (retried after %v)", d)
	}
}

func TestConcurrencySendsRequestsInParallel(t *testing.T) {
	ctx := testCtx(t)
	inputs := make([]fluximage.Input, 40) // two requests of 20
	for i := range inputs {
		inputs[i] = fluximage.Bytes(fmt.Sprintf("c%02d.png", i), pngBytes(t, 8, 8, uint32(i)))
	}
	run := func(n int) time.Duration {
		emu.fault(t, map[string]any{"mode": "stall", "count": 2, "path": "compress", "delay_ms": 1500})
		start := time.Now()
		if _, err := newClient(t, agencyKey, fluximage.WithConcurrency(n)).Compress(ctx, inputs); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	if d := run(1); d < 3*time.Second {
		t.Errorf("one request at a time: two 1.5 s requests took %v", d)
	}
	if d := run(2); d >= 2800*time.Millisecond {
		t.Errorf("two requests at a time: two 1.5 s requests took %v", d)
	}
}

func TestRetryAfterUpload(t *testing.T) {
	ctx := testCtx(t)
	img := []fluximage.Input{fluximage.Bytes("u.png", pngBytes(t, 8, 8, 1))}
	// "reset": the server reads and processes the upload, then drops the connection.
	emu.fault(t, map[string]any{"mode": "reset", "count": 1, "path": "compress"})
	before := emu.stats(t).Requests.Compress
	_, err := newClient(t, agencyKey, fluximage.WithRetries(2)).Compress(ctx, img)
	wantErr(t, err, fluximage.ErrNetwork, 0)
	if n := emu.stats(t).Requests.Compress - before; n != 1 {
		t.Errorf("a compress that may have been processed was sent %d times, want 1", n)
	}
	emu.fault(t, map[string]any{"mode": "reset", "count": 1, "path": "compress"})
	before = emu.stats(t).Requests.Compress
	b, err := newClient(t, agencyKey, fluximage.WithRetries(2), fluximage.WithRetryAfterUpload()).Compress(ctx, img)
	if err != nil || !b.Results()[0].OK() {
		t.Fatalf("with WithRetryAfterUpload: %v", err)
	}
	if n := emu.stats(t).Requests.Compress - before; n != 2 {
		t.Errorf("sent %d times, want 2", n)
	}
}

func TestProxy(t *testing.T) {
	var seen atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.Method == http.MethodConnect {
			up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
			rw.Flush()
			go func() { io.Copy(up, rw); up.Close() }()
			io.Copy(conn, up)
			conn.Close()
			return
		}
		// A plain forward proxy: the request line holds the absolute URL.
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	// A remote API is reached through the proxy (which cannot reach the made-up host).
	remote, err := fluximage.NewClient(agencyKey, fluximage.WithBaseURL("https://fluximage.invalid"),
		fluximage.WithProxy(proxy.URL), fluximage.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if _, err := remote.Usage(testCtx(t)); err == nil {
		t.Fatal("a made-up host answered")
	}
	if seen.Load() == 0 {
		t.Fatal("the remote request did not go through the proxy")
	}
	// A loopback API never is, so the key never crosses a proxy in clear.
	before := seen.Load()
	c := newClient(t, agencyKey, fluximage.WithProxy(proxy.URL))
	u, err := c.Usage(testCtx(t))
	if err != nil || u.Plan != "agency" {
		t.Fatalf("direct to the loopback API: %+v, %v", u, err)
	}
	if seen.Load() != before {
		t.Fatal("a loopback request went through the proxy")
	}
}
