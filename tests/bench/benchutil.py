#!/usr/bin/env python3
"""Helpers of tests/bench/run.sh (stdlib only).

    benchutil.py uidset FIRST LAST MOD RES...  UIDs u in FIRST..LAST with
                                              u % MOD in RES, as "a,b,c"
    benchutil.py count ROOT                   message files under ROOT
                                              (every */cur/* and */new/*)
    benchutil.py seen ROOT MOD RES            marks read, the way a mail
                                              reader does, every unread message
                                              whose Message-ID hashes to RES
                                              (mod MOD): new/NAME or
                                              cur/NAME:2,FL -> cur/NAME:2,FL+S;
                                              prints how many
    benchutil.py fsync-tree DIR               fsync(2) of every file and
                                              directory under DIR
    benchutil.py memory CMD...                runs CMD (output discarded),
                                              reading /proc/PID/status every
                                              10 ms; prints the peaks of
                                              VmRSS, RssAnon and RssFile in
                                              KB, and CMD's exit status
    benchutil.py table RAW META OUT           the result table from the raw
                                              timings (TSV) and facts (KEY=VAL)
"""

import hashlib
import os
import re
import statistics
import sys

MSGID_RE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def cmd_uidset(first, last, mod, *res):
    first, last, mod = int(first), int(last), int(mod)
    want = {int(r) % mod for r in res}
    print(",".join(str(u) for u in range(first, last + 1) if u % mod in want))


def message_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.basename(dirpath) in ("cur", "new"):
            dirnames[:] = []
            for f in filenames:
                if not f.startswith("."):
                    yield dirpath, f


def cmd_count(root):
    print(sum(1 for _ in message_files(root)))


def message_id(path):
    with open(path, "rb") as fh:
        head = fh.read(16384)
    end = head.find(b"\n\n")
    if end >= 0:
        head = head[:end]
    m = MSGID_RE.search(head)
    return b"".join(m.group(1).split()) if m else b""


def cmd_seen(root, mod, res):
    mod, res = int(mod), int(res) % int(mod)
    done = 0
    for dirpath, name in list(message_files(root)):
        base, sep, flags = name.partition(":2,")
        if "S" in flags:
            continue
        path = os.path.join(dirpath, name)
        mid = message_id(path)
        if int(hashlib.md5(mid).hexdigest()[:8], 16) % mod != res:
            continue
        folder = os.path.dirname(dirpath)
        new = "%s:2,%s" % (base, "".join(sorted(set(flags) | {"S"})))
        os.rename(path, os.path.join(folder, "cur", new))
        done += 1
    print(done)


def cmd_fsync_tree(top):
    dirs = []
    for dirpath, _, filenames in os.walk(top):
        dirs.append(dirpath)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for d in dirs:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ table

def load_raw(path):
    """{(scenario, tool): [(seconds, rss_kb), ...]}"""
    runs = {}
    with open(path) as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5 or parts[0] == "scenario":
                continue
            scen, tool, _rnd, secs, rss = parts
            runs.setdefault((scen, tool), []).append(
                (float(secs), int(rss) if rss.isdigit() else 0))
    return runs


def load_meta(path):
    meta = {}
    with open(path) as fh:
        for line in fh:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                meta[k] = v
    return meta


def fmt_s(x):
    if x is None:
        return "-"
    if x < 10:
        return "%.3f s" % x
    if x < 100:
        return "%.2f s" % x
    return "%.1f s" % x


def fmt_mb(kb):
    return "-" if not kb else "%.0f MB" % (kb / 1024.0) if kb >= 10240 else "%.1f MB" % (kb / 1024.0)


def cmd_memory(*cmd):
    """Where the peak RSS goes: the process's own memory (RssAnon: heap,
    stacks, buffers) apart from the library pages mapped from files
    (RssFile), which other processes share. Sampled, so a peak shorter than
    10 ms can be missed; /usr/bin/time's maximum RSS stays the figure."""
    import subprocess
    import time
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(list(cmd), stdout=null, stderr=null)
        path = "/proc/%d/status" % p.pid
        while p.poll() is None:
            try:
                with open(path) as fh:
                    for line in fh:
                        key, _, val = line.partition(":")
                        if key in peak:
                            peak[key] = max(peak[key], int(val.split()[0]))
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.01)
    print(peak["VmRSS"], peak["RssAnon"], peak["RssFile"], p.returncode)


