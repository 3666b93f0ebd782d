package cacheaux

import "testing"

func TestKindOf(t *testing.T) {
	for key, want := range map[string]Kind{
		"debuginfo/abcdef0123456789abcdef0123456789abcdef01.debug": DebugInfo,
		"realisations/sha256:ab!out.doi":                           Realisation,
		"build-trace-v2/x.drv/out.doi":                             Realisation,
		"nar/x.nar.xz":                                             0,
		"log/x.drv":                                                0,
		"abc.ls":                                                   0,
	} {
		if got := KindOf(key); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	const h = "vhjmfv10dk9n4aajidz821l1kg641k9b"
	for _, c := range []struct {
		kind Kind
		body string
		want string // "" means an error
	}{
		// As Nix 2.8 writes them.
		{DebugInfo, `{"archive":"../nar/1jhd0m2p76540ydh0022dya1qs2dmyfwwhp83f0nd18ab99vk9id.nar.zst","member":"lib/debug/.build-id/ab/cd.debug"}`,
			"nar/1jhd0m2p76540ydh0022dya1qs2dmyfwwhp83f0nd18ab99vk9id.nar.zst"},
		{Realisation, `{"dependentRealisations":{},"id":"sha256:f6!out","outPath":"` + h + `-auxobj-t1-ca","signatures":[]}`, h},
		{Realisation, `{"outPath":"/nix/store/` + h + `-x"}`, h},
		{DebugInfo, `{"archive":"../../etc/passwd"}`, ""},
		{DebugInfo, `{"archive":"../x.narinfo"}`, ""},
		{DebugInfo, `{"member":"m"}`, ""},
		{DebugInfo, `not json`, ""},
		{Realisation, `{"outPath":"short"}`, ""},
		{Realisation, `{}`, ""},
	} {
		got, err := Parse(c.kind, []byte(c.body))
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("Parse(%v, %s) = %q, %v; want %q", c.kind, c.body, got, err, c.want)
		}
	}
}
