#!/usr/bin/env python3
"""`make reliability` (full) and its shortened form in `make test`: crash, fault, bad-input and storage suites."""
import argparse, os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Results, cleanup  # noqa: E402
import scenarios  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="the shortened version CI runs (a few minutes)")
    ap.add_argument("--only", choices=["crash", "faults", "bad", "storage"])
    ap.add_argument("--faulty", type=int, help="deployments in the fault part")
    a = ap.parse_args()
    r = Results()
    started = time.time()
    size = dict(deployments=60, kills=10, faulty=40) if a.short else dict(deployments=300, kills=30, faulty=200)
    if a.faulty:
        size["faulty"] = a.faulty
    parts = [
        ("crash", lambda d: scenarios.crash(r, d, size["deployments"], size["kills"])),
        ("faults", lambda d: scenarios.faults(r, d, size["faulty"])),
        ("bad", lambda d: scenarios.bad_input(r, d)),
        ("storage", lambda d: scenarios.storage(r, d)),
    ]
    for name, part in parts:
        if a.only and a.only != name:
            continue
        t = time.time()
        with tempfile.TemporaryDirectory(prefix=f"cg-rel-{name}-") as d:
            try:
                part(d)
            except Exception as e:  # a broken part is a failure, not a crash of the suite
                r.check(f"{name}: ran to the end", False, repr(e)[:200])
            finally:
                cleanup()
        r.figure(f"{name}: duration", f"{time.time() - t:.0f} s")
    r.figure("total duration", f"{time.time() - started:.0f} s")
    r.print()
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
