// Checkpoints: checkpoints/step_<N>/{model.safetensors, optimizer.safetensors, state.pb, DONE},
// written into a temporary directory and renamed into place, so a crash never leaves a
// half-written step_<N>; loading validates everything before it touches the model.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "framework/core/param_store.h"
#include "optim/optimizer.h"
#include "recipes/run/checkpoint.pb.h"

namespace attn {

using CheckpointState = attnlab::config::CheckpointState;

// Writes step_<state.step()> under `checkpoints_dir` and prunes complete checkpoints beyond the
// newest `keep_last` (0 keeps all). `optimizer_state` is Optimizer::state() (which is collective
// under ZeRO-1, hence passed in). Returns the checkpoint's path.
std::string save_checkpoint(const std::string& checkpoints_dir, const ParamStore& store,
                            const NamedTensors& optimizer_state, const CheckpointState& state,
                            int keep_last);

// Loads one checkpoint directory into `store` and `optimizer` and returns its state. Reads and
// checks every file (DONE marker, names, shapes) first: on error nothing has been modified.
CheckpointState load_checkpoint(const std::string& dir, ParamStore& store, Optimizer& optimizer);

// The state.pb of a complete checkpoint directory, without its tensors.
CheckpointState read_checkpoint_state(const std::string& dir);
// The same from the bytes of a state.pb in `dir`: refuses (kInput, naming `dir`/state.pb) empty
// or unparsable bytes, unknown fields, and implausible values (step < 1 or not the step_<N> of
// `dir`, no world size, recipe hash or optimizer, negative counts).
CheckpointState decode_checkpoint_state(const std::string& bytes, const std::string& dir);

// Loads only the weights of a checkpoint (eval, sample); names and shapes must match the model.
CheckpointState load_weights(const std::string& dir, ParamStore& store);

// Newest loadable checkpoint under `checkpoints_dir`: incomplete or corrupt ones are reported
// through `warn` (naming the directory and why) and skipped. nullopt when there is no complete
// checkpoint; throws Error(kInput) listing each when complete ones exist but none loads.
std::optional<CheckpointState> resume_latest(const std::string& checkpoints_dir, ParamStore& store,
                                             Optimizer& optimizer,
                                             const std::function<void(const std::string&)>& warn,
                                             std::string* loaded_dir = nullptr);

// Newest complete (DONE) checkpoint directory, without loading it; "" when there is none.
std::string latest_complete_checkpoint(const std::string& checkpoints_dir);

}  // namespace attn
