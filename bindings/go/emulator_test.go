package fluximage_test

// The emulator (target/release/fluximage-emulator, a real local Fluximage-compatible HTTP
// server) is started once by TestMain on free ports; tests that need other settings (TLS)
// start their own.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Built-in keys of the emulator, one per plan.
const (
	freeKey    = "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"
	starterKey = "flx_live_779cc5409832a78cdfe6728ad20b037afae98d3d"
	proKey     = "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a065"
	agencyKey  = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"
)

// Extra accounts given to the emulator with --keys (and --rolled), so that tests that count
// or exhaust credits do not disturb each other.
const (
	exhaustedKey = "flx_live_00000000000000000000000000000000000000e1" // free, 20 of 20 used
	usageKey     = "flx_live_00000000000000000000000000000000000000e2" // pro, for usage counts
	rolledKey    = "flx_live_00000000000000000000000000000000000000e3" // rolled: 401
	unknownKey   = "flx_live_0123456789abcdef0123456789abcdef01234567" // well formed, unknown
)

// emu is the emulator shared by the tests (started by TestMain, with --control).
var emu *emulator

type emulator struct {
	cmd      *exec.Cmd
	BaseURL  string
	Download string
	CAFile   string
	waited   chan struct{}
}

// emulatorPath finds the emulator binary: $FLUXIMAGE_EMULATOR, else the workspace's
// target/release build (this package lives in bindings/go).
func emulatorPath() (string, error) {
	if p := os.Getenv("FLUXIMAGE_EMULATOR"); p != "" {
		return p, nil
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "target", "release", "fluximage-emulator"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("emulator not found at %s (run `make emulator` at the top, or set FLUXIMAGE_EMULATOR): %v", p, err)
	}
	return p, nil
}

// startEmulator runs the emulator with args (plus --listen 127.0.0.1:0) and waits for its
// "listening on" line, at most 30 s.
func startEmulator(args ...string) (*emulator, error) {
	bin, err := emulatorPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = os.Stderr
	// An os.Pipe rather than StdoutPipe: Wait runs concurrently and must not close our end.
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return nil, err
	}
	e := &emulator{cmd: cmd, waited: make(chan struct{})}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-time.After(time.Second): // nobody is listening any more: drain
			}
		}
		close(lines)
		out.Close()
	}()
	go func() { _ = cmd.Wait(); close(e.waited) }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				e.stop()
				return nil, fmt.Errorf("emulator exited before it was ready")
			}
			switch {
			case strings.HasPrefix(l, "listening on "):
				e.BaseURL = strings.TrimPrefix(l, "listening on ")
			case strings.HasPrefix(l, "download on "):
				e.Download = strings.TrimPrefix(l, "download on ")
			case strings.HasPrefix(l, "ca file "):
				e.CAFile = strings.TrimPrefix(l, "ca file ")
			case strings.HasPrefix(l, "foreign on "):
				// The last line printed without TLS; with TLS the CA file line follows.
				if !containsArg(args, "--tls") {
					return e, nil
				}
			}
			if e.CAFile != "" {
				return e, nil
			}
		case <-deadline:
			e.stop()
			return nil, fmt.Errorf("emulator not ready after 30 s")
		}
	}
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and waits (at most 10 s, then SIGKILL).
func (e *emulator) stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.waited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.waited
	}
}

func (e *emulator) post(t testing.TB, path string, body any) {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	resp, err := http.Post(e.BaseURL+path, "application/json", r)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s: %s", path, resp.Status, b)
	}
}

// fault queues a fault for the next matching requests and clears all faults when the test
// ends, so that an unconsumed fault cannot leak into another test.
func (e *emulator) fault(t testing.TB, f map[string]any) {
	t.Helper()
	e.post(t, "/__control/fault", f)
	t.Cleanup(func() { e.post(t, "/__control/reset", nil) })
}

type emuStats struct {
	Requests struct {
		Compress int `json:"compress"`
		Usage    int `json:"usage"`
		Download int `json:"download"`
	} `json:"requests"`
	FaultsApplied int `json:"faults_applied"`
}

func (e *emulator) stats(t testing.TB) emuStats {
	t.Helper()
	resp, err := http.Get(e.BaseURL + "/__control/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s emuStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fluximage-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "keys.json")
	accounts := []map[string]any{
		{"key": exhaustedKey, "plan": "free", "compressor_used": 20},
		{"key": usageKey, "plan": "pro"},
		{"key": rolledKey, "plan": "agency"},
	}
	b, _ := json.Marshal(accounts)
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	emu, err = startEmulator("--control", "--keys", keys, "--rolled", rolledKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fluximage tests:", err)
		return 1
	}
	defer emu.stop()
	// The runnable examples read their key and server from the environment, as users would.
	os.Setenv("FLUXIMAGE_API_KEY", agencyKey)
	os.Setenv("FLUXIMAGE_BASE_URL", emu.BaseURL)
	os.Unsetenv("HTTPS_PROXY")
	os.Unsetenv("https_proxy")
	os.Unsetenv("ALL_PROXY")
	os.Unsetenv("all_proxy")
	return m.Run()
}

// ----- test images, generated in code ------------------------------------------------------

// testImage is a w×h picture with gradients and some noise (so that quality matters).
func testImage(w, h int, seed uint32) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	x := seed*2654435761 + 1
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			n := uint8(x % 48)
			img.Set(px, py, color.RGBA{uint8(px*255/max(w-1, 1)) ^ n, uint8(py*255/max(h-1, 1)) + n, uint8(seed*40) + n, 255})
		}
	}
	return img
}

func pngBytes(t testing.TB, w, h int, seed uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h, seed)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t testing.TB, w, h int, seed uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h, seed), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gifBytes(t testing.TB, w, h int, seed uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, testImage(w, h, seed), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sniff names the format of encoded image bytes from their signature.
func sniff(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && (string(b[8:12]) == "avif" || string(b[8:12]) == "avis"):
		return "avif"
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	}
	return "unknown"
}
