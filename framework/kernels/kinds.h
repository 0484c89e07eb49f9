// Enumerations that parameterise kernel families; shared by the CPU and CUDA backends so an op
// passes the same value to whichever backend runs it.
#pragma once

namespace attn {

enum class BinaryOp { kAdd, kSub, kMul };
enum class UnaryOp { kGeluErf, kGeluTanh, kSilu, kSigmoid, kTanh, kExp, kLog, kRelu };
enum class NormKind { kLayerNorm, kRmsNorm };
enum class RopePairing { kHalf, kInterleaved };

}  // namespace attn
