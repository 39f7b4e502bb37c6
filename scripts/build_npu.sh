#!/usr/bin/env bash
# The one step on an Ascend machine: builds the AscendC kernels and the torch_npu binding and
# installs libenec_npu.so next to the enec package, where `import enec` finds it.
#   source /usr/local/Ascend/ascend-toolkit/set_env.sh    # CANN 8.1+ (ASCEND_HOME_PATH)
#   pip install torch-npu==<the version for your CANN and torch>   (only on such a machine)
#   scripts/build_npu.sh
#   python -c "import enec, enec.npu as n; print(n.status())"
#   python scripts/npu_probe.py        # the hardware behaviours the emulation assumes, PASS/FAIL each
# SOC_VERSION selects the chip (default Ascend910B2; npu-smi info shows yours).
# ENEC_GATHERMASK_COUNTER_MAX=128 scripts/build_npu.sh: the narrow GatherMask form of the outlier
# compaction, for hardware where npu_probe.py's gathermask.counter_1024x16 fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
"$PY" -c "import torch_npu" || { echo "torch_npu does not import: install it and source CANN's set_env.sh"; exit 1; }
PKG=$("$PY" -c "import os, enec; print(os.path.dirname(enec.__file__))")
PYTHON="$PY" bash "$ROOT/op_host/build.sh" "$PKG"
"$PY" -c "import enec.npu as n; s = n.status(); print(s); raise SystemExit(0 if s['loaded'] else 1)"
