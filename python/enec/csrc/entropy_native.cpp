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
// 32-bit states in [2^16, 2^32), 16-bit words, 12-bit frequencies. Blocks are independent: the
// encoder's threads take groups of blocks in order and put their bytes in place in that order, the
// decoder's take any group. The SIMD kernels run several blocks at once (AVX2: 8 lanes of one block
// per register; AVX-512: two blocks per 16-lane register), so that their dependency chains overlap.
// Layout 1 (docs/FORMAT.md §7.5) adds a table per segment of blocks (groups never straddle two
// segments) and per-block raw shifts: a shifted block's raw fields are narrower and go through
// plain code; every block's raw bytes start at an offset the caller passes (and the decoder checks).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>
#include "enec_native/simd_level.h"   // detect_simd / simd_level / set cap: one definition for both libraries
#include "enec_native/thread_pool.h"  // worker threads kept between calls
#include "enec_native/pages.h"        // huge pages, mapping a fresh output before it is written
#if ENEC_X86
#define ENTROPY_X86 1
#define ENTROPY_AVX2 ENEC_AVX2
#define ENTROPY_AVX512 ENEC_AVX512
#endif

// GCC 12's intrinsic headers trip -Wmaybe-uninitialized (_mm512_undefined_*) when inlined, as in
// enec_native's SIMD headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

constexpr int64_t BLOCK = 16384;
constexpr int LANES = 8;
constexpr int PROB_BITS = 12;
constexpr uint32_t PROB_SCALE = 1u << PROB_BITS;
constexpr uint32_t RANS_L = 1u << 16;
constexpr int STATE_BYTES = 4 * LANES;
constexpr int MAX_TOP = 2;
constexpr int64_t MIN_THREAD_ELEMS = 1 << 18;    // below this, another thread costs more than it saves
constexpr int64_t STREAM_ELEMS = 1 << 22;        // decoded outputs this large are written past the caches

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

// Kernel levels (simd_level.h): 0 portable C++, 1 AVX2, 2 AVX-512 (BW, VBMI, VBMI2); every level
// writes the same bytes.

#ifdef ENTROPY_X86
#define ENTROPY_PAUSE() _mm_pause()
#else
#define ENTROPY_PAUSE() ((void)0)
#endif

inline uint32_t load_u32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint16_t load_u16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Runs fn(thread_index) for t in [0, n) on n threads (the caller runs index 0), on the worker
// threads kept between calls (thread_pool.h: a thread start per call cost about as much as a small
// tensor's whole encode).
template <class F>
void run_threads(int n, F fn) {
    if (n <= 1) { fn(0); return; }
    WorkerPool::get().run(n, [&](int t) { fn(t); });
}

inline int useful_threads(int nthreads, int64_t numel, int64_t blocks) {
    int64_t t = std::min<int64_t>(nthreads, std::max<int64_t>(1, numel / MIN_THREAD_ELEMS));
    return (int)std::max<int64_t>(1, std::min<int64_t>(t, blocks));
}

