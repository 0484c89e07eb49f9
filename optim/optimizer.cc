#include "optim/optimizer.h"

#include <map>

#include "framework/core/error.h"

namespace attn {

Tensor weight_decay_mask(const ParamStore& store, DecayPolicy policy) {
  Tensor mask = store.new_state_buffer();
  for (const ParamInfo& p : store.params())
    if (p.trainable && (policy == DecayPolicy::kAll || p.weight_decay))
      mask.slice0(p.offset, p.offset + p.tensor.numel()).fill_(1.0);
  return mask;
}

std::vector<std::pair<std::string, Tensor>> per_param_views(const ParamStore& store,
                                                            const Tensor& flat,
                                                            const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const ParamInfo& p : store.params())
    out.emplace_back(prefix + "." + p.name,
                     flat.slice0(p.offset, p.offset + p.tensor.numel()).view(p.tensor.shape()));
  return out;
}

namespace {

std::map<std::string, const Tensor*> index_by_name(
    const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : state) by_name[name] = &t;
  return by_name;
}

}  // namespace

void check_per_param_views(const ParamStore& store, const std::string& prefix,
                           const std::vector<std::pair<std::string, Tensor>>& state) {
  const auto by_name = index_by_name(state);
  for (const ParamInfo& p : store.params()) {
    const std::string name = prefix + "." + p.name;
    auto it = by_name.find(name);
    if (it == by_name.end()) ATTN_FAIL(kInput, "optimizer state has no tensor '{}'", name);
    if (it->second->shape() != p.tensor.shape())
      ATTN_FAIL(kInput, "optimizer state '{}' has shape {}, the model needs {}", name,
                it->second->shape().str(), p.tensor.shape().str());
  }
}

void load_per_param_views(const ParamStore& store, Tensor& flat, const std::string& prefix,
                          const std::vector<std::pair<std::string, Tensor>>& state) {
  check_per_param_views(store, prefix, state);
  const auto by_name = index_by_name(state);
  for (auto& [name, view] : per_param_views(store, flat, prefix))
    view.copy_from(by_name.at(name)->to(view.dtype()));
}

}  // namespace attn
