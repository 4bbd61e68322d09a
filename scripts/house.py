#!/usr/bin/env python3
"""The house rule of pride's source tree: each room (a folder of src/, or checkpoints/, sharding/)
includes only rooms on its own floor or below, and command-line parsing lives in src/cli/ alone.

    scripts/house.py [REPO]      prints each arrow that runs back up; exit 1 if there is one

The floors, lowest first. A room may include any room that comes before it in this list."""
import pathlib
import re
import sys

FLOORS = ["util", "io", "text", "chat", "config", "data", "dialogue", "sharding", "distributed",
          "checkpoints", "models", "eval", "training", "teacher", "hef", "judge", "preference", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.M)
PARSER = re.compile(r'^\s*#\s*include\s+<CLI/', re.M)


def room_of(path, repo):
    parts = path.relative_to(repo).parts
    return parts[1] if parts[0] == "src" else parts[0]


def main():
    repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sources = [p for top in ("src", "checkpoints", "sharding") for p in (repo / top).rglob("*")
               if p.suffix in (".h", ".cpp") and p.is_file()]
    problems = []
    for path in sorted(sources):
        if path.relative_to(repo).as_posix() == "src/main.cpp":
            continue
        room = room_of(path, repo)
        if room not in FLOORS:
            problems.append(f"{path.relative_to(repo)}: room '{room}' has no floor in scripts/house.py")
            continue
        text = path.read_text(errors="replace")
        for target in INCLUDE.findall(text):
            if target in FLOORS and FLOORS.index(target) > FLOORS.index(room):
                problems.append(f"{path.relative_to(repo)}: {room} includes {target}/, a floor up")
        if room != "cli" and PARSER.search(text):
            problems.append(f"{path.relative_to(repo)}: parses the command line outside src/cli/")
    for problem in problems:
        print(problem)
    print(f"house: {len(sources)} files, {len(problems)} arrows up")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
