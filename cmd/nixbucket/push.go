package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nixbucket/nixbucket/internal/client/compress"
	"github.com/nixbucket/nixbucket/internal/client/localstore"
	"github.com/nixbucket/nixbucket/internal/client/push"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

const pushUsage = `usage: nixbucket push --to URL [flags] PATH...
       nixbucket push --to URL [flags] --stdin

Pushes the closures of store paths (or of symlinks to them, like ./result) to a
binary cache, skipping paths the cache already has. URL is a Nix store URL:

  s3://BUCKET?profile=NAME&region=REGION&endpoint=HOST[:PORT]&scheme=http|https
  http(s)://HOST[:PORT]/PATH      (PUT; credentials from netrc or --token-file)
  file:///DIR

with Nix's parameters: compression=zstd|xz|br|gzip|none (default zstd),
compression-level=N, parallel-compression=false, secret-key=FILE,
secret-keys=FILE,FILE, write-nar-listing=1, narinfo-compression=, ls-compression=,
priority=N, want-mass-query=1; for s3: addressing-style=auto|path|virtual,
multipart-upload=false, multipart-chunk-size=SIZE (buffer-size, default 5M),
multipart-threshold=SIZE (default 100M), storage-class=CLASS.
S3 credentials come from the AWS default chain (environment, the shared
config and credentials files with profile=, SSO, credential_process,
assume-role, web identity, instance metadata).

Flags:
`

func pushCmd(args []string) (err error) {
	defer func() {
		if err != nil {
			err = printableError{err}
		}
	}()
	f, err := parsePushFlags(args)
	if err != nil {
		return err
	}
	trustNixCerts()
	in, err := f.inputs()
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if len(f.paths) == 0 { // only with --stdin: a post-build hook whose OUT_PATHS was empty
		fmt.Fprintln(os.Stderr, "warning: no store paths on stdin; nothing to push")
		return nil
	}
	stopProfile, err := startCPUProfile()
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer stopProfile()

	ui := newPushUI(f.jsonOut, f.quiet)
	ctx, cancel := interruptible(ui)
	defer cancel()
	sum, err := runPush(ctx, f, in, ui)
	switch {
	case errors.Is(err, push.ErrFailed):
		return fmt.Errorf("push: %d of %d paths failed", sum.Failed, sum.Paths-sum.Skipped)
	case err != nil && ctx.Err() != nil:
		return errors.New("push: interrupted")
	case err != nil:
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// printableError is an error whose message is target.Printable: push's
// errors may carry a server's text (an S3 error's Message, through the
// SDK's error strings), which must not reach the terminal with its escape
// sequences or line breaks. With pushUI.line, which prints every message
// of a push, and the --json error, it is how push's errors are printed.
type printableError struct{ err error }

func (e printableError) Error() string { return target.Printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

// pushFlags is push's command line.
type pushFlags struct {
	to, storeDir, db, netrc, tokenFile, tmpDir string
	jobs                                       int
	stall                                      time.Duration
	jsonOut, quiet                             bool
	paths                                      []string // as given, from the arguments and --stdin
}

// parsePushFlags parses and checks push's command line, and reads the
// paths from standard input with --stdin.
func parsePushFlags(args []string) (*pushFlags, error) {
	var f pushFlags
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pushUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.to, "to", "", "the binary cache's store URL (required)")
	fs.IntVar(&f.jobs, "jobs", 8, "paths to dump, compress and upload at once")
	stdin := fs.Bool("stdin", false, "read store paths from standard input (white-space separated), e.g. in a post-build hook")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per path and a summary on standard output")
	fs.StringVar(&f.storeDir, "store-dir", envOr("NIX_STORE_DIR", localstore.DefaultStoreDir), "the Nix store directory (env NIX_STORE_DIR)")
	fs.StringVar(&f.db, "db", defaultDB(), "the Nix database, opened read-only (env NIX_STATE_DIR: its db/db.sqlite)")
	fs.StringVar(&f.netrc, "netrc-file", "", "netrc file with credentials for http(s) caches (default $NETRC or ~/.netrc, else Nix's netrc-file: /etc/nix/netrc unless nix.conf names another)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a bearer token for http(s) caches (env NIXBUCKET_TOKEN)")
	fs.StringVar(&f.tmpDir, "tmp-dir", "", "directory where compressed NARs too large to wait in memory wait for their upload (default $TMPDIR)")
	fs.BoolVar(&f.quiet, "quiet", false, "print only failures and the summary")
	fs.DurationVar(&f.stall, "stall-timeout", target.DefaultStallTimeout, "give a request up (and retry it) once its connection has moved no byte for this long, like Nix's stalled-download-timeout; 0 waits for ever")

	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	f.paths = paths
	if f.to == "" {
		return nil, usagef("push: --to URL is required: nixbucket push --to URL [flags] PATH...")
	}
	if f.netrc == "" {
		f.netrc = defaultPushNetrc()
	}
	if f.stall < 0 {
		return nil, fmt.Errorf("push: --stall-timeout %v: want a positive duration, or 0 to wait for ever", f.stall)
	}
	if f.jobs < 1 {
		return nil, fmt.Errorf("push: --jobs %d: want at least 1", f.jobs)
	}
	if *stdin {
		more, err := readPaths(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("push: reading paths from standard input: %w", err)
		}
		f.paths = append(f.paths, more...)
	} else if len(f.paths) == 0 {
		return nil, usagef("push: no paths given (or use --stdin): nixbucket push --to URL [flags] PATH...")
	}
	return &f, nil
}

// pushInputs is what push reads besides its flags: the parsed store URL,
// the signing keys it names, and the bearer token.
type pushInputs struct {
	url   *storeurl.Store
	keys  []signature.SecretKey
	token string
}

// inputs parses the store URL and reads the files and environment it and
// the flags name.
func (f *pushFlags) inputs() (pushInputs, error) {
	u, err := storeurl.Parse(f.to)
	if err != nil {
		return pushInputs{}, err
	}
	if u.Scheme == storeurl.SchemeFile && (u.NarinfoCompression != "" || u.LsCompression != "") {
		return pushInputs{}, errors.New("narinfo-compression and ls-compression need an http(s) or s3 cache (files have no Content-Encoding)")
	}
	// Checked once here, not once per path when it is compressed.
	if err := compress.CheckLevel(u.Compression, u.CompressionLevel); err != nil {
		return pushInputs{}, fmt.Errorf("store URL parameter compression-level: %w", err)
	}
	keys, err := readKeys(u.SecretKeyFiles)
	if err != nil {
		return pushInputs{}, err
	}
	token := os.Getenv("NIXBUCKET_TOKEN")
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return pushInputs{}, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return pushInputs{url: u, keys: keys, token: token}, nil
}

// interruptible returns a context that the first SIGINT or SIGTERM
// cancels, saying so through ui; a second signal kills the process.
func interruptible(ui *pushUI) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			signal.Stop(sigs)
			return
		}
		signal.Stop(sigs) // a second signal kills at once
		ui.line("interrupted: aborting uploads in flight (interrupt again to quit at once)")
		cancel()
	}()
	return ctx, func() {
		cancel()
		signal.Stop(sigs)
	}
}

