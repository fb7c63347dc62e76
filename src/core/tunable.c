#include "core/tunable.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const struct vms_tunable __start_vms_tunables[] __attribute__((weak));
extern const struct vms_tunable __stop_vms_tunables[] __attribute__((weak));

#define FOREACH_TUNABLE(t)                                                                         \
	for (const struct vms_tunable *t = __start_vms_tunables; t < __stop_vms_tunables; t++)

int
vms_parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (end == s || errno != 0)
		return -EINVAL;
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0')
		return -EINVAL;
	if (shift && (v < 0 || v > (INT64_MAX >> shift)))
		return -EINVAL;
	*out = (int64_t)v << shift;
	return 0;
}

const struct vms_tunable *
vms_tunable_find(const char *name)
{
	FOREACH_TUNABLE(t)
	{
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

int
vms_tunable_set(const char *name, const char *value)
{
	const struct vms_tunable *t = vms_tunable_find(name);
	if (t == NULL)
		return -ENOENT;
	int64_t v;
	int error = vms_parse_size(value, &v);
	if (error)
		return error;
	__atomic_store_n(t->valp, v, __ATOMIC_RELAXED);
	return 0;
}

int
vms_tunable_set_arg(const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || eq - arg >= 64)
		return -EINVAL;
	char name[64];
	memcpy(name, arg, eq - arg);
	name[eq - arg] = '\0';
	return vms_tunable_set(name, eq + 1);
}

int
vms_tunables_load_env(void)
{
	int first = 0;
	FOREACH_TUNABLE(t)
	{
		char env[96] = "VMSEND_";
		size_t n = strlen(env);
		for (const char *p = t->name; *p && n < sizeof(env) - 1; p++)
			env[n++] = (char)toupper((unsigned char)*p);
		env[n] = '\0';
		const char *v = getenv(env);
		if (v != NULL) {
			int error = vms_tunable_set(t->name, v);
			if (error && !first)
				first = error;
		}
	}
	return first;
}

void
vms_tunables_reset(void)
{
	FOREACH_TUNABLE(t)
	{
		__atomic_store_n(t->valp, t->def, __ATOMIC_RELAXED);
	}
}

void
vms_tunables_print(FILE *f)
{
	FOREACH_TUNABLE(t)
	{
		fprintf(f, "%-28s = %-12lld (default %lld): %s\n", t->name,
			(long long)__atomic_load_n(t->valp, __ATOMIC_RELAXED), (long long)t->def,
			t->desc);
	}
}
