#ifndef UMBRA_TESTS_HOST_ENV_H
#define UMBRA_TESTS_HOST_ENV_H

/* The last message logged by the code under test, and counts per level. */
extern char host_last_log[512];
extern int host_log_count[4];

#endif
