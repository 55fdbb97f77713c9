// Package peer holds the command line and the figures shared by the Go peers (see
// benches/peers/peer.h for the contract):
//
//	PEER [--ca PEM] [--repeat N] [--concurrency C] BASE_URL KEY FILE...
//
// Each peer prints one JSON line: wall time, client CPU (getrusage RUSAGE_SELF, every thread)
// and peak RSS (VmHWM of /proc/self/status: ru_maxrss carries the parent's figure over exec),
// measured from after setup to the end of the work.
package peer

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MaxFiles is the API's limit of files per request.
const MaxFiles = 20

// Args is the parsed command line.
type Args struct {
	CA          string
	Repeat      int
	Concurrency int
	Base, Key   string
	Files       []string
}

// Parse reads the command line, or exits with a usage message.
func Parse() Args {
	var a Args
	flag.StringVar(&a.CA, "ca", "", "PEM file of the emulator's CA")
	flag.IntVar(&a.Repeat, "repeat", 1, "round trips")
	flag.IntVar(&a.Concurrency, "concurrency", 0, "requests in flight (0: default)")
	flag.Parse()
	if flag.NArg() < 3 || a.Repeat < 1 {
		fmt.Fprintln(os.Stderr, "usage: peer [--ca PEM] [--repeat N] [--concurrency C] BASE_URL KEY FILE...")
		os.Exit(2)
	}
	a.Base, a.Key, a.Files = flag.Arg(0), flag.Arg(1), flag.Args()[2:]
	return a
}

// Mark is a point in time, CPU time and peak memory.
type Mark struct {
	wall      time.Time
	user, sys float64
	maxRSS    int64
}

// Now takes a Mark.
func Now() Mark {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return Mark{wall: time.Now(), user: tv(ru.Utime), sys: tv(ru.Stime), maxRSS: peakRSS(ru.Maxrss)}
}

// peakRSS is VmHWM in kB, or ru_maxrss when /proc is not there.
func peakRSS(maxrss int64) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return maxrss
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64); err == nil {
				return kb
			}
		}
	}
	return maxrss
}

// FileBytes is the total size of files, or exits.
func FileBytes(files []string) uint64 {
	var n uint64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			Die("%v", err)
		}
		n += uint64(st.Size())
	}
	return n
}

// Die prints a message and exits with status 1.
func Die(format string, v ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", v...)
	os.Exit(1)
}

// Report prints the JSON line.
func Report(name string, a Args, start, end Mark, up, down uint64) {
	out := map[string]any{
		"peer":         name,
		"round_trips":  a.Repeat,
		"images":       a.Repeat * len(a.Files),
		"wall_s":       end.wall.Sub(start.wall).Seconds(),
		"user_s":       end.user - start.user,
		"sys_s":        end.sys - start.sys,
		"cpu_s":        (end.user - start.user) + (end.sys - start.sys),
		"rss_start_kb": start.maxRSS,
		"rss_peak_kb":  end.maxRSS,
		"bytes_up":     up,
		"bytes_down":   down,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
