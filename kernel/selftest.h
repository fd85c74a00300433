#ifndef UMBRA_KERNEL_SELFTEST_H
#define UMBRA_KERNEL_SELFTEST_H

/* `selftest` on the command line: in-kernel tests on all CPUs, then exit
 * with the result (debug-exit port in test mode). Runs as a thread. */
void selftest_thread(void *unused);

#endif
