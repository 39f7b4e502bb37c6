#!/usr/bin/env bash
# CANN custom-op build of op_host/ + op_kernel/ (called by scripts/build_npu.sh).
#   op_host/build.sh OUT_DIR      -> OUT_DIR/libenec_npu.so
# Needs: CANN 8.x environment (source <cann>/set_env.sh; ASCEND_HOME_PATH set), cmake, a python
# with torch and torch_npu installed (PYTHON, default python3). SOC_VERSION (default Ascend910B2).
# ENEC_GATHERMASK_COUNTER_MAX=128: the narrow outlier compaction (docs/NPU.md, GatherMask forms).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: op_host/build.sh OUT_DIR}
PY=${PYTHON:-python3}
: "${ASCEND_HOME_PATH:?source the CANN set_env.sh first}"
TORCH_DIR=$("$PY" -c "import os, torch; print(os.path.dirname(torch.__file__))")
TORCH_NPU_DIR=$("$PY" -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('torch_npu').origin))")
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
ABI=$("$PY" -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
BUILD=$(mktemp -d)
cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DASCEND_CANN_PACKAGE_PATH="$ASCEND_HOME_PATH" -DSOC_VERSION="${SOC_VERSION:-Ascend910B2}" \
  -DTORCH_DIR="$TORCH_DIR" -DTORCH_NPU_DIR="$TORCH_NPU_DIR" -DPYTHON_INCLUDE="$PYINC" \
  -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=$ABI" \
  -DENEC_GATHERMASK_COUNTER_MAX="${ENEC_GATHERMASK_COUNTER_MAX:-}"
cmake --build "$BUILD" -j"$(nproc)"
mkdir -p "$OUT"
cp "$BUILD/libenec_npu.so" "$OUT/"
echo "built $OUT/libenec_npu.so"
