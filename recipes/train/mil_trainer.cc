#include "recipes/train/mil_trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <optional>

#include <nlohmann/json.hpp>

#include "framework/autograd/tape.h"
#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/core/version.h"
#include "framework/ops/cross_entropy.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/softmax.h"
#include "framework/rng/philox.h"
#include "layers/losses/aem_mil.h"
#include "layers/models/abmil.h"
#include "layers/models/word_bag_encoder.h"
#include "optim/grad_clip.h"
#include "recipes/data/mil_bags.h"
#include "recipes/run/checkpoint.h"
#include "recipes/run/metrics_log.h"
#include "recipes/run/progress.h"
#include "recipes/run/run_dir.h"
#include "recipes/run/run_log.h"
#include "recipes/run/stop_signals.h"
#include "recipes/train/from_recipe.h"
#include "recipes/train/mil_metrics.h"

namespace attn {

namespace {

namespace cfg = attnlab::config;
using Clock = std::chrono::steady_clock;

// The model of one run: the encoder (Brown bags only) and the classifier over its features.
class MilModel {
 public:
  MilModel(ParamStore& store, const cfg::Recipe& r, int64_t instance_dim) {
    const cfg::Abmil& a = r.model().abmil();
    if (instance_dim == 0)
      encoder_.emplace(store, a.encoder_buckets(), a.encoder_width(), a.init_std());
    AbmilConfig c;
    c.input_dim = instance_dim > 0 ? instance_dim : a.encoder_width();
    c.hidden = a.hidden();
    c.attention_dim = a.attention_dim();
    c.classes = 2;
    c.init_std = a.init_std();
    abmil_ = std::make_unique<Abmil>(store, c);
  }

  AbmilOutput forward(const MilBag& bag, DType dtype) const {
    if (encoder_) return abmil_->forward(encoder_->forward(bag.words, bag.word_offsets));
    const int64_t dim = abmil_->config().input_dim;
    return abmil_->forward(
        Tensor::from_vector<float>({bag.instances, dim}, bag.features).to(dtype));
  }

 private:
  std::optional<WordBagEncoder> encoder_;
  std::unique_ptr<Abmil> abmil_;
};

// The bag order of epoch `epoch`: a Philox shuffle keyed by train.seed, so a resumed run sees
// the same bags in the same order.
std::vector<int64_t> epoch_order(int64_t bags, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> order(bags);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = bags - 1; i > 0; --i) {
    const PhiloxBlock b = philox4x32(seed, rng_stream(0x6d696c, epoch), static_cast<uint64_t>(i));
    std::swap(order[i], order[b[0] % static_cast<uint64_t>(i + 1)]);
  }
  return order;
}

// Entropy of one pooling distribution in nats.
double entropy_of(const std::vector<double>& p) {
  double h = 0;
  for (double x : p)
    if (x > 0) h -= x * std::log(x);
  return h;
}

class MilTrainer {
 public:
  MilTrainer(const cfg::Recipe& recipe, const TrainOptions& options)
      : recipe_(recipe),
        options_(options),
        data_(load_mil_data(recipe.data(), recipe.model().abmil().encoder_buckets())),
        store_(DType::kF32),
        model_(store_, recipe, data_.train.instance_dim),
        progress_(recipe.train().steps(), options.quiet, stdout) {
    progress_.set_rate_unit("bags");
    store_.finalize();
    store_.initialize(recipe.train().seed());
    optimizer_ = make_optimizer(recipe, store_);
    schedule_ = schedule_options(recipe);
    run_ = open_run_dir(recipe, options.run_dir, options.resume);
  }

  TrainResult run() {
    TrainResult result;
    result.run_dir = run_.root;
    result.val_loss = result.val_bpb = result.val_accuracy = result.val_auc = std::nan("");
    if (options_.resume) resume();
    log_ = std::make_unique<RunLog>(run_.root, recipe_.log().tensorboard());
    const int64_t steps = recipe_.train().steps();
    progress_.message(fmt::format(
        "train {}: ABMIL, {} parameters, {} steps of {} bags ({} train / {} val bags), run dir {}",
        recipe_.name(), format_si(static_cast<double>(store_.num_elements())), steps,
        recipe_.data().batch_size(), data_.train.bags.size(), data_.val.bags.size(), run_.root));
    StopSignals signals;
    int64_t window_bags = 0;
    Clock::time_point window_start = Clock::now();
    while (step_ < steps) {
      const Clock::time_point t0 = Clock::now();
      const auto [loss, aem, norm] = train_step();
      elapsed_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
      ++step_;
      window_bags += recipe_.data().batch_size();
      result.last_loss = loss;
      const double window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double bags_s = window_s > 0 ? static_cast<double>(window_bags) / window_s : 0.0;
      const bool log_now = step_ % recipe_.log().every() == 0 || step_ == steps || step_ == 1;
      if (progress_.tty() || log_now) progress_.update(step_, loss, bags_s);
      if (log_now) {
        nlohmann::json row{{"step", step_},     {"loss", loss},         {"lr", lr_},
                           {"grad_norm", norm}, {"bags_per_s", bags_s}, {"elapsed_s", elapsed_s_}};
        if (recipe_.losses().aem().weight() > 0) row["aux_loss"] = row["loss/aem/pooling"] = aem;
        log_row(row);
        window_bags = 0;
        window_start = Clock::now();
      }
      const int64_t eval_every = recipe_.train().eval_every();
      if ((eval_every > 0 && step_ % eval_every == 0) || step_ == steps) validate(result);
      const int64_t ckpt_every = recipe_.train().checkpoint_every();
      const bool stop = StopSignals::last() != 0 || step_ == options_.stop_after;
      if ((ckpt_every > 0 && step_ % ckpt_every == 0) || step_ == steps || stop) save();
      if (stop) {
        result.interrupted = true;
        progress_.message(fmt::format("stopped after step {} ({}); resume with --resume", step_,
                                      StopSignals::last() ? "signal" : "--stop-after"));
        break;
      }
    }
    progress_.finish();
    render();
    result.steps_done = step_;
    return result;
  }

