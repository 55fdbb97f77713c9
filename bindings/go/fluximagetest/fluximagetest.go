// Package fluximagetest runs a local Fluximage emulator for the tests of code that uses package
// fluximage, in the spirit of net/http/httptest: a real HTTP server on loopback that encodes
// real images, charges credits per plan and fails on demand, so that tests spend nothing and
// mock nothing.
//
//	func TestUploads(t *testing.T) {
//		emu := fluximagetest.Start(t)   // stopped by t.Cleanup
//		client := emu.Client(t)         // the Agency plan's key, closed by t.Cleanup
//		emu.Fault(t, fluximagetest.Fault{Mode: fluximagetest.Fault503})
//		... run your code with client ...
//		if got := emu.Stats(t).Charged; got != 2 { ... }
//	}
//
// The emulator binary, fluximage-emulator, is looked for in this order (see Find): the
// FLUXIMAGE_EMULATOR environment variable (a path; "skip" makes Start skip the test); next to
// the loaded libfluximage (its folder, then ../bin beside it, where `make install` puts both);
// then PATH (`cargo install --path emulator` from a libfluximage checkout).
package fluximagetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

// EnvVar names the environment variable that gives the emulator binary's path, or "skip".
const EnvVar = "FLUXIMAGE_EMULATOR"

const binaryName = "fluximage-emulator"

// Fault modes of the emulator (its README describes each).
const (
	Fault429              = "429"                // 429 with Retry-After
	Fault502              = "502"                // 502 (RetryAfter if set)
	Fault503              = "503"                // 503 (RetryAfter if set)
	Fault504              = "504"                // 504 (RetryAfter if set)
	Fault500HTML          = "500-html"           // 500 with an HTML page
	FaultReset            = "reset"              // processed and charged, then the connection drops
	FaultResetEarly       = "reset-early"        // the connection drops before the body is read
	FaultStall            = "stall"              // the answer is held Delay; charged only if the client is still there
	FaultTrickle          = "trickle"            // the body a few bytes at a time, taking more than Delay
	FaultTruncatedJSON    = "truncated-json"     // a 200 whose JSON is cut short
	FaultHugeJSON         = "huge-json"          // a 200 with 200 MiB of JSON
	FaultWrongContentType = "wrong-content-type" // a 200 with an HTML page
	FaultRedirectForeign  = "redirect-foreign"   // a 307 to another origin
	FaultRedirectHTTP     = "redirect-http"      // a 307 to a plain-http URL
	FaultRandom           = "random"             // one of 429, 503, 500-html, reset-early with probability Rate
)

// Fault makes the next Count requests to Path fail as Mode says.
type Fault struct {
	Mode       string        // one of the Fault* constants
	Count      int           // how many requests (0 means 1)
	Path       string        // "compress" (default), "usage", "download" or "any" (compress or usage)
	Delay      time.Duration // for FaultStall and FaultTrickle (default 5 s)
	RetryAfter int           // seconds of Retry-After for 429, 502, 503, 504 (0: the default)
	Rate       float64       // for FaultRandom: the probability of a fault per request
	Seed       uint64        // for FaultRandom: the seed of its generator
}

// Stats is what the emulator counted since it started or was last Reset.
type Stats struct {
	Charged       int            // compression credits charged, over every key
	AICharged     int            // AI credits charged, over every key
	Requests      map[string]int // by kind: "compress", "usage", "download", "foreign"
	Connections   map[string]int // TCP connections accepted, by origin: "api", "download", "foreign"
	TokenLeaks    int            // Authorization headers that reached the download or foreign origin (a correct client sends none)
	Abandoned     int            // stalled answers whose client had gone (never charged)
	FaultsApplied int            // faults served
	Raw           map[string]any // the whole GET /__control/stats answer
}

// Option configures an emulator started by Start or New.
type Option func(*config)

type config struct {
	tls    bool
	keys   map[string]string
	args   []string
	binary string
}

// WithTLS serves HTTPS with a CA made at start-up (Emulator.CAFile); Client trusts it.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithKey gives plan ("free", "starter", "pro", "agency") a fixed key, "flx_live_" and 40 hex
// digits, instead of its built-in one. It needs an emulator that knows --key.
func WithKey(plan, key string) Option {
	return func(c *config) {
		if c.keys == nil {
			c.keys = map[string]string{}
		}
		c.keys[plan] = key
	}
}

// WithArgs passes more command-line flags to the emulator, e.g. "--rate", "5" or
// "--encode", "none" (see fluximage-emulator --help).
func WithArgs(args ...string) Option { return func(c *config) { c.args = append(c.args, args...) } }

// WithBinary runs this emulator binary instead of the one Find returns.
func WithBinary(path string) Option { return func(c *config) { c.binary = path } }

// Emulator is a running fluximage-emulator process.
type Emulator struct {
	URL         string // the API origin, e.g. "http://127.0.0.1:41234": pass it to fluximage.WithBaseURL
	DownloadURL string // the origin of signed download URLs
	ForeignURL  string // an origin that counts the Authorization headers it receives
	CAFile      string // with WithTLS, the PEM file of the emulator's CA; else ""
	Binary      string // the binary that runs

	keys   map[string]string
	cmd    *exec.Cmd
	waited chan struct{}
	dir    string
	http   *http.Client
	once   sync.Once
}

