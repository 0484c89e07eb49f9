#include "tests/support/mutation_fuzz.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>

namespace attn::test {

std::string mutate(std::string s, const std::string& other, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t n = s.size();
    const size_t at = n ? rng() % n : 0;
    switch (rng() % 6) {
      case 0:
        if (n) s[at] = static_cast<char>(s[at] ^ (1u << (rng() % 8)));
        break;
      case 1:
        if (n) s[at] = static_cast<char>(rng());
        break;
      case 2:
        s.insert(at, 1 + rng() % 8, static_cast<char>(rng()));
        break;
      case 3:
        if (n) s.erase(at, 1 + rng() % std::min<size_t>(n - at, 8));
        break;
      case 4:
        s.resize(n ? rng() % n : 0);
        break;
      default:  // splice: a prefix of this input and a suffix of another
        s = s.substr(0, at) + other.substr(other.empty() ? 0 : rng() % other.size());
    }
  }
  return s;
}

int64_t fuzz_inputs(int64_t default_inputs) {
  if (const char* env = std::getenv("ATTNLAB_FUZZ_INPUTS")) {
    const long long n = std::atoll(env);
    if (n > 0) return n;
  }
  return default_inputs;
}

std::string cpp_literal(const std::string& bytes) {
  std::string out = "\"";
  for (const unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}\"\"", c);  // "" ends the escape before a following hex digit
    }
  }
  return out + "\"";
}

FuzzStats fuzz(const std::vector<std::string>& seeds, int64_t inputs, uint64_t seed,
               const std::function<void(const std::string&)>& consume,
               const std::set<ErrorKind>& allowed) {
  FuzzStats stats;
  if (seeds.empty()) {
    ADD_FAILURE() << "no seeds";
    return stats;
  }
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < inputs; ++i) {
    const std::string& base = seeds[rng() % seeds.size()];
    const std::string input = mutate(base, seeds[rng() % seeds.size()], rng);
    try {
      consume(input);
      ++stats.accepted;
    } catch (const Error& e) {
      if (!allowed.count(e.kind())) {
        ADD_FAILURE() << "mutant " << i << " refused with the wrong kind of error: " << e.what()
                      << "\ninput: " << cpp_literal(input);
        return stats;
      }
      if (stats.first_rejection.empty()) stats.first_rejection = e.what();
      ++stats.rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutant " << i << " threw " << e.what() << "\ninput: " << cpp_literal(input);
      return stats;
    }
  }
  return stats;
}

}  // namespace attn::test
