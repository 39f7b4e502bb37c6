// Native kernels of enec's entropy codec (codec 5, docs/FORMAT.md §7.5): a plain C ABI loaded with
// ctypes by python/enec/codecs/entropy_native.py.
//
// The table (k and the 12-bit frequencies) is chosen in Python from the histogram computed here,
// so these kernels do only the per-element work and must write exactly the bytes of the numpy
// reference (python/enec/codecs/entropy.py). The decoder validates everything it reads and returns
// a negative code on corrupt input; it never reads or writes outside the buffers it is given.
//
// An element splits into a symbol (exponent << k | top k mantissa bits) and a raw field ((low
// mantissa bits) << 1 | sign, RW = M - k + 1 bits, packed LSB-first at bit RW·i). Symbols are coded
// in blocks of 16384 elements with 8 interleaved rANS lanes (element j of a block: lane j % 8),
// 32-bit states in [2^16, 2^32), 16-bit words, 12-bit frequencies. Blocks are independent, so
// threads take contiguous runs of them.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

constexpr int64_t BLOCK = 16384;
constexpr int LANES = 8;
constexpr int PROB_BITS = 12;
constexpr uint32_t PROB_SCALE = 1u << PROB_BITS;
constexpr uint32_t RANS_L = 1u << 16;
constexpr int STATE_BYTES = 4 * LANES;
constexpr int MAX_TOP = 2;
constexpr int64_t MIN_THREAD_ELEMS = 1 << 18;    // below this, another thread costs more than it saves

enum Err {
    kShortBlock = -1,    // a block's bytes are fewer than its states, or odd
    kLowState = -2,      // a lane state below 2^16
    kWordsRunOut = -3,   // the block needs more words than it has
    kBadEnd = -4,        // states not back at 2^16, or words left over
    kBadTable = -5,      // frequencies do not sum to 4096 / symbol outside the alphabet
    kBadSizes = -6,      // section sizes disagree with numel
    kCapacity = -7,      // encoder output capacity too small
    kBadDtype = -8,
};

inline uint32_t load_u32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint16_t load_u16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Runs fn(thread_index) for t in [0, n) on n threads (the caller runs index 0).
template <class F>
void run_threads(int n, F fn) {
    if (n <= 1) { fn(0); return; }
    std::vector<std::thread> th;
    th.reserve(n - 1);
    for (int i = 1; i < n; i++) th.emplace_back(fn, i);
    fn(0);
    for (auto& t : th) t.join();
}

inline int useful_threads(int nthreads, int64_t numel, int64_t blocks) {
    int64_t t = std::min<int64_t>(nthreads, std::max<int64_t>(1, numel / MIN_THREAD_ELEMS));
    return (int)std::max<int64_t>(1, std::min<int64_t>(t, blocks));
}

// Field widths of a dtype code: word bits, exponent bits W, mantissa bits M.
struct Fields { int word_bits, W, M; };
inline bool fields_of(int dtype, Fields* f) {
    switch (dtype) {
        case 0: *f = {16, 8, 7}; return true;     // bfloat16
        case 1: *f = {16, 5, 10}; return true;    // float16
        case 2: *f = {32, 8, 23}; return true;    // float32
        default: return false;
    }
}

// ------------------------------------------------------------------------- raw bit stream

// Appends RW-bit fields LSB-first; flushes 32 bits at a time (RW <= 24, so 64 bits never overflow).
template <int RW>
struct RawWriter {
    uint8_t* p;
    uint64_t acc = 0;
    int n = 0;
    explicit RawWriter(uint8_t* out) : p(out) {}
    inline void put(uint32_t v) {
        acc |= (uint64_t)v << n;
        n += RW;
        if (n >= 32) { store_u32(p, (uint32_t)acc); p += 4; acc >>= 32; n -= 32; }
    }
    inline void finish() {   // the last partial word: whole bytes only, padding bits zero
        while (n > 0) { *p++ = (uint8_t)acc; acc >>= 8; n -= 8; }
    }
};

// Reads RW-bit fields LSB-first from [p, end); never reads past end.
template <int RW>
struct RawReader {
    const uint8_t* p;
    const uint8_t* end;
    uint64_t acc = 0;
    int n = 0;
    RawReader(const uint8_t* b, const uint8_t* e) : p(b), end(e) {}
    inline uint32_t get() {
        if (n < RW) {
            if (end - p >= 4) { acc |= (uint64_t)load_u32(p) << n; p += 4; n += 32; }
            else { while (p < end && n < 56) { acc |= (uint64_t)(*p++) << n; n += 8; } }
        }
        uint32_t v = (uint32_t)(acc & ((1u << RW) - 1));
        acc >>= RW;
        n -= RW;
        return v;
    }
};

