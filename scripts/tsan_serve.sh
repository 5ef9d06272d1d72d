#!/usr/bin/env bash
# ThreadSanitizer over tsrt_serve: libtsrt and examples/cpp_service built with
# -fsanitize=thread (build/tsan, build/tsan/cpp_service), then driven by
# scripts/serve_load.py fault (good clients checked against eager, faulty clients,
# SIGTERM with requests in flight) without batching and with --batch all and two
# batch runners a model; then the TSan build of infer, --bench --concurrency 4, on a
# model that runs in the oneDNN fusion window. Prints the number of TSan reports of each run and keeps
# them in build/tsan/reports/<run>/tsan.<pid>. Not part of `make test`: the builds
# take ~15 minutes on 2 cores and the runs are ~10x slower than a plain build.
#
#   scripts/tsan_serve.sh                 # build (incremental), 60 s a run
#   SECONDS_PER_RUN=20 scripts/tsan_serve.sh
#
# LibTorch is not instrumented: ignore_noninstrumented_modules=1 keeps TSan to the
# accesses of tsrt's code and the service's (races inside LibTorch are out of reach).
# Exit status 1 when a run had a TSan report. The fault run's own verdict (RSS,
# latency) is printed but does not decide: under TSan it is slow and memory-hungry.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
export PATH=$ROOT/.venv/bin:$PATH
SECONDS_PER_RUN=${SECONDS_PER_RUN:-60}
BUILD=$ROOT/build/tsan
TSAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -g"

cmake -S . -B "$BUILD" -G Ninja -DPython_EXECUTABLE="$PY" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTSRT_SANITIZE=thread -DTSRT_BUILD_PYTHON=OFF -DTSRT_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD"
cmake --install "$BUILD" --prefix "$BUILD/install" >/dev/null
cmake -S examples/cpp_service -B "$BUILD/cpp_service" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$BUILD/install" -DPython_EXECUTABLE="$PY" \
  -DCMAKE_CXX_FLAGS="$TSAN_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$BUILD/cpp_service"

status=0
for run in unbatched batched; do
  reports=$BUILD/reports/$run
  rm -rf "$reports" && mkdir -p "$reports"
  server_args=$([ $run = batched ] && echo "--batch all --batch-workers 2" || echo "")
  # halt_on_error=0: count every report of the run, not the first only.
  TSAN_OPTIONS="ignore_noninstrumented_modules=1 halt_on_error=0 second_deadlock_stack=1 log_path=$reports/tsan" \
    "$PY" scripts/serve_load.py fault --serve "$BUILD/cpp_service/tsrt_serve" --seconds "$SECONDS_PER_RUN" \
    --clients 8 --fault-clients 4 --server-args "$server_args" --json "$reports/summary.json" >"$reports/fault.log" 2>&1 || true
  count=$(cat "$reports"/tsan.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer" || true)
  "$PY" - "$reports/summary.json" "$run" "$count" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1])) if __import__("os").path.exists(sys.argv[1]) else {}
print(f"{sys.argv[2]}: {sys.argv[3]} TSan reports; {summary.get('good_requests', '?')} good requests, "
      f"{summary.get('fault_requests', '?')} faulty ones, wrong answers {summary.get('wrong_answers', '?')}, "
      f"exit code {summary.get('exit_code', '?')}, fault run ok {summary.get('ok', '?')}")
PY
  [ "$count" = 0 ] || status=1
done

# The oneDNN fusion window (torchscript_optimize.cpp) opens only for a frozen CPU model
# with convolutions and no dynamic dimension, which none of the served models is: the
# zoo's CNN at fixed shapes, 4 threads calling it through the TSan build of infer.
reports=$BUILD/reports/infer_fused
rm -rf "$reports" && mkdir -p "$reports"
"$PY" - "$reports/cnn_fixed.pt" <<'PY'
import dataclasses, sys
from tsrt import zoo
cnn = zoo.get("resnet_cnn")
fixed = dataclasses.replace(cnn, inputs=tuple(dataclasses.replace(s, dynamic_dims=()) for s in cnn.inputs))
fixed.export(sys.argv[1], "trace")
PY
TSAN_OPTIONS="ignore_noninstrumented_modules=1 halt_on_error=0 log_path=$reports/tsan" \
  "$BUILD/infer" "$reports/cnn_fixed.pt" --bench --iters 400 --concurrency 4 >"$reports/bench.log" 2>&1 || true
count=$(cat "$reports"/tsan.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer" || true)
fused=$(grep -c "oneDNN Graph fusion" "$reports/bench.log" || true)
echo "infer --bench --concurrency 4 (oneDNN fusion applied: $fused): $count TSan reports"
[ "$count" = 0 ] || status=1
exit $status
