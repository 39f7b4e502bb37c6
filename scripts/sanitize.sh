#!/usr/bin/env bash
# Run the native-codec tests with the native library built under AddressSanitizer and
# UndefinedBehaviorSanitizer. Python itself is not instrumented, so the ASan runtime is preloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
g++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -shared -fPIC -pthread python/enec/csrc/enec_native.cpp -o "$out/enec_native_asan.so"
export ENEC_NATIVE_LIB="$out/enec_native_asan.so" ENEC_CPU_IMPL=native ENEC_REQUIRE_NATIVE=1
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# --capture=sys: a sanitizer report written to fd 2 must reach the log, not pytest's capture file
python -m pytest -q --capture=sys -p no:cacheprovider tests/test_native.py tests/test_fuzz_decoders.py \
    tests/test_errors.py tests/test_roundtrip.py -k "native or not reference"
