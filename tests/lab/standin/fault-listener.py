#!/usr/bin/python3
"""Lab fault: listen on the given ports (e.g. `53/udp 53/tcp`) like a DNS or DHCP server would.

It answers nothing useful; it only makes the port show as listening (ss -lnu / ss -lnt).
"""

import selectors
import socket
import sys

sel = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    port, proto = spec.split("/")
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    if proto == "tcp":
        s.listen(5)
    sel.register(s, selectors.EVENT_READ, proto)

while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == "udp":
            s.recvfrom(4096)
        else:
            conn, _ = s.accept()
            conn.close()
