#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal, as a person at a terminal would: the steps (JSON on argv[1])
wait for text, type, or resize the terminal (TIOCSWINSZ + SIGWINCH, as a window resize does).
Prints everything the command showed, and exits with its exit code (124 when a wait times out)."""
import fcntl, json, os, pty, select, signal, struct, sys, termios, time

steps = json.loads(sys.argv[1])
rows, cols = steps.pop(0)["size"]
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

def resize(r, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
    os.kill(pid, signal.SIGWINCH)

resize(rows, cols)
seen = b""
def read(timeout):
    global seen
    ready, _, _ = select.select([fd], [], [], timeout)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        seen += data
    return True

status = None
for step in steps:
    if "expect" in step:
        want = step["expect"].encode()
        start = len(seen) if step.get("fresh") else 0
        deadline = time.time() + step.get("timeout", 15)
        while want not in seen[start:]:
            if time.time() > deadline or not read(0.2):
                sys.stdout.write(seen.decode("utf8", "replace"))
                sys.stderr.write("\ntimed out waiting for %r\n" % step["expect"])
                os.kill(pid, signal.SIGKILL)
                sys.exit(124)
    elif "send" in step:
        os.write(fd, step["send"].encode())
    elif "resize" in step:
        resize(*step["resize"])
    elif "sleep" in step:
        time.sleep(step["sleep"])
while read(5):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
