#!/usr/bin/env python3
"""Hand smoke test of a server by its command line (a throwaway check until
the conformance suite runs; it is not a test suite).

    bench/proactor/smoke.py build/proactor/proactor/ioduel-proactor [flags...]
"""
import faulthandler, json, os, signal, socket, struct, subprocess, sys, time
faulthandler.dump_traceback_later(20, exit=True)

def frame(op, rid, payload=b""):
    return b"IO\x01" + bytes([op]) + struct.pack(">IQ", len(payload), rid) + payload

def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError(f"eof after {len(b)} of {n}")
        b += c
    return b

def read_frame(s):
    h = read_exact(s, 16)
    assert h[:3] == b"IO\x01", h
    op = h[3]; ln, rid = struct.unpack(">IQ", h[4:])
    return op, rid, read_exact(s, ln)

def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def stats(port):
    s = conn(port); s.sendall(frame(5, 9)); op, rid, p = read_frame(s); s.close()
    return json.loads(p)

def main():
    cmd = sys.argv[1:] + ["--port", "0"]
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = srv.stdout.readline().strip()
    print("server:", line)
    port = int(line.rsplit(":", 1)[1])
    s = conn(port)
    # every opcode
    s.sendall(frame(1, 1, b"hello"))
    assert read_frame(s) == (1, 1, b"hello")
    s.sendall(frame(2, 2, b"x" * 1000)); assert read_frame(s) == (0x82, 2, b"")
    s.sendall(frame(3, 0x1FE, struct.pack(">I", 5))); assert read_frame(s) == (0x83, 0x1FE, bytes([0xFE, 0xFF, 0, 1, 2]))
    t = time.time(); s.sendall(frame(4, 4, struct.pack(">I", 200000)) + frame(1, 5, b"after"))
    assert read_frame(s) == (0x84, 4, b""); assert time.time() - t >= 0.19
    assert read_frame(s) == (1, 5, b"after")
    # pipelining, byte by byte
    data = b"".join(frame(1, i, bytes([i % 256]) * (i % 300)) for i in range(200))
    for i in range(0, 600):
        s.send(data[i:i+1])
    s.sendall(data[600:])
    for i in range(200):
        assert read_frame(s) == (1, i, bytes([i % 256]) * (i % 300)), i
    # big frames
    big = os.urandom(1 << 20)
    s.sendall(frame(1, 77, big)); assert read_frame(s) == (1, 77, big)
    s.sendall(frame(3, 78, struct.pack(">I", 1 << 20))); op, rid, p = read_frame(s); assert len(p) == 1 << 20
    # OOB between frames
    s.sendall(frame(1, 80, b"a")); s.send(b"!", socket.MSG_OOB); s.sendall(frame(1, 81, b"b"))
    assert read_frame(s) == (1, 80, b"a"); assert read_frame(s) == (1, 81, b"b")
    for _ in range(50):
        st = stats(port)
        if st["oob_discarded"] == 1: break
        time.sleep(0.02)
    print("stats:", st)
    assert st["oob_discarded"] == 1, st
    # error after owed replies
    s.sendall(frame(4, 90, struct.pack(">I", 100000)) + frame(1, 91, b"z") + b"XX" + b"garbage" * 3)
    assert read_frame(s)[:2] == (0x84, 90); assert read_frame(s) == (1, 91, b"z")
    op, rid, p = read_frame(s); assert op == 0xFF and rid == 0, (op, rid, p); print("error:", p)
    assert s.recv(10) == b""
    s.close()
    # oversized
    s = conn(port); s.sendall(struct.pack(">2sBBIQ", b"IO", 1, 1, (1 << 20) + 1, 55))
    op, rid, p = read_frame(s); assert op == 0xFF and rid == 55, p; print("error:", p); s.close()
    # half close
    s = conn(port); s.sendall(frame(4, 1, struct.pack(">I", 100000)) + frame(1, 2, b"q")); s.shutdown(socket.SHUT_WR)
    assert read_frame(s)[:2] == (0x84, 1); assert read_frame(s) == (1, 2, b"q"); assert s.recv(10) == b""; s.close()
    # many connections
    conns = [conn(port) for _ in range(500)]
    for i, c in enumerate(conns): c.sendall(frame(1, i, b"m"))
    for i, c in enumerate(conns): assert read_frame(c) == (1, i, b"m")
    for c in conns: c.close()
    # drain: SIGTERM with a SLEEP owed
    s = conn(port); s.sendall(frame(4, 7, struct.pack(">I", 300000)))
    time.sleep(0.05)
    srv.send_signal(signal.SIGTERM); time.sleep(0.02); srv.send_signal(signal.SIGTERM)
    assert read_frame(s)[:2] == (0x84, 7); assert s.recv(10) == b""
    rc = srv.wait(timeout=10); print("exit", rc); assert rc == 0
    print("stats before exit ok; all smoke checks passed")

main()