// Start starts an emulator for the test and stops it when the test ends (t.Cleanup). Without
// a binary it fails the test saying how to install one, or skips it when FLUXIMAGE_EMULATOR
// is "skip".
func Start(t testing.TB, opts ...Option) *Emulator {
	t.Helper()
	if os.Getenv(EnvVar) == "skip" {
		t.Skipf("%s=skip: tests that need the fluximage emulator are skipped", EnvVar)
	}
	e, err := New(opts...)
	if err != nil {
		t.Fatalf("fluximagetest: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// New starts an emulator and waits (at most 30 s) until it listens; Close stops it. Use it
// where there is no testing.TB, e.g. in TestMain to share one emulator between tests (call
// Reset in each). FLUXIMAGE_EMULATOR=skip is not special here.
func New(opts ...Option) (*Emulator, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	bin := c.binary
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	keys, err := builtinKeys(bin)
	if err != nil {
		return nil, err
	}
	for plan, key := range c.keys {
		keys[plan] = key
	}
	dir, err := os.MkdirTemp("", "fluximage-emulator-")
	if err != nil {
		return nil, err
	}
	e := &Emulator{Binary: bin, keys: keys, dir: dir, waited: make(chan struct{})}
	if err := e.start(c); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

func builtinKeys(bin string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--print-keys").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --print-keys: %v", bin, err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			keys[f[0]] = f[1]
		}
	}
	return keys, nil
}

type readyInfo struct {
	API       string  `json:"api"`
	Downloads string  `json:"downloads"`
	Foreign   string  `json:"foreign"`
	CAFile    *string `json:"ca_file"`
}

func (e *Emulator) start(c config) error {
	readyFile := filepath.Join(e.dir, "ready.json")
	args := []string{"--control", "--ready-file", readyFile}
	args = append(args, c.args...)
	if c.tls {
		args = append(args, "--tls", "--tls-dir", e.dir)
	}
	for plan, key := range c.keys {
		args = append(args, "--key", plan+"="+key)
	}
	e.cmd = exec.Command(e.Binary, args...)
	e.cmd.SysProcAttr = procAttr()
	var stderr bytes.Buffer
	e.cmd.Stderr = &lockedWriter{w: &stderr}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("cannot run %s: %v", e.Binary, err)
	}
	go func() { _ = e.cmd.Wait(); close(e.waited) }()
	failed := func(why string) error {
		msg := strings.TrimSpace(e.cmd.Stderr.(*lockedWriter).String())
		if msg != "" {
			return fmt.Errorf("the emulator did not start: %s; it said: %s", why, msg)
		}
		return fmt.Errorf("the emulator did not start: %s", why)
	}
	info, err := e.waitReadyFile(readyFile, failed)
	if err != nil {
		return err
	}
	e.URL, e.DownloadURL, e.ForeignURL = info.API, info.Downloads, info.Foreign
	e.http = &http.Client{Timeout: 10 * time.Second}
	if info.CAFile != nil && *info.CAFile != "" {
		e.CAFile = *info.CAFile
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		e.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	return nil
}

func (e *Emulator) waitReadyFile(path string, failed func(string) error) (readyInfo, error) {
	var info readyInfo
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// Written atomically (a rename), so it is whole once it exists.
		if b, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(b, &info); err != nil {
				return info, failed(fmt.Sprintf("unreadable ready file: %v", err))
			}
			return info, nil
		}
		select {
		case <-e.waited:
			return info, failed(fmt.Sprintf("it exited (%v)", e.cmd.ProcessState))
		case <-time.After(10 * time.Millisecond):
		}
	}
	return info, failed("not listening after 30 s")
}

// Close stops the emulator (SIGTERM, then SIGKILL after 10 s) and removes its files. It may be
// called more than once.
func (e *Emulator) Close() error {
	e.once.Do(func() {
		if e.cmd != nil && e.cmd.Process != nil {
			_ = e.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-e.waited:
			case <-time.After(10 * time.Second):
				_ = e.cmd.Process.Kill()
				<-e.waited
			}
		}
		if e.http != nil {
			e.http.CloseIdleConnections()
		}
		if e.dir != "" {
			_ = os.RemoveAll(e.dir)
		}
	})
	return nil
}

// Key returns the API key of plan: "free", "starter", "pro" or "agency" ("" for another plan).
func (e *Emulator) Key(plan string) string { return e.keys[plan] }

// Client returns a fluximage.Client on the emulator with the Agency plan's key (trusting the
// emulator's CA with TLS), closed when the test ends. opts come after those and may override
// them, e.g. fluximage.WithRetries(0).
func (e *Emulator) Client(t testing.TB, opts ...fluximage.Option) *fluximage.Client {
	t.Helper()
	return e.ClientFor(t, "agency", opts...)
}