 private:
  struct StepValues {
    double loss, aem, grad_norm;
  };

  const MilBag& next_bag() {
    const int64_t n = static_cast<int64_t>(data_.train.bags.size());
    if (order_.empty()) order_ = epoch_order(n, recipe_.train().seed(), epoch_);
    const MilBag& bag = data_.train.bags[order_[cursor_]];
    if (++cursor_ == static_cast<uint64_t>(n)) {
      cursor_ = 0;
      ++epoch_;
      order_.clear();
    }
    return bag;
  }

  // Mean over data.batch_size bags of cross-entropy + weight * negative pooling entropy.
  StepValues train_step() {
    lr_ = learning_rate(schedule_, step_);
    optimizer_->set_lr(lr_);
    const int64_t bags = recipe_.data().batch_size();
    const double weight = recipe_.losses().aem().weight();
    store_.zero_grad();
    StepValues v{0, 0, 0};
    for (int64_t b = 0; b < bags; ++b) {
      const MilBag& bag = next_bag();
      const AbmilOutput out = model_.forward(bag, store_.dtype());
      Tensor l = cross_entropy(out.logits, Tensor::from_vector<int32_t>({1}, {bag.label}));
      v.loss += l.item() / static_cast<double>(bags);
      // Weight 0 adds no term at all, so such a run is the unregularised one bit for bit.
      if (weight > 0) {
        const Tensor term = scale(pooling_negative_entropy(out.scores), weight);
        v.aem += term.item() / static_cast<double>(bags);
        l = add(l, term);
      }
      backward(scale(l, 1.0 / static_cast<double>(bags)));
    }
    if (!std::isfinite(v.loss + v.aem))
      throw Error(
          ErrorKind::kNumeric, fmt::format("step {}", step_ + 1),
          fmt::format("training loss is {} (lr {:.3g}); lower optim.lr", v.loss + v.aem, lr_));
    v.grad_norm = clip_grad_norm(store_, recipe_.optim().grad_clip());
    optimizer_->step();
    return v;
  }

  void validate(TrainResult& result) {
    NoGrad no_grad;
    std::vector<double> positive;
    std::vector<int32_t> labels;
    double nats = 0, entropy = 0, entropy_norm = 0, key_mass = 0;
    int64_t correct = 0, multi = 0, keyed = 0;
    for (const MilBag& bag : data_.val.bags) {
      const AbmilOutput out = model_.forward(bag, store_.dtype());
      const std::vector<double> logits = out.logits.to(DType::kF64).to_vector<double>();
      const std::vector<double> p = out.weights.to(DType::kF64).to_vector<double>();
      const double m = std::max(logits[0], logits[1]);
      const double lse = m + std::log(std::exp(logits[0] - m) + std::exp(logits[1] - m));
      nats += lse - logits[bag.label];
      positive.push_back(logits[1] - logits[0]);  // monotone in P(label 1)
      labels.push_back(bag.label);
      correct += (logits[1] > logits[0] ? 1 : 0) == bag.label;
      const double h = entropy_of(p);
      entropy += h;
      if (bag.instances > 1)
        entropy_norm += h / std::log(static_cast<double>(bag.instances)), ++multi;
      if (!bag.keys.empty()) {
        for (int64_t k : bag.keys) key_mass += p[k];
        ++keyed;
      }
    }
    const double n = static_cast<double>(data_.val.bags.size());
    result.val_loss = nats / n;
    result.val_accuracy = static_cast<double>(correct) / n;
    result.val_auc = roc_auc(positive, labels);
    nlohmann::json row{{"step", step_},
                       {"val_loss", result.val_loss},
                       {"val_accuracy", result.val_accuracy},
                       {"val/attn/pool_entropy", entropy / n}};
    if (std::isfinite(result.val_auc)) row["val_auc"] = result.val_auc;
    if (multi > 0) row["val/attn/pool_entropy_norm"] = entropy_norm / static_cast<double>(multi);
    if (keyed > 0) row["val/attn/key_mass"] = key_mass / static_cast<double>(keyed);
    log_row(row);
    progress_.message(fmt::format("step {}: val loss {:.4f}, accuracy {:.4f}, AUC {:.4f} ({} bags)",
                                  step_, result.val_loss, result.val_accuracy, result.val_auc,
                                  data_.val.bags.size()));
    render();
  }

