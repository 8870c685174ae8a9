"""The real programs that read dotenv files, each kept running and fed one file path at a time
(one process per reader, not per value), and a way to get or skip each.

- python-dotenv: from PyPI (the test extra), in process.
- node-dotenv: npm's `dotenv`, current major, installed on first use into the readers' cache
  ($AUTOMATIONS_READERS_CACHE, default ~/.cache/automations/readers).
- bash: `set -a; . FILE` in a subshell of one bash per file, from an empty environment.
- godotenv: Debian's golang-go and golang-github-joho-godotenv-dev, a small reader program
  built once into the cache in GOPATH mode (GO111MODULE=off, GOPATH=/usr/share/gocode).
- ruby-dotenv: Debian's ruby-dotenv (the gem 2.4), `Dotenv::Environment` as `Dotenv.load`.
- direnv: Debian's direnv, `direnv dotenv json FILE`.

A missing reader skips its tests with the command that installs it, unless
AUTOMATIONS_REQUIRE_READERS is set (as .ci/run does): then it fails them.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("AUTOMATIONS_READERS_CACHE") or Path.home() / ".cache" / "automations" / "readers")
NODE_DOTENV_MAJOR = "18"
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put their source

INSTALL = {
    "node-dotenv": "install Node.js and npm (apt-get install nodejs npm); the tests run npm install dotenv",
    "godotenv": "apt-get install golang-go golang-github-joho-godotenv-dev",
    "ruby-dotenv": "apt-get install ruby-dotenv",
    "direnv": "apt-get install direnv",
    "bash": "apt-get install bash",
}

# A reader's answer: the variables it read, or the error (as text) for a file it refused.
Answer = dict


class ReaderProcess:
    """A reader program answering one JSON line per file path written to its stdin."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                     encoding="utf-8", bufsize=1)
        self.lock = threading.Lock()

    def read(self, path: Path) -> Answer:
        with self.lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(str(path) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        assert line, f"the reader process ended (exit status {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


NODE_READER = r"""
const dotenv = require(process.argv[1]);
const fs = require('fs');
require('readline').createInterface({input: process.stdin}).on('line', (path) => {
  let out;
  try { out = {values: dotenv.parse(fs.readFileSync(path))}; } catch (e) { out = {error: String(e)}; }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""

RUBY_READER = r"""
require 'dotenv'
require 'json'
$stdout.sync = true
STDIN.each_line do |line|
  begin
    out = {values: Dotenv::Environment.new(line.chomp, true).to_h}
  rescue Exception => e
    out = {error: e.class.to_s}
  end
  puts JSON.generate(out)
end
"""

GO_READER = r"""
package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/joho/godotenv"
)

func main() {
	lines := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for lines.Scan() {
		values, err := godotenv.Read(lines.Text())
		if err != nil {
			out.Encode(map[string]string{"error": err.Error()})
		} else {
			out.Encode(map[string]interface{}{"values": values})
		}
	}
}
"""


def _clean_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


def _missing(name: str, why: str) -> None:
    message = f"{name} is not available ({why}): {INSTALL[name]}"
    if os.environ.get("AUTOMATIONS_REQUIRE_READERS"):
        pytest.fail(message + " (AUTOMATIONS_REQUIRE_READERS is set: every reader must run)")
    pytest.skip(message)


@contextmanager
def _cache_locked() -> Iterator[None]:
    """One installer or build at a time in the cache: pytest-xdist workers (and several
    checkouts) share it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _node_dotenv() -> Path:
    with _cache_locked():
        return _install_node_dotenv()


def _install_node_dotenv() -> Path:
    package = CACHE / "node" / "node_modules" / "dotenv"
    if not (package / "package.json").exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            _missing("node-dotenv", "no node or npm")
        proc = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(CACHE / "node"),
                               f"dotenv@{NODE_DOTENV_MAJOR}"], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            _missing("node-dotenv", f"npm install failed: {proc.stderr.strip()[-300:]}")
    return package


