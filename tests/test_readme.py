"""The README and docs/ stay short, linked and runnable.

- README.md has at most ``MAX_README_LINES`` lines: it is a front page; the reference lives in docs/.
- Every relative link in README.md and docs/*.md (``[text](path)``, ``![alt](path)``) points at a file or
  folder that exists, and a ``#fragment`` into a markdown file names one of its headings (GitHub's
  anchors: lower case, punctuation dropped, spaces to hyphens).
- The README's ```bash blocks are commands a reader will paste. The cheap ones are run with this
  environment's ``arena`` and must exit 0. The rule for "cheap", explicit so that nothing slow runs by
  accident: a line (comment stripped, ``\\`` continuations joined) whose first word is ``arena`` and that
      * ends in ``--help`` or ``-h`` (``arena --help``, ``arena play --help``): prints help only, or
      * is ``arena perft ...`` with ``--depth D`` where D <= ``MAX_PERFT_DEPTH``: milliseconds of counting.
  Every other ``arena`` line (training, tournaments, ladders, interactive play) is not run, but must parse
  with the CLI's own parser (``arena.cli.build_parser``), so a renamed command or option is caught. Every
  ``make TARGET`` names a target of the Makefile.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
ARENA = os.path.join(os.path.dirname(sys.executable), "arena")

MAX_README_LINES = 200
MAX_PERFT_DEPTH = 6
HELP_FLAGS = ("--help", "-h")

FENCE = re.compile(r"^```(\w*)\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def doc_files():
    return [README] + sorted(os.path.join(DOCS, n) for n in os.listdir(DOCS) if n.endswith(".md"))


def split_blocks(text):
    """(prose lines, [(language, [lines]) for every fenced block])."""
    prose, blocks, current = [], [], None
    for line in text.splitlines():
        m = FENCE.match(line.strip())
        if current is None and m:
            current = (m.group(1), [])
        elif current is not None and line.strip() == "```":
            blocks.append(current)
            current = None
        elif current is not None:
            current[1].append(line)
        else:
            prose.append(line)
    return prose, blocks


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    prose, _ = split_blocks(read(path))
    seen, out = {}, set()
    for line in prose:
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(path):
    prose, _ = split_blocks(read(path))
    text = re.sub(r"`[^`\n]*`", "", "\n".join(prose))  # code spans are not links
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        yield target


def bash_commands(path):
    """The README's shell lines: comments stripped, ``\\`` continuations joined."""
    _, blocks = split_blocks(read(path))
    for lang, lines in blocks:
        if lang not in ("bash", "sh", "shell"):
            continue
        joined, buf = [], ""
        for line in lines:
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            joined.append(buf + line)
            buf = ""
        for line in joined:
            words = shlex.split(line, comments=True)
            if words:
                yield line.strip(), words


def is_cheap(words):
    """The rule of the module docstring."""
    if words[0] != "arena":
        return False
    if words[-1] in HELP_FLAGS:
        return True
    if len(words) > 1 and words[1] == "perft" and "--depth" in words:
        i = words.index("--depth")
        return i + 1 < len(words) and words[i + 1].isdigit() and int(words[i + 1]) <= MAX_PERFT_DEPTH
    return False


def test_readme_is_a_front_page():
    n = len(read(README).splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}): move detail to docs/"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_point_at_files(path):
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            broken.append(f"{target}: no such file")
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{fragment} in {os.path.relpath(dest, ROOT)}")
    assert not broken, f"{os.path.relpath(path, ROOT)}: " + "; ".join(broken)


def test_readme_cheap_commands_run():
    cheap = [(line, words) for line, words in bash_commands(README) if is_cheap(words)]
    assert cheap, "the README shows no cheap command (arena --help, arena perft --depth <= 6)"
    assert os.path.exists(ARENA), f"{ARENA} is missing: install the package (pip install -e .)"
    failed = []
    for line, words in cheap:
        p = subprocess.run([ARENA, *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            failed.append(f"{line!r} exited {p.returncode}: {(p.stderr or p.stdout).strip()[-500:]}")
    assert not failed, "\n".join(failed)


def test_readme_other_commands_parse():
    from arena.cli import build_parser

    bad = []
    for line, words in bash_commands(README):
        if words[0] != "arena" or is_cheap(words):
            continue
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as e:
            bad.append(f"{line!r} (exit {e.code})")
    assert not bad, "README commands the CLI does not accept: " + "; ".join(bad)


def test_readme_make_targets_exist():
    targets = set(re.findall(r"^([\w.-]+):", read(os.path.join(ROOT, "Makefile")), re.M))
    missing = [line for line, words in bash_commands(README)
               if words[0] == "make" and len(words) > 1 and words[1] not in targets]
    assert not missing, f"README make targets the Makefile lacks: {missing}"