// Field widths of a dtype code (0 bfloat16, 1 float16, 2 float32): word bits, exponent bits W,
// mantissa bits M; and the word type of each.
struct Fields { int word_bits, W, M; };
constexpr Fields kFields[3] = {{16, 8, 7}, {16, 5, 10}, {32, 8, 23}};
template <int D>
using WordOf = typename std::conditional<kFields[D].word_bits == 16, uint16_t, uint32_t>::type;
inline bool fields_of(int dtype, Fields* f) {
    if (dtype < 0 || dtype > 2) return false;
    *f = kFields[dtype];
    return true;
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

// Eight RW-bit fields <-> RW bytes (RW <= 16): the bit stream of 8 consecutive elements, which
// starts on a byte boundary whenever the element index is a multiple of 8.
// wide: the caller owns 8 (RW <= 8) or 16 bytes at out, so the whole register is stored (the
// bytes past RW are rewritten by the next group); otherwise exactly RW bytes.
template <int RW>
inline void pack8(const uint32_t* v, uint8_t* out, bool wide) {
    if (RW <= 8) {                      // 64 bits suffice: cheaper shifts than 128-bit ones
        uint64_t acc = 0;
        for (int i = 0; i < 8; i++) acc |= (uint64_t)v[i] << (RW * i);
        std::memcpy(out, &acc, wide ? 8 : RW);
        return;
    }
    unsigned __int128 acc = 0;
    for (int i = 0; i < 8; i++) acc |= (unsigned __int128)v[i] << (RW * i);
    std::memcpy(out, &acc, wide ? 16 : RW);
}
// Reads 16 bytes (the caller guarantees them): whole-register loads, no partial copy whose
// reload would miss store forwarding.
template <int RW>
inline void unpack8(const uint8_t* in, uint32_t* v) {
    uint64_t lo, hi;
    std::memcpy(&lo, in, 8);
    if (RW <= 8) {
        for (int i = 0; i < 8; i++) v[i] = (uint32_t)(lo >> (RW * i)) & ((1u << RW) - 1);
        return;
    }
    std::memcpy(&hi, in + 8, 8);
    const unsigned __int128 acc = ((unsigned __int128)hi << 64) | lo;
    for (int i = 0; i < 8; i++) v[i] = (uint32_t)(acc >> (RW * i)) & ((1u << RW) - 1);
}

// ------------------------------------------------------------------------- tables

struct EncSym { uint64_t xmax; double rcp; uint32_t freq; uint32_t cum; };

// The encoder's per-symbol tables for the AVX2 gathers: freq | cum << 16, and 1/freq.
struct EncTables {
    std::vector<EncSym> sym;
    std::vector<uint32_t> fc;
    std::vector<double> rcp;
    // The 64 consecutive symbols holding the most frequency (fc from win_base on): the AVX-512
    // encoder looks them up by register permutes and gathers only the symbols outside.
    static constexpr int WIN = 64;
    uint32_t win_base = 0;
    alignas(64) uint32_t win[WIN] = {};
};
// rank: the symbol's index among the symbols of non-zero frequency (when there are at most 256)
struct DecSlot { uint16_t sym; uint16_t freq; uint16_t bias; uint16_t rank; };

// The decoder's per-slot tables: a struct per slot for the scalar loop, two u32 arrays (freq << 16
// | bias, and the symbol) for the AVX2 gathers.
struct DecTables {
    std::vector<DecSlot> slot;
    std::vector<uint32_t> fb, sym;
    // When the used symbols span at most 256 values: one u32 per slot, (f - 1) | bias << 12 |
    // (sym - first) << 24, so the AVX2 loop needs one gather per 8 symbols instead of two.
    bool packed = false;
    uint32_t first = 0;
    std::vector<uint32_t> one;
    // When at most 256 symbols have a non-zero frequency (the AVX-512 decoder): one u32 per slot,
    // bias | rank << 12 | (f - 1) << 20, and each rank's symbol; the decoder keeps ranks (bytes)
    // and turns them into symbols when it joins them with the raw fields.
    bool ranked = false;
    int ranks = 0;                     // symbols of non-zero frequency
    std::vector<uint32_t> rone, rank_sym;
    // Whether fb, sym, one and rone were built: the SIMD loops decode two or more blocks at once,
    // so a one-block tensor skips 64 KB of tables it would never read (a per-call cost).
    bool simd = false;
};

// q = floor(x / f) for x < 2^32, 1 <= f <= 4096, without a division: x·(1/f) in double is within
// 2^-20 of x/f, and x/f is either an integer or at least 1/4096 away from the next one, so adding
// 2^-13 and truncating gives the exact quotient.
inline uint32_t div_freq(uint32_t x, double rcp) {
    return (uint32_t)((double)x * rcp + 0x1p-13);
}

bool build_tables(const uint32_t* freqs, int alpha, EncTables* enc, DecTables* dec, bool simd_tables = true) {
    uint64_t sum = 0;
    for (int s = 0; s < alpha; s++) {
        if (freqs[s] > PROB_SCALE) return false;
        sum += freqs[s];
    }
    if (sum != PROB_SCALE) return false;
    if (enc) {
        enc->sym.assign(alpha, EncSym{0, 0.0, 0, 0});
        enc->fc.assign(alpha, 0);
        enc->rcp.assign(alpha, 0.0);
    }
    if (dec) {
        dec->slot.assign(PROB_SCALE, DecSlot{0, 0, 0, 0});
        dec->simd = simd_tables;
        dec->fb.assign(simd_tables ? PROB_SCALE : 0, 0);
        dec->sym.assign(simd_tables ? PROB_SCALE : 0, 0);
        int lo = alpha, hi = -1;
        for (int q = 0; q < alpha; q++)
            if (freqs[q]) { lo = std::min(lo, q); hi = q; }
        dec->packed = hi - lo < 256;
        dec->first = (uint32_t)lo;
        dec->one.assign(simd_tables && dec->packed ? PROB_SCALE : 0, 0);
        int present = 0;
        for (int q = 0; q < alpha; q++) present += freqs[q] != 0;
        dec->ranked = present <= 256;
        dec->ranks = present;
        dec->rone.assign(simd_tables && dec->ranked ? PROB_SCALE : 0, 0);
        dec->rank_sym.assign(256, 0);
    }
    if (enc) {
        uint64_t in = 0, best = 0;
        for (int s = 0; s < alpha; s++) {      // sliding window sum of the frequencies
            in += freqs[s];
            if (s >= EncTables::WIN) in -= freqs[s - EncTables::WIN];
            if (in > best) { best = in; enc->win_base = (uint32_t)std::max(0, s - EncTables::WIN + 1); }
        }
    }
    uint32_t rank = 0;
    uint32_t cum = 0;
    for (int s = 0; s < alpha; s++) {
        uint32_t f = freqs[s];
        if (enc) {
            enc->sym[s] = EncSym{(uint64_t)f << (32 - PROB_BITS), f ? 1.0 / f : 0.0, f, cum};
            enc->fc[s] = f | (cum << 16);
            enc->rcp[s] = f ? 1.0 / f : 0.0;
            if ((uint32_t)s >= enc->win_base && (uint32_t)s - enc->win_base < (uint32_t)EncTables::WIN)
                enc->win[s - enc->win_base] = f | (cum << 16);
        }
        if (dec) {
            for (uint32_t j = 0; j < f; j++) {
                dec->slot[cum + j] = DecSlot{(uint16_t)s, (uint16_t)f, (uint16_t)j, (uint16_t)(rank & 255)};
                if (simd_tables) {
                    dec->fb[cum + j] = (f << 16) | j;
                    dec->sym[cum + j] = (uint32_t)s;
                    if (dec->packed) dec->one[cum + j] = (f - 1) | (j << 12) | ((uint32_t)(s - (int)dec->first) << 24);
                    if (dec->ranked) dec->rone[cum + j] = j | (rank << 12) | ((f - 1) << 20);
                }
            }
            if (f && dec->ranked) dec->rank_sym[rank] = (uint32_t)s;
        }
        rank += f != 0;
        cum += f;
    }
    return true;
}

// The tables of freqs (ntables × alpha), each checked (enc or dec may be null).
bool build_all(const uint32_t* freqs, int alpha, int64_t ntables, std::vector<EncTables>* enc,
               std::vector<DecTables>* dec, bool simd_tables = true) {
    if (enc) enc->resize((size_t)ntables);
    if (dec) dec->resize((size_t)ntables);
    for (int64_t q = 0; q < ntables; q++)
        if (!build_tables(freqs + q * alpha, alpha, enc ? &(*enc)[(size_t)q] : nullptr,
                          dec ? &(*dec)[(size_t)q] : nullptr, simd_tables))
            return false;
    return true;
}

// Software prefetch of the input a loop reads next. Where a scalar loop reads one stream while
// its stores go elsewhere (the histogram's counters), some CPUs' hardware prefetchers fall
// behind: on a Xeon VM the histogram loop took 0.72 ns an element reading 128 MB, 0.39 with
// prefetch_ahead, 0.36 with its input in cache (on the Zen 4 VM of earlier runs: 0.43 without it).
constexpr int PREFETCH_BYTES = 4096;
inline void prefetch_ahead(const void* p) { __builtin_prefetch((const char*)p + PREFETCH_BYTES, 0, 3); }

// Counts the symbols of x[a, e) with their sign (the word's top bits from SHIFT on: no mask to
// apply, the caller folds the two signs) into four sub-histograms of u32 counters, h[0..4·S)
// (consecutive equal symbols do not serialise on one counter), prefetching a page ahead once a
// cache line. Returns the OR of the words, in a second pass over the block (in cache by then; a
// loop the compiler vectorises): inside the counting loop it cost a quarter of the histogram's
// time. Locals only: a counter store may not alias the loop's state. (Against masked int64
// counters: 42 -> 33 ms for 64 Mi BF16 on one thread of a Xeon VM.)
template <typename T, int SHIFT>
uint32_t histogram_block(const T* x, int64_t a, int64_t e, uint32_t* h) {
    constexpr int S = 1 << (8 * sizeof(T) - SHIFT);     // sign and symbol: x >> SHIFT, no mask
    int64_t i = a;
    for (; i + 4 <= e; i += 4) {
        if (!(i & (64 / sizeof(T) - 1))) prefetch_ahead(x + i);
        h[x[i] >> SHIFT]++;
        h[S + (x[i + 1] >> SHIFT)]++;
        h[2 * S + (x[i + 2] >> SHIFT)]++;
        h[3 * S + (x[i + 3] >> SHIFT)]++;
    }
    for (; i < e; i++) h[x[i] >> SHIFT]++;
    T o = 0;
    for (int64_t j = a; j < e; j++) o |= x[j];
    return (uint32_t)o;
}

// ------------------------------------------------------------------------- codec per dtype

// For each 8-bit mask m: the byte shuffle that puts the 16-bit lanes set in m, ascending, in
// the top popcount(m) of 8 slots, the others zero: the AVX-512 encoder's emitted words. One
// vpshufb instead of a vpcompressw and a vpexpandw (2 uops each on Intel's vector port 5):
// the encoder 5-10 % faster on a Xeon VM. (The decoder's vpexpandw of its words, replaced the
// same way, was no faster.)
struct EmitTop {
    alignas(16) int8_t ctl[256][16];
    EmitTop() {
        for (int m = 0; m < 256; m++) {
            const int c = __builtin_popcount(m);
            for (int j = 0; j < 16; j++) ctl[m][j] = (int8_t)0x80;
            for (int l = 0, slot = 8 - c; l < 8; l++)
                if (m >> l & 1) { ctl[m][2 * slot] = (int8_t)(2 * l); ctl[m][2 * slot + 1] = (int8_t)(2 * l + 1); slot++; }
        }
    }
};
const EmitTop kEmitTop;

template <typename Word, int W, int M, int K>
struct Codec {
    using word_type = Word;
    static constexpr int RW = M - K + 1;

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
#ifdef ENTROPY_X86
    // The rANS steps of a full block, 8 lanes in one AVX2 register, backwards; the same states and
    // words as the scalar loop. floor(x/f) in double as div_freq does. Emitted words are compacted
    // (lanes ascending) to the top of 8 slots stored just below wp.
    ENTROPY_AVX2 static uint16_t* rans_avx2(const uint16_t* sy, int64_t nb, const EncTables& et, uint32_t* st,
                                            uint16_t* wp) {
        alignas(32) static const struct Perm { int32_t idx[256][8]; Perm() {
            for (int m = 0; m < 256; m++) {
                const int c = __builtin_popcount(m);
                int k = 8 - c;
                for (int l = 0; l < 8; l++) idx[m][l] = 0;
                for (int l = 0; l < 8; l++) if (m >> l & 1) idx[m][k++] = l;
            }
        } } perm;
        __m256i x = _mm256_loadu_si256((const __m256i*)st);
        const int* fc = (const int*)et.fc.data();
        const double* rcp = et.rcp.data();
        const __m256i lo16 = _mm256_set1_epi32(0xFFFF), k4096 = _mm256_set1_epi32(PROB_SCALE);
        const __m256i flip = _mm256_set1_epi32((int)0x80000000u);
        const __m256d two31 = _mm256_set1_pd(2147483648.0), eps = _mm256_set1_pd(0x1p-13);
        for (int64_t t = nb / LANES - 1; t >= 0; t--) {
            const __m256i s = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(sy + t * LANES)));
            const __m256i e = _mm256_i32gather_epi32(fc, s, 4);
            const __m256i f = _mm256_and_si256(e, lo16);
            const __m256i cum = _mm256_srli_epi32(e, 16);
            // emit when x >= f·2^20, i.e. (x >> 20) >= f (both below 2^13: a signed compare is exact)
            const __m256i keep = _mm256_cmpgt_epi32(f, _mm256_srli_epi32(x, 32 - PROB_BITS));
            const int m = ~_mm256_movemask_ps(_mm256_castsi256_ps(keep)) & 0xFF;
            const __m256i words = _mm256_permutevar8x32_epi32(_mm256_and_si256(x, lo16),
                                                              _mm256_load_si256((const __m256i*)perm.idx[m]));
            const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
            _mm_storeu_si128((__m128i*)(wp - 8), w16);
            wp -= __builtin_popcount(m);
            x = _mm256_blendv_epi8(_mm256_srli_epi32(x, 16), x, keep);
            // q = floor(x / f): x as double (unsigned: flip the top bit, convert signed, add 2^31)
            const __m256i xs = _mm256_xor_si256(x, flip);
            const __m128i idx_lo = _mm256_castsi256_si128(s), idx_hi = _mm256_extracti128_si256(s, 1);
            const __m256d d_lo = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(xs)), two31);
            const __m256d d_hi = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(xs, 1)), two31);
            const __m256d all = _mm256_castsi256_pd(_mm256_set1_epi32(-1)), z = _mm256_setzero_pd();
            const __m256d r_lo = _mm256_mask_i32gather_pd(z, rcp, idx_lo, all, 8);
            const __m256d r_hi = _mm256_mask_i32gather_pd(z, rcp, idx_hi, all, 8);
            const __m128i q_lo = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(d_lo, r_lo), eps));
            const __m128i q_hi = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(d_hi, r_hi), eps));
            const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(q_lo), q_hi, 1);
            // x' = (q << 12) + (x - q·f) + cum = x + q·(4096 - f) + cum
            x = _mm256_add_epi32(_mm256_add_epi32(x, cum), _mm256_mullo_epi32(q, _mm256_sub_epi32(k4096, f)));
        }
        _mm256_storeu_si256((__m256i*)st, x);
        return wp;
    }
#endif

