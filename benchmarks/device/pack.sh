#!/usr/bin/env bash
# Builds the CUDA targets here and packs what benchmarks/device_check.sh needs on the GPU machine
# into .devpack/ (ignored by git; carried to the device with carry [".devpack"]).
#
# The GPU machine has the CUDA 13 toolkit but not our Debian dev libraries (Boost, simdjson, re2,
# oneTBB, GTest), so it cannot build the project: we ship stripped binaries plus the non-glibc
# shared libraries they load. glibc and the CUDA libraries come from the device itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-cuda}
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
# The architecture every time: a folder configured before 419f63d cached nvcc 13's sm_75.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90-real;90-virtual}" > /dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target assay assay_cuda_tests assay_cuda_bench

rm -rf .devpack
mkdir -p .devpack/bin .devpack/lib
bins=("$BUILD/assay" "$BUILD/tests/assay_cuda_tests"
      "$BUILD/tests/assay_cuda_bench")
for b in "${bins[@]}"; do
  [[ -x $b ]] || { echo "pack.sh: missing $b" >&2; exit 1; }
  strip -o ".devpack/bin/$(basename "$b")" "$b"
done

# Shared libraries: everything ldd resolves except glibc's own and the CUDA/driver libraries.
skip='^(libc|libm|libdl|librt|libpthread|ld-linux-x86-64|libresolv|libcuda|libcudart|libcublas|libcublasLt|libnvidia-.*|linux-vdso)\.so'
for b in .devpack/bin/*; do
  ldd "$b" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ $name =~ $skip ]]; then continue; fi
  cp -L "$path" ".devpack/lib/$name"
done
strip --strip-unneeded .devpack/lib/*.so* 2>/dev/null || true

# Shared test data the tests read by path is not needed: the GPU tests write their own models.
echo "pack.sh: .devpack is $(du -sh .devpack | cut -f1):"
ls -la .devpack/bin .devpack/lib
