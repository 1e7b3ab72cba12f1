"""A Ray cluster on loopback only, for tests: a head node and one more node, one CPU each (two
workers), in a process of their own. Run as a script it prints the head's address, then keeps
the cluster up until its standard input closes, and takes every node down with it.

RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (before ray is imported) makes Ray resolve 127.0.0.1 to
itself instead of to this machine's routable address, so that no connection leaves loopback;
the drivers that join get the same variable (LOOPBACK_ENV). Usage statistics are off, no
dashboard runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(python: str = sys.executable, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """This file as a child process: the child and the cluster's address (127.0.0.1:port)."""
    proc = subprocess.Popen([python, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, **LOOPBACK_ENV})
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"the localhost Ray cluster did not start (said {line!r})")
    return proc, line


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    from ray.cluster_utils import Cluster

    nodes = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True,
                      head_node_args={**nodes, "gcs_server_port": free_port()})
    cluster.add_node(**nodes)
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    sys.stdin.read()  # until the test closes it
    cluster.shutdown()


if __name__ == "__main__":
    main()
