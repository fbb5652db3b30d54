#!/usr/bin/env python3
"""Tests of check-imports.py on small made-up packages (a dump-package JSON and a folder of sources)."""
import importlib.util
import os
import tempfile
import unittest

_spec = importlib.util.spec_from_file_location("check_imports", os.path.join(os.path.dirname(__file__), "check-imports.py"))
check_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_imports)


def target(name, kind="regular", deps=(), **extra):
    dependencies = []
    for d in deps:
        if isinstance(d, tuple):  # (product, package)
            dependencies.append({"product": [d[0], d[1], None, None]})
        else:
            dependencies.append({"byName": [d, None]})
    return {"name": name, "type": kind, "dependencies": dependencies, "exclude": [], "resources": [], **extra}


class CheckImportsTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def check(self, *targets):
        return check_imports.check({"targets": list(targets)}, self.root)[0]

    def test_matching_dependencies_pass_whatever_the_import_form(self):
        self.write("Sources/Model/Model.swift", "public struct M {}\n")
        self.write("Sources/CLib/module.modulemap", 'module CLibShim [system] {\n  header "shim.h"\n}\n')
        self.write("Sources/App/A.swift", "@testable import Model\nimport struct AsyncHTTPClient.HTTPClient\n"
                   "#if canImport(Glibc)\nimport Glibc\n#endif\npublic import CLibShim\n@preconcurrency import Logging\n"
                   "import Foundation\nimport Synchronization\n")
        problems = self.check(
            target("Model"), target("CLib", kind="system"),
            target("App", deps=["Model", "CLib", ("AsyncHTTPClient", "async-http-client"), ("Logging", "swift-log")]))
        self.assertEqual(problems, {})

    def test_unused_and_undeclared_dependencies_are_named_with_the_importing_file(self):
        self.write("Sources/Model/Model.swift", "public struct M {}\n")
        self.write("Sources/Store/Store.swift", "import Model\n")
        self.write("Sources/App/A.swift", "import Store\nimport GRDB\n")
        problems = self.check(target("Model"), target("Store", deps=["Model"]),
                              target("App", deps=["Model", ("Crypto", "swift-crypto")]))
        unused, undeclared = problems["App"]
        self.assertEqual(unused, ["Crypto", "Model"])
        self.assertEqual(undeclared, [("GRDB", "Sources/App/A.swift"), ("Store", "Sources/App/A.swift")])
        self.assertNotIn("Store", problems)

    def test_imports_in_comments_and_strings_do_not_count(self):
        self.write("Sources/App/A.swift", '// import Hidden\n/* import Hidden /* nested */ import Hidden */\n'
                   'let s = "import Hidden"\nlet t = """\nimport Hidden\n"""\nlet u = #"import "Hidden""#\nimport Shown\n')
        self.assertEqual(self.check(target("App"))["App"], ([], [("Shown", "Sources/App/A.swift")]))

    def test_excluded_files_resources_and_nested_targets_are_not_the_targets_sources(self):
        self.write("Tests/AppTests/T.swift", "import Testing\n@testable import App\n")
        self.write("Tests/AppTests/Golden/old.swift", "import Gone\n")
        self.write("Tests/AppTests/Fixtures/f.swift", "import Gone\n")
        self.write("Tests/AppTests/Support/S.swift", "import Other\n")
        self.write("Sources/App/A.swift", "import Foundation\n")
        problems = self.check(
            target("App", kind="executable"),
            target("AppTests", kind="test", deps=["App"], exclude=["Golden"], resources=[{"path": "Fixtures", "rule": "copy"}]),
            target("Support", path="Tests/AppTests/Support", deps=[]))
        self.assertEqual(list(problems), ["Support"])

    def test_executable_names_become_module_names_and_c_targets_are_skipped(self):
        self.write("Sources/my-tool/main.swift", "import Foundation\n")
        self.write("Tests/ToolTests/T.swift", "@testable import my_tool\n")
        self.write("Sources/CShim/shim.c", "int x;\n")
        problems, checked, skipped = check_imports.check({"targets": [
            target("my-tool", kind="executable", deps=["CShim"]), target("CShim"),
            target("ToolTests", kind="test", deps=["my-tool"])]}, self.root)
        self.assertEqual(problems, {"my-tool": (["CShim"], [])})
        self.assertEqual(skipped, ["CShim"])
        self.assertEqual(sorted(checked), ["ToolTests", "my-tool"])


if __name__ == "__main__":
    unittest.main()
