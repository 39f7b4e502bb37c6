"""What `enec.inspect` reports: the fields every blob has (BlobInfo), and the info objects of the
codecs that keep a per-tensor table (TableInfo, SparseInfo); ENEC's is codecs/enec.py's EnecInfo.
`print(info)` shows it on a few lines, with the ratio."""
from __future__ import annotations

import dataclasses

import torch

from .. import format as fmt


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """The fields of any blob; each codec's info object adds its own (see `details`)."""
    codec: str
    dtype: torch.dtype
    shape: tuple
    numel: int
    checksum: str | None
    section_bytes: dict
    original_bytes: int
    compressed_bytes: int

    @property
    def ratio(self) -> float:
        return self.original_bytes / self.compressed_bytes if self.compressed_bytes else float("nan")

    @property
    def bits_per_element(self) -> float:
        return 8 * self.compressed_bytes / self.numel if self.numel else float("nan")

    def details(self) -> list:
        """The codec's own lines of __str__."""
        return []

    def __str__(self) -> str:
        lines = [f"enec blob: {self.dtype} {list(self.shape)}, {self.numel:,} elements, codec {self.codec}",
                 f"  size       {self.original_bytes:,} -> {self.compressed_bytes:,} bytes, "
                 f"ratio {self.ratio:.4f} ({self.bits_per_element:.3f} bits/element)"]
        lines += self.details()
        lines.append("  sections   " + ", ".join(f"{k} {v:,}" for k, v in self.section_bytes.items()))
        lines.append(f"  checksum   {self.checksum or 'none'}")
        return "\n".join(lines)


def common_fields(buf, h) -> dict:
    """BlobInfo's fields of a parsed blob (`h`: its codec's header), for the codecs' info objects."""
    return dict(codec=fmt.CODEC_NAMES[h.codec], dtype=getattr(torch, h.dtype.name), shape=tuple(h.shape),
                numel=h.numel, checksum=None if h.checksum_kind == fmt.CHECKSUM_NONE else "xxh64",
                original_bytes=h.numel * h.dtype.word_bytes, compressed_bytes=int(buf.size))


@dataclasses.dataclass(frozen=True)
class TableInfo(BlobInfo):
    """QLC and APack: a per-tensor code table, the elements coded in chunks."""
    table: dict              # the code table (docs/FORMAT.md §7)
    block_elems: int         # elements per chunk
    blocks: int              # chunks

    def details(self) -> list:
        return [f"  chunks     {self.blocks:,} of {self.block_elems:,} elements",
                f"  table      {_table_text(self.table)}"]


@dataclasses.dataclass(frozen=True)
class SparseInfo(BlobInfo):
    """Sparse: the zero-pattern format, the non-zero count and the values' dense codec."""
    table: dict              # format, nnz, values_codec

    def details(self) -> list:
        return [f"  table      {_table_text(self.table)}"]


def _table_text(table: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in table.items())


def _short(v, limit: int = 8) -> str:
    """A table entry for __str__: long lists are cut (the table attribute has all of it)."""
    if isinstance(v, (list, tuple)) and len(v) > limit:
        return "[" + ", ".join(map(str, v[:limit])) + f", ... ({len(v)} in all)]"
    return str(v)
