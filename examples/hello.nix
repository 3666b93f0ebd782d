# A derivation to try the cache with, needing no nixpkgs: nix-build examples/hello.nix
# Its name carries the build time, so every build makes a new store path
# (and a push really uploads something).
derivation {
  name = "nixbucket-hello-${toString builtins.currentTime}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo 'Hello from nixbucket' > $out" ];
}