#ifdef ENTROPY_X86
    // The field split of 32 16-bit words at a time (RW <= 14: bfloat16, float16), as split_avx2
    // does it with wider merges: pairs by a multiply-add (r0 + r1·2^RW), then 64- and 128-bit
    // lanes by shifts (8 fields = RW bytes at the bottom of each 128-bit lane), and the four
    // lanes' bytes gathered to the bottom by a byte permute. Its 64-byte stores stay inside the
    // block's raw bytes (the loop stops while fewer than 64 remain); the bytes past 4·RW are
    // rewritten by the next group. Returns the elements done.
    ENTROPY_AVX512 static int64_t split_avx512(const Word* x, int64_t nb, uint16_t* sy, uint8_t*& ro) {
        if (sizeof(Word) != 2 || RW > 14) return 0;    // (r1·2^RW must fit a signed 16-bit factor)
        alignas(64) static const struct Pick { int8_t idx[64]; Pick() {
            for (int q = 0; q < 64; q++) idx[q] = (int8_t)(q < 4 * RW ? 16 * (q / RW) + q % RW : 0);
        } } pick;
        const __m512i symmask = _mm512_set1_epi16((short)((1 << (W + K)) - 1));
        const __m512i lowmask = _mm512_set1_epi16((short)((1 << (M - K)) - 1));
        // (the float32 instantiations never get here; keep their constant in range all the same)
        const __m512i pair = _mm512_set1_epi32(((RW <= 14 ? 1 << RW : 0) << 16) | 1);
        const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFFll);
        const __m512i perm = _mm512_load_si512(pick.idx);
        int64_t j = 0;
        for (; j + 32 <= nb && (nb - j) * RW >= 8 * 64; j += 32) {
            const __m512i w = _mm512_loadu_si512(x + j);
            _mm512_storeu_si512(sy + j, _mm512_and_si512(_mm512_srli_epi16(w, M - K), symmask));
            const __m512i r = _mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(w, lowmask), 1),
                                              _mm512_srli_epi16(w, W + M));
            const __m512i p = _mm512_madd_epi16(r, pair);                        // 2·RW bits per 32-bit lane
            const __m512i q = _mm512_or_si512(_mm512_and_si512(p, lo32),         // 4·RW bits per 64-bit lane
                                              _mm512_srli_epi64(_mm512_andnot_si512(lo32, p), 32 - 2 * RW));
            // 8·RW bits per 128-bit lane: the high half's fields shifted up by 4·RW across the halves
            __m512i o = _mm512_or_si512(q, _mm512_slli_epi64(_mm512_bsrli_epi128(q, 8), 4 * RW));
            if (4 * RW > 32) o = _mm512_mask_blend_epi64(0xAA, o, _mm512_srli_epi64(q, 64 - 4 * RW));
            _mm512_storeu_si512(ro, _mm512_permutexvar_epi8(perm, o));
            ro += 4 * RW;
        }
        return j;
    }
#endif

#ifdef ENTROPY_X86
    // Where the 8 pairs of a float32 split land (split32_avx512): output qword k is the OR of at
    // most 3 pairs (2·RW >= 44 bits each), pair j shifted by j·2·RW - 64·k (left when >= 0, else
    // right; a shift by 64 gives zero: no contribution).
    struct PairPlaces {
        alignas(64) int64_t idx[3][8], left[3][8], right[3][8];
        PairPlaces() {
            constexpr int W2 = 2 * RW;
            for (int k = 0; k < 8; k++) {
                int s = 0;
                for (int q = 0; q < 3; q++) { idx[q][k] = 0; left[q][k] = 64; right[q][k] = 64; }
                for (int j = 0; j < 8 && s < 3; j++) {
                    if (j * W2 >= 64 * (k + 1) || j * W2 + W2 <= 64 * k) continue;
                    const int d = j * W2 - 64 * k;
                    idx[s][k] = j;
                    left[s][k] = d >= 0 ? d : 64;
                    right[s][k] = d < 0 ? -d : 64;
                    s++;
                }
            }
        }
    };

    // The field split of 16 float32 words at a time (RW 22-24): symbols narrowed to u16, raw
    // fields paired in 64-bit lanes, then each output qword gathered from the pairs that overlap
    // it (permutes and per-lane shifts): 2·RW bytes a step. Stores 64 bytes, so it stops while
    // fewer remain in the block's raw bytes; the bytes past 2·RW are rewritten by the next step.
    ENTROPY_AVX512 static int64_t split32_avx512(const Word* x, int64_t nb, uint16_t* sy, uint8_t*& ro) {
        if (sizeof(Word) != 4 || RW < 17) return 0;    // (RW < 17 never happens for float32)
        static const PairPlaces pp;
        const __m512i symmask = _mm512_set1_epi32((1 << (W + K)) - 1);
        const __m512i lowmask = _mm512_set1_epi32((1 << (M - K)) - 1);
        const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFFll);
        __m512i idx[3], left[3], right[3];
        for (int q = 0; q < 3; q++) {
            idx[q] = _mm512_load_si512(pp.idx[q]);
            left[q] = _mm512_load_si512(pp.left[q]);
            right[q] = _mm512_load_si512(pp.right[q]);
        }
        int64_t j = 0;
        for (; j + 16 <= nb && (nb - j) * RW >= 8 * 64; j += 16) {
            const __m512i w = _mm512_loadu_si512(x + j);
            _mm256_storeu_si256((__m256i*)(sy + j),
                                _mm512_cvtepi32_epi16(_mm512_and_si512(_mm512_srli_epi32(w, M - K), symmask)));
            const __m512i r = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(w, lowmask), 1),
                                              _mm512_srli_epi32(w, W + M));
            const __m512i p = _mm512_or_si512(_mm512_and_si512(r, lo32),      // 2·RW bits per 64-bit lane
                                              _mm512_srli_epi64(_mm512_andnot_si512(lo32, r), 32 - RW));
            __m512i o = _mm512_setzero_si512();
            for (int q = 0; q < 3; q++) {
                const __m512i v = _mm512_permutexvar_epi64(idx[q], p);
                o = _mm512_or_si512(o, _mm512_or_si512(_mm512_sllv_epi64(v, left[q]), _mm512_srlv_epi64(v, right[q])));
            }
            _mm512_storeu_si512(ro, o);
            ro += 2 * RW;
        }
        return j;
    }
#endif

#ifdef ENTROPY_X86
    // The field split of 16 bfloat16 words at a time (RW <= 8): symbols stored as u16, raw fields
    // packed by pairwise merges (16 -> 32 -> 64 -> 128-bit lanes), 8 fields = RW bytes per 128-bit
    // half. Stops while 40 elements remain, so its 8-byte stores stay inside the block's raw bytes
    // (the bytes past RW are rewritten by the next group); pack8 and the bit writer go on from there.
    ENTROPY_AVX2 static int64_t split_avx2(const Word* x, int64_t nb, uint16_t* sy, uint8_t*& ro) {
        if (sizeof(Word) != 2 || RW > 8) return 0;
        const __m256i symmask = _mm256_set1_epi16((short)((1 << (W + K)) - 1));
        const __m256i lowmask = _mm256_set1_epi16((short)((1 << (M - K)) - 1));
        const __m256i lo16 = _mm256_set1_epi32(0xFFFF), lo32 = _mm256_set1_epi64x(0xFFFFFFFFll);
        int64_t j = 0;
        for (; j + 40 <= nb; j += 16) {
            const __m256i w = _mm256_loadu_si256((const __m256i*)(x + j));
            _mm256_storeu_si256((__m256i*)(sy + j), _mm256_and_si256(_mm256_srli_epi16(w, M - K), symmask));
            const __m256i r = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, lowmask), 1),
                                              _mm256_srli_epi16(w, W + M));
            const __m256i p = _mm256_or_si256(_mm256_and_si256(r, lo16), _mm256_slli_epi32(_mm256_srli_epi32(r, 16), RW));
            const __m256i q = _mm256_or_si256(_mm256_and_si256(p, lo32), _mm256_slli_epi64(_mm256_srli_epi64(p, 32), 2 * RW));
            const __m256i o = _mm256_or_si256(q, _mm256_slli_epi64(_mm256_srli_si256(q, 8), 4 * RW));
            const uint64_t a = (uint64_t)_mm256_extract_epi64(o, 0), b = (uint64_t)_mm256_extract_epi64(o, 2);
            std::memcpy(ro, &a, 8);
            std::memcpy(ro + RW, &b, 8);
            ro += 2 * RW;
        }
        return j;
    }
