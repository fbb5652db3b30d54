#ifndef CHANGEGATE_CSPAWN_H
#define CHANGEGATE_CSPAWN_H
#include <spawn.h>

/// pipe2(O_CLOEXEC): no other thread's spawn can inherit the pipe between creation and flagging.
int cg_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addchdir_np (glibc 2.29+).
int cg_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child gets no stray descriptors.
int cg_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
#endif