// runPush opens the local store and the target and pushes the closure of
// the flags' paths.
func runPush(ctx context.Context, f *pushFlags, in pushInputs, ui *pushUI) (push.Summary, error) {
	store, err := localstore.Open(ctx, f.db, f.storeDir)
	if err != nil {
		return push.Summary{}, err
	}
	defer store.Close()
	roots := make([]string, 0, len(f.paths))
	for _, p := range f.paths {
		sp, err := store.Resolve(p)
		if err != nil {
			return push.Summary{}, err
		}
		roots = append(roots, sp)
	}

	stateDir := pushStateDir()
	stall := f.stall
	if stall == 0 {
		stall = -1 // none
	}
	topts := target.Options{
		NetrcFile: f.netrc, BearerToken: in.token, Concurrency: f.jobs, StateDir: stateDir, StallTimeout: stall,
		Warn: func(msg string) { ui.warn(msg) },
	}
	tgt, err := target.Open(ctx, in.url, topts)
	if err != nil {
		return push.Summary{}, err
	}
	defer tgt.Close()

	p := push.New(push.Options{
		Store: store, Target: tgt, URL: in.url, Keys: in.keys, Jobs: f.jobs, TmpDir: f.tmpDir,
		OnPlan: ui.plan, OnPath: ui.path,
	})
	ui.unsigned = unsignedWarning(ctx, in.url, topts, len(in.keys) > 0)
	ui.start(p, tgt.String())
	sum, err := p.Run(ctx, roots)
	ui.aborted = target.IsFailure(err)
	ui.stop(sum)
	return sum, err
}

