#include "optim/optimizer.h"

#include <map>

#include "framework/core/error.h"

namespace attn {

Tensor weight_decay_mask(const ParamStore& store, DecayPolicy policy) {
  // Built on the host and copied once: one small copy per parameter would cost more on a GPU.
  Tensor mask = Tensor::zeros({store.padded_size()}, store.dtype());
  for (const ParamInfo& p : store.params())
    if (p.updated() && (policy == DecayPolicy::kAll || p.weight_decay))
      mask.slice0(p.offset, p.offset + p.tensor.numel()).fill_(1.0);
  return mask.to(store.device());
}

FlatRange resolve_range(const ParamStore& store, FlatRange range) {
  if (range.end < 0) range.end = store.padded_size();
  ATTN_CHECK(range.begin >= 0 && range.begin <= range.end && range.end <= store.padded_size(),
             "optimizer range [{}, {}) outside the flat buffer of {}", range.begin, range.end,
             store.padded_size());
  return range;
}

namespace {

NamedTensors per_param_views(const ParamStore& store, const Tensor& flat,
                             const std::string& prefix) {
  NamedTensors out;
  for (const ParamInfo& p : store.params())
    out.emplace_back(prefix + "." + p.name,
                     flat.slice0(p.offset, p.offset + p.tensor.numel()).view(p.tensor.shape()));
  return out;
}

}  // namespace

NamedTensors checkpoint_state(const ParamStore& store, const NamedTensors& flats,
                              const NamedScalars& scalars) {
  NamedTensors out;
  for (const auto& [name, flat] : flats) {
    ATTN_CHECK(flat.numel() == store.padded_size(), "state '{}' is not a whole flat buffer", name);
    NamedTensors views = per_param_views(store, flat, name);
    out.insert(out.end(), views.begin(), views.end());
  }
  for (const auto& [name, value] : scalars)
    out.emplace_back(name, Tensor::from_vector<double>({}, {value}));
  return out;
}

NamedScalars load_checkpoint_state(const ParamStore& store, const NamedTensors& flats,
                                   const std::vector<std::string>& scalar_names,
                                   const NamedTensors& state) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : state) by_name[name] = &t;
  NamedScalars scalars;
  for (const std::string& name : scalar_names) {
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second->numel() != 1)
      ATTN_FAIL(kInput, "optimizer state has no scalar '{}' entry", name);
    scalars.emplace_back(name, it->second->to(DType::kF64).item());
  }
  // Check everything before copying anything: a bad checkpoint leaves the state unchanged.
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  for (const auto& [prefix, flat] : flats)
    for (auto& [name, view] : per_param_views(store, flat, prefix)) {
      auto it = by_name.find(name);
      if (it == by_name.end()) ATTN_FAIL(kInput, "optimizer state has no tensor '{}'", name);
      if (it->second->shape() != view.shape())
        ATTN_FAIL(kInput, "optimizer state '{}' has shape {}, the model needs {}", name,
                  it->second->shape().str(), view.shape().str());
      copies.emplace_back(view, it->second);
    }
  for (auto& [view, src] : copies) view.copy_from(src->to(view.dtype()));
  return scalars;
}

Optimizer::Optimizer(ParamStore& store, FlatRange range) : store_(store) {
  ATTN_CHECK(store.finalized(), "optimizers need a finalized ParamStore");
  range_ = resolve_range(store, range);
}

NamedTensors Optimizer::state() const {
  ATTN_CHECK(range_.begin == 0 && range_.end == store_.padded_size(),
             "a sharded optimizer's state is gathered by its ZeRO-1 wrapper");
  return checkpoint_state(store_, flat_state(), scalar_state());
}

void Optimizer::load_state(const NamedTensors& state) {
  ATTN_CHECK(range_.begin == 0 && range_.end == store_.padded_size(),
             "a sharded optimizer's state is loaded by its ZeRO-1 wrapper");
  std::vector<std::string> names;
  for (const auto& [name, value] : scalar_state()) names.push_back(name);
  load_scalar_state(load_checkpoint_state(store_, flat_state(), names, state));
}

}  // namespace attn
