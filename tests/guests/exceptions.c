#include "guest.h"
u32 guest_main(void) { return EXIT_FAIL; }
