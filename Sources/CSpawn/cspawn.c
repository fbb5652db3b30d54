// GNU extensions Swift's Glibc module does not show; exposed here under _GNU_SOURCE.
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include "cspawn.h"

int cg_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cg_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int cg_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