#endif

    // Layout 1: a block whose elements all have their t lowest mantissa bits zero stores its raw
    // fields without them (RW - t bits: the sign, then the mantissa's bits above t), LSB-first
    // from its own byte offset. Rare (such blocks come from lower-precision data), so plain code.
    static void split_block_shifted(const Word* x, int64_t nb, uint8_t* ro, uint16_t* sy, int t) {
        const int w = RW - t;
        uint64_t acc = 0;
        int n = 0;
        for (int64_t j = 0; j < nb; j++) {
            sy[j] = (uint16_t)sym_of(x[j]);
            const uint32_t r = raw_of(x[j]);
            acc |= (uint64_t)(((r >> (t + 1)) << 1) | (r & 1)) << n;
            n += w;
            while (n >= 8) { *ro++ = (uint8_t)acc; acc >>= 8; n -= 8; }
        }
        if (n > 0) *ro = (uint8_t)acc;
    }

    // Splits block b into its symbols (sy) and its raw fields (written at raw_out + roff[b]).
    static void split_block(const Word* words, int64_t numel, int64_t b, uint8_t* raw_out, const int64_t* roff,
                            const uint8_t* shifts, uint16_t* sy) {
        const int64_t s0 = b * BLOCK;
        const int64_t nb = std::min(BLOCK, numel - s0);
        uint8_t* ro = raw_out + roff[b];
        const Word* x = words + s0;
        if (shifts && shifts[b]) { split_block_shifted(x, nb, ro, sy, shifts[b]); return; }
        int64_t j = 0;
#ifdef ENTROPY_X86
        if (simd_level() >= 2) j = sizeof(Word) == 2 ? split_avx512(x, nb, sy, ro) : split32_avx512(x, nb, sy, ro);
        if (simd_level() >= 1) j += split_avx2(x + j, nb - j, sy + j, ro);
#endif
        if (RW <= 16) {
            // groups whose wide store stays inside the block's raw bytes (the next group, or the
            // block's tail, rewrites the bytes past RW): all but the last two
            for (; j + 8 <= nb; j += 8) {
                uint32_t r[8];
                for (int i = 0; i < 8; i++) { sy[j + i] = (uint16_t)sym_of(x[j + i]); r[i] = raw_of(x[j + i]); }
                pack8<RW <= 16 ? RW : 16>(r, ro, j + 24 <= nb);
                ro += RW;
            }
        }
        RawWriter<RW> rw(ro);
        for (; j < nb; j++) {
            Word w = x[j];
            sy[j] = (uint16_t)sym_of(w);
            rw.put(raw_of(w));
        }
        rw.finish();
    }

    // The rANS steps of one block's nb symbols, backwards from state 2^16 (scalar, or AVX2 for a
    // full block). Words are written backwards below wp so that they come out in the decoder's
    // order (element order, lane order within a step); returns the new wp. A word is stored below
    // wp before knowing whether it is emitted (branch-free; the SIMD loops store 8 at a time), so
    // the caller's buffer holds nb + 8 words.
    static uint16_t* rans_block(const uint16_t* sy, int64_t nb, const EncTables& et, uint32_t* st, uint16_t* wp) {
        for (int l = 0; l < LANES; l++) st[l] = RANS_L;
        int64_t j = nb - 1;
#ifdef ENTROPY_X86
        if (simd_level() >= 1 && nb == BLOCK) {
            wp = rans_avx2(sy, nb, et, st, wp);
            j = -1;
        }
#endif
        for (; j >= 0; j--) {
            const int l = (int)(j & (LANES - 1));
            const EncSym e = et.sym[sy[j]];
            uint32_t s = st[l];
            const bool emit = (uint64_t)s >= e.xmax;
            wp[-1] = (uint16_t)s;
            wp -= emit;
            s = emit ? s >> 16 : s;
            const uint32_t q = div_freq(s, e.rcp);
            st[l] = (q << PROB_BITS) + (s - q * e.freq) + e.cum;
        }
        return wp;
    }

    // A block's rANS bytes: its final states, then its words.
    static int64_t put_block(uint8_t* out, const uint32_t* st, const uint16_t* wp, const uint16_t* wend) {
        const int64_t nw = wend - wp;
        for (int l = 0; l < LANES; l++) store_u32(out + 4 * l, st[l]);
        std::memcpy(out + STATE_BYTES, wp, 2 * nw);
        return STATE_BYTES + 2 * nw;
    }

#ifdef ENTROPY_X86
    // The rANS steps of 2·P full blocks at once, backwards: block pairs share a 16-lane AVX-512
    // register (8 lanes each) and the P pairs' dependency chains overlap; a symbol's frequency and
    // start come from the window registers (EncTables::win) or, outside it, a gather. floor(x / f) in single
    // precision, by a reciprocal: rcp14 and one Newton step give 1/f within 2^-23 relative, x
    // converts and the product rounds within 2^-24 each, so x·(1/f) is within 1/4 of x/f
    // (x/f < 2^20): the truncated quotient is off by at most one and one remainder test each way
    // corrects it (the scalar loop's double-precision quotient is exact: same states, same
    // words). The reciprocal, not vdivps: a 16-lane divide blocks its port for ~16 cycles on
    // Intel cores (encoder 5 % faster on a Xeon VM, 1.5 % on a Zen 4).
    // pf, pf_bytes: memory the caller reads next (the next group's words), prefetched into L2
    // while this loop, which loads nothing from memory, runs.
    template <int P>
    ENTROPY_AVX512 static void rans_avx512(const uint16_t* const* sy, const EncTables& et, uint32_t (*st)[LANES],
                                           uint16_t** wp, const uint8_t* pf, int64_t pf_bytes) {
        constexpr int64_t steps = BLOCK / LANES;
        const int64_t pf_step = (pf_bytes / steps + 63) & ~63ll;   // bytes prefetched per step
        const int* fc = (const int*)et.fc.data();
        const __m512i lo16 = _mm512_set1_epi32(0xFFFF), k4096 = _mm512_set1_epi32(PROB_SCALE);
        const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
        const __m512i base = _mm512_set1_epi32((int)et.win_base), wsize = _mm512_set1_epi32(EncTables::WIN);
        const __m512i bit5 = _mm512_set1_epi32(32);
        const __m512i t0 = _mm512_load_si512(et.win), t1 = _mm512_load_si512(et.win + 16);
        const __m512i t2 = _mm512_load_si512(et.win + 32), t3 = _mm512_load_si512(et.win + 48);
        __m512i x[P];
        uint16_t* w[2 * P];
        for (int p = 0; p < P; p++) {
            x[p] = _mm512_set1_epi32(RANS_L);
            w[2 * p] = wp[2 * p];
            w[2 * p + 1] = wp[2 * p + 1];
        }
        for (int64_t t = steps - 1; t >= 0; t--) {
            const int64_t off = (steps - 1 - t) * pf_step;
            for (int64_t b = 0; b < pf_step && off + b < pf_bytes; b += 64) _mm_prefetch((const char*)pf + off + b, _MM_HINT_T1);
            for (int p = 0; p < P; p++) {
                const __m128i sa = _mm_loadu_si128((const __m128i*)(sy[2 * p] + t * LANES));
                const __m128i sb = _mm_loadu_si128((const __m128i*)(sy[2 * p + 1] + t * LANES));
                const __m512i s = _mm512_cvtepu16_epi32(_mm256_inserti128_si256(_mm256_castsi128_si256(sa), sb, 1));
                const __m512i idx = _mm512_sub_epi32(s, base);
                __m512i e = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(idx, bit5), _mm512_permutex2var_epi32(t0, idx, t1),
                                                    _mm512_permutex2var_epi32(t2, idx, t3));
                const __mmask16 outside = _mm512_cmpge_epu32_mask(idx, wsize);
                if (outside) e = _mm512_mask_i32gather_epi32(e, outside, s, fc, 4);
                const __m512i f = _mm512_and_si512(e, lo16);
                const __m512i cum = _mm512_srli_epi32(e, 16);
                // emit when x >= f·2^20
                const __mmask16 emit = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(x[p], 32 - PROB_BITS), f);
                const __m256i x16 = _mm512_cvtepi32_epi16(x[p]);
                for (int h = 0; h < 2; h++) {
                    // the half's emitted words, lanes ascending, at the top of 8 slots just below w
                    const unsigned m = (unsigned)(emit >> (8 * h)) & 0xFF;
                    const __m128i v = h ? _mm256_extracti128_si256(x16, 1) : _mm256_castsi256_si128(x16);
                    const __m128i top = _mm_shuffle_epi8(v, _mm_load_si128((const __m128i*)kEmitTop.ctl[m]));
                    _mm_storeu_si128((__m128i*)(w[2 * p + h] - 8), top);
                    w[2 * p + h] -= __builtin_popcount(m);
                }
                const __m512i xv = _mm512_mask_srli_epi32(x[p], emit, x[p], 16);
                const __m512 ff = _mm512_cvtepi32_ps(f), r0 = _mm512_rcp14_ps(ff);
                const __m512 rf = _mm512_fmadd_ps(r0, _mm512_fnmadd_ps(ff, r0, _mm512_set1_ps(1.0f)), r0);
                __m512i q = _mm512_cvttps_epu32(_mm512_mul_ps(_mm512_cvtepu32_ps(xv), rf));
                const __m512i r = _mm512_sub_epi32(xv, _mm512_mullo_epi32(q, f));   // in [-f, 2f)
                q = _mm512_mask_sub_epi32(q, _mm512_cmplt_epi32_mask(r, zero), q, one);
                q = _mm512_mask_add_epi32(q, _mm512_cmpge_epi32_mask(r, f), q, one);
                // x' = (q << 12) + (x - q·f) + cum = x + q·(4096 - f) + cum
                x[p] = _mm512_add_epi32(_mm512_add_epi32(xv, cum), _mm512_mullo_epi32(q, _mm512_sub_epi32(k4096, f)));
            }
        }
        for (int p = 0; p < P; p++) {
            _mm256_storeu_si256((__m256i*)st[2 * p], _mm512_castsi512_si256(x[p]));
            _mm256_storeu_si256((__m256i*)st[2 * p + 1], _mm512_extracti64x4_epi64(x[p], 1));
            wp[2 * p] = w[2 * p];
            wp[2 * p + 1] = w[2 * p + 1];
        }
    }
