package fluximage_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

func ExampleClient_Sync() {
	// A small site: two images in nested folders.
	site, err := os.MkdirTemp("", "site-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(site)
	for _, name := range []string{"logo.png", "blog/2026/cover.png"} {
		p := filepath.Join(site, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, examplePNG(64, 48), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	out := filepath.Join(site, "..", filepath.Base(site)+"-webp")
	defer os.RemoveAll(out)

	client, err := fluximage.NewClient("") // FLUXIMAGE_API_KEY, FLUXIMAGE_BASE_URL
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for run := 1; run <= 2; run++ {
		report, err := client.Sync(ctx, site, out,
			fluximage.WithFormat(fluximage.FormatWebP),
			fluximage.WithExclude("drafts"),
			fluximage.OnSyncEvent(func(e fluximage.SyncEvent) { fmt.Println(e.Outcome, e.Input, "->", e.Output) }))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("run %d: %d compressed, %d up to date, %d requests\n", run, report.Compressed, report.UpToDate, report.Requests)
	}
	// Output:
	// compressed blog/2026/cover.png -> blog/2026/cover.webp
	// compressed logo.png -> logo.webp
	// run 1: 2 compressed, 0 up to date, 1 requests
	// up-to-date blog/2026/cover.png -> blog/2026/cover.webp
	// up-to-date logo.png -> logo.webp
	// run 2: 0 compressed, 2 up to date, 0 requests
}