// ClientFor is Client with the key of another plan.
func (e *Emulator) ClientFor(t testing.TB, plan string, opts ...fluximage.Option) *fluximage.Client {
	t.Helper()
	key := e.Key(plan)
	if key == "" {
		t.Fatalf("fluximagetest: no key for plan %q", plan)
	}
	all := []fluximage.Option{fluximage.WithBaseURL(e.URL)}
	if e.CAFile != "" {
		all = append(all, fluximage.WithCAFile(e.CAFile))
	}
	c, err := fluximage.NewClient(key, append(all, opts...)...)
	if err != nil {
		t.Fatalf("fluximagetest: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Fault queues f for the next matching requests. Queued faults stay until used or Reset.
func (e *Emulator) Fault(t testing.TB, f Fault) {
	t.Helper()
	body := map[string]any{"mode": f.Mode, "count": max(f.Count, 1), "path": "compress"}
	if f.Path != "" {
		body["path"] = f.Path
	}
	if f.Delay > 0 {
		body["delay_ms"] = f.Delay.Milliseconds()
	}
	if f.RetryAfter > 0 {
		body["retry_after"] = f.RetryAfter
	}
	if f.Mode == FaultRandom {
		body["rate"], body["seed"] = f.Rate, f.Seed
	}
	if err := e.control(http.MethodPost, "fault", body, nil); err != nil {
		t.Fatalf("fluximagetest: %v", err)
	}
}

// Stats returns what the emulator counted since it started or was last Reset.
func (e *Emulator) Stats(t testing.TB) Stats {
	t.Helper()
	var raw map[string]any
	if err := e.control(http.MethodGet, "stats", nil, &raw); err != nil {
		t.Fatalf("fluximagetest: %v", err)
	}
	return statsFrom(raw)
}

// Reset clears queued faults, the statistics and rate limits, and restores every account's
// credits (a new billing period).
func (e *Emulator) Reset(t testing.TB) {
	t.Helper()
	if err := e.control(http.MethodPost, "reset", map[string]any{}, nil); err != nil {
		t.Fatalf("fluximagetest: %v", err)
	}
}

func (e *Emulator) control(method, name string, body any, out any) error {
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.URL+"/__control/"+name, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("emulator control %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("emulator control %s: %v", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator control %s: %s: %s", name, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func statsFrom(raw map[string]any) Stats {
	num := func(v any) int {
		f, _ := v.(float64)
		return int(f)
	}
	counts := func(v any) map[string]int {
		m := map[string]int{}
		obj, _ := v.(map[string]any)
		for k, x := range obj {
			m[k] = num(x)
		}
		return m
	}
	s := Stats{
		Requests:      counts(raw["requests"]),
		Connections:   counts(raw["connections"]),
		Abandoned:     num(raw["abandoned"]),
		FaultsApplied: num(raw["faults_applied"]),
		Raw:           raw,
	}
	credits, _ := raw["credits"].(map[string]any)
	for _, c := range credits {
		per := counts(c)
		s.Charged += per["compress"]
		s.AICharged += per["ai"]
	}
	for _, n := range counts(raw["authorization_seen"]) {
		s.TokenLeaks += n
	}
	return s
}

// Find returns the path of the emulator binary: FLUXIMAGE_EMULATOR if set (other than
// "skip"); else beside the loaded libfluximage (its folder, then ../bin); else PATH. The
// error lists where it looked and how to install the emulator.
func Find() (string, error) {
	env := os.Getenv(EnvVar)
	if env != "" && env != "skip" {
		if st, err := os.Stat(env); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s: no executable file there", EnvVar, env)
		}
		return env, nil
	}
	tried := []string{EnvVar + ": not set"}
	if env == "skip" {
		tried[0] = EnvVar + ": skip"
	}
	if lib := loadedLibrary(); lib != "" {
		dir := filepath.Dir(lib)
		for _, p := range []string{filepath.Join(dir, binaryName), filepath.Join(dir, "..", "bin", binaryName)} {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return filepath.Clean(p), nil
			}
			tried = append(tried, filepath.Clean(p)+" (not there)")
		}
	} else {
		tried = append(tried, "beside libfluximage (not loaded from a file: linked statically?)")
	}
	if p, err := exec.LookPath(binaryName); err == nil {
		return p, nil
	}
	tried = append(tried, binaryName+" on PATH (not found)")
	return "", errors.New("cannot find the fluximage-emulator binary. Looked in:\n  - " +
		strings.Join(tried, "\n  - ") +
		"\nInstall it with `cargo install --path emulator` (from a libfluximage checkout) or `make install`, " +
		"or set " + EnvVar + " to its path (" + EnvVar + "=skip skips the tests that need it)")
}

// loadedLibrary returns the path of the libfluximage shared library mapped into this process,
// or "" (static linking, or no /proc).
var loadedLibrary = func() string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 {
			p := fields[len(fields)-1]
			if strings.HasPrefix(filepath.Base(p), "libfluximage.so") {
				return p
			}
		}
	}
	return ""
}

// lockedWriter collects the emulator's stderr; the process writes while Start may read.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 { // enough to say why it failed; bounded for a long run
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