#endif

    // encs: one table per segment of seg_blocks blocks; roff: each block's raw byte offset;
    // shifts: each block's raw shift (layout 1) or null.
    static int64_t encode(const Word* words, int64_t numel, const EncTables* encs, int64_t seg_blocks,
                          const uint8_t* shifts, const int64_t* roff, uint8_t* raw_out,
                          uint8_t* rans_out, int64_t rans_cap, int64_t* ends, int nthreads) {
        const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
        if (!blocks) return 0;
        const int T = useful_threads(nthreads, numel, blocks);
        constexpr int64_t kBlockMax = STATE_BYTES + 2 * BLOCK;
        constexpr int G = 4;     // full blocks encoded together by the AVX-512 loop (2 pairs; 3 are no faster)
        const bool avx512 = simd_level() >= 2;
        const int gsize = avx512 ? G : 1;
        const int64_t groups = (blocks + gsize - 1) / gsize;
        // Threads take groups of blocks in order and put their bytes in place in group order: a
        // group whose turn has come is written straight into rans_out, any other one into the
        // thread's staging buffer (L2-sized), copied when its turn comes. No pass over the
        // section afterwards, no buffer of the section's size.
        std::atomic<int64_t> next{0}, turn{0};
        int64_t pos = 0;                    // the section's bytes so far: only the turn's holder touches it
        std::atomic<int> overflow{0};
        run_threads(T, [&](int) {
            // per block of a group: its symbols and its words (BLOCK + 8: see rans_block)
            std::vector<uint16_t> sym((size_t)G * BLOCK), wbuf((size_t)G * (BLOCK + 8));
            std::vector<uint8_t> stage((size_t)G * kBlockMax);
            for (;;) {
                const int64_t gi = next.fetch_add(1);
                if (gi >= groups) break;
                const int64_t b = gi * gsize;
                const int n = (int)std::min<int64_t>(gsize, blocks - b);
                const EncTables& enc = encs[b / seg_blocks];
                // (the AVX-512 loop codes the group's blocks with one table)
                const bool full = n == G && (b + G) * BLOCK <= numel && b / seg_blocks == (b + G - 1) / seg_blocks;
                uint16_t* sy[G];
                uint16_t* wend[G];
                uint16_t* wp[G];
                uint32_t st[G][LANES];
                for (int g = 0; g < n; g++) {
                    sy[g] = sym.data() + (size_t)g * BLOCK;
                    wend[g] = wp[g] = wbuf.data() + (size_t)(g + 1) * (BLOCK + 8);
                    split_block(words, numel, b + g, raw_out, roff, shifts, sy[g]);
                }
#ifdef ENTROPY_X86
                if (full) {
                    // prefetch the words of the group this thread most likely takes next
                    const int64_t s = std::min<int64_t>((b + (int64_t)T * G) * BLOCK, numel);
                    rans_avx512<G / 2>(sy, enc, st, wp, (const uint8_t*)(words + s),
                                       std::min<int64_t>(numel - s, G * BLOCK) * (int64_t)sizeof(Word));
                }
#endif
                if (!full)
                    for (int g = 0; g < n; g++)
                        wp[g] = rans_block(sy[g], std::min(BLOCK, numel - (b + g) * BLOCK), encs[(b + g) / seg_blocks],
                                           st[g], wp[g]);
                int64_t len[G], total = 0;
                for (int g = 0; g < n; g++) { len[g] = STATE_BYTES + 2 * (wend[g] - wp[g]); total += len[g]; }
                const bool direct = turn.load(std::memory_order_acquire) == gi;
                if (!direct)
                    for (int g = 0, o = 0; g < n; o += (int)len[g], g++) put_block(stage.data() + o, st[g], wp[g], wend[g]);
                for (int spins = 0; turn.load(std::memory_order_acquire) != gi; spins++) {
                    if (spins < 64) ENTROPY_PAUSE();
                    else std::this_thread::yield();
                }
                if (overflow.load(std::memory_order_relaxed) || rans_cap - pos < total) {
                    overflow = 1;                 // the caller's room is too small
                } else {
                    if (direct)
                        for (int g = 0, o = 0; g < n; o += (int)len[g], g++) put_block(rans_out + pos + o, st[g], wp[g], wend[g]);
                    else
                        std::memcpy(rans_out + pos, stage.data(), total);
                    for (int g = 0; g < n; g++) {   // (the index may sit in a caller's unaligned buffer)
                        pos += len[g];
                        std::memcpy(ends + b + g, &pos, sizeof pos);
                    }
                }
                turn.store(gi + 1, std::memory_order_release);
            }
        });
        if (overflow) return kCapacity;
        return pos;
    }

    // One block's decoder state: lane states, word pointer, the symbols decoded so far.
    struct BlockDec {
        uint32_t st[LANES];
        const uint8_t* wp;
        const uint8_t* wend;
        int64_t j = 0, nb = 0, s0 = 0;
    };

    static int begin_block(const uint8_t* rans, const int64_t* ends, int64_t numel, int64_t b, BlockDec& d) {
        d.s0 = b * BLOCK;
        d.nb = std::min(BLOCK, numel - d.s0);
        d.j = 0;
        const int64_t start = b ? ends[b - 1] : 0, end = ends[b];
        if (end - start < STATE_BYTES || ((end - start) & 1)) return kShortBlock;
        const uint8_t* p = rans + start;
        for (int l = 0; l < LANES; l++) {
            d.st[l] = load_u32(p + 4 * l);
            if (d.st[l] < RANS_L) return kLowState;
        }
        d.wp = p + STATE_BYTES;
        d.wend = rans + end;
        return 0;
    }

    // Decodes the rest of the block's symbols (from d.j) with scalar code, then checks its end.
    // Sy = uint16_t: symbols; uint8_t: ranks (DecTables::ranked).
    template <typename Sy>
    static int finish_symbols(BlockDec& d, const DecSlot* dec, Sy* sy) {
        int64_t j = d.j;
        uint32_t* st = d.st;
        const uint8_t* wp = d.wp;
        const uint8_t* wend = d.wend;
        const int64_t nb = d.nb;
        // full steps of 8 elements: one word read per lane at most, bounds checked once per step
        for (; j + LANES <= nb && wend - wp >= 2 * LANES; j += LANES) {
            for (int l = 0; l < LANES; l++) {
                uint32_t s = st[l];
                const DecSlot e = dec[s & (PROB_SCALE - 1)];
                sy[j + l] = (Sy)(sizeof(Sy) == 1 ? e.rank : e.sym);
                s = (uint32_t)e.freq * (s >> PROB_BITS) + e.bias;
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
            const DecSlot e = dec[s & (PROB_SCALE - 1)];
            sy[j] = (Sy)(sizeof(Sy) == 1 ? e.rank : e.sym);
            s = (uint32_t)e.freq * (s >> PROB_BITS) + e.bias;
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
        return 0;
    }

#ifdef ENTROPY_X86
    // 8 elements at a time for 16-bit words: each lane's raw field is fetched from the group's
    // RW bytes by a byte shuffle (4 bytes per lane) and a per-lane shift, then joined with its
    // symbol. Reads 16 bytes at ri; RW <= 13 keeps every lane's bytes inside them.
    ENTROPY_AVX2 static int64_t merge_avx2(const uint8_t*& ri, const uint8_t* end, const uint16_t* sy, Word* o,
                                          int64_t nb) {
        if (sizeof(Word) != 2 || RW > 13) return 0;
        alignas(32) static const struct Ctl { int8_t shuf[32]; int32_t shift[8]; Ctl() {
            for (int l = 0; l < 8; l++) {
                const int b0 = (RW * l) / 8;
                for (int q = 0; q < 4; q++) shuf[4 * l + q] = (int8_t)(b0 + q);   // (each half holds the same 16 bytes)
                shift[l] = (RW * l) % 8;
            }
        } } ctl;
        const __m256i shuf = _mm256_load_si256((const __m256i*)ctl.shuf);
        const __m256i shift = _mm256_load_si256((const __m256i*)ctl.shift);
        const __m256i mask = _mm256_set1_epi32((1 << RW) - 1), one = _mm256_set1_epi32(1);
        int64_t i = 0;
        for (; i + 8 <= nb && end - ri >= 16; i += 8) {
            const __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)ri));
            const __m256i r = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(bytes, shuf), shift), mask);
            const __m256i sym = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(sy + i)));
            const __m256i w = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(r, one), W + M),
                                                              _mm256_slli_epi32(sym, M - K)),
                                              _mm256_srli_epi32(r, 1));
            const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), 0x08);
            _mm_storeu_si128((__m128i*)(o + i), _mm256_castsi256_si128(p));
            ri += RW;
        }
        return i;
    }
