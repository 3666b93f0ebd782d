package compress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// xzWriter pipes a stream through the xz program. Go's xz encoders are
// several times slower than liblzma and single-threaded; xz -T0 uses every
// core, as Nix's parallel-compression does.
type xzWriter struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	copied chan error
	stderr bytes.Buffer
	closed bool
}

func newXz(ctx context.Context, w io.Writer, o Options) (io.WriteCloser, error) {
	prog, err := exec.LookPath("xz")
	if err != nil {
		return nil, fmt.Errorf("compression=xz needs the xz program, which is not installed (apt-get install xz-utils, or use compression=zstd): %w", err)
	}
	level := o.Level
	if level < 0 {
		level = 6
	}
	threads := "-T1"
	if o.Parallel {
		threads = "-T0"
	}
	x := &xzWriter{copied: make(chan error, 1)}
	x.cmd = exec.CommandContext(ctx, prog, "--compress", "--stdout", "--quiet", threads, "-"+strconv.Itoa(level))
	x.cmd.Stderr = &x.stderr
	stdout, err := x.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if x.stdin, err = x.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if err := x.cmd.Start(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	go func() {
		_, err := io.Copy(w, stdout)
		if err != nil {
			io.Copy(io.Discard, stdout) // let xz finish rather than block
		}
		x.copied <- err
	}()
	return x, nil
}

func (x *xzWriter) Write(p []byte) (int, error) {
	n, err := x.stdin.Write(p)
	if err != nil {
		return n, fmt.Errorf("xz: %w (see the error at Close)", err)
	}
	return n, nil
}

// Close waits for xz to compress what it was given.
func (x *xzWriter) Close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	x.stdin.Close()
	copyErr := <-x.copied
	waitErr := x.cmd.Wait()
	if copyErr != nil {
		return fmt.Errorf("xz: writing its output: %w", copyErr)
	}
	if waitErr != nil {
		return fmt.Errorf("xz: %w%s", waitErr, x.detail())
	}
	return nil
}

func (x *xzWriter) detail() string {
	if s := strings.TrimSpace(x.stderr.String()); s != "" {
		return ": " + s
	}
	return ""
}
