// model.kind: a recipe trains either the GPT or ABMIL, and the other kind's fields would
// validate and then do nothing, so giving one a value other than its default is an error at its
// file:line. (Values equal to the defaults are accepted: a resolved recipe lists every field.)
#include <string>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/text_format.h>

#include "framework/config/recipe_internal.h"
#include "framework/core/error.h"

namespace attn::config::detail {

namespace {

namespace pb = google::protobuf;
namespace cfg = attnlab::config;

// Dotted paths of every scalar or list field under `prefix` ("attention" -> attention.kind,
// attention.sink.mode, ...), or `prefix` itself when it names one.
std::vector<std::string> leaves_under(const std::string& prefix) {
  const pb::Descriptor* type = cfg::Recipe::descriptor();
  const pb::FieldDescriptor* field = nullptr;
  for (size_t b = 0; b <= prefix.size();) {
    const size_t e = std::min(prefix.find('.', b), prefix.size());
    field = type->FindFieldByName(prefix.substr(b, e - b));
    if (field == nullptr) ATTN_FAIL(kInternal, "model kind rule names unknown field '{}'", prefix);
    type = field->message_type();
    b = e + 1;
  }
  if (type == nullptr) return {prefix};
  std::vector<std::string> out;
  for (int i = 0; i < type->field_count(); ++i)
    for (std::string& leaf : leaves_under(prefix + "." + type->field(i)->name()))
      out.push_back(std::move(leaf));
  return out;
}

// Whether `leaf` (a dotted scalar or list field) holds another value than in the defaults.
bool differs_from_default(const cfg::Recipe& r, const std::string& leaf) {
  const pb::Message* a = &r;
  const pb::Message* b = &default_recipe();
  const pb::FieldDescriptor* field = nullptr;
  for (size_t begin = 0; begin <= leaf.size();) {
    const size_t end = std::min(leaf.find('.', begin), leaf.size());
    field = a->GetDescriptor()->FindFieldByName(leaf.substr(begin, end - begin));
    if (end < leaf.size()) {
      a = &a->GetReflection()->GetMessage(*a, field);
      b = &b->GetReflection()->GetMessage(*b, field);
    }
    begin = end + 1;
  }
  if (field->is_repeated())
    return a->GetReflection()->FieldSize(*a, field) != b->GetReflection()->FieldSize(*b, field);
  std::string x, y;
  pb::TextFormat::PrintFieldValueToString(*a, field, -1, &x);
  pb::TextFormat::PrintFieldValueToString(*b, field, -1, &y);
  return x != y;
}

// Refuses every field under each of `prefixes` that differs from its default, except those
// under `allowed`.
void refuse_set(const cfg::Recipe& r, RuleCheck& check, const std::vector<std::string>& prefixes,
                const std::vector<std::string>& allowed, const std::string& why) {
  auto is_allowed = [&](const std::string& leaf) {
    for (const std::string& a : allowed)
      if (leaf == a || leaf.rfind(a + ".", 0) == 0) return true;
    return false;
  };
  for (const std::string& p : prefixes)
    for (const std::string& leaf : leaves_under(p))
      if (!is_allowed(leaf)) check.require(!differs_from_default(r, leaf), {leaf}, why);
}

void check_abmil(const cfg::Recipe& r, RuleCheck& check) {
  const std::string why = "a GPT field; model.kind ABMIL does not use it (remove it)";
  refuse_set(r, check, {"model", "attention", "procedure", "eval", "parallel", "losses.adl"},
             {"model.kind", "model.abmil"}, why);
  refuse_set(r, check, {"data"}, {"data.corpus", "data.dir", "data.batch_size", "data.mil"}, why);
  refuse_set(r, check, {"train"},
             {"train.steps", "train.seed", "train.eval_every", "train.checkpoint_every",
              "train.keep_last", "train.device"},
             why);
  refuse_set(r, check, {"losses.aem.layers", "losses.aem.heads", "log.attn_every"}, {},
             "ABMIL has one attention map (its pooling): no layers or heads to select");
  check.require(r.data().corpus() == cfg::Data::MIL, {"data.corpus", "model.kind"},
                "model.kind ABMIL trains on bags: set data.corpus MIL");
  check.require(r.train().device() == cfg::CPU, {"train.device", "model.kind"},
                "ABMIL trains on the CPU only (its bags are small; the GPU path is not built)");

  const cfg::Mil& m = r.data().mil();
  check.require(
      m.min_instances() <= m.max_instances(), {"data.mil.min_instances", "data.mil.max_instances"},
      fmt::format("{} is above data.mil.max_instances {}", m.min_instances(), m.max_instances()));
  if (m.source() == cfg::Mil::PLANTED_KEYS) {
    refuse_set(r, check, {"model.abmil.encoder_width", "model.abmil.encoder_buckets", "data.dir"},
               {}, "PLANTED_KEYS bags are feature vectors: no word encoder or corpus to read");
    check.require(m.train_bags() > 0, {"data.mil.train_bags", "data.mil.source"},
                  "PLANTED_KEYS generates this many bags: must be at least 1");
    check.require(m.val_bags() > 0, {"data.mil.val_bags", "data.mil.source"},
                  "PLANTED_KEYS generates this many bags: must be at least 1");
  } else {
    refuse_set(r, check, {"data.mil.instance_dim", "data.mil.key_fraction", "data.mil.key_signal"},
               {}, "planted-key fields; BROWN_GENRE bags are sentences of Brown documents");
    check.require(!r.data().dir().empty(), {"data.dir", "data.mil.source"},
                  "BROWN_GENRE reads the shards of `attnlab data brown` there: must be set");
  }
}

}  // namespace

void check_model_kind(const cfg::Recipe& r, RuleCheck& check) {
  if (r.model().kind() == cfg::Model::ABMIL) return check_abmil(r, check);
  refuse_set(r, check, {"model.abmil"}, {}, "an ABMIL field; set model.kind ABMIL to use it");
  check.require(r.data().corpus() != cfg::Data::MIL, {"data.corpus", "model.kind"},
                "MIL bags train model.kind ABMIL, not the GPT");
  if (r.data().corpus() != cfg::Data::MIL)
    refuse_set(r, check, {"data.mil"}, {}, "a MIL data field; it acts with data.corpus MIL");
}

}  // namespace attn::config::detail
