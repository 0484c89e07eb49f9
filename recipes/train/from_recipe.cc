#include "recipes/train/from_recipe.h"

#include <fnmatch.h>
#include <unistd.h>

#include <fmt/format.h>

#include "framework/config/model_size.h"
#include "framework/core/error.h"
#include "framework/kernels/cuda/runtime.h"
#include "optim/adamw.h"
#include "optim/sgd.h"

namespace attn {

namespace cfg = attnlab::config;

GptConfig gpt_config(const config::Recipe& r) {
  const cfg::Model& m = r.model();
  const cfg::Attention& a = r.attention();
  GptConfig c;
  c.vocab_size = m.vocab_size();
  c.width = m.width();
  c.layers = m.layers();
  c.heads = m.heads();
  c.kv_heads = config::kv_heads(m);
  c.mlp_hidden = config::mlp_hidden(m);
  switch (m.mlp()) {
    case cfg::Model::GELU_TANH:
      c.mlp = MlpType::kGeluTanh;
      break;
    case cfg::Model::SWIGLU:
      c.mlp = MlpType::kSwiGlu;
      break;
    default:
      c.mlp = MlpType::kGelu;
      break;
  }
  c.norm = m.norm() == cfg::Model::RMSNORM ? NormType::kRmsNorm : NormType::kLayerNorm;
  c.norm_eps = m.norm_eps();
  switch (m.positional()) {
    case cfg::Model::ROPE:
      c.positional = PositionalType::kRope;
      break;
    case cfg::Model::NONE:
      c.positional = PositionalType::kNone;
      break;
    default:
      c.positional = PositionalType::kLearned;
      break;
  }
  c.rope.base = m.rope_base();
  c.rope.pairing =
      m.rope_pairing() == cfg::Model::INTERLEAVED ? RopePairing::kInterleaved : RopePairing::kHalf;
  c.tied_head = m.tied_head();
  c.bias = m.bias();
  c.max_seq_len = m.seq_len();
  c.init_std = m.init_std();
  c.attention = a;
  if (!attention_kind_available(a.kind()))
    throw Error(ErrorKind::kConfig, "attention.kind",
                cfg::Attention::Kind_Name(a.kind()) + " attention is not built into this binary");
  return c;
}

std::unique_ptr<Optimizer> make_optimizer(const config::Recipe& r, ParamStore& store,
                                          FlatRange range) {
  const cfg::Optim& o = r.optim();
  if (o.kind() == cfg::Optim::SGD)
    return std::make_unique<Sgd>(store, SgdOptions{o.lr(), o.momentum(), o.weight_decay()}, range);
  AdamWOptions a;
  a.lr = o.lr();
  a.beta1 = o.beta1();
  a.beta2 = o.beta2();
  a.eps = o.eps();
  a.weight_decay = o.weight_decay();
  return std::make_unique<AdamW>(store, a, range);
}

void freeze_parameters(const config::Recipe& r, ParamStore& store) {
  const auto& patterns = r.train().freeze();
  for (int i = 0; i < patterns.size(); ++i) {
    const std::string& pattern = patterns[i];
    const std::string field = fmt::format("train.freeze[{}]", i);
    int matched = 0;
    for (const ParamInfo& p : store.params()) {
      // No FNM_PATHNAME: '*' crosses the dots of a name ("blocks.*.mlp.*").
      if (!p.trainable || fnmatch(pattern.c_str(), p.name.c_str(), 0) != 0) continue;
      store.freeze(p.name);
      ++matched;
    }
    if (matched == 0) {
      // The names of block 0 stand for every block's.
      std::string names;
      for (const ParamInfo& p : store.params())
        if (p.trainable && (p.name.rfind("blocks.", 0) != 0 || p.name.rfind("blocks.0.", 0) == 0))
          names += (names.empty() ? "" : ", ") + p.name;
      throw Error(ErrorKind::kConfig, field,
                  fmt::format("'{}' matches no parameter; the parameters are {} (and the same for "
                              "every block)",
                              pattern, names));
    }
  }
  if (!patterns.empty() && store.num_trainable() == 0)
    throw Error(ErrorKind::kConfig, "train.freeze", "freezes every parameter: nothing would train");
}

ScheduleOptions schedule_options(const config::Recipe& r) {
  const cfg::Optim& o = r.optim();
  ScheduleOptions s;
  switch (o.schedule()) {
    case cfg::Optim::CONSTANT:
      s.kind = ScheduleKind::kConstant;
      break;
    case cfg::Optim::LINEAR:
      s.kind = ScheduleKind::kLinear;
      break;
    default:
      s.kind = ScheduleKind::kCosine;
      break;
  }
  s.lr = o.lr();
  s.warmup_steps = o.warmup_steps();
  s.total_steps = r.train().steps();
  s.min_lr_ratio = o.min_lr_ratio();
  return s;
}

Device train_device(const config::Recipe& r, int local_rank) {
  if (r.train().device() != cfg::CUDA) return Device::cpu();
  if (!cuda::built_with_cuda())
    throw Error(ErrorKind::kConfig, "train.device",
                "CUDA: this binary was built without the CUDA backend (nvcc not found when "
                "configuring); rebuild on a machine with /usr/local/cuda or use CPU");
  const int gpus = cuda::device_count();
  if (gpus == 0)
    throw Error(ErrorKind::kConfig, "train.device",
                "CUDA: no GPU is visible on this machine (check nvidia-smi and "
                "CUDA_VISIBLE_DEVICES) or use CPU");
  const int index = local_rank % gpus;
  cuda::set_device(index);
  return Device::cuda(index);
}

void check_fits_host_memory(const config::Recipe& r, int world_size) {
  if (r.train().device() == cfg::CUDA) return;  // the CUDA allocator names what it lacks
  const double rows = static_cast<double>(r.data().batch_size()) /
                      (static_cast<double>(r.train().micro_batches()) * world_size);
  const config::StepMemory need =
      config::estimated_step_memory(r.model(), rows * static_cast<double>(r.model().seq_len()));
  const double have =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (have <= 0 || need.total() <= have) return;
  constexpr double GiB = 1024.0 * 1024 * 1024;
  throw Error(ErrorKind::kConfig, "data.batch_size, model.seq_len",
              fmt::format("a training step would need about {:.3g} GiB ({:.3g} GiB of weights, "
                          "gradients and moments; {:.3g} GiB of activations for {:g} rows of {} "
                          "tokens per rank), this machine has {:.3g} GiB: lower data.batch_size "
                          "or model.seq_len, or raise train.micro_batches",
                          need.total() / GiB, need.weights / GiB, need.activations / GiB, rows,
                          r.model().seq_len(), have / GiB));
}

}  // namespace attn
