"""Runs a terminal mail client on a pseudo-terminal, as a user would, for
the end-to-end tests: bounded in time, its screen kept as text."""
import fcntl
import os
import pty
import re
import select
import subprocess
import termios
import time


def _controlling_tty():
    # aerc opens /dev/tty: the pty must be the session's terminal.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def text(screen: bytes) -> str:
    """The screen's characters without escape sequences."""
    s = screen.decode(errors="replace")
    s = re.sub(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)", "", s)
    s = re.sub(r"\x1b[()][A-Z0-9]", "", s)
    # Colours go; cursor moves start a new line, so that the text of one
    # screen line is one line here, near enough.
    s = re.sub(r"\x1b\[[0-9;:?<>=]*m", "", s)
    s = re.sub(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]", "\n", s)
    return re.sub(r"\x1b.", "", s)


def run(argv, env, steps=(), timeout=60, ctty=False):
    """Runs `argv`, and for each (predicate, keys) of `steps` in turn waits
    until the predicate holds of the screen's text, then types the keys.
    With `ctty` the terminal is the session's controlling one (aerc opens
    /dev/tty). Returns (exit status, or None if it had to be killed; the
    screen's text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x1e\x00\x78\x00\x00\x00\x00\x00")  # 30 x 120
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                         close_fds=True, preexec_fn=_controlling_tty if ctty else None)
    os.close(slave)
    screen, steps = b"", list(steps)
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                screen += os.read(master, 65536)
            except OSError:
                break
        if steps and steps[0][0](text(screen)):
            time.sleep(0.5)
            os.write(master, steps.pop(0)[1])
    try:
        p.wait(timeout=max(1, deadline - time.time()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        os.close(master)
        return None, text(screen)
    os.close(master)
    return p.returncode, text(screen)
