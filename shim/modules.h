/*
 * modules.h - MODULE and MODULE_UNLOAD records for the loaded objects.
 *
 * rs_modules_scan() walks dl_iterate_phdr, writes a MODULE record for every
 * object not seen before and MODULE_UNLOAD for every one gone since the last
 * scan. rs_modules_maybe_rescan() is the cheap check done when a new stack is
 * interned: it rescans only when the loader's add/sub counters moved (libc's
 * own dlopens, e.g. NSS or iconv, bypass the dlopen hook), and never waits for
 * a scan in progress (the caller may hold loader locks a scanner waits for).
 */
#ifndef REFSCOPE_MODULES_H
#define REFSCOPE_MODULES_H

int rs_modules_scan(void);
void rs_modules_maybe_rescan(void);
/* Forget what was recorded (fork child: its trace starts empty). */
void rs_modules_reset(void);
void rs_modules_lock(void);	/* around fork */
void rs_modules_unlock(void);

#endif /* REFSCOPE_MODULES_H */
