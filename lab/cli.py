"""The local lab: three systemd-nspawn hosts, pbx01, im and vault, on a private bridge.

    scripts/lab up            start (idempotent); prints the lab's facts, one per line
    scripts/lab down          stop everything `up` started (also after a crashed `up`)
    scripts/lab status        say what runs (exit 0 all up, 3 nothing, 1 partial)
    scripts/lab info          print the facts of a running lab again
    scripts/lab fault NAME    plant a fault (`scripts/lab fault list`); `fault clear` removes all
    scripts/lab reset HOST    return one host (im, pbx01 or vault) to its freshly-started state

Needs root, systemd-nspawn, nsenter, losetup, ssh-keygen, openssl and (to build the cached root
image once) debootstrap. See docs/lab.md. Python 3 standard library only.
"""

from __future__ import annotations

import os
import sys

from .common import LabError, log
from .config import API_PORT, BRIDGE, HOSTS, RUN
from .faults import FAULTS, clear_faults, disk_in_use, plant
from .hosts import lab_is_up, running_hosts
from .lifecycle import cmd_down, cmd_reset, cmd_up, info_lines, with_lock
from .network import bridge_exists, bridge_ports, tcp_answers
from .state import load_state, loop_of, our_nspawn_pids, save_state


def cmd_status(_args) -> int:
    st = load_state()
    run = running_hosts(st)
    br = bridge_exists()
    print(
        f"bridge {BRIDGE}: {'up' if br else 'absent'}"
        + (f" (ports: {', '.join(bridge_ports())})" if br else "")
    )
    for name, h in HOSTS.items():
        hs = st.get("hosts", {}).get(name, {})
        if name in run:
            ssh_ok = "ssh answers" if tcp_answers(h["ip"], 22) else "ssh NOT answering"
            extra = ""
            if name == "pbx01":
                extra = (
                    ", PBX API answers"
                    if tcp_answers(h["ip"], API_PORT)
                    else ", PBX API NOT answering"
                )
            print(
                f"{name}: running {h['ip']} (nspawn {hs['nspawn_pid']}, init {hs['init_pid']}), "
                f"{ssh_ok}{extra}"
            )
        else:
            stray = our_nspawn_pids(name)
            print(f"{name}: not running" + (f" (stray nspawn pids {stray})" if stray else ""))
    loops = loop_of(RUN / "im-data.img")
    print(f"data disk: {', '.join(loops) if loops else 'none'}")
    print(f"faults: {', '.join(st.get('faults', [])) or 'none'}")
    if lab_is_up(st):
        return 0
    if not run and not br and not loops:
        return 3
    return 1


def cmd_info(_args) -> int:
    st = load_state()
    if not lab_is_up(st):
        raise LabError("the lab is not up (scripts/lab up)")
    print("\n".join(info_lines(st)))
    return 0


@with_lock
def cmd_fault(args) -> int:
    if not args or args[0] in ("list", "-h", "--help"):
        for k, v in FAULTS.items():
            print(f"{k:18} {v}")
        print(f"{'clear':18} remove every planted fault")
        return 0
    st = load_state()
    if not lab_is_up(st) and not (
        st.get("complete") and args[0] in ("clear", "pbx01-down", "im-down")
    ):
        raise LabError("the lab is not up (scripts/lab up)")
    if args[0] == "clear":
        for w in clear_faults(st):
            log(f"warning: {w}")
        st["faults"] = []
        save_state(st)
        print("faults: none")
        return 0
    for fault in args:
        if fault not in FAULTS:
            raise LabError(f"unknown fault {fault!r} (one of: {', '.join(FAULTS)}, clear)")
    for fault in args:
        if fault == "disk" and disk_in_use(st):
            raise LabError("the data disk is mounted on im; `scripts/lab reset im` first")
        plant(fault, st)
        if fault not in st["faults"]:
            st["faults"].append(fault)
        save_state(st)
        print(f"planted {fault}: {FAULTS[fault]}")
    return 0


def main(argv: list[str]) -> int:
    cmds = {
        "up": cmd_up,
        "down": cmd_down,
        "status": cmd_status,
        "info": cmd_info,
        "fault": cmd_fault,
        "reset": cmd_reset,
    }
    if not argv or argv[0] not in cmds:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        if argv[0] not in ("status", "info") and os.geteuid() != 0:
            raise LabError("must run as root (it creates a bridge, loop devices and containers)")
        return cmds[argv[0]](argv[1:])
    except LabError as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `scripts/lab status | head -1`
        return 0
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