def cmd_table(raw, metafile, out):
    runs = load_raw(raw)
    meta = load_meta(metafile)
    n10 = int(meta.get("n10", "0"))
    n100 = int(meta.get("n100", "0"))
    mb10 = float(meta.get("bytes10", "0")) / 1e6
    mb100 = float(meta.get("bytes100", "0")) / 1e6

    def med(scen, tool, idx=0):
        r = runs.get((scen, tool))
        if not r:
            return None
        return statistics.median(x[idx] for x in r)

    def peak(scen, tool):
        r = runs.get((scen, tool))
        return max(x[1] for x in r) if r else None

    rows = [
        ("A", "dl10", "initial download %s msgs (%.0f MB)" % (format(n10, ","), mb10)),
        ("B", "noop10", "no-change re-sync, %s msgs" % format(n10, ",")),
        ("C", "srvflags", "re-sync after 1%% server flag changes (%s)" % meta.get("srvflags_n", "?")),
        ("D", "locflags", "re-sync after 1%% local flag renames (%s)" % meta.get("locflags_n", "?")),
        ("", "dl100", "initial download %s small msgs (%.0f MB)" % (format(n100, ","), mb100)),
        ("B", "noop100", "no-change re-sync, %s msgs" % format(n100, ",")),
    ]
    lines = []
    title = "%s vs %s" % (meta.get("gd_version", "gmaildir"), meta.get("mb_version", "mbsync: not run"))
    lines.append(title)
    lines.append("server: Dovecot %s on 127.0.0.1, implicit TLS verified against the harness CA; "
                 "%s CPUs; %s" % (meta.get("dovecot", "?"), meta.get("cpus", "?"),
                                  "QUICK corpus" if meta.get("quick") == "1" else "full corpus"))
    lines.append("median of %s download round(s) and %s re-sync round(s), tools alternating; "
                 "ratio = gmaildir / mbsync (< 1: gmaildir faster)" %
                 (meta.get("rounds_dl", "?"), meta.get("rounds", "?")))
    lines.append("")
    hdr = "%-2s %-50s %10s %10s %7s %9s %9s" % ("", "scenario", "gmaildir", "mbsync", "ratio",
                                                 "gd RSS", "mb RSS")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for tag, scen, label in rows:
        g, m = med(scen, "gmaildir"), med(scen, "mbsync")
        if g is None and m is None:
            continue
        ratio = "%.2f" % (g / m) if g is not None and m else "-"
        lines.append("%-2s %-50s %10s %10s %7s %9s %9s" % (
            tag, label, fmt_s(g), fmt_s(m), ratio,
            fmt_mb(med(scen, "gmaildir", 1)), fmt_mb(med(scen, "mbsync", 1))))
    # E: peak RSS over every run of each tool.
    gp = max((x[1] for (s, t), r in runs.items() if t == "gmaildir" for x in r), default=0)
    mp = max((x[1] for (s, t), r in runs.items() if t == "mbsync" for x in r), default=0)
    if gp or mp:
        lines.append("%-2s %-50s %10s %10s %7s" % (
            "E", "peak RSS, max over all runs", fmt_mb(gp), fmt_mb(mp),
            "%.2f" % (gp / mp) if gp and mp else "-"))
    fl, m = med("srvflags", "floor"), med("srvflags", "mbsync")
    if fl is not None:
        lines.append("   C's protocol floor: LOGIN, LIST, SELECT + CHANGEDSINCE per folder %10s%s" % (
            fmt_s(fl), "  (%.2f x mbsync)" % (fl / m) if m else ""))
    for tag, n in (("a", n10), ("b", n100)):
        for tool in ("gmaildir", "mbsync"):
            v = meta.get("mem_%s_%s" % (tag, tool))
            if v:
                rss, anon, fil = (int(x) for x in v.split()[:3])
                lines.append("   download of %s msgs, %-8s peak RSS %8s = own (RssAnon) %8s "
                             "+ library pages (RssFile) %8s" % (
                                 format(n, ","), tool, fmt_mb(rss), fmt_mb(anon), fmt_mb(fil)))
    lines.append("")
    for scen, n, mb, what in (("dl10", n10, mb10, "mixed sizes"),
                              ("dl100", n100, mb100, "1-2 KB msgs")):
        for tool in ("gmaildir", "mbsync"):
            t = med(scen, tool)
            if t:
                lines.append("   download rate %-8s %7.0f msgs/s %6.1f MB/s   (%s, %s)" % (
                    tool, n / t, mb / t, format(n, ","), what))
    for key, label in (("ref_cp", "cp -a of the server's Maildir, no sync"),
                       ("ref_cp_syncfs", "cp -a + one syncfs (sync -f)"),
                       ("ref_cp_fsync", "cp -a + fsync of every file and dir")):
        r = runs.get((key, "ref"))
        if r:
            t = statistics.median(x[0] for x in r)
            lines.append("F  %-50s %10s  (%.0f MB/s; %s files, %.0f MB incl. Dovecot indexes)" % (
                label, fmt_s(t), float(meta.get("ref_bytes", "0")) / 1e6 / t,
                meta.get("ref_files", "?"), float(meta.get("ref_bytes", "0")) / 1e6))
    r = runs.get(("ref_cp_fsync", "ref"))
    g = med("dl10", "gmaildir")
    if r and g:
        lines.append("   gmaildir's download of the %s msgs takes %.1fx the cp -a + fsync reference" % (
            format(n10, ","), g / statistics.median(x[0] for x in r)))
    lines.append("")
    for key, label in (("gen10", "corpus %s msgs (alice): genmail + doveadm copy" % format(n10, ",")),
                       ("gen100", "corpus %s msgs (bob): genmail + doveadm copy" % format(n100, ",")),
                       ("total", "whole benchmark")):
        if key in meta:
            lines.append("   %-50s %10s" % (label, fmt_s(float(meta[key]))))
    if meta.get("profile"):
        lines.append("")
        lines.extend(profile_lines(meta["profile"]))
    for note in sorted(k for k in meta if k.startswith("note")):
        lines.append("   note: " + meta[note])
    text = "\n".join(lines) + "\n"
    with open(out, "w") as fh:
        fh.write(text)
    sys.stdout.write(text)