#endif

    // Layout 1, a shifted block: fields of RW - t bits (sign, then the mantissa's bits above t);
    // hi(i) gives element i's symbol already in place. Reads the block's ceil(nb·(RW - t)/8) bytes
    // only (the caller checked that they lie inside the raw section).
    template <class Hi>
    static void merge_shifted(const uint8_t* ri, int64_t nb, int t, Hi hi, Word* o) {
        const int w = RW - t;
        const uint64_t mask = (1ull << w) - 1;
        const uint8_t* const end = ri + (nb * w + 7) / 8;
        uint64_t acc = 0;
        int n = 0;
        for (int64_t i = 0; i < nb; i++) {
            while (n < w) { acc |= (uint64_t)(ri < end ? *ri : 0) << n; ri++; n += 8; }
            const uint64_t v = acc & mask;
            acc >>= w;
            n -= w;
            o[i] = (Word)(hi(i) | ((Word)(v & 1) << (W + M)) | (Word)((v >> 1) << t));
        }
    }

    // Joins symbols and raw fields into the block's words.
    static void merge_block(const uint8_t* raw, int64_t raw_len, const BlockDec& d, const uint16_t* sy, Word* out,
                            const int64_t* roff, const uint8_t* shifts) {
        const int64_t b = d.s0 / BLOCK;
        const uint8_t* ri = raw + roff[b];
        Word* o = out + d.s0;
        if (shifts && shifts[b]) {
            merge_shifted(ri, d.nb, shifts[b], [&](int64_t i) { return (Word)((Word)sy[i] << (M - K)); }, o);
            return;
        }
        int64_t i = 0;
#ifdef ENTROPY_X86
        if (simd_level() >= 1) i = merge_avx2(ri, raw + raw_len, sy, o, d.nb);
#endif
        if (RW <= 16) {
            // 8 elements' raw bytes at a time while 16 bytes remain to read (unpack8 reads RW)
            for (; i + 8 <= d.nb && (raw + raw_len) - ri >= 16; i += 8) {   // (continues where AVX2 stopped)
                uint32_t r[8];
                unpack8<RW <= 16 ? RW : 16>(ri, r);
                for (int q = 0; q < 8; q++) o[i + q] = word_of(sy[i + q], r[q]);
                ri += RW;
            }
        }
        RawReader<RW> rr(ri, raw + raw_len);
        for (; i < d.nb; i++) o[i] = word_of(sy[i], rr.get());
    }

#ifdef ENTROPY_X86
    // G blocks at once, 8 lanes of each in one AVX2 register: the blocks' dependency chains
    // (gather, multiply, renormalisation) overlap. A lane's word is found by a popcount of the
    // lanes before it that need one; words are loaded 8 at a time (16 bytes, so a block's loop
    // stops while 16 bytes remain and the scalar code finishes it).
    template <int G, bool PACKED>
    ENTROPY_AVX2 static void symbols_avx2(BlockDec* d, const DecTables& t, uint16_t* const* sy) {
        alignas(32) static const struct Perm { int32_t idx[256][8]; Perm() {
            for (int m = 0; m < 256; m++)
                for (int l = 0; l < 8; l++) idx[m][l] = __builtin_popcount(m & ((1 << l) - 1)) & 7;
        } } perm;
        int64_t steps = BLOCK;
        for (int g = 0; g < G; g++) steps = std::min(steps, d[g].nb);
        steps /= LANES;
        __m256i x[G];
        const uint8_t* wp[G];
        for (int g = 0; g < G; g++) { x[g] = _mm256_loadu_si256((const __m256i*)d[g].st); wp[g] = d[g].wp; }
        const __m256i mask12 = _mm256_set1_epi32(PROB_SCALE - 1), lo16 = _mm256_set1_epi32(0xFFFF);
        const __m256i zero = _mm256_setzero_si256();
        const int* fb = (const int*)t.fb.data();
        const int* sm = (const int*)t.sym.data();
        const int* one = (const int*)t.one.data();
        const __m256i m12 = _mm256_set1_epi32(0xFFF), ones = _mm256_set1_epi32(1);
        const __m256i first = _mm256_set1_epi32((int)t.first);
        int64_t step = 0;
        for (; step < steps; step++) {
            bool room = true;
            for (int g = 0; g < G; g++) room &= d[g].wend - wp[g] >= 16;
            if (!room) break;
            for (int g = 0; g < G; g++) {
                const __m256i slot = _mm256_and_si256(x[g], mask12);
                __m256i f, bias, s;
                if (PACKED) {
                    const __m256i e = _mm256_i32gather_epi32(one, slot, 4);
                    f = _mm256_add_epi32(_mm256_and_si256(e, m12), ones);
                    bias = _mm256_and_si256(_mm256_srli_epi32(e, 12), m12);
                    s = _mm256_add_epi32(_mm256_srli_epi32(e, 24), first);
                } else {
                    const __m256i e = _mm256_i32gather_epi32(fb, slot, 4);
                    f = _mm256_srli_epi32(e, 16);
                    bias = _mm256_and_si256(e, lo16);
                    s = _mm256_i32gather_epi32(sm, slot, 4);
                }
                __m256i nx = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srli_epi32(x[g], PROB_BITS)), bias);
                const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(nx, 16), zero);
                const int m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
                const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)wp[g]));
                const __m256i wl = _mm256_permutevar8x32_epi32(w, _mm256_load_si256((const __m256i*)perm.idx[m]));
                x[g] = _mm256_blendv_epi8(nx, _mm256_or_si256(_mm256_slli_epi32(nx, 16), wl), need);
                wp[g] += 2 * __builtin_popcount(m);
                const __m128i s16 = _mm_packus_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                _mm_storeu_si128((__m128i*)(sy[g] + step * LANES), s16);
            }
        }
        for (int g = 0; g < G; g++) {
            _mm256_storeu_si256((__m256i*)d[g].st, x[g]);
            d[g].wp = wp[g];
            d[g].j = step * LANES;
        }
    }
#endif

