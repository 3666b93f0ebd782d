package nixgraph

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// h makes a 32-character hash from a short name, and ref its basename.
func h(name string) string   { return name + strings.Repeat("0", HashLen-len(name)) }
func ref(name string) string { return h(name) + "-" + name }

// build makes a graph from "path: refs..." lines, names for hashes.
func build(edges map[string][]string) *Graph {
	g := New()
	for p, refs := range edges {
		var rs []string
		for _, r := range refs {
			rs = append(rs, ref(r))
		}
		g.Add(h(p), rs)
	}
	return g
}

func names(hashes []string) []string {
	out := make([]string, len(hashes))
	for i, x := range hashes {
		out[i] = strings.TrimRight(x, "0")
	}
	return out
}

func set(ns ...string) Set {
	s := Set{}
	for _, n := range ns {
		s.Add(h(n))
	}
	return s
}

// The example graph: two applications sharing a library and libc.
//
//	app1 → lib → libc
//	app2 → lib, libc
//	tool → libc
//	app1 → app1 (self-reference)
var example = map[string][]string{
	"app1": {"app1", "lib"},
	"app2": {"lib", "libc"},
	"lib":  {"libc"},
	"libc": {},
	"tool": {"libc"},
}

func TestRefHash(t *testing.T) {
	for in, want := range map[string]string{
		ref("x"):                     h("x"),
		"/nix/store/" + ref("x"):     h("x"),
		"short":                      "short",
		h("y") + "-name-with-dashes": h("y"),
	} {
		if got := RefHash(in); got != want {
			t.Errorf("RefHash(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReferrersAndMissing(t *testing.T) {
	g := build(example)
	if got := names(sorted(g.Referrers(h("libc")))); !slices.Equal(got, []string{"app2", "lib", "tool"}) {
		t.Errorf("Referrers(libc) = %v", got)
	}
	if got := g.Referrers(h("app1")); len(got) != 0 {
		t.Errorf("Referrers(app1) = %v, want none (a self-reference does not count)", names(got))
	}
	if m := g.Missing(); len(m) != 0 {
		t.Errorf("Missing = %v, want none", m)
	}
	g.Add(h("broken"), []string{ref("gone"), ref("libc"), ref("also-gone")})
	want := map[string][]string{h("broken"): {h("also-gone"), h("gone")}}
	if m := g.Missing(); !reflect.DeepEqual(m, want) {
		t.Errorf("Missing = %v, want %v", m, want)
	}
	// Adding a path again replaces its references.
	g.Add(h("broken"), []string{ref("libc")})
	if m := g.Missing(); len(m) != 0 {
		t.Errorf("after re-Add: Missing = %v, want none", m)
	}
	if got := names(sorted(g.Referrers(h("libc")))); !slices.Equal(got, []string{"app2", "broken", "lib", "tool"}) {
		t.Errorf("after re-Add: Referrers(libc) = %v", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestPlans(t *testing.T) {
	g := build(example)
	for _, tc := range []struct {
		name      string
		set       Set
		referrers []string            // WithReferrers
		outside   map[string][]string // OutsideReferrers
		only      []string            // OnlyKept
	}{
		{"a root", set("app1"), []string{"app1"}, map[string][]string{}, []string{"app1"}},
		{"a shared library", set("lib"), []string{"app1", "app2", "lib"},
			map[string][]string{"lib": {"app1", "app2"}}, []string{"lib"}},
		{"libc", set("libc"), []string{"app1", "app2", "lib", "libc", "tool"},
			map[string][]string{"libc": {"app2", "lib", "tool"}}, []string{"libc"}},
		{"one of two users of lib", set("app2"), []string{"app2"}, map[string][]string{}, []string{"app2"}},
		{"both users of lib", set("app1", "app2"), []string{"app1", "app2"}, map[string][]string{},
			[]string{"app1", "app2", "lib"}}, // libc is still kept by tool
		{"everything but tool", set("app1", "app2", "tool"), []string{"app1", "app2", "tool"}, map[string][]string{},
			[]string{"app1", "app2", "lib", "libc", "tool"}},
		{"a path not in the graph", set("nowhere"), []string{"nowhere"}, map[string][]string{}, []string{"nowhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(g.WithReferrers(tc.set).Sorted()); !slices.Equal(got, tc.referrers) {
				t.Errorf("WithReferrers = %v, want %v", got, tc.referrers)
			}
			out := map[string][]string{}
			for k, v := range g.OutsideReferrers(tc.set) {
				out[names([]string{k})[0]] = names(v)
			}
			if !reflect.DeepEqual(out, tc.outside) {
				t.Errorf("OutsideReferrers = %v, want %v", out, tc.outside)
			}
			if got := names(g.OnlyKept(tc.set, nil).Sorted()); !slices.Equal(got, tc.only) {
				t.Errorf("OnlyKept = %v, want %v", got, tc.only)
			}
		})
	}
}

func TestOnlyKeptKeeps(t *testing.T) {
	g := build(example)
	young := set("lib")
	got := names(g.OnlyKept(set("app1", "app2", "tool"), young.Has).Sorted())
	// lib is kept, and libc with it, since lib still refers to it.
	if want := []string{"app1", "app2", "tool"}; !slices.Equal(got, want) {
		t.Errorf("OnlyKept keeping lib = %v, want %v", got, want)
	}
}

func TestDeleteOrder(t *testing.T) {
	g := build(example)
	check := func(s Set) []string {
		t.Helper()
		order := g.DeleteOrder(s)
		if len(order) != len(s) {
			t.Fatalf("DeleteOrder(%v) = %v: %d paths, want %d", names(s.Sorted()), names(order), len(order), len(s))
		}
		pos := map[string]int{}
		for i, x := range order {
			pos[x] = i
		}
		for _, x := range order {
			for _, r := range g.References(x) {
				if p, ok := pos[r]; ok && p < pos[x] {
					t.Errorf("DeleteOrder %v deletes %s before its referrer %s", names(order), names([]string{r}), names([]string{x}))
				}
			}
		}
		return names(order)
	}
	if got := check(set("app1", "app2", "lib", "libc", "tool")); !slices.Equal(got, []string{"app1", "app2", "lib", "tool", "libc"}) {
		t.Errorf("DeleteOrder(all) = %v", got)
	}
	check(set("lib", "libc"))
	check(set("libc"))
	// A cycle (Nix never makes one) still gives every path once.
	c := build(map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"a"}})
	if got := names(c.DeleteOrder(set("a", "b", "c"))); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("DeleteOrder(cycle) = %v, want [c a b]", got)
	}
}
