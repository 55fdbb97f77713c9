// genimages writes photo-like JPEGs for the real-encoding benchmark: a sky gradient, a hilly
// horizon, textured ground (value noise over several octaves), a few soft blobs and sensor
// noise, so that the codecs see what a photo gives them (no large flat areas). Deterministic
// for a given seed.
//
//	genimages [-n 100] [-w 1280] [-h 853] [-seed 1] [-quality 90] DIR
package main

import (
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

type noise struct {
	grid [][]float64
	n    int
}

func newNoise(r *rand.Rand, n int) *noise {
	g := make([][]float64, n+1)
	for i := range g {
		g[i] = make([]float64, n+1)
		for j := range g[i] {
			g[i][j] = r.Float64()
		}
	}
	return &noise{grid: g, n: n}
}

// at is value noise in [0,1] at (x, y) in [0,1)², smoothly interpolated.
func (v *noise) at(x, y float64) float64 {
	fx, fy := x*float64(v.n), y*float64(v.n)
	ix, iy := int(fx), int(fy)
	if ix >= v.n {
		ix = v.n - 1
	}
	if iy >= v.n {
		iy = v.n - 1
	}
	tx, ty := fx-float64(ix), fy-float64(iy)
	tx, ty = tx*tx*(3-2*tx), ty*ty*(3-2*ty)
	a := v.grid[iy][ix]*(1-tx) + v.grid[iy][ix+1]*tx
	b := v.grid[iy+1][ix]*(1-tx) + v.grid[iy+1][ix+1]*tx
	return a*(1-ty) + b*ty
}

func clamp(v float64) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

func photo(seed int64, w, h int) *image.RGBA {
	r := rand.New(rand.NewSource(seed))
	octaves := []*noise{newNoise(r, 4), newNoise(r, 16), newNoise(r, 64), newNoise(r, 200)}
	skyTop := [3]float64{40 + 60*r.Float64(), 80 + 80*r.Float64(), 160 + 90*r.Float64()}
	skyLow := [3]float64{170 + 80*r.Float64(), 170 + 70*r.Float64(), 160 + 80*r.Float64()}
	ground := [3]float64{50 + 90*r.Float64(), 70 + 90*r.Float64(), 20 + 60*r.Float64()}
	horizon := 0.45 + 0.2*r.Float64()
	type wave struct{ amp, freq, phase float64 }
	waves := make([]wave, 4)
	for i := range waves {
		waves[i] = wave{0.02 + 0.06*r.Float64()/float64(i+1), 2 + 6*float64(i)*r.Float64(), 2 * math.Pi * r.Float64()}
	}
	type blob struct {
		x, y, rad float64
		col       [3]float64
	}
	blobs := make([]blob, 3+r.Intn(4))
	for i := range blobs {
		blobs[i] = blob{r.Float64(), r.Float64(), 0.03 + 0.12*r.Float64(),
			[3]float64{255 * r.Float64(), 255 * r.Float64(), 255 * r.Float64()}}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	state := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for py := 0; py < h; py++ {
		y := float64(py) / float64(h)
		for px := 0; px < w; px++ {
			x := float64(px) / float64(w)
			line := horizon
			for _, wv := range waves {
				line += wv.amp * math.Sin(wv.freq*x*2*math.Pi+wv.phase)
			}
			tex := 0.5*octaves[0].at(x, y) + 0.25*octaves[1].at(x, y) + 0.15*octaves[2].at(x, y) + 0.1*octaves[3].at(x, y)
			var c [3]float64
			if y < line {
				t := y / line
				for k := 0; k < 3; k++ {
					c[k] = skyTop[k]*(1-t) + skyLow[k]*t + 30*(octaves[1].at(x, y*0.5)-0.5)
				}
			} else {
				t := (y - line) / (1 - line + 1e-9)
				shade := 0.6 + 0.8*tex - 0.3*t
				for k := 0; k < 3; k++ {
					c[k] = ground[k] * shade
				}
			}
			for _, b := range blobs {
				d := math.Hypot(x-b.x, (y-b.y)*float64(h)/float64(w)) / b.rad
				if d < 1.5 {
					a := 0.85 * math.Exp(-d*d*2) * (0.7 + 0.6*tex)
					for k := 0; k < 3; k++ {
						c[k] = c[k]*(1-a) + b.col[k]*a
					}
				}
			}
			vig := 1 - 0.35*((x-0.5)*(x-0.5)+(y-0.5)*(y-0.5))
			state ^= state << 13
			state ^= state >> 7
			state ^= state << 17
			n := float64(int(state%13)) - 6
			i := img.PixOffset(px, py)
			img.Pix[i+0] = clamp(c[0]*vig + n)
			img.Pix[i+1] = clamp(c[1]*vig + n)
			img.Pix[i+2] = clamp(c[2]*vig + n)
			img.Pix[i+3] = 255
		}
	}
	return img
}

func main() {
	n := flag.Int("n", 100, "number of images")
	w := flag.Int("w", 1280, "width")
	h := flag.Int("h", 853, "height")
	seed := flag.Int64("seed", 1, "first seed")
	quality := flag.Int("quality", 90, "JPEG quality")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: genimages [-n N] [-w W] [-h H] [-seed S] [-quality Q] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for g := 0; g < runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				img := photo(*seed+int64(i), *w, *h)
				path := filepath.Join(dir, fmt.Sprintf("photo-%03d.jpg", i+1))
				f, err := os.Create(path)
				if err == nil {
					err = jpeg.Encode(f, img, &jpeg.Options{Quality: *quality})
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < *n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		fmt.Fprintln(os.Stderr, failed)
		os.Exit(1)
	}
}
