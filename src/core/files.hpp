#pragma once
// Temporary files for atomic writes: every writer writes PATH.tmp-<pid> and renames it to
// PATH, so a crash or an error never leaves half a PATH.
#include <string>

namespace spire {

// PATH.tmp-<this process's id>. First removes the PATH.tmp-<pid> files whose process no
// longer runs on this machine (left by a writer that was killed): they are never finished.
// Those of a live process are left alone. Removing is best effort and never fails.
std::string temporary_path(const std::string& path);

}  // namespace spire
