"""Measured read bandwidth of the disk that holds the models: sequential (large reads) and
4 KiB random (one request at a time), from a temporary file written for the purpose.

The file must be read from the device, not from the page cache that writing it filled:
O_DIRECT bypasses the cache where the filesystem allows it; elsewhere the cached pages are
dropped with posix_fadvise(DONTNEED) after an fsync. The result says which was used.
A model larger than RAM runs at this disk's speed (speed.py)."""

from __future__ import annotations

import mmap
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import TokbenchError

DEFAULT_FILE_BYTES = 512 * 2**20
MIN_FILE_BYTES = 8 * 2**20
BLOCK = 4 * 2**20  # sequential request size: large enough to reach the device's rate
PAGE = 4096


@dataclass(frozen=True, slots=True)
class DiskBandwidth:
    path: str  # the folder measured
    device: str | None  # the filesystem's source, e.g. /dev/nvme0n1p2
    fstype: str | None
    sequential_read_gbs: float
    random_4k_read_gbs: float
    random_4k_iops: float
    file_bytes: int
    random_reads: int
    cache_bypass: str  # "O_DIRECT", "fadvise" or "none" (figures may be the page cache)


def device_of(folder: Path) -> tuple[str | None, str | None]:
    """The mounted filesystem that holds `folder`: (device, type), the longest mount match."""
    import psutil

    target = str(folder.resolve())
    best = None
    for p in psutil.disk_partitions(all=True):
        mp = p.mountpoint.rstrip("/") or "/"
        inside = target == mp or target.startswith(mp + "/") or mp == "/"
        if inside and (best is None or len(mp) > len(best.mountpoint.rstrip("/") or "/")):
            best = p
    return (best.device, best.fstype) if best else (None, None)


def _open_uncached(path: Path) -> tuple[int, str]:
    """A read descriptor that does not hit the page cache, and how that was arranged."""
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, os.O_RDONLY | direct), "O_DIRECT"
        except OSError:
            pass  # tmpfs and some overlay or network filesystems refuse O_DIRECT
    fd = os.open(path, os.O_RDONLY)
    return fd, ("fadvise" if _drop_cache(fd) else "none")


def _drop_cache(fd: int) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        return False
    return True


def _write(path: Path, size: int) -> None:
    block = bytearray(os.urandom(BLOCK))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for i in range(size // BLOCK):
            block[:8] = i.to_bytes(8, "little")  # no two blocks alike: no dedup shortcut
            os.write(fd, block)
        os.fsync(fd)
        _drop_cache(fd)  # clean pages now; dropped here and again before each pass
    finally:
        os.close(fd)


def measure_disk(
    folder: Path,
    file_bytes: int = DEFAULT_FILE_BYTES,
    *,
    random_reads: int = 4096,
    random_budget_s: float = 3.0,
    seed: int = 0,
) -> DiskBandwidth:
    """Write a `file_bytes` file in `folder`, read it back whole and at random 4 KiB pages,
    then delete it. Random reads stop after `random_reads` or `random_budget_s`."""
    if not folder.is_dir():
        raise TokbenchError(f"--disk {folder}: not a folder")
    size = max(MIN_FILE_BYTES, file_bytes // BLOCK * BLOCK)
    free = shutil.disk_usage(folder).free
    if free < size + 256 * 2**20:
        raise TokbenchError(
            f"{folder} has {free / 2**20:,.0f} MiB free, too little for a {size / 2**20:,.0f} "
            "MiB test file: pass a smaller --disk-mb or another --disk"
        )
    path = folder / f".tokbench-disk-{os.getpid()}-{time.monotonic_ns()}"
    try:
        _write(path, size)
        seq_s, bypass = _sequential(path, size)
        n, rand_s = _random(path, size, random_reads, random_budget_s, seed)
    finally:
        path.unlink(missing_ok=True)
    device, fstype = device_of(folder)
    return DiskBandwidth(
        path=str(folder),
        device=device,
        fstype=fstype,
        sequential_read_gbs=size / seq_s / 1e9,
        random_4k_read_gbs=n * PAGE / rand_s / 1e9,
        random_4k_iops=n / rand_s,
        file_bytes=size,
        random_reads=n,
        cache_bypass=bypass,
    )


def _sequential(path: Path, size: int) -> tuple[float, str]:
    fd, bypass = _open_uncached(path)
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT requires
    try:
        t = time.perf_counter()
        done = 0
        while done < size:
            n = os.preadv(fd, [buf], done)
            if n <= 0:
                raise TokbenchError(f"{path}: short read at {done} of {size} bytes")
            done += n
        return time.perf_counter() - t, bypass
    finally:
        buf.close()
        os.close(fd)


def _random(path: Path, size: int, reads: int, budget_s: float, seed: int) -> tuple[int, float]:
    fd, bypass = _open_uncached(path)
    if bypass != "O_DIRECT" and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead around each page
    pages = random.Random(seed).sample(range(size // PAGE), min(reads, size // PAGE))
    buf = mmap.mmap(-1, PAGE)
    try:
        n = 0
        t = time.perf_counter()
        deadline = t + budget_s
        for page in pages:
            os.preadv(fd, [buf], page * PAGE)
            n += 1
            if n % 64 == 0 and time.perf_counter() > deadline:
                break
        return n, time.perf_counter() - t
    finally:
        buf.close()
        os.close(fd)
