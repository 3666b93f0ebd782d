# Generations of a system for the garbage-collection tests: every
# generation N is gen-N → gen-N-lib → lib → base, and also refers to base,
# so generations share lib and base and each has two paths of its own.
# Each path holds kib KiB of random bytes (incompressible) and the store
# paths it refers to. `tag` changes every path, so runs do not collide.
{ gen ? "1", kib ? "64", tag ? "gc" }:
let
  mk = name: deps: derivation {
    name = "${tag}-${name}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" ''
      set -e
      /bin/mkdir -p $out
      /usr/bin/head -c ${kib}K /dev/urandom > $out/blob.bin
      : > $out/deps
      for d in ${builtins.concatStringsSep " " deps}; do echo $d >> $out/deps; done
    '' ];
  };
  base = mk "base" [ ];
  lib = mk "lib" [ base ];
  own = mk "gen-${gen}-lib" [ lib ];
in mk "gen-${gen}" [ own base ]
