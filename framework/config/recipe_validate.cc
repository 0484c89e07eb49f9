// Recipe validation: one reflective walk checks the ranges declared in recipe.proto (options.proto
// annotations), then the rules that tie several fields together.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "framework/config/model_size.h"
#include "framework/config/options.pb.h"
#include "framework/config/recipe_internal.h"
#include "framework/config/recipe_loader.h"
#include "framework/config/recipe_rules.h"
#include "framework/config/unbuilt_features.h"
#include "framework/core/error.h"

namespace attn::config::detail {

namespace pb = google::protobuf;
namespace cfg = attnlab::config;

namespace {

std::string number(double v) {
  return fmt::format("{}", v);
}

// "must be in (0, 10]", "must be >= 1", or "" when the field declares no bounds.
std::string bounds_text(const pb::FieldOptions& o) {
  const bool lo = o.HasExtension(cfg::min), hi = o.HasExtension(cfg::max);
  const bool lo_open = o.GetExtension(cfg::min_exclusive);
  const bool hi_open = o.GetExtension(cfg::max_exclusive);
  if (lo && hi)
    return fmt::format("must be in {}{}, {}{}", lo_open ? '(' : '[',
                       number(o.GetExtension(cfg::min)), number(o.GetExtension(cfg::max)),
                       hi_open ? ')' : ']');
  if (lo)
    return fmt::format("must be {} {}", lo_open ? ">" : ">=", number(o.GetExtension(cfg::min)));
  if (hi)
    return fmt::format("must be {} {}", hi_open ? "<" : "<=", number(o.GetExtension(cfg::max)));
  return "";
}

bool in_bounds(const pb::FieldOptions& o, double v) {
  if (o.HasExtension(cfg::min)) {
    const double lo = o.GetExtension(cfg::min);
    if (o.GetExtension(cfg::min_exclusive) ? !(v > lo) : !(v >= lo)) return false;
  }
  if (o.HasExtension(cfg::max)) {
    const double hi = o.GetExtension(cfg::max);
    if (o.GetExtension(cfg::max_exclusive) ? !(v < hi) : !(v <= hi)) return false;
  }
  return true;
}

// Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF): proto3 strings must be, and
// the serialization behind recipe_hash complains otherwise.
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80           ? 0
                  : (c >> 5) == 0x6  ? 1
                  : (c >> 4) == 0xe  ? 2
                  : (c >> 3) == 0x1e ? 3
                                     : -1;
    if (n < 0 || s.size() - i <= static_cast<size_t>(n)) return false;
    uint32_t cp = n == 0 ? c : c & (0x3f >> n);
    for (int k = 1; k <= n; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (t & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

class RangeWalker {
 public:
  explicit RangeWalker(const Origins& origins) : origins_(origins) {}

  void walk(const pb::Message& m) {
    const pb::Descriptor* d = m.GetDescriptor();
    const pb::Reflection* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      const bool is_message = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
      if (!f->is_repeated()) {
        // Unset sub-messages are walked too (as their default instance): their enums would
        // otherwise slip through as UNSPECIFIED.
        path_.push_back({f, -1});
        is_message ? walk(r->GetMessage(m, f)) : check(m, f, -1);
        path_.pop_back();
        continue;
      }
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        path_.push_back({f, j});
        is_message ? walk(r->GetRepeatedMessage(m, f, j)) : check(m, f, j);
        path_.pop_back();
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_fields(origins_, {path_}, what); }

  void check(const pb::Message& m, const pb::FieldDescriptor* f, int j) {
    const pb::Reflection* r = m.GetReflection();
    const pb::FieldOptions& o = f->options();
    const bool rep = j >= 0;
    double v = 0;
    std::string shown;
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        const int32_t x = rep ? r->GetRepeatedInt32(m, f, j) : r->GetInt32(m, f);
        v = x, shown = fmt::format("{}", x);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        const int64_t x = rep ? r->GetRepeatedInt64(m, f, j) : r->GetInt64(m, f);
        v = static_cast<double>(x), shown = fmt::format("{}", x);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32: {
        const uint32_t x = rep ? r->GetRepeatedUInt32(m, f, j) : r->GetUInt32(m, f);
        v = x, shown = fmt::format("{}", x);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        const uint64_t x = rep ? r->GetRepeatedUInt64(m, f, j) : r->GetUInt64(m, f);
        v = static_cast<double>(x), shown = fmt::format("{}", x);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
          v = rep ? r->GetRepeatedDouble(m, f, j) : r->GetDouble(m, f);
        } else {
          v = rep ? r->GetRepeatedFloat(m, f, j) : r->GetFloat(m, f);
        }
        shown = number(v);
        if (!std::isfinite(v)) fail(fmt::format("must be a finite number, got {}", shown));
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const int x = rep ? r->GetRepeatedEnumValue(m, f, j) : r->GetEnumValue(m, f);
        const pb::EnumDescriptor* e = f->enum_type();
        if (e->FindValueByNumber(x) == nullptr)
          fail(fmt::format("unknown value {} (one of {})", x, enum_names(e)));
        if (x == 0 && !o.GetExtension(cfg::allow_unspecified))
          fail(fmt::format("must be set (one of {}), got {}", enum_names(e),
                           e->FindValueByNumber(0)->name()));
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING: {
        const std::string& s = rep ? r->GetRepeatedStringReference(m, f, j, &scratch_)
                                   : r->GetStringReference(m, f, &scratch_);
        if (o.GetExtension(cfg::nonempty) && s.empty()) fail("must not be empty");
        if (!valid_utf8(s)) fail("must be valid UTF-8 text");
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL:
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        return;
    }
    if (!in_bounds(o, v)) fail(fmt::format("{}, got {}", bounds_text(o), shown));
  }

  const Origins& origins_;
  FieldPath path_;
  std::string scratch_;
};

std::mutex& rules_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, RecipeRule>& rule_registry() {
  static std::map<std::string, RecipeRule> rules;
  return rules;
}
// A copy, so a rule may register others without deadlock.
std::vector<RecipeRule> registered_rules() {
  std::lock_guard<std::mutex> lock(rules_mutex());
  std::vector<RecipeRule> out;
  for (const auto& [name, rule] : rule_registry()) out.push_back(rule);
  return out;
}

// Cross-field rules. Each names its fields as dotted paths; the first is the one the message is
// about, and the error points at whichever of them the user wrote.
class Rules final : public RuleCheck {
 public:
  Rules(const cfg::Recipe& r, const Origins& origins) : r_(r), origins_(origins) {}

  void require(bool ok, std::initializer_list<std::string> fields,
               const std::string& what) override {
    if (ok) return;
    std::vector<FieldPath> paths;
    for (const std::string& f : fields) paths.push_back(resolve(f));
    fail_fields(origins_, paths, what);
  }

  void check_all() {
    check_name();
    check_model();
    check_data();
    check_training();
    check_cad();
    check_model_kind(r_, *this);
    check_layer_lists("losses.adl.layers", r_.losses().adl().layers());
    check_layer_lists("losses.aem.layers", r_.losses().aem().layers());
    check_head_list("losses.aem.heads", r_.losses().aem().heads());
    for (const RecipeRule& rule : registered_rules()) rule(r_, *this);
    check_unbuilt();
  }

 private:
  // "a.b[2].c" -> FieldPath; the names are this file's own, so a typo is a bug here.
  static FieldPath resolve(const std::string& dotted) {
    FieldPath path;
    const pb::Descriptor* type = cfg::Recipe::descriptor();
    size_t b = 0;
    while (b <= dotted.size()) {
      size_t e = std::min(dotted.find('.', b), dotted.size());
      std::string name = dotted.substr(b, e - b);
      int index = -1;
      if (const size_t br = name.find('['); br != std::string::npos) {
        index = std::stoi(name.substr(br + 1));
        name.resize(br);
      }
      const pb::FieldDescriptor* f = type ? type->FindFieldByName(name) : nullptr;
      if (f == nullptr) ATTN_FAIL(kInternal, "recipe rule names unknown field '{}'", dotted);
      path.push_back({f, index});
      type = f->message_type();
      b = e + 1;
    }
    return path;
  }

  void check_name() {
    const std::string& n = r_.name();
    bool ok = n != "." && n != "..";
    for (unsigned char c : n) ok = ok && (std::isalnum(c) || c == '.' || c == '_' || c == '-');
    require(ok, {"name"},
            fmt::format("'{}' names the run directory: use letters, digits, '.', '_', '-'", n));
  }

  void check_model() {
    const cfg::Model& m = r_.model();
    require(m.width() % m.heads() == 0, {"model.heads", "model.width"},
            fmt::format("{} does not divide model.width {}", m.heads(), m.width()));
    require(m.kv_heads() == 0 || m.heads() % m.kv_heads() == 0, {"model.kv_heads", "model.heads"},
            fmt::format("{} does not divide model.heads {}", m.kv_heads(), m.heads()));
    require(m.positional() != cfg::Model::ROPE || head_dim(m) % 2 == 0,
            {"model.positional", "model.width", "model.heads"},
            fmt::format("ROPE needs an even head_dim, got model.width / model.heads = {}",
                        head_dim(m)));
    const double hidden = m.mlp_ratio() * m.width();
    require(
        hidden >= 1 && std::abs(hidden - std::round(hidden)) < 1e-9,
        {"model.mlp_ratio", "model.width"},
        fmt::format("mlp_ratio * width = {} must be a whole number of at least 1", number(hidden)));
    check_model_size();
  }

  // Sizes multiply: computed in double (no overflow) and bounded before anything is allocated,
  // so an absurd width or depth is a recipe error, not a crash or minutes of model building.
  void check_model_size() {
    const cfg::Model& m = r_.model();
    const double layers = m.layers();
    const double params = estimated_parameters(m);
    require(layers <= kMaxLayers, {"model.layers"},
            fmt::format("{} blocks; attnlab builds at most {}", m.layers(), kMaxLayers));
    require(params <= kMaxParameters, {"model.width", "model.layers", "model.vocab_size"},
            fmt::format("the model would have {:.3g} parameters ({:.3g} GiB of f32 weights); "
                        "attnlab trains at most {:.3g}",
                        params, params * 4 / (1024.0 * 1024 * 1024), kMaxParameters));
    const double tokens = static_cast<double>(r_.data().batch_size()) * m.seq_len();
    require(tokens <= kMaxTokens, {"data.batch_size", "model.seq_len"},
            fmt::format("{} rows of {} tokens are {:.3g} tokens a step; batches index tokens with "
                        "int32, so at most {}",
                        r_.data().batch_size(), m.seq_len(), tokens, kMaxTokens));
  }
  // 4e10 f32 parameters are 150 GiB of weights alone (600 GiB with gradients and AdamW moments):
  // past any one machine this trainer runs on. Blocks are built one by one; 4096 of them is
  // already far deeper than any model studied here.
  static constexpr double kMaxParameters = 4e10;
  static constexpr int kMaxLayers = 4096;
  static constexpr double kMaxTokens = 2147483647.0;

  void check_data() {
    const cfg::Data& d = r_.data();
    switch (d.corpus()) {
      case cfg::Data::BROWN:
        require(!d.dir().empty(), {"data.dir", "data.corpus"}, "must be set for corpus BROWN");
        break;
      case cfg::Data::SHARDS:
        require(d.train_size() > 0, {"data.train", "data.corpus"},
                "corpus SHARDS needs at least one training shard");
        require(d.val_size() > 0, {"data.val", "data.corpus"},
                "corpus SHARDS needs at least one validation shard");
        break;
      case cfg::Data::SFT:
        require(d.train_size() > 0 && d.val_size() > 0, {"data.train", "data.corpus"},
                "corpus SFT needs data.train and data.val JSONL files (data.test optional)");
        break;
      default:
        break;
    }
    const bool examples = d.corpus() == cfg::Data::SFT || d.corpus() == cfg::Data::SYNTHETIC;
    require(!examples || d.examples().targets() != cfg::Examples::ALL ||
                d.examples().mask() == cfg::Examples::CAUSAL,
            {"data.examples.targets", "data.examples.mask"},
            "ALL learns every next token, which a bidirectional context run would see: use "
            "mask CAUSAL");
    // Byte tokens: the bound is exact, so it is checked before anything is generated.
    require(d.corpus() != cfg::Data::SYNTHETIC || d.tokenizer() != cfg::Data::BYTES ||
                d.synthetic().length() <= r_.model().seq_len(),
            {"data.synthetic.length", "model.seq_len"},
            fmt::format("{} bytes per example do not fit model.seq_len {} byte tokens",
                        d.synthetic().length(), r_.model().seq_len()));
    require(d.test_size() == 0 || d.corpus() == cfg::Data::SFT, {"data.test", "data.corpus"},
            "test files are read for corpus SFT only");
    check_bigram_backcopy();
    const int symbols = (d.tokenizer() == cfg::Data::BPE       ? d.bpe_vocab_size()
                         : d.tokenizer() == cfg::Data::SYMBOLS ? d.bigram_backcopy().vocab()
                                                               : 256) +
                        (d.bos() ? 1 : 0);
    require(
        r_.model().vocab_size() >= symbols,
        {"model.vocab_size", "data.tokenizer", "data.bpe_vocab_size", "data.bos"},
        fmt::format("{} is smaller than the {} symbols of tokenizer {}{}", r_.model().vocab_size(),
                    symbols, cfg::Data::Tokenizer_Name(d.tokenizer()), d.bos() ? " with BOS" : ""));
    require(d.batch_size() % r_.train().micro_batches() == 0,
            {"train.micro_batches", "data.batch_size"},
            fmt::format("{} does not divide data.batch_size {}", r_.train().micro_batches(),
                        d.batch_size()));
    require(r_.parallel().mode() != cfg::Parallel::CAD || d.pack_documents(),
            {"parallel.mode", "data.pack_documents"},
            "CAD balances packed documents: needs data.pack_documents true");
  }

  // data.bos and the Bigram-Backcopy corpus, whose symbols only it uses.
  void check_bigram_backcopy() {
    const cfg::Data& d = r_.data();
    const bool bb = d.corpus() == cfg::Data::BIGRAM_BACKCOPY;
    require(bb == (d.tokenizer() == cfg::Data::SYMBOLS), {"data.tokenizer", "data.corpus"},
            bb ? "corpus BIGRAM_BACKCOPY has its own symbols: set data.tokenizer: SYMBOLS"
               : "SYMBOLS are the symbols of corpus BIGRAM_BACKCOPY only");
    require(!bb || d.bos(), {"data.bos", "data.corpus"},
            "Bigram-Backcopy sequences start with BOS by definition: set data.bos: true");
    require(!d.bos() || d.corpus() == cfg::Data::BROWN || d.corpus() == cfg::Data::SHARDS || bb,
            {"data.bos", "data.corpus"},
            fmt::format("BOS is prepended to documents of token corpora (BROWN, SHARDS, "
                        "BIGRAM_BACKCOPY), not to {} examples",
                        cfg::Data::Corpus_Name(d.corpus())));
    require(!d.bos() || r_.model().seq_len() >= 2, {"data.bos", "model.seq_len"},
            "a row of one token would hold only the BOS");
    const cfg::BigramBackcopy& b = d.bigram_backcopy();
    require(!bb || b.triggers() <= b.vocab() - 2,
            {"data.bigram_backcopy.triggers", "data.bigram_backcopy.vocab"},
            fmt::format("{} triggers leave fewer than 2 of the {} symbols to copy", b.triggers(),
                        b.vocab()));
  }

  void check_training() {
    const cfg::Train& t = r_.train();
    require(r_.optim().warmup_steps() <= t.steps(), {"optim.warmup_steps", "train.steps"},
            fmt::format("{} exceeds train.steps {}", r_.optim().warmup_steps(), t.steps()));
    require(r_.model().dtype() != cfg::BF16, {"model.dtype"},
            "parameters are kept in F32; for mixed precision set train.precision BF16");
    require(t.precision() != cfg::BF16 || t.device() == cfg::CUDA,
            {"train.precision", "train.device"}, "BF16 matrix products need train.device CUDA");
    require(!r_.parallel().zero1() || r_.parallel().mode() != cfg::Parallel::NONE,
            {"parallel.zero1", "parallel.mode"},
            "shards over ranks: needs parallel.mode DATA_PARALLEL or CAD");
    require(!r_.parallel().deterministic_reduce() || r_.parallel().mode() != cfg::Parallel::NONE,
            {"parallel.deterministic_reduce", "parallel.mode"},
            "reduces over ranks: needs parallel.mode DATA_PARALLEL or CAD");
    if (r_.procedure().kind() == cfg::Procedure::FOCUS_SFT) {
      const cfg::FocusSft& f = r_.procedure().focus_sft();
      require(f.lora_rank() <= r_.model().width(), {"procedure.focus_sft.lora_rank", "model.width"},
              fmt::format("{} exceeds model.width {}", f.lora_rank(), r_.model().width()));
      // The inner loop's fast-weight gradients are summed by a plain all-reduce.
      require(!r_.parallel().deterministic_reduce(),
              {"parallel.deterministic_reduce", "procedure.kind"},
              "not available with FOCUS_SFT yet: use the bucketed reduction");
    }
  }

  // CAD's runtime moves plain causal core attention (no sink, no window, no row statistics) of
  // packed pretraining documents on the CPU; everything else would quietly run local.
  void check_cad() {
    if (r_.parallel().mode() != cfg::Parallel::CAD) return;
    const char* why = "CAD moves plain causal core attention only";
    require(r_.attention().kind() != cfg::Attention::SINK, {"attention.kind", "parallel.mode"},
            fmt::format("{}: SINK adds a sink column", why));
    require(r_.attention().window() == 0, {"attention.window", "parallel.mode"},
            fmt::format("{}: a window needs no whole prefix", why));
    require(r_.losses().adl().weight() == 0 && r_.losses().aem().weight() == 0,
            {r_.losses().adl().weight() != 0 ? "losses.adl.weight" : "losses.aem.weight",
             "parallel.mode"},
            fmt::format("{}: the attention losses need its row statistics", why));
    require(r_.procedure().kind() != cfg::Procedure::FOCUS_SFT, {"procedure.kind", "parallel.mode"},
            fmt::format("{}: FOCUS_SFT's segment masks and inner loop are not", why));
    require(r_.data().corpus() != cfg::Data::SFT && r_.data().corpus() != cfg::Data::SYNTHETIC,
            {"data.corpus", "parallel.mode"},
            fmt::format("{}: fine-tuning examples carry segment masks; use BROWN or SHARDS", why));
    require(r_.train().device() != cfg::CUDA, {"train.device", "parallel.mode"},
            "CAD runs over MPI on the CPU for now (the NCCL executor is not built)");
    const cfg::Cad& c = r_.parallel().cad();
    require(c.cost_model() != cfg::Cad::CALIBRATED || !c.calibration().empty(),
            {"parallel.cad.calibration", "parallel.cad.cost_model"},
            "CALIBRATED needs the cost curve JSON of attnlab_bench_cad_calibrate");
  }

  // Last, so a recipe with a plain mistake hears about that first.
  void check_unbuilt() {
    for (const UnbuiltFeature& f : unbuilt_features())
      require(!f.active(r_), {std::string(f.switch_field)},
              fmt::format("{} is not built yet", f.what));
  }

  void check_layer_lists(const std::string& field, const pb::RepeatedField<int32_t>& layers) {
    std::set<int> seen;
    for (int i = 0; i < layers.size(); ++i) {
      const std::string at = fmt::format("{}[{}]", field, i);
      require(
          layers[i] < r_.model().layers(), {at, "model.layers"},
          fmt::format("layer {} does not exist (model.layers {})", layers[i], r_.model().layers()));
      require(seen.insert(layers[i]).second, {at}, fmt::format("layer {} listed twice", layers[i]));
    }
  }

  void check_head_list(const std::string& field, const pb::RepeatedField<int32_t>& heads) {
    std::set<int> seen;
    for (int i = 0; i < heads.size(); ++i) {
      const std::string at = fmt::format("{}[{}]", field, i);
      require(heads[i] < r_.model().heads(), {at, "model.heads"},
              fmt::format("head {} does not exist (model.heads {})", heads[i], r_.model().heads()));
      require(seen.insert(heads[i]).second, {at}, fmt::format("head {} listed twice", heads[i]));
    }
  }

  const cfg::Recipe& r_;
  const Origins& origins_;
};

}  // namespace

void validate_recipe(const cfg::Recipe& recipe, const Origins& origins) {
  RangeWalker(origins).walk(recipe);
  Rules(recipe, origins).check_all();
}

}  // namespace attn::config::detail

namespace attn::config {

void register_recipe_rule(const std::string& name, RecipeRule rule) {
  std::lock_guard<std::mutex> lock(detail::rules_mutex());
  detail::rule_registry()[name] = std::move(rule);
}

}  // namespace attn::config
