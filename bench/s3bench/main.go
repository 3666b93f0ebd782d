// Command s3bench drives two S3 servers side by side with the same
// aws-sdk-go-v2 client and prints a markdown table of ops/s, MB/s and the
// ratio of the first server to the second for each (operation, object size,
// concurrency) cell. The two servers run each cell back to back, alternating
// which goes first from round to round, so slow drift of the machine hits
// both alike. With -rss it also has N clients PUT one large object each,
// concurrently, while sampling each server's VmRSS from /proc.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// endpointFlags describe one server on the command line.
type endpointFlags struct {
	name, endpoint, access, secret, credFile string
	pid                                      int
	cpu                                      string
}

func (e *endpointFlags) register(prefix, defName string) {
	flag.StringVar(&e.name, prefix+"-name", defName, "display name of server "+prefix)
	flag.StringVar(&e.endpoint, prefix+"-endpoint", "", "endpoint URL of server "+prefix+" (http://127.0.0.1:PORT)")
	flag.StringVar(&e.access, prefix+"-access", "", "access key id for server "+prefix)
	flag.StringVar(&e.secret, prefix+"-secret", "", "secret access key for server "+prefix)
	flag.StringVar(&e.credFile, prefix+"-credentials", "", "AWS shared-credentials file for server "+prefix+" (first profile is used)")
	flag.IntVar(&e.pid, prefix+"-pid", 0, "pid of server "+prefix+", to sample its memory (0: do not sample)")
	flag.StringVar(&e.cpu, prefix+"-cpu", "", "label=pid,... of the processes whose CPU time per operation the table gives for server "+prefix+" (the server, and any store behind it); the client's own is added")
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("s3bench: ")
	var a, b endpointFlags
	a.register("a", "nixbucket")
	b.register("b", "versitygw")
	var (
		bucket      = flag.String("bucket", "bench", "bucket to use on both servers")
		create      = flag.Bool("create-bucket", true, "create the bucket if it does not exist")
		region      = flag.String("region", "us-east-1", "region in the signature scope")
		sizesFlag   = flag.String("sizes", "4KiB,1MiB,64MiB", "object sizes")
		concFlag    = flag.String("concurrency", "1,16", "concurrency levels")
		opsFlag     = flag.String("ops", "put,get", "operations: put, get")
		duration    = flag.Duration("duration", 1500*time.Millisecond, "time budget per cell and server")
		maxOps      = flag.Int64("max-ops", 20000, "operation budget per cell and server")
		maxBytes    = flag.String("max-bytes", "2GiB", "byte budget per cell and server (caps the operation budget of large sizes)")
		rounds      = flag.Int("rounds", 3, "measure every cell this many times per server and report the median")
		checksum    = flag.String("checksum", "when_required", "SDK request checksum calculation and response validation: when_required or when_supported (the SDK default)")
		payload     = flag.String("payload", "signed", "PutObject payload mode in the table: signed (SDK default over http: hex SHA-256) or unsigned (UNSIGNED-PAYLOAD)")
		syncCells   = flag.Bool("sync", true, "call sync(2) between cells so one server's dirty pages are not flushed on the other's clock")
		rss         = flag.Bool("rss", false, "after the table, run the peak-RSS test against each server with a pid")
		rssOnly     = flag.Bool("rss-only", false, "run only the peak-RSS test")
		rssSizeFlag = flag.String("rss-size", "1GiB", "object size of the peak-RSS test")
		rssClients  = flag.Int("rss-clients", 16, "concurrent PUTs in the peak-RSS test")
		rssTimeout  = flag.Duration("rss-timeout", 150*time.Second, "time limit of the peak-RSS test per server")
		verbose     = flag.Bool("v", false, "log the headers of the first request of each method per server")
	)
	flag.Parse()

	sizes, err := parseList(*sizesFlag, parseSize)
	check(err)
	concs, err := parseList(*concFlag, func(s string) (int, error) { return strconv.Atoi(s) })
	check(err)
	ops := strings.Split(*opsFlag, ",")
	for _, op := range ops {
		if op != "put" && op != "get" {
			check(fmt.Errorf("unknown operation %q in -ops", op))
		}
	}
	mb, err := parseSize(*maxBytes)
	check(err)
	rssSize, err := parseSize(*rssSizeFlag)
	check(err)
	if *payload != "signed" && *payload != "unsigned" {
		check(fmt.Errorf("unknown -payload %q", *payload))
	}
	if *rounds < 1 {
		check(errors.New("-rounds must be at least 1"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	co := clientOptions{region: *region, checksum: *checksum, verbose: *verbose}
	var servers []*server
	for _, e := range []*endpointFlags{&a, &b} {
		if e.endpoint == "" {
			continue
		}
		check(e.loadCredentials())
		srv, err := newServer(ctx, e.name, e.endpoint, e.access, e.secret, e.pid, co)
		check(err)
		srv.cpu, err = parseCPUProcs(e.cpu)
		check(err)
		if len(srv.cpu) > 0 {
			srv.cpu = append(srv.cpu, cpuProc{label: "client"})
		}
		if *create {
			check(createBucket(ctx, srv, *bucket))
		}
		servers = append(servers, srv)
	}
	if len(servers) == 0 {
		check(errors.New("no server: give -a-endpoint and -b-endpoint"))
	}

	pat := newPattern(42)
	if !*rssOnly {
		lim := limits{duration: *duration, maxOps: *maxOps, maxBytes: mb}
		tb := &tableRun{servers: servers, bucket: *bucket, lim: lim, rounds: *rounds,
			unsigned: *payload == "unsigned", sync: *syncCells}
		err := tb.run(ctx, ops, sizes, concs, pat)
		tb.print(os.Stdout, co, *payload) // the rows measured so far, even after an error
		check(err)
	}
	if *rss || *rssOnly {
		fmt.Printf("\n### Peak RSS: %d clients each PUT one %s object (UNSIGNED-PAYLOAD, streamed from a generator)\n\n",
			*rssClients, formatSize(rssSize))
		fmt.Println("| server | objects | ok | time | MB/s | RSS before | peak VmRSS (100 ms samples) | VmHWM |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
		for _, srv := range servers {
			if ctx.Err() != nil {
				break
			}
			if *syncCells {
				syscall.Sync()
			}
			log.Printf("%s: peak-RSS test: %d × %s", srv.name, *rssClients, formatSize(rssSize))
			res := runRSS(ctx, srv, *bucket, *rssClients, rssSize, *rssTimeout, pat)
			fmt.Print(res.report())
		}
		for _, srv := range servers {
			if h := srv.wire.firstHeaders("PutObject-unsigned"); h != "" {
				fmt.Printf("\n%s large PUT sent: %s\n", srv.name, h)
			}
		}
	}
}

// loadCredentials fills access and secret from credFile when they are not given.
func (e *endpointFlags) loadCredentials() error {
	if e.credFile == "" || (e.access != "" && e.secret != "") {
		if e.access == "" || e.secret == "" {
			return fmt.Errorf("server %s: give -access and -secret or -credentials", e.name)
		}
		return nil
	}
	f, err := os.Open(e.credFile)
	if err != nil {
		return fmt.Errorf("server %s: %w", e.name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	profiles := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			profiles++
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || profiles > 1 {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			e.access = strings.TrimSpace(v)
		case "aws_secret_access_key":
			e.secret = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("server %s: read %s: %w", e.name, e.credFile, err)
	}
	if e.access == "" || e.secret == "" {
		return fmt.Errorf("server %s: no aws_access_key_id/aws_secret_access_key in %s", e.name, e.credFile)
	}
	return nil
}

// createBucket creates bucket, accepting that it already exists.
func createBucket(ctx context.Context, srv *server, bucket string) error {
	_, err := srv.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s on %s: %w", bucket, srv.name, err)
	}
	return nil
}

// parseSize parses a byte count such as 4KiB, 64MiB, 1GiB, 1KB or 123.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// formatSize renders n with the largest binary unit that divides it.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("parse list %q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
