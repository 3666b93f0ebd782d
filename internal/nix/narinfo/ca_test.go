package narinfo

import "testing"

// TestCAPathMatches: paths Nix 2.8 made (nix-store --add, --add-fixed, a
// derivation), and the same with one thing changed.
func TestCAPathMatches(t *testing.T) {
	tests := []struct {
		name, path, ca string
		refs           []string
		ok             bool
	}{
		{"nix-store --add", "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.txt",
			"fixed:r:sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y", nil, true},
		{"nix-store --add-fixed sha256", "/nix/store/bil3a4fls3g9dzcda085f4rxigrzhv6a-flat.txt",
			"fixed:sha256:1sidb3kmabbsayi1iy1d06fsi9g81naccc3q0pjj2zlfcaysgdc5", nil, true},
		{"a derivation", "/nix/store/0069ds1xfdpm9i82ag10gacnifq8m6cx-nixe2e-gcrace-bc69f02a-gen-1.drv",
			"text:sha256:068hz4qndzv8my6075pvqydr0b8k6kwcsk27k380hp6s1ay3gi5k",
			[]string{"sfm2l17rda048da62i6fi9kwb1whd1f5-nixe2e-gcrace-bc69f02a-base.drv", "17jzvs5swacq21b005fj5r10a8hv7j4w-nixe2e-gcrace-bc69f02a-gen-1-lib.drv"}, true},
		{"a derivation less a reference", "/nix/store/0069ds1xfdpm9i82ag10gacnifq8m6cx-nixe2e-gcrace-bc69f02a-gen-1.drv",
			"text:sha256:068hz4qndzv8my6075pvqydr0b8k6kwcsk27k380hp6s1ay3gi5k",
			[]string{"17jzvs5swacq21b005fj5r10a8hv7j4w-nixe2e-gcrace-bc69f02a-gen-1-lib.drv"}, false},
		{"another hash", "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.txt",
			"fixed:r:sha256:1sidb3kmabbsayi1iy1d06fsi9g81naccc3q0pjj2zlfcaysgdc5", nil, false},
		{"another name", "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.tx",
			"fixed:r:sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y", nil, false},
		{"flat taken for recursive", "/nix/store/bil3a4fls3g9dzcda085f4rxigrzhv6a-flat.txt",
			"fixed:r:sha256:1sidb3kmabbsayi1iy1d06fsi9g81naccc3q0pjj2zlfcaysgdc5", nil, false},
		{"no CA", "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.txt", "", nil, false},
		{"sha1", "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.txt", "fixed:sha1:0mk21sjd6ps1096m2q0sp8r29fd0fsd0", nil, false},
	}
	for _, tt := range tests {
		n := &NarInfo{StorePath: tt.path, CA: tt.ca, References: tt.refs}
		if got := n.CAPathMatches(); got != tt.ok {
			t.Errorf("%s: CAPathMatches = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
