"""test_man_page.py — the man page (docs/musicgen.1) names every option the CLI takes,
where a reader looks for it: each option of `musicgen help CMD` must appear in CMD's
synopsis line or in an OPTIONS section whose title names CMD (-h/--help and -m/--model,
which every command shares, may be in GENERATE OPTIONS, which says so). A new flag
cannot ship undocumented there, nor be documented only under another command.
Needs python3 only."""
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
# sections: title -> text
sections = {}
for part in re.split(r"^\.SH ", plain, flags=re.M)[1:]:
    title, _, body = part.partition("\n")
    sections[title.strip().strip('"')] = body


def where_documented(cmd):
    """CMD's synopsis entry and the OPTIONS sections whose title names it."""
    syn = sections.get("SYNOPSIS", "")
    m = re.search(rf"^\.B musicgen {cmd}\n(.*?)(?=^\.br|\Z)", syn, re.M | re.S)
    own = [body for title, body in sections.items() if "OPTIONS" in title and cmd.upper() in title]
    return (m.group(1) if m else "") + "\n".join(own)


SHARED = {"-h", "--help", "-m", "--model"}  # documented once, in GENERATE OPTIONS


def help_text(*args):
    p = subprocess.run([t.MUSICGEN, *args], capture_output=True, text=True)
    t.check(p.returncode == 0, f"musicgen {' '.join(args)} exits {p.returncode}")
    return p.stdout


top = help_text("--help")
commands = re.findall(r"^  ([a-z]+) {2,}", top, re.M)
t.check(len(commands) >= 8, f"musicgen --help lists {len(commands)} commands")
for cmd in commands:
    t.check(re.search(rf"^\.B musicgen {cmd}$", sections.get("SYNOPSIS", ""), re.M) is not None,
            f"the man page has no synopsis for `musicgen {cmd}`")
    text = help_text("help", cmd)
    # Every --long option the help names (some lines list several), and every -x short
    # form in the option lines (those starting with spaces).
    longs = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)))
    shorts = sorted({m for line in text.splitlines() if line.startswith("  ")
                     for m in re.findall(r"(?<![\w'-])-[A-Za-z](?=[ ,])", line)})
    found = len(longs)
    text_for_cmd = where_documented(cmd)
    for opt in longs + shorts:
        hay = text_for_cmd + (where_documented("generate") if opt in SHARED else "")
        t.check(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", hay) is not None,
                f"{cmd} {opt} is in `musicgen help {cmd}` but not in {cmd}'s synopsis or options in docs/musicgen.1")
    t.check(found > 0, f"musicgen help {cmd} lists no options")
    print(f"  {cmd:9s} {found} long and {len(shorts)} short options documented")
t.finish("test_man_page")
