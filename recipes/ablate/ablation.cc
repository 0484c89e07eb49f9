#include "recipes/ablate/ablation.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <google/protobuf/text_format.h>

#include "framework/config/recipe_internal.h"
#include "framework/config/text_format_errors.h"
#include "framework/core/error.h"

namespace attn {

namespace pb = google::protobuf;
namespace fs = std::filesystem;

namespace {

constexpr double kDefaultSpikeRatio = 1.05;

// "file:line" of a field the text wrote, from the parser's location tree; the file alone when
// the field was not written. `path` is (field name, index) steps; index -1 for singular fields.
class Locator {
 public:
  Locator(std::string file, const pb::TextFormat::ParseInfoTree* tree)
      : file_(std::move(file)), tree_(tree) {}

  std::string at(const std::vector<std::pair<std::string, int>>& path) const {
    const pb::Descriptor* type = Ablation::descriptor();
    const pb::TextFormat::ParseInfoTree* tree = tree_;
    for (size_t i = 0; tree != nullptr && type != nullptr && i < path.size(); ++i) {
      const pb::FieldDescriptor* f = type->FindFieldByName(path[i].first);
      if (f == nullptr) break;
      const int index = f->is_repeated() ? std::max(path[i].second, 0) : -1;
      if (i + 1 < path.size()) {
        tree = tree->GetTreeForNested(f, index);
        type = f->message_type();
        continue;
      }
      // A list written as `f: [a, b]` records one location for all its elements.
      for (int k = index; k >= -1; --k) {
        const int line = tree->GetLocation(f, k).line;
        if (line >= 0) return fmt::format("{}:{}", file_, line + 1);
        if (k <= 0) break;
      }
    }
    return file_;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const pb::TextFormat::ParseInfoTree* tree_;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error(ErrorKind::kConfig, where, what);
}

bool is_name(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// An override as the ablation writes it: path=value, and never train.seed (the seeds list owns
// it; an arm setting it would silently run the same seed several times).
void check_override(const Locator& loc, const std::vector<std::pair<std::string, int>>& path,
                    const std::string& field, const std::string& set) {
  const size_t eq = set.find('=');
  if (eq == std::string::npos)
    fail(loc.at(path), fmt::format("{}: \"{}\" is not path=value", field, set));
  if (trim(set.substr(0, eq)) == "train.seed")
    fail(loc.at(path),
         fmt::format("{}: train.seed comes from `seeds`; list the seed there", field));
}

void validate(Ablation* a, const Locator& loc) {
  if (!is_name(a->name()))
    fail(loc.at({{"name", -1}}),
         fmt::format("name: \"{}\" must be non-empty letters, digits, '.', '_' or '-'", a->name()));
  if (a->base().empty()) fail(loc.at({{"base", -1}}), "base: the base recipe is required");
  for (int i = 0; i < a->set_size(); ++i)
    check_override(loc, {{"set", i}}, fmt::format("set[{}]", i), a->set(i));

  if (a->arm_size() == 0) fail(loc.file(), "arm: at least one arm is required");
  std::map<std::string, int> arms;
  for (int i = 0; i < a->arm_size(); ++i) {
    const Ablation::Arm& arm = a->arm(i);
    const std::string field = fmt::format("arm[{}].name", i);
    if (!is_name(arm.name()))
      fail(loc.at({{"arm", i}, {"name", -1}}),
           fmt::format("{}: \"{}\" must be non-empty letters, digits, '.', '_' or '-'", field,
                       arm.name()));
    // The arm's directory sits next to plots/ and the results files.
    for (const char* reserved : {".", "..", "plots", "results.md", "results.csv"})
      if (arm.name() == reserved)
        fail(loc.at({{"arm", i}, {"name", -1}}),
             fmt::format("{}: \"{}\" is reserved for the results", field, arm.name()));
    if (auto [it, fresh] = arms.emplace(arm.name(), i); !fresh)
      fail(loc.at({{"arm", i}, {"name", -1}}),
           fmt::format("{}: duplicate arm name \"{}\" (arm[{}] has it too)", field, arm.name(),
                       it->second));
    for (int j = 0; j < arm.set_size(); ++j)
      check_override(loc, {{"arm", i}, {"set", j}}, fmt::format("arm[{}].set[{}]", i, j),
                     arm.set(j));
  }

  if (a->seeds_size() == 0) fail(loc.file(), "seeds: at least one seed is required");
  std::map<int64_t, int> seeds;
  for (int i = 0; i < a->seeds_size(); ++i) {
    const int64_t s = a->seeds(i);
    if (s < 0) fail(loc.at({{"seeds", i}}), fmt::format("seeds[{}]: {} is negative", i, s));
    if (auto [it, fresh] = seeds.emplace(s, i); !fresh)
      fail(loc.at({{"seeds", i}}),
           fmt::format("seeds[{}]: duplicate seed {} (seeds[{}] has it too)", i, s, it->second));
  }

  if (a->metric_size() == 0) {
    for (const char* key : {"val_loss", "val_bpb"}) a->add_metric()->set_key(key);
  }
  std::map<std::string, int> stems;
  for (int i = 0; i < a->metric_size(); ++i) {
    AblationMetric* m = a->mutable_metric(i);
    if (m->key().empty()) fail(loc.at({{"metric", i}}), fmt::format("metric[{}].key: is empty", i));
    if (m->reduce() == AblationMetric::REDUCE_UNSPECIFIED) m->set_reduce(AblationMetric::LAST);
    if (m->label().empty())
      m->set_label(m->reduce() == AblationMetric::LAST
                       ? m->key()
                       : m->key() + "_" + lower(AblationMetric::Reduce_Name(m->reduce())));
    // Each label names a column and plots/<label>.png, beside the loss curves' plots/loss.png.
    const std::string stem = label_file_stem(m->label());
    const std::string where = loc.at({{"metric", i}});
    if (stem == "loss")
      fail(where, fmt::format("metric[{}].label: \"{}\" would overwrite plots/loss.png (the loss "
                              "curves); set a label, e.g. label: \"final_loss\"",
                              i, m->label()));
    if (auto [it, fresh] = stems.emplace(stem, i); !fresh)
      fail(where, fmt::format("metric[{}].label: \"{}\" is taken by metric[{}] (labels name "
                              "columns and plots/{}.png); set a distinct label",
                              i, m->label(), it->second, stem));
  }

  if (a->processes() < 0)
    fail(loc.at({{"processes", -1}}), fmt::format("processes: {} is negative", a->processes()));
  if (a->processes() == 0) a->set_processes(1);
  if (a->spike_ratio() == 0) a->set_spike_ratio(kDefaultSpikeRatio);
  if (!std::isfinite(a->spike_ratio()) || a->spike_ratio() < 1)
    fail(loc.at({{"spike_ratio", -1}}),
         fmt::format("spike_ratio: {} must be a finite number >= 1", a->spike_ratio()));
  if (a->out_dir().empty()) a->set_out_dir("runs/ablations/" + a->name());
}

Ablation parse(const std::string& text, const std::string& display_name,
               pb::TextFormat::ParseInfoTree* tree) {
  Ablation a;
  config::detail::TextFormatErrors errors(Ablation::descriptor());
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(tree);
  if (!parser.ParseFromString(text, &a)) errors.raise(text, display_name, ErrorKind::kConfig);
  validate(&a, Locator(display_name, tree));
  return a;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, fmt::format("cannot open ablation: {}", std::strerror(errno)));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) fail(path, "cannot read ablation");
  return s.str();
}

// Rethrows a recipe error of one arm at the line of the override that caused it (the arm's own
// `set`, else the ablation's), or at the arm, naming the arm either way.
[[noreturn]] void fail_arm(const Ablation& a, int arm, const Locator& loc, const Error& e) {
  std::string where = loc.at({{"arm", arm}, {"name", -1}});
  for (int j = 0; j < a.arm(arm).set_size(); ++j)
    if (e.where() == "--set " + a.arm(arm).set(j)) where = loc.at({{"arm", arm}, {"set", j}});
  for (int j = 0; j < a.set_size(); ++j)
    if (e.where() == "--set " + a.set(j)) where = loc.at({{"set", j}});
  throw Error(e.kind(), where, fmt::format("arm \"{}\": {}", a.arm(arm).name(), e.what()));
}

}  // namespace

Ablation load_ablation_from_string(const std::string& text, const std::string& display_name) {
  pb::TextFormat::ParseInfoTree tree;
  return parse(text, display_name, &tree);
}

Ablation load_ablation(const std::string& path) {
  return load_ablation_from_string(read_text(path), path);
}

AblationPlan plan_ablation(const std::string& path, const PlanOptions& options) {
  const std::string text = read_text(path);
  pb::TextFormat::ParseInfoTree tree;
  AblationPlan plan;
  plan.ablation = parse(text, path, &tree);
  plan.file = path;
  const Ablation& a = plan.ablation;
  const Locator loc(path, &tree);
  plan.base = (fs::path(path).parent_path() / a.base()).lexically_normal().string();
  plan.out_dir = options.out_dir.empty() ? a.out_dir() : options.out_dir;
  std::error_code ec;
  if (!fs::is_regular_file(plan.base, ec))
    fail(loc.at({{"base", -1}}), fmt::format("base: no recipe file at {}", plan.base));
  for (int i = 0; i < a.arm_size(); ++i) {
    for (const int64_t seed : a.seeds()) {
      AblationRun run;
      run.arm = a.arm(i).name();
      run.seed = seed;
      run.run_dir = (fs::path(plan.out_dir) / run.arm / fmt::format("seed{}", seed)).string();
      run.overrides.assign(a.set().begin(), a.set().end());
      run.overrides.insert(run.overrides.end(), options.sets.begin(), options.sets.end());
      run.overrides.insert(run.overrides.end(), a.arm(i).set().begin(), a.arm(i).set().end());
      run.overrides.push_back(fmt::format("train.seed={}", seed));
      try {
        run.recipe = config::load_recipe(plan.base, run.overrides);
      } catch (const Error& e) {
        fail_arm(a, i, loc, e);
      }
      plan.runs.push_back(std::move(run));
    }
  }
  return plan;
}

std::vector<const AblationRun*> runs_of_arm(const AblationPlan& plan, const std::string& arm) {
  std::vector<const AblationRun*> out;
  for (const AblationRun& r : plan.runs)
    if (r.arm == arm) out.push_back(&r);
  return out;
}

std::string label_file_stem(const std::string& label) {
  std::string out = label;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  return out;
}

}  // namespace attn
