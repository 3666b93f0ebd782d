package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestAcksBatched: notes a listener hears at once are acknowledged in a
// few NOTIFYs naming several ids each, if the writer says it reads them
// so (objNote.Many); a writer that does not gets one NOTIFY per note.
func TestAcksBatched(t *testing.T) {
	url := testenv.Postgres(t)
	b := openAt(t, url)
	spy, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close(context.Background())
	const many, single = objAckChannel + "_spymany", objAckChannel + "_spyone"
	if _, err := spy.Exec(t.Context(), `LISTEN `+many+`; LISTEN `+single); err != nil {
		t.Fatal(err)
	}
	const n = 50
	// send sends n notes of writer w in one transaction, so that they
	// reach b's listener together, and returns their ids.
	send := func(w, ack string, m bool) []string {
		t.Helper()
		var ids, payloads []string
		for i := range n {
			id := fmt.Sprintf("%s.%d", w, i)
			p := fmt.Sprintf(`{"i":%q,"f":%q,"b":"bk","k":["k%d"],"a":%q,"m":%t}`, id, w, i, ack, m)
			ids, payloads = append(ids, id), append(payloads, p)
		}
		if _, err := spy.Exec(t.Context(), `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS t(p)`, objChannel, payloads); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	// heard waits for the acknowledgements of ids on ch, and returns how
	// many NOTIFYs brought them.
	heard := func(ch string, ids []string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		notes := 0
		for len(want) > 0 {
			nt, err := spy.WaitForNotification(ctx)
			if err != nil {
				t.Fatalf("%d acknowledgements missing on %s: %v", len(want), ch, err)
			}
			if nt.Channel != ch {
				t.Fatalf("acknowledgement on %s, want %s", nt.Channel, ch)
			}
			if nt.PID != b.gen.objs.ownPID.Load() {
				t.Fatalf("acknowledgement from backend %d, want b's listener %d", nt.PID, b.gen.objs.ownPID.Load())
			}
			notes++
			for _, id := range strings.Split(nt.Payload, " ") {
				if !want[id] {
					t.Fatalf("acknowledgement of %q, unknown or twice", id)
				}
				delete(want, id)
			}
		}
		return notes
	}
	m0, _ := b.ObjectMark("")
	ids := send("spymany", many, true)
	got := heard(many, ids)
	t.Logf("%d notes heard at once: %d NOTIFYs", n, got)
	if got > 3 {
		t.Errorf("%d notes heard at once acknowledged in %d NOTIFYs, want at most 3", n, got)
	}
	ids = send("spyone", single, false)
	if got := heard(single, ids); got != n {
		t.Errorf("%d notes of a writer that reads one id per acknowledgement acknowledged in %d NOTIFYs, want %d", n, got, n)
	}
	// Every key was logged.
	var keys []string
	b.gen.objs.changes(m0, func(bucket, key string) { keys = append(keys, key) })
	if len(keys) != 2*n || !slices.Contains(keys, "k49") {
		t.Errorf("%d keys logged, want %d", len(keys), 2*n)
	}
}

// TestAckBatchPayloads: ids share a payload up to objPayloadMax, per
// channel; a writer that reads one id gets one per payload.
func TestAckBatchPayloads(t *testing.T) {
	var b ackBatch
	long, third := strings.Repeat("x", 3400), "a."+strings.Repeat("y", 200)
	b.object("w1", "a."+long, true)
	b.object("w2", "b.1", true)
	b.object("w1", "a."+long+"2", true)
	b.object("w1", third, true) // over objPayloadMax with the first two
	b.object("old", "o.1", false)
	b.object("old", "o.2", false)
	want := []string{"w1", "w2", "w1", "old", "old"}
	if !slices.Equal(b.chans, want) {
		t.Fatalf("channels %q, want %q", b.chans, want)
	}
	if b.payloads[0] != "a."+long+" a."+long+"2" || b.payloads[2] != third || b.payloads[3] != "o.1" || b.payloads[4] != "o.2" {
		t.Errorf("payloads %.60q", b.payloads)
	}
	for _, p := range b.payloads {
		if len(p) > objPayloadMax {
			t.Errorf("payload of %d bytes", len(p))
		}
	}
}
