// `attnlab train` for model.kind ABMIL: bags of data.mil, one ABMIL classifier (with the word
// encoder for Brown bags), the loss cross-entropy + losses.aem.weight * the pooling's negative
// entropy (SPEC-attention section 7, AEM's MIL form), validation accuracy / AUC / pooling
// entropy, and the run directory, checkpoints, resume and SIGINT of the GPT trainer.
#pragma once

#include "recipes/train/trainer.h"

namespace attn {

// One rank (options.comm of one process or null); resumable bit for bit.
TrainResult train_mil(const config::Recipe& recipe, const TrainOptions& options);

}  // namespace attn
