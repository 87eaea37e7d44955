#!/usr/bin/env python3
"""A small load client for measuring the proactor by hand (until `ioduel
drive` is there): `conns` connections, each keeping `depth` ECHO requests of
`size` payload bytes in flight until it has had `requests` replies.  Every
reply is checked.  With --idle it opens the connections, makes one request on
each, then holds them open and prints the server's RSS (needs --pid).

    load.py PORT --conns 4 --depth 32 --requests 20000 --size 64
    load.py PORT --idle 10000 --pid PID
"""
import argparse, selectors, socket, struct, sys, time

def frame(rid, payload):
    return b"IO\x01\x01" + struct.pack(">IQ", len(payload), rid) + payload

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def run_load(a):
    sel = selectors.DefaultSelector()
    payload = b"p" * a.size
    reply_len = 16 + a.size
    states = []
    for i in range(a.conns):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"s": s, "sent": 0, "got": 0, "buf": b""}
        states.append(st)
        sel.register(s, selectors.EVENT_READ, st)
        burst = b"".join(frame(k, payload) for k in range(min(a.depth, a.requests)))
        s.sendall(burst)
        st["sent"] = min(a.depth, a.requests)
    t0 = time.time(); done = 0
    while done < a.conns:
        for key, _ in sel.select(timeout=10):
            st = key.data
            data = st["s"].recv(1 << 16)
            if not data:
                sys.exit("server closed a connection")
            st["buf"] += data
            n = len(st["buf"]) // reply_len
            if n == 0:
                continue
            for k in range(n):
                h = st["buf"][k * reply_len:k * reply_len + 16]
                assert h[:4] == b"IO\x01\x01" and struct.unpack(">Q", h[8:])[0] == st["got"] + k, h
            st["buf"] = st["buf"][n * reply_len:]
            st["got"] += n
            more = min(n, a.requests - st["sent"])
            if more > 0:
                st["s"].sendall(b"".join(frame(st["sent"] + k, payload) for k in range(more)))
                st["sent"] += more
            if st["got"] == a.requests:
                done += 1
                sel.unregister(st["s"])
    dt = time.time() - t0
    total = a.conns * a.requests
    print(f"{total} requests in {dt:.2f} s: {total / dt:.0f} req/s")
    for st in states:
        st["s"].close()

def run_idle(a):
    before = rss_kib(a.pid)
    socks = []
    for i in range(a.idle):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(frame(i, b"x" * 32))
        socks.append(s)
    for i, s in enumerate(socks):
        got = b""
        while len(got) < 48:
            got += s.recv(48 - len(got))
    time.sleep(1.0)  # let the server settle before sampling /proc (not a test)
    after = rss_kib(a.pid)
    print(f"{a.idle} idle connections: server RSS {before} KiB -> {after} KiB, "
          f"{(after - before) * 1024 / a.idle:.0f} bytes per connection")
    for s in socks:
        s.close()

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--conns", type=int, default=1)
ap.add_argument("--depth", type=int, default=1)
ap.add_argument("--requests", type=int, default=10000)
ap.add_argument("--size", type=int, default=64)
ap.add_argument("--idle", type=int, default=0)
ap.add_argument("--pid", type=int, default=0)
a = ap.parse_args()
run_idle(a) if a.idle else run_load(a)
