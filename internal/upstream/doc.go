// Package upstream fetches narinfos and NARs from upstream binary caches
// (http, https and s3 URLs), checks them, and hands the checked bytes to
// the caller: pull-through buckets store them in the bucket, and
// `nixbucket proxy` keeps them in its disk cache.
//
// Two layers. A Source is one upstream cache and knows only transport:
// Open a key (optionally a byte range) and get a streaming body, or
// ErrNotFound. A Fetcher holds an ordered list of Sources (first is
// preferred) and knows Nix: Narinfo asks the sources in order, parses the
// answer with internal/nix/narinfo (bounded to narinfo.MaxSize), checks
// that it names the asked hash and carries a signature by a trusted key
// (unless TrustAny, or the path is content-addressed as its CA says), and remembers misses for NegativeTTL. FetchNAR starts
// (or joins) the one download of a NAR file.
//
// The NAR download is the heart of it, shaped by what pull-through caches
// get wrong:
//
//   - One download per NAR however many callers ask at once
//     (singleflight, keyed by source and URL); later callers join it.
//   - Bytes go to a temp file in a caller-given directory as they arrive,
//     and every reader streams from that file while it grows: a reader at
//     offset X waits until X is written or the download ends. Nothing is
//     downloaded-then-served.
//   - No reader ever receives the last byte it asked for before the whole
//     file has been checked (FileSize, FileHash, and the NarHash and
//     NarSize it decodes to, narcheck.go). On a mismatch or an upstream failure every reader
//     gets an error instead, so an HTTP layer cuts the connection rather
//     than completing a 200 of bad bytes; the temp file is removed and the
//     caller's Sink is aborted. Only verified bytes reach Sink.Commit.
//     With NARRequest.EarlyRelease (pull-through buckets) the readers'
//     last bytes go as soon as the file is verified and the Commit runs
//     behind them; without it (the proxy, whose cache must hold a file
//     once a client has it whole) they wait for the Commit.
//   - A reader copied into an io.ReaderFrom (an HTTP response) hands it
//     each span that has arrived as a file, so it goes out by sendfile.
//
// Upstream failures (connection refused, timeouts, 5xx) are returned as
// errors matching ErrUnavailable, distinct from ErrNotFound, so callers
// can answer a fast 404 and Nix moves on to its next substituter; both are
// logged and counted in Stats.
//
// Timeouts: Connect bounds the TCP (and TLS) handshake, FirstByte the wait
// for response headers, and Idle the time a body may stall between two
// reads before the download is cut. A narinfo request waits for its answer
// NarinfoTimeout at most (3 s by default), shorter than FirstByte: a
// substituter waits on it, and an upstream that accepts connections but
// does not answer is better taken for down (and skipped for DownFor) than
// waited for; NAR downloads keep FirstByte. Each source allows MaxConns NAR
// (and other file) requests at once and, apart from those, MaxConns
// narinfo requests, so that a lookup never queues behind downloads;
// callers beyond that wait (bounded by their context).
package upstream
