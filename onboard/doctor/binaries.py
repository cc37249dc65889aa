"""Which processor an executable is built for, read from its header (ELF, Mach-O) or its #! line.

A plugin built for another architecture fails with "exec format error" on Linux, and on Apple Silicon an
x86_64 build runs only through Rosetta; reading the header names the problem before anything runs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

#: ELF e_machine values (the System V ABI's registry) for the architectures users meet.
ELF_MACHINES = {
    0x03: "x86",
    0x08: "mips",
    0x14: "powerpc",
    0x15: "ppc64",
    0x16: "s390",
    0x28: "arm",
    0x2B: "sparcv9",
    0x3E: "x86_64",
    0xB7: "arm64",
    0xF3: "riscv",
}
#: Mach-O cputype values (mach/machine.h); the 0x01000000 bit marks 64-bit.
MACHO_CPUTYPES = {7: "x86", 0x01000007: "x86_64", 12: "arm", 0x0100000C: "arm64", 18: "powerpc"}
_MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce": ">",
    b"\xfe\xed\xfa\xcf": ">",
    b"\xce\xfa\xed\xfe": "<",
    b"\xcf\xfa\xed\xfe": "<",
}
_FAT_MAGIC = b"\xca\xfe\xba\xbe"


@dataclass(frozen=True)
class ExecutableKind:
    #: "elf", "mach-o", "mach-o universal", "script" or "unknown".
    format: str
    #: The architectures it runs on natively ("any" for a script), empty when unknown.
    arches: tuple[str, ...]
    detail: str

    def runs_on(self, arch: str) -> bool | None:
        """Whether it runs natively on ``arch`` ("x86_64"/"arm64"); None when the header says nothing."""
        if self.format == "script":
            return True
        if not self.arches:
            return None
        return arch in self.arches


def executable_kind(path: Path) -> ExecutableKind:
    """The format and architecture of ``path`` (an OSError when it cannot be read)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"#!"):
        line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        return ExecutableKind("script", ("any",), f"a script ({line})")
    if head.startswith(b"\x7fELF") and len(head) >= 20:
        order = "<" if head[5] == 1 else ">"
        (machine,) = struct.unpack(order + "H", head[18:20])
        arch = ELF_MACHINES.get(machine, f"e_machine {machine:#x}")
        bits = {1: "32-bit", 2: "64-bit"}.get(head[4], "")
        return ExecutableKind("elf", (arch,), f"ELF {bits} executable for {arch}".replace("  ", " "))
    if head[:4] in _MACHO_MAGICS and len(head) >= 8:
        (cputype,) = struct.unpack(_MACHO_MAGICS[head[:4]] + "I", head[4:8])
        arch = MACHO_CPUTYPES.get(cputype, f"cputype {cputype:#x}")
        return ExecutableKind("mach-o", (arch,), f"Mach-O executable for {arch}")
    if head.startswith(_FAT_MAGIC) and len(head) >= 8:
        (count,) = struct.unpack(">I", head[4:8])
        arches = []
        for index in range(min(count, 16)):
            offset = 8 + index * 20
            if len(head) < offset + 4:
                break
            (cputype,) = struct.unpack(">I", head[offset : offset + 4])
            arches.append(MACHO_CPUTYPES.get(cputype, f"cputype {cputype:#x}"))
        return ExecutableKind("mach-o universal", tuple(arches), f"universal Mach-O for {', '.join(arches)}")
    return ExecutableKind("unknown", (), "not an executable format onboard recognises")
