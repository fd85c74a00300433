/* Console logging. Lines are formatted into a local buffer and written under
 * the console lock so CPUs don't interleave. Before the UART is set up lines
 * are kept in a small buffer and replayed once it is. */
#include <stdarg.h>

#include "drivers/uart.h"
#include "kernel/console.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "lib/printf.h"
#include "lib/string.h"

static spinlock_t console_lock = SPINLOCK_INIT;
static int console_level = LOG_INFO;
static bool console_ready;
static bool percpu_ready;
static bool panic_mode;
static char early_buf[8192];
static size_t early_len;

static const char *const level_tag[] = { "ERR  ", "WARN ", "", "debug " };

static void console_write_raw(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

void console_set_level(int level) { console_level = level; }
void console_mark_percpu_ready(void) { percpu_ready = true; }

void console_init(u16 port, u32 baud)
{
	uart_init(port, baud);
	unsigned long f = spin_lock(&console_lock);
	console_ready = true;
	console_write_raw(early_buf, early_len);
	early_len = 0;
	spin_unlock(&console_lock, f);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	if ((int)level > console_level)
		return;
	char line[512];
	int n = 0;
	if (percpu_ready && nr_cpus > 1)
		n = umbra_snprintf(line, sizeof(line), "[cpu%u] ", this_cpu_index());
	n += umbra_snprintf(line + n, sizeof(line) - n, "%s", level_tag[level]);
	va_list ap;
	va_start(ap, fmt);
	n += umbra_vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';

	if (panic_mode) {
		console_write_raw(line, n);
		return;
	}
	unsigned long f = spin_lock(&console_lock);
	if (console_ready) {
		console_write_raw(line, n);
	} else if (early_len + n <= sizeof(early_buf)) {
		memcpy(early_buf + early_len, line, n);
		early_len += n;
	}
	spin_unlock(&console_lock, f);
}

/* For panic: the other CPUs are stopped (or wedged, perhaps holding the
 * lock), so the console stops locking and the report always gets out. */
void console_enter_panic_mode(void)
{
	panic_mode = true;
	if (!console_ready) {
		uart_init(UART_COM1, 115200);
		console_ready = true;
		console_write_raw(early_buf, early_len);
		early_len = 0;
	}
}