// pushStateDir is where push keeps its multipart journal: the user's
// cache directory, ~/.cache/nixbucket. Without HOME (nix-daemon runs a
// post-build hook with the daemon's environment, and systemd gives a
// root service none) the home is the passwd entry's, as Nix and the AWS
// SDK find theirs; else the journal would be off, silently, and a killed
// push's multipart uploads left behind for good.
func pushStateDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "nixbucket")
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return filepath.Join(u.HomeDir, ".cache", "nixbucket")
	}
	return ""
}

// parseInterspersed parses flags wherever they are among the arguments
// (nixbucket push ./result --to URL) and returns the others.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// readPaths reads white-space separated paths.
func readPaths(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

// readKeys reads the secret keys named by secret-key and secret-keys.
func readKeys(files []string) ([]signature.SecretKey, error) {
	var keys []signature.SecretKey
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("secret-key: %w", err)
		}
		k, err := signature.ParseSecretKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("secret-key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// defaultDB is the Nix database of NIX_STATE_DIR, or the standard one.
func defaultDB() string {
	if d := os.Getenv("NIX_STATE_DIR"); d != "" {
		return filepath.Join(d, "db", "db.sqlite")
	}
	return localstore.DefaultDB
}

// pushUI shows a push: a live progress line on a terminal, plain log lines
// otherwise, or JSON objects.
type pushUI struct {
	json, quiet, tty bool
	out              io.Writer // JSON
	err              io.Writer // messages and progress

	// unsigned is the warning given once the plan is known, if any path
	// is to be pushed (see unsignedWarning); aborted: the push stopped
	// at a target.Failure, which the error says.
	unsigned string
	aborted  bool

	mu     sync.Mutex
	p      *push.Pusher
	shown  bool // a progress line is on screen
	ticker *time.Ticker
	done   chan struct{}
}

func newPushUI(jsonOut, quiet bool) *pushUI {
	ui := &pushUI{json: jsonOut, quiet: quiet, out: os.Stdout, err: os.Stderr}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
		ui.tty = !quiet
	}
	return ui
}

// line prints a message, above the progress line if one is shown, as
// one line of target.Printable text (messages quote errors, and errors
// may quote a server).
func (ui *pushUI) line(msg string) {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	ui.clear()
	fmt.Fprintln(ui.err, target.Printable(msg))
}

func (ui *pushUI) warn(msg string) { ui.line("warning: " + msg) }

func (ui *pushUI) clear() {
	if ui.shown {
		fmt.Fprint(ui.err, "\r\033[K")
		ui.shown = false
	}
}

func (ui *pushUI) start(p *push.Pusher, to string) {
	ui.p = p
	if !ui.json && !ui.quiet {
		ui.line("pushing to " + to)
	}
	if ui.tty {
		ui.ticker = time.NewTicker(200 * time.Millisecond)
		ui.done = make(chan struct{})
		go func() {
			for {
				select {
				case <-ui.ticker.C:
					ui.redraw()
				case <-ui.done:
					return
				}
			}
		}()
	}
}

func (ui *pushUI) redraw() {
	pr := ui.p.Progress()
	if pr.Plan.Paths == 0 {
		return
	}
	line := formatProgress(pr)
	// A line as wide as the terminal wraps, and "\r\033[K" then clears
	// only its last row: each redraw would leave a row behind.
	if w := termWidth(ui.err); w > 1 && len(line) >= w {
		line = line[:w-1]
	}
	ui.mu.Lock()
	defer ui.mu.Unlock()
	fmt.Fprint(ui.err, "\r\033[K"+line)
	ui.shown = true
}

// termWidth returns the columns of the terminal w is, or 0.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// formatProgress renders "[done/total paths] NAR MiB of MiB, MB/s, ETA".
func formatProgress(pr push.Progress) string {
	secs := pr.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(pr.NarBytes) / secs
	}
	eta := "--:--"
	if left := pr.Plan.NarBytes - pr.NarBytes; rate > 0 && left >= 0 {
		eta = formatDuration(time.Duration(float64(left) / rate * float64(time.Second)))
	}
	return fmt.Sprintf("[%d/%d paths] %s / %s, %.1f MB/s, sent %s, ETA %s",
		pr.Done, pr.Plan.ToPush, mib(pr.NarBytes), mib(pr.Plan.NarBytes), rate/1e6, mib(pr.Uploaded), eta)
}

