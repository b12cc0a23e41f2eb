/* The floor for start-up on this machine: 200 posix_spawn()s of the benchmark's child in a
   bare loop (no daemon, no state, no logs), as bench/startup_floor.py times them.
   usage: startup_floor CHILD EVENTLOG PIDDIR N   (prints its own start, CLOCK_MONOTONIC ns) */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 5) return 100;
    int n = atoi(argv[4]);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        char id[16], pidfile[4096];
        snprintf(id, sizeof id, "p%03d", i);
        snprintf(pidfile, sizeof pidfile, "%s/%s.pid", argv[3], id);
        char *child[] = {argv[1], id, argv[2], "0", "3", pidfile, 0};
        if (posix_spawn(&pids[i], argv[1], 0, 0, child, environ)) return 101;
    }
    sleep(3);
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    while (wait(0) > 0) {}
    return 0;
}
