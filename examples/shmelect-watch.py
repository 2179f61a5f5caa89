#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small shmelectd client in Python 3 (standard library only); copy it.

  shmelect-watch.py [--socket PATH] [--segment SEG] status ELECTION
  shmelect-watch.py [--socket PATH] [--segment SEG] watch [ELECTION]
  shmelect-watch.py [--socket PATH] [--segment SEG] wait-leader ELECTION [--timeout S]

The socket is --socket, else $SHMELECT_SOCKET, else the default; the
segment --segment, else $SHMELECT_SEGMENT, else shmelect.
The protocol (newline-delimited JSON) is documented in shmelectd(8).

Exit status: status: 0 if the election has a valid (unexpired) holder,
1 if not; wait-leader: 0 once it has one, 1 on timeout; watch: 0 when
stopped by SIGINT or SIGTERM; all: 2 on errors (the daemon's error, no
daemon, the daemon closing the connection) and when interrupted otherwise.
"""
import argparse
import itertools
import json
import os
import signal
import socket
import sys
import time


class DaemonError(Exception):
    """An {"ok": false, "error": ..., "message": ...} response."""

    def __init__(self, resp):
        self.error, self.message = resp.get("error"), resp.get("message")
        super().__init__(f"{self.error}: {self.message}")


class Connection:
    """One connection to shmelectd: requests out, JSON lines in."""

    def __init__(self, path, segment=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            raise OSError(f"cannot connect to {path}: {e.strerror or e}") from None
        self.rfile = self.sock.makefile("rb")  # buffered, for readline()
        self.segment = segment
        self.ids = itertools.count(1)

    def close(self):
        self.rfile.close()
        self.sock.close()

    def read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("the daemon closed the connection")
        # json turns numbers into Python ints, which are exact at any size.
        # Tokens are above 2^53: jq and JavaScript, which use doubles, would
        # round them.  Keep them as ints (or text); never float().
        return json.loads(line)

    def request(self, verb, **fields):
        """Send one request; return its response, raise DaemonError on failure."""
        req = {"verb": verb, "id": next(self.ids), **fields}
        if self.segment is not None:
            req["segment"] = self.segment
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            resp = self.read()
            if "event" in resp:  # not a response
                continue
            # errors the daemon sends unasked (EUSERS) carry no id
            if resp.get("id") == req["id"] or ("id" not in resp and not resp.get("ok")):
                break
        if not resp.get("ok"):
            raise DaemonError(resp)
        return resp


def has_leader(st):
    return bool(st["has_holder"]) and not st["expired"]


def line(kind, ev):
    """KIND ELECTION holder=H token=T term=N [identity=I], for events and states."""
    out = f"{kind} {ev['election']} holder={ev['holder'] or '-'}"
    out += f" token={ev['token']} term={ev['term']}"  # ints: printed exactly
    if ev.get("identity") is not None:
        out += f" identity={ev['identity']}"
    return out


def cmd_status(args):
    conn = Connection(args.socket, args.segment)
    try:
        st = conn.request("status", election=args.election)["status"]
    finally:
        conn.close()
    holder = f"{st['holder']} (pid {st['holder_pid']})" if st["has_holder"] else "none"
    if st["has_holder"] and st["expired"]:
        holder += ", lease expired"
    members = ", ".join(m["identity"] + ("*" if m["is_holder"] else "") for m in st["members"])
    print(f"holder:  {holder}\ntoken:   {st['token']}\nterm:    {st['term']}")
    print(f"members: {members}")
    return 0 if has_leader(st) else 1


def subscribe(args, election):
    """Start a watch first, then read the current state: nothing falls between."""
    conn = Connection(args.socket, args.segment)
    conn.request("watch", **({"election": election} if election else {}))
    state = Connection(args.socket, args.segment)
    try:
        if election:
            try:
                now = [state.request("status", election=election)["status"]]
            except DaemonError as e:
                if e.error != "ENOENT":
                    raise
                now = []  # the election does not exist yet
        else:
            seg = args.segment or "shmelect"
            now = [e for e in state.request("list")["elections"] if e["segment"] == seg]
    finally:
        state.close()
    return conn, now


def cmd_watch(args):
    conn = None
    try:
        conn, _ = subscribe(args, args.election)
        while True:
            ev = conn.read()
            if ev.get("event") != "overflow":
                print(line(ev["event"], ev), flush=True)
                continue
            # We did not keep up and were dropped: reconnect, re-read status.
            print(f"overflow at seq {ev['seq']}: events lost, reconnecting",
                  file=sys.stderr, flush=True)
            conn.close()
            conn, now = subscribe(args, args.election)
            for st in now:
                print(line("status", st), flush=True)
    except KeyboardInterrupt:  # SIGINT or SIGTERM
        return 0
    finally:
        if conn:
            conn.close()


def cmd_wait_leader(args):
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    conn, now = subscribe(args, args.election)
    leader = now[0] if now and has_leader(now[0]) else None
    try:
        while leader is None:
            if deadline is not None:
                conn.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            ev = conn.read()
            if ev.get("event") == "leader":  # always names a valid holder
                leader = ev
            elif ev.get("event") == "overflow":
                conn.close()
                conn, now = subscribe(args, args.election)
                leader = now[0] if now and has_leader(now[0]) else None
    except socket.timeout:
        print(f"no leader of {args.election} within {args.timeout} s", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(leader["holder"], leader["token"])
    return 0


def main():
    p = argparse.ArgumentParser(description="Query and watch shmelectd.")
    p.add_argument("--socket", help="default: $SHMELECT_SOCKET, else %(default)s",
                   default=os.environ.get("SHMELECT_SOCKET") or "/run/shmelect/shmelectd.sock")
    p.add_argument("--segment", default=os.environ.get("SHMELECT_SEGMENT") or None,
                   help="segment name (default: $SHMELECT_SEGMENT, else the daemon's, shmelect)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("status", help="show an election; exit 0 if it has a leader")
    s.add_argument("election")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("watch", help="print events until interrupted")
    s.add_argument("election", nargs="?")
    s.set_defaults(func=cmd_watch)
    s = sub.add_parser("wait-leader", help="wait until an election has a leader")
    s.add_argument("election")
    s.add_argument("--timeout", type=float, metavar="S")
    s.set_defaults(func=cmd_wait_leader)
    args = p.parse_args()

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as SIGINT does
    try:
        return args.func(args)
    except DaemonError as e:
        print(f"shmelect-watch: shmelectd: {e}", file=sys.stderr)
    except (OSError, ValueError) as e:  # ValueError: not JSON
        print(f"shmelect-watch: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("shmelect-watch: interrupted", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
