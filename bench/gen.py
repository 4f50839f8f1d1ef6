#!/usr/bin/python3
"""gen.py - deterministic workload data for bench/run.sh.

Every generator takes a seed and writes the same bytes on every machine
(Python's Mersenne Twister random() and %-formatting are stable), so two
runs, or two machines, measure the same input.  Incompressible bytes come
from the caller (openssl AES-CTR over /dev/zero with a fixed key) on stdin.

  gen.py csv OUT BYTES SEED          event table, about 60 bytes a row
  gen.py edit IN OUT MODE SEED       v2 of a csv: 1% rows appended, and 0.1%
                                     of the rows edited, MODE contiguous
                                     (one block mid-file) or scattered
  gen.py train OUT ROWS FEATURES SEED  numeric features + binary target
  gen.py tree DIR FILES SEED < RANDOM  FILES files of 1-8 KiB in DIR/NN/NN/
  gen.py entities OUT ROWS SEED      entity,timestamp rows for feature joins
  gen.py features OUT ROWS SEED      entity,timestamp,feature values
"""
import os
import random
import sys

HEADER = "id,day,user,country,amount,qty,score,flag\n"
COUNTRIES = ["at", "be", "br", "ca", "ch", "cn", "de", "dk", "es", "fi",
             "fr", "gb", "in", "it", "jp", "mx", "nl", "pl", "se", "us"]
USERS = ["u%04d" % i for i in range(5000)]


def csv_row(i, rnd):
    """One row of the event table; rnd is a bound random()."""
    return "%d,2024-%02d-%02d,%s,%s,%.2f,%d,%.4f,%d\n" % (
        i, 1 + int(rnd() * 12), 1 + int(rnd() * 28),
        USERS[int(rnd() * 5000)], COUNTRIES[int(rnd() * 20)],
        rnd() * 1000, int(rnd() * 50), rnd() * 2 - 1, rnd() < 0.3)


def write_atomic(path, fill):
    """Write through fill(file) into path.tmp, then rename: a cache entry
    is either complete or absent."""
    tmp = path + ".tmp"
    with open(tmp, "w", buffering=1 << 20) as f:
        fill(f)
    os.replace(tmp, path)


def gen_csv(out, nbytes, seed):
    def fill(f):
        rnd = random.Random(seed).random
        f.write(HEADER)
        total, i, batch = len(HEADER), 0, []
        while total < nbytes:
            row = csv_row(i, rnd)
            batch.append(row)
            total += len(row)
            i += 1
            if len(batch) == 10000:
                f.write("".join(batch))
                batch = []
        f.write("".join(batch))
    write_atomic(out, fill)


def gen_edit(src, out, mode, seed):
    """v2 = v1 with 0.1% of its rows edited (the amount column) and 1% new
    rows appended.  contiguous: one block starting mid-file; scattered:
    rows chosen at random over the whole file."""
    with open(src) as f:
        nrows = sum(1 for _ in f) - 1
    r = random.Random(seed)
    rnd = r.random
    nedit = max(1, nrows // 1000)
    if mode == "contiguous":
        first = nrows // 2
        edit = set(range(first, first + nedit))
    elif mode == "scattered":
        edit = set(r.sample(range(nrows), nedit))
    else:
        sys.exit("gen.py: unknown edit mode '%s'" % mode)

    def fill(f):
        with open(src) as g:
            f.write(g.readline())
            for i, line in enumerate(g):
                if i in edit:
                    cols = line.split(",")
                    cols[5] = "%.2f" % (rnd() * 1000)
                    line = ",".join(cols)
                f.write(line)
        batch = [csv_row(nrows + k, rnd) for k in range(max(1, nrows // 100))]
        f.write("".join(batch))
    write_atomic(out, fill)


def gen_train(out, rows, nfeat, seed):
    """Features ~ U(-1,1) scaled per column; target from a fixed logistic
    model plus noise, so a linear classifier reaches ~85% accuracy."""
    def fill(f):
        r = random.Random(seed)
        rnd = r.random
        w = [r.uniform(-2, 2) for _ in range(nfeat)]
        scale = [10 ** (k % 4 - 1) for k in range(nfeat)]
        f.write(",".join("x%02d" % k for k in range(nfeat)) + ",label\n")
        batch = []
        fmt = ",".join(["%.4f"] * nfeat) + ",%d\n"
        for i in range(rows):
            x = [rnd() * 2 - 1 for _ in range(nfeat)]
            z = sum(a * b for a, b in zip(w, x)) * 0.6 + (rnd() - 0.5) * 2
            batch.append(fmt % (*[a * s for a, s in zip(x, scale)], z > 0))
            if len(batch) == 10000:
                f.write("".join(batch))
                batch = []
        f.write("".join(batch))
    write_atomic(out, fill)


def gen_tree(top, nfiles, seed):
    """nfiles files of 1-8 KiB, bytes read from stdin, in top/NN/NN/."""
    r = random.Random(seed)
    src = sys.stdin.buffer
    tmp = top + ".tmp"
    per_dir = max(1, nfiles // 100)
    for i in range(nfiles):
        d = i // per_dir
        path = os.path.join(tmp, "%02d" % (d // 10 % 100), "%02d" % (d % 10),
                            "f%06d.bin" % i)
        if i % per_dir == 0:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        size = 1024 + int(r.random() * 7169)
        data = src.read(size)
        if len(data) != size:
            sys.exit("gen.py: short read on stdin")
        with open(path, "wb") as f:
            f.write(data)
    os.replace(tmp, top)


def gen_entities(out, rows, seed):
    def fill(f):
        rnd = random.Random(seed).random
        f.write("user,ts\n")
        f.write("".join("%s,%d\n" % (USERS[int(rnd() * 5000)],
                                     1704067200 + int(rnd() * 31536000))
                        for _ in range(rows)))
    write_atomic(out, fill)


def gen_features(out, rows, seed):
    def fill(f):
        rnd = random.Random(seed).random
        f.write("user,ts,spend,visits\n")
        t = 1704067200
        batch = []
        for i in range(rows):
            t += int(rnd() * 60)
            batch.append("%s,%d,%.2f,%d\n" % (USERS[int(rnd() * 5000)], t,
                                              rnd() * 100, int(rnd() * 20)))
        f.write("".join(batch))
    write_atomic(out, fill)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, a = argv[1], argv[2:]
    if cmd == "csv" and len(a) == 3:
        gen_csv(a[0], int(a[1]), int(a[2]))
    elif cmd == "edit" and len(a) == 4:
        gen_edit(a[0], a[1], a[2], int(a[3]))
    elif cmd == "train" and len(a) == 4:
        gen_train(a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "tree" and len(a) == 3:
        gen_tree(a[0], int(a[1]), int(a[2]))
    elif cmd == "entities" and len(a) == 3:
        gen_entities(a[0], int(a[1]), int(a[2]))
    elif cmd == "features" and len(a) == 3:
        gen_features(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
