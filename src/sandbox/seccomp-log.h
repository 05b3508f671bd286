/* sandbox: the logging copy of the default seccomp filter, for nbwarden-guard.
 *
 * runc 1.1 refuses the OCI "flags" field, so the filter it installs from
 * share/seccomp/default.json cannot carry SECCOMP_FILTER_FLAG_LOG. The guard,
 * the first program in every sandbox, stacks the same filter again (compiled to
 * classic BPF at build time by seccomp-bpfgen from the same embedded profile)
 * with SECCOMP_FILTER_FLAG_LOG. The kernel runs every filter and takes the most
 * restrictive action; on a tie it reports the newest filter as the match, and
 * it is the match's LOG flag that decides whether the refusal is logged. So
 * every call the profile refuses is refused by both, logged as an audit record
 * (type 1326), and the monitor turns it into `sandbox.syscall.denied`.
 *
 * Links nothing but libc (the guard parses nothing but its policy). */
#pragma once

#include <stddef.h>

extern const unsigned char sandbox_seccomp_log_bpf[]; /* struct sock_filter[] */
extern const size_t sandbox_seccomp_log_bpf_len;      /* bytes */

/* Install it: no_new_privs (already set by the runtime; set again, harmless),
 * then seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG). 0 or -errno. */
int sandbox_seccomp_log_install(void);