// ------------------------------------------------------------------------- tables

struct EncSym { uint64_t xmax; uint32_t freq; uint32_t cum; };
struct DecSlot { uint16_t sym; uint16_t freq; uint16_t bias; uint16_t pad; };

bool build_tables(const uint32_t* freqs, int alpha, std::vector<EncSym>* enc, std::vector<DecSlot>* dec) {
    uint64_t sum = 0;
    for (int s = 0; s < alpha; s++) {
        if (freqs[s] > PROB_SCALE) return false;
        sum += freqs[s];
    }
    if (sum != PROB_SCALE) return false;
    if (enc) enc->assign(alpha, EncSym{0, 0, 0});
    if (dec) dec->assign(PROB_SCALE, DecSlot{0, 0, 0, 0});
    uint32_t cum = 0;
    for (int s = 0; s < alpha; s++) {
        uint32_t f = freqs[s];
        if (enc) (*enc)[s] = EncSym{(uint64_t)f << (32 - PROB_BITS), f, cum};
        if (dec)
            for (uint32_t j = 0; j < f; j++) (*dec)[cum + j] = DecSlot{(uint16_t)s, (uint16_t)f, (uint16_t)j, 0};
        cum += f;
    }
    return true;
}

// ------------------------------------------------------------------------- codec per dtype

template <typename Word, int W, int M, int K>
struct Codec {
    using word_type = Word;
    static constexpr int RW = M - K + 1;
    static constexpr int64_t BLOCK_RAW_BYTES = BLOCK * RW / 8;   // 16384·RW bits: whole 32-bit words

    static inline uint32_t sym_of(Word w) {
        return (uint32_t)((w >> (M - K)) & ((1u << (W + K)) - 1));
    }
    static inline uint32_t raw_of(Word w) {
        return (uint32_t)(((w & ((1u << (M - K)) - 1)) << 1) | ((w >> (W + M)) & 1));
    }
    static inline Word word_of(uint32_t sym, uint32_t raw) {
        return (Word)(((Word)(raw & 1) << (W + M)) | ((Word)sym << (M - K)) | (Word)(raw >> 1));
    }

    // Encodes block b: raw fields to raw_out (the whole stream), rANS bytes appended to `out`.
    static int encode_block(const Word* words, int64_t numel, int64_t b, const EncSym* enc, uint8_t* raw_out,
                            std::vector<uint8_t>& out, std::vector<uint16_t>& sym, std::vector<uint16_t>& wbuf) {
        const int64_t s0 = b * BLOCK;
        const int64_t nb = std::min(BLOCK, numel - s0);
        RawWriter<RW> rw(raw_out + b * BLOCK_RAW_BYTES);
        const Word* x = words + s0;
        uint16_t* sy = sym.data();
        for (int64_t j = 0; j < nb; j++) {
            Word w = x[j];
            sy[j] = (uint16_t)sym_of(w);
            rw.put(raw_of(w));
        }
        if (nb < BLOCK) rw.finish();
        // rANS, backwards; words written backwards from the end of wbuf so that they come out in
        // the decoder's order (element order, lane order within a step)
        uint32_t st[LANES];
        for (int l = 0; l < LANES; l++) st[l] = RANS_L;
        uint16_t* wend = wbuf.data() + wbuf.size();
        uint16_t* wp = wend;
        for (int64_t j = nb - 1; j >= 0; j--) {
            const int l = (int)(j & (LANES - 1));
            const EncSym e = enc[sy[j]];
            uint32_t s = st[l];
            if ((uint64_t)s >= e.xmax) { *--wp = (uint16_t)s; s >>= 16; }
            const uint32_t q = s / e.freq;
            st[l] = (q << PROB_BITS) + (s - q * e.freq) + e.cum;
        }
        const int64_t nw = wend - wp;
        const size_t at = out.size();
        out.resize(at + STATE_BYTES + 2 * nw);
        for (int l = 0; l < LANES; l++) store_u32(out.data() + at + 4 * l, st[l]);
        std::memcpy(out.data() + at + STATE_BYTES, wp, 2 * nw);
        return 0;
    }

