package sqlite

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// oldTrafficSetting is a node's counters as traffic.Save wrote them into
// the settings before they had a table.
const oldTrafficSetting = `{"v":1,"b":{"nix-cache":{"490000":{"r":3,"i":30,"o":300},"490001":{"r":1}},"(other)":{"490001":{"r":2,"o":5}}}}`

// wantMigratedTraffic is what LoadTraffic returns after the migration
// moved oldTrafficSetting of node "a1" into the table.
var wantMigratedTraffic = []meta.TrafficHour{
	{Node: "a1", Bucket: "(other)", Hour: 490001, Requests: 2, BytesOut: 5},
	{Node: "a1", Bucket: "nix-cache", Hour: 490000, Requests: 3, BytesIn: 30, BytesOut: 300},
	{Node: "a1", Bucket: "nix-cache", Hour: 490001, Requests: 1},
}

// TestMigrateTrafficSettings: the migration that adds the traffic table
// moves the counters kept as settings (traffic/NODE) into it, drops a
// setting it cannot read, deletes them all, and leaves other settings.
func TestMigrateTrafficSettings(t *testing.T) {
	ctx := t.Context()
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
	s := openFromVersion(t, before,
		`INSERT INTO settings (name, value) VALUES ('traffic/a1', '`+oldTrafficSetting+`')`,
		`INSERT INTO settings (name, value) VALUES ('traffic/bad', 'not json')`,
		`INSERT INTO settings (name, value) VALUES ('traffic/odd', '{"v":1,"b":{"x":7,"y":{"z":{"r":1},"5":[1]}}}')`,
		`INSERT INTO settings (name, value) VALUES ('account', '123456789012')`)
	var got []meta.TrafficHour
	if err := s.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantMigratedTraffic) {
		t.Errorf("traffic after the migration:\n got %+v\nwant %+v", got, wantMigratedTraffic)
	}
	settings, err := s.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"account": "123456789012"}; !reflect.DeepEqual(settings, want) {
		t.Errorf("settings after the migration: %v, want %v", settings, want)
	}
}
