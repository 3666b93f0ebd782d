# Evaluates contrib/nixos/module.nix without nixpkgs: a stub of the few
# nixpkgs lib functions it uses (same names and meaning, simplified), and
# the module's own option defaults merged under the test's settings.
# nix-instantiate --eval --strict --json e2e/testdata/nixos-module-eval.nix \
#   --arg module ./contrib/nixos/module.nix --argstr listen 0.0.0.0:443 ...
{ module, listen ? null, dataDir ? null, openFirewall ? false, extraFlags ? [ ] }:
let
  last = l: builtins.elemAt l (builtins.length l - 1);
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  lib = {
    inherit last hasPrefix;
    mkEnableOption = name: { _option = true; default = false; description = "Whether to enable ${name}."; };
    mkOption = o: o // { _option = true; };
    mkIf = condition: content: { _if = true; inherit condition content; };
    types = {
      package = "package"; str = "str"; path = "path"; bool = "bool";
      listOf = t: "listOf ${t}"; nullOr = t: "nullOr ${t}";
    };
    toInt = s: builtins.fromJSON s;
    splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
    removePrefix = p: s:
      if hasPrefix p s then builtins.substring (builtins.stringLength p) (builtins.stringLength s) s else s;
    optional = cond: x: if cond then [ x ] else [ ];
    escapeShellArgs = args: builtins.concatStringsSep " "
      (map (a: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] a + "'") args);
  };
  set = (if listen == null then { } else { inherit listen; })
    // (if dataDir == null then { } else { inherit dataDir; });
  defaults = builtins.mapAttrs (n: o: o.default or null) (evaluated.options.services.nixbucket);
  cfg = defaults // set // {
    enable = true;
    inherit openFirewall extraFlags;
    package = "/nix/store/00000000000000000000000000000000-nixbucket";
    environmentFile = null;
  };
  config = { services.nixbucket = cfg; };
  evaluated = import module { inherit config lib; pkgs = { coreutils = "/nix/store/coreutils"; }; };
  c = evaluated.config;
in
{
  options = builtins.attrNames evaluated.options.services.nixbucket;
  enabled = c.condition;
  service = c.content.systemd.services.nixbucket.serviceConfig;
  firewall = c.content.networking.firewall.allowedTCPPorts;
}