  void log_row(const nlohmann::json& row) { log_->row(row, step_); }
  void render() { log_->render(progress_); }

  void save() {
    CheckpointState s;
    s.set_step(step_);
    s.set_seed(recipe_.train().seed());
    s.mutable_data()->set_epoch(epoch_);
    s.mutable_data()->set_cursor(cursor_);
    s.set_world_size(1);
    s.set_recipe_hash(config::recipe_hash_hex(recipe_));
    s.set_tokens_seen(step_ * recipe_.data().batch_size());  // bags, for this model kind
    s.set_elapsed_s(elapsed_s_);
    s.set_optimizer(recipe_.optim().kind() == cfg::Optim::SGD ? "sgd" : "adamw");
    s.set_attnlab_version(kVersion);
    const std::string dir = save_checkpoint(run_.checkpoints(), store_, optimizer_->state(), s,
                                            recipe_.train().keep_last());
    progress_.message(fmt::format("step {}: checkpoint {}", step_, dir));
  }

  void resume() {
    std::string dir;
    auto warn = [&](const std::string& w) { progress_.warn(w); };
    const std::optional<CheckpointState> s =
        resume_latest(run_.checkpoints(), store_, *optimizer_, warn, &dir);
    if (!s) {
      progress_.warn("no complete checkpoint in " + run_.checkpoints() + ": starting at step 0");
      truncate_metrics_after(run_.metrics(), 0);
      return;
    }
    if (s->recipe_hash() != config::recipe_hash_hex(recipe_))
      throw Error(ErrorKind::kInput, dir, "checkpoint was written by a different recipe");
    if (s->data().cursor() >= data_.train.bags.size())
      throw Error(ErrorKind::kInput, dir,
                  fmt::format("bag cursor {} outside the {} training bags", s->data().cursor(),
                              data_.train.bags.size()));
    step_ = s->step();
    elapsed_s_ = s->elapsed_s();
    epoch_ = s->data().epoch();
    cursor_ = s->data().cursor();
    truncate_metrics_after(run_.metrics(), step_);
    progress_.message(fmt::format("resumed from {} (step {})", dir, step_));
  }

  const cfg::Recipe& recipe_;
  TrainOptions options_;
  MilData data_;
  ParamStore store_;
  MilModel model_;
  Progress progress_;
  std::unique_ptr<Optimizer> optimizer_;
  ScheduleOptions schedule_;
  RunDir run_;
  std::unique_ptr<RunLog> log_;
  std::vector<int64_t> order_;
  uint64_t epoch_ = 0, cursor_ = 0;
  int64_t step_ = 0;
  double elapsed_s_ = 0, lr_ = 0;
};

}  // namespace

// Refuses, before anything is allocated, a model or a generated data set that cannot fit this
// machine's memory (absurd widths or bag counts would otherwise end in std::bad_alloc).
void check_fits_host_memory_mil(const cfg::Recipe& r) {
  const cfg::Abmil& a = r.model().abmil();
  const cfg::Mil& m = r.data().mil();
  const bool planted = m.source() == cfg::Mil::PLANTED_KEYS;
  const double in = planted ? m.instance_dim() : a.encoder_width();
  const double h = a.hidden(), d = a.attention_dim();
  const double params = (planted ? 0.0 : static_cast<double>(a.encoder_buckets()) * in) + in * h +
                        2 * (h * d + d) + d + 1 + 2 * h + 2;
  // f32 weights, gradients and two AdamW moments; the generated bags' features.
  const double weights = 16 * params;
  const double bags = planted ? 4.0 * (static_cast<double>(m.train_bags()) + m.val_bags()) * 0.5 *
                                    (m.min_instances() + m.max_instances()) * m.instance_dim()
                              : 0.0;
  const double have =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (have <= 0 || weights + bags <= have) return;
  constexpr double GiB = 1024.0 * 1024 * 1024;
  throw Error(ErrorKind::kConfig, "model.abmil, data.mil",
              fmt::format("ABMIL would need about {:.3g} GiB ({:.3g} GiB of weights, gradients and "
                          "moments for {:.3g} parameters; {:.3g} GiB of generated bags), this "
                          "machine has {:.3g} GiB",
                          (weights + bags) / GiB, weights / GiB, params, bags / GiB, have / GiB));
}

TrainResult train_mil(const config::Recipe& recipe, const TrainOptions& options) {
  if (options.comm && options.comm->world_size() > 1)
    throw Error(ErrorKind::kConfig, "model.kind",
                fmt::format("ABMIL trains on one process; started on {} ranks",
                            options.comm->world_size()));
  check_fits_host_memory_mil(recipe);
  MilTrainer trainer(recipe, options);
  return trainer.run();
}

}  // namespace attn
