// Our Go module: one fluximage.Client for the whole run; Compress(ctx, files) then
// WriteTo(io.Discard) for every result. See internal/peer for the contract.
package main

import (
	"context"
	"io"

	fluximage "github.com/fluximage/libfluximage/bindings/go"

	"fluximage.bench/internal/peer"
)

func main() {
	a := peer.Parse()
	opts := []fluximage.Option{fluximage.WithBaseURL(a.Base)}
	if a.CA != "" {
		opts = append(opts, fluximage.WithCAFile(a.CA))
	}
	if a.Concurrency > 0 {
		opts = append(opts, fluximage.WithConcurrency(a.Concurrency))
	}
	client, err := fluximage.NewClient(a.Key, opts...)
	if err != nil {
		peer.Die("%v", err)
	}
	defer client.Close()
	inputs := make([]fluximage.Input, len(a.Files))
	for i, f := range a.Files {
		inputs[i] = fluximage.File(f)
	}
	total := peer.FileBytes(a.Files)
	ctx := context.Background()

	start := peer.Now()
	var up, down uint64
	for r := 0; r < a.Repeat; r++ {
		up += total
		batch, err := client.Compress(ctx, inputs)
		if err != nil {
			peer.Die("compress: %v", err)
		}
		for _, res := range batch.Results() {
			n, err := res.WriteTo(io.Discard)
			if err != nil {
				peer.Die("download: %v", err)
			}
			down += uint64(n)
		}
		batch.Close()
	}
	end := peer.Now()
	peer.Report("fluximage-go", a, start, end, up, down)
}
