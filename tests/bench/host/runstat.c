/*
 * tests/bench/host/runstat.c - runs a program and writes what it cost to a
 * file: wall, user and system seconds, peak resident set (KiB) and minor
 * faults.  A small process of its own forks the program, so that the peak
 * resident set it reports is the program's (Linux carries a process's peak
 * over fork and exec: measured from a large parent, every program would
 * show the parent's size).
 * Usage: runstat OUTFILE PROGRAM [ARGS...]; exits with the program's status.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: runstat OUTFILE PROGRAM [ARGS...]\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("runstat: exec");
		_exit(127);
	}
	int status = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
		perror("runstat");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	FILE *out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "wall=%.6f user=%.6f sys=%.6f rss=%ld minflt=%ld\n",
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	        (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
	        ru.ru_minflt);
	fclose(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
