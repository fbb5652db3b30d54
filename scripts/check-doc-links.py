#!/usr/bin/env python3
"""Checks every relative link in README.md and docs/*.md: the file must exist and, for `file.md#anchor`,
the anchor must be a heading of that file (GitHub's slugs). Exits 1 listing each broken link."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
link = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
fence = re.compile(r"^(```|~~~)")


def slugs(path):
    found, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if fence.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


broken = []
for page in pages:
    in_code = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if fence.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        for target in link.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:, file: are not checked here
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(root)}:{number}: {target}"
            if not dest.exists():
                broken.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in slugs(dest):
                broken.append(f"{where}: no heading #{anchor} in {dest.relative_to(root)}")

checked = len(pages)
if broken:
    print("\n".join(broken))
    print(f"doc links: {len(broken)} broken in {checked} pages", file=sys.stderr)
    sys.exit(1)
print(f"doc links: all relative links valid in {checked} pages")
