package narinfo_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// Written by Nix 2.8 (nix copy --to file://…?secret-key=…), in testdata.
const realLayer2 = `StorePath: /nix/store/xpaid9s2kgics391dr37n3ajn9hzxv9b-nixfmt-layer-2
URL: nar/046xihylfbfpbqq160pc7p00161mihw64cbmlb06jnxr8h0dm0nx.nar.zst
Compression: zstd
FileHash: sha256:046xihylfbfpbqq160pc7p00161mihw64cbmlb06jnxr8h0dm0nx
FileSize: 1342344
NarHash: sha256:0p7pj6b2p10q17cfpxmmdlmhiav4p2719blsr8ykiwfr926pj5fp
NarSize: 3876760
References: 235iv3a397vyb9nfdy0vbv4igzzzalyc-nixfmt-layer-1 mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0
Deriver: 75gbsbxpc80qg58a6jx6cpvh6l61sjw7-nixfmt-layer-2.drv
Sig: test-key-1:Ll1nBMN4eM1p2Sk0zmveraBUc9kFLXR1wH46+NyjWH/+ZSdm30oiMl7UL9JSi0lWZG51ThgyG28VAz+/Z6cvAg==
`

var layer2 = narinfo.NarInfo{
	StorePath:   "/nix/store/xpaid9s2kgics391dr37n3ajn9hzxv9b-nixfmt-layer-2",
	URL:         "nar/046xihylfbfpbqq160pc7p00161mihw64cbmlb06jnxr8h0dm0nx.nar.zst",
	Compression: "zstd",
	FileHash:    "sha256:046xihylfbfpbqq160pc7p00161mihw64cbmlb06jnxr8h0dm0nx",
	FileSize:    1342344,
	NarHash:     "sha256:0p7pj6b2p10q17cfpxmmdlmhiav4p2719blsr8ykiwfr926pj5fp",
	NarSize:     3876760,
	References:  []string{"235iv3a397vyb9nfdy0vbv4igzzzalyc-nixfmt-layer-1", "mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0"},
	Deriver:     "75gbsbxpc80qg58a6jx6cpvh6l61sjw7-nixfmt-layer-2.drv",
	Sigs:        []string{"test-key-1:Ll1nBMN4eM1p2Sk0zmveraBUc9kFLXR1wH46+NyjWH/+ZSdm30oiMl7UL9JSi0lWZG51ThgyG28VAz+/Z6cvAg=="},
}

func TestParseReal(t *testing.T) {
	n, err := narinfo.Parse([]byte(realLayer2))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*n, layer2) {
		t.Fatalf("Parse = %+v\nwant %+v", *n, layer2)
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := n.String(); got != realLayer2 {
		t.Fatalf("String() =\n%s\nwant\n%s", got, realLayer2)
	}
	want := "1;/nix/store/xpaid9s2kgics391dr37n3ajn9hzxv9b-nixfmt-layer-2;sha256:0p7pj6b2p10q17cfpxmmdlmhiav4p2719blsr8ykiwfr926pj5fp;3876760;" +
		"/nix/store/235iv3a397vyb9nfdy0vbv4igzzzalyc-nixfmt-layer-1,/nix/store/mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0"
	if got := n.Fingerprint(); got != want {
		t.Errorf("Fingerprint() = %s\nwant %s", got, want)
	}
}

// TestTestdata checks every narinfo Nix 2.8 wrote into testdata: it parses,
// validates, is written back byte for byte, and its signature verifies with
// the key Nix made.
func TestTestdata(t *testing.T) {
	pubText, err := os.ReadFile("testdata/test-key-1.pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signature.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.narinfo")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := narinfo.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := n.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if got := n.String(); got != string(data) {
			t.Errorf("%s: String() =\n%s\nwant\n%s", f, got, data)
		}
		if len(n.Sigs) > 0 && !n.Verify(pub) {
			t.Errorf("%s: signature does not verify", f)
		}
		if filepath.Base(f) != n.StorePath[len("/nix/store/"):][:32]+".narinfo" {
			t.Errorf("%s: StorePath %s", f, n.StorePath)
		}
	}
}

