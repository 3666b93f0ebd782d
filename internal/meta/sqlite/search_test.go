package sqlite

import (
	"strings"
	"testing"
)

// TestSearchUsesIndexes: the console's search and recent pushes read
// ranges of indexes, never the whole bucket, as EXPLAIN QUERY PLAN shows.
func TestSearchUsesIndexes(t *testing.T) {
	s := openTemp(t)
	for _, tc := range []struct {
		q     string
		args  []any
		index string
	}{
		{qSearchHash, []any{"b", "0a", "0a\x7f", 10}, "sqlite_autoindex_narinfos_1"}, // the primary key (0013)
		{qSearchName, []any{"b", "hello", "hello\x7f", 10}, "narinfos_name"},
		{qRecentNarinfos, []any{"b", 10}, "narinfos_created"},
	} {
		plan := queryPlan(t, s, tc.q, tc.args...)
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, tc.index) || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("plan of %.60s…: %s; want a search of %s and no sort", tc.q, all, tc.index)
		}
	}
}
