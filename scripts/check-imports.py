#!/usr/bin/env python3
"""Checks that each Package.swift target depends on exactly the modules its Swift sources import.

The targets come from `swift package dump-package` (the manifest as SwiftPM reads it, so nothing is parsed
by guesswork), the imports from every `.swift` file of the target: `import X`, `@testable import X`,
`import struct X.Y`, `public import X`, and imports inside `#if canImport(X)` blocks all count. A product's
module is named like the product (`.product(name: "AsyncHTTPClient", ...)` imports as `AsyncHTTPClient`); a
system library target's module is the one its module map declares. Toolchain modules (Foundation, Glibc,
Testing, ...) need no dependency. Targets without Swift sources (C targets, system libraries) are not checked.

Exit status 1, naming each target and its differences, when a dependency is declared but never imported or a
module is imported but not declared (it then builds only by luck of the build order). Run from anywhere:
    python3 scripts/check-imports.py [--package-path DIR] [--dump-json FILE]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

# Modules of the toolchain and the C library: importable without a dependency.
SYSTEM_MODULES = {
    "Swift", "SwiftShims", "_Concurrency", "_StringProcessing", "_Differentiation", "RegexBuilder", "Observation",
    "Distributed", "Synchronization", "Cxx", "CxxStdlib",
    "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking", "FoundationXML",
    "CoreFoundation", "Dispatch",
    "Glibc", "SwiftGlibc", "Musl", "Bionic", "Android", "WASILibc", "Darwin", "WinSDK", "ucrt", "CRT", "os",
    "ObjectiveC", "Combine",
    "Testing", "XCTest",
}

# import declarations: attributes (@testable, @_exported, @preconcurrency, @_implementationOnly, ...), an access
# level, an optional kind (import struct X.Y), then the module (only its first component counts).
IMPORT = re.compile(
    r"^\s*(?:@[A-Za-z_]\w*(?:\([^)]*\))?\s+)*"
    r"(?:(?:public|package|internal|fileprivate|private)\s+)?"
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func|actor)\s+)?"
    r"([A-Za-z_]\w*)",
    re.MULTILINE,
)
MODULE_MAP_NAME = re.compile(r"^\s*(?:explicit\s+)?(?:framework\s+)?module\s+([A-Za-z_]\w*)", re.MULTILINE)


def c99name(name):
    """The module name SwiftPM gives a target: characters other than letters, digits and _ become _."""
    module = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "_" + module if module[:1].isdigit() else module


def strip_comments_and_strings(source):
    """The source with comments and string literals blanked (newlines kept), so neither can fake an import."""
    out = []
    i, n = 0, len(source)
    depth = 0  # nesting of /* */ (Swift block comments nest)
    while i < n:
        if depth:
            if source.startswith("/*", i):
                depth, i = depth + 1, i + 2
            elif source.startswith("*/", i):
                depth, i = depth - 1, i + 2
            else:
                out.append("\n" if source[i] == "\n" else " ")
                i += 1
        elif source.startswith("/*", i):
            depth, i = 1, i + 2
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source[i] == '"' or (source[i] == "#" and re.match(r'#+"', source[i:])):
            hashes = len(source[i:]) - len(source[i:].lstrip("#"))
            j = i + hashes
            quote = '"""' if source.startswith('"""', j) else '"'
            closing = quote + "#" * hashes
            j += len(quote)
            while j < n and not source.startswith(closing, j):
                j += 2 if source[j] == "\\" and not hashes else 1
            text = source[i:j + len(closing)]
            out.append("".join("\n" if c == "\n" else " " for c in text))
            i = j + len(closing)
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def imports_in(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return set(IMPORT.findall(strip_comments_and_strings(f.read())))


def target_directory(root, target):
    if target.get("path"):
        return os.path.join(root, target["path"])
    bases = {"test": ["Tests", "Sources"], "plugin": ["Plugins"]}.get(target["type"], ["Sources", "Source", "src", "srcs"])
    for base in bases:
        candidate = os.path.join(root, base, target["name"])
        if os.path.isdir(candidate):
            return candidate
    return os.path.join(root, bases[0], target["name"])


def module_name(root, target):
    if target["type"] == "system":
        for name in ("module.modulemap", "module.map"):
            path = os.path.join(target_directory(root, target), name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    found = MODULE_MAP_NAME.search(f.read())
                if found:
                    return found.group(1)
    return c99name(target["name"])


def swift_files(root, target, other_directories):
    """The target's .swift files: its sources (all of its folder unless `sources` narrows it) minus excludes and
    resources, and minus folders of other targets nested inside it."""
    directory = target_directory(root, target)
    skip = {os.path.normpath(os.path.join(directory, p)) for p in target.get("exclude", [])}
    skip |= {os.path.normpath(os.path.join(directory, r["path"])) for r in target.get("resources", [])}
    skip |= {d for d in other_directories if d != os.path.normpath(directory)}
    starts = [os.path.join(directory, p) for p in target["sources"]] if target.get("sources") else [directory]
    found = []
    for start in starts:
        if os.path.isfile(start):
            if start.endswith(".swift"):
                found.append(start)
            continue
        for folder, subfolders, files in os.walk(start):
            subfolders[:] = sorted(s for s in subfolders if os.path.normpath(os.path.join(folder, s)) not in skip)
            found += [os.path.join(folder, f) for f in sorted(files)
                      if f.endswith(".swift") and os.path.normpath(os.path.join(folder, f)) not in skip]
    return found


def declared_modules(dependency, local_modules):
    """The module a target dependency makes importable (product names are module names in this package)."""
    if "product" in dependency:
        name, _package, aliases = dependency["product"][:3]
        return (aliases or {}).get(name, c99name(name))
    name = (dependency.get("byName") or dependency.get("target"))[0]
    return local_modules.get(name, c99name(name))


def check(manifest, root):
    """Problems by target name: (declared but not imported, imported but not declared with where)."""
    targets = [t for t in manifest["targets"] if t["type"] not in ("binary", "plugin")]
    local_modules = {t["name"]: module_name(root, t) for t in manifest["targets"]}
    directories = [os.path.normpath(target_directory(root, t)) for t in manifest["targets"]]
    problems, checked, skipped = {}, [], []
    for target in targets:
        files = [] if target["type"] == "system" else swift_files(root, target, directories)
        if not files:
            skipped.append(target["name"])
            continue
        checked.append(target["name"])
        own = local_modules[target["name"]]
        where = {}
        for path in files:
            for module in imports_in(path) - SYSTEM_MODULES - {own}:
                where.setdefault(module, os.path.relpath(path, root))
        declared = {declared_modules(d, local_modules) for d in target.get("dependencies", [])}
        unused = sorted(declared - set(where))
        undeclared = sorted((m, where[m]) for m in set(where) - declared)
        if unused or undeclared:
            problems[target["name"]] = (unused, undeclared)
    return problems, checked, skipped


def dump_package(root):
    swift = os.environ.get("SWIFT") or shutil.which("swift") or "/opt/swift/usr/bin/swift"
    try:
        result = subprocess.run([swift, "package", "--package-path", root, "dump-package"],
                                capture_output=True, text=True, check=False)
    except OSError as e:
        sys.exit(f"check-imports: cannot run {swift} ({e}); set SWIFT= to the swift binary")
    if result.returncode != 0:
        sys.exit(f"check-imports: `swift package dump-package` failed:\n{result.stderr}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package-path", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--dump-json", help="read this `swift package dump-package` output instead of running it")
    args = parser.parse_args()
    root = os.path.abspath(args.package_path)
    if args.dump_json:
        with open(args.dump_json, encoding="utf-8") as f:
            manifest = json.load(f)
    else:
        manifest = dump_package(root)
    problems, checked, skipped = check(manifest, root)
    for name, (unused, undeclared) in sorted(problems.items()):
        print(f"target {name}:")
        if unused:
            print(f"  declared but never imported: {', '.join(unused)} (remove from its dependencies)")
        for module, path in undeclared:
            print(f"  imported but not declared: {module} (imported in {path}; add it to its dependencies)")
    if problems:
        print(f"check-imports: {len(problems)} of {len(checked)} targets' dependencies differ from their imports "
              "(Package.swift)", file=sys.stderr)
        return 1
    print(f"check-imports: the dependencies of all {len(checked)} Swift targets equal their imports"
          + (f" (not checked, no Swift sources: {', '.join(skipped)})" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