func TestParseLenient(t *testing.T) {
	base := func(edit func(*narinfo.NarInfo)) narinfo.NarInfo {
		n := layer2
		n.References = append([]string(nil), layer2.References...)
		n.Sigs = append([]string(nil), layer2.Sigs...)
		edit(&n)
		return n
	}
	tests := []struct {
		name string
		in   string
		want narinfo.NarInfo
	}{
		{"no final newline", strings.TrimSuffix(realLayer2, "\n"), layer2},
		{"CRLF", strings.ReplaceAll(realLayer2, "\n", "\r\n"), layer2},
		{"blank lines and no space after colon",
			"\n" + strings.Replace(realLayer2, "URL: ", "URL:", 1) + "\n\n", layer2},
		{"hex hashes",
			strings.NewReplacer(
				"sha256:046xihylfbfpbqq160pc7p00161mihw64cbmlb06jnxr8h0dm0nx", "sha256:dd82da0044b95b69c0a2753162388c359800c03dec0213305ed72d473d8cdd10",
			).Replace(realLayer2),
			base(func(n *narinfo.NarInfo) {}),
		},
		{"SRI narhash",
			strings.Replace(realLayer2, "sha256:0p7pj6b2p10q17cfpxmmdlmhiav4p2719blsr8ykiwfr926pj5fp", "sha256-1xV5jUjZ8Tg9ypquFI64ZKsIK2219uvYCRiEK5aR91w=", 1),
			layer2},
		{"missing compression means bzip2",
			strings.Replace(realLayer2, "Compression: zstd\n", "", 1),
			base(func(n *narinfo.NarInfo) { n.Compression = "bzip2" })},
		{"unknown deriver",
			strings.Replace(realLayer2, "75gbsbxpc80qg58a6jx6cpvh6l61sjw7-nixfmt-layer-2.drv", "unknown-deriver", 1),
			base(func(n *narinfo.NarInfo) { n.Deriver = "" })},
		{"unknown keys kept, junk keys dropped",
			realLayer2 + "System: x86_64-linux\nFuture-Field: a b\nnot a key: x\n",
			base(func(n *narinfo.NarInfo) {
				n.System = "x86_64-linux"
				n.Extra = []narinfo.Field{{Key: "Future-Field", Value: "a b"}}
			})},
		{"several signatures, extra spaces in references",
			strings.Replace(realLayer2, "References: 235", "References:   235", 1) + "Sig: other:" + strings.Repeat("A", 86) + "==\n",
			base(func(n *narinfo.NarInfo) { n.Sigs = append(n.Sigs, "other:"+strings.Repeat("A", 86)+"==") })},
		{"no references, no sigs, modern Nix without FileHash",
			"StorePath: /nix/store/mn93sr7plzdna0k0lw5446hb7p3icrxn-x\nURL: nar/a.nar\nCompression: none\nNarHash: sha256:1kv8nvfrhqyfdzmc93y8qvrplpckpdd6wrmkmcazasbna12xmlnl\nNarSize: 5\nReferences: \n",
			narinfo.NarInfo{StorePath: "/nix/store/mn93sr7plzdna0k0lw5446hb7p3icrxn-x", URL: "nar/a.nar", Compression: "none",
				NarHash: "sha256:1kv8nvfrhqyfdzmc93y8qvrplpckpdd6wrmkmcazasbna12xmlnl", NarSize: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := narinfo.Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*n, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *n, tt.want)
			}
			if err := n.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no colon", "StorePath: /nix/store/x\ngarbage\n", "narinfo: line 2: no colon in \"garbage\""},
		{"bad size", "NarSize: 12a\n", `narinfo: NarSize: not a number: "12a"`},
		{"negative size", "FileSize: -1\n", `narinfo: FileSize: not a number: "-1"`},
		{"repeated", realLayer2 + "NarHash: sha256:0p7pj6b2p10q17cfpxmmdlmhiav4p2719blsr8ykiwfr926pj5fp\n", "narinfo: NarHash: repeated"},
		{"repeated references", realLayer2 + "References: \n", "narinfo: References: repeated"},
		{"too large", strings.Repeat("X: y\n", narinfo.MaxSize/5+1), "narinfo: larger than 1048576 bytes"},
		{"html", "<html><body>Not Found</body></html>", `narinfo: line 1: no colon in "<html><body>Not Found</body></html>"`},
	}
	for _, tt := range tests {
		_, err := narinfo.Parse([]byte(tt.in))
		var ne *narinfo.Error
		if err == nil || err.Error() != tt.want || !errors.As(err, &ne) {
			t.Errorf("%s: Parse error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	const sig = "test-key-1:Ll1nBMN4eM1p2Sk0zmveraBUc9kFLXR1wH46+NyjWH/+ZSdm30oiMl7UL9JSi0lWZG51ThgyG28VAz+/Z6cvAg=="
	tests := []struct {
		want string
		edit func(*narinfo.NarInfo)
	}{
		{"narinfo: StorePath: missing", func(n *narinfo.NarInfo) { n.StorePath = "" }},
		{"narinfo: StorePath: store path \"/nix/store/foo\": store path base name \"foo\" is not <hash>-<name>", func(n *narinfo.NarInfo) { n.StorePath = "/nix/store/foo" }},
		{"narinfo: URL: missing", func(n *narinfo.NarInfo) { n.URL = "" }},
		{"narinfo: URL: contains ' '", func(n *narinfo.NarInfo) { n.URL = "nar/a b.nar" }},
		{"narinfo: Compression: missing", func(n *narinfo.NarInfo) { n.Compression = "" }},
		{"narinfo: Compression: \"ZSTD!\" is not a compression method", func(n *narinfo.NarInfo) { n.Compression = "ZSTD!" }},
		{"narinfo: FileHash: not a sha256 hash", func(n *narinfo.NarInfo) { n.FileHash = "md5:3jgzhjhz9zjvbb0kyj7jc500ch" }},
		{"narinfo: FileHash: not in sha256:<nix32> form", func(n *narinfo.NarInfo) {
			n.FileHash = "sha256:dd82da0044b95b69c0a2753162388c359800c03dec0213305ed72d473d8cdd10"
		}},
		{"narinfo: NarHash: missing", func(n *narinfo.NarInfo) { n.NarHash = "" }},
		{"narinfo: NarHash: not a sha256 hash", func(n *narinfo.NarInfo) { n.NarHash = "sha1:kpcd173cq987hw957sx6m0868wv3x6d9" }},
		{`narinfo: NarHash: bad sha256 hash "sha256:xyz": 3 characters is not a sha256 length`, func(n *narinfo.NarInfo) { n.NarHash = "sha256:xyz" }},
		{"narinfo: NarSize: missing or zero", func(n *narinfo.NarInfo) { n.NarSize = 0 }},
		{"narinfo: References: store path base name \"nixfmt\" is not <hash>-<name>", func(n *narinfo.NarInfo) { n.References = []string{"nixfmt"} }},
		{"narinfo: References: mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0 is listed twice", func(n *narinfo.NarInfo) {
			n.References = []string{"mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0", "mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0"}
		}},
		{"narinfo: Deriver: store path name \"a b.drv\" contains the illegal character ' '", func(n *narinfo.NarInfo) {
			n.Deriver = "75gbsbxpc80qg58a6jx6cpvh6l61sjw7-a b.drv"
		}},
		{"narinfo: System: contains a control character", func(n *narinfo.NarInfo) { n.System = "x86_64\nlinux" }},
		{"narinfo: Sig: signature \"nosig\" is not name:base64", func(n *narinfo.NarInfo) { n.Sigs = []string{sig, "nosig"} }},
		{"narinfo: Sig: signature \"k\": 4 base-64 characters, want 88", func(n *narinfo.NarInfo) { n.Sigs = []string{"k:AAA="} }},
		{"narinfo: CA: \"sha256:abc\" is not a fixed: or text: content address", func(n *narinfo.NarInfo) { n.CA = "sha256:abc" }},
		{"narinfo: Bad Key: not a valid field name", func(n *narinfo.NarInfo) { n.Extra = []narinfo.Field{{Key: "Bad Key", Value: "v"}} }},
	}
	for _, tt := range tests {
		n, err := narinfo.Parse([]byte(realLayer2))
		if err != nil {
			t.Fatal(err)
		}
		tt.edit(n)
		err = n.Validate()
		var ne *narinfo.Error
		if err == nil || err.Error() != tt.want || !errors.As(err, &ne) {
			t.Errorf("Validate() = %v\nwant          %s", err, tt.want)
		}
	}
}

func TestFingerprintSortsReferences(t *testing.T) {
	n := layer2
	n.References = []string{layer2.References[1], layer2.References[0], layer2.References[1]}
	if n.Fingerprint() != layer2.Fingerprint() {
		t.Errorf("fingerprint depends on reference order:\n%s\n%s", n.Fingerprint(), layer2.Fingerprint())
	}
	n = layer2
	n.References = nil
	if !strings.HasSuffix(n.Fingerprint(), ";3876760;") {
		t.Errorf("Fingerprint() without references = %s", n.Fingerprint())
	}
}

func TestSignReplacesOwnName(t *testing.T) {
	k, err := signature.Generate("cache-1")
	if err != nil {
		t.Fatal(err)
	}
	n := layer2
	n.Sigs = []string{layer2.Sigs[0], "cache-1:" + strings.Repeat("A", 86) + "=="}
	n.Sign(k)
	n.Sign(k)
	if len(n.Sigs) != 2 || n.Sigs[0] != layer2.Sigs[0] || !k.Public().Verify(n.Fingerprint(), n.Sigs[1]) {
		t.Fatalf("Sigs after Sign = %q", n.Sigs)
	}
	if !n.Verify(k.Public()) {
		t.Fatal("Verify after Sign failed")
	}
	n.NarSize++
	if n.Verify(k.Public()) {
		t.Fatal("Verify accepted a tampered narinfo")
	}
}

// TestAllocs keeps Parse small: a handful of allocations (one copy of the
// input, the result, the References and Sigs slices; bounded with
// headroom, BenchmarkParse reports the exact figure) and a few times the
// input's size in bytes, where go-nix's parser takes 1 MiB per call.
func TestAllocs(t *testing.T) {
	data := []byte(realLayer2)
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(runs, func() {
		if _, err := narinfo.Parse(data); err != nil {
			t.Fatal(err)
		}
	})
	runtime.ReadMemStats(&after)
	if allocs > 8 {
		t.Errorf("Parse allocates %v times per call, want ≤ 8", allocs)
	}
	// AllocsPerRun makes one warm-up call besides the runs.
	if perCall := (after.TotalAlloc - before.TotalAlloc) / (runs + 1); perCall > uint64(4*len(data)+1024) {
		t.Errorf("Parse allocates %d bytes per call of a %d-byte narinfo", perCall, len(data))
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(realLayer2)
	b.ReportAllocs()
	for b.Loop() {
		n, err := narinfo.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzNarinfo(f *testing.F) {
	f.Add([]byte(realLayer2))
	f.Add([]byte(strings.ReplaceAll(realLayer2, "\n", "\r\n")))
	f.Add([]byte("StorePath: x\nFileSize: 0\nDeriver: unknown-deriver\nX-Y: z\nCompression:\n"))
	files, _ := filepath.Glob("testdata/*.narinfo")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := narinfo.Parse(data)
		if err != nil {
			return
		}
		valid := n.Validate() == nil
		s := n.String()
		n2, err := narinfo.Parse([]byte(s))
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v\n%q", err, s)
		}
		if !reflect.DeepEqual(n, n2) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", n, n2)
		}
		if s2 := n2.String(); s2 != s {
			t.Fatalf("String not stable:\n%q\n%q", s, s2)
		}
		if valid != (n2.Validate() == nil) {
			t.Fatalf("validity changed in a round trip")
		}
		if valid {
			_ = n.Fingerprint()
		}
	})
}

// TestErrorsBounded: a field may be up to MaxSize long, and its error goes
// back to whoever sent it; the message repeats only a little of it.
func TestErrorsBounded(t *testing.T) {
	huge := strings.Repeat("x", 200_000)
	for name, edit := range map[string]func(*narinfo.NarInfo){
		"StorePath":   func(n *narinfo.NarInfo) { n.StorePath = "/nix/store/" + huge },
		"Compression": func(n *narinfo.NarInfo) { n.Compression = huge + "!" },
		"FileHash":    func(n *narinfo.NarInfo) { n.FileHash = "sha256:" + huge },
		"References":  func(n *narinfo.NarInfo) { n.References = []string{huge} },
		"Sig":         func(n *narinfo.NarInfo) { n.Sigs = []string{huge} },
		"field name":  func(n *narinfo.NarInfo) { n.Extra = append(n.Extra, narinfo.Field{Key: huge + ":", Value: "v"}) },
	} {
		n := layer2
		n.References, n.Sigs = slices.Clone(n.References), slices.Clone(n.Sigs)
		edit(&n)
		err := n.Validate()
		if err == nil {
			t.Errorf("%s: valid", name)
			continue
		}
		if msg := err.Error(); len(msg) > 1000 {
			t.Errorf("%s: the error is %d bytes: %.120s…", name, len(msg), msg)
		}
	}
}
