package fluximagetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
	"github.com/fluximage/libfluximage/bindings/go/fluximagetest"
)

const agencyKey = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3" // the emulator's built-in key

func TestStartServesClientsAndCountsWhatTheyDid(t *testing.T) {
	emu := fluximagetest.Start(t)
	if !strings.HasPrefix(emu.URL, "http://127.0.0.1:") || emu.CAFile != "" {
		t.Fatalf("URL %q, CAFile %q", emu.URL, emu.CAFile)
	}
	for _, plan := range []string{"free", "starter", "pro", "agency"} {
		if !strings.HasPrefix(emu.Key(plan), "flx_live_") {
			t.Errorf("no key for %s", plan)
		}
	}
	if emu.Key("agency") != agencyKey || emu.Key("gold") != "" {
		t.Errorf("keys: agency %q, gold %q", emu.Key("agency"), emu.Key("gold"))
	}
	ctx := context.Background()
	client := emu.Client(t, fluximage.WithRetries(0))
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"))
	batch, err := client.Compress(ctx, []fluximage.Input{fluximage.File(filepath.Join(dir, "a.png"))})
	if err != nil {
		t.Fatal(err)
	}
	if r := batch.Results()[0]; !strings.HasPrefix(r.URL, emu.DownloadURL) {
		t.Errorf("result URL %q is not on %s", r.URL, emu.DownloadURL)
	} else if _, err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	emu.Fault(t, fluximagetest.Fault{Mode: fluximagetest.Fault503, Path: "usage"})
	if _, err := client.Usage(ctx); !errors.Is(err, fluximage.ErrServer) {
		t.Errorf("usage after a 503 fault: %v", err)
	}
	s := emu.Stats(t)
	if s.Charged != 1 || s.AICharged != 0 || s.Requests["compress"] != 1 || s.Requests["usage"] != 1 ||
		s.Requests["download"] != 1 || s.TokenLeaks != 0 || s.FaultsApplied != 1 || s.Connections["api"] < 1 {
		t.Errorf("stats %+v", s)
	}
	emu.Reset(t)
	if s := emu.Stats(t); s.Charged != 0 || s.Requests["compress"] != 0 {
		t.Errorf("stats after Reset: %+v", s)
	}
	free := emu.ClientFor(t, "free")
	if u, err := free.Usage(ctx); err != nil || u.Plan != "free" || u.CompressionsLimit != 20 {
		t.Errorf("free plan usage %+v, %v", u, err)
	}
}

func TestTLSGivesACAFileTheClientTrusts(t *testing.T) {
	emu := fluximagetest.Start(t, fluximagetest.WithTLS())
	if !strings.HasPrefix(emu.URL, "https://") {
		t.Fatalf("URL %q", emu.URL)
	}
	pem, err := os.ReadFile(emu.CAFile)
	if err != nil || !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("CA file %q: %v", emu.CAFile, err)
	}
	ctx := context.Background()
	if u, err := emu.Client(t).Usage(ctx); err != nil || u.Plan != "agency" {
		t.Fatalf("usage over TLS: %+v, %v", u, err)
	}
	untrusting, err := fluximage.NewClient(emu.Key("agency"), fluximage.WithBaseURL(emu.URL), fluximage.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	if _, err := untrusting.Usage(ctx); !errors.Is(err, fluximage.ErrTLS) {
		t.Errorf("without the CA: %v, want ErrTLS", err)
	}
	if s := emu.Stats(t); s.Requests["usage"] != 1 {
		t.Errorf("stats over TLS: %+v", s)
	}
}

func TestWithKeyGivesAPlanAFixedKey(t *testing.T) {
	key := "flx_live_" + strings.Repeat("cd", 20)
	emu := fluximagetest.Start(t, fluximagetest.WithKey("starter", key))
	if emu.Key("starter") != key {
		t.Fatalf("Key(starter) = %q", emu.Key("starter"))
	}
	client, err := fluximage.NewClient(key, fluximage.WithBaseURL(emu.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if u, err := client.Usage(context.Background()); err != nil || u.Plan != "starter" {
		t.Errorf("usage with the fixed key: %+v, %v", u, err)
	}
}

// A client that hangs up on a stalled answer is not charged, and Stats says so. (Plain
// net/http here, which closes its connection when its context ends.)
func TestStatsCountAnAbandonedStall(t *testing.T) {
	emu := fluximagetest.Start(t)
	emu.Fault(t, fluximagetest.Fault{Mode: fluximagetest.FaultStall, Delay: 300 * time.Millisecond})
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	part, _ := form.CreateFormFile("file", "a.png")
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	_ = png.Encode(part, img)
	_ = form.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, emu.URL+"/api/compress", &body)
	req.Header.Set("Authorization", "Bearer "+emu.Key("agency"))
	req.Header.Set("Content-Type", form.FormDataContentType())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the stalled request was answered within 100 ms")
	}
	deadline := time.Now().Add(5 * time.Second)
	s := emu.Stats(t)
	for s.Abandoned == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		s = emu.Stats(t)
	}
	if s.Abandoned != 1 || s.Charged != 0 || s.Requests["compress"] != 1 {
		t.Errorf("stats after a hung-up stall: %+v", s)
	}
}

