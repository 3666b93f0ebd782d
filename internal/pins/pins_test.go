package pins

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"release":                true,
		"v1.2.3+build_4-rc":      true,
		"A":                      true,
		strings.Repeat("a", 128): true,
		"":                       false,
		strings.Repeat("a", 129): false,
		".hidden":                false,
		"-flag":                  false,
		"a/b":                    false,
		"a b":                    false,
		"é":                      false,
		"a%2Fb":                  false,
		"release\n":              false,
	} {
		err := CheckName(name)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