def profile_lines(pdir):
    """A summary of the BENCH_PROFILE files: one line per tool and size."""
    out = ["profile of one no-change re-sync (files in %s):" % pdir,
           "   %-18s %9s %9s %10s %9s %9s  %s" % ("run", "wall", "CPU", "syscalls", "IMAP cmds",
                                                 "FETCH rsp", "top syscalls (calls)")]
    names = sorted({f.rsplit(".", 1)[0] for f in os.listdir(pdir)},
                   key=lambda n: (int(n.rsplit("-", 1)[1]), n))
    for name in names:
        base = os.path.join(pdir, name)
        wall = cpu = calls = "-"
        top = ""
        try:
            with open(base + ".perf") as fh:
                for line in fh:
                    f = line.split()
                    if "task-clock" in line and f:
                        cpu = "%.0f ms" % float(f[0].replace(",", ""))
                    elif "time elapsed" in line and f:
                        wall = "%.0f ms" % (float(f[0].replace(",", "")) * 1000)
        except OSError:
            pass
        try:
            rows = []
            with open(base + ".strace") as fh:
                for line in fh:
                    f = line.split()
                    if len(f) >= 5 and f[-1] == "total":
                        calls = f[3]
                    elif len(f) >= 5 and f[0][0].isdigit() and not f[-1].startswith("-"):
                        rows.append((int(f[3]), f[-1]))
            top = " ".join("%s %d" % (n, c) for c, n in sorted(rows, reverse=True)[:3])
        except (OSError, ValueError):
            pass
        cmds = fetches = 0
        try:
            with open(base + ".wire", errors="replace") as fh:
                for line in fh:
                    if line.startswith(">>> ") or " imap: > " in line:
                        cmds += 1
                    elif re.search(r"(^|imap: < )\* \d+ FETCH", line):
                        fetches += 1
        except OSError:
            pass
        out.append("   %-18s %9s %9s %10s %9d %9d  %s" % (name, wall, cpu, calls, cmds, fetches, top))
    return out


def main(argv):
    cmds = {"uidset": cmd_uidset, "count": cmd_count, "seen": cmd_seen,
            "fsync-tree": cmd_fsync_tree, "memory": cmd_memory, "table": cmd_table}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    cmds[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
