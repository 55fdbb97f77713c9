package fluximage_test

// These examples run as tests: TestMain starts the emulator and sets FLUXIMAGE_API_KEY and
// FLUXIMAGE_BASE_URL, exactly as a user points the library at a server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

func Example() {
	// The key comes from FLUXIMAGE_API_KEY, the server from FLUXIMAGE_BASE_URL (if set).
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	batch, err := client.Compress(ctx,
		[]fluximage.Input{fluximage.Bytes("photo.png", examplePNG(64, 48))},
		fluximage.WithFormat(fluximage.FormatWebP), fluximage.WithQuality(80), fluximage.WithMaxSize(32, 0))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range batch.Results() {
		fmt.Printf("%s -> %s, %dx%d\n", r.Input, r.Name, r.Width, r.Height)
	}
	// Output: photo.png -> photo.webp, 32x24
}

func ExampleNewClient() {
	client, err := fluximage.NewClient(os.Getenv("FLUXIMAGE_API_KEY"),
		fluximage.WithBaseURL(os.Getenv("FLUXIMAGE_BASE_URL")), // default https://fluximage.app
		fluximage.WithTimeout(2*time.Minute),
		fluximage.WithRetries(3),
		fluximage.WithConcurrency(4),
		fluximage.WithUserAgent("my-app/1.0"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	fmt.Println("ready")
	// Output: ready
}

func ExampleClient_Compress() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cat.png")
	os.WriteFile(path, examplePNG(40, 30), 0o644)

	inputs := []fluximage.Input{
		fluximage.File(path),                                 // streamed from disk
		fluximage.Bytes("dog.png", examplePNG(30, 40)),       // from memory
		fluximage.Bytes("notes.png", []byte("not an image")), // fails on its own
	}
	batch, err := client.Compress(context.Background(), inputs, fluximage.WithFormat(fluximage.FormatAVIF))
	if err != nil && !errors.Is(err, fluximage.ErrPartial) {
		log.Fatal(err) // nothing succeeded
	}
	for _, r := range batch.Results() {
		if r.Err != nil {
			fmt.Printf("%s failed: %v\n", r.Input, errors.Is(r.Err, fluximage.ErrServer))
			continue
		}
		fmt.Printf("%s: %dx%d %s\n", r.Name, r.Width, r.Height, r.Format)
	}
	// Output:
	// cat.avif: 40x30 avif
	// dog.avif: 30x40 avif
	// notes.png failed: true
}

func ExampleClient_CompressFile() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "banner.png")
	os.WriteFile(src, examplePNG(120, 40), 0o644)

	dst := filepath.Join(dir, "banner.jpg")
	err = client.CompressFile(context.Background(), src, dst,
		fluximage.WithFormat(fluximage.FormatJPEG), fluximage.WithQuality(70))
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(dst)
	fmt.Println("written:", err == nil)
	// Output: written: true
}

func ExampleClient_Usage() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	u, err := client.Usage(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Plan, u.CanCompress, u.CompressionsLimit)
	// Output: agency true 99999
}

func ExampleResult_Save() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	batch, err := client.Compress(ctx, []fluximage.Input{fluximage.Bytes("logo.png", examplePNG(32, 32))})
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	// A folder: the file is named after the result, and Save says where it went.
	written, err := batch.Results()[0].Save(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("saved:", filepath.Base(written))
	// Saving again: an existing file is never replaced unless asked.
	_, err = batch.Results()[0].Save(ctx, dir)
	fmt.Println("again:", errors.Is(err, fluximage.ErrExists))
	renamed, _ := batch.Results()[0].Save(ctx, dir, fluximage.WithExists(fluximage.ExistsRename))
	fmt.Println("renamed:", filepath.Base(renamed))
	// Output:
	// saved: logo.webp
	// again: true
	// renamed: logo-2.webp
}

func ExampleResult_WriteTo() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	batch, err := client.Compress(context.Background(),
		[]fluximage.Input{fluximage.Bytes("icon.png", examplePNG(16, 16))}, fluximage.WithFormat(fluximage.FormatPNG))
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := batch.Results()[0].WriteTo(&buf); err != nil {
		log.Fatal(err)
	}
	cfg, _ := png.DecodeConfig(&buf)
	fmt.Println(cfg.Width, cfg.Height)
	// Output: 16 16
}

func ExampleError() {
	client, err := fluximage.NewClient("flx_live_0000000000000000000000000000000000000000")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	_, err = client.Usage(context.Background())

	var fe *fluximage.Error
	if errors.As(err, &fe) {
		fmt.Println(errors.Is(err, fluximage.ErrUnauthorized), fe.HTTPStatus, fe.Status)
	}
	// Output: true 401 unauthorized
}

func ExampleWithProgress() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	var sent, total uint64
	_, err = client.Compress(context.Background(),
		[]fluximage.Input{fluximage.Bytes("big.png", examplePNG(200, 200))},
		fluximage.WithProgress(func(done, all uint64) { sent, total = done, all }))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("all bytes sent:", sent == total && total > 0)
	// Output: all bytes sent: true
}

func Example_cancel() {
	client, err := fluximage.NewClient("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // for example, the user closed the window
	_, err = client.Compress(ctx, []fluximage.Input{fluximage.Bytes("a.png", examplePNG(8, 8))})
	fmt.Println(errors.Is(err, fluximage.ErrCanceled), errors.Is(err, context.Canceled))
	// Output: true true
}

// examplePNG draws a w×h gradient and encodes it as PNG.
func examplePNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}
