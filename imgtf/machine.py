"""What this machine has, for checks that refuse work it cannot hold before the work starts (imgtf.models.footprint,
the decoder's draw)."""
import os


def physical_memory_bytes():
    """The machine's memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
