/* LD_AUDIT shim for bench/cpu_vm.sh: this process, and every process it starts, sees an
 * AVX2-only CPU. The kernel's CPUID faulting (arch_prctl ARCH_SET_CPUID, flag cpuid_fault) makes
 * each CPUID instruction raise SIGSEGV; the handler runs the real CPUID and clears every
 * AVX-512, AVX-VNNI and AMX bit before the program sees it. Libraries that pick kernels by cpuid
 * at run time (onnxruntime's MLAS, numpy, Tesseract) then take their AVX2 paths.
 *
 *   cc -O2 -shared -fPIC -o cpuid_mask.so bench/cpuid_mask.c
 *
 * Loaded as an audit library (LD_AUDIT, not LD_PRELOAD) so that its constructor runs before
 * any library's own (Tesseract reads cpuid in one). CPUID run before it (glibc's start-up) is
 * not masked: the script sets GLIBC_TUNABLES for glibc's string functions instead.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012

#define BIT(n) (1u << (n))

static void real_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    /* per thread: faulting off for this one instruction */
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    if (leaf == 7 && sub == 0) {
        /* avx512 f dq ifma pf er cd bw vl */
        r[1] &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31));
        /* avx512 vbmi vbmi2 vnni bitalg vpopcntdq */
        r[2] &= ~(BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14));
        /* avx512 4vnniw 4fmaps vp2intersect, amx-bf16, avx512-fp16, amx-tile, amx-int8 */
        r[3] &= ~(BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25));
    } else if (leaf == 7 && sub == 1) {
        r[0] &= ~(BIT(4) | BIT(5) | BIT(21) | BIT(23)); /* avx-vnni avx512-bf16 amx-fp16 avx-ifma */
        r[3] &= ~(BIT(4) | BIT(5) | BIT(19)); /* avx-vnni-int8 avx-ne-convert avx10 */
    } else if (leaf == 0xd && sub == 0) {
        r[0] &= ~(BIT(5) | BIT(6) | BIT(7) | BIT(17) | BIT(18)); /* opmask, zmm, amx tile state */
    }
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    greg_t *g = uc->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)g[REG_RIP];
    (void)info;
    if (ip[0] == 0x0f && ip[1] == 0xa2) {
        uint32_t r[4];
        real_cpuid((uint32_t)g[REG_RAX], (uint32_t)g[REG_RCX], r);
        mask((uint32_t)g[REG_RAX], (uint32_t)g[REG_RCX], r);
        g[REG_RAX] = r[0];
        g[REG_RBX] = r[1];
        g[REG_RCX] = r[2];
        g[REG_RDX] = r[3];
        g[REG_RIP] += 2;
        return;
    }
    /* a real fault: die of it as the program would have */
    signal(sig, SIG_DFL);
}

/* the dynamic linker's audit interface: any version will do, nothing else is audited */
unsigned int la_version(unsigned int version) {
    return version;
}

__attribute__((constructor)) static void cpuid_mask_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0 && getenv("CPUID_MASK_QUIET") == NULL)
        fprintf(stderr, "cpuid_mask: CPUID faulting unavailable, the CPU is not masked\n");
}
