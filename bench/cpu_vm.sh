#!/usr/bin/env bash
# Run a command on an AVX2-only CPU class, on this (AVX-512 VNNI) machine.
#
#   bench/cpu_vm.sh "<command>"   # runs <command> with sh in the repository root, AVX2-only;
#                                 # prints its output, exits with its exit status
#
# onnxruntime (MLAS), numpy and Tesseract pick their kernels by cpuid at run time, with no switch
# to force AVX2. This script makes every process of <command> see a CPU without AVX-512,
# AVX-VNNI and AMX: the kernel's CPUID faulting (arch_prctl ARCH_SET_CPUID; /proc/cpuinfo flag
# cpuid_fault) traps each CPUID instruction and bench/cpuid_mask.c (built here with cc, loaded
# as LD_AUDIT so it runs before any library's own start-up) answers it with those bits cleared.
# /proc/cpuinfo is masked the same way (a private mount namespace: unshare, needs root), so
# models.ort_sessions.cpu_flags(), lscpu and bench.common.cpu_class() say avx2; glibc's string
# functions are kept off AVX-512 by GLIBC_TUNABLES. The hardware, its caches and its clock are
# the same, so only the instruction set differs from a plain run; same files, same venv.
#
# Why not a KVM virtual machine (qemu -cpu Haswell-v4): this machine is itself a guest and its
# /dev/kvm is kvm-pvm, which boots only PVM-enabled guest kernels (a stock Debian kernel hangs
# before its first console line). Nothing of the project depends on this script.
#
# Check: bench/cpu_vm.sh "grep -o 'avx[^ ]*' /proc/cpuinfo | sort -u; tesseract --version"
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bench/cpu_vm.sh \"<command>\"" >&2
    exit 2
fi
if ! grep -qw cpuid_fault /proc/cpuinfo; then
    echo "cpu_vm: this CPU or kernel has no CPUID faulting (no cpuid_fault flag)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
lib=${TMPDIR:-/tmp}/cpuid_mask-$(sha256sum "$here/cpuid_mask.c" | cut -c1-12).so
if [ ! -s "$lib" ]; then
    cc -O2 -shared -fPIC -o "$lib.part" "$here/cpuid_mask.c"
    mv "$lib.part" "$lib"
fi
cpuinfo=$(mktemp)
trap 'rm -f "$cpuinfo"' EXIT
sed -E '/^flags/ s/ (avx512[a-z0-9_]*|avx_vnni[a-z0-9_]*|amx_[a-z0-9_]*)\b//g' /proc/cpuinfo >"$cpuinfo"

export LD_AUDIT=$lib
export GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL,-AVX512ER,-AVX512PF,-AVX_VNNI
# shellcheck disable=SC2016  # expanded by the inner shell
unshare --mount --propagation private \
    sh -c 'mount --bind "$0" /proc/cpuinfo && cd "$1" && sh -c "$2"' "$cpuinfo" "$root" "$1"
