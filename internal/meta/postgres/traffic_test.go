package postgres

import (
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestMigrateTrafficSettings: the migration that adds the traffic table
// moves the counters kept as settings (traffic/NODE) into it, drops a
// setting it cannot read, deletes them all, and leaves other settings.
func TestMigrateTrafficSettings(t *testing.T) {
	ctx := t.Context()
	url := testenv.Postgres(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	before := -1
	for i, m := range ms {
		if strings.HasSuffix(m.Name, "_traffic.sql") {
			before = i
		}
	}
	if before < 0 {
		t.Fatal("no traffic migration")
	}
	// The schema as the program before the migration left it.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY,
		name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:before] {
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	for name, value := range map[string]string{
		"traffic/a1":  `{"v":1,"b":{"nix-cache":{"490000":{"r":3,"i":30,"o":300},"490001":{"r":1}},"(other)":{"490001":{"r":2,"o":5}}}}`,
		"traffic/bad": "not json",
		"traffic/odd": `{"v":1,"b":{"x":7,"y":{"z":{"r":1},"5":[1]}}}`,
		"account":     "123456789012",
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, name, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}

	s := openAt(t, url)
	var got []meta.TrafficHour
	if err := s.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []meta.TrafficHour{
		{Node: "a1", Bucket: "(other)", Hour: 490001, Requests: 2, BytesOut: 5},
		{Node: "a1", Bucket: "nix-cache", Hour: 490000, Requests: 3, BytesIn: 30, BytesOut: 300},
		{Node: "a1", Bucket: "nix-cache", Hour: 490001, Requests: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("traffic after the migration:\n got %+v\nwant %+v", got, want)
	}
	settings, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"account": "123456789012"}; !reflect.DeepEqual(settings, want) {
		t.Errorf("settings after the migration: %v, want %v", settings, want)
	}
}