func TestCloseStopsTheProcessAndRemovesItsFiles(t *testing.T) {
	emu, err := fluximagetest.New(fluximagetest.WithTLS())
	if err != nil {
		t.Fatal(err)
	}
	pid := emulatorPID(t, emu.URL)
	if !alive(pid) {
		t.Fatalf("emulator %d is not running", pid)
	}
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	_ = emu.Close() // twice is harmless
	if alive(pid) {
		t.Errorf("emulator %d still runs after Close", pid)
	}
	if _, err := os.Stat(emu.CAFile); !os.IsNotExist(err) {
		t.Errorf("CA file left behind: %v", err)
	}
}

func TestAnEmulatorThatCannotStartSaysWhy(t *testing.T) {
	_, err := fluximagetest.New(fluximagetest.WithArgs("--no-such-flag"))
	if err == nil || !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "unknown argument: --no-such-flag") {
		t.Errorf("got %v", err)
	}
}

// The child modes below run in a copy of this test binary started by the tests after them.
const childEnv = "FLUXIMAGETEST_CHILD"

func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		t.Skip("only runs as a child of the tests below")
	case "start":
		fluximagetest.Start(t)
	case "sleep":
		emu := fluximagetest.Start(t)
		fmt.Printf("pid %d\n", emulatorPID(t, emu.URL))
		time.Sleep(60 * time.Second)
	}
}

func child(t *testing.T, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	return cmd
}

func TestStartSkipsOnlyWhenToldAndOtherwiseFailsSayingHowToInstall(t *testing.T) {
	out, err := child(t, "start", "FLUXIMAGE_EMULATOR=skip").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- SKIP: TestChild") || !strings.Contains(string(out), "FLUXIMAGE_EMULATOR=skip") {
		t.Errorf("with FLUXIMAGE_EMULATOR=skip: %v\n%s", err, out)
	}
	out, err = child(t, "start", "FLUXIMAGE_EMULATOR=/nowhere/fluximage-emulator").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL: TestChild") ||
		!strings.Contains(string(out), "FLUXIMAGE_EMULATOR=/nowhere/fluximage-emulator: no executable file there") {
		t.Errorf("with a wrong FLUXIMAGE_EMULATOR: %v\n%s", err, out)
	}
}

func TestNoEmulatorOutlivesItsTestBinary(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := child(t, "sleep")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			pid := readPID(t, out)
			if !alive(pid) {
				t.Fatalf("emulator %d is not running", pid)
			}
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if alive(pid) {
				t.Errorf("the emulator %d outlived its test binary after %v", pid, sig)
			}
		})
	}
}

func readPID(t *testing.T, out interface{ Read([]byte) (int, error) }) int {
	t.Helper()
	var buf []byte
	b := make([]byte, 256)
	re := regexp.MustCompile(`pid (\d+)\n`)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n, err := out.Read(b)
		buf = append(buf, b[:n]...)
		if m := re.FindSubmatch(buf); m != nil {
			pid, _ := strconv.Atoi(string(m[1]))
			return pid
		}
		if err != nil {
			break
		}
	}
	t.Fatalf("the child printed no pid: %s", buf)
	return 0
}

// emulatorPID finds the process listening on url's port among this process's children.
func emulatorPID(t testing.TB, url string) int {
	t.Helper()
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(me) {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "fluximage-emulator") {
				return pid
			}
		}
	}
	t.Fatalf("no emulator child process for %s", url)
	return 0
}

// alive reports whether pid runs (a zombie waiting for its reaper counts as gone).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// ExampleNew shares one emulator between tests, e.g. from TestMain.
func ExampleNew() {
	emu, err := fluximagetest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()
	client, err := fluximage.NewClient(emu.Key("free"), fluximage.WithBaseURL(emu.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	usage, err := client.Usage(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(usage.Plan, usage.CompressionsLimit)
	// Output: free 20
}

// The README shows example_test.go whole; this keeps the two the same, so that the README's
// code is the code `go test` compiles and runs.
func TestTheReadmeShowsTheExampleTest(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "## Testing your integration\n"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal(`README.md has no "## Testing your integration" section`)
	}
	if !strings.Contains(section, "```go\n"+string(example)+"```\n") {
		t.Error("README.md's Go block under \"Testing your integration\" differs from fluximagetest/example_test.go")
	}
}
