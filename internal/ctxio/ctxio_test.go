package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	if err := iotest.TestReader(Reader(context.Background(), strings.NewReader("0123456789")), []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("0123456789"))
	b := make([]byte, 4)
	if n, err := r.Read(b); n != 4 || err != nil {
		t.Fatalf("Read before cancel: %d, %v", n, err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v, want context.Canceled", err)
	}
}
