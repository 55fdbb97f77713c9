// Command flxcompress compresses images with the Fluximage API through the Go binding of
// libfluximage.
//
//	export FLUXIMAGE_API_KEY=flx_live_...      # and FLUXIMAGE_BASE_URL for another server
//	flxcompress [-format webp|avif|jpg|png] [-quality 40..100] [-max-width N] [-out DIR] FILE...
//	flxcompress -demo -out DIR                 # compress a generated test picture
//
// Ctrl-C stops the work in progress within about 100 ms.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/signal"
	"time"

	fluximage "github.com/fluximage/libfluximage/bindings/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flxcompress:", err)
		var fe *fluximage.Error
		if errors.As(err, &fe) && fe.RetryAfter > 0 {
			fmt.Fprintf(os.Stderr, "flxcompress: the server asks to wait %v\n", fe.RetryAfter)
		}
		os.Exit(1)
	}
}

func run() error {
	format := flag.String("format", "webp", "output format: webp, avif, jpg or png")
	quality := flag.Int("quality", 82, "lossy quality, 40..100")
	maxWidth := flag.Int("max-width", 0, "scale down to at most this width (0: keep)")
	out := flag.String("out", ".", "folder for the results")
	demo := flag.Bool("demo", false, "compress a generated test picture instead of files")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound for the whole run")
	flag.Parse()

	formats := map[string]fluximage.Format{"webp": fluximage.FormatWebP, "avif": fluximage.FormatAVIF,
		"jpg": fluximage.FormatJPEG, "png": fluximage.FormatPNG}
	f, ok := formats[*format]
	if !ok {
		return fmt.Errorf("unknown format %q", *format)
	}
	var inputs []fluximage.Input
	for _, p := range flag.Args() {
		inputs = append(inputs, fluximage.File(p))
	}
	if *demo {
		inputs = append(inputs, fluximage.Bytes("demo.png", demoPNG(320, 200)))
	}
	if len(inputs) == 0 {
		flag.Usage()
		return errors.New("no images given")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	client, err := fluximage.NewClient("", fluximage.WithUserAgent("flxcompress/1.0")) // FLUXIMAGE_API_KEY
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	fmt.Printf("libfluximage %s\n", fluximage.Version())
	batch, err := client.Compress(ctx, inputs, fluximage.WithFormat(f), fluximage.WithQuality(*quality),
		fluximage.WithMaxSize(*maxWidth, 0))
	if err != nil && !errors.Is(err, fluximage.ErrPartial) {
		return err
	}
	defer batch.Close()
	failed := 0
	for _, r := range batch.Results() {
		if r.Err != nil {
			failed++
			fmt.Printf("%s: failed: %v\n", r.Input, r.Err)
			continue
		}
		written, err := r.Save(ctx, *out+"/")
		if err != nil {
			return err
		}
		w, h := r.Dimensions()
		fmt.Printf("%s -> %s (%d -> %d bytes, %dx%d)\n", r.Input, written, r.OriginalSize, r.Size, w, h)
	}
	if u, err := client.Usage(ctx); err == nil {
		fmt.Printf("plan %s: %d compressions used\n", u.Plan, u.CompressionsUsed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images failed", failed, batch.Len())
	}
	return nil
}

// demoPNG draws a w×h gradient with a circle, encoded as PNG.
func demoPNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255}
			if dx, dy := x-w/2, y-h/2; dx*dx+dy*dy < (h/3)*(h/3) {
				c = color.RGBA{250, 220, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}
