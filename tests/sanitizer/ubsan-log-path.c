/* Linked into every instrumented library and program of a build configured
   with --enable-sanitizers (Makefile.am), nowhere else.

   gcc's UBSan runtime (libubsan) is a library of its own beside ASan's
   (libasan). It applies UBSAN_OPTIONS' log_path through
   __sanitizer_set_report_path(), a name libasan, loaded first, defines too:
   the call sets ASan's report path and UBSan keeps writing to stderr, where
   no test run looks. This sets libubsan's own report path from
   UBSAN_OPTIONS at load time, so that UBSan reports land in files like
   ASan's (tests/integration/run and scripts/check fail on any). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PATH_OPTION "log_path="

static void __attribute__((constructor)) tresor_ubsan_log_path(void)
{
	const char *options = getenv("UBSAN_OPTIONS"), *p;
	void (*set_report_path)(const char *path);
	char path[4096];
	size_t len;
	void *ubsan;

	if (options == NULL)
		return;
	for (p = options; (p = strstr(p, LOG_PATH_OPTION)) != NULL; p++) {
		if (p == options || p[-1] == ':')
			break;
	}
	if (p == NULL)
		return;
	p += strlen(LOG_PATH_OPTION);
	len = strcspn(p, ":");
	if (len == 0 || len >= sizeof(path))
		return;
	memcpy(path, p, len);
	path[len] = '\0';

	ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (ubsan == NULL)
		return;
	/* dlsym() on libubsan's handle finds libubsan's definition */
	set_report_path = (void (*)(const char *))dlsym(ubsan, "__sanitizer_set_report_path");
	if (set_report_path != NULL)
		set_report_path(path);
	dlclose(ubsan);
}
