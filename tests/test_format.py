"""The stream format: packing against an independent bit-level oracle, header, layout, inspect."""
import numpy as np
import pytest
import torch

import enec
from enec import codecs
from enec import format as fmt
from enec import reference as ref


def bitwise_pack_oracle(v, width):
    """Independent restatement of hierarchical halving for width 3 (docs/FORMAT.md example):
    lane i of the second fold holds v[i] | v[i+N/2]<<3 | v[i+N/4]<<6 | v[i+3N/4]<<9; its low byte
    is C[i]; the top 4 bits D[i] pair up as E[i] = D[i] | D[i+N/8]<<4; Z = C ++ E; words
    Z[i] | Z[i+H]<<8."""
    n = v.size
    lane = v[:n // 4] | (v[n // 2:3 * n // 4] << 3) | (v[n // 4:n // 2] << 6) | (v[3 * n // 4:] << 9)
    c = lane & 0xFF
    d = lane >> 8
    e = d[:n // 8] | (d[n // 8:] << 4)
    z = np.concatenate([c, e]).astype(np.uint16)
    h = z.size // 2
    return (z[:h] | (z[h:] << 8)).astype("<u2").view(np.uint8)


def test_pack_width3_matches_bit_oracle():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 8, 1024).astype(np.uint16)
    assert np.array_equal(ref.halving_pack(v, 3), bitwise_pack_oracle(v, 3))


@pytest.mark.parametrize("width", list(range(0, 17)))
@pytest.mark.parametrize("count", [256, 512, 16384])
def test_pack_roundtrip_and_size(width, count):
    rng = np.random.default_rng(width)
    v = rng.integers(0, 1 << width, count).astype(np.uint16) if width else np.zeros(count, np.uint16)
    packed = ref.halving_pack(v, width)
    assert packed.size == fmt.packed_bytes(count, width)
    assert np.array_equal(ref.halving_unpack(packed, count, width), v)


def test_pack_width8_and_16_layouts():
    v = np.arange(256, dtype=np.uint16)
    p8 = ref.halving_pack(v, 8).view("<u2")
    assert np.array_equal(p8, v[:128] | (v[128:] << 8))            # byte-normalised halves
    w = np.arange(0, 65536, 97, dtype=np.uint16)[:256]
    assert np.array_equal(ref.halving_pack(w, 16).view("<u2"), w)   # 16-bit lanes: identity


def test_transform_window():
    x = np.arange(256, dtype=np.uint16)
    for b, n in [(123, 6), (0, 3), (255, 4), (7, 8)]:
        y = ref.transform(x, b, n)
        back = ref.inverse_transform(y, b, n, 8)
        s = (b - x.astype(int)) % 256
        s = np.where(s >= 128, s - 256, s)
        inside = (s >= -(1 << (n - 1))) & (s < (1 << (n - 1)))
        assert np.array_equal(back[inside], x[inside])
        assert not np.any(back[~inside] == x[~inside])


def test_header_roundtrip_and_alignment():
    for shape in [(), (0,), (5, 7), tuple([2] * 10)]:
        numel = int(np.prod(shape)) if shape else 1
        h = fmt.EnecHeader(fmt.FP16, shape, numel, 9, 5, 3, outlier_bytes=0)
        raw = h.pack()
        assert len(raw) % 32 == 0 and raw[:4] == b"ENEC"
        lay = h.layout
        for off in [lay.raw_offset, lay.low_offset, lay.flags_offset, lay.index_offset, lay.outlier_offset]:
            assert off % fmt.SECTION_ALIGN == 0
        blob = np.zeros(h.total_bytes, np.uint8)
        blob[:len(raw)] = np.frombuffer(raw, np.uint8)
        assert codecs.read_header(blob) == h


def test_section_sizes_from_inspect():
    x = (torch.randn(16384 * 2 + 1000) * 0.02).bfloat16()
    blob = enec.compress(x)
    info = enec.inspect(blob)
    sb = info.section_bytes
    assert sb["raw"] == 16384 * 2 + 1024                    # 1 byte/elem, last block to 256
    assert sb["low"] == (16384 * 2 + 1024) * info.m // 8
    assert sb["flags"] == (16384 * 2 + 1024) // 128
    assert sb["index"] == 8 * 3
    assert info.blocks == 3 and info.total_groups == (16384 * 2 + 1024) // 16
    assert sum(sb.values()) <= info.compressed_bytes < sum(sb.values()) + 5 * 32


def test_block_independence_costs_under_half_a_percent(minilm_bf16):
    """The per-block outlier index and padding cost < 0.5 % of the compressed size."""
    cost = total = 0
    for t in minilm_bf16.values():
        if t.dtype == torch.bfloat16:
            info = enec.inspect(enec.compress(t, codec="enec"))      # ENEC's blocks
            cost += info.independent_decode_bytes
            total += info.compressed_bytes
    assert cost / total < 0.005, cost / total