def _godotenv_reader() -> Path:
    with _cache_locked():
        return _build_godotenv_reader()


def _build_godotenv_reader() -> Path:
    source = Path(GOPATH) / "src" / "github.com" / "joho" / "godotenv" / "parser.go"
    if shutil.which("go") is None or not source.exists():
        _missing("godotenv", "no go, or no godotenv source under " + GOPATH)
    folder = CACHE / "godotenv"
    binary = folder / "godotenv-reader"
    program = folder / "main.go"
    if not binary.exists() or not program.exists() or program.read_text() != GO_READER \
            or binary.stat().st_mtime < source.stat().st_mtime:
        folder.mkdir(parents=True, exist_ok=True)
        program.write_text(GO_READER)
        env = {**_clean_env(folder), "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(folder / "gocache"),
               "GOFLAGS": ""}
        proc = subprocess.run(["go", "build", "-o", str(binary), str(program)], env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            _missing("godotenv", f"go build failed: {proc.stderr.strip()[-300:]}")
    return binary


class Readers:
    """Every reader, started on first use and kept for the session."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.processes: dict[str, ReaderProcess] = {}

    def reader(self, name: str) -> Callable[[Path], Answer]:
        return {"python-dotenv": self.python_dotenv, "node-dotenv": self.node_dotenv, "bash": self.bash,
                "godotenv": self.godotenv, "ruby-dotenv": self.ruby_dotenv, "direnv": self.direnv}[name]

    def require(self, name: str) -> None:
        """Skip (or fail, in CI) now when reader `name` cannot run."""
        if name == "node-dotenv":
            self._process("node-dotenv")
        elif name == "godotenv":
            self._process("godotenv")
        elif name == "ruby-dotenv":
            self._process("ruby-dotenv")
        elif name == "direnv" and shutil.which("direnv") is None:
            _missing("direnv", "no direnv")
        elif name == "bash" and shutil.which("bash") is None:
            _missing("bash", "no bash")

    def _process(self, name: str) -> ReaderProcess:
        if name not in self.processes:
            env = _clean_env(self.home)
            if name == "node-dotenv":
                package = _node_dotenv()
                argv = ["node", "-e", NODE_READER, str(package)]
            elif name == "godotenv":
                argv = [str(_godotenv_reader())]
            else:
                if shutil.which("ruby") is None or subprocess.run(["ruby", "-e", "require 'dotenv'"], env=env,
                                                                   capture_output=True).returncode != 0:
                    _missing("ruby-dotenv", "no ruby, or no dotenv gem")
                argv = ["ruby", "-e", RUBY_READER]
            self.processes[name] = ReaderProcess(argv, env)
        return self.processes[name]

    def python_dotenv(self, path: Path) -> Answer:
        import dotenv

        return {"values": dict(dotenv.dotenv_values(path))}

    def node_dotenv(self, path: Path) -> Answer:
        return self._process("node-dotenv").read(path)

    def godotenv(self, path: Path) -> Answer:
        return self._process("godotenv").read(path)

    def ruby_dotenv(self, path: Path) -> Answer:
        return self._process("ruby-dotenv").read(path)

    def bash(self, path: Path) -> Answer:
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", 'set -a; . "$1" && env -0', "bash", str(path)],
                              env={"PATH": os.environ["PATH"]}, capture_output=True)
        if proc.returncode != 0:
            return {"error": f"bash exited with status {proc.returncode}"}
        pairs = (item.split(b"=", 1) for item in proc.stdout.split(b"\0") if item)
        return {"values": {k.decode(): v.decode("utf-8", "replace") for k, v in pairs}}

    def direnv(self, path: Path) -> Answer:
        proc = subprocess.run(["direnv", "dotenv", "json", str(path)], env=_clean_env(self.home),
                              capture_output=True, text=True, encoding="utf-8", errors="replace")
        if proc.returncode != 0:
            return {"error": "direnv refused the file"}
        return {"values": json.loads(proc.stdout or "{}")}

    def close(self) -> None:
        for process in self.processes.values():
            process.close()
