#!/usr/bin/python3
"""report.py - turn the rows of a benchmark run into a JSON file and a table.

  report.py --tsv RESULTS.tsv [--json OUT.json] [--readme README.md] [--markdown]
  report.py --from OUT.json [--readme README.md] [--markdown]

The rows (written by bench/lib.sh) are grouped by workload, operation and
tool.  For each group: the median wall time, the range, the peak resident
memory over the repetitions, the throughput (input bytes / median time, in
decimal MB/s) where an input size applies, the bytes stored, and the ratio
of the median to mlops's median for the same operation (above 1: slower
than mlops).  --readme replaces the part of the file between the markers
<!-- results:begin --> and <!-- results:end --> with a Markdown table.
Standard library only.
"""
import argparse
import json
import re
import statistics
import sys

SCHEMA = 1
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LIMIT_TOOLS = re.compile(r"^(cat|sha256sum|cp|find|wc|zstd|rsync)\b")


def num(s, conv=float):
    try:
        return conv(s) if s not in ("", None) else None
    except ValueError:
        return None


def wkey(w):
    return int(w[1:]) if w[1:].isdigit() else 99


def read_tsv(path):
    meta, versions, groups, order = {}, {}, {}, []

    def group(w, op, tool):
        k = (w, op, tool)
        if k not in groups:
            groups[k] = {"workload": w, "op": op, "tool": tool, "samples": [],
                         "skip": None, "ref": None, "command": None, "notes": []}
            order.append(k)
        return groups[k]

    with open(path, encoding="utf-8") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            kind = c[0]
            if kind == "meta" and len(c) >= 3:
                meta[c[1]] = c[2]
            elif kind == "version" and len(c) >= 3:
                versions[c[1]] = c[2]
            elif kind == "skip" and len(c) >= 5:
                g = group(c[1], c[2], c[3])
                g["skip"] = g["skip"] or c[4]
            elif kind == "ref" and len(c) >= 7:
                g = group(c[1], c[2], c[3] + " (reference, not re-run)")
                g["ref"] = {"wall": num(c[4]), "stored": num(c[5], int), "command": c[6]}
            elif kind == "sample" and len(c) >= 12:
                g = group(c[1], c[2], c[3])
                g["samples"].append({
                    "rep": num(c[4], int), "wall_s": num(c[5]),
                    "rss_kib": num(c[6], int), "rc": num(c[7], int),
                    "in_bytes": num(c[8], int), "stored_bytes": num(c[9], int)})
                g["command"] = g["command"] or c[10]
                if c[11] and c[11] not in g["notes"]:
                    g["notes"].append(c[11])
    return meta, versions, [groups[k] for k in order]


def summarize(meta, versions, groups):
    quick = meta.get("quick") == "1"
    results = []
    for g in groups:
        ok = [s for s in g["samples"] if s["rc"] == 0 and s["wall_s"] is not None]
        r = {"workload": g["workload"], "op": g["op"], "tool": g["tool"],
             "command": g["command"], "note": "; ".join(g["notes"]) or None,
             "samples": g["samples"]}
        if ok:
            walls = [s["wall_s"] for s in ok]
            rss = [s["rss_kib"] for s in ok if s["rss_kib"] is not None]
            inb = [s["in_bytes"] for s in ok if s["in_bytes"]]
            st = [s["stored_bytes"] for s in ok if s["stored_bytes"] is not None]
            med = statistics.median(walls)
            r.update(kind="measured", n=len(ok), median_s=med, min_s=min(walls),
                     max_s=max(walls), peak_rss_kib=max(rss) if rss else None,
                     in_bytes=int(statistics.median(inb)) if inb else None,
                     stored_bytes=int(statistics.median(st)) if st else None)
            r["throughput_mb_s"] = (r["in_bytes"] / med / 1e6
                                    if r["in_bytes"] and med > 0 else None)
            if len(ok) < len(g["samples"]):
                r["failed"] = len(g["samples"]) - len(ok)
        elif g["samples"]:
            r.update(kind="failed", n=0, failed=len(g["samples"]))
        elif g["ref"]:
            r.update(kind="reference", median_s=g["ref"]["wall"],
                     stored_bytes=g["ref"]["stored"], command=g["ref"]["command"],
                     note="figure from the issue, full size, another machine")
        else:
            r.update(kind="skipped", note="skipped: " + (g["skip"] or "unknown"))
        results.append(r)

    mlops = {(r["workload"], r["op"]): r["median_s"] for r in results
             if r["tool"] == "mlops" and r["kind"] == "measured"}
    for r in results:
        base = mlops.get((r["workload"], r["op"]))
        ratio = None
        if base and r.get("median_s") is not None and base > 0:
            if r["kind"] == "measured" or (r["kind"] == "reference" and not quick):
                ratio = r["median_s"] / base
        r["ratio_to_mlops"] = ratio

    def rank(r):
        t = r["tool"]
        cls = (0 if t == "mlops" else
               3 if r["kind"] == "reference" else
               2 if LIMIT_TOOLS.match(t) else 1)
        if r["kind"] == "skipped" and cls != 0:
            cls = 4
        return cls
    ops = {}
    for i, r in enumerate(results):
        ops.setdefault((r["workload"], r["op"]), i)
    results.sort(key=lambda r: (wkey(r["workload"]), ops[(r["workload"], r["op"])], rank(r)))
    return {"schema": SCHEMA, "meta": meta, "versions": versions, "results": results}


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1:
        return "%.1f ms" % (s * 1e3) if s >= 0.01 else "%.2f ms" % (s * 1e3)
    return "%.2f s" % s if s < 100 else "%.0f s" % s