#ifdef ENTROPY_X86
    // 2·P blocks at once with a ranked table: block pairs share a 16-lane AVX-512 register and
    // the P pairs' chains overlap; one gather per 16 symbols (rone). A half's words come from 16
    // bytes at its word pointer, spread to the lanes that need one by an expand. Ranks are stored
    // as bytes. Stops, like symbols_avx2, while a block has fewer than 16 bytes of words left.
    template <int P>
    ENTROPY_AVX512 static void symbols_avx512(BlockDec* d, const DecTables& t, uint8_t* const* rk) {
        int64_t steps = BLOCK;
        for (int g = 0; g < 2 * P; g++) steps = std::min(steps, d[g].nb);
        steps /= LANES;
        __m512i x[P];
        const uint8_t* wp[2 * P];
        for (int p = 0; p < P; p++)
            x[p] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)d[2 * p].st)),
                                      _mm256_loadu_si256((const __m256i*)d[2 * p + 1].st), 1);
        for (int g = 0; g < 2 * P; g++) wp[g] = d[g].wp;
        const int* one = (const int*)t.rone.data();
        const __m512i m12 = _mm512_set1_epi32(PROB_SCALE - 1), ones = _mm512_set1_epi32(1);
        const __m512i lim = _mm512_set1_epi32(RANS_L);
        int64_t step = 0;
        for (int64_t safe = 0; step < steps; step++) {
            // a step reads 16 bytes at a block's word pointer and consumes at most 16, so with r
            // bytes left in every block this step and the next r / 16 - 1 cannot read past the end
            if (step >= safe) {
                int64_t left = INT64_MAX;
                for (int g = 0; g < 2 * P; g++) left = std::min<int64_t>(left, d[g].wend - wp[g]);
                if (left < 16) break;
                safe = step + left / 16;
            }
            for (int p = 0; p < P; p++) {
                const __m512i e = _mm512_i32gather_epi32(_mm512_and_si512(x[p], m12), one, 4);
                const __m512i f = _mm512_add_epi32(_mm512_srli_epi32(e, 20), ones);
                const __m512i bias = _mm512_and_si512(e, m12);
                const __m512i nx = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32(x[p], PROB_BITS)), bias);
                const __mmask16 need = _mm512_cmplt_epu32_mask(nx, lim);
                const __mmask8 ma = (__mmask8)need, mb = (__mmask8)(need >> 8);
                const __m128i wa = _mm_maskz_expand_epi16(ma, _mm_loadu_si128((const __m128i*)wp[2 * p]));
                const __m128i wb = _mm_maskz_expand_epi16(mb, _mm_loadu_si128((const __m128i*)wp[2 * p + 1]));
                const __m512i w = _mm512_cvtepu16_epi32(_mm256_inserti128_si256(_mm256_castsi128_si256(wa), wb, 1));
                x[p] = _mm512_mask_mov_epi32(nx, need, _mm512_or_si512(_mm512_slli_epi32(nx, 16), w));
                wp[2 * p] += 2 * __builtin_popcount(ma);
                wp[2 * p + 1] += 2 * __builtin_popcount(mb);
                const __m128i r8 = _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, PROB_BITS));   // (keeps the low byte)
                _mm_storel_epi64((__m128i*)(rk[2 * p] + step * LANES), r8);
                _mm_storeh_pd((double*)(rk[2 * p + 1] + step * LANES), _mm_castsi128_pd(r8));
            }
        }
        for (int p = 0; p < P; p++) {
            _mm256_storeu_si256((__m256i*)d[2 * p].st, _mm512_castsi512_si256(x[p]));
            _mm256_storeu_si256((__m256i*)d[2 * p + 1].st, _mm512_extracti64x4_epi64(x[p], 1));
        }
        for (int g = 0; g < 2 * P; g++) {
            d[g].wp = wp[g];
            d[g].j = step * LANES;
        }
    }

    // Byte permute and shifts that place the raw fields of 64 / sizeof(Lane) consecutive elements
    // (from a byte boundary) in lanes of that type: lane l takes sizeof(Lane) bytes from
    // (RW·l)/8, shifted right by (RW·l) % 8. 32-bit lanes: RW <= 24 stays inside them; 16-bit
    // lanes (32 elements): RW <= 9.
    template <typename Lane>
    struct RawLanesOf {
        static constexpr int N = 64 / (int)sizeof(Lane);
        alignas(64) int8_t perm[64];
        alignas(64) Lane shift[N];
        RawLanesOf() {
            for (int l = 0; l < N; l++) {
                for (int q = 0; q < (int)sizeof(Lane); q++) perm[(int)sizeof(Lane) * l + q] = (int8_t)((RW * l) / 8 + q);
                shift[l] = (Lane)((RW * l) % 8);
            }
        }
    };
    using RawLanes = RawLanesOf<int32_t>;
    using RawLanes32 = RawLanesOf<int16_t>;
    ENTROPY_AVX512 static inline __m512i raw_lanes16(const uint8_t* ri, const RawLanes& c) {
        const __m512i bytes = _mm512_permutexvar_epi8(_mm512_load_si512(c.perm), _mm512_loadu_si512(ri));
        return _mm512_and_si512(_mm512_srlv_epi32(bytes, _mm512_load_si512(c.shift)), _mm512_set1_epi32((1 << RW) - 1));
    }

    // Joins ranks and raw fields into words: 32 elements a step for 16-bit words (the rank's
    // symbol, already shifted into place, from word permutes over 8 registers holding the 256
    // ranks), 16 for 32-bit words (a gather from the same table). Reads 64 bytes from each raw
    // position, so it stops while fewer remain; returns the elements done.
    ENTROPY_AVX512 static int64_t merge_ranks_avx512(const uint8_t*& ri, const uint8_t* end, const uint8_t* rk,
                                                    const uint32_t* symw, int ranks, Word* o, int64_t nb, bool nt) {
        static const RawLanes ctl;
        static const RawLanes32 ctl32;
        int64_t i = 0;
        if (sizeof(Word) == 2) {
            alignas(64) uint16_t tab16[256];
            for (int r = 0; r < 256; r++) tab16[r] = (uint16_t)symw[r];
            __m512i tb[8];
            for (int q = 0; q < 8; q++) tb[q] = _mm512_load_si512(tab16 + 32 * q);
            const __m512i b6 = _mm512_set1_epi16(64), b7 = _mm512_set1_epi16(128);
            for (; i + 32 <= nb && end - ri >= 2 * RW + 64; i += 32) {
                const __m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(rk + i)));
                const __mmask32 h6 = _mm512_test_epi16_mask(idx, b6), h7 = _mm512_test_epi16_mask(idx, b7);
                __m512i sym = _mm512_mask_blend_epi16(h6, _mm512_permutex2var_epi16(tb[0], idx, tb[1]),
                                                      _mm512_permutex2var_epi16(tb[2], idx, tb[3]));
                if (ranks > 128) {         // ranks 128-255 too
                    const __m512i hi = _mm512_mask_blend_epi16(h6, _mm512_permutex2var_epi16(tb[4], idx, tb[5]),
                                                               _mm512_permutex2var_epi16(tb[6], idx, tb[7]));
                    sym = _mm512_mask_blend_epi16(h7, sym, hi);
                }
                __m512i r;
                if (RW <= 9) {             // 32 fields (4·RW <= 36 bytes) from one load
                    const __m512i bytes = _mm512_permutexvar_epi8(_mm512_load_si512(ctl32.perm), _mm512_loadu_si512(ri));
                    r = _mm512_and_si512(_mm512_srlv_epi16(bytes, _mm512_load_si512(ctl32.shift)),
                                         _mm512_set1_epi16((short)((1 << RW) - 1)));
                } else {
                    const __m256i r0 = _mm512_cvtepi32_epi16(raw_lanes16(ri, ctl));
                    const __m256i r1 = _mm512_cvtepi32_epi16(raw_lanes16(ri + 2 * RW, ctl));
                    r = _mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1);
                }
                const __m512i w = _mm512_or_si512(sym, _mm512_or_si512(_mm512_slli_epi16(r, W + M), _mm512_srli_epi16(r, 1)));
                if (nt) _mm512_stream_si512((__m512i*)(o + i), w);     // (o + i is 64-byte aligned then)
                else _mm512_storeu_si512((void*)(o + i), w);
                ri += 4 * RW;
            }
        } else {
            for (; i + 16 <= nb && end - ri >= 64; i += 16) {
                const __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(rk + i)));
                const __m512i sym = _mm512_i32gather_epi32(idx, (const int*)symw, 4);
                const __m512i r = raw_lanes16(ri, ctl);
                const __m512i w = _mm512_or_si512(sym, _mm512_or_si512(_mm512_slli_epi32(r, W + M), _mm512_srli_epi32(r, 1)));
                if (nt) _mm512_stream_si512((__m512i*)(o + i), w);
                else _mm512_storeu_si512((void*)(o + i), w);
                ri += 2 * RW;
            }
        }
        return i;
    }
#endif

    // Joins a block's ranks and raw fields into its words (DecTables::ranked).
    static void merge_ranks_block(const uint8_t* raw, int64_t raw_len, const BlockDec& d, const uint8_t* rk,
                                  const uint32_t* symw, int ranks, Word* out, const int64_t* roff,
                                  const uint8_t* shifts, bool nt) {
        const int64_t b = d.s0 / BLOCK;
        const uint8_t* ri = raw + roff[b];
        Word* o = out + d.s0;
        if (shifts && shifts[b]) {
            merge_shifted(ri, d.nb, shifts[b], [&](int64_t i) { return (Word)symw[rk[i]]; }, o);
            return;
        }
        int64_t i = 0;
#ifdef ENTROPY_X86
        if (simd_level() >= 2) i = merge_ranks_avx512(ri, raw + raw_len, rk, symw, ranks, o, d.nb, nt);
#endif
        RawReader<RW> rr(ri, raw + raw_len);
        for (; i < d.nb; i++) {
            const uint32_t r = rr.get();
            o[i] = (Word)(symw[rk[i]] | ((Word)(r & 1) << (W + M)) | (Word)(r >> 1));
        }
    }

    // decs: one table per segment of seg_blocks blocks; roff: blocks + 1 raw byte offsets (checked
    // here against the shifts and raw_len); shifts: each block's raw shift (layout 1) or null.
    static int decode(const uint8_t* raw, int64_t raw_len, const uint8_t* rans, const int64_t* ends,
                      int64_t numel, const DecTables* decs, int64_t seg_blocks, const uint8_t* shifts,
                      const int64_t* roff, Word* out, int nthreads) {
        const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
        if (roff[0] != 0 || roff[blocks] != raw_len) return kBadSizes;
        for (int64_t b = 0; b < blocks; b++) {
            const int t = shifts ? shifts[b] : 0;
            if (t > M - K) return kBadSizes;
            const int64_t nb = std::min(BLOCK, numel - b * BLOCK);
            if (roff[b + 1] - roff[b] != (nb * (RW - t) + 7) / 8) return kBadSizes;
        }
        const int T = useful_threads(nthreads, numel, blocks);
        const bool avx2 = simd_level() >= 1;
        constexpr int G = 4;                       // blocks decoded together by the AVX2 loop
        constexpr int G512 = 6;                    // and by the AVX-512 loop (3 pairs: 2 or 4 are slower)
        const int64_t nseg = (blocks + seg_blocks - 1) / seg_blocks;
        // AVX-512 with a ranked table: ranks (bytes) and the rank's symbol shifted into place, for the merge
        std::vector<uint32_t> symw((size_t)nseg * 256, 0);
        bool any512 = false, anysy = false;
        for (int64_t q = 0; q < nseg; q++) {
            const bool r = simd_level() >= 2 && decs[q].ranked && decs[q].simd;
            any512 |= r;
            anysy |= !r;
            for (int i = 0; i < 256; i++) symw[(size_t)q * 256 + i] = decs[q].rank_sym[i] << (M - K);
        }
        // units of work: runs of blocks inside one segment (one table), as many as a SIMD loop takes
        std::vector<std::pair<int64_t, int>> units;
        for (int64_t q = 0; q < nseg; q++) {
            const bool r = simd_level() >= 2 && decs[q].ranked && decs[q].simd;
            const int group = r ? G512 : avx2 ? G : 1;
            const int64_t e = std::min(blocks, (q + 1) * seg_blocks);
            for (int64_t b = q * seg_blocks; b < e; b += group) units.emplace_back(b, (int)std::min<int64_t>(group, e - b));
        }
        std::atomic<int> err{0};
        std::atomic<int64_t> next{0};
        // a large output bypasses the caches (no read-for-ownership of lines about to be
        // overwritten whole); every block starts 64-byte aligned when the output does
        const bool nt = numel >= STREAM_ELEMS && ((uintptr_t)out & 63) == 0;
        run_threads(T, [&](int) {
            std::vector<uint16_t> sy(anysy ? (size_t)G * BLOCK : 0);
            std::vector<uint8_t> rk(any512 ? (size_t)G512 * BLOCK : 0);
            uint16_t* syp[G];
            uint8_t* rkp[G512];
            for (int g = 0; g < G; g++) syp[g] = anysy ? sy.data() + (size_t)g * BLOCK : nullptr;
            for (int g = 0; g < G512; g++) rkp[g] = any512 ? rk.data() + (size_t)g * BLOCK : nullptr;
            BlockDec d[G512];
            for (;;) {
                if (err.load(std::memory_order_relaxed)) break;
                const int64_t ui = next.fetch_add(1);
                if (ui >= (int64_t)units.size()) break;
                const int64_t b0 = units[(size_t)ui].first;
                const int n = units[(size_t)ui].second;
                const int64_t q = b0 / seg_blocks;
                const DecTables& dec = decs[q];
                const bool avx512 = simd_level() >= 2 && dec.ranked && dec.simd;
                int rc = 0;
                for (int g = 0; g < n && !rc; g++) rc = begin_block(rans, ends, numel, b0 + g, d[g]);
#ifdef ENTROPY_X86
                if (!rc && avx512) {
                    // pairs of blocks; an odd block left over is decoded by the scalar loop
                    if (n >= 6) symbols_avx512<3>(d, dec, rkp);
                    else if (n >= 4) symbols_avx512<2>(d, dec, rkp);
                    else if (n >= 2) symbols_avx512<1>(d, dec, rkp);
                } else if (!rc && avx2 && n == G && dec.simd) {
                    if (dec.packed) symbols_avx2<G, true>(d, dec, syp);
                    else symbols_avx2<G, false>(d, dec, syp);
                }
#endif
                for (int g = 0; g < n && !rc; g++) {
                    if (avx512) {
                        rc = finish_symbols(d[g], dec.slot.data(), rkp[g]);
                        if (!rc) merge_ranks_block(raw, raw_len, d[g], rkp[g], symw.data() + (size_t)q * 256, dec.ranks,
                                                   out, roff, shifts, nt);
                    } else {
                        rc = finish_symbols(d[g], dec.slot.data(), syp[g]);
                        if (!rc) merge_block(raw, raw_len, d[g], syp[g], out, roff, shifts);
                    }
                }
                if (rc) { int z = 0; err.compare_exchange_strong(z, rc); break; }
            }
#ifdef ENTROPY_X86
            if (nt) _mm_sfence();                  // the streamed words are visible before the join
#endif
        });
        return err.load();
    }
};

