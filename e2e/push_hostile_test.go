package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hostileS3Messages are what a hostile or broken S3 endpoint puts in its
// errors' Message: 7-bit escape sequences (a CSI, ESC [, and an OSC that
// would set the window title), which XML 1.0 forbids, so that an XML
// decoder may refuse the whole answer; the 8-bit CSI (U+009B) and another
// C1 control (U+0085, NEL: a line break to some terminals), which XML
// allows, raw or as character references; and a forged second line.
var hostileS3Messages = []string{
	"evil \x1b[31mred\x1b[0m \u009b2J \x1b]0;title\x07 \r\nnixbucket: forged line",
	"evil \u009b31mred\u009b0m \u00852J\u0085 \r\nnixbucket: forged line",
	"evil &#x9b;31mred&#x9b;0m &#x85;2J &#xd;&#xa;nixbucket: forged line",
}

// TestPushHostileS3Errors pushes with s3:// to a fake S3 endpoint whose
// errors carry terminal escape sequences in their Message, in the XML both
// as characters and as character references: what push prints, on
// standard error as text and on standard output as --json, holds none of
// them, whichever of its ways (an error of one path, or of the whole push)
// the SDK's error reaches the terminal by.
func TestPushHostileS3Errors(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	c := nixBuildClosure(t, 1, 1, "push-hostile")
	uploads := func(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost }
	reads := func(r *http.Request) bool { return r.Method == http.MethodGet }
	type refusal struct {
		name   string
		refuse func(r *http.Request) bool // which requests get the error
		msg    string
	}
	var cases []refusal
	for i, msg := range hostileS3Messages {
		cases = append(cases, refusal{fmt.Sprintf("uploads refused, message %d", i), uploads, msg},
			refusal{fmt.Sprintf("reads refused, message %d", i), reads, msg})
	}
	for _, tt := range cases {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodHead && r.URL.Path == "/nix-cache": // HeadBucket
				return
			case tt.refuse(r):
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusBadRequest) // not retried
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>InvalidArgument</Code><Message>%s</Message><RequestId>1</RequestId></Error>", tt.msg)
			case r.Method == http.MethodGet && r.URL.Path == "/nix-cache/nix-cache-info":
				fmt.Fprint(w, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
			default:
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusNotFound)
				if r.Method != http.MethodHead {
					fmt.Fprint(w, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
				}
			}
		}))
		env := pushEnv(t, pushAWSFiles(t, "cache-upload", "AKHOSTILE", "hostile-secret", "us-east-1")...)
		url := fmt.Sprintf("s3://nix-cache?profile=cache-upload&endpoint=%s&scheme=http", fake.Listener.Addr())
		for _, args := range [][]string{{"--to", url, c.Top}, {"--json", "--to", url, c.Top}} {
			r := pushRun(t, env, args...)
			if r.Err == nil {
				t.Errorf("%s: push %v succeeded", tt.name, args)
			}
			outs := map[string]string{"standard error": r.Stderr, "standard output": r.Stdout}
			if args[0] == "--json" {
				for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
					var p pushPathLine
					if line != "" && json.Unmarshal([]byte(line), &p) == nil && p.Error != "" {
						outs["the --json error of "+p.Path] = p.Error
					}
				}
			}
			for name, out := range outs {
				if i := strings.IndexFunc(out, func(r rune) bool {
					return r < ' ' && r != '\n' || r >= 0x7f && r < 0xa0
				}); i >= 0 {
					t.Errorf("%s: push %v printed a control character in %s at %d: %q", tt.name, args, name, i, out)
				}
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, "nixbucket: forged") {
						t.Errorf("%s: push %v printed a forged line in %s: %q", tt.name, args, name, out)
					}
				}
			}
			t.Logf("%s: push %v:\n%s%s", tt.name, args, r.Stdout, r.Stderr)
		}
		fake.Close()
	}
}
