// floor: the least a converged check of the benchmark's state can do, as a whole process. It reads the files
// such a check needs (the dpkg status, /etc/passwd, /etc/shadow, the /etc/localtime link, /etc/timezone), checks
// the state against them in memory and changes nothing.
//
//   floor PACKAGES USERS ZONE     PACKAGES/USERS: files with one name a line
//
// A package holds when its status is "install ok installed"; an account is locked when its password field starts
// with '!', its shell ends in /nologin and its expiry day is set and not after today; the zone holds when the
// link ends in zoneinfo/ZONE and /etc/timezone is ZONE. Prints "floor: D drifted of R" and exits 0 when D is 0,
// else 2.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct { const char *s; size_t n; const char *rest; } Entry;  // name (not terminated), rest of its record

static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { perror(path); exit(1); }
  struct stat st;
  fstat(fd, &st);
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) { perror(path); exit(1); }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  *len = n;
  return buf;
}

static int cmp_entry(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

static const Entry *find(const Entry *v, size_t count, const char *name, size_t n) {
  Entry key = {name, n, NULL};
  return bsearch(&key, v, count, sizeof(Entry), cmp_entry);
}

// Colon-separated databases (passwd, shadow): one entry per line, keyed by the first field.
static Entry *index_colon(char *buf, size_t *count) {
  size_t cap = 1024, n = 0;
  Entry *v = malloc(cap * sizeof(Entry));
  for (char *line = buf; *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    char *colon = strchr(line, ':');
    if (colon) {
      if (n == cap) v = realloc(v, (cap *= 2) * sizeof(Entry));
      v[n++] = (Entry){line, (size_t)(colon - line), colon + 1};
    }
    if (!end) break;
    line = end + 1;
  }
  qsort(v, n, sizeof(Entry), cmp_entry);
  *count = n;
  return v;
}

// The dpkg status: the installed packages (name only).
static Entry *index_dpkg(char *buf, size_t *count) {
  size_t cap = 1024, n = 0;
  Entry *v = malloc(cap * sizeof(Entry));
  const char *name = NULL;
  size_t name_len = 0;
  int installed = 0;
  for (char *line = buf;; ) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    if (*line == 0) {  // end of a record
      if (name && installed) {
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof(Entry));
        v[n++] = (Entry){name, name_len, NULL};
      }
      name = NULL;
      installed = 0;
    } else if (strncmp(line, "Package: ", 9) == 0) {
      name = line + 9;
      name_len = strlen(name);
    } else if (strncmp(line, "Status: ", 8) == 0) {
      installed = strcmp(line + 8, "install ok installed") == 0;
    }
    if (!end) break;
    line = end + 1;
  }
  if (name && installed) {
    if (n == cap) v = realloc(v, (cap + 1) * sizeof(Entry));
    v[n++] = (Entry){name, name_len, NULL};
  }
  qsort(v, n, sizeof(Entry), cmp_entry);
  *count = n;
  return v;
}

// The n-th (0-based) colon field of a record's rest, as pointer and length.
static const char *field(const char *rest, int nth, size_t *len) {
  for (int i = 0; i < nth && rest; i++) {
    rest = strchr(rest, ':');
    if (rest) rest++;
  }
  if (!rest) { *len = 0; return ""; }
  const char *end = strchr(rest, ':');
  *len = end ? (size_t)(end - rest) : strlen(rest);
  return rest;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: floor PACKAGES USERS ZONE\n");
    return 1;
  }
  size_t len, npkg, npw, nsh;
  char *pkgs = slurp(argv[1], &len);
  char *users = slurp(argv[2], &len);
  Entry *dpkg = index_dpkg(slurp("/var/lib/dpkg/status", &len), &npkg);
  Entry *passwd = index_colon(slurp("/etc/passwd", &len), &npw);
  Entry *shadow = index_colon(slurp("/etc/shadow", &len), &nsh);
  long today = (long)(time(NULL) / 86400);
  int drifted = 0, resources = 0;

  for (char *p = strtok(pkgs, "\n"); p; p = strtok(NULL, "\n")) {
    resources++;
    if (!find(dpkg, npkg, p, strlen(p))) drifted++;
  }
  for (char *u = strtok(users, "\n"); u; u = strtok(NULL, "\n")) {
    resources++;
    size_t n = strlen(u), flen;
    const Entry *pw = find(passwd, npw, u, n), *sh = find(shadow, nsh, u, n);
    if (!pw || !sh) { drifted++; continue; }
    const char *shell = field(pw->rest, 5, &flen);  // passwd: x:uid:gid:gecos:home:shell after the name
    int ok = flen >= 8 && memcmp(shell + flen - 8, "/nologin", 8) == 0;
    const char *hash = field(sh->rest, 0, &flen);
    ok = ok && flen > 0 && hash[0] == '!';
    const char *expire = field(sh->rest, 6, &flen);  // shadow: hash:last:min:max:warn:inactive:expire
    ok = ok && flen > 0 && strtol(expire, NULL, 10) <= today;
    if (!ok) drifted++;
  }

  resources++;
  char link[4096];
  ssize_t ln = readlink("/etc/localtime", link, sizeof link - 1);
  char want[512];
  int wn = snprintf(want, sizeof want, "zoneinfo/%s", argv[3]);
  int zone_ok = ln > wn && memcmp(link + ln - wn, want, (size_t)wn) == 0 && link[ln - wn - 1] == '/';
  char *tz = slurp("/etc/timezone", &len);
  while (len && tz[len - 1] == '\n') tz[--len] = 0;
  if (!zone_ok || strcmp(tz, argv[3]) != 0) drifted++;

  printf("floor: %d drifted of %d\n", drifted, resources);
  return drifted ? 2 : 0;
}
