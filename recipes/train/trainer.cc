#include "recipes/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/param_store.h"
#include "framework/core/threads.h"
#include "framework/core/version.h"
#include "framework/io/tensorboard.h"
#include "framework/ops/matmul.h"
#include "layers/attention/core_attention_executor.h"
#include "layers/losses/recipe_losses.h"
#include "parallel/cad/cad_executor.h"
#include "parallel/cad/calibration.h"
#include "parallel/data_parallel.h"
#include "parallel/gradient_sync.h"
#include "parallel/zero1.h"
#include "recipes/data/loader.h"
#include "recipes/procedures/focus_sft.h"
#include "recipes/procedures/procedure.h"
#include "recipes/run/checkpoint.h"
#include "recipes/run/fault_injection.h"
#include "recipes/run/metrics_log.h"
#include "recipes/run/progress.h"
#include "recipes/run/run_dir.h"
#include "recipes/run/run_log.h"
#include "recipes/run/stop_signals.h"
#include "recipes/train/data_source.h"
#include "recipes/train/evaluate.h"
#include "recipes/train/from_recipe.h"
#include "recipes/train/load_run.h"
#include "recipes/train/mil_trainer.h"

namespace attn {

namespace {

using Clock = std::chrono::steady_clock;

// Which GPU this process uses (mod the GPUs visible): the one NCCL was set up on, else this
// process's index among the ranks on its machine (Open MPI says so in the environment), else
// the world rank.
int gpu_slot(const Communicator& device_comm, const Communicator& comm) {
  if (device_comm.buffer_device().is_cuda()) return device_comm.buffer_device().index;
  if (const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) return std::atoi(s);
  return comm.rank();
}

// Where the model's core attention runs: in this process, or with CAD spread over the ranks as
// attention servers (parallel/cad).
std::unique_ptr<CoreAttentionExecutor> make_core_attention_executor(const config::Recipe& recipe,
                                                                    Communicator& comm) {
  const attnlab::config::Parallel& par = recipe.parallel();
  if (par.mode() != attnlab::config::Parallel::CAD) return std::make_unique<LocalCoreAttention>();
  cad::CadOptions o;
  o.planner.eps = par.cad().eps();
  o.planner.min_slice = par.cad().min_slice();
  o.planner.buffer_bytes = static_cast<int64_t>(par.cad().buffer_mb() * 1024 * 1024);
  o.resend = par.cad().backward() == attnlab::config::Cad::RESEND;
  if (par.cad().cost_model() == attnlab::config::Cad::CALIBRATED) {
    // Every rank reads the file; ranks that read different curves plan differently, and the
    // plans' hash check names them.
    const cad::CalibratedAttention c = cad::read_calibration(par.cad().calibration());
    o.planner.cost = cad::calibrated_cost_model(
        c, static_cast<int64_t>(recipe.model().heads()) * config::head_dim(recipe.model()));
  }
  return std::make_unique<cad::CadExecutor>(comm, o);
}

// Everything one training run holds; train() wires it up and runs the loop.
class Trainer {
 public:
  Trainer(const config::Recipe& recipe, const TrainOptions& options)
      : recipe_(recipe),
        options_(options),
        comm_(options.comm ? *options.comm : local_),
        device_comm_(options.device_comm ? *options.device_comm : comm_),
        lead_(comm_.rank() == 0),
        data_(open_data_source(recipe)),
        run_(RunDir{run_dir_path(recipe, options.run_dir)}),
        store_(DType::kF32, train_device(recipe, gpu_slot(device_comm_, comm_))),
        fast_weights_(DType::kF32, store_.device()),
        model_(store_, gpt_config(recipe), focus_sft_adapters(recipe, fast_weights_)),
        executor_(make_core_attention_executor(recipe, comm_)),
        progress_(recipe.train().steps(), options.quiet, lead_ ? stdout : nullptr) {
    model_.set_executor(executor_.get());
    attention_losses_ =
        make_attention_losses(recipe.losses(), recipe.model().layers(), recipe.model().heads());
    std::vector<const AttentionLoss*> losses;
    for (const auto& l : attention_losses_) losses.push_back(l.get());
    model_.set_attention_losses(losses);
    store_.finalize();
    store_.initialize(recipe.train().seed());
    // Zero until a procedure sets them: adapters of zeros leave the model the base model.
    if (!fast_weights_.params().empty()) fast_weights_.finalize();
    freeze_parameters(recipe, store_);
    schedule_ = schedule_options(recipe);
    set_up_parallelism();
    // Last, so that a recipe refused while building the model or optimizer leaves no run
    // directory behind.
    if (lead_) run_ = open_run_dir(recipe, options.run_dir, options.resume);
  }

