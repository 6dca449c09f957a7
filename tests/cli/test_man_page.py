"""test_man_page.py — the man page (docs/musicgen.1) names every option the CLI takes:
each command's `musicgen help CMD` lists its options, and every long option (and
the short form beside it) must appear in the man page, so a new flag cannot ship
undocumented there. Also the commands of `musicgen --help`. Needs python3 only."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest as t  # noqa: E402

SRC = os.environ.get("MG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
man = open(os.path.join(SRC, "docs", "musicgen.1"), encoding="utf-8").read()
# groff escapes: \- is a hyphen, \fB..\fR are font changes.
plain = re.sub(r"\\f[BIRP]", "", man).replace("\\-", "-")


def help_text(*args):
    p = subprocess.run([t.MUSICGEN, *args], capture_output=True, text=True)
    t.check(p.returncode == 0, f"musicgen {' '.join(args)} exits {p.returncode}")
    return p.stdout


top = help_text("--help")
commands = re.findall(r"^  ([a-z]+) {2,}", top, re.M)
t.check(len(commands) >= 8, f"musicgen --help lists {len(commands)} commands")
for cmd in commands:
    t.check(re.search(rf"\bmusicgen {cmd}\b", plain) is not None, f"the man page has no synopsis for `musicgen {cmd}`")
    text = help_text("help", cmd)
    # Every --long option the help names (some lines list several), and every -x short
    # form in the option lines (those starting with spaces).
    longs = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)))
    shorts = sorted({m for line in text.splitlines() if line.startswith("  ")
                     for m in re.findall(r"(?<![\w'-])-[A-Za-z](?=[ ,])", line)})
    found = len(longs)
    for opt in longs + shorts:
        t.check(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", plain) is not None,
                f"{cmd} {opt} is in `musicgen help {cmd}` but not in docs/musicgen.1")
    t.check(found > 0, f"musicgen help {cmd} lists no options")
    print(f"  {cmd:9s} {found} long and {len(shorts)} short options documented")
t.finish("test_man_page")