func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (ui *pushUI) plan(pl push.Plan) {
	if !ui.json && !ui.quiet {
		ui.line(fmt.Sprintf("%d paths in the closure: %d to push (%s of NAR), %d already in the cache",
			pl.Paths, pl.ToPush, mib(pl.NarBytes), pl.Skipped))
	}
	if ui.unsigned != "" && pl.ToPush > 0 {
		ui.warn(ui.unsigned)
	}
}

// pathJSON is the --json object for one path.
type pathJSON struct {
	Path        string  `json:"path"`
	Status      string  `json:"status"`
	NarSize     int64   `json:"narSize"`
	FileSize    int64   `json:"fileSize,omitempty"`
	URL         string  `json:"url,omitempty"`
	Compression string  `json:"compression,omitempty"`
	Reused      bool    `json:"reused,omitempty"`
	Seconds     float64 `json:"seconds,omitempty"`
	Error       string  `json:"error,omitempty"`
}

func (ui *pushUI) path(r push.Result) {
	if ui.json {
		j := pathJSON{Path: r.Path, Status: string(r.Status), NarSize: r.NarSize}
		if r.Status != push.Skipped {
			j.Seconds = r.Duration.Seconds()
		}
		if r.Status == push.Pushed {
			j.FileSize, j.URL, j.Compression, j.Reused = r.FileSize, r.URL, r.Compression, r.Reused
		}
		if r.Err != nil {
			j.Error = target.Printable(r.Err.Error())
		}
		ui.mu.Lock()
		json.NewEncoder(ui.out).Encode(j)
		ui.mu.Unlock()
		return
	}
	switch {
	case r.Status == push.Failed && r.Aborted:
		// Run's error says why, once.
	case r.Status == push.Failed:
		ui.line(fmt.Sprintf("failed %s: %v", r.Path, r.Err))
	case r.Status == push.Pushed && !ui.tty && !ui.quiet:
		what := fmt.Sprintf("%s → %s %s", mib(r.NarSize), mib(r.FileSize), r.Compression)
		if r.Reused {
			what = "its NAR file was already there"
		}
		ui.line(fmt.Sprintf("pushed %s (%s, %.1fs)", r.Path, what, r.Duration.Seconds()))
	}
}

// summaryJSON is the --json summary object.
type summaryJSON struct {
	Summary struct {
		Paths     int     `json:"paths"`
		Pushed    int     `json:"pushed"`
		Skipped   int     `json:"skipped"`
		Failed    int     `json:"failed"`
		NarBytes  int64   `json:"narBytes"`
		FileBytes int64   `json:"fileBytes"`
		Uploaded  int64   `json:"uploadedBytes"`
		Seconds   float64 `json:"seconds"`
	} `json:"summary"`
}

func (ui *pushUI) stop(s push.Summary) {
	if ui.ticker != nil {
		ui.ticker.Stop()
		close(ui.done)
	}
	if ui.json {
		var j summaryJSON
		j.Summary.Paths, j.Summary.Pushed, j.Summary.Skipped, j.Summary.Failed = s.Paths, s.Pushed, s.Skipped, s.Failed
		j.Summary.NarBytes, j.Summary.FileBytes, j.Summary.Uploaded, j.Summary.Seconds = s.NarBytes, s.FileBytes, s.Uploaded, s.Duration.Seconds()
		ui.mu.Lock()
		json.NewEncoder(ui.out).Encode(j)
		ui.mu.Unlock()
		return
	}
	if s.Paths == 0 || ui.aborted && s.Pushed == 0 {
		return // it never started, or nothing was pushed: the error says why
	}
	rate := ""
	if secs := s.Duration.Seconds(); secs > 0 && s.NarBytes > 0 {
		rate = fmt.Sprintf(", %.1f MB/s of NAR", float64(s.NarBytes)/secs/1e6)
	}
	ui.line(fmt.Sprintf("pushed %d paths (%s of NAR, %s sent), skipped %d, failed %d, in %.1fs%s",
		s.Pushed, mib(s.NarBytes), mib(s.Uploaded), s.Skipped, s.Failed, s.Duration.Seconds(), rate))
}
