// Native kernels of enec's codecs 2 and 3 (Quad Length Codes, APack): a plain C ABI loaded
// with ctypes by python/enec/codecs/native.py.
//
// Tables (QLC areas, APack ranges and frequencies) are chosen in Python from the histogram
// (shared by every implementation), so these kernels only do the per-element work and must
// produce exactly the bytes of the numpy references in python/enec/codecs/{qlc,apack}.py
// (docs/FORMAT.md §7). Decoders validate everything they read and return a negative code on
// corrupt input; they never read or write outside the buffers they are given.
//
// Bit streams are LSB-first: bit i of a stream is bit (i % 8) of byte i / 8.

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// --------------------------------------------------------------------------- bit I/O

struct BitWriter {
    uint8_t* out;
    int64_t cap;
    int64_t pos = 0;        // bytes written
    uint64_t acc = 0;
    int nacc = 0;
    bool overflow = false;

    BitWriter(uint8_t* o, int64_t c) : out(o), cap(c) {}

    inline void put(uint64_t v, int w) {  // w <= 32
        if (w == 0) return;
        acc |= v << nacc;
        nacc += w;
        while (nacc >= 8) {
            if (pos >= cap) { overflow = true; return; }
            out[pos++] = (uint8_t)acc;
            acc >>= 8;
            nacc -= 8;
        }
    }
    inline void flush() {  // pad the last byte with zeros
        if (nacc > 0) {
            if (pos >= cap) { overflow = true; return; }
            out[pos++] = (uint8_t)acc;
        }
        acc = 0;
        nacc = 0;
    }
};

struct BitReader {
    const uint8_t* buf;
    int64_t len;            // bytes
    int64_t bit = 0;

    BitReader(const uint8_t* b, int64_t l) : buf(b), len(l) {}

    // reads w <= 32 bits; the caller checks bounds with bits_left()
    inline uint32_t get(int w) {
        if (w == 0) return 0;
        uint64_t v = 0;
        int64_t byte = bit >> 3;
        int sh = (int)(bit & 7);
        int need = (sh + w + 7) >> 3;
        for (int j = 0; j < need; j++) v |= (uint64_t)buf[byte + j] << (8 * j);
        bit += w;
        return (uint32_t)((v >> sh) & ((1ull << w) - 1));
    }
    inline int64_t bits_left() const { return 8 * len - bit; }
};

inline int area_width(int64_t count) {
    int k = 0;
    while ((1ll << k) < count) k++;
    return k;
}

// --------------------------------------------------------------------------- APack constants

constexpr int LANES = 32;
constexpr int PROB_BITS = 12;
constexpr uint32_t PROB_SCALE = 1u << PROB_BITS;
constexpr uint64_t RANS_L = 1ull << 16;

}  // namespace

extern "C" {

int codecs_abi_version() { return 1; }

void codecs_hist8(const uint8_t* x, int64_t n, int64_t* hist) {
    int64_t h[4][256];
    std::memset(h, 0, sizeof(h));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h[0][x[i]]++; h[1][x[i + 1]]++; h[2][x[i + 2]]++; h[3][x[i + 3]]++;
    }
    for (; i < n; i++) h[0][x[i]]++;
    for (int s = 0; s < 256; s++) hist[s] = h[0][s] + h[1][s] + h[2][s] + h[3][s];
}

// ------------------------------------------------------------------------------- QLC

// prefix_out: ceil(3n/8) bytes; data_out: data_cap bytes; ends: one per chunk (cumulative).
// Returns the index-stream bytes written, or -1 when data_cap is too small.
int64_t qlc_encode(const uint8_t* sym, int64_t n, const uint8_t* area_of, const uint16_t* index_of,
                   const uint8_t* k, int64_t chunk, uint8_t* prefix_out, uint8_t* data_out,
                   int64_t data_cap, int64_t* ends) {
    BitWriter pw(prefix_out, (3 * n + 7) / 8);
    for (int64_t i = 0; i < n; i++) pw.put(area_of[sym[i]], 3);
    pw.flush();
    BitWriter dw(data_out, data_cap);
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        for (int64_t i = s; i < e; i++) {
            uint8_t a = area_of[sym[i]];
            dw.put(index_of[sym[i]], k[a]);
        }
        dw.flush();
        if (dw.overflow) return -1;
        ends[c] = dw.pos;
    }
    return dw.pos;
}

