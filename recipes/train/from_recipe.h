// Translation of a validated recipe into the plain option structs of layers/ and optim/, which
// know nothing of recipes. Unsupported combinations fail here with the recipe field named.
#pragma once

#include <memory>

#include "framework/config/recipe_loader.h"
#include "layers/models/gpt.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace attn {

GptConfig gpt_config(const config::Recipe& recipe);
// `range`: the slice of the flat buffers it updates (the whole buffer, or a ZeRO-1 shard).
std::unique_ptr<Optimizer> make_optimizer(const config::Recipe& recipe, ParamStore& store,
                                          FlatRange range = {});
ScheduleOptions schedule_options(const config::Recipe& recipe);
// Freezes the parameters train.freeze names (call before building the optimizer). A pattern that
// matches nothing, or freezing every parameter, is a config error naming the field.
void freeze_parameters(const config::Recipe& recipe, ParamStore& store);
// The device this rank trains on (train.device): the CPU, or GPU `local_rank` mod the number of
// GPUs, made the current CUDA device. A config error when the binary or machine has no GPU.
Device train_device(const config::Recipe& recipe, int local_rank);
// Refuses a CPU run whose estimated peak step memory (config::estimated_step_memory of one
// rank's micro-batch) exceeds this machine's physical memory, naming the fields and the bytes:
// an absurd data.batch_size or model.seq_len is an error before anything is allocated, not an
// OOM kill or std::bad_alloc minutes later.
void check_fits_host_memory(const config::Recipe& recipe, int world_size);

}  // namespace attn