    static int64_t encode(const Word* words, int64_t numel, const EncSym* enc, uint8_t* raw_out,
                          uint8_t* rans_out, int64_t rans_cap, int64_t* ends, int nthreads) {
        const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
        if (!blocks) return 0;
        const int T = useful_threads(nthreads, numel, blocks);
        std::vector<std::vector<uint8_t>> bufs(T);
        std::vector<int64_t> first(T + 1);
        for (int t = 0; t <= T; t++) first[t] = blocks * t / T;
        run_threads(T, [&](int t) {
            std::vector<uint16_t> sym(BLOCK), wbuf(BLOCK);
            auto& out = bufs[t];
            out.reserve((size_t)(first[t + 1] - first[t]) * (STATE_BYTES + BLOCK / 2));
            for (int64_t b = first[t]; b < first[t + 1]; b++) {
                encode_block(words, numel, b, enc, raw_out, out, sym, wbuf);
                ends[b] = (int64_t)out.size();          // relative to the thread's start for now
            }
        });
        int64_t base = 0;
        std::vector<int64_t> start(T);
        for (int t = 0; t < T; t++) { start[t] = base; base += (int64_t)bufs[t].size(); }
        if (base > rans_cap) return kCapacity;
        run_threads(T, [&](int t) {
            if (!bufs[t].empty()) std::memcpy(rans_out + start[t], bufs[t].data(), bufs[t].size());
            for (int64_t b = first[t]; b < first[t + 1]; b++) ends[b] += start[t];
        });
        return base;
    }

    static int decode_block(const uint8_t* raw, int64_t raw_len, const uint8_t* rans, const int64_t* ends,
                            int64_t numel, int64_t b, const DecSlot* dec, Word* out, uint16_t* sy) {
        const int64_t s0 = b * BLOCK;
        const int64_t nb = std::min(BLOCK, numel - s0);
        const int64_t start = b ? ends[b - 1] : 0, end = ends[b];
        if (end - start < STATE_BYTES || ((end - start) & 1)) return kShortBlock;
        const uint8_t* p = rans + start;
        uint32_t st[LANES];
        for (int l = 0; l < LANES; l++) {
            st[l] = load_u32(p + 4 * l);
            if (st[l] < RANS_L) return kLowState;
        }
        const uint8_t* wp = p + STATE_BYTES;
        const uint8_t* wend = rans + end;
        int64_t j = 0;
        // full steps of 8 elements: one word read per lane at most, bounds checked once per step
        for (; j + LANES <= nb; j += LANES) {
            if (wend - wp < 2 * LANES) break;       // near the end: the checked loop below
            for (int l = 0; l < LANES; l++) {
                uint32_t s = st[l];
                const DecSlot d = dec[s & (PROB_SCALE - 1)];
                sy[j + l] = d.sym;
                s = (uint32_t)d.freq * (s >> PROB_BITS) + d.bias;
                const bool need = s < RANS_L;
                const uint32_t w = load_u16(wp);
                s = need ? (s << 16) | w : s;
                wp += need ? 2 : 0;
                st[l] = s;
            }
        }
        for (; j < nb; j++) {
            const int l = (int)(j & (LANES - 1));
            uint32_t s = st[l];
            const DecSlot d = dec[s & (PROB_SCALE - 1)];
            sy[j] = d.sym;
            s = (uint32_t)d.freq * (s >> PROB_BITS) + d.bias;
            if (s < RANS_L) {
                if (wend - wp < 2) return kWordsRunOut;
                s = (s << 16) | load_u16(wp);
                wp += 2;
            }
            st[l] = s;
        }
        if (wp != wend) return kBadEnd;
        for (int l = 0; l < LANES; l++)
            if (st[l] != RANS_L) return kBadEnd;
        const int64_t rs = b * BLOCK_RAW_BYTES;
        RawReader<RW> rr(raw + rs, raw + raw_len);
        Word* o = out + s0;
        for (int64_t i = 0; i < nb; i++) o[i] = word_of(sy[i], rr.get());
        return 0;
    }

    static int decode(const uint8_t* raw, int64_t raw_len, const uint8_t* rans, const int64_t* ends,
                      int64_t numel, const DecSlot* dec, Word* out, int nthreads) {
        const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
        if ((numel * RW + 7) / 8 != raw_len) return kBadSizes;
        const int T = useful_threads(nthreads, numel, blocks);
        std::atomic<int> err{0};
        std::atomic<int64_t> next{0};
        run_threads(T, [&](int) {
            std::vector<uint16_t> sy(BLOCK);
            for (;;) {
                const int64_t b = next.fetch_add(1);
                if (b >= blocks || err.load(std::memory_order_relaxed)) break;
                const int rc = decode_block(raw, raw_len, rans, ends, numel, b, dec, out, sy.data());
                if (rc) { int z = 0; err.compare_exchange_strong(z, rc); break; }
            }
        });
        return err.load();
    }
};

// Dispatch on (dtype, k).
template <template <typename, int, int, int> class C, class F>
int64_t dispatch(int dtype, int k, F fn) {
    if (k < 0 || k > MAX_TOP) return kBadTable;
    switch (dtype * 3 + k) {
        case 0: return fn(C<uint16_t, 8, 7, 0>());
        case 1: return fn(C<uint16_t, 8, 7, 1>());
        case 2: return fn(C<uint16_t, 8, 7, 2>());
        case 3: return fn(C<uint16_t, 5, 10, 0>());
        case 4: return fn(C<uint16_t, 5, 10, 1>());
        case 5: return fn(C<uint16_t, 5, 10, 2>());
        case 6: return fn(C<uint32_t, 8, 23, 0>());
        case 7: return fn(C<uint32_t, 8, 23, 1>());
        case 8: return fn(C<uint32_t, 8, 23, 2>());
    }
    return kBadDtype;
}

}  // namespace

