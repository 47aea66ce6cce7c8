"""Free loopback ports for the deployment tests, below the kernel's
ephemeral range: a client connection of a test running beside them draws
its local port from that range, and could otherwise take a port between the
check here and the test's server binding it. `python3 ports.py` prints one,
for the shell tests."""

import random
import socket


def free_port(hosts=("127.0.0.1",), span=1, reuseaddr=False):
    """A port P such that P to P + span - 1 bind on every one of the hosts
    (with SO_REUSEADDR, when the server that takes them sets it)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        high = min(int(f.read().split()[0]), 32768)
    low = 20000 if high >= 20100 else 1024
    for _ in range(200):
        port = random.randrange(low, high - span + 1)
        try:
            for host in hosts:
                for p in range(port, port + span):
                    with socket.socket() as s:
                        if reuseaddr:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s.bind((host, p))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port in %d..%d" % (low, high))


if __name__ == "__main__":
    print(free_port())
