#!/usr/bin/env bash
# Run the native-codec tests (ENEC, the QLC/APack kernels, the sparse pattern coder, the entropy codec) and the emulated AscendC kernels (op_kernel/ + op_host/ + the
# emulation, see tests/support/emulated.py) with both built under AddressSanitizer and
# UndefinedBehaviorSanitizer. Python itself is not instrumented, so the ASan runtime is preloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
SAN="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
g++ -std=c++17 $SAN -shared -fPIC -pthread python/enec/csrc/enec_native.cpp op_host/enec_host.cpp \
    -o "$out/enec_native_asan.so"
g++ -std=c++17 $SAN -shared -fPIC -pthread python/enec/csrc/codecs_native.cpp -o "$out/enec_codecs_asan.so"
g++ -std=c++17 $SAN -shared -fPIC -pthread python/enec/csrc/entropy_native.cpp -o "$out/enec_entropy_asan.so"
export ENEC_NATIVE_LIB="$out/enec_native_asan.so" ENEC_CPU_IMPL=native ENEC_REQUIRE_NATIVE=1
export ENEC_CODECS_LIB="$out/enec_codecs_asan.so"       # QLC / APack / sparse pattern kernels
export ENEC_ENTROPY_LIB="$out/enec_entropy_asan.so"     # entropy codec kernels
# emulated.py appends these flags (after its -O2) and keys its build cache on them
export ENEC_EMU_CXXFLAGS="$SAN" ENEC_EMU_BUILD="$out/emu"
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# --capture=sys: a sanitizer report written to fd 2 must reach the log, not pytest's capture file.
# Emulated kernels: test_ascendc_kernels.py (compress + decompress against the reference on every
# dtype, MiniLM, block/core boundary sizes, core counts, host tiling/header/index/parameter search)
# and the emulated fuzz tests of test_fuzz_decoders.py (host checks + decompress kernel on corrupt
# blobs); the emulation's compile-time rule tests are left out (they run no kernel code).
python -m pytest -q --capture=sys -p no:cacheprovider tests/test_native.py tests/test_fuzz_decoders.py \
    tests/test_errors.py tests/test_roundtrip.py tests/test_ascendc_kernels.py \
    tests/test_codecs_native.py tests/test_codecs_sparse_native.py tests/test_codecs_errors.py \
    tests/test_codecs_entropy.py -k "native or not reference"
