/*
 * test_shim_options.c - REFSCOPE_* parsing: defaults, clamping, malformed.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

Test(options, defaults)
{
	struct rs_options o;

	unsetenv("REFSCOPE_DEPTH");
	unsetenv("REFSCOPE_FREE_STACKS");
	unsetenv("REFSCOPE_COMPRESS");
	unsetenv("REFSCOPE_BUFFER_KB");
	unsetenv("REFSCOPE_QUIET");
	unsetenv("REFSCOPE_DISABLE");
	unsetenv("REFSCOPE_OUTPUT_DIR");
	rs_options_parse(&o);
	cr_assert_eq(o.depth, 64);
	cr_assert_eq(o.free_stacks, 1);
	cr_assert_eq(o.compress, 1);
	cr_assert_eq(o.buffer_bytes, 64 << 10);
	cr_assert_eq(o.quiet, 0);
	cr_assert_eq(o.disable, 0);
	cr_assert_str_eq(o.output_dir, ".");
}

Test(options, values_and_limits)
{
	struct rs_options o;

	setenv("REFSCOPE_DEPTH", "1000", 1);
	setenv("REFSCOPE_FREE_STACKS", "0", 1);
	setenv("REFSCOPE_COMPRESS", "0", 1);
	setenv("REFSCOPE_BUFFER_KB", "1", 1);
	setenv("REFSCOPE_QUIET", "1", 1);
	setenv("REFSCOPE_DISABLE", "1", 1);
	setenv("REFSCOPE_OUTPUT_DIR", "/var/tmp/x", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.depth, 256);
	cr_assert_eq(o.free_stacks, 0);
	cr_assert_eq(o.compress, 0);
	cr_assert_eq(o.buffer_bytes, 16 << 10);
	cr_assert_eq(o.quiet, 1);
	cr_assert_eq(o.disable, 1);
	cr_assert_str_eq(o.output_dir, "/var/tmp/x");
	setenv("REFSCOPE_DEPTH", "12x", 1);
	setenv("REFSCOPE_BUFFER_KB", "100000", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.depth, 64);	/* malformed: default */
	cr_assert_eq(o.buffer_bytes, 4u << 20);
}

Test(options, flush_age)
{
	struct rs_options o;

	unsetenv("REFSCOPE_FLUSH_MS");
	rs_options_parse(&o);
	cr_assert_eq(o.flush_ms, 1000);
	setenv("REFSCOPE_FLUSH_MS", "0", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.flush_ms, 0);	/* only full buffers are written */
	setenv("REFSCOPE_FLUSH_MS", "250", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.flush_ms, 250);
	setenv("REFSCOPE_FLUSH_MS", "99999999999", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.flush_ms, 86400000);	/* a day at most */
	setenv("REFSCOPE_FLUSH_MS", "1s", 1);
	rs_options_parse(&o);
	cr_assert_eq(o.flush_ms, 1000);	/* malformed: default */
	unsetenv("REFSCOPE_FLUSH_MS");
}
