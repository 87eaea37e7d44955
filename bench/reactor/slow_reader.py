#!/usr/bin/env python3
"""A client that stops reading its replies now and then, so the server's
sends are partial and it must keep the rest of its replies.

  slow_reader.py PORT N SIZE DEPTH [PAUSE_MS] [RCVBUF]

Sends N ECHO requests of SIZE payload bytes on one connection in rounds of
DEPTH.  Each round's requests are sent (as far as the socket takes them),
then nothing is read for PAUSE_MS (default 200): the server's replies fill
its socket and it queues the rest.  Then the round's replies are read and
checked while the rest of its requests go out.  The receive buffer is
RCVBUF bytes (default 65536).  Prints the bytes received.

The client never blocks in a send: the server stops reading while its
queued replies pass --high-water, and a client stuck in a send would never
read them.
"""
import select, socket, struct, sys, time

def frame(op, payload, rid):
    return b'IO\x01' + bytes([op]) + struct.pack('>IQ', len(payload), rid) + payload

def main():
    port, n, size, depth = (int(a) for a in sys.argv[1:5])
    pause = (float(sys.argv[5]) if len(sys.argv) > 5 else 200) / 1000
    rcvbuf = int(sys.argv[6]) if len(sys.argv) > 6 else 65536
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    # Room for more requests than the server's send buffer holds replies.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect(('127.0.0.1', port))
    s.setblocking(False)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    want = 16 + size
    answered = 0
    while answered < n:
        round_end = min(n, answered + depth)
        out = b''.join(frame(1, payload, i) for i in range(answered, round_end))
        try:
            out = out[s.send(out):]
        except BlockingIOError:
            pass
        time.sleep(pause)  # not reading: the server's replies back up
        pending = bytearray()
        while answered < round_end:
            r, w, _ = select.select([s], [s] if out else [], [], 30)
            if not r and not w:
                raise SystemExit('no progress for 30 s')
            if w:
                try:
                    out = out[s.send(out):]
                except BlockingIOError:
                    pass
            if r:
                c = s.recv(1 << 20)
                if not c:
                    raise SystemExit('server closed the connection')
                pending += c
                while len(pending) >= want:
                    if bytes(pending[:want]) != frame(1, payload, answered):
                        raise SystemExit('reply %d differs from its request' % answered)
                    del pending[:want]
                    answered += 1
    print(answered * want)

main()
