#!/usr/bin/env bash
# Packs what the GPU checks need for the lent GPU machine, which has CUDA but none of this
# project's Debian libraries: the GPU test binaries, attnlab and attnlab_bench_gpu (stripped),
# every shared library they load from outside CUDA and glibc, and the PyTorch peer scripts, into
# gpu-pack.tar.xz (git-ignored; the device tool carries at most 64 MiB).
#
#   tools/gpu/pack.sh [BUILD_DIR]        # default: build (a Release build with nvcc found)
#   then, with the device tool: run(carry=["gpu-pack.tar.xz"], command="tools/gpu/run.sh tests")
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bins=(tests/framework/cuda_test tests/layers/attention_cuda_test tests/optim/optim_cuda_test
      tests/recipes/train/gpt_cuda_test tests/recipes/train/train_cuda_test
      tests/parallel/nccl_comm_test tools/attnlab tools/bench/attnlab_bench_gpu)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

for b in "${bins[@]}"; do
  if [[ ! -x $build/$b ]]; then
    echo "pack.sh: $build/$b is missing: configure with nvcc on PATH and build first" >&2
    exit 2
  fi
  mkdir -p "$stage/bin/$(dirname "$b")"
  strip -o "$stage/bin/$b" "$build/$b"
done

# Libraries from outside CUDA (the device has its own cuBLASLt, cudart, NCCL) and outside the
# C/C++ runtime (the device's is newer, and backward compatible).
mkdir -p "$stage/lib"
system='/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so'
missing=$(ldd "${bins[@]/#/$build/}" | awk '/not found/ {print $1}' | sort -u)
if [[ -n $missing ]]; then
  echo "pack.sh: unresolved libraries: $missing" >&2
  exit 2
fi
ldd "${bins[@]/#/$build/}" | awk '/=>/ {print $3}' | sort -u |
  grep -v -E "^/usr/local/cuda|$system" | while read -r lib; do cp -L "$lib" "$stage/lib/"; done

peer=../shared/bench
if [[ -d $peer ]]; then cp -r "$peer" "$stage/peer"; else echo "pack.sh: no $peer: bench without peer"; fi

tar -C "$stage" -cJf gpu-pack.tar.xz .
size=$(stat -c %s gpu-pack.tar.xz)
echo "gpu-pack.tar.xz: $((size / 1024 / 1024)) MiB ($(find "$stage/lib" -type f | wc -l) libraries, ${#bins[@]} binaries)"
if ((size > 60 * 1024 * 1024)); then
  echo "pack.sh: over the device tool's carry budget (64 MiB with everything else carried)" >&2
  exit 1
fi