// Dispatch on (dtype, k).
template <template <typename, int, int, int> class C, class F>
int64_t dispatch(int dtype, int k, F fn) {
    if (k < 0 || k > MAX_TOP) return kBadTable;
#define ENTROPY_CASE(D, K) \
        case D * 3 + K: return fn(C<WordOf<D>, kFields[D].W, kFields[D].M, K>());
    switch (dtype * 3 + k) {
        ENTROPY_CASE(0, 0) ENTROPY_CASE(0, 1) ENTROPY_CASE(0, 2)
        ENTROPY_CASE(1, 0) ENTROPY_CASE(1, 1) ENTROPY_CASE(1, 2)
        ENTROPY_CASE(2, 0) ENTROPY_CASE(2, 1) ENTROPY_CASE(2, 2)
    }
#undef ENTROPY_CASE
    return kBadDtype;
}

}  // namespace

extern "C" {

int entropy_abi_version() { return 3; }   // 3: entropy_prefault

// Caps the kernel level (0 portable, 1 AVX2, 2 AVX-512); returns the level now in use.
int entropy_set_simd(int level) {
    g_simd_cap.store(std::max(0, level));
    return simd_level();
}
int entropy_simd_level() { return simd_level(); }
int entropy_simd_detected() { return kDetected; }

// Output buffers' pages (enec_native/pages.h): huge pages for a large, not yet touched buffer;
// mapping a fresh one over nthreads threads before the decoder writes it.
void entropy_advise_huge(void* p, int64_t len) { advise_huge(p, len); }
void entropy_prefault(void* p, int64_t len, int nthreads) { prefault(p, len, nthreads); }

// Histograms of the symbols with MAX_TOP mantissa bits (2^(W+2) bins) per segment of seg_blocks
// blocks (hist: segments × bins), and per block the OR of its elements' mantissas (mant_or, may
// be null): what the encoder's choice needs (entropy.choose_plan), over nthreads threads, each
// taking whole segments. seg_blocks <= 2^17 (u32 counters: 2^17 · 16384 = 2^31 elements).
int entropy_histogram(const void* words, int64_t numel, int dtype, int64_t seg_blocks, int64_t* hist,
                      uint32_t* mant_or, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f)) return kBadDtype;
    if (seg_blocks < 1 || seg_blocks > (1 << 17)) return kBadSizes;
    const int bins = 1 << (f.W + MAX_TOP);
    const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
    const int64_t nseg = (blocks + seg_blocks - 1) / seg_blocks;
    if (!nseg) return 0;
    const int T = (int)std::min<int64_t>(nseg, useful_threads(nthreads, numel, std::max<int64_t>(1, numel / MIN_THREAD_ELEMS)));
    const uint32_t mmask = (uint32_t)((1ull << f.M) - 1);
    run_threads(T, [&](int t) {
        // u32 counters of the symbol with its sign (4 sub-histograms of 2·bins), folded into the
        // segment's int64 bins: a segment of at most 2^17 blocks cannot overflow them
        const int S = 2 * bins;
        std::vector<uint32_t> part(4 * (size_t)S);
        uint32_t* h = part.data();
        for (int64_t q = nseg * t / T; q < nseg * (t + 1) / T; q++) {
            std::fill(part.begin(), part.end(), 0);
            for (int64_t b = q * seg_blocks; b < std::min(blocks, (q + 1) * seg_blocks); b++) {
                const int64_t a = b * BLOCK, e = std::min(numel, a + BLOCK);
                const uint32_t o =
                    dtype == 0 ? histogram_block<WordOf<0>, kFields[0].M - MAX_TOP>((const WordOf<0>*)words, a, e, h)
                    : dtype == 1 ? histogram_block<WordOf<1>, kFields[1].M - MAX_TOP>((const WordOf<1>*)words, a, e, h)
                                 : histogram_block<WordOf<2>, kFields[2].M - MAX_TOP>((const WordOf<2>*)words, a, e, h);
                if (mant_or) mant_or[b] = o & mmask;
            }
            int64_t* out = hist + q * (int64_t)bins;
            for (int s = 0; s < bins; s++) {
                int64_t c = 0;
                for (int u = 0; u < 4; u++) c += (int64_t)h[u * S + s] + h[u * S + bins + s];
                out[s] = c;
            }
        }
    });
    return 0;
}


// words: numel words of the dtype; freqs: one table of 2^(W+k) frequencies (each summing to 4096)
// per segment of seg_blocks blocks; shifts: per block raw shift (layout 1) or null; roff: blocks
// + 1 raw byte offsets; raw_out: the raw section (roff[blocks] bytes); rans_out: rans_cap bytes;
// ends: one per block (cumulative). Returns the rANS bytes written, or a negative code.
int64_t entropy_encode(const void* words, int64_t numel, int dtype, int k, const uint32_t* freqs, int alpha,
                       int64_t seg_blocks, const uint8_t* shifts, const int64_t* roff,
                       uint8_t* raw_out, uint8_t* rans_out, int64_t rans_cap, int64_t* ends, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f) || k < 0 || k > MAX_TOP || alpha != (1 << (f.W + k)) || seg_blocks < 1) return kBadTable;
    if (numel == 0) return 0;
    const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
    for (int64_t b = 0; shifts && b < blocks; b++)
        if (shifts[b] > f.M - k) return kBadSizes;
    std::vector<EncTables> enc;
    if (!build_all(freqs, alpha, (blocks + seg_blocks - 1) / seg_blocks, &enc, nullptr))
        return kBadTable;
    return dispatch<Codec>(dtype, k, [&](auto c) -> int64_t {
        using C = decltype(c);
        return C::encode((const typename C::word_type*)words, numel, enc.data(), seg_blocks, shifts, roff, raw_out,
                         rans_out, rans_cap, ends, nthreads);
    });
}

// raw: the raw section (raw_len bytes); rans: the rANS section; ends: one per block, cumulative,
// non-decreasing, the last one the section's length (checked by the caller); freqs, seg_blocks,
// shifts, roff: as for entropy_encode (roff checked here); out: numel words. Returns 0 or a
// negative code.
int entropy_decode(const uint8_t* raw, int64_t raw_len, const uint8_t* rans, const int64_t* ends, int64_t numel,
                   int dtype, int k, const uint32_t* freqs, int alpha, int64_t seg_blocks, const uint8_t* shifts,
                   const int64_t* roff, void* out, int nthreads) {
    Fields f;
    if (!fields_of(dtype, &f) || k < 0 || k > MAX_TOP || alpha != (1 << (f.W + k)) || seg_blocks < 1) return kBadTable;
    if (numel == 0) return raw_len == 0 ? 0 : kBadSizes;
    const int64_t blocks = (numel + BLOCK - 1) / BLOCK;
    std::vector<DecTables> dec;
    if (!build_all(freqs, alpha, (blocks + seg_blocks - 1) / seg_blocks, nullptr, &dec, blocks >= 2))
        return kBadTable;
    return (int)dispatch<Codec>(dtype, k, [&](auto c) -> int64_t {
        using C = decltype(c);
        return C::decode(raw, raw_len, rans, ends, numel, dec.data(), seg_blocks, shifts, roff,
                         (typename C::word_type*)out, nthreads);
    });
}

}  // extern "C"
