#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one run on a machine with a CUDA GPU (for this
# project: the `device` tool's lent H200, whose image has torch but not zarr/neuraloperator):
#
#   bash benchmarks/gpu_checks.sh OUTDIR
#
# 1. solvers (issue 15): benchmarks/solvers.py --device cuda, float32 and float64, every
#    case including the GPU-sized ones (NS 512² batch 32, KS batch 4096): ms/step,
#    trajectories/s, FFT-bound ratio -> OUTDIR/solvers_<dtype>.md and .json. Needs torch only.
# 2. online training on the GPU (issue 16): benchmarks/stream.py --parts throughput --device
#    cuda (in-process solver producer on the GPU into a GPU-resident buffer, against
#    training from memory on the same GPU) -> OUTDIR/stream_cuda.md. Needs zarr and
#    neuraloperator: where they do not import, the file says so and the part is skipped.
# 3. the CUDA-only test (bf16 autocast fine-tuning) -> OUTDIR/tests_cuda.log.
#
# Each part has its own time limit (about 6 minutes in all on an H200); PYTHON picks the
# interpreter (default python3), the checkout is put on PYTHONPATH (no install needed).
# A dry run of the same script on a CPU (its logic, not its figures; about 1 minute):
#   DEVICE=cpu QUICK=1 PYTHON=.venv/bin/python bash benchmarks/gpu_checks.sh /tmp/gpu-dry
set -u
OUT=${1:?usage: bash benchmarks/gpu_checks.sh OUTDIR}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
if [ -n "${QUICK:-}" ]; then  # smoke sizes: the quick modes and the small GPU-sized case
  SOLVER_ARGS=(--quick --cases ks1 ks4096) STREAM_ARGS=(--quick)
else
  SOLVER_ARGS=() STREAM_ARGS=(--repeats 2 --repeats-2d 2)
fi
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "$DEVICE" = cuda ] &&
   ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_checks: no CUDA device visible to $PY" >&2
  exit 3
fi
{ date -u +%FT%TZ
  "$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
  nvidia-smi -L 2>/dev/null; } > "$OUT/device.txt"

for dtype in float32 float64; do
  timeout 150 "$PY" benchmarks/solvers.py --device "$DEVICE" --dtype "$dtype" "${SOLVER_ARGS[@]}" \
    --json "$OUT/solvers_$dtype.json" > "$OUT/solvers_$dtype.md" 2> "$OUT/solvers_$dtype.err"
  echo "solvers $dtype: exit $?" >> "$OUT/device.txt"
done

if "$PY" -c "import zarr, neuralop" 2> "$OUT/stream_cuda.err"; then
  timeout 240 "$PY" benchmarks/stream.py --parts throughput --device "$DEVICE" --sources reservoir \
    --no-mpi-online "${STREAM_ARGS[@]}" > "$OUT/stream_cuda.md" 2>> "$OUT/stream_cuda.err"
  echo "stream: exit $?" >> "$OUT/device.txt"
else
  echo "stream part skipped: zarr or neuraloperator does not import (carry their wheels)" \
    | tee "$OUT/stream_cuda.md" >> "$OUT/device.txt"
fi

timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_scot_amp.py > "$OUT/tests_cuda.log" 2>&1
echo "tests: exit $?" >> "$OUT/device.txt"
cat "$OUT/device.txt"
