#include "recipes/ablate/runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>

#include "framework/core/error.h"
#include "framework/core/threads.h"
#include "framework/io/file_util.h"
#include "recipes/ablate/results.h"
#include "recipes/run/checkpoint.h"
#include "recipes/run/metrics_log.h"
#include "recipes/run/stop_signals.h"

extern char** environ;

namespace attn {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kLogTailLines = 15;

std::string self_exe() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) ATTN_FAIL(kIo, "cannot find this executable (/proc/self/exe): {}", ec.message());
  return p.string();
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-./=:,+@%") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

void append_line(const fs::path& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  if (!out) ATTN_FAIL(kIo, "{}: cannot append: {}", path.string(), std::strerror(errno));
}

// The last `n` lines of a (possibly long) log, each indented for the report.
std::string log_tail(const fs::path& path, int n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "    (no train.log)\n";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - (1 << 16));
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t start = text.size();
  for (int lines = 0; start > 0 && lines < n;)
    if (text[--start] == '\n') ++lines;
  if (start > 0 || text[0] == '\n') ++start;
  std::string out;
  for (size_t b = std::min(start, text.size()); b < text.size();) {
    const size_t e = std::min(text.find('\n', b), text.size());
    out += "    " + text.substr(b, e - b) + "\n";
    b = e + 1;
  }
  return out;
}

// What a run's metrics say about it: the last step logged and its last validation loss.
struct RunProgress {
  int64_t step = 0;
  double val_loss = NAN;
};

RunProgress run_progress(const AblationRun& run) {
  RunProgress p;
  try {
    for (const nlohmann::json& row :
         read_metrics((fs::path(run.run_dir) / "metrics.jsonl").string())) {
      if (const auto s = row.find("step"); s != row.end() && s->is_number_integer())
        p.step = std::max(p.step, s->get<int64_t>());
      if (const auto v = row.find("val_loss"); v != row.end() && v->is_number())
        p.val_loss = v->get<double>();
    }
  } catch (const Error&) {
    // A missing or unreadable file means no progress; the caller reports the run as such.
  }
  return p;
}

// Clears what a run that cannot be resumed left behind (metrics without a checkpoint would make
// `attnlab train` refuse the directory); train.log keeps the history of every attempt.
void clear_run_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != "train.log") fs::remove_all(e.path(), ec);
  if (ec) ATTN_FAIL(kIo, "{}: cannot clear: {}", dir.string(), ec.message());
}

struct Child {
  const AblationRun* run;
  Clock::time_point start;
};

pid_t spawn(const std::string& binary, const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) ATTN_FAIL(kIo, "cannot start {}: {}", binary, std::strerror(err));
  return pid;
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

std::string shell_command(const std::string& binary, const std::vector<std::string>& args) {
  std::string out = shell_quote(binary);
  for (const std::string& a : args) {
    out += ' ';
    out += shell_quote(a);
  }
  return out;
}

RunState run_state(const AblationRun& run) {
  if (run_finished(run)) return RunState::kDone;
  if (!latest_complete_checkpoint((fs::path(run.run_dir) / "checkpoints").string()).empty())
    return RunState::kResume;
  return RunState::kNew;
}

const char* run_state_name(RunState state) {
  switch (state) {
    case RunState::kDone:
      return "done";
    case RunState::kResume:
      return "resume";
    case RunState::kNew:
      return "new";
  }
  return "?";
}

int threads_per_run(int total_threads, int processes, int runs_to_train) {
  const int at_once = std::max(1, std::min(processes, runs_to_train));
  return std::max(1, total_threads / at_once);
}

std::vector<std::string> train_args(const AblationPlan& plan, const AblationRun& run, int threads) {
  std::vector<std::string> args = {"train", plan.base};
  for (const std::string& s : run.overrides) args.insert(args.end(), {"--set", s});
  args.insert(args.end(),
              {"--run-dir", run.run_dir, "--quiet", "--threads", fmt::format("{}", threads)});
  if (run_state(run) == RunState::kResume) args.push_back("--resume");
  return args;
}

void check_finished_runs(const AblationPlan& plan) {
  for (const AblationRun& run : plan.runs) {
    if (!run_finished(run)) continue;
    const std::string saved_path = (fs::path(run.run_dir) / "recipe.textproto").string();
    const config::Recipe saved = config::load_recipe(saved_path);
    if (config::recipe_hash(saved) == config::recipe_hash(run.recipe)) continue;
    std::string diff;
    {
      google::protobuf::util::MessageDifferencer differ;  // reports when destroyed
      differ.ReportDifferencesToString(&diff);
      differ.Compare(saved, run.recipe);
    }
    diff = diff.substr(0, diff.find('\n'));
    throw Error(ErrorKind::kConfig, saved_path,
                fmt::format("run {}/seed{} finished with a different recipe than the ablation now "
                            "gives it ({}); delete {} to retrain it, or pass --out to start the "
                            "grid elsewhere",
                            run.arm, run.seed, diff, run.run_dir));
  }
}

