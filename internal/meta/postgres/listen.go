package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The listener connection (see gen.go and objwatch.go for what it hears).
//
// Every write through another node brings this node's listener a note to
// acknowledge, and every NOTIFY, whatever its channel, wakes every
// listening backend of the database (PostgreSQL signals them all, and each
// reads the queue to find what is its own). So the listener acknowledges
// in batches: it takes up every notification it has received, then sends
// the acknowledgements of all of them in one statement; the notifications
// that arrive while that statement runs are the next batch. A lone write
// is acknowledged at once, as before; under many writes at once, each
// acknowledging round trip (and each wake-up of every listener) serves
// several. The acknowledgements do not need to outlive a crash of
// PostgreSQL (the listeners die with it), so the listener's session
// commits them without waiting for the WAL flush (synchronous_commit off).

// listenConn is the listener's connection, and the notifications received
// on it that serve has not taken up yet.
type listenConn struct {
	*pgx.Conn
	queue []*pgconn.Notification
}

// loop serves the listener connection, and reconnects when it is lost.
func (a *announcer) loop(conn *listenConn) {
	for {
		err := a.serve(conn)
		if a.ctx.Err() == nil {
			a.lost.Add(1) // before live: whoever sees it away sees it counted
		}
		a.live.Store(false)
		a.objs.liveAt.Store(0)
		conn.Close(context.Background())
		if a.ctx.Err() != nil {
			return
		}
		slog.Warn("metadata: change listener lost; reading the generation per request until it is back", "err", err)
		for {
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(reconnectWait):
			}
			if conn, err = a.connect(a.ctx); err == nil {
				slog.Info("metadata: change listener back")
				break
			}
		}
	}
}

// connect opens a listener connection, LISTENs, then catches up with the
// table, and marks the announcer live.
func (a *announcer) connect(ctx context.Context) (*listenConn, error) {
	lc := &listenConn{}
	cfg := a.cfg.Copy()
	cfg.RuntimeParams["synchronous_commit"] = "off"
	// Every notification goes to the queue, whichever call reads it.
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { lc.queue = append(lc.queue, n) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	lc.Conn = conn
	var g int64
	if _, err = conn.Exec(ctx, `LISTEN `+genChannel+`; LISTEN `+ackChannel+`; LISTEN `+objChannel+`; LISTEN `+objAckChannel+`; LISTEN `+a.objs.ackChannel()+`; LISTEN `+a.ping); err == nil {
		err = conn.QueryRow(ctx, `SELECT gen FROM generation`).Scan(&g)
	}
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_notify($1, $2)`, ackChannel, strconv.FormatInt(g, 10))
	}
	if err == nil {
		// This listener registers the buckets it keeps answers about
		// (watchers.go): the row for the bucket "" says so. The rows of
		// listeners that are gone go first, so that a listener of an
		// earlier version given a gone one's PID is not taken for one
		// that registers.
		_, err = conn.Exec(ctx, qDropGoneWatchers, listenApp)
	}
	if err == nil {
		_, err = conn.Exec(ctx, `INSERT INTO object_watchers (bucket, pid) VALUES ('', pg_backend_pid()) ON CONFLICT DO NOTHING`)
	}
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	a.raise(uint64(g))
	a.heard()
	a.objs.connected(conn.PgConn().PID(), int64(time.Since(a.base)))
	a.live.Store(true)
	return lc, nil
}

// serve handles notifications until the connection fails or stop: each
// batch is every notification received, taken up in order, then their
// acknowledgements in one statement (see the top of this file).
func (a *announcer) serve(lc *listenConn) error {
	var acks ackBatch
	for {
		if len(lc.queue) == 0 {
			if err := lc.PgConn().WaitForNotification(a.ctx); err != nil {
				return err
			}
		}
		batch := lc.queue
		lc.queue = nil
		for _, n := range batch {
			if err := a.take(n, &acks); err != nil {
				return err
			}
		}
		if err := acks.send(a.ctx, lc.Conn); err != nil {
			return err
		}
	}
}

// take takes up one notification, and adds what acknowledges it to acks.
func (a *announcer) take(n *pgconn.Notification, acks *ackBatch) error {
	switch n.Channel {
	case a.ping:
		a.heard()
		return nil
	case objChannel:
		a.heard()
		if h := heardHook.Load(); h != nil {
			(*h)(a)
		}
		a.heardObjects(n.Payload, acks)
		return nil
	case objAckChannel, a.objs.ackChannel():
		a.objs.acked(n.Payload, n.PID)
		return nil
	}
	g, err := strconv.ParseUint(n.Payload, 10, 64)
	if err != nil {
		return fmt.Errorf("notification on %s: %w", n.Channel, err)
	}
	switch n.Channel {
	case genChannel:
		if h := heardHook.Load(); h != nil {
			(*h)(a)
		}
		a.raise(g)
		a.heard()
		acks.gen, acks.heard = max(acks.gen, g), true
	case ackChannel:
		a.mu.Lock()
		if g > a.acks[n.PID] {
			a.acks[n.PID] = g
			close(a.changed)
			a.changed = make(chan struct{})
		}
		a.mu.Unlock()
	}
	return nil
}

// ackBatch is the acknowledgements of one batch of notifications.
type ackBatch struct {
	// gen is the highest generation heard, if heard: a writer waits for
	// a value at least its own (announced), so one acknowledges all.
	gen   uint64
	heard bool
	// chans and payloads are the object notes' acknowledgements, by
	// channel; open is, by channel, the payload that may take more ids.
	chans, payloads []string
	open            map[string]int
}

// object adds the acknowledgement of the object note id on channel ch;
// several share a payload, separated by spaces, if the writer reads them
// so (objNote.Many).
func (b *ackBatch) object(ch, id string, many bool) {
	if many {
		if i, ok := b.open[ch]; ok && len(b.payloads[i])+1+len(id) <= objPayloadMax {
			b.payloads[i] += " " + id
			return
		}
		if b.open == nil {
			b.open = make(map[string]int)
		}
		b.open[ch] = len(b.payloads)
	}
	b.chans = append(b.chans, ch)
	b.payloads = append(b.payloads, id)
}

// send sends the batch's acknowledgements, if any, in one statement, and
// empties it.
func (b *ackBatch) send(ctx context.Context, conn *pgx.Conn) error {
	if b.heard {
		b.chans = append(b.chans, ackChannel)
		b.payloads = append(b.payloads, strconv.FormatUint(b.gen, 10))
	}
	var err error
	switch len(b.chans) {
	case 0:
		return nil
	case 1:
		_, err = conn.Exec(ctx, `SELECT pg_notify($1, $2)`, b.chans[0], b.payloads[0])
	default:
		_, err = conn.Exec(ctx, `SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)`, b.chans, b.payloads)
	}
	b.gen, b.heard = 0, false
	b.chans, b.payloads = b.chans[:0], b.payloads[:0]
	clear(b.open)
	return err
}

// ackedIDs calls fn for each id an acknowledgement's payload names.
func ackedIDs(payload string, fn func(id string)) {
	for id := range strings.SplitSeq(payload, " ") {
		if id != "" {
			fn(id)
		}
	}
}