  TrainResult run() {
    TrainResult result;
    result.run_dir = run_.root;
    result.val_loss = result.val_bpb = result.val_accuracy = result.val_auc = std::nan("");
    restore_or_start();
    if (lead_) {
      log_ = std::make_unique<RunLog>(run_.root, recipe_.log().tensorboard());
    }

    const int64_t steps = recipe_.train().steps();
    progress_.message(fmt::format(
        "train {}: {} parameters, {} steps of {} tokens, {} ranks x {}, run dir {}", recipe_.name(),
        format_si(static_cast<double>(store_.num_elements())), steps,
        format_si(static_cast<double>(recipe_.data().batch_size() * recipe_.model().seq_len())),
        comm_.world_size(),
        store_.device().is_cpu()
            ? fmt::format("{} threads", num_threads())
            : store_.device().str() +
                  (recipe_.train().precision() == attnlab::config::BF16 ? " (bf16 matmuls)" : ""),
        run_.root));
    // SIGINT/SIGTERM finish the current step, write a checkpoint and return, so Ctrl-C never
    // loses more than one step and never leaves a torn checkpoint.
    StopSignals signals;
    int64_t window_tokens = 0;
    Clock::time_point window_start = Clock::now();
    while (step_ < steps) {
      const Clock::time_point t0 = Clock::now();
      const auto [loss, norm, tokens, aux_loss, attention_losses, procedure_metrics] = train_step();
      elapsed_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
      ++step_;
      tokens_seen_ += tokens;
      window_tokens += tokens;
      result.last_loss = loss;

      const double window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double tok_s = window_s > 0 ? static_cast<double>(window_tokens) / window_s : 0.0;
      const bool log_now = step_ % recipe_.log().every() == 0 || step_ == steps || step_ == 1;
      // On a terminal the line redraws every step; in a log file one line per metrics row.
      if (progress_.tty() || log_now) progress_.update(step_, loss, tok_s);
      if (log_now) {
        nlohmann::json row{
            {"step", step_},          {"loss", loss},          {"lr", lr_},
            {"grad_norm", norm},      {"tokens_per_s", tok_s}, {"tokens", tokens_seen_},
            {"elapsed_s", elapsed_s_}};
        // Seconds this rank spent blocked on gradient reductions after backward (the part of
        // the all-reduce that did not overlap), summed over the run.
        if (const auto wait = sync_->wait_seconds()) row["allreduce_wait_s"] = *wait;
        if (aux_loss != 0) row["aux_loss"] = aux_loss;
        for (const auto& [key, value] : attention_losses) row[key] = value;
        for (const auto& [key, value] : procedure_metrics) row[key] = value;
        for (const auto& [key, value] : executor_->metrics()) row[key] = value;
        log_row(row);
        window_tokens = 0;
        window_start = Clock::now();
      }
      const int64_t eval_every = recipe_.train().eval_every();
      if ((eval_every > 0 && step_ % eval_every == 0) || step_ == steps) {
        const EvalResult e = validate();
        result.val_loss = e.loss;
        result.val_bpb = e.bpb;
      }
      const int64_t ckpt_every = recipe_.train().checkpoint_every();
      // Every rank must agree to stop at the same step, whichever received the signal.
      const bool stop = any_rank(StopSignals::last() != 0) || step_ == options_.stop_after;
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
  // Checks parallel.* against the world and builds the loader, optimizer and gradient reduction.
  void set_up_parallelism() {
    using Par = attnlab::config::Parallel;
    const Par& par = recipe_.parallel();
    const int world = comm_.world_size();
    const bool dp = par.mode() == Par::DATA_PARALLEL || par.mode() == Par::CAD;
    if (store_.device().is_cuda() && world > 1 && device_comm_.buffer_device() != store_.device())
      throw Error(ErrorKind::kInternal, "train.device",
                  fmt::format("{} ranks on {} need a communicator over GPU buffers (NCCL)", world,
                              store_.device().str()));
    if (store_.device().is_cuda() && (par.zero1() || par.deterministic_reduce()))
      throw Error(ErrorKind::kConfig,
                  par.zero1() ? "parallel.zero1" : "parallel.deterministic_reduce",
                  "not available on CUDA yet: use plain DATA_PARALLEL");
    if (world > 1 && !dp)
      throw Error(
          ErrorKind::kConfig, "parallel.mode",
          fmt::format("started on {} ranks: set DATA_PARALLEL or CAD (or run one process)", world));
    const int64_t rows = recipe_.data().batch_size();
    const int64_t micro = recipe_.train().micro_batches();
    if (par.deterministic_reduce() && micro != 1)
      // The sample groups are the micro-batches: one loader batch per rank, cut into groups.
      throw Error(ErrorKind::kConfig, "train.micro_batches",
                  "the deterministic reduction splits the batch into parallel.reduce_groups "
                  "itself: leave train.micro_batches at 1");
    if (par.zero1()) {
      auto zero = std::make_unique<Zero1Optimizer>(
          store_, comm_, [&](FlatRange shard) { return make_optimizer(recipe_, store_, shard); });
      if (!par.deterministic_reduce()) sync_ = make_zero1_sync(store_, comm_, *zero);
      optimizer_ = std::move(zero);
    } else {
      optimizer_ = make_optimizer(recipe_, store_);
    }
    if (par.deterministic_reduce()) {
      const int groups = par.reduce_groups();
      sync_ = make_tree_sync(store_, comm_, groups);
      if (rows % groups != 0)
        throw Error(ErrorKind::kConfig, "parallel.reduce_groups",
                    fmt::format("data.batch_size {} does not split into {} groups", rows, groups));
    } else if (!sync_) {
      sync_ = world > 1 ? make_bucketed_sync(store_, comm_, device_comm_, par.bucket_mb())
                        : make_local_sync(store_);
    }
    if (rows % (micro * world) != 0)
      throw Error(ErrorKind::kConfig, "data.batch_size",
                  fmt::format("{} rows do not split into train.micro_batches {} x {} ranks", rows,
                              micro, world));
    if (par.deterministic_reduce() && data_.examples)
      throw Error(ErrorKind::kConfig, "parallel.deterministic_reduce",
                  "not available for SFT example rows yet: use the bucketed reduction");
    loader_ = open_train_stream(data_, rows / (micro * world), recipe_.train().seed(), comm_.rank(),
                                world);
    if (world > 1) broadcast_parameters(store_, device_comm_);
    procedure_ =
        make_procedure({recipe_, model_, store_, *optimizer_, *loader_, *sync_, comm_, device_comm_,
                        run_.checkpoints(), fast_weights_.finalized() ? &fast_weights_ : nullptr});
  }

  // One optimizer step of the recipe's procedure; the attention diagnostics of its first batch
  // every log.attn_every steps.
  StepResult train_step() {
    fault_if_injected(fmt::format("step_{}_rank_{}", step_ + 1, comm_.rank()), [&] {
      Tensor first = store_.params().front().tensor;  // a view into the flat buffer
      first.fill_(std::nan(""));
    });
    lr_ = learning_rate(schedule_, step_);
    optimizer_->set_lr(lr_);
    const int64_t attn_every = recipe_.log().attn_every();
    const bool diagnose = attn_every > 0 && ((step_ + 1) % attn_every == 0 || step_ == 0);
    AttentionDiagnostics diagnostics(recipe_.eval().sink_threshold());
    const StepResult r = procedure_->step(step_, lr_, diagnose ? &diagnostics : nullptr);
    if (diagnose) log_diagnostics(diagnostics, "");
    return r;
  }

  EvalResult validate() {
    const int64_t rows =
        recipe_.eval().batch_size() > 0 ? recipe_.eval().batch_size() : recipe_.data().batch_size();
    AttentionDiagnostics diagnostics(recipe_.eval().sink_threshold());
    const bool diagnose = recipe_.eval().diagnostics();
    EvalResult e = evaluate(model_, data_, rows, recipe_.train().eval_steps(),
                            diagnose ? &diagnostics : nullptr, comm_.rank(), comm_.world_size());
    if (comm_.world_size() > 1) {
      e.nats = sum_over_ranks(e.nats);
      e.bytes = sum_over_ranks(e.bytes);
      e.tokens = static_cast<int64_t>(sum_over_ranks(static_cast<double>(e.tokens)));
      e.optimal_nats = sum_over_ranks(e.optimal_nats);
      finish_eval(e);
    }
    nlohmann::json row{{"step", step_}, {"val_loss", e.loss}, {"val_bpb", e.bpb}};
    std::string gap;
    // Data with a known optimum reports the distance to it on the same targets, so runs
    // compare across tasks and the sampling noise of the validation set cancels.
    if (std::isfinite(e.optimal_loss)) {
      row["val_loss_optimal"] = e.optimal_loss;
      row["val_loss_gap"] = e.loss - e.optimal_loss;
      gap = fmt::format(" ({:+.4f} from the optimum {:.4f})", e.loss - e.optimal_loss,
                        e.optimal_loss);
    }
    log_row(row);
    if (diagnose) log_diagnostics(diagnostics, "val/");
    std::string test;
    if (data_.examples && !data_.test_examples.empty()) test = test_split(rows);
    progress_.message(fmt::format("step {}: val loss {:.4f}{}, {:.4f} bits/byte ({} tokens){}",
                                  step_, e.loss, gap, e.bpb, e.tokens, test));
    render();
    return e;
  }

  // Exact match and response focus on the test split (example corpora), logged as test/...;
  // returns the progress line's part. The focus statistics are this rank's (every rank sees a
  // share of the same examples).
  std::string test_split(int64_t rows) {
    AttentionDiagnostics focus(recipe_.eval().sink_threshold(), /*focus_only=*/true);
    ExactMatch m = exact_match(model_, data_, rows, &focus, comm_.rank(), comm_.world_size());
    m.correct = static_cast<int64_t>(sum_over_ranks(static_cast<double>(m.correct)));
    m.examples = static_cast<int64_t>(sum_over_ranks(static_cast<double>(m.examples)));
    nlohmann::json row{{"step", step_}, {"test/exact_match", m.accuracy()}};
    for (const auto& [key, value] : focus.values()) row["test/" + key] = value;
    log_row(row);
    std::string line =
        fmt::format(", test exact match {:.3f} ({}/{})", m.accuracy(), m.correct, m.examples);
    if (row.contains("test/attn/sink_mass"))
      line += fmt::format(", sink mass {:.4f}, context engagement {:.4f}",
                          row["test/attn/sink_mass"].get<double>(),
                          row["test/attn/context_engagement"].get<double>());
    return line;
  }

  // A value summed over all ranks (itself in a world of one).
  double sum_over_ranks(double v) { return attn::sum_over_ranks(comm_, v); }
  bool any_rank(bool flag) { return sum_over_ranks(flag ? 1.0 : 0.0) > 0; }

  void log_row(const nlohmann::json& row) {
    if (log_) log_->row(row, step_);  // only rank 0 writes
  }

  // One metrics row of attention statistics; `prefix` "val/" marks those of the validation data.
  void log_diagnostics(const AttentionDiagnostics& d, const std::string& prefix) {
    nlohmann::json row{{"step", step_}};
    for (const auto& [key, value] : d.values()) row[prefix + key] = value;
    if (row.size() > 1) log_row(row);
  }

  void render() {
    if (log_) log_->render(progress_);
  }

  // Rank 0 writes (every rank holds the same parameters and optimizer state); the others wait so
  // nobody runs ahead of a checkpoint it might need.
  void save() {
    // Collective under ZeRO-1 (the shards are gathered); views of the live state otherwise.
    const NamedTensors optimizer_state = optimizer_->state();
    if (lead_) write_checkpoint(optimizer_state);
    comm_.barrier();
  }

  void write_checkpoint(const NamedTensors& optimizer_state) {
    CheckpointState s;
    s.set_step(step_);
    s.set_seed(recipe_.train().seed());
    const LoaderState cursor = loader_->state();
    s.mutable_data()->set_epoch(cursor.epoch);
    s.mutable_data()->set_cursor(cursor.cursor);
    s.set_world_size(comm_.world_size());
    s.set_recipe_hash(config::recipe_hash_hex(recipe_));
    s.set_tokens_seen(tokens_seen_);
    s.set_elapsed_s(elapsed_s_);
    s.set_optimizer(recipe_.optim().kind() == attnlab::config::Optim::SGD ? "sgd" : "adamw");
    s.set_attnlab_version(kVersion);
    s.set_bos(recipe_.data().bos());
    const std::string dir = save_checkpoint(run_.checkpoints(), store_, optimizer_state, s,
                                            recipe_.train().keep_last());
    progress_.message(fmt::format("step {}: checkpoint {}", step_, dir));
  }

  // A resumed run continues from its own newest checkpoint; a run starting at step 0 (new, or
  // resumed before its first checkpoint) takes train.init_from's weights when it names some.
  void restore_or_start() {
    if (!options_.resume || !resume()) initialize_from_base();
  }

  void initialize_from_base() {
    const std::string& from = recipe_.train().init_from();
    if (from.empty()) return;
    const CheckpointLocation base = locate_checkpoint(from);
    const config::Recipe source = config::load_recipe(base.recipe);
    auto require_same = [&](const char* field, const std::string& theirs, const std::string& ours) {
      if (theirs != ours)
        throw Error(ErrorKind::kInput, "train.init_from",
                    fmt::format("{} was trained with {} {}, this recipe has {}", base.checkpoint,
                                field, theirs, ours));
    };
    using attnlab::config::Attention;
    using attnlab::config::Data;
    require_same("attention.kind", Attention::Kind_Name(source.attention().kind()),
                 Attention::Kind_Name(recipe_.attention().kind()));
    require_same("data.tokenizer", Data::Tokenizer_Name(source.data().tokenizer()),
                 Data::Tokenizer_Name(recipe_.data().tokenizer()));
    // Names and shapes of every tensor are checked before any weight is copied.
    load_weights(base.checkpoint, store_);
    progress_.message(
        fmt::format("initialised from {} (fresh optimizer, step 0)", base.checkpoint));
  }

  // True when a checkpoint of this run was loaded.
  bool resume() {
    std::string dir;
    auto warn = [&](const std::string& w) { progress_.warn(w); };
    std::optional<CheckpointState> s =
        resume_latest(run_.checkpoints(), store_, *optimizer_, warn, &dir);
    if (!s) {
      progress_.warn("no complete checkpoint in " + run_.checkpoints() + ": starting at step 0");
      if (lead_) truncate_metrics_after(run_.metrics(), 0);
      return false;
    }
    // Checkpoints hold whole, per-parameter state (ZeRO-1 gathers it) and the loader cursor
    // counts global rows, so a run may resume on another number of ranks.
    if (s->recipe_hash() != config::recipe_hash_hex(recipe_))
      throw Error(ErrorKind::kInput, dir, "checkpoint was written by a different recipe");
    step_ = s->step();
    tokens_seen_ = s->tokens_seen();
    elapsed_s_ = s->elapsed_s();
    loader_->restore({s->data().epoch(), s->data().cursor()});
    if (lead_) truncate_metrics_after(run_.metrics(), step_);
    progress_.message(fmt::format("resumed from {} (step {})", dir, step_));
    return true;
  }

  const config::Recipe& recipe_;
  TrainOptions options_;
  LocalComm local_;
  Communicator& comm_;
  Communicator& device_comm_;  // flat parameter/gradient buffers (NCCL on GPUs)
  bool lead_;
  DataSource data_;
  RunDir run_;
  ParamStore store_;
  ParamStore fast_weights_;  // a procedure's adapters (FocuSFT), never checkpointed
  Gpt model_;
  std::unique_ptr<CoreAttentionExecutor> executor_;
  std::vector<std::unique_ptr<AttentionLoss>> attention_losses_;  // losses { ... }
  Progress progress_;
  std::unique_ptr<Optimizer> optimizer_;
  ScheduleOptions schedule_;
  std::unique_ptr<BatchStream> loader_;
  std::unique_ptr<GradientSync> sync_;  // how the ranks combine gradients
  std::unique_ptr<Procedure> procedure_;
  std::unique_ptr<RunLog> log_;  // rank 0 only
  int64_t step_ = 0;
  int64_t tokens_seen_ = 0;
  double elapsed_s_ = 0;
  double lr_ = 0;
};

}  // namespace

TrainResult train(const config::Recipe& recipe, const TrainOptions& options) {
  flush_denormals();
  if (recipe.model().kind() == attnlab::config::Model::ABMIL) return train_mil(recipe, options);
  // train.precision: the matrix products of this run (CUDA only; validated with the recipe).
  CudaMatmulPrecisionScope precision(recipe.train().precision() == attnlab::config::BF16
                                         ? MatmulPrecision::kBf16
                                         : MatmulPrecision::kF32);
  check_fits_host_memory(recipe, options.comm ? options.comm->world_size() : 1);
  Trainer trainer(recipe, options);
  return trainer.run();
}

}  // namespace attn
