#!/usr/bin/env python3
# Micro test for BENCHMARKS.md ("Preallocated segments: measured, not built"):
# one fdatasync per 480-byte record on the journal's disk, three ways of writing a segment.
#
#   python3 scripts/bench-prealloc.py [RECORDS=2000] [DIR=target/prealloc] [ROUNDS=3]
#
# The device figures read /sys/block/vda/stat: set DEVICE for another disk.
#   append:   O_APPEND to a growing file (what the journal does): each fdatasync also
#             commits the new inode size through the ext4 journal.
#   falloc:   fallocate()d (unwritten extents) then pwrite in place: each sync converts
#             an unwritten extent (metadata again).
#   zeroed:   zero-filled and synced beforehand, then pwrite in place: data only.
import os, sys, time
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
REC = b"x" * 480
SEG = 4 * 1024 * 1024
d = sys.argv[2] if len(sys.argv) > 2 else "target/prealloc"
os.makedirs(d, exist_ok=True)
DEVICE = os.environ.get("DEVICE", "vda")

def wbytes():
    for l in open("/proc/self/io"):
        if l.startswith("write_bytes:"):
            return int(l.split()[1])

def dev_bytes():
    # Sectors written by the whole device (includes the ext4 journal, and anyone else's I/O).
    return int(open(f"/sys/block/{DEVICE}/stat").read().split()[6]) * 512

def run(mode):
    p = os.path.join(d, "seg-" + mode)
    if os.path.exists(p): os.remove(p)
    if mode == "append":
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    else:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        if mode == "falloc":
            os.posix_fallocate(fd, 0, SEG)
        else:
            # 4 KiB writes: written in 1 MiB writes, the page cache holds the file in large
            # folios and a 480-byte overwrite then writes back a whole 1 MiB folio.
            z = b"\0" * 4096
            for _ in range(SEG // len(z)): os.write(fd, z)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        dfd = os.open(d, os.O_RDONLY); os.fsync(dfd); os.close(dfd)
    b0 = wbytes(); d0 = dev_bytes(); t0 = time.perf_counter(); off = 0
    for _ in range(N):
        if mode == "append": os.write(fd, REC)
        else: os.pwrite(fd, REC, off)
        off += len(REC)
        os.fdatasync(fd)
    dt = time.perf_counter() - t0; b = wbytes() - b0; db = dev_bytes() - d0
    os.close(fd); os.remove(p)
    return N / dt, b / N, db / N

rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
res = {m: [] for m in ("append", "falloc", "zeroed")}
for r in range(rounds):
    for m in res:
        res[m].append(run(m))
for m, v in res.items():
    print(f"{m:<8} syncs/s " + " ".join(f"{x[0]:7.0f}" for x in v) + "   bytes/record " + " ".join(f"{x[1]:6.0f}" for x in v) + "   device bytes/record " + " ".join(f"{x[2]:6.0f}" for x in v))
