#include "recipes/run/checkpoint.h"
#include "recipes/run/fault_injection.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <vector>

#include <fmt/ranges.h>

#include <google/protobuf/stubs/logging.h>

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
  // 18 digits keep n * 10 + d inside int64.
  if (name.rfind("step_", 0) != 0 || name.size() == 5 || name.size() > 5 + 18) return -1;
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

namespace {

// Protobuf parses many byte strings (the empty one included) as some message: a state is only
// accepted when every field a trainer writes is present and plausible.
void check_state(const CheckpointState& state, const fs::path& dir, const std::string& path) {
  auto bad = [&](const std::string& what) { throw Error(ErrorKind::kInput, path, what); };
  if (!state.GetReflection()->GetUnknownFields(state).empty())
    bad("holds fields a CheckpointState does not have (corrupt, or not a state.pb)");
  if (state.step() < 1) bad(fmt::format("step is {}, not a positive step count", state.step()));
  const int64_t named = step_of(dir);
  if (named >= 0 && named != state.step())
    bad(fmt::format("says step {}, but its directory is {}", state.step(),
                    dir.filename().string()));
  if (state.world_size() < 1) bad(fmt::format("world_size is {}", state.world_size()));
  if (state.recipe_hash().size() != 16) bad("has no recipe hash (corrupt, or not a state.pb)");
  if (state.optimizer() != "adamw" && state.optimizer() != "sgd")
    bad(fmt::format("optimizer '{}' is neither adamw nor sgd", state.optimizer()));
  if (state.tokens_seen() < 0) bad(fmt::format("tokens_seen is {}", state.tokens_seen()));
  if (!(state.elapsed_s() >= 0) || !std::isfinite(state.elapsed_s()))
    bad(fmt::format("elapsed_s is {}", state.elapsed_s()));
}

}  // namespace

CheckpointState read_checkpoint_state(const std::string& dir) {
  if (!complete(dir)) throw Error(ErrorKind::kInput, dir, "incomplete checkpoint (no DONE marker)");
  return decode_checkpoint_state(read_file((fs::path(dir) / kState).string()), dir);
}

CheckpointState decode_checkpoint_state(const std::string& bytes, const std::string& dir) {
  CheckpointState state;
  const std::string state_path = (fs::path(dir) / kState).string();
  if (bytes.empty()) throw Error(ErrorKind::kInput, state_path, "is empty");
  // The error below says what is wrong; protobuf's own log lines (invalid UTF-8 ...) only add
  // noise on stderr.
  const google::protobuf::LogSilencer quiet;
  if (!state.ParseFromString(bytes))
    throw Error(ErrorKind::kInput, state_path, "not a valid CheckpointState protobuf");
  fs::path named = fs::path(dir).lexically_normal();
  if (named.filename().empty()) named = named.parent_path();  // "step_4/"
  check_state(state, named, state_path);
  return state;
}

namespace {

// Index of the first NaN or inf in a host tensor, -1 when all are finite (integers always are).
template <typename T>
int64_t first_non_finite(const T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(static_cast<double>(v[i]))) return i;
  return -1;
}

// Weights that are NaN or inf would evaluate to `val loss nan` and sample garbage: a checkpoint
// holding them is refused by name, like any other corruption.
void refuse_non_finite(const SafetensorsFile& file, const std::string& path) {
  for (const auto& [name, t] : file.tensors) {
    int64_t at = -1;
    if (t.dtype() == DType::kF32) at = first_non_finite(t.data<float>(), t.numel());
    if (t.dtype() == DType::kF64) at = first_non_finite(t.data<double>(), t.numel());
    if (t.dtype() == DType::kBF16) {
      const std::vector<float> v = t.to_vector<float>();
      at = first_non_finite(v.data(), t.numel());
    }
    if (at >= 0)
      throw Error(ErrorKind::kInput, path,
                  fmt::format("tensor '{}' holds {} at element {}: the run had diverged when this "
                              "was written; use an earlier checkpoint",
                              name, t.to_vector<double>()[at], at));
  }
}

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
  refuse_non_finite(c.model, (dir / kModel).string());
  if (optimizer) {
    c.optimizer = read_safetensors((dir / kOptimizer).string());
    refuse_non_finite(c.optimizer, (dir / kOptimizer).string());
  }
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
  // A failed write (disk full, permissions) leaves no temporary directory behind.
  struct RemoveUnlessRenamed {
    const fs::path& dir;
    ~RemoveUnlessRenamed() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{tmp};

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
  const bool replacing = fs::exists(final_dir);
  if (replacing) fs::rename(final_dir, old, ec);
  if (!ec) fs::rename(tmp, final_dir, ec);
  if (ec) {
    std::error_code ignored;
    if (replacing && !fs::exists(final_dir)) fs::rename(old, final_dir, ignored);
    throw Error(ErrorKind::kIo, final_dir.string(), "cannot rename into place: " + ec.message());
  }
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
  std::vector<std::string> corrupt;  // complete (DONE) checkpoints that did not load
  for (const fs::path& d : checkpoint_dirs(checkpoints_dir)) {
    try {
      CheckpointState s = load_checkpoint(d.string(), store, optimizer);
      if (loaded_dir) *loaded_dir = d.string();
      return s;
    } catch (const Error& e) {
      if (warn) warn(fmt::format("skipping checkpoint {}: {}", d.string(), e.what()));
      if (complete(d)) corrupt.push_back(fmt::format("{}: {}", d.filename().string(), e.what()));
    }
  }
  // Only a crash before the first DONE may start over; restarting past corrupt checkpoints would
  // discard the run (and its metrics) without being asked to.
  if (!corrupt.empty())
    throw Error(ErrorKind::kInput, checkpoints_dir,
                fmt::format("--resume: none of the {} complete checkpoints loads ({}); repair or "
                            "remove them, or start a new run with --run-dir",
                            corrupt.size(), fmt::join(corrupt, "; ")));
  return std::nullopt;
}

std::string latest_complete_checkpoint(const std::string& checkpoints_dir) {
  for (const fs::path& d : checkpoint_dirs(checkpoints_dir))
    if (complete(d)) return d.string();
  return "";
}

}  // namespace attn
