#pragma once
// Reading an outside file's structure in a child process first, so that a corrupt file the
// HDF5 library itself crashes or loops on ends in an error naming the file, not in a
// segmentation fault or a hang of spire.
//
// Why: HDF5 1.10 (Debian's) trusts the structure of the file it opens. The fuzz campaigns
// (docs/fuzzing.md) found corrupt files on which libhdf5 dereferences a null pointer, copies
// overlapping memory or retries an impossible allocation forever, inside its own calls
// (H5Gget_info, H5Lexists, H5Aread, H5Dread), before spire can look at anything. What spire
// can check itself it checks before HDF5 reads (src/io/dragonfly_raw.cpp); the rest is
// contained here: the child opens the file as the command will, the parent waits.
//
// Contract of run_isolated(file, limit, work):
//  - work runs in a forked child (one thread; nothing it changes reaches the caller).
//  - work returns normally: run_isolated returns.
//  - work throws: run_isolated throws spire::Error with the same message (errors read the
//    same as without isolation).
//  - the child dies of a signal (SIGSEGV, SIGBUS, SIGABRT, SIGKILL by the out-of-memory
//    killer): spire::Error "FILE: reading the file crashed (signal N, name; ...)"; the child
//    resets the crash signals to their default first, so a sanitized build reads the same.
//  - the child exits with an error code and no message (a sanitizer's report of a memory
//    error): spire::Error naming the file and the exit code.
//  - the child runs past limit: it is killed and spire::Error says so, with the limit and
//    the variable that changes it.
//  Costs one fork and the reads work does (milliseconds for the structure of a file).
//  Silent memory corruption inside the child (a file HDF5 misreads without crashing) is not
//  detected: the caller then reads the same file itself.
#include <chrono>
#include <functional>
#include <string>

#include "io/images.hpp"

namespace spire::io {

// How long the structure of one file may take to read (seconds): SPIRE_PROBE_SECONDS in the
// environment when set (0 turns the isolation off), else 120.
std::chrono::seconds probe_limit();

void run_isolated(const std::string& file, std::chrono::seconds limit, const std::function<void()>& work);

// What every command reads of an image file before its images, isolated: open_images(path,
// options) (format, structure, geometry, attributes, the detector and mask files of
// options), the first image, the true orientations when there are any and the reference
// volume's shape. Nothing when probe_limit() is 0.
void probe_images(const std::string& path, const OpenOptions& options = {});

}  // namespace spire::io
