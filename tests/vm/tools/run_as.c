/* run_as: start a command the way the packaged unit starts gpioirqd without capabilities
 * (User=, Group=, SupplementaryGroups=, LimitRTPRIO=, LimitMEMLOCK=), for VM scenarios:
 * busybox has no setpriv.
 *
 *   run_as UID GID GROUPS RTPRIO MEMLOCK_KB COMMAND [ARG...]
 *
 * GROUPS: supplementary gids, comma-separated ("-" for none). RTPRIO: RLIMIT_RTPRIO (soft and
 * hard). MEMLOCK_KB: RLIMIT_MEMLOCK in KiB, or "inf". The limits are set first (as root),
 * then the groups, gid and uid; a process that changes its uid from 0 loses every
 * capability, which is checked before the command is executed. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "run_as: %s: %s\n", what, strerror(errno));
  exit(126);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: run_as UID GID GROUPS RTPRIO MEMLOCK_KB COMMAND [ARG...]\n");
    return 2;
  }
  uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
  gid_t gid = (gid_t)strtoul(argv[2], NULL, 10);
  gid_t groups[32];
  size_t ngroups = 0;
  if (strcmp(argv[3], "-") != 0) {
    char *list = argv[3];
    for (char *tok = strtok(list, ","); tok && ngroups < 32; tok = strtok(NULL, ","))
      groups[ngroups++] = (gid_t)strtoul(tok, NULL, 10);
  }
  struct rlimit rt = {strtoul(argv[4], NULL, 10), strtoul(argv[4], NULL, 10)};
  if (setrlimit(RLIMIT_RTPRIO, &rt) != 0) die("setrlimit(RLIMIT_RTPRIO)");
  rlim_t memlock = strcmp(argv[5], "inf") == 0 ? RLIM_INFINITY : (rlim_t)strtoull(argv[5], NULL, 10) * 1024;
  struct rlimit ml = {memlock, memlock};
  if (setrlimit(RLIMIT_MEMLOCK, &ml) != 0) die("setrlimit(RLIMIT_MEMLOCK)");
  if (setgroups(ngroups, groups) != 0) die("setgroups");
  if (setresgid(gid, gid, gid) != 0) die("setresgid");
  if (setresuid(uid, uid, uid) != 0) die("setresuid");
  /* No capability may be left (the unit without capabilities: AmbientCapabilities= and
   * CapabilityBoundingSet= empty would be stricter still, the point is the same). */
  if (uid != 0) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
      if (strncmp(line, "CapEff:", 7) == 0 && strtoull(line + 7, NULL, 16) != 0) {
        fprintf(stderr, "run_as: capabilities left after setuid: %s", line + 7);
        return 126;
      }
    if (status) fclose(status);
  }
  execvp(argv[6], argv + 6);
  die(argv[6]);
  return 126;
}
