#!/usr/bin/env bash
# Runs the GPU checks on the lent GPU machine from gpu-pack.tar.xz (tools/gpu/pack.sh), in the
# repository root of the device tool's copy; logs and gtest XML go to $OUT (or gpu-out/).
#
#   tools/gpu/run.sh tests [GTEST_FILTER]   # every CUDA test binary, one line of counts each
#   tools/gpu/run.sh bench [BENCH_ARGS...]  # tools/bench/bench.py gpu beside the PyTorch peer
#   tools/gpu/run.sh info                   # the GPU, the libraries found, the kernels' registers
# Not covered: nccl_comm_test on 2 ranks (needs mpirun and 2 GPUs; its world of one runs).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
what=${1:-tests}
shift || true
out=${OUT:-gpu-out}
mkdir -p "$out"
pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
tar -C "$pack" -xJf gpu-pack.tar.xz || { echo "run.sh: no gpu-pack.tar.xz (carry it)" >&2; exit 2; }

# cuBLASLt, cudart and NCCL come from the machine: the CUDA toolkit or the pip wheels of PyTorch.
libdirs=$pack/lib
for so in libcublasLt.so.13 libcudart.so.13 libnccl.so.2; do
  found=$(find /usr/local/cuda* /usr/lib /opt -name "$so" 2>/dev/null | head -1)
  if [[ -z $found ]]; then echo "run.sh: $so not found on this machine" >&2; exit 2; fi
  dir=$(dirname "$found")
  [[ :$libdirs: == *":$dir:"* ]] || libdirs=$libdirs:$dir
done
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export ATTNLAB_SOURCE_DIR=$PWD ATTNLAB_BINARY=$pack/bin/tools/attnlab

case $what in
  info)
    nvidia-smi -L || echo "run.sh: nvidia-smi failed"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    for b in tests/layers/attention_cuda_test tools/attnlab; do
      cuobjdump -res-usage "$pack/bin/$b" 2>/dev/null | grep -A1 -E "mma|attention" | head -40
    done
    ;;
  tests)
    filter=${1:-*}
    status=0
    for t in tests/framework/cuda_test tests/layers/attention_cuda_test tests/optim/optim_cuda_test \
             tests/recipes/train/gpt_cuda_test tests/recipes/train/train_cuda_test \
             tests/parallel/nccl_comm_test; do
      name=$(basename "$t")
      start=$SECONDS
      "$pack/bin/$t" --gtest_filter="$filter" --gtest_output="xml:$out/$name.xml" \
        >"$out/$name.log" 2>&1
      rc=$?
      ((rc == 0)) || status=1
      # Per-test result lines end in "(N ms)"; gtest's closing lists repeat the names without.
      count() { grep -c -E "^\[ *$1 *\] .* \([0-9]+ ms\)\$" "$out/$name.log"; }
      passed=$(count OK) failed=$(count FAILED) skipped=$(count SKIPPED)
      printf '%-22s rc %-3d passed %-4d failed %-4d skipped %-4d %4ds\n' "$name" "$rc" "$passed" \
        "$failed" "$skipped" $((SECONDS - start))
      grep -A12 '^\[ RUN' "$out/$name.log" | grep -B2 -A8 'Failure' | head -40
    done
    exit $status
    ;;
  bench)
    peer=()
    [[ -d $pack/peer ]] && peer=(--peer-dir "$pack/peer")
    python3 tools/bench/bench.py gpu --build-dir "$pack/bin" "${peer[@]}" "$@" | tee "$out/bench.txt"
    exit "${PIPESTATUS[0]}"
    ;;
  *)
    echo "run.sh: unknown '$what' (tests, bench or info)" >&2
    exit 2
    ;;
esac
