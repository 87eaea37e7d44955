#!/usr/bin/env python3
"""The proactor's per-request figures, by counts that do not drift with a
noisy machine.  Each figure is the difference between two runs with
different request counts, divided by the difference in requests, so start-up
and shutdown cancel out.

    bench/proactor/measure.py BUILD_DIR allocs|syscalls|idle|memory [--conns N]

allocs:   LD_PRELOAD count_malloc.so (built here from count_malloc.c), runs of
          R1 and R2 requests, allocations per request.
syscalls: strace -c -f, runs of R1 and R2 requests, system calls per request
          by name, with 1 and with 32 requests in flight per connection.
SERVER_ARGS in the environment is added to each server's command line.
idle:     N idle connections (--conns, default 5,000; one ECHO each first),
          server RSS per connection, both context models.
memory:   the soak's load (tests/conformance/soak.json) from `ioduel drive`
          (BUILD_DIR/harness/ioduel, or IODUEL in the environment) for
          --conns seconds (default 20), the server under
          `strace -c -f -e trace=memory`: its mmap, munmap, madvise and brk calls.
"""
import json, os, re, signal, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

def start(cmd, env=None, stderr=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    line = p.stdout.readline()
    if not line.startswith("listening on"):
        sys.exit(f"no listening line from {cmd}: {line!r}")
    return p, int(line.strip().rsplit(":", 1)[1])

def load(port, conns, depth, requests):
    subprocess.run([sys.executable, os.path.join(HERE, "load.py"), str(port), "--conns", str(conns),
                    "--depth", str(depth), "--requests", str(requests)], check=True,
                   stdout=subprocess.DEVNULL)

def stop(p):
    # Under strace, signal the server itself: strace would detach and leave it running.
    children = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
    target = int(children[0]) if p.args[0] == "strace" and children else p.pid
    os.kill(target, signal.SIGTERM)
    rc = p.wait(timeout=30)
    if rc != 0:
        sys.exit(f"server exited {rc}")

def servers(build):
    base = os.path.join(build, "proactor")
    extra = os.environ.get("SERVER_ARGS", "").split()  # e.g. "--contexts shared --threads 2"
    return {"epoll": [os.path.join(base, "ioduel-proactor")] + extra,
            "io_uring": [os.path.join(base, "ioduel-proactor-uring")] + extra}

def allocs(build, conns):
    so = os.path.join(tempfile.gettempdir(), "ioduel_count_malloc.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "count_malloc.c"), "-ldl"],
                   check=True)
    for name, cmd in servers(build).items():
        for depth in (1, 32):
            counts = {}
            for r in (20000, 40000):
                env = dict(os.environ, LD_PRELOAD=so)
                with tempfile.TemporaryFile("w+") as err:
                    p, port = start(cmd + ["--port", "0"], env=env, stderr=err)
                    load(port, conns, depth, r)
                    stop(p)
                    err.seek(0)
                    m = re.search(r"count_malloc: (\d+) allocations", err.read())
                    counts[r] = int(m.group(1))
            per = (counts[40000] - counts[20000]) / (conns * 20000)
            print(f"{name:8} depth {depth:2}: {counts[20000]} allocations for {conns}x20000 requests, "
                  f"{counts[40000]} for {conns}x40000: {per:.4f} per request")

def strace_counts(path):
    calls = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and not f[-1] == "total":
            name = f[-1]
            n = int(f[3])
            calls[name] = n
    return calls

def syscalls(build, conns):
    for name, cmd in servers(build).items():
        for depth in (1, 32):
            runs = {}
            for r in (5000, 10000):
                with tempfile.NamedTemporaryFile("w+", suffix=".strace") as out:
                    p, port = start(["strace", "-c", "-f", "-o", out.name] + cmd + ["--port", "0"])
                    load(port, conns, depth, r)
                    stop(p)
                    runs[r] = strace_counts(out.name)
            dr = conns * 5000
            diff = {k: (runs[10000].get(k, 0) - runs[5000].get(k, 0)) / dr for k in runs[10000]}
            total = sum(diff.values())
            top = ", ".join(f"{k} {v:.3f}" for k, v in sorted(diff.items(), key=lambda kv: -kv[1]) if v >= 0.005)
            print(f"{name:8} depth {depth:2}: {total:.3f} system calls per request ({top})")

def idle(build, n):
    for name, cmd in servers(build).items():
        for extra in ([], ["--contexts", "shared", "--threads", "2"]):
            p, port = start(cmd + ["--port", "0"] + extra)
            out = subprocess.run([sys.executable, os.path.join(HERE, "load.py"), str(port), "--idle", str(n),
                                  "--pid", str(p.pid)], check=True, capture_output=True, text=True).stdout
            stop(p)
            print(f"{name:8} {' '.join(extra) or 'per-thread --threads 1'}: {out.strip()}")

def find_key(j, key):
    if isinstance(j, dict):
        if key in j:
            return j[key]
        j = list(j.values())
    if isinstance(j, list):
        for v in j:
            found = find_key(v, key)
            if found is not None:
                return found
    return None

def memory(build, seconds):
    ioduel = os.environ.get("IODUEL", os.path.join(build, "harness", "ioduel"))
    workload = os.path.join(HERE, "..", "..", "tests", "conformance", "soak.json")
    for name, cmd in servers(build).items():
        with tempfile.NamedTemporaryFile("w+", suffix=".strace") as out, \
             tempfile.NamedTemporaryFile("w+", suffix=".json") as report:
            p, port = start(["strace", "-c", "-f", "-e", "trace=memory", "-o", out.name] + cmd + ["--port", "0"])
            subprocess.run([ioduel, "drive", "--target", f"127.0.0.1:{port}", "--workload", workload,
                            "--duration", str(seconds), "--warmup", "0", "--quiet", "--out", report.name],
                           check=True, stdout=subprocess.DEVNULL)
            stop(p)
            calls = strace_counts(out.name)
            requests = find_key(json.load(open(report.name)), "total_completed")
            shown = ", ".join(f"{k} {calls.get(k, 0)}" for k in ("mmap", "munmap", "madvise", "mprotect", "brk"))
            print(f"{name:8} {seconds} s soak drive ({requests} requests): {shown}")

build, what = sys.argv[1], sys.argv[2]
given = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--conns" else None
conns = given or 4
{"allocs": lambda: allocs(build, conns), "syscalls": lambda: syscalls(build, conns),
 "idle": lambda: idle(build, given or 5000), "memory": lambda: memory(build, given or 20)}[what]()