extern "C" {

int entropy_abi_version() { return 1; }

// Histogram of the symbols with MAX_TOP mantissa bits (2^(W+2) bins), over nthreads threads.
int entropy_histogram(const void* words, int64_t numel, int dtype, int64_t* hist, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f)) return kBadDtype;
    const int bins = 1 << (f.W + MAX_TOP);
    const int shift = f.M - MAX_TOP;
    const int T = useful_threads(nthreads, numel, std::max<int64_t>(1, numel / MIN_THREAD_ELEMS));
    std::vector<std::vector<int64_t>> part(T, std::vector<int64_t>(4 * bins, 0));
    run_threads(T, [&](int t) {
        const int64_t a = numel * t / T, e = numel * (t + 1) / T;
        int64_t* h = part[t].data();
        const uint32_t mask = (uint32_t)bins - 1;
        int64_t i = a;
        if (f.word_bits == 16) {
            const uint16_t* x = (const uint16_t*)words;
            // four sub-histograms: consecutive equal symbols do not serialise on one counter
            for (; i + 4 <= e; i += 4) {
                h[(x[i] >> shift) & mask]++;
                h[bins + ((x[i + 1] >> shift) & mask)]++;
                h[2 * bins + ((x[i + 2] >> shift) & mask)]++;
                h[3 * bins + ((x[i + 3] >> shift) & mask)]++;
            }
            for (; i < e; i++) h[(x[i] >> shift) & mask]++;
        } else {
            const uint32_t* x = (const uint32_t*)words;
            for (; i + 4 <= e; i += 4) {
                h[(x[i] >> shift) & mask]++;
                h[bins + ((x[i + 1] >> shift) & mask)]++;
                h[2 * bins + ((x[i + 2] >> shift) & mask)]++;
                h[3 * bins + ((x[i + 3] >> shift) & mask)]++;
            }
            for (; i < e; i++) h[(x[i] >> shift) & mask]++;
        }
    });
    for (int s = 0; s < bins; s++) {
        int64_t v = 0;
        for (int t = 0; t < T; t++) v += part[t][s] + part[t][bins + s] + part[t][2 * bins + s] + part[t][3 * bins + s];
        hist[s] = v;
    }
    return 0;
}

// words: numel words of the dtype; freqs: 2^(W+k) frequencies summing to 4096; raw_out: the raw
// stream (ceil(numel·RW/8) bytes); rans_out: rans_cap bytes; ends: one per block (cumulative).
// Returns the rANS bytes written, or a negative code.
int64_t entropy_encode(const void* words, int64_t numel, int dtype, int k, const uint32_t* freqs, int alpha,
                       uint8_t* raw_out, uint8_t* rans_out, int64_t rans_cap, int64_t* ends, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f) || k < 0 || k > MAX_TOP || alpha != (1 << (f.W + k))) return kBadTable;
    if (numel == 0) return 0;
    std::vector<EncSym> enc;
    if (!build_tables(freqs, alpha, &enc, nullptr)) return kBadTable;
    return dispatch<Codec>(dtype, k, [&](auto c) -> int64_t {
        using C = decltype(c);
        return C::encode((const typename C::word_type*)words, numel, enc.data(), raw_out, rans_out,
                         rans_cap, ends, nthreads);
    });
}

// raw: the raw stream (raw_len bytes); rans: the rANS section; ends: one per block, cumulative,
// non-decreasing, the last one the section's length (checked by the caller); out: numel words.
// Returns 0 or a negative code.
int entropy_decode(const uint8_t* raw, int64_t raw_len, const uint8_t* rans, const int64_t* ends, int64_t numel,
                   int dtype, int k, const uint32_t* freqs, int alpha, void* out, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f) || k < 0 || k > MAX_TOP || alpha != (1 << (f.W + k))) return kBadTable;
    if (numel == 0) return raw_len == 0 ? 0 : kBadSizes;
    std::vector<DecSlot> dec;
    if (!build_tables(freqs, alpha, nullptr, &dec)) return kBadTable;
    return (int)dispatch<Codec>(dtype, k, [&](auto c) -> int64_t {
        using C = decltype(c);
        return C::decode(raw, raw_len, rans, ends, numel, dec.data(), (typename C::word_type*)out, nthreads);
    });
}

}  // extern "C"