RunnerReport run_grid(const AblationPlan& plan, const RunnerOptions& options) {
  RunnerReport report;
  report.total = static_cast<int>(plan.runs.size());
  std::deque<const AblationRun*> pending;
  for (const AblationRun& run : plan.runs) {
    if (run_state(run) == RunState::kDone)
      ++report.already_done;
    else
      pending.push_back(&run);
  }
  const std::string binary = options.binary.empty() ? self_exe() : options.binary;
  const int processes = std::max(1, options.processes);
  const int total_threads = options.threads > 0 ? options.threads : num_threads();
  const int threads = threads_per_run(total_threads, processes, static_cast<int>(pending.size()));
  if (!options.quiet)
    std::printf(
        "ablate %s: %d runs, %d already done, %zu to train (%d at a time, %d threads "
        "each) in %s\n",
        plan.ablation.name().c_str(), report.total, report.already_done, pending.size(),
        std::min<int>(processes, std::max<int>(1, static_cast<int>(pending.size()))), threads,
        plan.out_dir.c_str());
  std::fflush(stdout);

  // Signals only record themselves: the loop notices, forwards them and stops launching.
  StopSignals guard;
  std::map<pid_t, Child> running;
  int forwarded = 0;
  while (!running.empty() || (!pending.empty() && StopSignals::last() == 0)) {
    while (StopSignals::last() == 0 && !pending.empty() &&
           static_cast<int>(running.size()) < processes) {
      const AblationRun* run = pending.front();
      pending.pop_front();
      const fs::path dir(run->run_dir);
      const RunState state = run_state(*run);
      if (state == RunState::kNew) clear_run_dir(dir);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) ATTN_FAIL(kIo, "{}: cannot create run directory: {}", dir.string(), ec.message());
      const std::vector<std::string> args = train_args(plan, *run, threads);
      append_line(dir / "train.log", fmt::format("=== attnlab ablate {}: {}", now_text(),
                                                 shell_command(binary, args)));
      running[spawn(binary, args, dir / "train.log")] = {run, Clock::now()};
    }
    if (const int count = StopSignals::count(); count != forwarded) {
      forwarded = count;
      report.signal = StopSignals::last();
      for (const auto& [child, info] : running) ::kill(child, report.signal);
    }
    if (running.empty()) continue;

    // Polled rather than blocking, so a signal is noticed within a few milliseconds.
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (pid < 0) ATTN_FAIL(kInternal, "waitpid: {}", std::strerror(errno));
    const auto it = running.find(pid);
    if (it == running.end()) continue;  // not one of ours
    const AblationRun& run = *it->second.run;
    const double wall_s = std::chrono::duration<double>(Clock::now() - it->second.start).count();
    running.erase(it);

    const RunProgress progress = run_progress(run);
    const int64_t steps = run.recipe.train().steps();
    const std::string name = fmt::format("{}/seed{}", run.arm, run.seed);
    const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean_exit && progress.step >= steps) {
      write_file_atomic((fs::path(run.run_dir) / kRunDoneMarker).string(), "");
      ++report.finished;
      const std::string val =
          std::isnan(progress.val_loss) ? "-" : fmt::format("{:.4f}", progress.val_loss);
      if (!options.quiet)
        std::printf("[%d/%d] %s seed %lld: val loss %s, %.1fs\n",
                    report.already_done + report.finished, report.total, run.arm.c_str(),
                    static_cast<long long>(run.seed), val.c_str(), wall_s);
      std::fflush(stdout);
      continue;
    }
    if (StopSignals::last() != 0) {
      std::fprintf(
          stderr, "%s: interrupted at step %lld of %lld (last logged); a rerun resumes it\n",
          name.c_str(), static_cast<long long>(progress.step), static_cast<long long>(steps));
      continue;
    }
    const std::string why = clean_exit
                                ? fmt::format("exited after step {} of {}", progress.step, steps)
                                : exit_text(status);
    report.failed.push_back(fmt::format("{}: {}", name, why));
    const fs::path log = fs::path(run.run_dir) / "train.log";
    std::fprintf(stderr, "error: run %s failed (%s); last lines of %s:\n%s", name.c_str(),
                 why.c_str(), log.c_str(), log_tail(log, kLogTailLines).c_str());
    std::fflush(stderr);
  }
  if (report.signal == 0) report.signal = StopSignals::last();
  return report;
}

}  // namespace attn
