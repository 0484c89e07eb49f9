#include "tests/support/fixtures.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace attn::test {

std::string fixtures_dir() {
  const char* root = std::getenv("ATTNLAB_SOURCE_DIR");
  if (root == nullptr || *root == '\0')
    throw Error(ErrorKind::kConfig, "ATTNLAB_SOURCE_DIR",
                "not set: golden tests find tests/reference/fixtures through it (CTest sets it; "
                "export it to the repository root when running a test binary by hand)");
  return (std::filesystem::path(root) / "tests" / "reference" / "fixtures").string();
}

SafetensorsFile load_fixture(const std::string& name) {
  std::filesystem::path path = std::filesystem::path(fixtures_dir()) / name;
  if (!path.has_extension()) path += ".safetensors";
  if (!std::filesystem::exists(path))
    throw Error(ErrorKind::kIo, path.string(),
                "fixture missing: regenerate with /usr/bin/python3 "
                "tests/reference/make_fixtures.py (see tests/reference/README.md)");
  return read_safetensors(path.string());
}

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol,
                                     double rtol) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure()
           << "shape " << got.shape().str() << " != expected " << want.shape().str();
  const std::vector<double> g = got.to_vector<double>();
  const std::vector<double> w = want.to_vector<double>();
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(g[i] - w[i]);
    const double allowed = atol + rtol * std::abs(w[i]);
    const bool ok = std::isnan(w[i]) ? std::isnan(g[i]) : err <= allowed;
    if (ok) continue;
    ++bad;
    // Ratio to the allowance ranks failures; NaN where a number was expected ranks first.
    const double excess = std::isnan(err) ? INFINITY : err / allowed;
    if (worst < 0 || excess > worst_excess) {
      worst = static_cast<int64_t>(i);
      worst_excess = excess;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << fmt::format(
             "{} of {} elements differ (atol {:.3g}, rtol {:.3g}); worst at flat index {}: got "
             "{:.17g}, want {:.17g}, |diff| {:.3g}",
             bad, g.size(), atol, rtol, worst, g[worst], w[worst], std::abs(g[worst] - w[worst]));
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

}  // namespace attn::test
