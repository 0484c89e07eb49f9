#include "recipes/run/checkpoint.h"
#include "recipes/run/fault_injection.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/file_util.h"
#include "framework/io/safetensors.h"

namespace attn {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModel = "model.safetensors";
constexpr const char* kOptimizer = "optimizer.safetensors";
constexpr const char* kState = "state.pb";
constexpr const char* kDone = "DONE";

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// step_<N> -> N, anything else -> -1.
int64_t step_of(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.rfind("step_", 0) != 0 || name.size() == 5) return -1;
  int64_t n = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

// Checkpoint directories, newest first.
std::vector<fs::path> checkpoint_dirs(const std::string& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && step_of(e.path()) >= 0) found.emplace_back(step_of(e.path()), e.path());
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& [step, p] : found) out.push_back(p);
  return out;
}

bool complete(const fs::path& dir) {
  return fs::exists(dir / kDone);
}

std::vector<std::pair<std::string, Tensor>> named_params(const ParamStore& store) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const ParamInfo& p : store.params()) out.emplace_back(p.name, p.tensor);
  return out;
}

}  // namespace

CheckpointState read_checkpoint_state(const std::string& dir) {
  if (!complete(dir)) throw Error(ErrorKind::kIo, dir, "incomplete checkpoint (no DONE marker)");
  CheckpointState state;
  const std::string state_path = (fs::path(dir) / kState).string();
  if (!state.ParseFromString(read_file(state_path)))
    throw Error(ErrorKind::kIo, state_path, "not a valid CheckpointState protobuf");
  return state;
}

namespace {

// Everything a checkpoint holds, read and checked against the model before anything is copied.
struct LoadedCheckpoint {
  CheckpointState state;
  SafetensorsFile model;
  SafetensorsFile optimizer;
};

LoadedCheckpoint read_checkpoint(const fs::path& dir, const ParamStore& store, bool optimizer) {
  LoadedCheckpoint c;
  c.state = read_checkpoint_state(dir.string());
  c.model = read_safetensors((dir / kModel).string());
  for (const ParamInfo& p : store.params()) {
    if (!c.model.has(p.name))
      throw Error(
          ErrorKind::kInput, (dir / kModel).string(),
          fmt::format("has no parameter '{}' ({}), which the model needs", p.name, p.tensor.str()));
    const Tensor& t = c.model.get(p.name);
    if (t.shape() != p.tensor.shape() || t.dtype() != p.tensor.dtype())
      throw Error(
          ErrorKind::kInput, (dir / kModel).string(),
          fmt::format("parameter '{}' is {}, the model needs {}", p.name, t.str(), p.tensor.str()));
  }
  for (const auto& [name, t] : c.model.tensors) {
    bool known = false;
    for (const ParamInfo& p : store.params()) known |= p.name == name;
    if (!known)
      throw Error(
          ErrorKind::kInput, (dir / kModel).string(),
          fmt::format("holds parameter '{}' ({}), which the model does not have", name, t.str()));
  }
  if (optimizer) c.optimizer = read_safetensors((dir / kOptimizer).string());
  return c;
}

void copy_weights(const SafetensorsFile& model, ParamStore& store) {
  for (const ParamInfo& p : store.params()) {
    Tensor dst = p.tensor;
    dst.copy_from(model.get(p.name));
  }
}

}  // namespace

std::string save_checkpoint(const std::string& checkpoints_dir, const ParamStore& store,
                            const NamedTensors& optimizer_state, const CheckpointState& state,
                            int keep_last) {
  const fs::path root(checkpoints_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error(ErrorKind::kIo, checkpoints_dir, "cannot create: " + ec.message());
  const std::string name = "step_" + std::to_string(state.step());
  const fs::path final_dir = root / name;
  const fs::path tmp = root / fmt::format(".{}.tmp.{}", name, ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) throw Error(ErrorKind::kIo, tmp.string(), "cannot create: " + ec.message());

  const std::map<std::string, std::string> meta{{"format", "pt"},
                                                {"step", std::to_string(state.step())},
                                                {"recipe_hash", state.recipe_hash()}};
  write_safetensors((tmp / kModel).string(), named_params(store), meta);
  // The crash-safety test kills the writer here: weights written, checkpoint not complete.
  crash_if_injected("checkpoint_midway");
  write_safetensors((tmp / kOptimizer).string(), optimizer_state, meta);
  write_file_atomic((tmp / kState).string(), state.SerializeAsString());
  write_file_atomic((tmp / kDone).string(), name + "\n");
  fsync_dir(tmp);

  // Replace an existing step_<N> (a resumed run passing the same step again) without a moment
  // in which neither the old nor the new one exists under its final name.
  const fs::path old = root / fmt::format(".{}.old.{}", name, ::getpid());
  if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec)
    throw Error(ErrorKind::kIo, final_dir.string(), "cannot rename into place: " + ec.message());
  fsync_dir(root);
  fs::remove_all(old, ec);

  // Prune: complete checkpoints beyond keep_last, and temporaries left by crashed writers.
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".step_", 0) == 0 && e.path() != tmp) fs::remove_all(e.path(), ec);
  }
  if (keep_last > 0) {
    int kept = 0;
    for (const fs::path& d : checkpoint_dirs(checkpoints_dir))
      if (complete(d) && ++kept > keep_last) fs::remove_all(d, ec);
  }
  return final_dir.string();
}

CheckpointState load_checkpoint(const std::string& dir, ParamStore& store, Optimizer& optimizer) {
  LoadedCheckpoint c = read_checkpoint(dir, store, true);
  // Optimizers check every name and shape before copying: a failure leaves both unchanged.
  optimizer.load_state(c.optimizer.tensors);
  copy_weights(c.model, store);
  return c.state;
}

CheckpointState load_weights(const std::string& dir, ParamStore& store) {
  LoadedCheckpoint c = read_checkpoint(dir, store, false);
  copy_weights(c.model, store);
  return c.state;
}

std::optional<CheckpointState> resume_latest(const std::string& checkpoints_dir, ParamStore& store,
                                             Optimizer& optimizer,
                                             const std::function<void(const std::string&)>& warn,
                                             std::string* loaded_dir) {
  for (const fs::path& d : checkpoint_dirs(checkpoints_dir)) {
    try {
      CheckpointState s = load_checkpoint(d.string(), store, optimizer);
      if (loaded_dir) *loaded_dir = d.string();
      return s;
    } catch (const Error& e) {
      if (warn) warn(fmt::format("skipping checkpoint {}: {}", d.string(), e.what()));
    }
  }
  return std::nullopt;
}

std::string latest_complete_checkpoint(const std::string& checkpoints_dir) {
  for (const fs::path& d : checkpoint_dirs(checkpoints_dir))
    if (complete(d)) return d.string();
  return "";
}

}  // namespace attn
