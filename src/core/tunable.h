/*
 * Tunables: named integer knobs with a default and a description, settable
 * from the environment (VMSEND_<NAME in upper case>) and from command-line
 * flags (--set name=value).  Sizes accept K, M, G suffixes.
 *
 * Each subsystem defines its own next to the code that reads them:
 *
 *	VMS_TUNABLE(vm_cache_size, "cache_size", 256 << 20, "page cache size in bytes");
 *
 * The definitions are gathered in the "vms_tunables" linker section, so
 * `vmsend tunables` lists every knob that the binary contains.  Values are
 * read with a relaxed load; they are meant to be set at start-up.
 */
#ifndef VMSEND_CORE_TUNABLE_H
#define VMSEND_CORE_TUNABLE_H

#include <stdint.h>
#include <stdio.h>

struct vms_tunable {
	const char *name; /* (c) */
	const char *desc; /* (c) */
	int64_t *valp;    /* (c) the variable */
	int64_t def;      /* (c) default */
};

#define VMS_TUNABLE(var, tname, defval, description)                                               \
	int64_t var = (defval);                                                                    \
	static const struct vms_tunable var##_tunable_                                             \
	    __attribute__((section("vms_tunables"), used, aligned(8))) = {                         \
		.name = tname, .desc = description, .valp = &var, .def = (defval)}

/* Parse "123", "64K", "256M", "2G" into *out; returns 0 or -EINVAL. */
int vms_parse_size(const char *s, int64_t *out);
/* Set a tunable by name; returns 0, -ENOENT (no such tunable) or -EINVAL. */
int vms_tunable_set(const char *name, const char *value);
/* Set from "name=value"; same returns. */
int vms_tunable_set_arg(const char *arg);
/* Apply VMSEND_<NAME> environment variables; returns 0 or the first error. */
int vms_tunables_load_env(void);
/* Reset all tunables to their defaults (tests). */
void vms_tunables_reset(void);
/* Print "name = value (default D): description" for each. */
void vms_tunables_print(FILE *f);
const struct vms_tunable *vms_tunable_find(const char *name);

#endif
