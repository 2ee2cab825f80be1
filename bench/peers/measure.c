// measure: runs a command K times and prints, per run, its wall time and peak RSS.
//
//   measure [--before 'SHELL COMMAND'] [--out FILE] K CMD [ARGS...]
//
// Per run: the --before command first (untimed, through /bin/sh -c; it re-creates a drift), then CMD with
// stdout and stderr to FILE (the last run's output stays there; default /dev/null). One line per run:
//   <wall seconds> <peak RSS KiB> <exit code>
// Wall time: CLOCK_MONOTONIC around fork .. wait4. Peak RSS: ru_maxrss of wait4 for the child, i.e. the largest
// resident set of that process or of any descendant it waited for (the same figure as GNU time's %M): the
// biggest single process of the run, not a sum over processes.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *before = NULL, *out = "/dev/null";
  int i = 1;
  for (; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--before") == 0) before = argv[i + 1];
    else if (strcmp(argv[i], "--out") == 0) out = argv[i + 1];
    else break;
  }
  if (argc - i < 2) {
    fprintf(stderr, "usage: measure [--before CMD] [--out FILE] K CMD [ARGS...]\n");
    return 64;
  }
  int runs = atoi(argv[i]);
  char **cmd = argv + i + 1;
  for (int r = 0; r < runs; r++) {
    if (before && system(before) != 0) {
      fprintf(stderr, "measure: the --before command failed\n");
      return 65;
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(out); return 66; }
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 67; }
    if (pid == 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
      execvp(cmd[0], cmd);
      perror(cmd[0]);
      _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 68; }
    double t1 = now();
    close(fd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("%.6f %ld %d\n", t1 - t0, ru.ru_maxrss, code);
    fflush(stdout);
  }
  return 0;
}
