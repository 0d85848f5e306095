/*
 * fdcheck - prints what a program can see of its descriptors and errno, so a
 * test can compare a traced run with an untraced one line by line.
 *
 * Output: errno as main found it, errno after a malloc that follows
 * errno = 1234, the number open("/dev/null") returns (the lowest free one),
 * then every entry of /proc/self/fd except the directory's own descriptor as
 * "fd N -> TARGET", in increasing order. With the shim the only extra line
 * allowed is the trace file, at 100 or above.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int main(void)
{
	int e0 = errno, e1, fd, fds[1024], n = 0;
	char path[64], target[512];
	void *p;
	DIR *d;
	struct dirent *de;

	errno = 1234;
	p = malloc(10);
	e1 = errno;
	fd = open("/dev/null", O_RDONLY);
	printf("errno at main %d\n", e0);
	printf("errno after malloc %d\n", e1);
	printf("open /dev/null -> %d\n", fd);
	d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	while ((de = readdir(d)) != NULL && n < 1024) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		fds[n++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(fds, (size_t)n, sizeof(fds[0]), cmp_int);
	for (int i = 0; i < n; i++) {
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		k = readlink(path, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = 0;
		printf("fd %d -> %s\n", fds[i], target);
	}
	free(p);
	close(fd);
	return 0;
}
