# SPDX-License-Identifier: GPL-2.0-only
"""wbcrc32c.py - CRC-32C (Castagnoli, reflected 0x82F63B78, init and final
xor 0xFFFFFFFF) as wbrep's on-disk and wire formats use it (engine/crc32c.c):
the one Python copy the test scripts share (tests/lib.sh's heredocs put
tests/ on PYTHONPATH; scripts under tests/<dir>/ add their parent).

  crc32c(b"123456789") == 0xE3069283
"""

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ (0x82F63B78 & -(_c & 1))
    _TABLE.append(_c)


def crc32c(b, crc=0):
    """CRC-32C of bytes b; crc: the value of the bytes before (chaining)."""
    c = crc ^ 0xFFFFFFFF
    for x in b:
        c = (c >> 8) ^ _TABLE[(c ^ x) & 0xFF]
    return c ^ 0xFFFFFFFF


if __name__ == "__main__":
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283
    print("ok")
