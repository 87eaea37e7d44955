#!/usr/bin/env python3
"""A small load client for measuring ioduel-reactor's per-request costs.

  load.py PORT echo N [DEPTH]   N ECHO requests of 64 bytes on one connection,
                                DEPTH at a time (sent in one write, then all
                                DEPTH replies read); every reply is checked
  load.py PORT idle N PID       opens N idle connections and prints the growth
                                of the server's RSS per connection

Speed is not the point (it is Python): the counts measured on the server
(system calls, allocations, RSS) do not depend on how fast the client is.
"""
import json, resource, socket, struct, sys, time

def frame(op, payload=b'', rid=0):
    return b'IO\x01' + bytes([op]) + struct.pack('>IQ', len(payload), rid) + payload

def read_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit('server closed the connection')
        b += c
    return bytes(b)

def read_frame(s):
    h = read_exact(s, 16)
    length, rid = struct.unpack('>IQ', h[4:])
    return h[3], rid, read_exact(s, length)

def stats(port):
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(frame(5, b'', 1))
    r = json.loads(read_frame(s)[2])
    s.close()
    return r

def echo(port, n, depth):
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b'p' * 64
    done = 0
    while done < n:
        k = min(depth, n - done)
        s.sendall(b''.join(frame(1, payload, done + i) for i in range(k)))
        # Read the whole batch's bytes, then check each reply.
        data = read_exact(s, k * (16 + len(payload)))
        for i in range(k):
            f = data[i * 80:(i + 1) * 80]
            if f[3] != 1 or struct.unpack('>Q', f[8:16])[0] != done + i or f[16:] != payload:
                raise SystemExit(f'bad reply to request {done + i}')
        done += k
    s.close()
    print(f'{n} echo requests, depth {depth}: all replies correct')

def rss_kib(pid):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])

def idle(port, n, pid):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base_open = stats(port)['connections_open']
    before = rss_kib(pid)
    conns = [socket.create_connection(('127.0.0.1', port)) for _ in range(n)]
    while stats(port)['connections_open'] < base_open + n:
        time.sleep(0.1)
    after = rss_kib(pid)
    print(f'{n} idle connections: server RSS {before} KiB -> {after} KiB, '
          f'{(after - before) * 1024 / n:.0f} bytes per connection')
    for c in conns:
        c.close()

if __name__ == '__main__':
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == 'echo':
        echo(port, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif mode == 'idle':
        idle(port, int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