// Returns 0, or a negative code: -1 prefix names an empty area, -2 chunk index disagrees with
// the code lengths, -3 non-zero padding bits, -4 an index lies past its area's symbols.
int qlc_decode(const uint8_t* prefix, int64_t prefix_len, const uint8_t* data, int64_t data_len,
               const int64_t* ends, int64_t n, const int64_t* counts, const uint8_t* symbols,
               int64_t chunk, uint8_t* out) {
    int k[8];
    int64_t first[8];
    int64_t f = 0;
    for (int a = 0; a < 8; a++) { k[a] = area_width(counts[a]); first[a] = f; f += counts[a]; }
    if ((3 * n + 7) / 8 != prefix_len) return -2;
    BitReader pr(prefix, prefix_len);
    int64_t c = 0;
    int64_t start = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        int64_t stop = ends[c];
        if (stop < start || stop > data_len) return -2;
        BitReader dr(data + start, stop - start);
        for (int64_t i = s; i < e; i++) {
            int a = (int)pr.get(3);
            if (counts[a] == 0) return -1;
            if (dr.bits_left() < k[a]) return -2;
            int64_t idx = dr.get(k[a]);
            if (idx >= counts[a]) return -4;
            out[i] = symbols[first[a] + idx];
        }
        if ((dr.bit + 7) / 8 != stop - start) return -2;
        if ((dr.bit & 7) && (data[stop - 1] >> (dr.bit & 7))) return -3;
        start = stop;
    }
    return 0;
}

// ------------------------------------------------------------------------------- APack

// rans_out: rans_cap bytes; rans_ends / off_ends: one per chunk (cumulative).
// Returns 0, or -1 when a capacity is too small.
int apack_encode(const uint8_t* sym, int64_t n, const uint8_t* rng_of_byte, const uint8_t* off_of_byte,
                 const uint8_t* widths, const uint32_t* freq, int nranges, int64_t chunk,
                 uint8_t* rans_out, int64_t rans_cap, int64_t* rans_ends,
                 uint8_t* off_out, int64_t off_cap, int64_t* off_ends) {
    uint32_t cum[17];
    cum[0] = 0;
    for (int r = 0; r < nranges; r++) cum[r + 1] = cum[r] + freq[r];
    std::vector<uint16_t> tmp((size_t)(chunk > 0 ? chunk : 1));
    BitWriter ow(off_out, off_cap);
    int64_t rpos = 0;
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        // offsets
        for (int64_t i = s; i < e; i++) ow.put(off_of_byte[sym[i]], widths[rng_of_byte[sym[i]]]);
        ow.flush();
        if (ow.overflow) return -1;
        off_ends[c] = ow.pos;
        // rANS, elements in reverse; words land in tmp from the back (ascending element order)
        uint64_t x[LANES];
        for (int l = 0; l < LANES; l++) x[l] = RANS_L;
        int64_t p = (int64_t)tmp.size();
        for (int64_t i = e - 1; i >= s; i--) {
            int l = (int)((i - s) % LANES);
            int r = rng_of_byte[sym[i]];
            uint64_t f = freq[r];
            uint64_t xi = x[l];
            if (xi >= (f << 20)) {
                tmp[--p] = (uint16_t)(xi & 0xFFFF);
                xi >>= 16;
            }
            x[l] = ((xi / f) << PROB_BITS) + (xi % f) + cum[r];
        }
        int64_t nw = (int64_t)tmp.size() - p;
        if (rpos + 4 * LANES + 2 * nw > rans_cap) return -1;
        for (int l = 0; l < LANES; l++)
            for (int j = 0; j < 4; j++) rans_out[rpos++] = (uint8_t)(x[l] >> (8 * j));
        for (int64_t w = p; w < (int64_t)tmp.size(); w++) {
            rans_out[rpos++] = (uint8_t)tmp[w];
            rans_out[rpos++] = (uint8_t)(tmp[w] >> 8);
        }
        rans_ends[c] = rpos;
    }
    return 0;
}

