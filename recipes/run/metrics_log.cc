#include "recipes/run/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"

namespace attn {

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ATTN_FAIL(kIo, "{}: cannot open for reading: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) ATTN_FAIL(kIo, "{}: read failed", path);
  return ss.str();
}

// One line of the file: its text (without '\n'), 1-based number, byte offset of its start.
struct Line {
  std::string_view text;
  int64_t number;
  size_t offset;
  bool terminated;  // followed by '\n'
};

std::vector<Line> split_lines(const std::string& data) {
  std::vector<Line> lines;
  size_t pos = 0;
  int64_t number = 1;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    const bool term = nl != std::string::npos;
    const size_t end = term ? nl : data.size();
    lines.push_back({std::string_view(data).substr(pos, end - pos), number++, pos, term});
    pos = term ? nl + 1 : data.size();
  }
  return lines;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Parses every non-blank line; the unterminated last line is dropped when it does not parse
// (a crash mid-write), every other bad line is an error. `keep` receives each kept line.
template <typename Keep>
void parse_lines(const std::string& path, const std::string& data, Keep&& keep) {
  for (const Line& line : split_lines(data)) {
    if (blank(line.text)) continue;
    nlohmann::json row = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded()) {
      if (!line.terminated) return;
      ATTN_FAIL(kInput, "{}:{} (byte offset {}): not valid JSON", path, line.number, line.offset);
    }
    if (!row.is_object())
      ATTN_FAIL(kInput, "{}:{} (byte offset {}): expected a JSON object, got {}", path, line.number,
                line.offset, row.type_name());
    keep(line, std::move(row));
  }
}

void write_atomically(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ATTN_FAIL(kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ATTN_FAIL(kIo, "{}: write failed at byte {}: {}", tmp, done, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    ATTN_FAIL(kIo, "{}: fsync/close failed: {}", tmp, std::strerror(errno));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) ATTN_FAIL(kIo, "{}: rename to {} failed: {}", tmp, path, ec.message());
  // The rename is durable only once the directory entry is.
  const fs::path dir = fs::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    const std::string data = read_all(path);
    const size_t last_nl = data.rfind('\n');
    const size_t keep = last_nl == std::string::npos ? 0 : last_nl + 1;
    if (keep != data.size() && ::truncate(path.c_str(), static_cast<off_t>(keep)) != 0)
      ATTN_FAIL(kIo, "{}: cannot cut torn last line at byte {}: {}", path, keep,
                std::strerror(errno));
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) ATTN_FAIL(kIo, "{}: cannot open for appending: {}", path, std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const nlohmann::json& row) {
  ATTN_CHECK(row.is_object(), "a metrics row must be a JSON object, got {}", row.type_name());
  // Replace invalid UTF-8 instead of throwing mid-run: a metric name is never worth a crash.
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    ATTN_FAIL(kIo, "{}: append failed: {}", path_, std::strerror(errno));
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  const std::string data = read_all(path);
  std::vector<nlohmann::json> rows;
  parse_lines(path, data, [&](const Line&, nlohmann::json row) { rows.push_back(std::move(row)); });
  return rows;
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  const std::string data = read_all(path);
  std::string kept;
  kept.reserve(data.size());
  parse_lines(path, data, [&](const Line& line, const nlohmann::json& row) {
    const auto it = row.find("step");
    if (it != row.end() && it->is_number()) {
      const bool after = it->is_number_integer() ? it->get<int64_t>() > step
                                                 : it->get<double>() > static_cast<double>(step);
      if (after) return;
    }
    kept.append(line.text);
    kept.push_back('\n');
  });
  write_atomically(path, kept);
}

}  // namespace attn
