package fluximage_test

// The client: version, key, settings.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

func TestVersion(t *testing.T) {
	v := fluximage.Version()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
	if v != fluximage.HeaderVersion {
		t.Fatalf("library %s, header %s: the package was built against another version", v, fluximage.HeaderVersion)
	}
	if fluximage.StatusRateLimited.String() != "rate limited" || fluximage.Status(999).String() != "unknown status" {
		t.Errorf("Status strings: %q, %q", fluximage.StatusRateLimited, fluximage.Status(999))
	}
}

func TestNewClientKeyFromEnvironment(t *testing.T) {
	t.Setenv("FLUXIMAGE_API_KEY", proKey)
	c := newClient(t, "")
	u, err := c.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if u.Plan != "pro" {
		t.Fatalf("plan %q, want pro (the key of FLUXIMAGE_API_KEY)", u.Plan)
	}

	// FLUXIMAGE_BASE_URL is the default address (TestMain sets it to the emulator).
	c2, err := fluximage.NewClient(starterKey)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if u, err := c2.Usage(testCtx(t)); err != nil || u.Plan != "starter" {
		t.Fatalf("with FLUXIMAGE_BASE_URL: %+v, %v", u, err)
	}

	os.Unsetenv("FLUXIMAGE_API_KEY") // restored by t.Setenv's cleanup
	_, err = fluximage.NewClient("", fluximage.WithBaseURL(emu.BaseURL))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
}

func TestNewClientRejectsMalformedKeyWithoutShowingIt(t *testing.T) {
	secret := "flx_live_" + strings.Repeat("ab", 19) + "zz" // 40 characters, not all hex
	_, err := fluximage.NewClient(secret, fluximage.WithBaseURL(emu.BaseURL))
	wantErr(t, err, fluximage.ErrInvalidArgument, 0)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the key: %v", err)
	}
}

func TestClientOptionsAreChecked(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "ca.pem", []byte("not a certificate\n"))
	cases := []struct {
		name     string
		opt      fluximage.Option
		sentinel error
	}{
		{"plain http to a remote host", fluximage.WithBaseURL("http://example.com"), fluximage.ErrInvalidArgument},
		{"not a URL", fluximage.WithBaseURL("::not a url::"), fluximage.ErrInvalidArgument},
		{"no concurrency", fluximage.WithConcurrency(0), fluximage.ErrInvalidArgument},
		{"too much concurrency", fluximage.WithConcurrency(17), fluximage.ErrInvalidArgument},
		{"negative retries", fluximage.WithRetries(-1), fluximage.ErrInvalidArgument},
		{"negative timeout", fluximage.WithTimeout(-time.Second), fluximage.ErrInvalidArgument},
		{"bad proxy", fluximage.WithProxy("::bad proxy::"), fluximage.ErrInvalidArgument},
		{"missing CA file", fluximage.WithCAFile(filepath.Join(dir, "missing.pem")), fluximage.ErrIO},
		{"CA file without a certificate", fluximage.WithCAFile(notPEM), fluximage.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fluximage.NewClient(agencyKey, tc.opt)
			if err == nil {
				c.Close()
			}
			fe := wantErr(t, err, tc.sentinel, 0)
			if fe.Setting == "" {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
	// Valid settings are accepted.
	c := newClient(t, agencyKey, fluximage.WithTimeouts(5*time.Second, 30*time.Second, time.Minute),
		fluximage.WithRetries(0), fluximage.WithRetryAfterUpload(), fluximage.WithConcurrency(16),
		fluximage.WithProxy(""), fluximage.WithUserAgent("go-test/1.0"))
	if _, err := c.Usage(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