// Returns 0, or: -1 a chunk's rANS stream is too short or odd, -2 a lane state is below 2^16,
// -3 a rANS stream ends early, -4 a rANS stream does not end where its chunk ends, -5 offset
// chunk index disagrees with the decoded ranges, -6 non-zero offset padding, -7 an offset lies
// outside its range.
int apack_decode(const uint8_t* rans, int64_t rans_len, const int64_t* rans_ends,
                 const uint8_t* offs, int64_t offs_len, const int64_t* off_ends, int64_t n,
                 const uint32_t* freq, const uint8_t* widths, const int64_t* sizes,
                 const int64_t* starts, int nranges, const uint8_t* inv, int64_t chunk,
                 uint8_t* out) {
    uint32_t cum[17];
    cum[0] = 0;
    for (int r = 0; r < nranges; r++) cum[r + 1] = cum[r] + freq[r];
    uint8_t slot2sym[PROB_SCALE];
    {
        int r = 0;
        for (uint32_t sl = 0; sl < PROB_SCALE; sl++) {
            while (r < nranges && sl >= cum[r + 1]) r++;
            slot2sym[sl] = (uint8_t)(r < nranges ? r : 0);
        }
    }
    std::vector<uint8_t> rng((size_t)(chunk > 0 ? chunk : 1));
    int64_t rstart = 0, ostart = 0;
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        int64_t rstop = rans_ends[c];
        if (rstop < rstart + 4 * LANES || rstop > rans_len || ((rstop - rstart) & 1)) return -1;
        uint64_t x[LANES];
        const uint8_t* st = rans + rstart;
        for (int l = 0; l < LANES; l++) {
            x[l] = (uint64_t)st[4 * l] | ((uint64_t)st[4 * l + 1] << 8) | ((uint64_t)st[4 * l + 2] << 16)
                   | ((uint64_t)st[4 * l + 3] << 24);
            if (x[l] < RANS_L) return -2;
        }
        const uint8_t* words = st + 4 * LANES;
        int64_t nwords = (rstop - rstart - 4 * LANES) / 2;
        int64_t ptr = 0;
        for (int64_t i = s; i < e; i++) {
            int l = (int)((i - s) % LANES);
            uint64_t xi = x[l];
            uint32_t slot = (uint32_t)(xi & (PROB_SCALE - 1));
            int r = slot2sym[slot];
            xi = (uint64_t)freq[r] * (xi >> PROB_BITS) + slot - cum[r];
            if (xi < RANS_L) {
                if (ptr >= nwords) return -3;
                xi = (xi << 16) | (uint64_t)words[2 * ptr] | ((uint64_t)words[2 * ptr + 1] << 8);
                ptr++;
            }
            x[l] = xi;
            rng[i - s] = (uint8_t)r;
        }
        if (ptr != nwords) return -4;
        for (int l = 0; l < LANES; l++)
            if (x[l] != RANS_L) return -4;
        // offsets
        int64_t bits = 0;
        for (int64_t i = s; i < e; i++) bits += widths[rng[i - s]];
        int64_t ostop = off_ends[c];
        if (ostop < ostart || ostop > offs_len || (bits + 7) / 8 != ostop - ostart) return -5;
        if ((bits & 7) && (offs[ostop - 1] >> (bits & 7))) return -6;
        BitReader orr(offs + ostart, ostop - ostart);
        for (int64_t i = s; i < e; i++) {
            int r = rng[i - s];
            int64_t off = orr.get(widths[r]);
            if (off >= sizes[r]) return -7;
            out[i] = inv[starts[r] + off];
        }
        rstart = rstop;
        ostart = ostop;
    }
    return 0;
}

}  // extern "C"
