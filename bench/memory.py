"""Memory figures of a process from /proc: what the service costs (PSS, anonymous), beside RSS."""
import collections


def figures(pid):
    """kB: Rss, Pss, Anonymous (private dirty heap/stacks: what the process itself adds), from smaps_rollup."""
    out = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].rstrip(":") in ("Rss", "Pss", "Anonymous", "Pss_Anon", "Pss_File"):
            out[parts[0].rstrip(":")] = int(parts[1])
    return out


def dominant(pid, top=3):
    """The mappings with the most anonymous memory, as 'name size' strings (heap, stacks, anon regions)."""
    sizes, name = collections.Counter(), None
    for line in open(f"/proc/{pid}/smaps"):
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else "[anonymous mapping]"
        elif parts[0] == "Anonymous:":
            sizes[name] += int(parts[1])
    return [f"{n} {kb / 1024:.1f} MB" for n, kb in sizes.most_common(top)]


def mb(kb):
    return f"{kb / 1024:.1f} MB"
