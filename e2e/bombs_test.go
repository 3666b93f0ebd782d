package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/minio/minio-go/v7"

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// xzDictionaryBomb is an 80-byte xz stream whose block header asks for a
// 4 GiB dictionary.
func xzDictionaryBomb() []byte {
	var b bytes.Buffer
	b.Write([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	flags := []byte{0, 0x01}
	b.Write(flags)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(flags))
	hdr := []byte{0x02, 0x00, 0x21, 0x01, 40, 0, 0, 0}
	b.Write(hdr)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(hdr))
	b.Write([]byte{0x01, 0x00, 0x03, 'a', 'b', 'c', 'd', 0x00})
	for b.Len() < 80 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// zstdWindowBomb is a zstd frame naming a 2 GiB window.
var zstdWindowBomb = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 5<<3 | 1, 0, 0, 'h', 'e', 'l', 'l', 'o'}

// peakRSS is the peak resident set (VmHWM) of process pid, in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		skipOrFail(t, "no /proc to measure the server's memory: "+err.Error())
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestDecompressionBombs sends a real `nixbucket serve` every kind of
// decompression bomb, three at once, on every path that decodes: narinfo
// bodies (xz dictionary, zstd window, gzip/bzip2/brotli ratio), NAR files
// checked for a narinfo, and a log served decoded. Each is refused with
// 400 within a second, and the server process's peak RSS (VmHWM of the
// server's own process, not of this test) stays under 150 MiB.
func TestDecompressionBombs(t *testing.T) {
	s := startServer(t)
	if s.Target != targetNixbucket {
		t.Skip("nixbucket's own limits")
	}
	c := minioCore(t, s)
	ctx := context.Background()
	const bucket = "bombs"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 200<<20)
	var gz, br bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(zeros)
	gw.Close()
	bw := brotli.NewWriterLevel(&br, 1)
	bw.Write(zeros)
	bw.Close()
	bz, err := os.ReadFile(filepath.Join("..", "internal", "nix", "codec", "testdata", "zeros-200M.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	narinfoBombs := map[string][]byte{"xz": xzDictionaryBomb(), "zstd": zstdWindowBomb, "gzip": gz.Bytes(), "br": br.Bytes(), "bzip2": bz}
	const hash = "0123456789abcdfghijklmnpqrsvwxyz"

	put := func(key string, body []byte, enc string) error {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), "", "",
			minio.PutObjectOptions{ContentEncoding: enc, DisableContentSha256: true})
		return err
	}
	// refused runs req three times at once and checks each answer.
	refused := func(t *testing.T, what string, req func() error) {
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				start := time.Now()
				err := req()
				took := time.Since(start)
				if st := minio.ToErrorResponse(err).StatusCode; st != 400 {
					t.Errorf("%s: %v (status %d), want 400", what, err, st)
				}
				if took > time.Second {
					t.Errorf("%s: refused after %v, want within 1s", what, took)
				}
			})
		}
		wg.Wait()
	}

	for enc, body := range narinfoBombs {
		refused(t, "narinfo "+enc, func() error { return put(hash+".narinfo", body, enc) })
	}
	for _, method := range []string{"xz", "zstd"} {
		file := narinfoBombs[method]
		sum := nixhash.SHA256(sha256.Sum256(file))
		url := "nar/" + sum.Nix32() + ".nar." + method
		if err := put(url, file, ""); err != nil {
			t.Fatal(err)
		}
		ni := fmt.Sprintf("StorePath: /nix/store/%s-bomb\nURL: %s\nCompression: %s\nFileHash: %s\nFileSize: %d\nNarHash: %s\nNarSize: 5\nReferences: \n",
			hash, url, method, sum, len(file), sum)
		refused(t, "NAR "+method, func() error { return put(hash+".narinfo", []byte(ni), "") })
	}
	if err := put("log/bomb.drv", xzDictionaryBomb(), "xz"); err != nil {
		t.Fatal(err)
	}
	refused(t, "GET of an xz log", func() error {
		r, _, _, err := c.GetObject(ctx, bucket, "log/bomb.drv", minio.GetObjectOptions{})
		if err == nil {
			r.Close()
		}
		return err
	})
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("server peak RSS (VmHWM of pid %d): %d MiB", s.cmd.Process.Pid, peak>>20)
	if peak > 150<<20 {
		t.Errorf("server peak RSS %d MiB, want under 150 MiB", peak>>20)
	}
}
