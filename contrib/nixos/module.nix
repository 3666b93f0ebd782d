# NixOS module for nixbucket. Import it and set at least `package`:
#
#   imports = [ ./contrib/nixos/module.nix ];
#   services.nixbucket = {
#     enable = true;
#     package = pkgs.buildGoModule { … };   # or any derivation with bin/nixbucket
#     listen = "0.0.0.0:9000";
#     openFirewall = true;
#   };
#
# The unit matches contrib/systemd/nixbucket.service: Type=notify (the
# server sends READY=1 once the port accepts connections), a dedicated
# user, and the process may write only its data directory.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.nixbucket;
  inherit (lib) mkEnableOption mkIf mkOption types;
  port = lib.toInt (lib.last (lib.splitString ":" cfg.listen));
  isStateDir = lib.hasPrefix "/var/lib/" cfg.dataDir;
in
{
  options.services.nixbucket = {
    enable = mkEnableOption "nixbucket, an S3-compatible Nix binary cache";

    package = mkOption {
      type = types.package;
      description = "The nixbucket package (its bin/nixbucket is run).";
    };

    listen = mkOption {
      type = types.str;
      default = "127.0.0.1:9000";
      example = "0.0.0.0:9000";
      description = "Address to listen on (`nixbucket serve --listen`).";
    };

    dataDir = mkOption {
      type = types.path;
      default = "/var/lib/nixbucket";
      description = ''
        Data directory (`--data`): blobs/, meta.db, credentials, netrc.
        Under /var/lib it is the unit's StateDirectory; elsewhere it must
        exist, owned by the nixbucket user, mode 0700.
      '';
    };

    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--log-level" "debug" "--min-free" "5%" ];
      description = "More arguments to `nixbucket serve`.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP port of `listen` in the firewall.";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/nixbucket.env";
      description = "A file of NIXBUCKET_* environment variables (systemd EnvironmentFile=).";
    };
  };

  config = mkIf cfg.enable {
    users.users.nixbucket = {
      isSystemUser = true;
      group = "nixbucket";
      home = cfg.dataDir;
      description = "nixbucket binary cache";
    };
    users.groups.nixbucket = { };

    networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall port;

    systemd.services.nixbucket = {
      description = "nixbucket: S3-compatible Nix binary cache";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = lib.escapeShellArgs ([
          "${cfg.package}/bin/nixbucket" "serve"
          "--listen" cfg.listen
          "--data" cfg.dataDir
        ] ++ cfg.extraFlags);
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        TimeoutStopSec = "45s";
        EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
        User = "nixbucket";
        Group = "nixbucket";
        StateDirectory = lib.optional isStateDir (lib.removePrefix "/var/lib/" cfg.dataDir);
        StateDirectoryMode = "0700";
        ReadWritePaths = lib.optional (!isStateDir) cfg.dataDir;
        WorkingDirectory = cfg.dataDir;
        UMask = "0077";
        LimitNOFILE = 65536;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
        CapabilityBoundingSet = if port < 1024 then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
        AmbientCapabilities = lib.optional (port < 1024) "CAP_NET_BIND_SERVICE";
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
