package main

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func TestPatternReader(t *testing.T) {
	pat := newPattern(1)
	tests := []struct {
		name  string
		size  int64
		phase int64
	}{
		{"empty", 0, 0},
		{"short", 100, 5},
		{"wraps", 3*patternLen + 11, patternLen - 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := make([]byte, tt.size)
			for i := range want {
				want[i] = pat[(tt.phase+int64(i))%patternLen]
			}
			if err := iotest.TestReader(newPatternReader(pat, tt.size, tt.phase), want); err != nil {
				t.Fatal(err)
			}
			r := newPatternReader(pat, tt.size, tt.phase)
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Seek(tt.size/2, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[tt.size/2:]) {
				t.Fatalf("after seek: got %d bytes, differ from want", len(got))
			}
			if end, _ := r.Seek(0, io.SeekEnd); end != tt.size {
				t.Fatalf("SeekEnd = %d, want %d", end, tt.size)
			}
		})
	}
}

func TestPatternSeeds(t *testing.T) {
	if bytes.Equal(newPattern(1)[:64], newPattern(2)[:64]) {
		t.Fatal("different seeds gave the same pattern")
	}
	if !bytes.Equal(newPattern(3), newPattern(3)) {
		t.Fatal("same seed gave different patterns")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4KiB", 4 << 10, true},
		{"1MiB", 1 << 20, true},
		{"64MiB", 64 << 20, true},
		{"1GiB", 1 << 30, true},
		{"123", 123, true},
		{"1KB", 1000, true},
		{"x", 0, false},
		{"-1KiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
