// The attnlab version (CMake's project version), recorded in checkpoints and printed by
// `attnlab --version`.
#pragma once

namespace attn {

inline constexpr const char* kVersion = ATTNLAB_VERSION;

}  // namespace attn