def fmt_bytes(b):
    if b is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(b) < 1000 or unit == "TB":
            return ("%d %s" % (b, unit)) if unit == "B" else ("%.1f %s" % (b, unit))
        b /= 1000.0
    return "-"


def table_rows(doc):
    head = ["workload", "tool", "median", "min-max", "peak RSS", "MB/s",
            "stored", "vs mlops", "note"]
    rows = []
    for r in doc["results"]:
        wl = "%s %s" % (r["workload"], r["op"])
        if r["kind"] in ("skipped", "failed"):
            why = r["note"] if r["kind"] == "skipped" else \
                "failed: " + (r.get("note") or "exit status not 0")
            rows.append([wl, r["tool"], why, "", "", "", "", "", ""])
            continue
        rng = ("%s-%s" % (fmt_time(r["min_s"]), fmt_time(r["max_s"]))
               if r["kind"] == "measured" else "")
        rss = ("%.1f MiB" % (r["peak_rss_kib"] / 1024)
               if r.get("peak_rss_kib") is not None else "-")
        thr = ("%.0f" % r["throughput_mb_s"] if r.get("throughput_mb_s") else "-")
        ratio = ("%.2fx" % r["ratio_to_mlops"]
                 if r.get("ratio_to_mlops") is not None else "-")
        tool = r["tool"]
        if r["kind"] == "measured" and r.get("failed"):
            tool += " (%d failed)" % r["failed"]
        note = r.get("note") or ""
        if r["kind"] == "reference":
            note = "`%s`, from the issue" % r["command"]
        rows.append([wl, tool, fmt_time(r.get("median_s")), rng, rss, thr,
                     fmt_bytes(r.get("stored_bytes")), ratio, note])
    return head, rows


def header_lines(doc):
    m, v = doc["meta"], doc["versions"]
    mode = "quick sizes" if m.get("quick") == "1" else "full sizes"
    lines = [
        "run %s, commit %s%s, %s, %s repetition(s), %s s in all" % (
            m.get("started", "?"), m.get("commit", "?"),
            " (dirty)" if m.get("dirty") == "yes" else "", mode,
            m.get("reps", "?"), m.get("seconds", "?")),
        "mlops: %s" % m.get("mlops_version", "?"),
        "machine: %s, %s cores, %.1f GiB, Linux %s, %s; load %s at start" % (
            m.get("cpu", "?"), m.get("cores", "?"),
            int(m.get("memory_kib", 0) or 0) / 1048576, m.get("kernel", "?"),
            m.get("filesystem", "?"), m.get("load", "?")),
        "peers: " + ", ".join("%s %s" % kv for kv in sorted(v.items())),
    ]
    return lines


def render_text(doc):
    head, rows = table_rows(doc)
    out = header_lines(doc) + [""]
    full = [x for x in rows if x[3:] != [""] * 6]
    widths = [max(len(str(x[i])) for x in [head] + full) for i in range(len(head))]
    widths[0] = max([widths[0]] + [len(x[0]) for x in rows])
    widths[1] = max([widths[1]] + [len(x[1]) for x in rows])
    widths[2] = max(widths[2], 8)

    def line(cells):
        # Skip reasons are long: let them run past the remaining columns.
        if cells[3:] == [""] * 6:
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2]])
        return "  ".join(str(c).rjust(w) if 2 <= i < 8 else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    out.append(line(head).rstrip())
    out.append("  ".join("-" * w for w in widths))
    last = None
    for r in rows:
        if last is not None and r[0].split()[0] != last:
            out.append("")
        last = r[0].split()[0]
        out.append(line(r).rstrip())
    return "\n".join(out) + "\n"


def render_markdown(doc):
    head, rows = table_rows(doc)
    out = ["- " + h.replace("_", "\\_") for h in header_lines(doc)] + [""]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 3) + ["---"]) + "|")
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def update_readme(path, doc):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("report.py: %s has no %s ... %s markers" % (path, BEGIN, END))
    a, rest = text.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(a + BEGIN + "\n" + render_markdown(doc) + END + b)
    import os
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tsv", help="rows written by bench/run.sh")
    src.add_argument("--from", dest="from_json", help="a results JSON file")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--readme", help="replace the results section of this file")
    ap.add_argument("--markdown", action="store_true", help="print Markdown")
    a = ap.parse_args()
    if a.tsv:
        doc = summarize(*read_tsv(a.tsv))
    else:
        with open(a.from_json, encoding="utf-8") as f:
            doc = json.load(f)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    if a.readme:
        update_readme(a.readme, doc)
    sys.stdout.write(render_markdown(doc) if a.markdown else render_text(doc))


if __name__ == "__main__":
    main()
