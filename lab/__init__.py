"""The local lab behind scripts/lab: three systemd-nspawn hosts, pbx01, im and vault (an SFTP
server for the IM host's backups), on a private bridge.

Python 3 standard library only; runs as root. See docs/lab.md.
  config      the fixed facts (paths, bridge, addresses, the image's packages)
  common      LabError, log, sh (run a command), write (a file, atomically)
  state       the state file, the run directory, process and mount probes
  image       preflight checks and the cached debootstrap root image
  network     the bridge and the hosts' addresses
  keys        per-lab secrets (operator and backup keys, host keys, TLS certificate, known_hosts)
  provision   a host's identity and command logs in its writable copy; the vault's account and
              its append-only rest-server (scripts/install-rest-server builds it once)
  standins    pbx01's stand-ins (im.sh, the PBX REST API; tests/lab/standin)
  hosts       boot, wait for, stop and reset the nspawn hosts
  faults      the fault catalogue, planting and clearing
  lifecycle   up, down, reset
  cli         the commands and their usage (main)
"""
