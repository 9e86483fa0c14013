"""A real pseudo-terminal for a real subprocess, read through a VT100 emulator (pyte).

The program gets the terminal as its controlling terminal and sees a real
xterm-256color of the given size; what it draws is fed to pyte, so a test
reads the screen a person would see (and its scrollback), not the stream of
escape codes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pyte


class ScreenTerminal:
    """``command`` running in a pseudo-terminal of ``columns`` x ``rows``; keys in, screen out."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, columns: int = 120, rows: int = 36):
        master, slave = pty.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, env=env | {"TERM": "xterm-256color"}, cwd=cwd,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.HistoryScreen(columns, rows, history=5000)
        self._stream = pyte.ByteStream(self.screen)
        self.output = bytearray()

    def type(self, data: bytes) -> None:
        """Send the bytes a terminal sends for keys (``b"\\x1b1"`` is alt+1 in xterm)."""
        os.write(self.master, data)

    def _read(self, wait: float) -> bool:
        """Feed what the program wrote to the screen; False once it has closed the terminal."""
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the program ended and the terminal is gone
            return False
        if not chunk:
            return False
        self.output.extend(chunk)
        self._stream.feed(chunk)
        return True

    def lines(self) -> list[str]:
        """What the screen shows, a string per row."""
        return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())

    def scrollback(self) -> list[str]:
        """The rows that scrolled off the top, oldest first, then the screen."""
        width = self.screen.columns
        old = ["".join(row[x].data for x in range(width)).rstrip() for row in self.screen.history.top]
        return old + [line.rstrip() for line in self.lines()]

    def after_alternate_screen(self) -> list[str]:
        """What the program printed after leaving the alternate screen (a full-screen app's parting lines), as rows."""
        tail = bytes(self.output).rsplit(b"\x1b[?1049l", 1)[-1]
        screen = pyte.Screen(self.screen.columns, self.screen.lines)
        pyte.ByteStream(screen).feed(tail)
        return [line.rstrip() for line in screen.display if line.strip()]

    def wait_for(self, test, timeout: float = 240) -> str:
        """Keep reading until ``test(screen text)`` holds; return the screen text."""
        end = time.monotonic() + timeout
        while not test(self.text()):
            assert time.monotonic() < end, f"timed out; the screen shows:\n{self.text()}"
            assert self._read(0.1), f"the program ended early; the screen shows:\n{self.text()}"
        return self.text()

    def wait_for_exit(self, timeout: float = 120) -> int:
        """Read everything until the program ends; its exit status."""
        end = time.monotonic() + timeout
        while self._read(0.1):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0.2)[0]:
                break
            assert time.monotonic() < end, f"still running; the screen shows:\n{self.text()}"
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        os.close(self.master)
