"""release_free_memory hands the C allocator's free pages back: what keeps correlate's parent small."""

from __future__ import annotations

import platform
import sys

import pytest

from mlprom.events import scan as eventscan


def _rss_pages() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's; elsewhere the call does nothing by design",
)
def test_freed_blocks_go_back_to_the_system() -> None:
    # Blocks of 2 KiB come from malloc's heap (not mmap); a small survivor every so often keeps the heap
    # from shrinking at its top, as a decoded object's leftovers do.
    size = 2048  # a variable: b"x" * 2048 would be one constant, folded at compile time
    blocks = [b"x" * size for _ in range(40_000)]  # ~80 MiB
    keep = blocks[::1000]
    del blocks
    before = _rss_pages()
    eventscan.release_free_memory()
    after = _rss_pages()
    assert eventscan._trim, "glibc's malloc_trim was not found"
    assert before - after > (40 * 2**20) // 4096, (before, after)  # at least 40 MiB returned
    assert len(keep) == 40
