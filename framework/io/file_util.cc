#include "framework/io/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "framework/core/error.h"

namespace attn {

namespace {

[[noreturn]] void io_fail(const std::string& path, const std::string& what, int err) {
  throw Error(ErrorKind::kIo, path, fmt::format("{}: {}", what, std::strerror(err)));
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes the descriptor and unlinks the temp file unless released: every early throw cleans up.
class TempFile {
 public:
  TempFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!name_.empty()) ::unlink(name_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void release() { name_.clear(); }

 private:
  std::string name_;
  int fd_;
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  if (path.empty()) throw Error(ErrorKind::kIo, "(empty path)", "cannot write a file with no name");
  std::string pattern = path + ".tmp.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd < 0) io_fail(path, "cannot create temporary file", errno);
  TempFile tmp(buf.data(), fd);
  // mkstemp creates 0600; give the file the usual umask-governed permissions.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);

  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_fail(path, fmt::format("write failed after {} of {} bytes", done, bytes.size()), errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) io_fail(path, "fsync failed", errno);
  if (tmp.close() != 0) io_fail(path, "close failed", errno);
  if (::rename(tmp.name().c_str(), path.c_str()) != 0) io_fail(path, "rename failed", errno);
  tmp.release();
  // The rename is durable only once the directory entry is on disk.
  const int dir = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string read_file(const std::string& path) {
  // O_NONBLOCK so that a FIFO is refused below instead of blocking the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    // A path that names nothing readable is the caller's input (exit 2); EACCES, EIO and the
    // like are the environment's (exit 1).
    if (err == ENOENT || err == ENOTDIR || err == ELOOP)
      throw Error(ErrorKind::kInput, path, fmt::format("cannot open: {}", std::strerror(err)));
    io_fail(path, "cannot open", err);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorKind::kInput, path, "not a regular file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      io_fail(path, fmt::format("read failed at byte {}", out.size()), err);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace attn
