// Whole-file I/O for checkpoints, run directories and fixtures: atomic replace-on-write
// (temp file in the same directory, fsync, rename, fsync of the directory) and checked reads.
#pragma once

#include <string>
#include <string_view>

namespace attn {

// Replaces `path` with `bytes` so that readers and crashes see either the old or the new file,
// never a prefix. Throws attn::Error(kIo) naming the path on any failure (the temp file is
// removed).
void write_file_atomic(const std::string& path, std::string_view bytes);

// The whole file. Throws attn::Error naming the path: kInput when the path names no regular file
// (missing, a directory, a FIFO), kIo when reading fails (permissions, EIO).
std::string read_file(const std::string& path);

}  // namespace attn
