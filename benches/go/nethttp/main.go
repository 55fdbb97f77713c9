// The Go net/http peer: one http.Client (keep-alive pool) for the whole run; a multipart POST
// streamed from the files with an exact Content-Length (mime/multipart writes the part
// headers, io.MultiReader splices the files in), encoding/json for the answer, then each
// signed URL fetched without the key into io.Discard. See internal/peer for the contract.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fluximage.bench/internal/peer"
)

type answer struct {
	Results []struct {
		URL   string `json:"url"`
		Error string `json:"error"`
	} `json:"results"`
}

// body builds a streamed multipart body for files; the caller closes the returned files.
func body(files []string) (io.Reader, int64, string, []*os.File) {
	var readers []io.Reader
	var opened []*os.File
	var size int64
	buf := &bytes.Buffer{}
	mw := multipart.NewWriter(buf)
	_ = mw.WriteField("format", "webp")
	_ = mw.WriteField("quality", "82")
	flush := func() {
		b := append([]byte(nil), buf.Bytes()...)
		buf.Reset()
		readers = append(readers, bytes.NewReader(b))
		size += int64(len(b))
	}
	for _, path := range files {
		if _, err := mw.CreateFormFile("file", filepath.Base(path)); err != nil {
			peer.Die("%v", err)
		}
		flush()
		f, err := os.Open(path)
		if err != nil {
			peer.Die("%v", err)
		}
		st, err := f.Stat()
		if err != nil {
			peer.Die("%v", err)
		}
		opened = append(opened, f)
		readers = append(readers, f)
		size += st.Size()
	}
	_ = mw.Close()
	flush()
	return io.MultiReader(readers...), size, mw.FormDataContentType(), opened
}

func main() {
	a := peer.Parse()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if a.CA != "" {
		pem, err := os.ReadFile(a.CA)
		if err != nil {
			peer.Die("%v", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	api := strings.TrimRight(a.Base, "/") + "/api/compress"
	total := peer.FileBytes(a.Files)

	start := peer.Now()
	var up, down uint64
	for r := 0; r < a.Repeat; r++ {
		up += total
		for first := 0; first < len(a.Files); first += peer.MaxFiles {
			chunk := a.Files[first:min(first+peer.MaxFiles, len(a.Files))]
			rd, size, ctype, opened := body(chunk)
			req, err := http.NewRequest("POST", api, rd)
			if err != nil {
				peer.Die("%v", err)
			}
			req.ContentLength = size
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("Authorization", "Bearer "+a.Key)
			resp, err := client.Do(req)
			for _, f := range opened {
				f.Close()
			}
			if err != nil {
				peer.Die("compress: %v", err)
			}
			var ans answer
			err = json.NewDecoder(resp.Body).Decode(&ans)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(ans.Results) != len(chunk) {
				peer.Die("compress answered %d: %v", resp.StatusCode, err)
			}
			for _, e := range ans.Results {
				if e.URL == "" {
					peer.Die("image failed: %s", e.Error)
				}
				d, err := client.Get(e.URL)
				if err != nil {
					peer.Die("download: %v", err)
				}
				n, err := io.Copy(io.Discard, d.Body)
				d.Body.Close()
				if err != nil || d.StatusCode != 200 {
					peer.Die("download answered %d: %v", d.StatusCode, err)
				}
				down += uint64(n)
			}
		}
	}
	end := peer.Now()
	peer.Report("net/http", a, start, end, up, down)
}
